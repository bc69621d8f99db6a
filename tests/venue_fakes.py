"""A fake Binance spot REST server on 127.0.0.1, for the venue tests.

It speaks the parts of Binance's REST protocol that ccxt's ``binance``
exchange object uses for us: ``exchangeInfo``, ``time``, ``klines``,
``trades``, and the signed ``account``, ``order`` (POST/GET/DELETE) and
``openOrders``. Signed requests are checked as Binance checks them (the
``X-MBX-APIKEY`` header, HMAC-SHA256 of the query over the secret), and
errors come back as Binance's ``{"code", "msg"}`` bodies with its HTTP
statuses, so ccxt's own error mapping is what the tests exercise.

Payload shapes follow the recorded Binance responses in ccxt's repository
(ts/src/test/static/response/binance.json, MIT licence, (c) Igor Kroitor and
the ccxt contributors); the market data (tests/fixtures/venues/) is made up.

The pytest fixtures the venue tests share are here too (``fake`` on a fixed
clock, ``live`` on the wall clock, ``no_keyring``; ``KEY_ENV``): a test module imports the
ones it uses.

Order behaviour is scripted per order by ``FakeBinance.script``: a list of
plans consumed one per new order: ``fill`` (filled at once at the last close),
``partial`` (half now, the rest when next asked), ``rest`` (stays NEW: a
limit order resting), ``reject`` (-2010 insufficient balance), ``drop`` (the
order is taken, but the connection closes with no answer: a disconnect
mid-order).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "venues"
API_KEY = "test-key-7f3a9c"
SECRET = "test-secret-b81e44d2"
KEY_ENV = {"CONSOLE_VENUE_BINANCE_API_KEY": API_KEY, "CONSOLE_VENUE_BINANCE_SECRET": SECRET}


def _symbol_info(symbol: str, base: str, quote: str, status: str = "TRADING") -> dict[str, Any]:
    return {
        "symbol": symbol, "status": status, "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


class FakeBinance:
    """The server's state. ``klines[symbol]`` are Binance kline rows (open
    time first); ``now_ms`` is the server's clock (tests move it)."""

    def __init__(self, klines: dict[str, list[list[Any]]] | None = None, now_ms: int = 0) -> None:
        if klines is None:
            klines = json.loads((FIXTURES / "binance_klines_1m.json").read_text())
        self.klines = klines
        self.fixed_ms = now_ms or (max(r[0] for rows in klines.values() for r in rows) + 30_000)
        self.live = False  # the server's clock: fixed_ms, or the wall clock (+ skew_ms) after rebase()
        self.skew_ms = 0
        self.markets = {"BTCUSDT": ("BTC", "USDT", "TRADING"), "ETHUSDT": ("ETH", "USDT", "TRADING"),
                        "LUNAUSDT": ("LUNA", "USDT", "BREAK")}
        self.balances = {"USDT": 100_000.0, "BTC": 0.0, "ETH": 0.0}
        self.orders: dict[str, dict[str, Any]] = {}  # clientOrderId -> Binance order
        self.script: list[str] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, params)
        self.raw: list[str] = []  # every request line, headers and body as received
        self.down = False  # every request answered 503
        self.down_after: int | None = None  # go down after this many requests
        self.order_delay_s = 0.0  # a slow venue: each new order is answered this late
        self.next_id = 28457
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.skew_ms if self.live else self.fixed_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.fixed_ms = value

    def rebase(self) -> None:
        """Move the recorded bars so that the last one is forming now (its
        minute has begun) and run on the wall clock: for tests that drive the
        real ``console run`` in a subprocess."""
        last_open = max(r[0] for rows in self.klines.values() for r in rows)
        shift = (int(time.time() * 1000) // 60_000) * 60_000 - last_open
        for rows in self.klines.values():
            for r in rows:
                r[0] += shift
                r[6] += shift
        self.live = True

    def add_open_order(self, symbol: str, side: str, qty: float, price: float, client_id: str) -> None:
        """A resting limit order placed by someone else (the venue's app, or
        this session before a crash) with ``client_id``."""
        self.next_id += 1
        self.orders[client_id] = {
            "symbol": symbol, "orderId": self.next_id, "orderListId": -1, "clientOrderId": client_id,
            "transactTime": self.now_ms, "price": f"{price:.8f}", "origQty": f"{qty:.8f}",
            "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
            "timeInForce": "GTC", "type": "LIMIT", "side": side.upper(), "workingTime": self.now_ms,
            "fills": [], "selfTradePreventionMode": "EXPIRE_MAKER"}

    def add_bar(self, symbol: str, close: float) -> None:
        """A new one-minute bar after the last, at ``close`` (opened at the last close)."""
        last = self.klines[symbol][-1]
        o = float(last[4])
        ot = last[0] + 60_000
        self.klines[symbol].append([ot, f"{o:.8f}", f"{max(o, close):.8f}", f"{min(o, close):.8f}",
                                    f"{close:.8f}", "12.50000000", ot + 59_999, "0", 100, "0", "0", "0"])

    # ---------------------------------------------------------------- life

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: Any) -> None:
                pass

            def _go(self) -> None:
                fake.handle(self)

            do_GET = do_POST = do_DELETE = do_PUT = _go

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # ------------------------------------------------------------ protocol

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n).decode() if n else ""
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        if self.order_delay_s and h.command == "POST" and url.path == "/api/v3/order":
            time.sleep(self.order_delay_s)
        with self.lock:
            self.requests.append((h.command, url.path, params))
            self.raw.append(f"{h.command} {h.path}\n{h.headers}\n{body}")
            if self.down_after is not None and len(self.requests) > self.down_after:
                self.down = True
            if self.down:
                return self._send(h, 503, {"code": -1001, "msg": "Service unavailable (fake down)"})
            if url.path.startswith("/api/v3/") and url.path[8:] in ("account", "order", "openOrders"):
                bad = self._check_signature(h, url.query, body)
                if bad is not None:
                    return self._send(h, 401 if bad[0] == -2015 else 400, {"code": bad[0], "msg": bad[1]})
            try:
                status, payload = self.route(h.command, url.path, params)
            except _Drop:
                h.close_connection = True
                h.wfile.flush()
                h.connection.shutdown(2)
                return None
        self._send(h, status, payload)
        return None

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _check_signature(self, h: BaseHTTPRequestHandler, query: str, body: str) -> tuple[int, str] | None:
        if h.headers.get("X-MBX-APIKEY") != API_KEY:
            return -2015, "Invalid API-key, IP, or permissions for action."
        signed = query or body
        if "&signature=" not in signed:
            return -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        payload, sig = signed.rsplit("&signature=", 1)
        want = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return -1022, "Signature for this request is not valid."
        return None

    def route(self, method: str, path: str, p: dict[str, str]) -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": self.now_ms}
        if path == "/api/v3/exchangeInfo":
            return 200, {"timezone": "UTC", "serverTime": self.now_ms, "rateLimits": [], "exchangeFilters": [],
                         "symbols": [_symbol_info(s, b, q, st) for s, (b, q, st) in self.markets.items()]}
        if path == "/api/v3/klines":
            return self._klines(p)
        if path == "/api/v3/trades":
            rows = self.klines.get(p.get("symbol", ""), [])
            return 200, [{"id": i, "price": r[4], "qty": "0.01000000", "quoteQty": "0", "time": r[6] - 500,
                          "isBuyerMaker": bool(i % 2), "isBestMatch": True} for i, r in enumerate(rows)]
        if path == "/api/v3/aggTrades":  # what ccxt asks for trades with a start time
            rows = self.klines.get(p.get("symbol", ""), [])
            start = int(p.get("startTime", 0))
            return 200, [{"a": i, "p": r[4], "q": "0.01000000", "f": i, "l": i, "T": r[6] - 500, "m": bool(i % 2),
                          "M": True} for i, r in enumerate(rows) if r[6] - 500 >= start and r[0] <= self.now_ms]
        if path == "/api/v3/account":
            return 200, {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
                         "canDeposit": False, "updateTime": self.now_ms, "accountType": "SPOT",
                         "balances": [{"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                                      for a, v in self.balances.items()], "permissions": ["SPOT"]}
        if path == "/api/v3/order" and method == "POST":
            return self._new_order(p)
        if path == "/api/v3/order" and method in ("GET", "DELETE"):
            o = self.orders.get(p.get("origClientOrderId", ""))
            if o is None:
                by_id = [x for x in self.orders.values() if str(x["orderId"]) == p.get("orderId")]
                o = by_id[0] if by_id else None
            if o is None:
                return 400, {"code": -2013 if method == "GET" else -2011,
                             "msg": "Order does not exist." if method == "GET" else "Unknown order sent."}
            if method == "GET":
                if o["status"] == "PARTIALLY_FILLED" and o.get("_then") == "fill":
                    self._execute(o, float(o["origQty"]) - float(o["executedQty"]))
                return 200, self._public(o)
            if o["status"] in ("FILLED", "CANCELED", "EXPIRED", "REJECTED"):
                return 400, {"code": -2011, "msg": "Unknown order sent."}
            o["status"] = "CANCELED"
            return 200, self._public(o)
        if path == "/api/v3/openOrders":
            sym = p.get("symbol")
            return 200, [self._public(o) for o in self.orders.values()
                         if o["status"] in ("NEW", "PARTIALLY_FILLED") and (sym is None or o["symbol"] == sym)]
        return 404, {"code": -1000, "msg": f"fake: no route {method} {path}"}

    def _klines(self, p: dict[str, str]) -> tuple[int, Any]:
        sym = p.get("symbol", "")
        if sym not in self.klines:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        start = int(p.get("startTime", 0))
        limit = int(p.get("limit", 500))
        rows = [r for r in self.klines[sym] if r[0] >= start and r[0] <= self.now_ms]
        return 200, rows[:limit]

    def last_close(self, symbol: str) -> float:
        rows = [r for r in self.klines.get(symbol, []) if r[0] <= self.now_ms]
        return float(rows[-1][4]) if rows else 100.0

    def _new_order(self, p: dict[str, str]) -> tuple[int, Any]:
        plan = self.script.pop(0) if self.script else "fill"
        cid = p.get("newClientOrderId", "")
        if cid in self.orders:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        if plan == "reject":
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}
        self.next_id += 1
        o = {"symbol": p["symbol"], "orderId": self.next_id, "orderListId": -1, "clientOrderId": cid,
             "transactTime": self.now_ms, "price": p.get("price", "0.00000000"), "origQty": p["quantity"],
             "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
             "timeInForce": p.get("timeInForce", "GTC"), "type": p["type"], "side": p["side"],
             "workingTime": self.now_ms, "fills": [], "selfTradePreventionMode": "EXPIRE_MAKER"}
        self.orders[cid] = o
        qty = float(p["quantity"])
        if plan in ("fill", "drop"):
            self._execute(o, qty)
        elif plan == "partial":
            self._execute(o, qty / 2)
            o["_then"] = "fill"
        if plan == "drop":
            raise _Drop()
        return 200, self._public(o)

    def _execute(self, o: dict[str, Any], qty: float) -> None:
        px = float(o["price"]) if o["type"] == "LIMIT" else self.last_close(o["symbol"])
        done = float(o["executedQty"]) + qty
        o["executedQty"] = f"{done:.8f}"
        o["cummulativeQuoteQty"] = f"{float(o['cummulativeQuoteQty']) + qty * px:.8f}"
        commission = qty * px * 0.001
        o["fills"] = [*o["fills"], {"price": f"{px:.8f}", "qty": f"{qty:.8f}",
                                    "commission": f"{commission:.8f}", "commissionAsset": "USDT",
                                    "tradeId": self.next_id * 10 + len(o["fills"])}]
        o["status"] = "FILLED" if abs(done - float(o["origQty"])) < 1e-12 else "PARTIALLY_FILLED"
        base = o["symbol"][:-4]
        sign = 1.0 if o["side"] == "BUY" else -1.0
        self.balances[base] = self.balances.get(base, 0.0) + sign * qty
        self.balances["USDT"] -= sign * qty * px + commission
        o["updateTime"] = self.now_ms

    @staticmethod
    def _public(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if not k.startswith("_")}


class _Drop(Exception):
    pass


ALPACA_KEY = "PKTEST7F3A9C0000"
ALPACA_SECRET = "alpaca-secret-5d2e"


class FakeAlpaca:
    """Alpaca's trading (``/v2/account``, ``/v2/assets``, ``/v2/clock``,
    ``/v2/orders``, ``/v2/positions``) and market data (``/v2/stocks/bars``)
    REST on one 127.0.0.1 port, as alpaca-py's clients call them with
    ``url_override``. Auth: the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``
    headers; errors as Alpaca's ``{"code", "message"}``. Orders follow
    ``script`` like FakeBinance (fill, partial, rest, reject)."""

    def __init__(self, bars: dict[str, list[tuple[int, float]]], now_ms: int) -> None:
        self.bars = bars  # symbol -> [(open ms, close)]
        self.live = False
        self.fixed_ms = now_ms
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}
        self.cash = 100_000.0
        self.script: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.raw: list[str] = []
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def rebase(self) -> None:
        """Bars moved so that the last one is forming now; the server's clock
        follows the wall clock from here (subprocess and CLI tests)."""
        last_open = max(t for rows in self.bars.values() for t, _c in rows)
        shift = (int(time.time() * 1000) // 60_000) * 60_000 - last_open
        self.bars = {s: [(t + shift, c) for t, c in rows] for s, rows in self.bars.items()}
        self.live = True

    @property
    def now_ms(self) -> int:
        return int(time.time() * 1000) if self.live else self.fixed_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.fixed_ms = value

    start = FakeBinance.start
    stop = FakeBinance.stop
    _send = FakeBinance._send

    @staticmethod
    def _iso(ms: int) -> str:
        from datetime import datetime, timezone

        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n).decode() if n else ""
        p = dict(parse_qsl(url.query))
        with self.lock:
            self.requests.append((h.command, url.path))
            self.raw.append(f"{h.command} {h.path}\n{h.headers}\n{body}")
            if h.headers.get("APCA-API-KEY-ID") != ALPACA_KEY or h.headers.get("APCA-API-SECRET-KEY") != ALPACA_SECRET:
                return self._send(h, 401, {"code": 40110000, "message": "request is not authorized"})
            status, payload = self.route(h.command, url.path, p, json.loads(body) if body else {})
        if status == 204:
            h.send_response(204)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        self._send(h, status, payload)
        return None

    def route(self, method: str, path: str, p: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/v2/clock":
            return 200, {"timestamp": self._iso(self.now_ms), "is_open": True,
                         "next_open": self._iso(self.now_ms), "next_close": self._iso(self.now_ms + 3_600_000)}
        if path.startswith("/v2/assets/"):
            sym = path.rsplit("/", 1)[1]
            if sym not in self.bars:
                return 404, {"code": 40410000, "message": "asset not found"}
            return 200, {"id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "class": "us_equity", "exchange": "NASDAQ",
                         "symbol": sym, "status": "active", "tradable": True, "fractionable": True}
        if path == "/v2/stocks/bars":
            start_ms = int(datetime_ms(p["start"])) if "start" in p else 0
            out = {s: [{"t": self._iso(t), "o": c, "h": c, "l": c, "c": c, "v": 1200, "n": 40, "vw": c}
                       for t, c in rows if t >= start_ms and t <= self.now_ms]
                   for s, rows in self.bars.items() if s in p.get("symbols", "").split(",")}
            return 200, {"bars": out, "next_page_token": None}
        if path == "/v2/account":
            return 200, {"id": "acct-1", "account_number": "PA3TEST", "status": "ACTIVE", "currency": "USD",
                         "cash": f"{self.cash:.2f}", "equity": f"{self.cash:.2f}", "trading_blocked": False,
                         "account_blocked": False}
        if path == "/v2/positions":
            return 200, [{"symbol": s, "qty": str(q), "avg_entry_price": "190.0", "side": "long" if q > 0 else "short"}
                         for s, q in self.positions.items() if q]
        if path == "/v2/orders" and method == "POST":
            plan = self.script.pop(0) if self.script else "fill"
            if plan == "reject":
                return 403, {"code": 40310000, "message": "insufficient buying power"}
            oid = f"61e69015-8549-4bfd-b9c3-01e75843f4{len(self.orders):02d}"
            o = {"id": oid, "client_order_id": body["client_order_id"], "symbol": body["symbol"],
                 "qty": str(body["qty"]), "filled_qty": "0", "filled_avg_price": None, "side": body["side"],
                 "type": body["type"], "limit_price": body.get("limit_price"), "status": "new",
                 "submitted_at": self._iso(self.now_ms), "updated_at": self._iso(self.now_ms), "_plan": plan}
            self.orders[o["client_order_id"]] = o
            if plan in ("fill", "partial"):
                self._fill(o, float(body["qty"]) / (2 if plan == "partial" else 1))
            return 200, self._public(o)
        if path == "/v2/orders:by_client_order_id":
            o = self.orders.get(p.get("client_order_id", ""))
            if o is None:
                return 404, {"code": 40410000, "message": "order not found"}
            if o["_plan"] == "partial" and o["status"] == "partially_filled":
                self._fill(o, float(o["qty"]) - float(o["filled_qty"]))
            return 200, self._public(o)
        if path.startswith("/v2/orders/") and method == "DELETE":
            oid = path.rsplit("/", 1)[1]
            for o in self.orders.values():
                if o["id"] == oid and o["status"] in ("new", "partially_filled"):
                    o["status"] = "canceled"
                    return 204, None
            return 422, {"code": 42210000, "message": "order is not cancelable"}
        if path == "/v2/orders" and method == "GET":
            return 200, [self._public(o) for o in self.orders.values() if o["status"] in ("new", "partially_filled")]
        return 404, {"code": 40410000, "message": f"fake: no route {method} {path}"}

    def _fill(self, o: dict[str, Any], qty: float) -> None:
        rows = self.bars[o["symbol"]]
        px = float(o["limit_price"]) if o.get("limit_price") else rows[-1][1]
        done = float(o["filled_qty"]) + qty
        avg = ((float(o["filled_avg_price"] or 0.0) * float(o["filled_qty"])) + qty * px) / done
        o["filled_qty"], o["filled_avg_price"] = f"{done:g}", f"{avg:.4f}"
        o["status"] = "filled" if done >= float(o["qty"]) else "partially_filled"
        o["filled_at"] = self._iso(self.now_ms)
        signed = qty if o["side"] == "buy" else -qty
        self.positions[o["symbol"]] = self.positions.get(o["symbol"], 0.0) + signed
        self.cash -= signed * px

    _public = staticmethod(FakeBinance._public)


def datetime_ms(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> Iterator[tuple[FakeBinance, str]]:
    """The fake Binance server on its fixed clock (tests move it). (fake, url)."""
    f = FakeBinance()
    url = f.start()
    yield f, url
    f.stop()


@pytest.fixture
def live() -> Iterator[tuple[FakeBinance, str]]:
    """The fake Binance server on the wall clock (its last bar is forming
    now): for ``console run`` and sessions in real time. (fake, url)."""
    f = FakeBinance()
    f.rebase()
    url = f.start()
    yield f, url
    f.stop()


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keys from the environment or the OS keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)
