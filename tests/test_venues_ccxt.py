"""ccxt's real binance exchange object against a fake Binance REST server on
127.0.0.1 (tests/venue_fakes.py): market data in, orders out, reports back,
and every failure as one line without a secret."""

from __future__ import annotations

import socket

import pytest

from core.events import Bar
from core.venues.base import (
    Credentials, OrderRequest, VenueError, VenueSpec, client_order_id, load_credentials, scrub,
)
from core.venues.ccxt_client import CcxtDataClient, CcxtExecutionClient, make_exchange, override_urls
from tests.venue_fakes import API_KEY, SECRET, FakeBinance, fake  # noqa: F401  (a fixture)

KEYS = Credentials(API_KEY, SECRET)


def spec(url: str, *symbols: str) -> VenueSpec:
    return VenueSpec("binance", "paper-live", symbols or ("BTC/USDT", "ETH/USDT"), url, timeout_s=3.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------ data


def test_closed_bars_arrive_keyed_by_their_end(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    d = CcxtDataClient(spec(url))
    d.connect()
    since = f.klines["BTCUSDT"][-4][0]  # the open of the 4th-last bar
    bars = d.poll_bars(since)
    btc = [b for b in bars if b.symbol == "BTC/USDT"]
    rows = f.klines["BTCUSDT"][-4:]
    # bars ending after `since`: the 4th-last (ends since+60s) onwards
    assert [b.ts for b in btc] == [r[0] + 60_000 for r in rows]
    assert btc[0] == Bar(rows[0][0] + 60_000, "BTC/USDT", *(float(x) for x in rows[0][1:6]))
    assert [b.ts for b in bars] == sorted(b.ts for b in bars)
    klines = [p for m, path, p in f.requests if path == "/api/v3/klines"]
    assert {p["symbol"] for p in klines} == {"BTCUSDT", "ETHUSDT"} and klines[0]["interval"] == "1m"


def test_trades_arrive_as_ticks(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    d = CcxtDataClient(spec(url, "BTC/USDT"))
    d.connect()
    since = f.klines["BTCUSDT"][-3][6]
    ticks = d.poll_trades(since)
    assert ticks and all(t.symbol == "BTC/USDT" and t.ts > since and t.size == 0.01 for t in ticks)
    assert ticks[-1].price == float(f.klines["BTCUSDT"][-1][4])


def test_unknown_symbol_is_one_line(fake: tuple[FakeBinance, str]) -> None:
    _f, url = fake
    with pytest.raises(VenueError, match=r"^binance: unknown symbol\(s\) DOGE/USDT$"):
        CcxtDataClient(spec(url, "BTC/USDT", "DOGE/USDT")).connect()


def test_closed_market_is_one_line(fake: tuple[FakeBinance, str]) -> None:
    _f, url = fake  # LUNAUSDT is listed with status BREAK
    with pytest.raises(VenueError, match="market closed or delisted: LUNA/USDT"):
        CcxtDataClient(spec(url, "LUNA/USDT")).connect()


def test_unreachable_venue_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VenueError) as err:
        CcxtDataClient(spec(url)).connect()
    msg = str(err.value)
    assert msg.startswith(f"cannot reach binance at {url} while loading markets") and "\n" not in msg


def test_venue_down_is_one_line(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    f.down = True
    with pytest.raises(VenueError, match="binance.*loading markets") as err:
        CcxtDataClient(spec(url)).connect()
    assert "\n" not in str(err.value)


def test_url_override_and_sandbox() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "sapi": "https://api.binance.com/sapi/v1",
            "nested": {"x": "https://fapi.binance.com/fapi/v1"}}
    assert override_urls(urls, "http://127.0.0.1:9/") == {
        "public": "http://127.0.0.1:9/api/v3", "sapi": "http://127.0.0.1:9/sapi/v1",
        "nested": {"x": "http://127.0.0.1:9/fapi/v1"}}
    ex = make_exchange(VenueSpec("binance", symbols=("BTC/USDT",), sandbox=True))
    assert ex.urls["api"]["public"].startswith("https://testnet.binance.vision/")
    with pytest.raises(VenueError, match="unknown venue 'nosuch'"):
        make_exchange(VenueSpec("nosuch", symbols=("X/Y",)))


# ------------------------------------------------------------ execution


def test_market_order_is_acked_and_filled(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    reps = ex.submit(OrderRequest("tcS1-7", "BTC/USDT", 0.01))
    assert [r.kind for r in reps] == ["ack", "fill"]
    fill = reps[1]
    px = f.last_close("BTCUSDT")
    assert fill.qty == 0.01 and fill.price == pytest.approx(px) and fill.remaining == 0.0
    assert fill.commission == pytest.approx(0.01 * px * 0.001)
    post = [p for m, path, p in f.requests if m == "POST"]
    assert post[0]["newClientOrderId"] == "tcS1-7" and post[0]["side"] == "BUY" and post[0]["type"] == "MARKET"
    assert ex.positions()[0].qty == pytest.approx(0.01)


def test_partial_fill_then_the_rest(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    f.script = ["partial"]
    first = ex.submit(OrderRequest("tcS1-8", "BTC/USDT", -0.004))
    assert [r.kind for r in first] == ["ack", "fill"]
    assert first[1].qty == pytest.approx(-0.002) and first[1].remaining == pytest.approx(-0.002)
    rest = ex.order_status("tcS1-8", "BTC/USDT")
    assert [r.kind for r in rest] == ["fill"]
    assert rest[0].qty == pytest.approx(-0.002) and rest[0].filled == pytest.approx(-0.004)
    assert rest[0].remaining == 0.0
    assert ex.order_status("tcS1-8", "BTC/USDT") == []  # nothing new


def test_reject_carries_the_venues_reason(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    f.script = ["reject"]
    (rep,) = ex.submit(OrderRequest("tcS1-9", "BTC/USDT", 5.0))
    assert rep.kind == "reject" and "insufficient balance" in rep.reason


def test_resting_limit_order_is_listed_and_cancelled(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    f.script = ["rest"]
    assert [r.kind for r in ex.submit(OrderRequest("tcS1-10", "BTC/USDT", 0.01, "limit", 60_000.0))] == ["ack"]
    (o,) = ex.open_orders(("BTC/USDT",))
    assert (o.client_id, o.remaining, o.price) == ("tcS1-10", 0.01, 60_000.0)
    (c,) = ex.cancel("tcS1-10", "BTC/USDT")
    assert c.kind == "cancel" and c.remaining == 0.01
    assert ex.open_orders(("BTC/USDT",)) == []


def test_disconnect_mid_order_then_lookup_never_sends_twice(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    f.script = ["drop"]  # the venue takes the order, the answer never comes
    order = OrderRequest(client_order_id("20260302-234000-abc123", 41), "BTC/USDT", 0.01)
    with pytest.raises(VenueError, match="cannot reach binance"):
        ex.submit(order)
    # a restarted session: a fresh client looks the id up before sending
    again = CcxtExecutionClient(spec(url), KEYS)
    again.connect()
    reps = again.submit(order, look_up_first=True)
    assert [r.kind for r in reps] == ["ack", "fill"] and reps[1].qty == pytest.approx(0.01)
    assert sum(1 for m, path, _p in f.requests if m == "POST" and path == "/api/v3/order") == 1
    # an id the venue has never seen is sent
    fresh = OrderRequest(client_order_id("20260302-234000-abc123", 42), "BTC/USDT", 0.01)
    assert [r.kind for r in again.submit(fresh, look_up_first=True)] == ["ack", "fill"]
    assert sum(1 for m, path, _p in f.requests if m == "POST" and path == "/api/v3/order") == 2


def test_missing_and_wrong_keys_are_one_line_without_the_secret(fake: tuple[FakeBinance, str]) -> None:
    _f, url = fake
    with pytest.raises(VenueError, match="needs API keys: set CONSOLE_VENUE_BINANCE_API_KEY"):
        CcxtExecutionClient(spec(url), Credentials()).connect()
    wrong = Credentials(API_KEY, "not-the-secret-55aa")
    with pytest.raises(VenueError) as err:
        CcxtExecutionClient(spec(url), wrong).connect()
    msg = str(err.value)
    assert msg.startswith("binance refused the API key") and "Signature for this request is not valid" in msg
    assert "not-the-secret-55aa" not in msg and API_KEY not in msg and "signature=" not in msg.lower().replace(
        "signature=***", "")
    with pytest.raises(VenueError, match="refused the API key"):
        CcxtExecutionClient(spec(url), Credentials("other-key", SECRET)).connect()


def test_the_secret_never_travels(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    ex.submit(OrderRequest("tcS1-11", "BTC/USDT", 0.01))
    assert f.raw and not any(SECRET in r for r in f.raw)  # signed with it, never sent


def test_credentials_from_environment_and_never_shown() -> None:
    env = {"CONSOLE_VENUE_BINANCE_API_KEY": "k-123", "CONSOLE_VENUE_BINANCE_SECRET": "s-456"}
    c = load_credentials("binance", env, use_keyring=False)
    assert c and c.api_key == "k-123" and c.secret == "s-456"
    assert "k-123" not in repr(c) and "s-456" not in repr(c)
    assert not load_credentials("kraken", env, use_keyring=False)
    assert scrub("GET http://h/api?x=1&signature=abc s-456 apiKey=k-123", c.values()) == "GET http://h/api *** apiKey=***"


def test_client_order_ids_are_unique_short_and_stable() -> None:
    a = client_order_id("20261204-151738-ec9c41", 7)
    assert a == client_order_id("20261204-151738-ec9c41", 7) != client_order_id("20261204-151738-ec9c41", 8)
    assert len(client_order_id("20261204-151738-ec9c41", 10**9)) <= 36 and a.replace("-", "").isalnum()


def test_reconciliation_notices_a_manual_trade_and_a_foreign_order(fake: tuple[FakeBinance, str]) -> None:
    from core.venues.reconcile import reconcile

    f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    ex.submit(OrderRequest("tcS2-5", "BTC/USDT", 0.01))  # ours: logged, filled
    f.script = ["rest"]
    ex.submit(OrderRequest("tcS2-6", "ETH/USDT", 0.5, "limit", 3000.0))  # ours: resting
    syms = ("BTC/USDT", "ETH/USDT")
    lots = {"BTC/USDT": 1e-5, "ETH/USDT": 1e-5}
    book = {"BTC/USDT": 0.01}
    orders = {"tcS2-6": ("ETH/USDT", 0.5)}
    assert reconcile("binance", book, orders, ex.positions(), ex.open_orders(syms), lots, syms) == []
    # someone trades in the venue's app: a manual buy and a resting order we did not send
    f.balances["ETH"] = 1.25
    f.script = ["rest"]
    other = CcxtExecutionClient(spec(url), KEYS)
    other.connect()
    other.submit(OrderRequest("web-manual-1", "BTC/USDT", -0.005, "limit", 90_000.0))
    diffs = reconcile("binance", book, orders, ex.positions(), ex.open_orders(syms), lots, syms)
    assert [(d.what, d.symbol) for d in diffs] == [("position", "ETH/USDT"), ("order_foreign", "BTC/USDT")]
    assert diffs[0].text == "ETH/USDT: the log holds +0, binance holds +1.25 (opened outside the console?)"
    assert "web-manual-1" in diffs[1].text and "did not send" in diffs[1].text
    # a venue that takes its fee in the bought asset holds 0.1% less than the fills say: not a difference
    # when that much was traded since the last reconciliation, a difference when nothing was
    f.balances["ETH"], book2 = 0.999, {"BTC/USDT": 0.01, "ETH/USDT": 1.0}
    kw = dict(lots=lots, symbols=syms)
    foreign = [("order_foreign", "BTC/USDT")]
    assert [(d.what, d.symbol) for d in reconcile("binance", book2, orders, ex.positions(), ex.open_orders(syms),
                                                  traded={"ETH/USDT": 1.0}, **kw)] == foreign  # type: ignore[arg-type]
    assert ("position", "ETH/USDT") in [(d.what, d.symbol) for d in reconcile(
        "binance", book2, orders, ex.positions(), ex.open_orders(syms), **kw)]  # type: ignore[arg-type]
    # the venue cancelled our resting order behind our back
    ex.cancel("tcS2-6", "ETH/USDT")
    diffs = reconcile("binance", book, orders, ex.positions(), ex.open_orders(syms), lots, syms)
    assert ("order_missing", "ETH/USDT") in [(d.what, d.symbol) for d in diffs]


def test_credentials_from_the_keyring_when_the_environment_has_none() -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store = {("trading-console", "kraken:api_key"): "kr-key",
                          ("trading-console", "kraken:secret"): "kr-secret"}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    before = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        c = load_credentials("kraken", {})
        assert (c.api_key, c.secret, c.password) == ("kr-key", "kr-secret", "")
        env = {"CONSOLE_VENUE_KRAKEN_API_KEY": "env-key", "CONSOLE_VENUE_KRAKEN_SECRET": "env-secret"}
        assert load_credentials("kraken", env).api_key == "env-key"  # the environment wins
        assert not load_credentials("kraken", {}, use_keyring=False)
    finally:
        keyring.set_keyring(before)


def test_a_key_revoked_mid_session_is_an_error_not_a_reject(fake: tuple[FakeBinance, str]) -> None:
    import tests.venue_fakes as vf

    _f, url = fake
    ex = CcxtExecutionClient(spec(url), KEYS)
    ex.connect()
    old = vf.API_KEY
    vf.API_KEY = "revoked"  # the server no longer knows our key
    try:
        # ccxt reads -2015 after a successful login as a temporary ban (DDoSProtection)
        with pytest.raises(VenueError, match=r"binance is refusing our requests for now .* while sending order "
                                             r"tcS3-1: binance .*Invalid API-key"):
            ex.submit(OrderRequest("tcS3-1", "BTC/USDT", 0.01))
        assert "tcS3-1" not in ex.done  # not a reject: its fate is unknown, to be looked up
    finally:
        vf.API_KEY = old
    old_secret = vf.SECRET
    vf.SECRET = "rotated-secret"  # the secret was rotated at the venue: signatures stop matching
    try:
        with pytest.raises(VenueError, match="binance refused the API key while sending order tcS3-2"):
            ex.submit(OrderRequest("tcS3-2", "BTC/USDT", 0.01))
    finally:
        vf.SECRET = old_secret
