"""Subcommands loaded on first use, so ``console --help`` and ``console run``
never pay for scipy, scikit-learn or torch.

Add a command by naming it here: ``"name": "module.path:attribute"`` where the
attribute is a click command or group.
"""

from __future__ import annotations

import importlib

import click

LAZY: dict[str, str] = {
    "risk": "console.commands.risk:risk",
    "models": "console.commands.models:models",
    "export": "console.export_cmd:export",
    "report": "console.report_cmd:report",
    "options": "console.commands.options:options",
    "prune": "console.commands.prune:prune",
    # a running engine (console/ctl_cmd.py, issue 17)
    "halt": "console.ctl_cmd:halt",
    "resume": "console.ctl_cmd:resume",
    "reduce": "console.ctl_cmd:reduce",
    "flatten": "console.ctl_cmd:flatten",
    "cancel-all": "console.ctl_cmd:cancel_all",
    "reset-breaker": "console.ctl_cmd:reset_breaker",
    "flatten-symbol": "console.ctl_cmd:flatten_symbol",
    "block-symbol": "console.ctl_cmd:block_symbol",
    "unblock-symbol": "console.ctl_cmd:unblock_symbol",
    "stop": "console.ctl_cmd:stop",
    "heartbeat": "console.ctl_cmd:heartbeat",
    "ps": "console.ctl_cmd:ps",
    "attach": "console.ctl_cmd:attach",
    "sweep": "console.sweep:sweep",
    "alerts": "console.alert_cmd:alerts",
    "ack": "console.alert_cmd:ack",
    "set-limit": "console.ctl_cmd:set_limit",  # issue 18
}


# The one-line help ``console --help`` lists, so listing imports nothing heavy
# (a test checks each matches the command's own help).
SHORT_HELP: dict[str, str] = {
    "risk": "One-day VaR, CVaR, drawdown, volatility and Sharpe of a price file.",
    "models": "Walk-forward evaluation of the signal models on a price file.",
    "export": "Write a session's events, orders, fills and equity curve to files.",
    "report": "Equity and drawdown curves and a shareable HTML report of a session.",
    "options": "Black-Scholes-Merton prices, greeks and basket Monte Carlo.",
    "prune": "Delete old sessions and reclaim their space.",
    "halt": "Halt a running engine: cancel working orders, accept none.",
    "resume": "Resume trading on a running engine (refused while a breaker is tripped).",
    "reduce": "Reduce-only on a running engine: orders may only shrink positions.",
    "flatten": "Close every position of a running engine.",
    "cancel-all": "Cancel the working orders of a running engine.",
    "reset-breaker": "Re-arm a tripped circuit breaker of a running engine.",
    "flatten-symbol": "Close one symbol's position of a running engine.",
    "block-symbol": "Block one symbol of a running engine: exits only.",
    "unblock-symbol": "Lift an operator's block on one symbol of a running engine.",
    "stop": "Stop a running engine: the session ends and its log is closed cleanly.",
    "heartbeat": "Tell a running engine someone is watching ([alerts] heartbeat_after: the dead-man rule).",
    "ps": "Engines running in the background: state, NAV, day P&L, uptime, consoles attached.",
    "attach": "The full console on a running engine (several consoles may attach).",
    "alerts": "Alerts raised by engines (newest first): id, when, severity, kind, text, acknowledged by whom.",
    "ack": "Acknowledge alerts: their escalation and the dead-man switch stop (logged: who, when).",
    "sweep": "Parameter sweep: what-if runs of a session's market (or a price file) over a grid, on Ray.",
    "set-limit": "Change one gate or breaker limit of a running engine for this session (logged: who, why).",
}


class LazyGroup(click.Group):
    """A click group whose extra commands are imported only when invoked (--help
    lists them from SHORT_HELP)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY and name not in self.commands:
                rows.append((name, SHORT_HELP.get(name, "")))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - max(len(n) for n in self.list_commands(ctx)))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            module, _, attr = LAZY[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{LAZY[cmd_name]} is not a click command")
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)
