"""alpaca-py's real clients (url_override) against a fake Alpaca REST server
on 127.0.0.1 (tests/venue_fakes.py): bars in, orders out, reports back."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pytest

from core.events import Bar, Timer
from core.venues.alpaca_client import AlpacaDataClient, AlpacaExecutionClient
from core.venues.base import Credentials, OrderRequest, VenueError, VenueSpec
from core.venues.feed import VenueFeed
from tests.venue_fakes import ALPACA_KEY, ALPACA_SECRET, FakeAlpaca

T0 = 1772460000000  # 2026-03-02 14:00 UTC
KEYS = Credentials(ALPACA_KEY, ALPACA_SECRET)


@pytest.fixture
def fake() -> Iterator[tuple[FakeAlpaca, str]]:
    f = FakeAlpaca({"AAPL": [(T0 + i * 60_000, 190.0 + i / 10) for i in range(10)],
                    "MSFT": [(T0 + i * 60_000, 410.0 - i / 10) for i in range(10)]}, T0 + 9 * 60_000 + 20_000)
    url = f.start()
    yield f, url
    f.stop()


def spec(url: str, *symbols: str) -> VenueSpec:
    return VenueSpec("alpaca", "paper-live", symbols or ("AAPL", "MSFT"), url, history=5, timeout_s=3.0)


def test_bars_through_the_feed(fake: tuple[FakeAlpaca, str]) -> None:
    f, url = fake
    clock_ms = [f.now_ms]
    s = spec(url)
    feed = VenueFeed(AlpacaDataClient(s, KEYS), s, clock=lambda: clock_ms[0] / 1000.0,
                     sleep=lambda sec: clock_ms.__setitem__(0, clock_ms[0] + int(sec * 1000)))
    events = list(islice(iter(feed), 1 + 5 * 3))
    assert events[0] == Timer(events[1].ts, "", "day")
    bars = [e for e in events if isinstance(e, Bar)]
    # the 9th bar (opened at T0+8m) is the last closed one; it ends at T0+9m
    assert bars[-1] == Bar(T0 + 9 * 60_000, "MSFT", 409.2, 409.2, 409.2, 409.2, 1200.0)
    assert [b.symbol for b in bars[:2]] == ["AAPL", "MSFT"]
    assert ("GET", "/v2/stocks/bars") in f.requests


def test_data_needs_keys_and_known_symbols(fake: tuple[FakeAlpaca, str]) -> None:
    _f, url = fake
    with pytest.raises(VenueError, match="alpaca needs API keys for market data: set CONSOLE_VENUE_ALPACA_API_KEY"):
        AlpacaDataClient(spec(url), Credentials()).connect()
    with pytest.raises(VenueError, match=r"^alpaca: unknown symbol\(s\) NOPE$"):
        AlpacaDataClient(spec(url, "NOPE"), KEYS).connect()
    with pytest.raises(VenueError) as err:
        AlpacaDataClient(spec(url), Credentials(ALPACA_KEY, "wrong-0042")).connect()
    assert str(err.value).startswith("alpaca refused the API key") and "wrong-0042" not in str(err.value)


def test_orders_fill_partially_reject_and_cancel(fake: tuple[FakeAlpaca, str]) -> None:
    f, url = fake
    ex = AlpacaExecutionClient(spec(url), KEYS)
    ex.connect()
    reps = ex.submit(OrderRequest("tcA-1", "AAPL", 3.0))
    assert [r.kind for r in reps] == ["ack", "fill"] and reps[1].qty == 3.0 and reps[1].price == 190.9
    f.script = ["partial"]
    part = ex.submit(OrderRequest("tcA-2", "AAPL", -2.0))
    assert [r.kind for r in part] == ["ack", "fill"] and part[1].qty == -1.0 and part[1].remaining == -1.0
    (rest,) = ex.order_status("tcA-2", "AAPL")
    assert rest.kind == "fill" and rest.qty == -1.0 and rest.filled == -2.0 and rest.remaining == 0.0
    f.script = ["reject"]
    (rej,) = ex.submit(OrderRequest("tcA-3", "AAPL", 1000.0))
    assert rej.kind == "reject" and rej.reason == "insufficient buying power"
    f.script = ["rest"]
    assert [r.kind for r in ex.submit(OrderRequest("tcA-4", "MSFT", 1.0, "limit", 400.0))] == ["ack"]
    (o,) = ex.open_orders(("MSFT",))
    assert (o.client_id, o.price, o.remaining) == ("tcA-4", 400.0, 1.0)
    (c,) = ex.cancel("tcA-4", "MSFT")
    assert c.kind == "cancel" and c.remaining == 1.0
    assert ex.positions()[0].qty == 1.0
    posts = [r for r in f.raw if r.startswith("POST /v2/orders")]
    assert '"client_order_id": "tcA-1"' in posts[0] or '"client_order_id":"tcA-1"' in posts[0]
    assert not any(ALPACA_SECRET in r.split("\n", 1)[0] for r in f.raw)  # never in a URL


def test_restart_looks_the_order_up_before_sending(fake: tuple[FakeAlpaca, str]) -> None:
    f, url = fake
    first = AlpacaExecutionClient(spec(url), KEYS)
    first.connect()
    first.submit(OrderRequest("tcA-9", "AAPL", 2.0))
    again = AlpacaExecutionClient(spec(url), KEYS)  # a resumed session
    again.connect()
    reps = again.submit(OrderRequest("tcA-9", "AAPL", 2.0), look_up_first=True)
    assert [r.kind for r in reps] == ["ack", "fill"] and reps[1].qty == 2.0
    assert sum(1 for m, p in f.requests if m == "POST" and p == "/v2/orders") == 1


def test_console_run_on_alpaca_paper_live(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import console

    f = FakeAlpaca({"AAPL": [(T0 + i * 60_000, 190.0 + i / 10) for i in range(30)],
                    "MSFT": [(T0 + i * 60_000, 410.0 - i / 10) for i in range(30)]}, 0)
    f.rebase()
    url = f.start()
    try:
        db = str(tmp_path / "a.db")
        args = ("run", "--headless", "--venue", "alpaca", "--symbols", "AAPL,MSFT", "--venue-url", url,
                "--events", "40", "--db", db)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        monkeypatch.delenv("CONSOLE_VENUE_ALPACA_API_KEY", raising=False)
        rc, out, err = console(capsys, *args)
        assert rc == 2 and err.strip().startswith("error: alpaca needs API keys for market data")
        monkeypatch.setenv("CONSOLE_VENUE_ALPACA_API_KEY", ALPACA_KEY)
        monkeypatch.setenv("CONSOLE_VENUE_ALPACA_SECRET", ALPACA_SECRET)
        rc, out, err = console(capsys, *args)
        assert rc == 0, err
        assert "source paper-live alpaca AAPL,MSFT 1m" in err and "events 40 " in err
        sid = out.strip().splitlines()[-1]
    finally:
        f.stop()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert ALPACA_SECRET.encode() not in blob and ALPACA_KEY.encode() not in blob
    rc, out, err = console(capsys, "replay", sid, "--db", db)
    assert rc == 0 and "verified" in out, out + err


def test_alpaca_venue_mode_reconciles_a_manual_position_at_start(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json
    import sqlite3

    from tests.conftest import console

    f = FakeAlpaca({"AAPL": [(T0 + i * 60_000, 190.0 + i / 10) for i in range(30)],
                    "MSFT": [(T0 + i * 60_000, 410.0 - i / 10) for i in range(30)]}, 0)
    f.rebase()
    f.positions["MSFT"] = 3.0  # bought in Alpaca's app before the session
    url = f.start()
    monkeypatch.setenv("CONSOLE_VENUE_ALPACA_API_KEY", ALPACA_KEY)
    monkeypatch.setenv("CONSOLE_VENUE_ALPACA_SECRET", ALPACA_SECRET)
    db = tmp_path / "a.db"
    try:
        rc, out, err = console(capsys, "run", "--headless", "--venue", "alpaca", "--mode", "venue", "--symbols",
                               "AAPL,MSFT", "--venue-url", url, "--events", "10", "--db", str(db))
    finally:
        f.stop()
    assert rc == 0, err
    assert "MSFT: the log holds +0, alpaca holds +3 (opened outside the console?)" in err and "state HALTED" in err
    sid = out.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    got = [(sym, json.loads(p)) for sym, p in con.execute(
        "select symbol, payload from events where session = ? and kind = 'venue_report' order by seq", [sid])]
    con.close()
    assert [(s, p["qty"]) for s, p in got if p["kind"] == "position"] == [("AAPL", 0.0), ("MSFT", 3.0)]
    assert [(s, p["qty"]) for s, p in got if p["kind"] == "balance"] == [("USD", 100_000.0)]
    assert [s for s, p in got if p["kind"] == "mismatch"] == ["MSFT"]
    assert not any(m == "POST" and p == "/v2/orders" for m, p in f.requests)  # halted: nothing sent
