"""Modal screens: a yes/no confirmation and the key help."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rich.text import Text

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Select, Static

from console.alerts import Alert
from console.panes.common import when


class ConfirmScreen(ModalScreen[bool]):
    """Ask before an action that cannot be taken back; dismisses with True/False.

    ``y`` confirms, ``n`` / ``escape`` cancel; "No" has the focus so a stray
    enter does not flatten the book. A modal screen blocks the app's keys,
    so ``h`` is bound here too: the kill switch works with a dialog open.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
        Binding("h", "halt_now", "Halt", id="confirm.halt"),
    ]

    def __init__(self, title: str, lines: Iterable[str] = (), confirm_label: str = "Yes") -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog") as dialog:
            dialog.border_title = self._title
            for line in self._lines:
                yield Static(line, classes="confirm-line", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self._confirm_label} (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    async def action_halt_now(self) -> None:
        self.dismiss(False)
        await self.app.run_action("halt")


class HelpScreen(ModalScreen[None]):
    """Lists the console's keys (taken from the app's bindings, so never stale)."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss_help", "Close", id="help.close"),
        Binding("h", "halt_now", "Halt", id="help.halt"),  # the kill switch, as above
    ]

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            for key, description in self._keys:
                yield Static(f"{key:>8}   {description}", classes="help-line", markup=False)
            yield Static("Esc closes · ctrl+p opens the command palette", classes="help-hint")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)

    async def action_halt_now(self) -> None:
        self.dismiss(None)
        await self.app.run_action("halt")


class AlertsScreen(ModalScreen[None]):
    """The alert history, newest first, in a table the operator can scroll."""

    BINDINGS = [
        Binding("escape,a,q", "close", "Close", id="alerts.close"),
        Binding("h", "halt_now", "Halt", id="alerts.halt"),
    ]

    def __init__(self, alerts: Iterable[Alert]) -> None:
        super().__init__()
        self._alerts = list(alerts)

    def compose(self) -> ComposeResult:
        with Vertical(id="alerts-dialog") as dialog:
            dialog.border_title = f"Alerts ({len(self._alerts)})"
            table: DataTable[str] = DataTable(cursor_type="row", id="alerts-table")
            table.add_columns("When (market)", "Seq", "Alert")
            for a in reversed(self._alerts):
                table.add_row(when(a.ts, full=True), f"{a.seq:,}", a.text)
            yield table
            if not self._alerts:
                yield Static("No alerts in this session yet.", classes="help-line")
            yield Static("↑↓ PgUp PgDn scroll · Esc closes · h halts", classes="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_halt_now(self) -> None:
        self.dismiss(None)
        await self.app.run_action("halt")


class InfoScreen(ModalScreen[None]):
    """A longer text (why a signal, a book's P&L by symbol) in a dialog that
    fits the screen and scrolls, instead of a toast that overflows."""

    BINDINGS = [
        Binding("escape,e,q,enter", "close", "Close", id="info.close"),
        Binding("h", "halt_now", "Halt", id="info.halt"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="info-dialog") as dialog:
            dialog.border_title = self._title
            with VerticalScroll(id="info-body"):
                yield Static(self.text, id="info-text", markup=False)
            yield Static("Esc closes · h halts", classes="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_halt_now(self) -> None:
        self.dismiss(None)
        await self.app.run_action("halt")


class ReasonScreen(ModalScreen["str | None"]):
    """Ask for the operator's reason before a command (block a symbol);
    dismisses with the reason, or None. Enter with no reason does nothing:
    the log must say why."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason.cancel")]

    def __init__(self, title: str, lines: Iterable[str], label: str) -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._label = label

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog") as dialog:
            dialog.border_title = self._title
            for line in self._lines:
                yield Static(line, classes="confirm-line", markup=False)
            yield Input(placeholder="why (logged with the command)", id="reason-input")
            yield Static(f"Enter: {self._label} · Esc cancels · ctrl+g halts (h is a letter here)",
                         classes="help-hint")

    def on_mount(self) -> None:
        self.query_one("#reason-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.notify("type a reason first: the log keeps it", severity="warning", timeout=4)
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResetBreakerScreen(ModalScreen["tuple[str, str] | None"]):
    """Reset one tripped breaker, with the operator's reason typed in; dismisses
    with (breaker, reason), or None. Enter with an empty reason does nothing:
    the log must say why. Trading stays as it is (resume is its own command)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reset.cancel")]

    def __init__(self, tripped: list[tuple[str, str]], chosen: str = "") -> None:
        super().__init__()
        self._tripped = tripped  # (name, its trip reason)
        self._chosen = chosen if chosen in dict(tripped) else tripped[0][0]

    def compose(self) -> ComposeResult:
        with Vertical(id="reset-dialog") as dialog:
            dialog.border_title = "Reset a breaker"
            yield Select([(f"{name}: {why}"[:70], name) for name, why in self._tripped],
                         value=self._chosen, allow_blank=False, id="reset-breaker")
            yield Input(placeholder="why (logged with the command)", id="reset-reason")
            yield Static("Enter resets it (trading stays as it is: r resumes) · Esc cancels · "
                         "ctrl+g halts (h is a letter here)", classes="help-hint")

    def on_mount(self) -> None:
        self.query_one("#reset-reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.notify("type a reason first: the log keeps it", severity="warning", timeout=4)
            return
        self.dismiss((str(self.query_one("#reset-breaker", Select).value), reason))

    def action_cancel(self) -> None:
        self.dismiss(None)


Table = tuple[str, tuple[str, ...], list[tuple[str, ...]]]  # (title, columns, rows)
NUMBER = re.compile(r"^[+\-]?[\d,]*\.?\d+%?$")


def _aligned(row: tuple[str, ...]) -> tuple[str | Text, ...]:
    """Figures right-aligned, words left."""
    return tuple(Text(c, justify="right") if NUMBER.match(c) else c for c in row)


class TableScreen(ModalScreen[None]):
    """Figures as text lines and tables (the trades, the P&L attribution), built
    by ``build`` and rebuilt every ``refresh_s`` while open: the engine keeps
    trading behind it. ``keys`` close it (its own key toggles it)."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="table.close"),
        Binding("h", "halt_now", "Halt", id="table.halt"),
    ]

    def __init__(self, title: str, build: Callable[[], tuple[list[str], list[Table]]],
                 close_key: str = "", refresh_s: float = 1.0, dialog_id: str = "table-dialog") -> None:
        super().__init__()
        self._title = title
        self._build = build
        self._refresh_s = refresh_s
        self._dialog_id = dialog_id
        self._shown: tuple[list[str], list[Table]] | None = None
        if close_key:
            self._bindings.bind(close_key, "close", "Close", show=False)

    def compose(self) -> ComposeResult:
        lines, tables = self._shown = self._build()
        with Vertical(id=self._dialog_id, classes="table-dialog") as dialog:
            dialog.border_title = self._title
            yield Static("\n".join(lines), id="table-lines", markup=False)
            with VerticalScroll(id="table-body"):
                for i, (title, columns, rows) in enumerate(tables):
                    yield Static(title, classes="subtitle", id=f"table-title-{i}")
                    table: DataTable[str | Text] = DataTable(cursor_type="row", id=f"table-{i}",
                                                             classes="figures")
                    table.add_columns(*columns)
                    table.add_rows([_aligned(r) for r in rows])
                    yield table
            yield Static("↑↓ PgUp PgDn scroll · Esc closes · h halts", classes="help-hint")

    def on_mount(self) -> None:
        if self._refresh_s > 0:
            self.set_interval(self._refresh_s, self._rebuild)

    def _rebuild(self) -> None:
        got = self._build()
        if got == self._shown:
            return
        old_tables = self._shown[1] if self._shown else []
        self._shown = got
        lines, tables = got
        self.query_one("#table-lines", Static).update("\n".join(lines))
        if [t[1] for t in tables] != [t[1] for t in old_tables]:
            return  # the shape changed (rare): the next open shows it
        for i, (title, _columns, rows) in enumerate(tables):
            self.query_one(f"#table-title-{i}", Static).update(title)
            table = self.query_one(f"#table-{i}", DataTable)
            at = table.cursor_row
            table.clear()
            table.add_rows([_aligned(r) for r in rows])
            if rows:
                table.move_cursor(row=min(at, len(rows) - 1))

    def table_rows(self, i: int = 0) -> list[tuple[str, ...]]:
        """What table ``i`` shows now (tests)."""
        return list(self._shown[1][i][2]) if self._shown else []

    def lines(self) -> list[str]:
        return list(self._shown[0]) if self._shown else []

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_halt_now(self) -> None:
        self.dismiss(None)
        await self.app.run_action("halt")
