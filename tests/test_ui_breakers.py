"""Pilot tests: breaker figures in their own unit, use never negative (issue 18, defect 8)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text

from console.app import build_app
from console.panes.common import KeyedTable
from tests.test_ui_fakes import BREAKERS, FakeSession, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _cell(app, row: str, column: str) -> str:
    value = app.query_one("#breakers-table", KeyedTable).get_cell(row, column)
    return value.plain if isinstance(value, Text) else value


@pytest.mark.asyncio
async def test_breaker_figures_are_in_their_unit_and_use_is_never_negative():
    in_profit = replace(BREAKERS[0], value=-0.0918, utilisation=-3.06)  # a day 9% up
    nan_use = replace(BREAKERS[8], value=float("nan"), limit=float("nan"), utilisation=float("nan"))
    app = build_app(FakeSession(snapshot(breakers=(in_profit, *BREAKERS[1:8], nan_use))), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert _cell(app, "daily_loss", "use").endswith(" 0%")
        assert "-" not in _cell(app, "daily_loss", "use")
        assert _cell(app, "daily_loss", "value") == "0.00% / 3.00%"
        assert _cell(app, "max_drawdown", "value") == "1.31% / 1.50%"
        assert _cell(app, "stale_data", "value") == "12 s / 300 s"
        assert _cell(app, "consecutive_losses", "value") == "3 / 20"
        assert "nan" not in _cell(app, "live_sharpe:forest", "use")
        assert _cell(app, "live_sharpe:forest", "value") == "n/a / n/a"


@pytest.mark.asyncio
async def test_the_resume_dialog_shows_breakers_in_their_units_too():
    from tests.test_ui_fakes import halted_snapshot

    app = build_app(FakeSession(halted_snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        text = "\n".join(str(s.content) for s in app.screen.query(".confirm-line"))
        assert "3.21% / 3.00%" in text and "12 s / 300 s" in text and "0.0321" not in text
