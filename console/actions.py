"""Operator actions for the console app: keys and palette end here.

Each action only *sends* a command with ``session.submit``; the engine applies
it at its next event boundary and logs it. The reason names where the command
came from ("operator key h", "operator palette") so the log says who did what.
``check_action`` reads ``session.latest`` (not the possibly paused view) so a
frozen view never greys out a key the real state allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from textual.app import App

from console.alerts import AlertTracker
from console.palette import OPERATOR_ACTIONS
from console.panes.breakers import in_unit
from console.panes.common import money, open_positions
from console.panes.log import LogPane
from console.screens import (AlertsScreen, ConfirmScreen, HelpScreen, ReasonScreen, ResetBreakerScreen, Table,
                             TableScreen)
from core.snapshot import Snapshot

TRADING_ACTIONS = {"halt", "resume", "reduce", "flatten", "cancel_all", "reset_breaker",
                   "flatten_symbol", "block_symbol", "set_limit"}
# Commands on one symbol (flatten_symbol, block_symbol, unblock_symbol): the
# symbol travels in ``Command.symbol`` (core/events.py), sent as
# ``session.submit(action, "", reason=..., symbol=SYM)``. Their own action names,
# never "flatten" with a symbol: an engine that ignored the symbol would flatten
# the whole book; one that does not know the name refuses it.


class Session(Protocol):
    """What the console needs from core.session.Session (nothing more)."""

    session_id: str

    @property
    def latest(self) -> Snapshot: ...
    def submit(self, action: str, arg: str = "", reason: str = "") -> None: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...


class OperatorApp(App[None]):
    """The operator half of ConsoleApp: key/palette actions and their guards."""

    session: Session
    view_paused: bool
    console_themes: list[str]
    alerts: AlertTracker
    _applied: Snapshot | None
    _state_key: tuple[object, ...] | None = None

    def apply_snapshot(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def redraw_header(self) -> None:
        raise NotImplementedError

    def refresh_view(self) -> None:
        raise NotImplementedError

    def operate(self, action: str, via: str) -> None:
        """Run an operator action from elsewhere than its key (the palette)."""
        # call_later awaits async actions (quit) as well as running plain ones
        self.call_later(getattr(self, f"action_{action}"), via)

    def _submit(self, action: str, via: str, arg: str = "") -> None:
        if getattr(self.session, "read_only", False):  # console attach --read-only (issue 17)
            self.notify(f"Read-only console: {action} not sent", severity="warning", timeout=5)
        self.session.submit(action, arg, reason=f"operator {via}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in TRADING_ACTIONS:
            return True
        snap = self.session.latest
        if action == "halt":
            return True  # the kill switch is never greyed out, even when finished
        return None if snap.finished or not _sensible(action, snap) else True

    def track_state(self, snap: Snapshot) -> None:
        """Re-evaluate the footer's enabled keys when what they depend on changed."""
        key = (snap.trading_state, bool(open_positions(snap)), bool(snap.open_orders), snap.finished,
               any(b.state == "TRIPPED" for b in snap.breakers))
        if key != self._state_key:
            self._state_key = key
            self.refresh_bindings()

    def action_halt(self, via: str = "key h") -> None:
        sent, self._fast_halt_sent = getattr(self, "_fast_halt_sent", False), False
        if sent and via.startswith("key"):
            return  # the input thread already sent it (console.killswitch)
        self._submit("halt", via)  # no confirmation: a kill switch must not ask

    def on_input_thread_key(self, key: str) -> None:
        """Called on the terminal's input thread for every key, before Textual
        queues it. Sends the halt at once when ``key`` is the halt key and no
        text field (the command palette, the log filter, a reason) is taking
        typing, or when it is the halt-anywhere key (ctrl+g), which no field
        takes as text."""
        if key == self.halt_key("anywhere"):
            pass  # halts whatever has the focus
        elif key != self.halt_key() or self._typing():
            return
        self._fast_halt_sent = True
        self._submit("halt", f"key {key}")

    def halt_key(self, which: str = "plain") -> str:
        """The key bound to the halt (``plain``: ``h``) or to the halt that
        works while typing (``anywhere``: ctrl+g); honours set_keymap."""
        from console.palette import HALT_ANYWHERE_KEY

        for binding in self._bindings.key_to_bindings.values():
            for b in binding:
                if which == "plain" and b.action == "halt":
                    return b.key
                if which == "anywhere" and b.action.startswith("halt("):
                    return b.key
        return "h" if which == "plain" else HALT_ANYWHERE_KEY

    def _typing(self) -> bool:
        """Whether keys are text now (the palette, the log filter, a reason)."""
        from textual.command import CommandPalette
        from textual.widgets import Input

        return isinstance(self.screen, CommandPalette) or isinstance(self.screen.focused, Input)

    def action_resume(self, via: str = "key r") -> None:
        snap = self.session.latest
        tripped = [b.name for b in snap.breakers if b.state == "TRIPPED"]
        lines = [f"Trading is {snap.trading_state}. Breakers:"]
        lines += [f"  {b.name:<19} {b.state:<8} {in_unit(b.value, b.unit)} / {in_unit(b.limit, b.unit)}"
                  for b in snap.breakers]
        if tripped:
            lines.append(f"Tripped breakers will be reset: {', '.join(tripped)}")

        def answered(ok: bool | None) -> None:
            if ok:
                for name in tripped:
                    self._submit("reset_breaker", via, arg=name)
                self._submit("resume", via)

        self.push_screen(ConfirmScreen("Resume trading?", lines, "Resume"), answered)

    def tripped_breakers(self) -> list[str]:
        return [b.name for b in self.session.latest.breakers if b.state == "TRIPPED"]

    def action_reset_breaker(self, via: str = "key b") -> None:
        self.reset_one("", via)

    def reset_one(self, name: str, via: str) -> None:
        """Ask which tripped breaker (``name`` preselected) and why, then send
        ``reset_breaker`` with the typed reason; nothing else changes."""
        tripped = [(b.name, b.reason) for b in self.session.latest.breakers if b.state == "TRIPPED"]
        if not tripped:
            self.notify("no breaker is tripped", timeout=3)
            return

        def answered(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.session.submit("reset_breaker", choice[0], reason=f"operator {via}: {choice[1]}")

        self.push_screen(ResetBreakerScreen(tripped, name), answered)

    def action_reduce(self, via: str = "key x") -> None:
        self._submit("reduce", via)

    def action_flatten(self, via: str = "key f") -> None:
        snap = self.session.latest
        held = open_positions(snap)
        lines = [f"Close {len(held)} position(s) at market:"]
        lines += [f"  {p.symbol:<10} {p.qty:>12,.{0 if float(p.qty).is_integer() else 4}f}  "
                  f"{money(p.market_value):>16}" for p in held]
        self._confirm("Flatten the book?", lines, "Flatten", lambda: self._submit("flatten", via))

    # ------------------------------------------------------------ one symbol

    def takes_symbol(self) -> bool:
        """Whether the session can carry a symbol with a command (its
        ``submit`` takes ``symbol=``); the engine still has to know the action."""
        import inspect

        try:
            return "symbol" in inspect.signature(self.session.submit).parameters
        except (TypeError, ValueError):
            return False

    def cursor_symbol(self) -> str:
        """The position under the Positions pane's cursor ("" when none)."""
        from console.panes.common import KeyedTable

        table = self.query_one("#positions-table", KeyedTable)
        if table.row_count == 0:
            return ""
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or "")

    def submit_symbol(self, action: str, symbol: str, reason: str) -> None:
        if getattr(self.session, "read_only", False):
            self.notify(f"Read-only console: {action} {symbol} not sent", severity="warning", timeout=5)
            return
        self.session.submit(action, "", reason=reason, symbol=symbol)  # type: ignore[call-arg]

    def _symbol_for(self, action: str, symbol: str) -> str:
        """The symbol to act on (given, else the Positions cursor's), or ""
        after saying why nothing can be sent."""
        if not self.takes_symbol():
            self.notify(f"{action}: this engine has no per-symbol commands yet; nothing sent "
                        "(f flattens the whole book)", severity="warning", timeout=8)
            return ""
        symbol = symbol or self.cursor_symbol()
        if not symbol:
            self.notify("no position under the Positions cursor", timeout=4)
        return symbol

    def action_flatten_symbol(self, via: str = "key z", symbol: str = "") -> None:
        """Close one position at market (confirm); the others stay."""
        symbol = self._symbol_for("flatten_symbol", symbol)
        if not symbol:
            return
        pos = next((p for p in open_positions(self.session.latest) if p.symbol == symbol), None)
        if pos is None:
            self.notify(f"no open position in {symbol}", timeout=4)
            return
        lines = [f"Close {symbol} at market: {pos.qty:+,g} units, {money(pos.market_value)}.",
                 "Its open orders are cancelled; every other position stays.",
                 "From HALTED the book first moves to REDUCING (exits only), as f does."]
        self._confirm(f"Flatten {symbol}?", lines, "Flatten",
                      lambda: self.submit_symbol("flatten_symbol", symbol, f"operator {via}"))

    def action_block_symbol(self, via: str = "key k", symbol: str = "") -> None:
        """Block one symbol (a typed reason): the gate refuses any order that
        would grow it; exits pass. Unblock from the palette."""
        self._ask_symbol("block_symbol", via, symbol,
                         ["The gate refuses every order that would grow the position",
                          "(strategy, hedge, operator); orders that shrink it pass.",
                          "Unblock from the palette (ctrl+p: Unblock SYMBOL)."])

    def action_unblock_symbol(self, via: str = "palette", symbol: str = "") -> None:
        self._ask_symbol("unblock_symbol", via, symbol, ["New orders in it are allowed again."])

    def _ask_symbol(self, action: str, via: str, symbol: str, lines: list[str]) -> None:
        symbol = self._symbol_for(action, symbol)
        if not symbol:
            return
        verb = "Block" if action == "block_symbol" else "Unblock"

        def answered(reason: str | None) -> None:
            if reason:
                self.submit_symbol(action, symbol, f"operator {via}: {reason}")

        self.push_screen(ReasonScreen(f"{verb} {symbol}", lines, f"{verb} {symbol}"), answered)

    def symbol_commands(self) -> list[tuple[str, str, str, str]]:
        """(title, action, symbol, help) for the palette: Flatten SYM per open
        position, Block SYM per symbol the book knows, Unblock SYM per blocked one."""
        snap = self.session.latest
        if snap.finished or not self.takes_symbol():
            return []
        blocked = set(snap.blocked)
        known = sorted({p.symbol for p in snap.positions} | {s.symbol for s in snap.signals if s.symbol != "*"})
        out = [(f"Flatten {p.symbol}", "flatten_symbol", p.symbol, "Close this one position at market (confirm)")
               for p in open_positions(snap)]
        out += [(f"Block {s}", "block_symbol", s, "No order may grow it; exits pass (typed reason)")
                for s in known if s not in blocked]
        out += [(f"Unblock {s}", "unblock_symbol", s, "Allow orders in it again (typed reason)")
                for s in sorted(blocked)]
        return out

    def on_symbol(self, action: str, symbol: str) -> None:
        self.call_later(getattr(self, f"action_{action}"), "palette", symbol)

    # ------------------------------------------------------------ limits

    def action_set_limit(self, via: str = "key l") -> None:
        self.set_limit_for("", via)

    def set_limit_for(self, name: str, via: str) -> None:
        """Ask which limit (``name`` preselected), its new value and why, then
        send ``set_limit NAME=VALUE``; the engine logs old -> new, or refuses."""
        from console.limit_screen import SetLimitScreen

        snap = self.session.latest
        if not snap.limits:
            self.notify("this engine publishes no settable limits; nothing to set", severity="warning", timeout=5)
            return

        def answered(choice: tuple[str, str, str] | None) -> None:
            if choice is not None:
                name, value, reason = choice
                self.send_limit(name, value, f"operator {via}: {reason}")

        self.push_screen(SetLimitScreen(snap.limits, name), answered)

    def send_limit(self, name: str, value: str, reason: str) -> None:
        import inspect

        if getattr(self.session, "read_only", False):
            self.notify(f"Read-only console: set_limit {name} not sent", severity="warning", timeout=5)
            return
        try:  # who: this console's user and process (an attached console's socket names it itself)
            takes_who = "who" in inspect.signature(self.session.submit).parameters
        except (TypeError, ValueError):
            takes_who = False
        if takes_who:
            from console.control import who_am_i

            self.session.submit("set_limit", f"{name}={value}", reason=reason,  # type: ignore[call-arg]
                                who=who_am_i("console"))
        else:
            self.session.submit("set_limit", f"{name}={value}", reason=reason)
        self.notify(f"set_limit {name}={value} sent", timeout=3)

    def limit_commands(self) -> list[tuple[str, str, str]]:
        """(title, limit, help) for the palette: "Set limit NAME" per settable limit."""
        from core.view import limit_text

        snap = self.session.latest
        if snap.finished:
            return []
        return [(f"Set limit {name}", name, f"now {limit_text(name, now)}"
                 + (f" (config {limit_text(name, was)})" if was != now else "") + "; typed value and reason")
                for name, now, was in snap.limits]

    def action_model_heat(self, via: str = "key v") -> None:
        from console.model_heat import ModelHeatScreen

        self.push_screen(ModelHeatScreen(lambda: self.session.latest))

    def action_cancel_all(self, via: str = "key c") -> None:
        self._submit("cancel_all", via)

    def action_toggle_pause(self, via: str = "key p") -> None:
        """Freeze the view only; the engine keeps running and the newest
        snapshot is applied on unpause."""
        self.view_paused = not self.view_paused
        self.screen.set_class(self.view_paused, "-view-paused")
        self.redraw_header()  # the flag says what is frozen
        self.refresh_view()

    def action_next_theme(self, via: str = "key t") -> None:
        names = self.console_themes
        at = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(at + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2)

    def action_explain(self, via: str = "key e") -> None:
        """``e`` with no pane of its own focused: explain the Signals cursor row."""
        from console.panes.signals import SignalsPane

        self.query_one(SignalsPane).action_explain()

    def action_filter_log(self, via: str = "key /") -> None:
        self.query_one(LogPane).action_filter()

    def action_alerts(self, via: str = "key a") -> None:
        self.push_screen(AlertsScreen(self.alerts.history))

    _trade_log: object = None  # console.trades.TradeLog, opened on first use; False: none to open

    def trade_log(self) -> Any:
        """The session's trade log (read from its database), or None."""
        if self._trade_log is None:
            from console.trades import session_trade_log

            try:
                self._trade_log = session_trade_log(self.session) or False
            except Exception as exc:  # a database that cannot be opened: say so on the screen
                self.notify(f"cannot open the session log: {exc}", severity="warning", timeout=6)
                self._trade_log = False
        return self._trade_log or None

    def driver(self) -> tuple[str, tuple[str, ...]]:
        """What sets positions (strategy.signal, strategy.books), from the
        session's logged config; the ensemble when there is no log to read."""
        from console.story import DEFAULT_DRIVER

        log = self.trade_log()
        if log is None:
            return DEFAULT_DRIVER
        try:
            return tuple(log.driver)
        except Exception:  # noqa: BLE001 - an unreadable config: the default, not a crash
            return DEFAULT_DRIVER

    def _figures(self, title: str, view: Callable[..., tuple[list[str], list[Table]]],
                 key: str) -> None:
        def build() -> tuple[list[str], list[Table]]:
            try:
                return view(self.trade_log(), self.session.latest)
            except Exception as exc:  # noqa: BLE001 - a damaged log must not kill the console
                return [f"cannot read the session log: {str(exc)[:200]}"], []

        self.push_screen(TableScreen(title, build, close_key=key))

    def action_trades(self, via: str = "key d") -> None:
        from console.ledger import trades_view

        self._figures("Trades (closed round trips)", trades_view, "d")

    def action_attribution(self, via: str = "key m") -> None:
        from console.ledger import attribution_view

        self._figures("P&L attribution", attribution_view, "m")

    def action_help(self, via: str = "key ?") -> None:
        keys = [(a.key_display, a.help) for a in OPERATOR_ACTIONS]
        from console.palette import HALT_ANYWHERE_HELP

        story = ("Enter", "On a position: its story (why, orders, fills, VaR)")
        anywhere = (self.halt_key("anywhere"), HALT_ANYWHERE_HELP)
        self.push_screen(HelpScreen([keys[0], anywhere, *keys[1:], story, ("ctrl+p", "Command palette")]))

    async def action_quit(self, via: str = "key q") -> None:
        if getattr(self.session, "detachable", False):  # the engine runs on its own (issue 17)
            from console.quit_screen import ask_stop_or_detach

            ask_stop_or_detach(self)
            return
        snap = self.session.latest
        held = open_positions(snap)
        if not held:
            self.shutdown()
            return
        lines = [f"{len(held)} position(s) are open; quitting stops the session",
                 "with them open (they are not flattened)."]
        self._confirm("Quit with open positions?", lines, "Quit", self.shutdown)

    def shutdown(self) -> None:
        """Ask the engine to stop, then exit; the CLI closes the log afterwards."""
        self.session.stop()
        self.exit()

    def _confirm(self, title: str, lines: list[str], label: str,
                 then: Callable[[], None]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(title, lines, label), answered)


def _sensible(action: str, snap: Snapshot) -> bool:
    """Whether ``action`` would change anything in the state ``snap`` shows."""
    if action == "resume":
        return snap.trading_state != "ACTIVE"
    if action == "reduce":  # from HALTED too: loosen a halt to reduce-only
        return snap.trading_state != "REDUCING"
    if action == "flatten":
        return bool(open_positions(snap))
    if action == "reset_breaker":
        return any(b.state == "TRIPPED" for b in snap.breakers)
    if action == "flatten_symbol":
        return bool(open_positions(snap))
    if action in ("block_symbol", "set_limit"):
        return True
    return bool(snap.open_orders)  # cancel_all
