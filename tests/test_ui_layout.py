"""Pilot tests: the layout at 100x30 and below (issue 18, defect 5, and the compact layout)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets._footer import FooterKey

from console.app import build_app
from console.panes.common import KeyedTable
from tests.test_ui_fakes import POSITIONS, FakeSession, halted_snapshot

SMALL = (100, 30)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _eight_positions():
    rows = tuple(replace(POSITIONS[i % 3], symbol=f"S{i:02d}") for i in range(8))
    return replace(halted_snapshot(), positions=rows)


def _columns_fit(table: KeyedTable) -> bool:
    used = sum(c.get_render_width(table) for c in table.columns.values())
    return used <= table.scrollable_content_region.width


@pytest.mark.asyncio
async def test_at_100x30_risk_values_all_positions_every_breaker_and_quit_show():
    app = build_app(FakeSession(_eight_positions()), start_engine=False)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause(0.2)
        screen = app.screen.region
        risk = app.query_one("#risk-table", KeyedTable)
        assert _columns_fit(risk), [c.get_render_width(risk) for c in risk.columns.values()]
        assert risk.scrollable_content_region.height >= 4  # header + NAV, Cash, Gross at least
        positions = app.query_one("#positions-table", KeyedTable)
        assert positions.scrollable_content_region.height >= 9, positions.scrollable_content_region
        breakers = app.query_one("#breakers-table", KeyedTable)
        assert breakers.scrollable_content_region.height >= 10
        assert screen.contains_region(breakers.region)
        keys = {}
        for _ in range(30):  # the footer recomposes when the enabled keys change; let it settle
            keys = {k.description: k for k in app.screen.query(FooterKey)}
            if {"Halt", "Quit"} <= set(keys):
                break
            await pilot.pause(0.1)
        for label in ("Halt", "Resume", "Alerts", "Quit"):
            assert screen.contains_region(keys[label].region), (label, keys[label].region)


@pytest.mark.asyncio
async def test_at_120x36_every_breaker_and_all_eight_positions_show():
    app = build_app(FakeSession(_eight_positions()), start_engine=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        assert app.query_one("#breakers-table", KeyedTable).scrollable_content_region.height >= 10
        assert app.query_one("#positions-table", KeyedTable).scrollable_content_region.height >= 9


@pytest.mark.asyncio
async def test_the_layout_follows_the_terminal_size():
    app = build_app(FakeSession(_eight_positions()), start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        grid = app.query_one("#panes")
        assert not grid.has_class("-compact")
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.2)
        assert grid.has_class("-compact")
        assert [w.id for w in grid.children] == ["positions", "breakers", "risk", "signals", "log"]
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.2)
        assert not grid.has_class("-compact")
        assert [w.id for w in grid.children] == ["positions", "risk", "signals", "breakers", "log"]
