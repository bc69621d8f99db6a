"""The set-limit dialog (key ``l``, the palette's "Set limit NAME"): which
limit, its new value and why. The value is checked here as the engine checks
it (core.engine.parse_limit) so a typo is answered at once; the engine checks
it again when the command arrives, and logs old -> new with who and why."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from core.engine import SETTABLE_LIMITS, parse_limit
from core.view import limit_text


def limit_label(name: str, now: float, configured: float) -> str:
    """ "daily_loss  3.00% (breaker)", with the config's value when it was changed."""
    where = "gate" if SETTABLE_LIMITS[name][0] == "gate" else "breaker"
    was = f", config {limit_text(name, configured)}" if configured != now else ""
    return f"{name}  {limit_text(name, now)} ({where}{was})"


def value_hint(name: str) -> str:
    lo, integer, hi = SETTABLE_LIMITS[name][2], SETTABLE_LIMITS[name][1], SETTABLE_LIMITS[name][4]
    if integer:
        return f"a whole number >= {lo:g}"
    if hi == 1.0:
        return "a fraction of NAV in (0, 1]: 0.05 or 5%"
    return f"a number > {lo:g}"


class SetLimitScreen(ModalScreen["tuple[str, str, str] | None"]):
    """Dismisses with (name, value text, reason), or None. Enter in the value
    box moves to the reason; Enter in the reason box sends, once the value
    passes the engine's check and a reason is typed (the log must say why)."""

    DEFAULT_CSS = """
    SetLimitScreen { align: center middle; background: $background 60%; }
    #limit-dialog { width: 80; max-width: 96%; height: auto; padding: 1 2; background: $surface;
                    border: thick $warning; border-title-style: bold; }
    #limit-value, #limit-reason { margin-top: 1; }
    #limit-hint { color: $foreground-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="limit.cancel")]

    def __init__(self, limits: tuple[tuple[str, float, float], ...], chosen: str = "") -> None:
        super().__init__()
        self._limits = {name: (now, was) for name, now, was in limits}
        self._chosen = chosen if chosen in self._limits else next(iter(self._limits))

    def compose(self) -> ComposeResult:
        with Vertical(id="limit-dialog") as dialog:
            dialog.border_title = "Set a limit for this session"
            yield Select([(limit_label(n, now, was), n) for n, (now, was) in self._limits.items()],
                         value=self._chosen, allow_blank=False, id="limit-name")
            yield Static(value_hint(self._chosen), id="limit-hint", markup=False)
            yield Input(placeholder=f"new value (now {limit_text(self._chosen, self._limits[self._chosen][0])})",
                        id="limit-value")
            yield Input(placeholder="why (logged with the command)", id="limit-reason")
            yield Static("Enter sets it (logged: old -> new, who, why) · Esc cancels · "
                         "ctrl+g halts (h is a letter here)", classes="help-hint")

    def on_mount(self) -> None:
        self.query_one("#limit-value", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        name = str(event.value)
        if name in self._limits:
            self.query_one("#limit-hint", Static).update(value_hint(name))
            self.query_one("#limit-value", Input).placeholder = \
                f"new value (now {limit_text(name, self._limits[name][0])})"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        name = str(self.query_one("#limit-name", Select).value)
        value = self.query_one("#limit-value", Input).value.strip()
        reason = self.query_one("#limit-reason", Input).value.strip()
        _, _, why_not = parse_limit(f"{name}={value}")
        if why_not:
            self.notify(why_not, severity="warning", timeout=5)
            self.query_one("#limit-value", Input).focus()
            return
        if not reason:
            if event.input.id == "limit-reason":
                self.notify("type a reason first: the log keeps it", severity="warning", timeout=4)
            self.query_one("#limit-reason", Input).focus()
            return
        self.dismiss((name, value, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
