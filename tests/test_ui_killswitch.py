"""The kill switch's input-thread fast path (console.killswitch)."""

from __future__ import annotations

import threading

import pytest
from textual import events
from textual.command import CommandPalette
from textual.drivers.headless_driver import HeadlessDriver
from textual.screen import ModalScreen

from console.app import build_app
from console.killswitch import with_kill_switch
from tests.test_ui_fakes import FakeSession, snapshot

SIZE = (160, 48)


def from_input_thread(app, key: str) -> None:  # type: ignore[no-untyped-def]
    t = threading.Thread(target=app.on_input_thread_key, args=(key,))
    t.start()
    t.join()


@pytest.mark.asyncio
async def test_halt_key_is_sent_from_the_input_thread_once_not_twice():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        from_input_thread(pilot.app, "h")
        assert session.submits == [("halt", "", "operator key h")]  # before Textual saw the key
        await pilot.press("h")  # the same key then arrives through Textual
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key h")]
        await pilot.press("h")  # a second press is a second halt command
        await pilot.pause()
        assert len(session.submits) == 2


@pytest.mark.asyncio
async def test_other_keys_take_no_fast_path():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        for key in ("r", "f", "x", "c", "q", "H"):
            from_input_thread(pilot.app, key)
        assert session.submits == []


@pytest.mark.asyncio
async def test_typing_h_in_the_command_palette_does_not_halt():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CommandPalette)
        from_input_thread(pilot.app, "h")
        assert session.submits == []


@pytest.mark.asyncio
async def test_fast_halt_still_closes_an_open_dialog():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ModalScreen)
        from_input_thread(pilot.app, "h")
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key h")]
        assert not isinstance(pilot.app.screen, ModalScreen)


@pytest.mark.asyncio
async def test_the_driver_offers_every_key_to_the_app_before_queueing_it():
    import asyncio

    seen: list[str] = []

    class App:
        def on_input_thread_key(self, key: str) -> None:
            seen.append(key)

        async def _post_message(self, message: object) -> bool:
            seen.append("queued")
            return True

    driver = with_kill_switch(HeadlessDriver)(App(), size=(80, 24))  # type: ignore[arg-type]
    await asyncio.to_thread(driver.process_message, events.Key("h", "h"))
    await asyncio.sleep(0.05)
    assert seen == ["h", "queued"]


# ------------------------------------------------------------ halting while typing
# `h` is a letter in a text box; ctrl+g (palette.HALT_ANYWHERE_KEY) halts from
# anywhere, and Esc leaves the log filter so that `h` halts again.


@pytest.mark.asyncio
async def test_h_in_the_log_filter_is_a_letter_and_ctrl_g_halts_from_it():
    from textual.widgets import Input

    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await pilot.pause()
        box = pilot.app.screen.focused
        assert isinstance(box, Input) and box.id == "log-filter"
        from_input_thread(pilot.app, "h")
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == [] and box.value == "h"  # typed, not halted
        from_input_thread(pilot.app, "ctrl+g")  # the input thread sends it at once ...
        assert session.submits == [("halt", "", "operator key ctrl+g")]
        await pilot.press("ctrl+g")  # ... and the binding does not send it twice
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key ctrl+g")]
        assert box.value == "h" and pilot.app.screen.focused is box  # the typing is untouched
        await pilot.press("ctrl+g")  # without the fast path (Pilot): the binding alone halts
        await pilot.pause()
        assert session.actions() == ["halt", "halt"]


@pytest.mark.asyncio
async def test_escape_leaves_the_log_filter_and_h_halts_again():
    from textual.widgets import Input

    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("slash", "a", "l")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen.focused, Input)
        assert not pilot.app.query_one("#log-filter").display
        from_input_thread(pilot.app, "h")
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == [("halt", "", "operator key h")]


@pytest.mark.asyncio
async def test_ctrl_g_halts_from_the_breaker_reason_box_and_the_palette():
    from tests.test_ui_fakes import halted_snapshot

    session = FakeSession(halted_snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "ResetBreakerScreen"
        await pilot.press("h")
        await pilot.pause()
        assert session.submits == []  # a letter of the reason
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert session.actions() == ["halt"]
        await pilot.press("escape", "ctrl+p")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CommandPalette)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert session.actions() == ["halt", "halt"]


@pytest.mark.asyncio
async def test_help_lists_the_halt_anywhere_key():
    session = FakeSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        texts = [str(s.content) for s in pilot.app.screen.query(".help-line")]
        assert any(t.strip().startswith("ctrl+g") and "typing" in t for t in texts)
