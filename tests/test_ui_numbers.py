"""Pilot tests: a broken book still reads (issue 18, defects 3 and 7): a halted
book with a negative NAV, flat positions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text

from console.app import build_app
from console.panes.common import KeyedTable
from console.screens import ConfirmScreen
from core.snapshot import PositionRow, StressLine
from tests.test_ui_fakes import BREAKERS, POSITIONS, FakeSession, halted_snapshot, risk, snapshot

SIZE = (160, 48)
NAN, INF = float("nan"), float("inf")


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _column(app, table_id: str, column: str) -> list[str]:
    table = app.query_one(table_id, KeyedTable)
    cells = [table.get_cell(k, column) for k in table.shown_keys]
    return [c.plain if isinstance(c, Text) else str(c) for c in cells]


def _broken_book():
    """A 20-symbol file after a daily-loss halt that kept its positions."""
    book = risk(nav=-900_718.0, leverage=INF, drawdown=1.9, max_drawdown=1.9, var95=NAN,
                extra=(("VaR 95/99% NAV param", "nan% / nan%"), ("commissions", "1,234.00")),
                contributions=(("AAPL", NAN),),
                stress=(StressLine("n/a while NAV ≤ 0", NAN, NAN),))
    use_nan = replace(BREAKERS[3], value=NAN, utilisation=NAN)
    return replace(halted_snapshot(), risk=book, breakers=(*halted_snapshot().breakers[:3], use_nan,
                                                           *BREAKERS[4:]))


@pytest.mark.asyncio
async def test_a_halted_book_with_a_negative_nav_shows_no_nan_or_inf():
    app = build_app(FakeSession(_broken_book()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        risk_values = dict(zip(_column(app, "#risk-table", "label"), _column(app, "#risk-table", "value")))
        assert risk_values["NAV"] == "-900,718.00"
        assert risk_values["Leverage"] == "n/a (NAV ≤ 0)"
        assert risk_values["Drawdown"] == "190.00%"
        assert risk_values["VaR 95/99% NAV param"] == "n/a / n/a"
        shown = " ".join([*risk_values.values(), *_column(app, "#stress-table", "name"),
                          *_column(app, "#stress-table", "pnl"), *_column(app, "#breakers-table", "use"),
                          *_column(app, "#positions-table", "weight")]).lower()
        assert "nan" not in shown and "inf" not in shown and "failed" not in shown, shown
        assert set(_column(app, "#positions-table", "weight")) == {"n/a"}


@pytest.mark.asyncio
async def test_flat_positions_are_not_open():
    flat = PositionRow("TSLA", 0, 0.0, 251.0, 0.0, 0.0, -420.0, 0.0)
    session = FakeSession(snapshot(positions=(*POSITIONS, flat)))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.query_one("#positions-table", KeyedTable).shown_keys == ["AAPL", "MSFT", "NVDA"]
        assert str(app.query_one("#positions").border_subtitle).startswith("3 pos")
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = "\n".join(str(s.content) for s in app.screen.query(".confirm-line"))
        assert "Close 3 position(s)" in text and "TSLA" not in text
        await pilot.press("n")
        session.latest = snapshot(seq=2000, positions=(flat,))  # flat book: quitting asks nothing
        await pilot.pause(0.3)
        assert app.check_action("flatten", ()) is None
        await pilot.press("q")
        await pilot.pause()
        assert session.stopped and app.return_code == 0


@pytest.mark.asyncio
async def test_sector_exposure_shows_against_its_limit():
    snap = snapshot(risk=risk(sectors=(("tech", 0.52), ("energy", 0.10)), sector_limit=0.60))
    app = build_app(FakeSession(snap), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        values = dict(zip(_column(app, "#risk-table", "label"), _column(app, "#risk-table", "value")))
        assert values["Sector tech"] == "52.00% / 60.00%"
        assert values["Sector energy"] == "10.00% / 60.00%"
        cell = app.query_one("#risk-table", KeyedTable).get_cell("sector:tech", "value")
        assert str(cell.style).lower() == app.theme_variables["warning"].lower()  # 87% of the limit
