"""Pilot tests: e from anywhere, toasts that do not pile up, the palette's own
commands once each and a working screenshot, SIGTERM restores the terminal
(issue 18, defects 10 and 11)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from textual.command import CommandList

from console.app import build_app
from tests.test_ui_fakes import FakeSession, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


@pytest.mark.asyncio
async def test_e_with_nothing_focused_explains_the_signal_under_the_cursor():
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.set_focus(None)
        await pilot.press("e")
        await pilot.pause()
        assert type(app.screen).__name__ == "InfoScreen"
        assert "on AAPL" in app.screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ != "InfoScreen"


@pytest.mark.asyncio
async def test_toasts_do_not_pile_up():
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        for i in range(8):
            app.notify(f"note {i}", timeout=30)
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["note 5", "note 6", "note 7"]


async def _palette(pilot, query: str = "") -> list[str]:
    await pilot.press("ctrl+p")
    await pilot.pause(0.3)
    if query:
        await pilot.press(*query)
        await pilot.pause(0.3)
    return [str(o.prompt).split("\n")[0] for o in pilot.app.screen.query_one(CommandList).options]


@pytest.mark.asyncio
async def test_the_palette_lists_quit_and_theme_once():
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        listed = await _palette(pilot)
        assert sum(p.startswith("Quit") for p in listed) == 1, listed
        assert sum(p.startswith("Theme") for p in listed) == 1, listed


@pytest.mark.asyncio
async def test_the_palette_screenshot_is_saved_and_says_where(tmp_path):
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await _palette(pilot, "screenshot")
        await pilot.press("enter")
        await pilot.pause(0.5)
        saved = list((tmp_path / "screenshots").glob("*.svg"))
        assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
        assert any(str(saved[0]) in n.message for n in app._notifications)


@pytest.mark.asyncio
async def test_sigterm_stops_the_session_and_exits_cleanly():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        os.kill(os.getpid(), signal.SIGTERM)
        await pilot.pause(0.3)
        assert session.stopped and app.return_code == 0
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) or callable(signal.getsignal(signal.SIGTERM))


@pytest.mark.asyncio
async def test_b_resets_one_breaker_with_a_typed_reason():
    from dataclasses import replace

    from tests.test_ui_fakes import BREAKERS, halted_snapshot

    snap = halted_snapshot()
    stale = replace(BREAKERS[6], state="TRIPPED", last_trip_ts=1, reason="stale")
    session = FakeSession(replace(snap, breakers=(*snap.breakers[:6], stale, *snap.breakers[7:])))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        assert type(app.screen).__name__ == "ResetBreakerScreen"
        await pilot.press("enter")  # no reason typed: nothing is sent
        await pilot.pause()
        assert session.submits == []
        await pilot.press(*"feed back after the outage", "enter")
        await pilot.pause()
        assert session.submits == [("reset_breaker", "daily_loss",
                                    "operator key b: feed back after the outage")]
        assert session.actions() == ["reset_breaker"]  # no resume, no other breaker


@pytest.mark.asyncio
async def test_the_palette_offers_a_reset_per_tripped_breaker():
    from tests.test_ui_fakes import halted_snapshot

    session = FakeSession(halted_snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        listed = await _palette(pilot, "reset breaker")
        assert any("Reset breaker daily_loss" in p for p in listed), listed
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "ResetBreakerScreen"
        await pilot.press(*"checked the fills", "enter")
        await pilot.pause()
        assert session.submits == [("reset_breaker", "daily_loss", "operator palette: checked the fills")]


@pytest.mark.asyncio
async def test_enter_on_a_position_tells_its_story():
    from core.snapshot import LogLine
    from tests.test_ui_fakes import LOG, T0, risk

    log = LOG + (LogLine(300, T0, "info", "ORDER AAPL +100 ~189.0500 [strategy] why: ensemble v0 +0.55"),
                 LogLine(301, T0, "trade", "FILL AAPL +100 @ 189.1000 (order 300, fee 1.89)"),
                 LogLine(302, T0, "trade", "FILL MSFT -50 @ 401.1000 (order 299, fee 2.00)"))
    snap = snapshot(log=log, risk=risk(contributions=(("AAPL", 4_360.0),)))
    app = build_app(FakeSession(snap), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#positions-table")
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "InfoScreen"
        story = app.screen.text
        assert story.startswith("AAPL: +500 @ avg 187.20")
        assert "ensemble" in story and "+0.62" in story  # the model views
        assert "why: ensemble v0 +0.55" in story and "FILL AAPL +100" in story
        assert "MSFT" not in story
        assert "VaR contribution 4,360.00" in story and "50.00%" in story  # of 0.87% x NAV
        assert "#1041 market +100" in story  # the open order


@pytest.mark.asyncio
async def test_without_the_operator_palette_textual_quit_and_theme_stay():
    from textual.app import App

    from console.app import ConsoleApp

    class ReadOnly(ConsoleApp):  # as the replay's WatchApp: no operator commands
        CSS_PATH = ConsoleApp.CSS_PATH and str(Path(__file__).parents[1] / "console" / "console.tcss")
        COMMANDS = App.COMMANDS

    app = ReadOnly(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Quit") == 1 and titles.count("Theme") == 1 and titles.count("Screenshot") == 1
