"""Pilot tests: what the panes show, how they follow snapshots, pause, themes, palette."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text

from console.app import build_app
from console.panes.common import KeyedTable
from console.panes.log import LogPane
from core.snapshot import LogLine
from tests.test_ui_fakes import POSITIONS, T0, FakeSession, halted_snapshot, snapshot

PANES = {"positions": "Positions", "signals": "Signals", "risk": "Risk", "log": "Log",
         "breakers": "Breakers"}


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _cell(app, table_id: str, row: str, column: str) -> str:
    value = app.query_one(table_id, KeyedTable).get_cell(row, column)
    return value.plain if isinstance(value, Text) else value


def _flags(app) -> str:
    return str(app.query_one("#flags").content)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(160, 48), (120, 36), (100, 30)])
async def test_all_five_panes_are_visible(size):
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen.region
        for pane_id, title in PANES.items():
            pane = app.query_one(f"#{pane_id}")
            assert str(pane.border_title) == title
            assert pane.region.area > 0 and pane.region.height >= 5
            assert screen.contains_region(pane.region), (pane_id, pane.region)


@pytest.mark.asyncio
async def test_header_shows_clock_state_and_book():
    app = build_app(FakeSession(halted_snapshot()), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        feed = str(app.query_one("#feed-line").content)
        assert "s-20260105-0931" in feed and "2026-01-05 09:31:00" in feed
        assert "60x" in feed and "15,230 ev/s" in feed
        assert str(app.query_one("#badge").content) == "HALTED"
        assert app.query_one("#badge").has_class("-halted")
        assert app.query_one("#pnl").has_class("-down")
        assert "1,002,345.67" in str(app.query_one("#nav").content)


@pytest.mark.asyncio
async def test_rows_are_diffed_by_key_never_cleared():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one("#positions-table", KeyedTable)
        cleared, updated = [], []
        table.clear = lambda *a, **k: cleared.append(a)  # type: ignore[method-assign]
        real_update = table.update_cell
        table.update_cell = lambda r, c, v, **k: (updated.append((r, c)), real_update(r, c, v, **k))  # type: ignore[method-assign]
        aapl = replace(POSITIONS[0], last=190.10, market_value=95_050.0)
        session.latest = snapshot(positions=(aapl, POSITIONS[2]))  # MSFT closed
        await pilot.pause(0.25)
        assert [str(k.value) for k in table.rows] == ["AAPL", "NVDA"]
        assert _cell(app, "#positions-table", "AAPL", "last") == "190.10"
        assert sorted(updated) == [("AAPL", "last"), ("AAPL", "mv")]
        assert cleared == []


@pytest.mark.asyncio
async def test_new_rows_are_added_in_symbol_order_and_orders_keyed_by_id():
    session = FakeSession(snapshot(positions=POSITIONS[2:]))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        session.latest = snapshot()
        await pilot.pause(0.25)
        table = app.query_one("#positions-table", KeyedTable)
        ordered = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
        assert ordered == ["AAPL", "MSFT", "NVDA"]
        orders = app.query_one("#orders-table", KeyedTable)
        assert [str(k.value) for k in orders.rows] == ["1041", "1042"]


@pytest.mark.asyncio
async def test_the_same_snapshot_is_not_applied_twice():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    applied = []
    async with app.run_test(size=(160, 48)) as pilot:
        real_apply = app.apply_snapshot
        app.apply_snapshot = lambda s: (applied.append(s), real_apply(s))  # type: ignore[method-assign]
        await pilot.pause(0.35)  # several timer ticks
        assert applied == []
        session.latest = snapshot(seq=2000)
        await pilot.pause(0.35)
        assert len(applied) == 1


@pytest.mark.asyncio
async def test_pause_freezes_the_view_and_unpause_applies_the_newest():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert "VIEW PAUSED" in _flags(app)
        for price in (191.0, 192.0, 193.0):  # the engine keeps publishing
            session.latest = snapshot(positions=(replace(POSITIONS[0], last=price),))
            await pilot.pause(0.15)
        assert _cell(app, "#positions-table", "AAPL", "last") == "189.10"
        assert app.query_one("#positions-table", KeyedTable).row_count == 3
        await pilot.press("p")
        await pilot.pause()
        assert "VIEW PAUSED" not in _flags(app)
        assert _cell(app, "#positions-table", "AAPL", "last") == "193.00"
        assert session.submits == []  # pausing the view never touches the engine


@pytest.mark.asyncio
async def test_log_appends_only_new_lines_and_is_capped():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        log = app.query_one(LogPane)
        assert len(log.lines) == 6
        newer = snapshot().log[3:] + (LogLine(200, T0, "trade", "FILL AAPL +100"),)
        session.latest = snapshot(log=newer)
        await pilot.pause(0.25)
        assert len(log.lines) == 7 and "FILL AAPL +100" in log.lines[-1].text
        for batch in range(50):  # 50 x 200 lines; each refresh writes <= 26 of them
            lines = tuple(LogLine(1000 + batch * 200 + i, T0, "info", f"line {batch}-{i}")
                          for i in range(200))
            app.apply_snapshot(snapshot(log=lines, seq=batch))
        await pilot.pause()
        assert len(log.lines) == log.max_lines == 1000
        assert "line 49-199" in log.lines[-1].text


@pytest.mark.asyncio
async def test_t_cycles_themes_and_recolours_cells():
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        seen = [app.theme]
        for _ in range(4):
            await pilot.press("t")
            await pilot.pause()
            seen.append(app.theme)
        assert seen == ["console-dark", "console-light", "console-contrast",
                        "console-colorblind", "console-dark"]
        await pilot.press("t", "t", "t")  # to colour-blind: profit is blue
        await pilot.pause()
        cell = app.query_one("#positions-table", KeyedTable).get_cell("AAPL", "unrealised")
        assert str(cell.style).lower() == app.current_theme.variables["pnl-up"].lower() == "#56b4e9"


@pytest.mark.asyncio
async def test_feed_end_and_error_are_shown_and_notified():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        session.latest = snapshot(finished=True, error="session stopped: disk full")
        for _ in range(20):  # the view polls the session; a loaded machine may need more than one tick
            await pilot.pause(0.1)
            if "FEED ENDED" in _flags(app) and any("disk full" in n.message for n in app._notifications):
                break
        assert "FEED ENDED" in _flags(app) and "disk full" in _flags(app)
        assert app.query_one("#flags").has_class("-error")
        assert any("disk full" in n.message for n in app._notifications)
        assert app.check_action("flatten", ()) is None  # nothing left to trade
        assert app.check_action("halt", ()) is True


@pytest.mark.asyncio
async def test_palette_offers_the_actions_and_runs_them():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        from textual.command import CommandList

        listed = [str(o.prompt) for o in app.screen.query_one(CommandList).options]
        for title in ("Halt", "Reduce only", "Flatten", "Cancel all", "Pause view", "Theme"):
            assert any(title in p for p in listed), (title, listed)
        assert not any("Resume" in p for p in listed)  # ACTIVE: nothing to resume
        await pilot.press(*"halt")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert session.submits == [("halt", "", "operator palette")]


@pytest.mark.asyncio
async def test_bad_numbers_render_without_crashing():
    nan, inf = float("nan"), float("inf")
    weird = replace(POSITIONS[0], last=nan, market_value=inf, unrealized=nan, weight=inf)
    session = FakeSession(snapshot(positions=(weird,), risk=replace(snapshot().risk, leverage=inf)))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert _cell(app, "#positions-table", "AAPL", "last") == "n/a"
        session.latest = snapshot()
        await pilot.pause(0.25)
        assert _cell(app, "#positions-table", "AAPL", "last") == "189.10"


@pytest.mark.asyncio
async def test_palette_quit_runs_the_async_quit_action():
    session = FakeSession(snapshot(positions=()))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        app.operate("quit", "palette")
        await pilot.pause(0.2)
        assert session.stopped and app.return_code == 0
