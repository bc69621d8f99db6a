"""ccxt behind the adapter interface: any ccxt exchange id as a venue.

The exchange object is ccxt's own (synchronous, its rate limiter on), so the
venue's REST protocol, signing and parsing are ccxt's; we only choose the
endpoint (``VenueSpec.url`` replaces the scheme and host of every REST URL
the exchange has; ``sandbox`` switches to its testnet via
``set_sandbox_mode``) and turn its answers into our reports and its errors
into one line without secrets.
"""

from __future__ import annotations

import re
from typing import Any

from core.events import Bar, Tick
from core.venues.base import (
    BalanceReport, Credentials, ExecReport, OrderRequest, PositionReport, VenueError, VenueSpec,
    VenueUnreachable, env_names, scrub,
)

# we trade spot: skip the derivatives market lists some exchanges load by default
SPOT_ONLY: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False,
                "defaultType": "spot"},
    "binanceus": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False},
}
_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+", re.I)


def override_urls(urls: Any, base: str) -> Any:
    """Every REST URL in ``urls`` (a string or nested dicts of them) with its
    scheme and host replaced by ``base`` (which may carry a path prefix)."""
    base = base.rstrip("/")
    if isinstance(urls, str):
        return _HOST.sub(lambda _m: base, urls, count=1)
    if isinstance(urls, dict):
        return {k: override_urls(v, base) for k, v in urls.items()}
    return urls


def make_exchange(spec: VenueSpec, creds: Credentials | None = None) -> Any:
    """ccxt's exchange object for ``spec`` (no request is made)."""
    try:
        import ccxt
    except ImportError:  # pragma: no cover - a declared dependency
        raise VenueError("the ccxt package is not installed (pip install ccxt)") from None
    if spec.name not in ccxt.exchanges:
        raise VenueError(f"unknown venue {spec.name!r}: not a ccxt exchange id (nor 'alpaca')")
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(spec.timeout_s * 1000)}
    if creds:
        config.update(apiKey=creds.api_key, secret=creds.secret)
        if creds.password:
            config["password"] = creds.password
    ex = getattr(ccxt, spec.name)(config)
    ex.options.update(SPOT_ONLY.get(spec.name, {}))
    if spec.sandbox:
        try:
            ex.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise VenueError(f"{spec.name} has no sandbox/testnet in ccxt; drop sandbox or give --venue-url") from None
    if spec.url:
        ex.urls["api"] = override_urls(ex.urls["api"], spec.url)
    return ex


def venue_error(exc: BaseException, spec: VenueSpec, creds: Credentials | None, doing: str) -> VenueError:
    """ccxt's exception as one line that names the venue and what we were
    doing, never a key, a signature or a query string."""
    import ccxt

    secrets = creds.values() if creds else ()
    detail = scrub(str(exc), secrets)
    where = spec.url or "its public endpoint"
    name = spec.name
    if isinstance(exc, ccxt.AuthenticationError):
        key_env, secret_env, _ = env_names(name)
        return VenueError(f"{name} refused the API key while {doing} (wrong, expired or lacking permission; "
                          f"keys come from {key_env}/{secret_env} or the keyring): {detail}")
    if isinstance(exc, ccxt.PermissionDenied):
        return VenueError(f"{name} denied permission while {doing}: {detail}")
    if isinstance(exc, ccxt.BadSymbol):
        return VenueError(f"{name}: unknown symbol while {doing}: {detail}")
    if isinstance(exc, ccxt.RateLimitExceeded):
        return VenueUnreachable(f"{name} rate limit exceeded while {doing}: {detail}")
    if isinstance(exc, ccxt.DDoSProtection):  # ccxt's reading of a ban, or a key refused after it worked
        return VenueUnreachable(f"{name} is refusing our requests for now (rate limit, temporary ban or a key "
                          f"revoked) while {doing}: {detail}")
    if isinstance(exc, ccxt.NetworkError):  # includes RequestTimeout, ExchangeNotAvailable, DDoSProtection
        return VenueUnreachable(f"cannot reach {name} at {where} while {doing} ({type(exc).__name__}): {detail}")
    if isinstance(exc, ccxt.OperationFailed):  # ccxt's "try again" family: an internal error at the venue
        return VenueUnreachable(f"{name} error while {doing} ({type(exc).__name__}): {detail}")
    if isinstance(exc, ccxt.BaseError):
        return VenueError(f"{name} error while {doing} ({type(exc).__name__}): {detail}")
    return VenueError(f"{name}: {type(exc).__name__} while {doing}: {scrub(str(exc), secrets)}")


class CcxtDataClient:
    """Public market data from a ccxt exchange: closed OHLCV bars (the bar
    ending at ``ts``, as the engine's files) and trade prints."""

    def __init__(self, spec: VenueSpec, creds: Credentials | None = None, exchange: Any = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.creds = creds
        self.ex = exchange if exchange is not None else make_exchange(spec, creds)
        self.symbols: tuple[str, ...] = spec.symbols
        self.timeframe = spec.timeframe
        self.tf_ms = spec.bar_ms

    def _call(self, doing: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Exception as exc:
            raise venue_error(exc, self.spec, self.creds, doing) from None

    def connect(self) -> None:
        markets = self._call("loading markets", self.ex.load_markets)
        missing = [s for s in self.symbols if s not in markets]
        if missing:
            near = sorted(m for m in markets if m.split("/")[0] in {s.split("/")[0] for s in missing})[:5]
            hint = f"; {self.name} has e.g. {', '.join(near)}" if near else ""
            raise VenueError(f"{self.name}: unknown symbol(s) {', '.join(missing)}{hint}")
        closed = [s for s in self.symbols if markets[s].get("active") is False]
        if closed:
            raise VenueError(f"{self.name}: market closed or delisted: {', '.join(closed)}")
        if not self.ex.has.get("fetchOHLCV"):
            raise VenueError(f"{self.name} offers no OHLCV bars through ccxt")
        if self.timeframe not in (self.ex.timeframes or {self.timeframe: ""}):
            raise VenueError(f"{self.name} has no {self.timeframe} bars; it has {', '.join(self.ex.timeframes)}")

    def subscribe(self, symbols: tuple[str, ...], timeframe: str) -> None:
        self.symbols = symbols
        self.timeframe = timeframe
        self.tf_ms = self.spec.bar_ms if timeframe == self.spec.timeframe else \
            int(self.ex.parse_timeframe(timeframe) * 1000)

    def venue_ms(self) -> int:
        """The venue's clock, where it has one (for the skew check)."""
        return int(self._call("reading the venue clock", self.ex.fetch_time))

    def poll_bars(self, since_ms: int) -> list[Bar]:
        """Bars of every symbol that *end* after ``since_ms``, the forming bar
        included (the caller keeps the closed ones), in (ts, symbol) order."""
        out: list[Bar] = []
        start = max(0, since_ms - self.tf_ms + 1)  # the venue keys bars by their open
        for sym in self.symbols:
            rows = self._call(f"fetching {sym} {self.timeframe} bars", self.ex.fetch_ohlcv,
                              sym, self.timeframe, start or None, None)
            for r in rows or ():
                if len(r) < 6 or any(v is None for v in r[:5]):
                    continue
                end = int(r[0]) + self.tf_ms
                if end > since_ms:
                    out.append(Bar(end, sym, float(r[1]), float(r[2]), float(r[3]), float(r[4]),
                                   float(r[5] if r[5] is not None else 0.0)))
        out.sort(key=lambda b: (b.ts, b.symbol))
        return out

    def poll_trades(self, since_ms: int) -> list[Tick]:
        out: list[Tick] = []
        for sym in self.symbols:
            rows = self._call(f"fetching {sym} trades", self.ex.fetch_trades, sym,
                              since_ms + 1 if since_ms > 0 else None)
            for t in rows or ():
                if t.get("timestamp") is None or t.get("price") is None:
                    continue
                if int(t["timestamp"]) > since_ms:
                    out.append(Tick(int(t["timestamp"]), sym, float(t["price"]), float(t.get("amount") or 0.0)))
        out.sort(key=lambda t: (t.ts, t.symbol))
        return out

    def close(self) -> None:
        close = getattr(self.ex, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # closing a session never fails a run
                pass


class CcxtExecutionClient:
    """Orders to a ccxt exchange's account (its testnet with ``sandbox``).

    Orders carry our client order id (``clientOrderId``), so an order's fate
    can be looked up by it after a disconnect or a restart, and is never sent
    twice. Each call returns reports: the acknowledgement, then one ``fill``
    per change of the filled quantity (so a partial fill, then the rest, are
    two fills), then ``cancel``/``expire``/``reject`` when it ends that way."""

    def __init__(self, spec: VenueSpec, creds: Credentials, exchange: Any = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.creds = creds
        self.ex = exchange if exchange is not None else make_exchange(spec, creds)
        self.filled: dict[str, float] = {}  # client id -> signed units reported filled
        self.done: set[str] = set()
        self.venue_ids: dict[str, str] = {}
        self.sides: dict[str, float] = {}
        self.cost: dict[str, float] = {}  # client id -> quote currency filled so far
        self.paid: dict[str, float] = {}  # client id -> commission in quote currency so far

    def _call(self, doing: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Exception as exc:
            raise venue_error(exc, self.spec, self.creds, doing) from None

    def connect(self) -> None:
        if not self.creds:
            key_env, secret_env, _ = env_names(self.name)
            raise VenueError(f"venue mode on {self.name} needs API keys: set {key_env} and {secret_env} "
                             f"(or store them in the keyring, service 'trading-console')")
        self._call("loading markets", self.ex.load_markets)
        self._call("checking the account (fetch_balance)", self.ex.fetch_balance)

    # ------------------------------------------------------------ orders

    def submit(self, order: OrderRequest, look_up_first: bool = False) -> list[ExecReport]:
        """Send ``order``; with ``look_up_first`` (a resumed session) ask the
        venue for its client id first and send only if it has never seen it."""
        import ccxt

        if look_up_first:
            found = self._find(order.client_id, order.symbol)
            if found is not None:
                self.sides[order.client_id] = 1.0 if order.qty > 0 else -1.0
                return self._reports(order.client_id, found)
        side = "buy" if order.qty > 0 else "sell"
        self.sides[order.client_id] = 1.0 if order.qty > 0 else -1.0
        price = order.limit if order.order_type == "limit" else None
        try:
            amount = float(self.ex.amount_to_precision(order.symbol, abs(order.qty)))
            o = self.ex.create_order(order.symbol, order.order_type, side, amount, price,
                                     {"clientOrderId": order.client_id})
        except ccxt.AuthenticationError as exc:  # the key, not the order: stop, do not call it a reject
            raise venue_error(exc, self.spec, self.creds, f"sending order {order.client_id}") from None
        except ccxt.ExchangeError as exc:  # the venue refused this order (InvalidOrder, InsufficientFunds, ...)
            self.done.add(order.client_id)
            return [ExecReport("reject", order.client_id, "", order.symbol, 0.0, 0.0, 0.0, 0.0, 0.0,
                               scrub(str(exc), self.creds.values()), 0)]
        except Exception as exc:
            raise venue_error(exc, self.spec, self.creds, f"sending order {order.client_id}") from None
        return self._reports(order.client_id, o, acked=False)

    def _find(self, client_id: str, symbol: str) -> dict[str, Any] | None:
        import ccxt

        try:
            return dict(self.ex.fetch_order(self.venue_ids.get(client_id), symbol, {"clientOrderId": client_id}))
        except ccxt.OrderNotFound:
            return None
        except Exception as exc:
            raise venue_error(exc, self.spec, self.creds, f"looking up order {client_id}") from None

    def order_status(self, client_id: str, symbol: str) -> list[ExecReport]:
        """What changed since the last report of this order (nothing: [])."""
        o = self._find(client_id, symbol)
        if o is None:
            return [ExecReport("reject", client_id, "", symbol, 0.0, 0.0, 0.0, 0.0, 0.0,
                               f"{self.name} does not know order {client_id}", 0)]
        return self._reports(client_id, o)

    def cancel(self, client_id: str, symbol: str) -> list[ExecReport]:
        import ccxt

        try:
            o = self.ex.cancel_order(self.venue_ids.get(client_id), symbol, {"clientOrderId": client_id})
        except ccxt.OrderNotFound:  # filled or gone already: say what it is now
            return self.order_status(client_id, symbol)
        except Exception as exc:
            raise venue_error(exc, self.spec, self.creds, f"cancelling order {client_id}") from None
        return self._reports(client_id, dict(o))

    def open_orders(self, symbols: tuple[str, ...]) -> list[ExecReport]:
        out: list[ExecReport] = []
        for sym in symbols:
            for o in self._call(f"fetching open {sym} orders", self.ex.fetch_open_orders, sym) or ():
                sign = 1.0 if o.get("side") == "buy" else -1.0
                amount, filled = float(o.get("amount") or 0.0), float(o.get("filled") or 0.0)
                out.append(ExecReport("open", str(o.get("clientOrderId") or ""), str(o.get("id") or ""), sym,
                                      0.0, float(o.get("price") or 0.0), 0.0, sign * filled,
                                      sign * (amount - filled), str(o.get("status") or ""),
                                      int(o.get("timestamp") or 0)))
        return out

    def balances(self) -> list[BalanceReport]:
        bal = self._call("fetching balances", self.ex.fetch_balance)
        total, free = bal.get("total") or {}, bal.get("free") or {}
        return sorted(BalanceReport(str(a), float(free.get(a) or 0.0), float(t or 0.0))
                      for a, t in total.items() if t)

    def positions(self) -> list[PositionReport]:
        """Spot holdings of the subscribed symbols' base assets (a spot
        account's positions); derivatives venues report their own."""
        if self.ex.has.get("fetchPositions") and self.ex.options.get("defaultType") not in (None, "spot"):
            rows = self._call("fetching positions", self.ex.fetch_positions, list(self.spec.symbols))
            return [PositionReport(str(p["symbol"]), float(p.get("contracts") or 0.0) *
                                   (-1.0 if p.get("side") == "short" else 1.0), float(p.get("entryPrice") or 0.0))
                    for p in rows or () if p.get("contracts")]
        held = {b.asset: b.total for b in self.balances()}
        return [PositionReport(s, held.get(s.split("/")[0], 0.0), 0.0) for s in self.spec.symbols
                if held.get(s.split("/")[0], 0.0)]

    def close(self) -> None:
        close = getattr(self.ex, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass

    # ------------------------------------------------------------ reports

    def _reports(self, client_id: str, o: dict[str, Any], acked: bool = True) -> list[ExecReport]:
        """Reports for the change between what we reported of this order and
        ccxt's unified order ``o``."""
        sym = str(o.get("symbol") or "")
        vid = str(o.get("id") or "")
        ts = int(o.get("lastTradeTimestamp") or o.get("timestamp") or 0)
        sign = self.sides.get(client_id) or (1.0 if o.get("side") == "buy" else -1.0)
        amount = float(o.get("amount") or 0.0)
        filled = float(o.get("filled") or 0.0)
        status = str(o.get("status") or "open")
        out: list[ExecReport] = []
        if client_id not in self.venue_ids:
            self.venue_ids[client_id] = vid
            out.append(ExecReport("ack", client_id, vid, sym, 0.0, 0.0, 0.0, 0.0, sign * amount, status, ts))
        elif not acked:
            out.append(ExecReport("ack", client_id, vid, sym, 0.0, 0.0, 0.0, 0.0, sign * amount, status, ts))
        before = abs(self.filled.get(client_id, 0.0))
        if filled > before + 1e-12:
            new = filled - before
            avg = float(o.get("average") or o.get("price") or 0.0)
            cost = float(o.get("cost") or avg * filled)
            cost_before = self.cost.get(client_id, 0.0)
            # this fill's price: the change in cost over the change in quantity
            price = avg if cost_before == 0.0 or cost <= cost_before else (cost - cost_before) / new
            quote = sym.split("/")[1].split(":")[0] if "/" in sym else ""
            fees = [o["fee"]] if o.get("fee") else list(o.get("fees") or ())
            paid = 0.0
            for f in fees:
                if f and f.get("cost") is not None and f.get("currency") in (quote, None):
                    paid += float(f["cost"])
            paid_before = self.paid.get(client_id, 0.0)
            self.filled[client_id] = sign * filled
            self.cost[client_id] = cost
            self.paid[client_id] = paid
            rem = max(amount - filled, 0.0) if status == "open" else 0.0
            out.append(ExecReport("fill", client_id, vid, sym, sign * new, price, max(paid - paid_before, 0.0),
                                  sign * filled, sign * rem, status, ts))
        if status in ("canceled", "cancelled", "expired", "rejected") and client_id not in self.done:
            self.done.add(client_id)
            kind = {"canceled": "cancel", "cancelled": "cancel", "expired": "expire"}.get(status, "reject")
            out.append(ExecReport(kind, client_id, vid, sym, 0.0, 0.0, 0.0, sign * filled,
                                  sign * max(amount - filled, 0.0), status, ts))
        elif status == "closed":
            self.done.add(client_id)
        return out
