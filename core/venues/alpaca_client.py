"""alpaca-py behind the adapter interface: US equities (venue name ``alpaca``).

Alpaca's market data needs an account's keys even for bars (a free paper
account has them). Trading goes to the paper account unless
``VenueSpec.sandbox`` is false *and* the environment says
``CONSOLE_VENUE_ALPACA_LIVE=1`` (a live account is never the default).
``VenueSpec.url`` overrides both endpoints (alpaca-py's ``url_override``).

alpaca-py is used with ``raw_data=True``: its HTTP, auth headers, paging
and retries are the SDK's; we read the JSON it returns.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from core.events import Bar, Tick
from core.venues.base import (
    BalanceReport, Credentials, ExecReport, OrderRequest, PositionReport, VenueError, VenueSpec,
    VenueUnreachable, env_names, scrub,
)

TIMEFRAMES = {"1m": (1, "Minute"), "5m": (5, "Minute"), "15m": (15, "Minute"), "30m": (30, "Minute"),
              "1h": (1, "Hour"), "4h": (4, "Hour"), "1d": (1, "Day")}


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _need_keys(creds: Credentials | None, doing: str) -> Credentials:
    if not creds:
        key_env, secret_env, _ = env_names("alpaca")
        raise VenueError(f"alpaca needs API keys for {doing}: set {key_env} and {secret_env} "
                         f"(or store them in the keyring, service 'trading-console'); a free paper account has them")
    return creds


def alpaca_error(exc: BaseException, spec: VenueSpec, creds: Credentials | None, doing: str) -> VenueError:
    secrets = creds.values() if creds else ()
    try:
        from alpaca.common.exceptions import APIError
        from requests import RequestException
    except ImportError:  # pragma: no cover - declared dependencies
        raise VenueError("the alpaca-py package is not installed (pip install alpaca-py)") from None
    if isinstance(exc, APIError):
        status = exc.status_code
        try:
            text = str(exc.message)
        except Exception:
            text = str(exc)
        detail = scrub(text, secrets)
        if status in (401, 403):
            key_env, secret_env, _ = env_names("alpaca")
            return VenueError(f"alpaca refused the API key while {doing} (wrong, expired or lacking permission; "
                              f"keys come from {key_env}/{secret_env} or the keyring): {detail}")
        if status == 404:
            return VenueError(f"alpaca: not found while {doing}: {detail}")
        if status == 429:
            return VenueUnreachable(f"alpaca rate limit exceeded while {doing}: {detail}")
        if status >= 500:  # the venue down or busy: it may pass
            return VenueUnreachable(f"alpaca error while {doing} (HTTP {status}): {detail}")
        return VenueError(f"alpaca error while {doing} (HTTP {status}): {detail}")
    if isinstance(exc, RequestException):
        return VenueUnreachable(f"cannot reach alpaca at {spec.url or 'its endpoint'} while {doing} "
                          f"({type(exc).__name__})")
    return VenueError(f"alpaca: {type(exc).__name__} while {doing}: {scrub(str(exc), secrets)}")


class AlpacaDataClient:
    """Stock bars (the bar ending at ``ts``) and trades from Alpaca's data API."""

    def __init__(self, spec: VenueSpec, creds: Credentials | None, client: Any = None) -> None:
        self.spec = spec
        self.name = "alpaca"
        self.creds = creds
        self.symbols = spec.symbols
        self.timeframe = spec.timeframe
        self.tf_ms = spec.bar_ms
        self.client = client
        self.trading: Any = None

    def _call(self, doing: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except VenueError:
            raise
        except Exception as exc:
            raise alpaca_error(exc, self.spec, self.creds, doing) from None

    def connect(self) -> None:
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.trading.client import TradingClient

        if self.timeframe not in TIMEFRAMES:
            raise VenueError(f"alpaca has no {self.timeframe} bars here; use one of {', '.join(TIMEFRAMES)}")
        creds = _need_keys(self.creds, "market data")
        url = self.spec.url or None
        if self.client is None:
            self.client = StockHistoricalDataClient(creds.api_key, creds.secret, raw_data=True, url_override=url)
        self.trading = TradingClient(creds.api_key, creds.secret, paper=True, raw_data=True, url_override=url)
        for s in self.symbols:  # an unknown or untradable symbol is one line now, not a silent empty feed
            asset = self._call(f"looking up {s}", self._asset, s)
            if asset.get("status") != "active" or not asset.get("tradable"):
                raise VenueError(f"alpaca: {s} is not tradable (status {asset.get('status')})")

    def _asset(self, symbol: str) -> dict[str, Any]:
        from alpaca.common.exceptions import APIError

        try:
            return dict(self.trading.get_asset(symbol))
        except APIError as exc:
            if exc.status_code == 404:
                raise VenueError(f"alpaca: unknown symbol(s) {symbol}") from None
            raise

    def subscribe(self, symbols: tuple[str, ...], timeframe: str) -> None:
        self.symbols = symbols
        self.timeframe = timeframe

    def venue_ms(self) -> int:
        clock = self._call("reading the market clock", self.trading.get_clock)
        return _ms(str(clock["timestamp"]))

    def poll_bars(self, since_ms: int) -> list[Bar]:
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        amount, unit = TIMEFRAMES[self.timeframe]
        start = datetime.fromtimestamp(max(0, since_ms - self.tf_ms + 1) / 1000.0, tz=timezone.utc)
        req = StockBarsRequest(symbol_or_symbols=list(self.symbols), timeframe=TimeFrame(amount, TimeFrameUnit[unit]),
                               start=start)
        data = self._call(f"fetching {','.join(self.symbols)} {self.timeframe} bars", self.client.get_stock_bars, req)
        out: list[Bar] = []
        for sym, rows in (data or {}).items():
            for r in rows or ():
                end = _ms(str(r["t"])) + self.tf_ms
                if end > since_ms:
                    out.append(Bar(end, str(sym), float(r["o"]), float(r["h"]), float(r["l"]), float(r["c"]),
                                   float(r.get("v") or 0.0)))
        out.sort(key=lambda b: (b.ts, b.symbol))
        return out

    def poll_trades(self, since_ms: int) -> list[Tick]:
        from alpaca.data.requests import StockTradesRequest

        start = datetime.fromtimestamp((since_ms + 1) / 1000.0, tz=timezone.utc)
        req = StockTradesRequest(symbol_or_symbols=list(self.symbols), start=start)
        data = self._call("fetching trades", self.client.get_stock_trades, req)
        out = [Tick(_ms(str(t["t"])), str(sym), float(t["p"]), float(t.get("s") or 0.0))
               for sym, rows in (data or {}).items() for t in rows or ()]
        return sorted((t for t in out if t.ts > since_ms), key=lambda t: (t.ts, t.symbol))

    def close(self) -> None:
        pass


class AlpacaExecutionClient:
    """Orders to an Alpaca account (paper by default), with our client order ids."""

    def __init__(self, spec: VenueSpec, creds: Credentials, client: Any = None) -> None:
        self.spec = spec
        self.name = "alpaca"
        self.creds = creds
        self.client = client
        self.filled: dict[str, float] = {}
        self.done: set[str] = set()
        self.acked: set[str] = set()
        self.cost: dict[str, float] = {}  # client id -> filled quantity x average price so far

    def _call(self, doing: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except VenueError:
            raise
        except Exception as exc:
            raise alpaca_error(exc, self.spec, self.creds, doing) from None

    def connect(self) -> None:
        from alpaca.trading.client import TradingClient

        creds = _need_keys(self.creds, "venue mode")
        live = os.environ.get("CONSOLE_VENUE_ALPACA_LIVE") == "1" and not self.spec.sandbox
        if self.client is None:
            self.client = TradingClient(creds.api_key, creds.secret, paper=not live, raw_data=True,
                                        url_override=self.spec.url or None)
        acct = self._call("checking the account", self.client.get_account)
        if acct.get("trading_blocked") or acct.get("account_blocked"):
            raise VenueError("alpaca: the account is blocked from trading")

    def submit(self, order: OrderRequest, look_up_first: bool = False) -> list[ExecReport]:
        from alpaca.common.exceptions import APIError
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

        if look_up_first:
            found = self._find(order.client_id)
            if found is not None:
                return self._reports(order.client_id, found)
        side = OrderSide.BUY if order.qty > 0 else OrderSide.SELL
        kw: dict[str, Any] = {"symbol": order.symbol, "qty": abs(order.qty), "side": side,
                              "time_in_force": TimeInForce.DAY, "client_order_id": order.client_id}
        req = LimitOrderRequest(limit_price=order.limit, **kw) if order.order_type == "limit" \
            else MarketOrderRequest(**kw)
        try:
            o = self.client.submit_order(req)
        except APIError as exc:
            if exc.status_code in (400, 403, 422):  # the venue refused the order
                self.done.add(order.client_id)
                reason = scrub(str(getattr(exc, "message", exc)), self.creds.values())
                return [ExecReport("reject", order.client_id, "", order.symbol, 0.0, 0.0, 0.0, 0.0, 0.0,
                                   reason, 0)]
            raise alpaca_error(exc, self.spec, self.creds, f"sending order {order.client_id}") from None
        except Exception as exc:
            raise alpaca_error(exc, self.spec, self.creds, f"sending order {order.client_id}") from None
        return self._reports(order.client_id, dict(o))

    def _find(self, client_id: str) -> dict[str, Any] | None:
        from alpaca.common.exceptions import APIError

        try:
            return dict(self.client.get_order_by_client_id(client_id))
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise alpaca_error(exc, self.spec, self.creds, f"looking up order {client_id}") from None
        except Exception as exc:
            raise alpaca_error(exc, self.spec, self.creds, f"looking up order {client_id}") from None

    def order_status(self, client_id: str, symbol: str) -> list[ExecReport]:
        o = self._find(client_id)
        if o is None:
            return [ExecReport("reject", client_id, "", symbol, 0.0, 0.0, 0.0, 0.0, 0.0,
                               f"alpaca does not know order {client_id}", 0)]
        return self._reports(client_id, o)

    def cancel(self, client_id: str, symbol: str) -> list[ExecReport]:
        o = self._find(client_id)
        if o is None:
            return self.order_status(client_id, symbol)
        self._call(f"cancelling order {client_id}", self.client.cancel_order_by_id, str(o["id"]))
        return self.order_status(client_id, symbol)

    def open_orders(self, symbols: tuple[str, ...]) -> list[ExecReport]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        rows = self._call("fetching open orders", self.client.get_orders,
                          GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=list(symbols)))
        out = []
        for o in rows or ():
            sign = 1.0 if o.get("side") == "buy" else -1.0
            qty, filled = float(o.get("qty") or 0.0), float(o.get("filled_qty") or 0.0)
            out.append(ExecReport("open", str(o.get("client_order_id") or ""), str(o.get("id") or ""),
                                  str(o.get("symbol")), 0.0, float(o.get("limit_price") or 0.0), 0.0,
                                  sign * filled, sign * (qty - filled), str(o.get("status")), 0))
        return out

    def positions(self) -> list[PositionReport]:
        rows = self._call("fetching positions", self.client.get_all_positions)
        return [PositionReport(str(p["symbol"]), float(p["qty"]), float(p.get("avg_entry_price") or 0.0))
                for p in rows or ()]

    def balances(self) -> list[BalanceReport]:
        acct = self._call("fetching the account", self.client.get_account)
        cash = float(acct.get("cash") or 0.0)  # the balance; equity moves with the marks, it is no balance
        return [BalanceReport(str(acct.get("currency") or "USD"), cash, cash)]

    def close(self) -> None:
        pass

    def _reports(self, client_id: str, o: dict[str, Any]) -> list[ExecReport]:
        sym = str(o.get("symbol") or "")
        vid = str(o.get("id") or "")
        sign = 1.0 if o.get("side") == "buy" else -1.0
        qty = float(o.get("qty") or 0.0)
        filled = float(o.get("filled_qty") or 0.0)
        status = str(o.get("status") or "new")
        stamp = o.get("filled_at") or o.get("updated_at") or o.get("submitted_at")
        ts = _ms(str(stamp)) if stamp else 0
        out: list[ExecReport] = []
        if client_id not in self.acked:
            self.acked.add(client_id)
            out.append(ExecReport("ack", client_id, vid, sym, 0.0, 0.0, 0.0, 0.0, sign * qty, status, ts))
        before = abs(self.filled.get(client_id, 0.0))
        if filled > before + 1e-12:
            # Alpaca reports the average price of all fills so far: this fill's price follows from it
            avg = float(o.get("filled_avg_price") or 0.0)
            prev_cost = self.cost.get(client_id, 0.0)
            cost = avg * filled
            price = avg if before == 0.0 else (cost - prev_cost) / (filled - before)
            self.cost[client_id] = cost
            self.filled[client_id] = sign * filled
            rem = max(qty - filled, 0.0) if status in ("new", "partially_filled", "accepted") else 0.0
            out.append(ExecReport("fill", client_id, vid, sym, sign * (filled - before), price, 0.0,
                                  sign * filled, sign * rem, status, ts))
        if status in ("canceled", "expired", "rejected") and client_id not in self.done:
            self.done.add(client_id)
            kind = {"canceled": "cancel", "expired": "expire"}.get(status, "reject")
            out.append(ExecReport(kind, client_id, vid, sym, 0.0, 0.0, 0.0, sign * filled,
                                  sign * max(qty - filled, 0.0), status, ts))
        return out
