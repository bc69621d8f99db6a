"""Venue mode against the fake Binance server: reconciliation at start and
at resume (a difference halts until the operator resumes), balances as
logged inputs, a halt that cancels at the venue, submits off the engine's
thread, and a venue lost mid-session (disconnect, stale halt, reconnect)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.events import OrderAccepted
from core.venues.base import Credentials, VenueSpec, client_order_id
from core.venues.ccxt_client import CcxtExecutionClient
from core.venues.execution import VenueExecution
from tests.conftest import console
from tests.venue_fakes import API_KEY, KEY_ENV, SECRET, FakeBinance, live  # noqa: F401  (live: a fixture)

CONFIG = ("initial_cash = 100000.0\n"  # the fake account's (the gate's venue_funds)
          "[signals]\nmodels = []\n[strategy]\nvol_scale = 0.000001\n"
          "[limits]\nmax_position_fraction = 0.5\nmax_order_notional = 1e9\n")
SYMS = ("BTC/USDT", "ETH/USDT")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in KEY_ENV.items():
        monkeypatch.setenv(k, v)


def spec(url: str, **kw: Any) -> VenueSpec:
    return VenueSpec("binance", "venue", SYMS, url, **kw)


def start(tmp_path: Path, sp: VenueSpec, max_events: int | None = None, keep_alive: bool = False) -> Any:
    from console.setup_run import prepare

    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    return prepare(db=tmp_path / "v.db", seed=None, speed=None, data=None, symbol=None, config_path=str(cfg),
                   max_events=max_events, keep_alive=keep_alive, venue=sp)


def resume(tmp_path: Path, sid: str, max_events: int | None = None) -> Any:
    from console.setup_run import resume as resume_session

    return resume_session(db=tmp_path / "v.db", session_id=sid, speed=None, max_events=max_events,
                          keep_alive=False)


def run(prep: Any) -> None:
    prep.session.run()
    prep.writer.close(clean=not prep.session.error)
    assert prep.session.error == ""


def rows(tmp_path: Path, sid: str) -> list[tuple[int, str, dict[str, Any]]]:
    con = sqlite3.connect(tmp_path / "v.db")
    got = [(seq, kind, {**json.loads(p), "symbol": sym}) for seq, kind, sym, p in
           con.execute("select seq, kind, symbol, payload from events where session = ? order by seq", [sid])]
    con.close()
    return got


def reports(tmp_path: Path, sid: str, kind: str) -> list[dict[str, Any]]:
    return [p for _s, k, p in rows(tmp_path, sid) if k == "venue_report" and p["kind"] == kind]


def commands(tmp_path: Path, sid: str) -> list[dict[str, Any]]:
    return [p for _s, k, p in rows(tmp_path, sid) if k == "command"]


def until(cond: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def replays(capsys: pytest.CaptureFixture[str], tmp_path: Path, sid: str) -> None:
    rc, out, err = console(capsys, "replay", sid, "--db", str(tmp_path / "v.db"))
    assert rc == 0 and "verified" in out, out + err


# ------------------------------------------------------------ reconciliation


def test_a_clean_start_is_reconciled_logged_and_trades(live: tuple[FakeBinance, str], keys: None,
                                                       tmp_path: Path) -> None:
    f, url = live
    prep = start(tmp_path, spec(url), max_events=40)
    assert prep.session.engine.state.state == "ACTIVE"
    run(prep)
    sid = prep.session.session_id
    (done,) = reports(tmp_path, sid, "reconciled")
    assert done["qty"] == 0.0 and done["reason"] == "binance at start: no differences"
    assert {p["symbol"]: p["qty"] for p in reports(tmp_path, sid, "position")} == {"BTC/USDT": 0.0, "ETH/USDT": 0.0}
    bal = {p["symbol"]: p["qty"] for p in reports(tmp_path, sid, "balance")}
    assert bal["USDT"] == 100_000.0 and bal["BTC"] == 0.0  # the session's assets, zero or not
    assert not reports(tmp_path, sid, "mismatch") and not commands(tmp_path, sid)
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("v.db*"))  # keys signed every request, logged none
    assert API_KEY.encode() not in blob and SECRET.encode() not in blob


def test_a_manual_position_and_a_foreign_order_halt_the_start(live: tuple[FakeBinance, str], keys: None,
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25  # bought in the venue's app
    f.add_open_order("BTCUSDT", "sell", 0.005, 90_000.0, "web-manual-1")
    prep = start(tmp_path, spec(url), max_events=30)
    assert prep.session.engine.state.state == "HALTED"  # before the first bar
    run(prep)
    sid = prep.session.session_id
    diffs = reports(tmp_path, sid, "mismatch")
    assert [d["reason"] for d in diffs] == [
        "ETH/USDT: the log holds +0, binance holds +1.25 (opened outside the console?)",
        "an open BTC/USDT order at binance (-0.005, id web-manual-1) that this session did not send"]
    (halt,) = commands(tmp_path, sid)
    assert halt["action"] == "halt" and halt["who"] == "venue reconciliation"
    assert halt["reason"].startswith("reconciliation with binance at start: 2 difference(s): ETH/USDT: the log")
    assert "web-manual-1" in halt["reason"] and halt["reason"].endswith("resume to accept them")
    assert not [k for _s, k, _p in rows(tmp_path, sid) if k == "order_accepted"]  # halted: nothing sent
    assert not any(m == "POST" for m, _p, _q in f.requests)
    assert "web-manual-1" in {o["clientOrderId"] for o in f.orders.values() if o["status"] == "NEW"}  # not ours
    replays(capsys, tmp_path, sid)


def test_console_run_says_why_it_starts_halted(live: tuple[FakeBinance, str], keys: None, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["BTC"] = 0.25
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    rc, out, err = console(capsys, "run", "--headless", "--venue", "binance", "--mode", "venue", "--symbols",
                           "BTC/USDT", "--venue-url", url, "--events", "12", "--config", str(cfg),
                           "--db", str(tmp_path / "v.db"))
    assert rc == 0, err
    assert ("data: reconciliation with binance at start: 1 difference(s), the first: BTC/USDT: the log holds +0, "
            "binance holds +0.25 (opened outside the console?); trading is HALTED until the operator resumes "
            "(that accepts them) or a re-run (every 30s) finds them resolved") in err.splitlines()
    assert "state HALTED" in err and "Traceback" not in err


def test_resume_after_a_manual_trade_halts_until_the_operator_accepts(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    prep = start(tmp_path, spec(url), max_events=110)
    run(prep)
    sid = prep.session.session_id
    assert reports(tmp_path, sid, "fill"), "the strategy traded nothing"
    held = prep.session.engine.portfolio.qty("BTC/USDT")
    f.balances["BTC"] += 0.5  # while the console was down, someone bought in the venue's app
    # and an order the log has ended is still open there (as if a crash kept its cancel from the venue)
    ended = min(s for s, k, _p in rows(tmp_path, sid) if k == "order_accepted")
    f.add_open_order("ETHUSDT", "buy", 0.1, 1_000.0, client_order_id(sid, ended))
    again = resume(tmp_path, sid, max_events=3)
    assert again.session.engine.state.state == "HALTED"
    assert not open_at(f)  # cancelled at the resume, as the log says, and not called foreign
    assert ("cancel", ended) in [(p["kind"], p["order_id"]) for _s, k, p in rows(tmp_path, sid)
                                 if k == "venue_report"]
    diffs = [d["reason"] for d in reports(tmp_path, sid, "mismatch")]
    assert diffs[0] == f"BTC/USDT: the log holds {held:+.10g}, binance holds {held + 0.5:+.10g}"
    assert len(diffs) == 2 and diffs[1].startswith("BTC balance: the log implies")
    assert reports(tmp_path, sid, "reconciled")[-1]["reason"] == "binance at resume: 2 difference(s)"
    again.session.submit("resume", reason="the 0.5 BTC bought by hand is mine", who="test")
    run(again)
    assert again.session.engine.state.state == "ACTIVE"
    # accepted: the next resume expects the log's book plus the 0.5 held outside it
    third = resume(tmp_path, sid, max_events=2)
    assert third.session.engine.state.state == "ACTIVE"
    run(third)
    last = reports(tmp_path, sid, "reconciled")[-1]
    assert last["reason"] == "binance at resume: no differences", reports(tmp_path, sid, "mismatch")
    assert [c["who"] for c in commands(tmp_path, sid)] == ["venue reconciliation", "test"]
    replays(capsys, tmp_path, sid)


# ------------------------------------------------------------ halt, balances, threads, faults


def run_live(prep: Any) -> threading.Thread:
    t = threading.Thread(target=prep.session.run, daemon=True)
    t.start()
    return t


def stop(prep: Any, t: threading.Thread) -> None:
    prep.session.stop()
    t.join(20)
    prep.writer.close(clean=not prep.session.error)


def open_at(f: FakeBinance) -> list[str]:
    with f.lock:
        return [o["clientOrderId"] for o in f.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]


def test_a_halt_cancels_every_open_order_at_the_venue(live: tuple[FakeBinance, str], keys: None,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.script = ["rest"] * 1000  # every order rests at the venue
    prep = start(tmp_path, spec(url, poll_s=0.5), keep_alive=True)
    t = run_live(prep)
    try:
        assert until(lambda: len(open_at(f)) >= 1), "no order reached the venue"
        prep.session.submit("halt", reason="test halt", who="test")
        assert until(lambda: prep.session.engine.state.state == "HALTED")
        assert until(lambda: not open_at(f)), open_at(f)
        assert until(lambda: not prep.session.venue.open, 5)
    finally:
        stop(prep, t)
    sid = prep.session.session_id
    deleted = {p["origClientOrderId"] for m, path, p in f.requests if m == "DELETE" and path == "/api/v3/order"}
    cancelled = {o["clientOrderId"] for o in f.orders.values() if o["status"] == "CANCELED"}
    assert cancelled and cancelled <= deleted
    logged = {client_order_id(sid, p["order_id"]) for p in reports(tmp_path, sid, "cancel")}
    assert logged == cancelled  # every cancel the venue confirmed is a logged input
    replays(capsys, tmp_path, sid)


@pytest.mark.parametrize("action", ["halt", "cancel_all", "flatten"])
def test_the_sweep_cancels_this_sessions_orders_the_engine_no_longer_holds(
        live: tuple[FakeBinance, str], action: str) -> None:
    from core.events import Command, StateChanged

    f, url = live
    sid = "20261204-180000-abcdef"
    client = CcxtExecutionClient(spec(url), Credentials(API_KEY, SECRET))
    client.connect()
    ex = VenueExecution(client, sid, 0.2, symbols=SYMS)
    ex.start()
    step: list[object] = [Command(1, "", action, "", "x", "t")]
    if action == "halt":
        step.append(StateChanged(1, "", "ACTIVE", "HALTED", "x", 500))
    if action == "flatten":  # its closing order comes after the sweep, and is not swept
        step.append(OrderAccepted(1, "ETH/USDT", 400, -0.5, 3_000.0, "operator"))
    try:
        f.add_open_order("BTCUSDT", "buy", 0.01, 50_000.0, client_order_id(sid, 77))  # left by a crash
        f.add_open_order("BTCUSDT", "buy", 0.01, 50_000.0, "web-manual-2")  # not ours: left alone
        ex.after_step(500, step)
        assert ex.drain(10)
        got = ex.take_inputs(5)
    finally:
        ex.close()
    assert open_at(f) == ["web-manual-2"]
    want = [("ack", 77), ("cancel", 77)]  # an ack first: this client had not seen the order
    if action == "flatten":
        want += [("ack", 501), ("fill", 501)]
        assert f.orders[client_order_id(sid, 501)]["status"] == "FILLED"
    assert [(r.kind, r.order_id) for r in got] == want


def test_a_slow_venue_never_holds_the_engine_thread(live: tuple[FakeBinance, str]) -> None:
    f, url = live
    f.order_delay_s = 1.5
    client = CcxtExecutionClient(spec(url), Credentials(API_KEY, SECRET))
    client.connect()
    ex = VenueExecution(client, "20261204-180000-aaaaaa", 5.0, symbols=SYMS)
    ex.start()
    try:
        t0 = time.perf_counter()
        ex.after_step(41, [OrderAccepted(1, "BTC/USDT", 40, 0.01, 60_000.0, "test")])
        took = time.perf_counter() - t0
        assert took < 0.05, took  # queued, not sent, on this thread
        assert ex.take_inputs(2) == []  # nothing yet: the venue is still answering
        assert ex.drain(10)
        got = ex.take_inputs(3)
    finally:
        ex.close()
    assert [(r.kind, r.order_id, r.ts) for r in got] == [("ack", 41, 3), ("fill", 41, 3)]


def test_balances_from_the_venue_are_logged_inputs_when_they_change(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.script = ["rest"] * 1000  # no fills: only the outside change moves a balance
    prep = start(tmp_path, spec(url, balance_s=0.2, history=20), keep_alive=True)
    t = run_live(prep)
    sid = prep.session.session_id
    try:
        assert until(lambda: prep.session.inputs > 5)
        f.balances["USDT"] = 99_000.0  # a withdrawal
        assert until(lambda: prep.session.venue.balances.get("USDT", (0, 0))[0] == 99_000.0)
        time.sleep(0.5)  # more polls: an unchanged balance is not logged again
    finally:
        stop(prep, t)
    usdt = [p for p in reports(tmp_path, sid, "balance") if p["symbol"] == "USDT"]
    assert [(p["qty"], p["remaining"], p["reason"]) for p in usdt] == [
        (100_000.0, 100_000.0, "binance at start"), (99_000.0, 99_000.0, "venue balance")]
    replays(capsys, tmp_path, sid)


def test_a_venue_lost_mid_session_is_logged_halts_when_stale_and_reconnects(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    prep = start(tmp_path, spec(url, poll_s=0.1, balance_s=0.1, stale_s=0.5, max_failures=1000, history=20),
                 keep_alive=True)
    t = run_live(prep)
    sid = prep.session.session_id
    try:
        assert until(lambda: prep.session.inputs > 5)
        f.down = True
        assert until(lambda: prep.session.engine.state.state == "HALTED")
        f.down = False
        assert until(lambda: prep.session.venue.down_since == 0.0)  # back: the reconnect is queued
        time.sleep(0.3)
    finally:
        stop(prep, t)
    assert prep.session.error == ""
    # the execution side's (the feed logs its own, "feed: ...", when a bar close falls in the outage)
    ours = [p for _s, k, p in rows(tmp_path, sid) if k == "venue_report" and p["kind"] in
            ("disconnect", "stale", "reconnect") and not p["reason"].startswith("feed: ")]
    assert [p["kind"] for p in ours] == ["disconnect", "stale", "reconnect"]
    gone = ours[0]
    assert re.match(r"^(binance error|cannot reach binance) .*while (fetching|sending|looking)", gone["reason"])
    assert "\n" not in gone["reason"] and SECRET not in gone["reason"] and API_KEY not in gone["reason"]
    (halt,) = [c for c in commands(tmp_path, sid) if c["who"] == "venue watchdog"]
    assert halt["action"] == "halt" and "unreachable for" in halt["reason"]
    replays(capsys, tmp_path, sid)


def test_a_submit_cut_off_mid_order_is_looked_up_not_sent_twice(live: tuple[FakeBinance, str]) -> None:
    f, url = live
    f.script = ["drop"]  # the venue takes the order; the connection closes before the answer
    client = CcxtExecutionClient(spec(url), Credentials(API_KEY, SECRET))
    client.connect()
    ex = VenueExecution(client, "20261204-180000-bbbbbb", 0.05, symbols=SYMS)
    ex.start()
    try:
        ex.after_step(7, [OrderAccepted(1, "BTC/USDT", 6, 0.01, 60_000.0, "test")])
        assert ex.drain(10, through_outage=True)
        got = ex.take_inputs(9)
    finally:
        ex.close()
    assert [r.kind for r in got] == ["disconnect", "reconnect", "ack", "fill"]
    assert got[0].reason.startswith("cannot reach binance") and "\n" not in got[0].reason
    assert [(r.order_id, r.qty) for r in got[2:]] == [(7, 0.0), (7, 0.01)]
    assert sum(1 for m, path, _p in f.requests if m == "POST" and path == "/api/v3/order") == 1


def test_venue_faults_and_differences_are_webhook_alerts(tmp_path: Path) -> None:
    from console.webhooks import alert_of, load_alerts
    from core.events import VenueReport

    def rep(kind: str, symbol: str = "", reason: str = "r") -> VenueReport:
        return VenueReport(1, symbol, kind, 0, 0.0, 0.0, 0.0, 0.0, "", reason)

    assert alert_of(rep("disconnect", reason="cannot reach binance")) == \
        ("venue", "venue:disconnect", "VENUE disconnect: cannot reach binance")
    assert alert_of(rep("mismatch", "ETH/USDT", "ETH/USDT: the log holds +0, binance holds +1.25")) == \
        ("venue", "venue:mismatch", "VENUE mismatch ETH/USDT: ETH/USDT: the log holds +0, binance holds +1.25")
    assert alert_of(rep("stale"))[0] == alert_of(rep("reconnect"))[0] == "venue"  # type: ignore[index]
    assert alert_of(rep("balance", "USDT")) is None and alert_of(rep("fill", "BTC/USDT")) is None
    cfg = tmp_path / "a.toml"
    cfg.write_text('[alerts]\nwebhook = "http://127.0.0.1:1/x"\non = ["venue"]\n')
    assert load_alerts(cfg).on == ("venue",)  # type: ignore[union-attr]


def test_a_key_refused_mid_session_stops_it_in_one_line(live: tuple[FakeBinance, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.venue_fakes as vf
    from core.venues.base import VenueError

    f, url = live
    client = CcxtExecutionClient(spec(url), Credentials(API_KEY, SECRET))
    client.connect()
    ex = VenueExecution(client, "20261204-180000-cccccc", 5.0, symbols=SYMS)
    ex.start()
    try:
        ex.after_step(3, [OrderAccepted(1, "BTC/USDT", 2, 0.01, 60_000.0, "test")])
        assert ex.drain(10)
        assert [r.kind for r in ex.take_inputs(4)] == ["ack", "fill"]
        monkeypatch.setattr(vf, "SECRET", "rotated-at-the-venue")  # our signatures stop matching
        ex.after_step(9, [OrderAccepted(1, "BTC/USDT", 8, 0.01, 60_000.0, "test")])
        assert until(lambda: not ex.thread.is_alive())  # type: ignore[union-attr]
        with pytest.raises(VenueError) as err:
            ex.take_inputs(5)
    finally:
        ex.close()
    msg = str(err.value)
    assert msg.startswith("binance refused the API key while sending order") and "\n" not in msg
    assert SECRET not in msg and API_KEY not in msg
