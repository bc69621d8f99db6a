"""``console replay ID --tui``: the console's panes over a logged session, read-only.

``WatchApp`` is the operator console (``ConsoleApp``) over a
``console.watch.Watch`` instead of a live session: the same panes and
snapshots, a header that says REPLAY (read-only) with the seq and market
time, and playback keys. The trading keys only say "read-only replay": a
watch has nothing to send commands to, and its database is opened read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static

from console.app import ConsoleApp
from console.panes.common import clock, money, signed_money
from console.panes.header import StatusHeader
from console.screens import HelpScreen
from console.watch import SEEK_INPUTS, Watch, open_watch
from core.snapshot import Snapshot
from themes import DEFAULT_THEME

READ_ONLY = "read-only replay"
STATUS_MARK = {"PLAYING": "▶ PLAYING", "PAUSED": "❚❚ PAUSED", "END": "■ END OF LOG",
               "DIVERGED": "✖ DIVERGED", "STOPPED": "✖ STOPPED", "REBUILDING": "⟲ REBUILDING from the start"}
WATCH_KEYS = (
    ("space", "Play / pause"), ("n, →", "Step one input (pauses)"),
    ("]", f"Forward {SEEK_INPUTS} inputs"), ("[", f"Back {SEEK_INPUTS} inputs (rebuilds from the start)"),
    ("g", "Go to a seq"), ("t", "Next theme"), ("q", "Quit"),
    ("h r x f c", "Nothing: a replay is read-only"),
)


class WatchHeader(StatusHeader):
    """The status header, saying REPLAY with the playback state, seq and market time."""

    def apply(self, snap: Snapshot, paused: int | None) -> None:
        x = snap.extra
        self._badge(snap.trading_state)
        self._set("feed-line", (
            f"REPLAY (read-only)  │  {STATUS_MARK.get(x.get('status', ''), '')}  │  "
            f"seq {snap.seq:,}/{int(x.get('last_seq', 0)):,}  │  {clock(snap.market_ts)} UTC  │  "
            f"{snap.speed}  │  session {snap.session_id}  │  "
            f"input {int(x.get('inputs', 0)):,}/{int(x.get('total_inputs', 0)):,}"
        ))
        self._set("nav", f"NAV {money(snap.risk.nav)}")
        pnl = snap.risk.day_pnl
        self._set("pnl", f"Day P&L {signed_money(pnl)}")
        self._lines["pnl"].set_class(pnl > 0, "-up")
        self._lines["pnl"].set_class(pnl < 0, "-down")
        self._replay_flags(snap)

    def _replay_flags(self, snap: Snapshot) -> None:
        status = snap.extra.get("status", "")
        if snap.error:
            text = f"{snap.error} · playback stops here; the log pane has both versions"
        elif status == "END":
            text = "END OF LOG: every decision matched the log"
            if snap.extra.get("truncated"):
                text += " (it ends part-way through its last input: an unclean close)"
            elif not snap.extra.get("clean_close"):
                text += " (the session did not close cleanly)"
        else:
            text = "PAUSED" if status == "PAUSED" else ""
        self._set("flags", text)
        flags = self._lines["flags"]
        flags.set_class(bool(snap.error), "-error")
        flags.set_class(status == "END" and not snap.error, "-ok")
        flags.set_class(status == "PAUSED" and not snap.error, "-notice")


class GoToScreen(ModalScreen[int | None]):
    """Ask for a seq; dismisses with it, or None (escape, empty)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(self, last_seq: int) -> None:
        super().__init__()
        self._last = last_seq

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-dialog") as dialog:
            dialog.border_title = "Go to seq"
            yield Static(f"seq 0 .. {self._last:,} (enter goes, escape cancels)", classes="help-hint")
            yield Input(type="integer", placeholder="seq", id="goto-seq")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(int(value) if value.lstrip("-").isdigit() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WatchApp(ConsoleApp):
    TITLE = "Trading console (replay)"
    COMMANDS = App.COMMANDS  # the operator palette has nothing to do here
    ALERTS = False  # a replay rings no bell; its header and log say what happened
    CSS = """
    #flags.-ok { color: $background; background: $success; }
    GoToScreen { align: center middle; background: $background 60%; }
    #goto-dialog { width: 50; height: auto; padding: 1 2; background: $surface; border: thick $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play_pause", "Play/pause", key_display="space", id="watch.play_pause"),
        Binding("p", "play_pause", "Play/pause", show=False, id="watch.play_pause_p"),
        Binding("n", "step", "Step", id="watch.step"),
        # priority: a focused table would take the arrow for its cursor
        Binding("right", "step", "Step", show=False, priority=True, id="watch.step_right"),
        Binding("right_square_bracket", "seek(1)", f"+{SEEK_INPUTS}", key_display="]", id="watch.forward"),
        Binding("left_square_bracket", "seek(-1)", f"-{SEEK_INPUTS}", key_display="[", id="watch.back"),
        Binding("g", "goto", "Go to seq", id="watch.goto"),
        *(Binding(k, a, show=False, id=f"watch.{a}") for k, a in
          (("h", "halt"), ("r", "resume"), ("x", "reduce"), ("f", "flatten"), ("c", "cancel_all"))),
    ]

    session: Watch

    def __init__(self, watch: Watch, theme: str = DEFAULT_THEME, start_engine: bool = True,
                 theme_dir: Path | None = None) -> None:
        super().__init__(watch, theme=theme, start_engine=start_engine, theme_dir=theme_dir)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield self._swap_header(widget)

    def _swap_header(self, widget: Widget) -> Widget:
        if type(widget) is StatusHeader:
            self._header = WatchHeader(id="header")
            return self._header
        return widget

    def refresh_view(self) -> None:
        super().refresh_view()
        self.screen.set_class(self.session.latest.extra.get("status") == "PAUSED", "-view-paused")

    def _report_error(self, snap: Snapshot) -> None:
        if snap.error and snap.error != self._error_seen:
            self._error_seen = snap.error
            self.notify(snap.error, title="Replay diverged", severity="error", timeout=30)

    # ------------------------------------------------------------ read-only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True  # nothing is greyed out: trading keys answer "read-only replay"

    def on_input_thread_key(self, key: str) -> None:
        """No kill-switch fast path: there is no engine to halt."""

    def _submit(self, action: str, via: str, arg: str = "") -> None:
        self._read_only()

    def _read_only(self) -> None:
        self.notify(READ_ONLY, severity="warning", timeout=3)

    def action_halt(self, via: str = "key h") -> None:
        self._read_only()

    def action_resume(self, via: str = "key r") -> None:
        self._read_only()

    def action_reduce(self, via: str = "key x") -> None:
        self._read_only()

    def action_flatten(self, via: str = "key f") -> None:
        self._read_only()

    def action_cancel_all(self, via: str = "key c") -> None:
        self._read_only()

    def reset_one(self, name: str, via: str) -> None:
        self._read_only()

    def action_flatten_symbol(self, via: str = "key z", symbol: str = "") -> None:
        self._read_only()

    def action_block_symbol(self, via: str = "key k", symbol: str = "") -> None:
        self._read_only()

    def set_limit_for(self, name: str, via: str) -> None:
        self._read_only()

    # ------------------------------------------------------------ playback

    def action_play_pause(self) -> None:
        self.session.request("toggle_pause")

    def action_step(self) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # the arrow belongs to the dialog's text field
        self.session.request("step", 1)

    def action_seek(self, direction: int) -> None:
        self.session.request("seek_inputs", direction * SEEK_INPUTS)

    def action_goto(self) -> None:
        def chosen(seq: int | None) -> None:
            if seq is not None:
                self.session.request("seek", max(0, seq))

        self.push_screen(GoToScreen(self.session.playback.last_seq), chosen)

    def action_help(self, via: str = "key ?") -> None:
        self.push_screen(HelpScreen([*WATCH_KEYS, ("?", "This help")]))

    async def action_quit(self, via: str = "key q") -> None:
        self.shutdown()  # nothing to lose: the log is only read


def run_watch(db_path: Path, session_id: str, speed: float | None, theme: str | None = None) -> int:
    """Play the session in the console; after quitting, print where it stopped.
    Returns 1 when it diverged from the log, else 0."""
    import click

    watch = open_watch(db_path, session_id, speed)
    app = WatchApp(watch, theme=theme or DEFAULT_THEME)
    app.run()
    pb = watch.playback
    click.echo(f"replay {pb.sid}: stopped at seq {pb.engine.seq:,} of {pb.last_seq:,} "
               f"({pb.inputs:,} of {pb.total_inputs:,} inputs)")
    if pb.problem:
        click.echo(f"error: {pb.problem}", err=True)
        return 1
    return 0
