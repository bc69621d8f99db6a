"""core/ stays headless; replay and the headless run never load textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_importing_core_loads_neither_ui_nor_storage():
    mods = loaded_after("import core, core.engine, core.session, core.replay, core.build, core.market.sim, core.risk.metrics")
    assert not mods & {"textual", "rich", "click", "storage", "console", "sqlite_utils"}


def test_replay_command_loads_no_textual():
    mods = loaded_after("import console.cli, console.replay_cmd, storage")
    assert "textual" not in mods


def test_no_core_module_imports_ui_or_storage_by_source():
    bad = []
    for path in (ROOT / "core").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1 and \
                    words[1].split(".")[0] in {"textual", "rich", "console", "storage", "sqlite_utils", "click"}:
                bad.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert bad == []
