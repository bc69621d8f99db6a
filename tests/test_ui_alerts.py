"""Pilot tests: a halt or a trip cannot be missed, paused view or not (issue 18, defects 1 and 2)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text
from textual.widgets import DataTable

from console.app import build_app
from console.panes.common import KeyedTable
from core.snapshot import LogLine
from tests.test_ui_fakes import BREAKERS, LOG, T0, FakeSession, halted_snapshot, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _text(app, selector: str) -> str:
    return str(app.query_one(selector).content)


def _bells(app) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)  # type: ignore[method-assign]
    return rung


async def _until(pilot, ok, ticks: int = 20) -> None:
    for _ in range(ticks):  # the view polls the session every 0.1 s
        await pilot.pause(0.1)
        if ok():
            return


@pytest.mark.asyncio
async def test_a_halt_while_the_view_is_paused_shows_in_the_header_and_banner():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        rung = _bells(app)
        await pilot.press("p")
        await pilot.pause()
        session.latest = halted_snapshot()
        await _until(pilot, lambda: _text(app, "#badge") == "HALTED")
        assert _text(app, "#badge") == "HALTED" and app.query_one("#badge").has_class("-halted")
        banner = app.query_one("#alert-banner")
        assert banner.display and _text(app, "#alert-banner").startswith("HALTED  r resume")
        assert "since 2026-01-05 09:31:00" in _text(app, "#alert-banner")
        assert "daily_loss" in _text(app, "#alert-banner") and "r resume" in _text(app, "#alert-banner")
        assert rung, "a halt rings the bell"
        assert "VIEW PAUSED" in _text(app, "#flags") and "seq 1,234" in _text(app, "#flags")
        # the tables stay frozen: the breaker row still reads as before the trip
        cell = app.query_one("#breakers-table", KeyedTable).get_cell("daily_loss", "state")
        assert (cell.plain if isinstance(cell, Text) else cell) == "ARMED"
        assert session.submits == []


@pytest.mark.asyncio
async def test_a_trip_rings_once_and_the_banner_stays_until_trading_is_active_again():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        rung = _bells(app)
        await pilot.pause(0.2)
        assert not app.query_one("#alert-banner").display and rung == []
        session.latest = halted_snapshot()
        await _until(pilot, lambda: bool(rung))
        session.latest = replace(halted_snapshot(), seq=1301)  # same trip, newer snapshot
        await pilot.pause(0.3)
        assert len(rung) == 1
        assert app.query_one("#alert-banner").display
        resumed = LogLine(130, T0, "alert", "STATE HALTED -> ACTIVE: operator key r")
        session.latest = snapshot(seq=1400, log=halted_snapshot().log + (resumed,))
        await _until(pilot, lambda: not app.query_one("#alert-banner").display)
        assert not app.query_one("#alert-banner").display
        assert len(rung) == 1, "a resume does not ring"


@pytest.mark.asyncio
async def test_a_trip_missing_from_the_capped_log_still_alerts():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        rung = _bells(app)
        stale = replace(BREAKERS[6], state="TRIPPED", value=320.0, utilisation=1.07, last_trip_ts=T0,
                        reason="stale_data 320 s reached limit 300 s")
        session.latest = snapshot(seq=2000, breakers=(*BREAKERS[:6], stale, *BREAKERS[7:]), log=LOG)
        await _until(pilot, lambda: bool(rung))
        assert rung
        assert any("stale_data" in a.text for a in app.alerts.history)
        assert "tripped: stale_data" in _text(app, "#alert-banner")


@pytest.mark.asyncio
async def test_a_opens_the_alert_history_newest_first_with_dates():
    session = FakeSession(halted_snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("a")
        await pilot.pause()
        from console.screens import AlertsScreen

        assert isinstance(app.screen, AlertsScreen)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert rows[0][0] == "2026-01-05 09:31:00" and rows[0][2].startswith("STATE ACTIVE -> HALTED")
        assert rows[1][2].startswith("BREAKER daily_loss")
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertsScreen)


@pytest.mark.asyncio
async def test_tripped_breakers_are_listed_first_and_every_breaker_is_visible():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#breakers-table", KeyedTable)
        bad = replace(BREAKERS[7], state="TRIPPED", value=6.0, utilisation=1.2, last_trip_ts=T0, reason="6 bad prints")
        session.latest = snapshot(seq=2000, breakers=(*BREAKERS[:7], bad, BREAKERS[8]))
        await _until(pilot, lambda: table.coordinate_to_cell_key((0, 0)).row_key.value == "bad_data")
        order = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
        assert order[:2] == ["bad_data", "max_drawdown"]  # tripped, then warning, then armed
        assert table.row_count == 9
        # all nine rows fit in the table's viewport at 160x48 (header + 9 lines)
        assert table.scrollable_content_region.height >= 10, table.scrollable_content_region
        assert str(app.query_one("#breakers").border_subtitle) == "1 tripped"
