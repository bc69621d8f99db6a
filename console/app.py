"""The operator console: a Textual app that renders a session's snapshots.

The engine runs ``session.run()`` in a thread worker and swaps
``session.latest``; the app reads it on its own timer (~10 Hz), so the feed
rate never reaches the UI and a slow UI never slows the engine. Operator keys
only *send* commands (``session.submit``); the engine applies and logs them.
``build_app`` is the one factory the CLI, tests and snapshots use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Grid
from textual.driver import Driver
from textual.notifications import Notify
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from console.actions import OperatorApp, Session
from console.alerts import AlertTracker
from console.killswitch import with_kill_switch
from console.palette import OperatorCommands, operator_bindings
from console.panes.breakers import BreakersPane
from console.panes.header import StatusHeader
from console.panes.log import LogPane
from console.panes.positions import PositionsPane
from console.panes.risk import RiskPane
from console.panes.signals import SignalsPane
from core.snapshot import Snapshot
from themes import BUILTIN_THEMES, DEFAULT_THEME, config_dir, load_user_themes, user_theme_dir

REFRESH_S = 0.04  # view refresh period: 25 Hz polls of the newest snapshot (published at 20 Hz)
# At or under either, the compact layout (below 37 rows the wide grid cannot
# show every breaker and a full book at once): positions down the left, breakers
# then risk on the right, signals and the log in a short bottom row.
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 36
MAX_TOASTS = 3  # more stacked toasts cover the panes; the oldest goes first
# system palette commands the operator's own replace (theirs quit without the
# open-positions check, cycle themes outside ours, save where nothing may exist)
REPLACED_SYSTEM_COMMANDS = {"Quit", "Theme", "Screenshot"}


class ConsoleApp(OperatorApp):
    CSS_PATH = "console.tcss"
    TITLE = "Trading console"
    BINDINGS: ClassVar[list[BindingType]] = operator_bindings()
    COMMANDS = App.COMMANDS | {OperatorCommands}
    ALERTS = True  # banner, bell and alert history (a replay has none: it only reads the log)

    def __init__(self, session: Session, theme: str = DEFAULT_THEME,
                 start_engine: bool = True, theme_dir: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self.view_paused = False
        self._start_engine = start_engine
        self._applied: Snapshot | None = None  # the snapshot the panes show
        self._live: Snapshot | None = None  # the newest snapshot seen (header, alerts)
        self.alerts = AlertTracker()
        self._error_seen = ""
        self._startup_notes: list[str] = []
        self._ticker: Timer | None = None
        self.console_themes = self._register_themes(theme_dir or user_theme_dir())
        if theme not in self.available_themes:
            self._startup_notes.append(f"unknown theme {theme!r}; using {DEFAULT_THEME}")
            theme = DEFAULT_THEME
        self.theme = theme

    def get_driver_class(self) -> type[Driver]:
        return with_kill_switch(super().get_driver_class())

    def _register_themes(self, directory: Path) -> list[str]:
        themes: list[Theme] = [*BUILTIN_THEMES, *load_user_themes(directory, self._startup_notes)]
        for theme in themes:
            self.register_theme(theme)
        return list(dict.fromkeys(t.name for t in themes))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # A user theme may omit the console's variables: derive them from its palette.
        colours = self.current_theme.to_color_system().generate()
        return {
            "pnl-up": colours["success"], "pnl-down": colours["error"],
            "breaker-armed": colours["success"], "breaker-warning": colours["warning"],
            "breaker-tripped": colours["error"],
        }

    def compose(self) -> ComposeResult:
        # held by reference (no query per tick); grid order = reading order
        self._header = StatusHeader(id="header")
        self._banner = Static("", id="alert-banner", markup=False)
        self._banner.display = False
        self._panes = (
            PositionsPane(id="positions", classes="pane"), RiskPane(id="risk", classes="pane"),
            SignalsPane(id="signals", classes="pane"), BreakersPane(id="breakers", classes="pane"),
            LogPane(id="log", classes="pane"),
        )
        yield self._header
        yield self._banner
        with Grid(id="panes") as self._grid:
            yield from self._panes
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_layout(event.size.width, event.size.height)

    def fit_layout(self, width: int, height: int) -> None:
        """The wide or the compact grid, for a terminal of this size."""
        compact = width <= COMPACT_WIDTH or height <= COMPACT_HEIGHT
        if compact == self._grid.has_class("-compact"):
            return
        self._grid.set_class(compact, "-compact")
        positions, risk, signals, breakers, log = self._panes
        if compact:  # grid cells fill in child order
            self._grid.move_child(breakers, after=positions)
        else:
            self._grid.move_child(breakers, after=signals)

    def on_mount(self) -> None:
        self.fit_layout(self.size.width, self.size.height)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        for note in self._startup_notes:
            self.notify(note, title="Themes", severity="warning", timeout=10)
        self.refresh_view()
        self._ticker = self.set_interval(REFRESH_S, self.refresh_view)
        self._catch_stop_signals()
        if self._start_engine:
            self._run_engine()

    stopped_by: str = ""  # the signal that ended the app, if one did

    def _catch_stop_signals(self) -> None:
        """SIGTERM, SIGHUP or SIGINT ends the app as quitting does (no confirmation):
        Textual restores the terminal, then the caller closes the session and
        prints its id. Left to their default they would kill the process with
        the terminal still in full-screen mouse mode."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP", "SIGINT"):  # SIGINT: `kill -INT`; the ctrl+c key is not one here
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self._on_stop_signal, name)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (some test harnesses): leave the default

    def _on_stop_signal(self, name: str) -> None:
        self.stopped_by = name
        self.session.stop()  # the engine stops now; the caller closes the log and prints the id
        self.exit()

    def on_unmount(self) -> None:
        # however the app ends (quit, error, signal), the engine thread must
        # return, or interpreter shutdown waits on it forever
        if self._ticker is not None:
            self._ticker.stop()
        self.session.stop()

    def _on_notify(self, event: Notify) -> None:
        """A toast, with at most ``MAX_TOASTS`` on screen: the oldest goes first
        (Textual's own handler, then the trim)."""
        super()._on_notify(event)
        extra = list(self._notifications)[: max(0, len(self._notifications) - MAX_TOASTS)]
        for old in extra:
            self._unnotify(old, refresh=False)
        if extra:
            self._refresh_notifications()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # without the operator's provider (a replay) only the screenshot is replaced
        replaced = REPLACED_SYSTEM_COMMANDS if OperatorCommands in self.COMMANDS else {"Screenshot"}
        for command in super().get_system_commands(screen):
            if command.title not in replaced:
                yield command
        # after a beat, so the palette has closed and is not in the picture
        yield SystemCommand("Screenshot", "Save an SVG of the screen in the config folder (screenshots/)",
                            lambda: self.set_timer(0.1, self.action_save_screenshot))

    def action_save_screenshot(self) -> None:
        """Save an SVG of the screen under the config directory's screenshots/ and say where."""
        folder = config_dir() / "screenshots"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self.save_screenshot(path=str(folder))
        except OSError as exc:
            self.notify(f"could not save the screenshot in {folder}: {exc.strerror or exc}",
                        severity="error", timeout=8)
            return
        self.notify(path, title="Screenshot saved", timeout=8)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def _run_engine(self) -> None:
        self.session.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "engine" and event.state == WorkerState.ERROR:
            self.notify(f"Engine stopped: {event.worker.error}", severity="error", timeout=30)

    def refresh_view(self) -> None:
        """Timer tick: the header and the alerts follow the newest snapshot
        always; the panes only while the view is not paused."""
        snap = self.session.latest
        self.track_state(snap)
        self._report_error(snap)
        self._report_notes()
        if snap is not self._live:
            self._live = snap
            self._header.apply(snap, self.paused_at())
            self._raise_alerts(snap)
        else:
            self._header.tick()  # the time since the last price grows with no snapshot
        if not self.view_paused and snap is not self._applied:
            self.apply_snapshot(snap)

    def apply_snapshot(self, snap: Snapshot) -> None:
        with self.batch_update():
            self._header.apply(self._live or snap, self.paused_at())
            for pane in self._panes:
                pane.apply(snap)
        self._applied = snap

    def redraw_header(self) -> None:
        self._header.apply(self._live or self.session.latest, self.paused_at())

    def paused_at(self) -> int | None:
        """The seq the frozen tables show while the view is paused, else None."""
        if not self.view_paused:
            return None
        return self._applied.seq if self._applied is not None else 0

    def _raise_alerts(self, snap: Snapshot) -> None:
        """New trips and halts ring the bell and join the history; the banner
        stays up while anything is tripped or trading is not ACTIVE."""
        if not self.ALERTS:
            return
        fresh = self.alerts.update(snap)
        if any(a.rings for a in fresh):
            self.bell()
        text = self.alerts.banner(snap)
        if text != str(self._banner.content):
            self._banner.update(text)
        self._banner.display = bool(text)
        self._banner.set_class(snap.trading_state == "HALTED", "-halted")

    _notes_seen = 0

    def _report_notes(self) -> None:
        """An attached engine's answers to commands it refused or never got
        (``AttachedSession.notes``): a toast each, once."""
        notes = getattr(self.session, "notes", None)
        if not isinstance(notes, list) or len(notes) <= self._notes_seen:
            return
        for note in notes[self._notes_seen:]:
            if str(note).startswith("read-only:"):
                continue  # said already, as the key was pressed
            self.notify(str(note)[:300], title="Engine", severity="warning", timeout=10)
        self._notes_seen = len(notes)

    def _report_error(self, snap: Snapshot) -> None:
        # notify once per distinct error, even while the view is paused
        if snap.error and snap.error != self._error_seen:
            self._error_seen = snap.error
            self.notify(snap.error, title="Session error", severity="error", timeout=60)

    def _on_theme_changed(self, _theme: Theme) -> None:
        # cell colours are baked into Rich Text: rewrite every cell in the new theme
        for pane in self._panes:
            pane.restyle()
        if self._applied is not None:
            self.apply_snapshot(self._applied)


def build_app(session: Session, theme: str = DEFAULT_THEME, start_engine: bool = True) -> ConsoleApp:
    """The console over ``session``; ``start_engine=False`` leaves run() to the caller
    (tests feed snapshots by swapping ``session.latest``)."""
    return ConsoleApp(session, theme=theme, start_engine=start_engine)
