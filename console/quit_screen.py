"""Quitting a console attached to an engine that runs on its own: stop the
engine, or detach and leave it running?"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.panes.common import open_positions


class StopOrDetachScreen(ModalScreen[str]):
    """Dismisses with "stop", "detach" or "" (cancel). "Detach" has the focus:
    a stray enter leaves the engine trading, as it was. ``h`` halts, as in
    every dialog."""

    BINDINGS = [
        Binding("s", "answer('stop')", "Stop engine", id="quit.stop"),
        Binding("d", "answer('detach')", "Detach", id="quit.detach"),
        Binding("escape,n", "answer('')", "Cancel", id="quit.cancel"),
        Binding("h", "halt_now", "Halt", id="quit.halt"),
    ]

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self._lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog") as dialog:  # the confirmation dialog's styles
            dialog.border_title = "Stop the engine or detach?"
            for line in self._lines:
                yield Static(line, classes="confirm-line", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Stop engine (s)", variant="error", id="stop")
                yield Button("Detach (d)", variant="primary", id="detach")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss("" if event.button.id == "cancel" else str(event.button.id))

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    async def action_halt_now(self) -> None:
        self.dismiss("")
        await self.app.run_action("halt")


def ask_stop_or_detach(app: Any) -> None:
    """On quit with an engine in its own process: a read-only console just
    detaches; otherwise ask. Stopping is done by the CLI once the UI is gone
    (``session.want_stop``), so the screen never freezes on it."""
    session = app.session
    if getattr(session, "read_only", False):
        app.shutdown()
        return
    snap = session.latest
    held = len(open_positions(snap))  # rows of closed positions stay listed, for their realised P&L
    lines = ["Detach: the engine keeps trading; attach again with",
             f"  console attach {session.session_id}",
             "Stop: the session ends" + (f" with {held} position(s) open (not flattened)." if held else ".")]

    def answered(choice: str | None) -> None:
        if choice == "stop":
            session.want_stop = True
            app.shutdown()
        elif choice == "detach":
            app.shutdown()

    app.push_screen(StopOrDetachScreen(lines), answered)
