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
}


class LazyGroup(click.Group):
    """A click group whose extra commands are imported only when invoked or listed in --help."""

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
