"""Pilot tests: operator keys send the right commands, with or without a confirmation."""

from __future__ import annotations

import pytest
from textual.screen import ModalScreen
from textual.widgets import Static

from console.app import build_app
from console.screens import ConfirmScreen, HelpScreen
from tests.test_ui_fakes import FakeSession, halted_snapshot, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _modal_text(app) -> str:
    return "\n".join(str(s.content) for s in app.screen.query(Static))


@pytest.mark.asyncio
async def test_h_halts_at_once_with_no_confirmation():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key h")]
        assert not isinstance(pilot.app.screen, ModalScreen)


@pytest.mark.asyncio
async def test_r_confirms_listing_breakers_then_resets_tripped_and_resumes():
    session = FakeSession(halted_snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmScreen)
        text = _modal_text(pilot.app)
        assert "daily_loss" in text and "TRIPPED" in text and "drawdown" in text
        assert "will be reset: daily_loss" in text
        assert session.submits == []
        await pilot.press("y")
        await pilot.pause()
        assert session.submits == [
            ("reset_breaker", "daily_loss", "operator key r"),
            ("resume", "", "operator key r"),
        ]


@pytest.mark.asyncio
async def test_resume_cancelled_sends_nothing():
    session = FakeSession(halted_snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("r", "n")
        await pilot.pause()
        assert session.submits == []
        assert not isinstance(pilot.app.screen, ModalScreen)


@pytest.mark.asyncio
async def test_resume_is_disabled_while_active():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        assert pilot.app.check_action("resume", ()) is None
        assert pilot.app.check_action("halt", ()) is True
        await pilot.press("r")
        await pilot.pause()
        assert session.submits == []
        assert not isinstance(pilot.app.screen, ModalScreen)


@pytest.mark.asyncio
async def test_f_flattens_only_after_confirmation():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmScreen)
        assert "AAPL" in _modal_text(pilot.app)
        assert session.submits == []
        await pilot.press("y")
        await pilot.pause()
        assert session.submits == [("flatten", "", "operator key f")]


@pytest.mark.asyncio
@pytest.mark.parametrize("dialog", ["f", "q", "question_mark"])
async def test_h_halts_even_with_a_dialog_open(dialog):
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press(dialog)
        await pilot.pause()
        assert isinstance(pilot.app.screen, ModalScreen)
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key h")]
        assert not isinstance(pilot.app.screen, ModalScreen)
        assert not session.stopped


@pytest.mark.asyncio
async def test_bindings_have_ids_so_keys_can_be_remapped():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"console.halt": "k"})
        await pilot.press("k")
        await pilot.pause()
        assert session.actions() == ["halt"]


@pytest.mark.asyncio
async def test_enter_on_a_confirmation_means_no():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("f", "enter")
        await pilot.pause()
        assert session.submits == []


@pytest.mark.asyncio
async def test_x_and_c_send_reduce_and_cancel_all():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("x", "c")
        await pilot.pause()
        assert session.submits == [
            ("reduce", "", "operator key x"), ("cancel_all", "", "operator key c"),
        ]


@pytest.mark.asyncio
async def test_q_with_open_positions_asks_first():
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not session.stopped and app.return_code is None
        await pilot.press("q", "y")
        await pilot.pause()
        assert session.stopped and app.return_code == 0


@pytest.mark.asyncio
async def test_q_with_a_flat_book_quits_and_stops_the_session():
    session = FakeSession(snapshot(positions=()))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert session.stopped and app.return_code == 0
        assert session.submits == []


@pytest.mark.asyncio
async def test_help_lists_the_keys():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        text = _modal_text(pilot.app)
        for key in ("h", "r", "x", "f", "c", "p", "t", "q", "ctrl+p"):
            assert f"{key:>8}   " in text
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, ModalScreen)


@pytest.mark.asyncio
async def test_engine_runs_in_a_worker_and_stops_on_quit():
    session = FakeSession(snapshot(positions=()))
    app = build_app(session)  # start_engine=True: FakeSession.run blocks until stop()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [w.group for w in app.workers] == ["engine"]
        await pilot.press("q")
        await pilot.pause()
    assert session.stopped


@pytest.mark.asyncio
async def test_e_on_a_signal_row_explains_it():
    from dataclasses import replace as dc_replace

    from core.snapshot import SignalRow

    rows = (SignalRow("AAPL", "forest", 0.31, 0.8, 187.0, 0, "", (), 2, "active",
                      (("mom_20", 0.0123), ("xret_MSFT", -0.0045))),
            SignalRow("AAPL", "hmm", -0.2, 0.9, 187.0, 0, "bearish",
                      (("bullish", 0.05), ("neutral", 0.05), ("bearish", 0.9)), 1, "active"))
    session = FakeSession(dc_replace(snapshot(), signals=rows))
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one("SignalsPane")
        table = pane.query_one("KeyedTable")
        await pilot.pause()
        table.focus()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        from console.screens import InfoScreen

        assert isinstance(pilot.app.screen, InfoScreen)
        shown = pilot.app.screen.text
        assert "forest on AAPL: +0.31" in shown and "mom_20" in shown and "+0.01230" in shown, shown
        assert "bearish 90%" in pane.explanation("AAPL/hmm")
        assert session.submits == []
