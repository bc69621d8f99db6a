"""Flatten or block one symbol from the UI (z, k, the palette). The engine
side (the actions flatten_symbol / block_symbol / unblock_symbol on
Command.symbol) is the lead's to add in core/session.py and core/engine.py;
these tests check the Command the console sends, and that a session that
cannot carry a symbol gets nothing (never a whole-book flatten)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from console.app import build_app
from core.events import Command
from tests.test_ui_fakes import FakeSession, snapshot

SIZE = (160, 48)


class SymbolSession(FakeSession):
    """A session whose submit takes ``symbol=`` (as core.session.Session will):
    records the Command the engine would be handed (ts aside)."""

    def __init__(self, snap) -> None:  # type: ignore[no-untyped-def]
        super().__init__(snap)
        self.commands: list[Command] = []

    def submit(self, action: str, arg: str = "", reason: str = "", symbol: str = "") -> None:  # type: ignore[override]
        super().submit(action, arg, reason)
        self.commands.append(Command(0, symbol, action, arg, reason))


async def _cursor_on(pilot, symbol: str) -> None:  # type: ignore[no-untyped-def]
    table = pilot.app.query_one("#positions-table")
    table.focus()
    row = [str(k.value) for k in table.rows].index(symbol)
    table.move_cursor(row=row)
    await pilot.pause()


@pytest.mark.asyncio
async def test_z_flattens_the_cursors_symbol_after_a_confirmation():
    session = SymbolSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await _cursor_on(pilot, "MSFT")
        await pilot.press("z")
        await pilot.pause()
        screen = pilot.app.screen
        assert type(screen).__name__ == "ConfirmScreen"
        text = " ".join(str(s.content) for s in screen.query(".confirm-line"))
        assert "Close MSFT at market: -200 units" in text and "every other position stays" in text
        await pilot.press("n")  # no: nothing sent
        await pilot.pause()
        assert session.commands == []
        await pilot.press("z", "y")
        await pilot.pause()
    assert session.commands == [Command(0, "MSFT", "flatten_symbol", "", "operator key z")]
    assert "flatten" not in session.actions()  # never the whole book


@pytest.mark.asyncio
async def test_k_blocks_the_cursors_symbol_with_a_typed_reason():
    session = SymbolSession(snapshot())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await _cursor_on(pilot, "NVDA")
        await pilot.press("k")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "ReasonScreen"
        await pilot.press("enter")  # no reason: nothing sent, the dialog stays
        await pilot.pause()
        assert session.commands == [] and type(pilot.app.screen).__name__ == "ReasonScreen"
        await pilot.press(*"halt news", "enter")  # `h` is a letter here
        await pilot.pause()
    assert session.commands == [Command(0, "NVDA", "block_symbol", "", "operator key k: halt news")]


@pytest.mark.asyncio
async def test_a_session_without_symbol_commands_sends_nothing_and_says_so():
    session = FakeSession(snapshot())  # submit(action, arg, reason): no symbol
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await _cursor_on(pilot, "AAPL")
        await pilot.press("z")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ != "ConfirmScreen"
        await pilot.press("k")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ != "ReasonScreen"
        assert any("no per-symbol commands" in n.message for n in pilot.app._notifications)
    assert session.submits == []


@pytest.mark.asyncio
async def test_the_palette_offers_flatten_block_and_unblock_per_symbol():
    session = SymbolSession(replace(snapshot(), blocked=("MSFT",)))
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c[0] for c in pilot.app.symbol_commands()]
        assert {"Flatten AAPL", "Flatten MSFT", "Flatten NVDA", "Block AAPL", "Block NVDA",
                "Unblock MSFT"} <= set(titles)
        assert "Block MSFT" not in titles
        assert "blocked: MSFT" in str(pilot.app.query_one("#positions").border_subtitle)
        pilot.app.on_symbol("unblock_symbol", "MSFT")
        await pilot.pause()
        await pilot.press(*"reviewed", "enter")
        await pilot.pause()
    assert session.commands == [Command(0, "MSFT", "unblock_symbol", "", "operator palette: reviewed")]


def test_the_control_socket_refuses_a_symbol_command_the_engine_cannot_take(tmp_path):  # type: ignore[no-untyped-def]
    from console.control import request
    from tests.test_control import session_thread

    sock = tmp_path / "c.sock"
    s, _server, t = session_thread(sock)
    try:
        no_symbol = request(sock, {"op": "command", "action": "flatten_symbol", "reason": "r"})
        assert no_symbol["ok"] is False and "needs the symbol" in no_symbol["error"]
        got = request(sock, {"op": "command", "action": "flatten-symbol", "symbol": "AAA", "reason": "r"})
        # today Session.submit has no symbol=: refused in one line, nothing sent; once the engine
        # takes per-symbol commands it refuses this one too (the simulator has no AAA)
        assert got["ok"] is False and got["error"]
        stray = request(sock, {"op": "command", "action": "flatten", "symbol": "AAA", "reason": "r"})
        assert stray["ok"] is False and "takes no" in stray["error"]  # never a whole-book flatten
        assert s.engine.state.state == "ACTIVE"
    finally:
        s.stop()
        t.join(10)


@pytest.mark.asyncio
async def test_an_attached_engines_refusal_shows_as_a_toast_once():
    session = SymbolSession(snapshot())
    session.notes = []  # type: ignore[attr-defined]  # as console.control.AttachedSession keeps them
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        session.notes.append("flatten_symbol AAPL refused: no position in AAPL")  # type: ignore[attr-defined]
        session.notes.append("read-only: halt not sent")  # type: ignore[attr-defined]  # said at the key already
        for _ in range(100):  # the 25 Hz refresh picks the notes up; a loaded CI machine once took > 0.3 s
            await pilot.pause(0.05)
            if pilot.app._notifications:
                break
        await pilot.pause(0.3)  # several more ticks: neither note may show (again)
        messages = [n.message for n in pilot.app._notifications]
        assert messages == ["flatten_symbol AAPL refused: no position in AAPL"]
