"""Pilot tests: daily bars keep their dates; the header says how fast market
time really passes (issue 18, defect 9)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text

from console.app import build_app
from console.panes.common import KeyedTable
from console.panes.header import StatusHeader, pace
from console.panes.log import LogPane
from core.snapshot import LogLine
from tests.test_ui_fakes import BREAKERS, SIGNALS, FakeSession, snapshot

DAY = 1584316800000  # 2020-03-16 00:00 UTC: a daily bar's stamp


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _cell(app, table: str, row: str, column: str) -> str:
    value = app.query_one(table, KeyedTable).get_cell(row, column)
    return value.plain if isinstance(value, Text) else value


@pytest.mark.asyncio
async def test_daily_bars_show_dates_in_the_log_signals_and_trips():
    tripped = replace(BREAKERS[1], state="TRIPPED", last_trip_ts=DAY, reason="max_drawdown 10.2%")
    snap = snapshot(market_ts=DAY, log=(LogLine(7, DAY, "alert", "BREAKER max_drawdown -> TRIPPED"),),
                    signals=tuple(replace(s, ts=DAY) for s in SIGNALS),
                    breakers=(BREAKERS[0], tripped, *BREAKERS[2:]))
    app = build_app(FakeSession(snap), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.query_one(LogPane).lines[0].text.startswith("2020-03-16 #7")
        assert _cell(app, "#signals-table", "AAPL/ensemble", "ts") == "2020-03-16"
        assert _cell(app, "#breakers-table", "max_drawdown", "trip") == "2020-03-16"
        assert "00:00:00" not in app.query_one(LogPane).lines[0].text


def test_the_pace_says_days_a_second_on_daily_bars():
    assert pace(86_400_000 * 25.0) == "25.0 days/s"
    assert pace(60_000.0) == "60x"
    assert pace(3_600_000 * 2.0) == "2.0 h/s"


@pytest.mark.asyncio
async def test_the_header_measures_the_pace_of_market_time():
    now = [100.0]
    app = build_app(FakeSession(snapshot(market_ts=DAY)), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        header = app.query_one(StatusHeader)
        header._clock = lambda: now[0]
        header._mark = None
        header.apply(snapshot(market_ts=DAY), None)
        now[0] += 2.0
        header.apply(snapshot(market_ts=DAY + 50 * 86_400_000), None)
        assert "speed 60x = 25.0 days/s" in str(app.query_one("#feed-line").content)


@pytest.mark.asyncio
async def test_the_header_shows_total_pnl_and_return_since_the_start():
    from tests.test_ui_fakes import risk

    app = build_app(FakeSession(snapshot(risk=risk(nav=1_052_000.0))), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        total = app.query_one("#total")
        assert str(total.content) == "Total P&L +52,000.00 (+5.20%)"
        assert total.has_class("-up")


@pytest.mark.asyncio
async def test_the_header_says_when_no_new_price_has_come_for_a_while():
    now = [100.0]
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        header = app.query_one(StatusHeader)
        header._clock = lambda: now[0]
        header.apply(snapshot(market_ts=DAY), None)
        now[0] += 2.0
        header.tick()
        assert "NO NEW PRICE" not in str(app.query_one("#flags").content)
        now[0] += 10.0
        await pilot.pause(0.25)  # timer ticks, no new snapshot
        assert "NO NEW PRICE FOR 12 s" in str(app.query_one("#flags").content)
        header.apply(snapshot(market_ts=DAY + 60_000), None)  # a price: the flag goes
        assert "NO NEW PRICE" not in str(app.query_one("#flags").content)
