"""The stop-or-detach question counts only positions that are open."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from core.snapshot import PositionRow
from tests.test_ui_fakes import FakeSession, snapshot


@pytest.mark.asyncio
async def test_closed_positions_are_not_counted_as_open_when_quitting() -> None:
    from console.app import build_app
    from console.quit_screen import StopOrDetachScreen

    rows = (PositionRow("AAPL", 500, 187.2, 189.1, 94_550.0, 950.0, 300.0, 0.09),
            PositionRow("MSFT", 0, 402.5, 401.1, 0.0, 0.0, -120.0, 0.0),  # closed: realised only
            PositionRow("NVDA", -3, 495.0, 493.2, -1_479.6, 5.4, 0.0, -0.01))
    session = FakeSession(snapshot(positions=rows))
    session.detachable = True  # type: ignore[attr-defined]
    app = build_app(session)  # type: ignore[arg-type]
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, StopOrDetachScreen)
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "with 2 position(s) open" in text
