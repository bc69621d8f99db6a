"""Closed trades (round trips) and their win rate, from logged fills
(core.pnl.RoundTrips, console.trades)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.events import Fill, PositionChanged
from core.pnl import RoundTrips, session_pnl, trade_stats
from core.portfolio import Portfolio
from tests.conftest import run_cli


def feed(trips: RoundTrips, fills: list[tuple[int, str, float, float, float]]) -> Portfolio:
    """Book each (ts, symbol, qty, price, commission) in a real Portfolio and
    hand RoundTrips the Fill and PositionChanged the engine would log."""
    pf = Portfolio(1_000_000.0)
    for i, (ts, sym, qty, price, fee) in enumerate(fills):
        realized = pf.apply_fill(sym, qty, price, fee)
        pos = pf.positions[sym]
        trips.add(Fill(ts, sym, i + 1, qty, price, fee))
        trips.add(PositionChanged(ts, sym, pos.qty, pos.avg_price, realized))
    return pf


def test_a_round_trip_in_two_entries_and_two_exits():
    trips = RoundTrips()
    feed(trips, [(1000, "AAA", 100, 10.0, 1.0), (2000, "AAA", 100, 12.0, 1.0),
                 (3000, "AAA", -50, 13.0, 1.0), (9000, "AAA", -150, 9.0, 1.0)])
    (t,) = trips.closed
    assert (t.symbol, t.side, t.entry_ts, t.exit_ts, t.held_ms, t.qty, t.fills) == \
        ("AAA", "long", 1000, 9000, 8000, 200, 4)
    assert t.entry == pytest.approx(11.0) and t.exit == pytest.approx((50 * 13 + 150 * 9) / 200)
    # average cost 11: +2 x 50, -2 x 150 = -200 gross, 4 commissions
    assert t.pnl == pytest.approx(-204.0) and t.fees == pytest.approx(4.0)
    assert not trips.open


def test_through_zero_closes_one_trip_and_opens_the_next_at_the_fill_price():
    trips = RoundTrips()
    feed(trips, [(1000, "AAA", -100, 20.0, 2.0), (5000, "AAA", 150, 18.0, 3.0),
                 (7000, "AAA", -50, 19.0, 1.0)])
    short, long_ = trips.closed
    assert (short.side, short.qty, short.exit) == ("short", 100, 18.0)
    assert short.pnl == pytest.approx(200.0 - 2.0 - 3.0)  # the flipping fill's whole fee, as the engine
    assert (long_.side, long_.entry_ts, long_.entry, long_.qty) == ("long", 5000, 18.0, 50)
    assert long_.pnl == pytest.approx(50.0 - 1.0)


def test_open_trips_stay_open_and_symbols_are_apart():
    trips = RoundTrips()
    feed(trips, [(1, "AAA", 10, 5.0, 0.0), (2, "BBB", -10, 5.0, 0.0), (3, "AAA", -10, 6.0, 0.0)])
    assert [t.symbol for t in trips.closed] == ["AAA"]
    assert set(trips.open) == {"BBB"}


def test_win_rate_average_win_and_loss_and_profit_factor():
    trips = RoundTrips()
    feed(trips, [(1, "A", 1, 10.0, 0.0), (2, "A", -1, 14.0, 0.0),   # +4
                 (3, "A", 1, 10.0, 0.0), (4, "A", -1, 12.0, 0.0),   # +2
                 (5, "A", 1, 10.0, 0.0), (6, "A", -1, 7.0, 0.0),    # -3
                 (7, "A", 1, 10.0, 0.0), (8, "A", -1, 10.0, 0.0)])  # 0: neither
    st = trips.stats()
    assert (st.trades, st.wins, st.losses) == (4, 2, 1)
    assert st.win_rate == pytest.approx(0.5)
    assert st.avg_win == pytest.approx(3.0) and st.avg_loss == pytest.approx(-3.0)
    assert st.profit_factor == pytest.approx(2.0) and st.net == pytest.approx(3.0)
    assert math.isinf(trade_stats(trips.closed[:2]).profit_factor)
    none = trade_stats([])
    assert none.trades == 0 and math.isnan(none.win_rate) and math.isnan(none.profit_factor)


FLATTENED = "[breakers]\nmax_drawdown = 0.0006\n"  # a tight drawdown limit: the default on_trip flattens


@pytest.fixture(scope="module")
def flat_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("trades")
    (d / "flat.toml").write_text(FLATTENED)
    res = run_cli("run", "--headless", "--events", "15000", "--seed", "5", "--config", str(d / "flat.toml"),
                  db=d / "t.db")
    assert res.returncode == 0, res.stderr
    return d / "t.db", res.stdout.strip().splitlines()[-1]


def test_a_session_that_ends_flat_has_trades_that_add_up_to_its_pnl(flat_session):  # type: ignore[no-untyped-def]
    from console.trades import TradeLog
    from storage import open_db, session_summary

    db_path, sid = flat_session
    db = open_db(db_path, create=False, readonly=True)
    log = TradeLog(db, sid)
    assert log.update()
    assert not log.trips.open, "the breaker's flatten should leave the book flat"
    assert len(log.closed) >= 2
    # the log's own P&L (last NAV - initial cash) is the closed trades' sum, to the cent
    assert sum(t.pnl for t in log.closed) == pytest.approx(session_summary(db, sid).pnl, abs=0.01)
    assert all(t.reason for t in log.closed), [t for t in log.closed if not t.reason][:3]
    assert log.update() is False  # nothing new: nothing read


def test_reading_in_steps_gives_the_same_trades(flat_session):  # type: ignore[no-untyped-def]
    from console.trades import TradeLog
    from storage import open_db

    db_path, sid = flat_session
    db = open_db(db_path, create=False, readonly=True)
    whole = TradeLog(db, sid)
    whole.update()
    stepped = TradeLog(db, sid)
    last = db.execute("select max(seq) from events where session = ?", [sid]).fetchone()[0]
    for upto in range(0, last + 2000, 1500):
        stepped.update(upto)
    assert stepped.closed == whole.closed and stepped.fees == whole.fees


def test_holding_times_and_ratios_read_plainly():
    from console.trades import held, ratio

    assert [held(x) for x in (45_000, 12 * 60_000, 3 * 3_600_000 + 5 * 60_000, 4 * 86_400_000 + 7_200_000)] == \
        ["45s", "12m", "3h05m", "4d02h"]
    assert (ratio(1.849), ratio(math.inf), ratio(math.nan)) == ("1.85", "inf", "n/a")


# ------------------------------------------------------------ the screens (Pilot)


def logged_fake(db_path: Path, sid: str):  # type: ignore[no-untyped-def]
    """A fake console session over a real logged session's database."""
    from tests.test_ui_fakes import FakeSession, snapshot

    session = FakeSession(snapshot(session_id=sid, seq=10**9))
    session.db_path = str(db_path)  # type: ignore[attr-defined]
    session.session_id = sid
    return session


@pytest.mark.asyncio
async def test_d_shows_the_closed_trades_and_the_win_rate(flat_session):  # type: ignore[no-untyped-def]
    from console.app import build_app
    from console.screens import TableScreen
    from console.trades import TradeLog
    from storage import open_db

    db_path, sid = flat_session
    log = TradeLog(open_db(db_path, create=False, readonly=True), sid)
    log.update()
    session = logged_fake(db_path, sid)
    async with build_app(session, start_engine=False).run_test(size=(160, 48)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, TableScreen)
        rows = screen.table_rows()
        assert len(rows) == len(log.closed)
        newest = log.closed[-1]
        assert rows[0][0] == newest.symbol and rows[0][8] == f"{newest.pnl:+,.2f}"
        st = log.stats()
        assert f"win rate {st.win_rate:.0%} ({st.wins}/{st.trades})" in screen.lines()[0]
        assert "profit factor" in screen.lines()[0]
        await pilot.press("d")  # its own key closes it
        await pilot.pause()
        assert not isinstance(pilot.app.screen, TableScreen)
        assert session.submits == []


@pytest.mark.asyncio
async def test_m_shows_pnl_by_symbol_from_the_log_and_h_still_halts(flat_session):  # type: ignore[no-untyped-def]
    from console.app import build_app
    from console.screens import TableScreen
    from console.trades import TradeLog
    from storage import open_db

    db_path, sid = flat_session
    log = TradeLog(open_db(db_path, create=False, readonly=True), sid)
    log.update()
    session = logged_fake(db_path, sid)
    session.latest = session.latest.__class__(**{**{f: getattr(session.latest, f) for f in
                                                   session.latest.__dataclass_fields__}, "positions": ()})
    async with build_app(session, start_engine=False).run_test(size=(160, 48)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, TableScreen)
        by_symbol = {r[0]: r for r in screen.table_rows(0)}
        assert set(by_symbol) == set(log.realized)
        for sym, row in by_symbol.items():
            assert row[5] == f"{log.realized[sym] - log.fees[sym]:+,.2f}"  # flat: realised - fees
        assert "not split by model" in " ".join(screen.lines())  # no books in this session
        await pilot.press("h")
        await pilot.pause()
        assert session.actions() == ["halt"]


@pytest.mark.asyncio
async def test_without_a_database_the_screens_say_so():
    from console.app import build_app
    from console.screens import TableScreen
    from tests.test_ui_fakes import FakeSession, snapshot

    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(pilot.app.screen, TableScreen)
        assert "no session log" in pilot.app.screen.lines()[0]
        await pilot.press("escape", "m")
        await pilot.pause()
        rows = pilot.app.screen.table_rows(0)
        assert {r[0] for r in rows} == {"AAPL", "MSFT", "NVDA"}
        assert next(r for r in rows if r[0] == "AAPL")[7] == ""  # no ensemble explain in the fake


# ------------------------------------------------------------ the driving model and the story


def test_the_driving_model_is_the_ensembles_largest_part():
    from console.story import driving_models
    from core.snapshot import SignalRow
    from tests.test_ui_fakes import T0, snapshot

    ens = SignalRow("AAPL", "ensemble", 0.4, 0.8, 1.0, T0, explain=(("momentum", 0.12), ("hmm", -0.31)))
    snap = snapshot(signals=(ens, SignalRow("AAPL", "hmm", -0.9, 0.7, 1.0, T0),
                             SignalRow("MSFT", "hmm", 0.2, 0.5, 1.0, T0)))
    assert driving_models(snap) == {"AAPL": ("hmm", -0.31)}  # by size, whatever the sign; no ensemble: none


@pytest.mark.asyncio
async def test_the_signals_pane_marks_the_driving_model():
    from console.app import build_app
    from core.snapshot import SignalRow
    from tests.test_ui_fakes import T0, FakeSession, snapshot

    ens = SignalRow("AAPL", "ensemble", 0.4, 0.8, 1.0, T0, explain=(("momentum", 0.32), ("hmm", 0.08)))
    snap = snapshot(signals=(ens, SignalRow("AAPL", "momentum", 0.9, 1.0, 1.0, T0),
                             SignalRow("AAPL", "hmm", 0.3, 0.6, 1.0, T0)))
    async with build_app(FakeSession(snap), start_engine=False).run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = pilot.app.query_one("#signals-table")
        models = {str(table.get_row(key)[1]) for key in table.rows}
        assert models == {"ensemble", "▶momentum", "hmm"}
        assert "drives" in str(pilot.app.query_one("#signals").border_subtitle)


@pytest.mark.asyncio
async def test_enter_tells_the_story_from_the_session_log(flat_session):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from console.app import build_app
    from console.trades import TradeLog, var_share
    from core.snapshot import PositionRow, SignalRow
    from storage import open_db

    db_path, sid = flat_session
    db = open_db(db_path, create=False, readonly=True)
    log = TradeLog(db, sid)
    log.update()
    sym = max(log.realized, key=lambda s: sum(1 for t in log.closed if t.symbol == s))
    share = var_share(db, sid, sym)
    assert share.held > 0 and 0 < share.peak <= 1.5  # the symbol was in the logged contributions
    session = logged_fake(db_path, sid)
    ens = SignalRow(sym, "ensemble", 0.4, 0.8, 1.0, 0, explain=(("hmm", 0.3),))
    session.latest = replace(session.latest, positions=(PositionRow(sym, 10, 100.0, 101.0, 1010.0, 10.0, 0.0, 0.001),),
                             signals=(ens, SignalRow(sym, "hmm", 0.5, 0.9, 1.0, 0)), open_orders=())
    async with build_app(session, start_engine=False).run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = pilot.app.query_one("#positions-table")
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        story = pilot.app.screen.text
    realised, fees = log.realized[sym], log.fees[sym]
    assert f"realised {realised:+,.2f} - fees {fees:,.2f} (log) + unrealised +10.00" in story
    mine = [t for t in log.closed if t.symbol == sym]
    assert f"Trades: {len(mine)} closed" in story
    assert f"peak {share.peak:.1%}" in story and "logged risk snapshots" in story
    assert "drives it: hmm" in story and "▶hmm" in story
    assert "why: " in story and "FILL " in story and " fee " in story  # from the log, with reasons


@pytest.mark.asyncio
async def test_the_trades_screen_follows_the_session_while_open(flat_session):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from console.app import build_app
    from console.trades import TradeLog
    from storage import open_db

    db_path, sid = flat_session
    log = TradeLog(open_db(db_path, create=False, readonly=True), sid)
    log.update()
    last_exit = log.closed[-1].exit_ts  # the breaker's flatten closes several at once
    mid_seq = open_db(db_path, create=False, readonly=True).execute(
        "select max(seq) from events where session = ? and ts < ?", [sid, last_exit]).fetchone()[0]
    session = logged_fake(db_path, sid)
    session.latest = replace(session.latest, seq=mid_seq)  # the engine is part-way through the log
    async with build_app(session, start_engine=False).run_test(size=(160, 48)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        early = len(pilot.app.screen.table_rows())
        assert 0 < early < len(log.closed)
        session.latest = replace(session.latest, seq=10**9)  # it trades on
        for _ in range(50):  # the screen re-reads each second (slower on a loaded machine)
            await pilot.pause(0.1)
            if len(pilot.app.screen.table_rows()) == len(log.closed):
                break
        assert len(pilot.app.screen.table_rows()) == len(log.closed)


@pytest.mark.asyncio
async def test_the_replay_shows_the_trades_up_to_where_it_is(flat_session, monkeypatch):  # type: ignore[no-untyped-def]
    import asyncio

    from console.trades import TradeLog
    from console.watch import open_watch
    from console.watch_app import WatchApp
    from storage import open_db

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(flat_session[0].parent))
    db_path, sid = flat_session
    whole = TradeLog(open_db(db_path, create=False, readonly=True), sid)
    whole.update()
    first_exit = whole.closed[0].exit_ts
    seq = open_db(db_path, create=False, readonly=True).execute(
        "select max(seq) from events where session = ? and ts <= ?", [sid, first_exit]).fetchone()[0]
    watch = open_watch(db_path, sid, speed=None, paused=True)
    app = WatchApp(watch)
    async with app.run_test(size=(160, 48)) as pilot:
        watch.request("seek", seq)
        for _ in range(300):
            if watch.playback.input_seq >= seq - 50 and watch.latest.seq >= watch.playback.input_seq:
                break
            await asyncio.sleep(0.05)
        await pilot.pause(0.3)
        await pilot.press("d")
        await pilot.pause()
        upto = TradeLog(open_db(db_path, create=False, readonly=True), sid)
        upto.update(watch.latest.seq)
        rows = app.screen.table_rows()
        assert 0 < len(rows) == len(upto.closed) < len(whole.closed)
        await pilot.press("escape", "q")


def test_the_driver_follows_the_strategys_signal_and_books():
    from console.story import driving_models
    from core.snapshot import SignalRow
    from tests.test_ui_fakes import T0, snapshot

    ens = SignalRow("AAPL", "ensemble", 0.4, 0.8, 1.0, T0, explain=(("momentum", 0.12), ("hmm", -0.31)))
    snap = snapshot(signals=(ens, SignalRow("AAPL", "momentum", 0.7, 1.0, 1.0, T0)))
    assert driving_models(snap, ("momentum", ())) == {"AAPL": ("momentum", 0.7)}  # one model sets positions
    assert driving_models(snap, ("ensemble", ("momentum", "pairs"))) == {}  # books: no one driver
    assert driving_models(snap, ("ensemble", ())) == {"AAPL": ("hmm", -0.31)}


def test_the_logged_config_names_the_driver(flat_session):  # type: ignore[no-untyped-def]
    from console.trades import TradeLog
    from storage import open_db

    db_path, sid = flat_session
    assert TradeLog(open_db(db_path, create=False, readonly=True), sid).driver == ("ensemble", ())


def test_the_trades_screen_lists_the_newest_fills_with_fee_realised_and_why(flat_session):  # type: ignore[no-untyped-def]
    from console.ledger import trades_view
    from console.trades import RECENT_FILLS, TradeLog
    from storage import open_db
    from tests.test_ui_fakes import snapshot

    db_path, sid = flat_session
    db = open_db(db_path, create=False, readonly=True)
    _, tables = trades_view(TradeLog(db, sid), snapshot(session_id=sid, seq=10**9))
    title, _, fills = tables[1]
    rows = db.execute("select seq, symbol, qty, commission from fills where session = ? order by seq desc limit ?",
                      [sid, RECENT_FILLS]).fetchall()
    assert title.startswith(f"Fills (newest {len(rows)} of") and len(fills) == len(rows)
    assert [(f[1], f[2], f[4]) for f in fills] == [(sym, f"{qty:+,g}", f"{fee:,.2f}") for _, sym, qty, fee in rows]
    assert all(f[7] for f in fills)  # each with its order's reason
