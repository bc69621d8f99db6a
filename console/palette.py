"""The operator actions, once: key bindings, help screen and command palette share them.

``OperatorCommands`` is a command-palette ``Provider`` built from the app's
current state: actions ``check_action`` disables (resume while ACTIVE...) are
not offered. Palette commands reach the engine with reason "operator palette".
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Protocol

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider


class OperatorAction(NamedTuple):
    action: str  # App.action_<action>
    key: str
    key_display: str
    title: str  # palette text
    help: str
    footer: str = ""  # the footer's short label ("" = the title); "-" = not in the footer


# Footer order: the kill switch, trading, the alerts, then view keys; at 100
# columns everything up to Quit fits (Theme is under ? and in the palette).
OPERATOR_ACTIONS: tuple[OperatorAction, ...] = (
    OperatorAction("halt", "h", "h", "Halt", "Halt trading now: no new orders (no confirmation)"),
    OperatorAction("resume", "r", "r", "Resume", "Resume trading (confirm; resets tripped breakers)"),
    OperatorAction("reduce", "x", "x", "Reduce only", "Allow only orders that reduce positions", "Reduce"),
    OperatorAction("flatten", "f", "f", "Flatten", "Close every position at market (confirm)"),
    OperatorAction("cancel_all", "c", "c", "Cancel all", "Cancel every open order", "Cancel"),
    OperatorAction("flatten_symbol", "z", "z", "Flatten one symbol",
                   "Close the position under the Positions cursor (confirm)", "-"),
    OperatorAction("block_symbol", "k", "k", "Block one symbol",
                   "Block the cursor's symbol: exits only (typed reason)", "-"),
    OperatorAction("reset_breaker", "b", "b", "Reset breaker",
                   "Reset one tripped breaker, with a typed reason", "-"),
    OperatorAction("set_limit", "l", "l", "Set a limit",
                   "Change one gate or breaker limit for this session (typed value and reason)", "-"),
    OperatorAction("alerts", "a", "a", "Alerts", "Alert history: each trip and halt, when, why and who"),
    OperatorAction("trades", "d", "d", "Trades", "Closed trades (entry, exit, P&L, held) and the win rate", "-"),
    OperatorAction("attribution", "m", "m", "P&L attribution", "P&L by symbol and by strategy book (model)", "-"),
    OperatorAction("model_heat", "v", "v", "Live vs validation",
                   "Each model's live Sharpe against its validation (backtest) Sharpe, a heatmap", "-"),
    OperatorAction("toggle_pause", "p", "p", "Pause view", "Freeze/unfreeze the view; the engine keeps running",
                   "Pause"),
    OperatorAction("help", "question_mark", "?", "Help", "Show the keys"),
    OperatorAction("quit", "q", "q", "Quit", "Stop the session and quit (confirm with open positions)"),
    OperatorAction("explain", "e", "e", "Explain signal",
                   "Why this signal (the Signals row under the cursor)", "-"),
    OperatorAction("filter_log", "slash", "/", "Filter log", "Filter the log by text or level (Esc clears)", "-"),
    OperatorAction("next_theme", "t", "t", "Theme", "Switch to the next theme", "-"),
)


# The kill switch while typing. ``h`` is a letter in a text box (the log
# filter, a breaker reason, the palette), so a halt key that works from
# anywhere must be one that no box takes as text: ctrl+g (emacs "abort"; no
# terminal or Textual widget gives it a meaning, unlike ctrl+h = backspace in
# some terminals or ctrl+k = Input's delete-to-end). It is a priority
# binding: it fires before the focused box and over every dialog.
HALT_ANYWHERE_KEY = "ctrl+g"
HALT_ANYWHERE_HELP = "Halt from anywhere, even typing in a box (h types)"


def operator_bindings() -> list[BindingType]:
    """Bindings with ids (``console.<action>``) so a keymap can remap them."""
    return [
        *(Binding(a.key, a.action, a.footer or a.title, key_display=a.key_display, tooltip=a.help,
                  id=f"console.{a.action}", show=a.footer != "-")
          for a in OPERATOR_ACTIONS),
        Binding(HALT_ANYWHERE_KEY, f"halt('key {HALT_ANYWHERE_KEY}')", "Halt", key_display="^g",
                tooltip=HALT_ANYWHERE_HELP, id="console.halt_anywhere", show=False, priority=True),
    ]


class _Operable(Protocol):
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None: ...
    def operate(self, action: str, via: str) -> None: ...
    def tripped_breakers(self) -> list[str]: ...
    def reset_one(self, name: str, via: str) -> None: ...
    def symbol_commands(self) -> list[tuple[str, str, str, str]]: ...
    def on_symbol(self, action: str, symbol: str) -> None: ...
    def limit_commands(self) -> list[tuple[str, str, str]]: ...
    def set_limit_for(self, name: str, via: str) -> None: ...


class OperatorCommands(Provider):
    """The operator actions that make sense right now, for the command palette."""

    def _available(self) -> list[OperatorAction]:
        app: _Operable = self.app  # type: ignore[assignment]
        return [a for a in OPERATOR_ACTIONS if app.check_action(a.action, ()) is True]

    def _run(self, action: str) -> partial[None]:
        app: _Operable = self.app  # type: ignore[assignment]
        return partial(app.operate, action, "palette")

    def _commands(self) -> list[tuple[str, partial[None], str]]:
        """(title, run, help) for each action on offer, then one "Reset breaker
        NAME" per tripped breaker."""
        app: _Operable = self.app  # type: ignore[assignment]
        one_symbol = ("reset_breaker", "flatten_symbol", "block_symbol")
        found = [(a.title, self._run(a.action), a.help) for a in self._available() if a.action not in one_symbol]
        found += [(f"Reset breaker {name}", partial(app.reset_one, name, "palette"),
                   f"Reset {name} with a typed reason (trading stays as it is)")
                  for name in app.tripped_breakers()]
        found += [(title, partial(app.on_symbol, action, symbol), help_text)
                  for title, action, symbol, help_text in app.symbol_commands()]
        found += [(title, partial(app.set_limit_for, name, "palette"), help_text)
                  for title, name, help_text in app.limit_commands()]
        return found

    async def discover(self) -> Hits:
        for title, run, help_text in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, run, help_text in self._commands():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, text=title, help=help_text)
