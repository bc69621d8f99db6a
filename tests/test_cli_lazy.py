"""Subcommands load on first use: ``console --help`` and ``console run`` pay
for neither scipy, scikit-learn nor torch, and every listed command exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from console.commands import LAZY, SHORT_HELP

ROOT = Path(__file__).resolve().parents[1]


def test_every_lazy_command_imports_and_has_its_listed_help() -> None:
    import importlib

    assert set(SHORT_HELP) == set(LAZY)
    for name, target in LAZY.items():
        module, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command), name
        assert cmd.help, f"{name} has no help text"


def test_help_lists_every_command_without_importing_heavy_libraries() -> None:
    code = ("import sys\nfrom console.cli import cli\n"
            "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print('MODS', ' '.join(m for m in ('scipy', 'sklearn', 'torch', 'statsmodels', 'textual') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for name in LAZY:
        assert f"  {name} " in out
    assert out.strip().splitlines()[-1] == "MODS"
