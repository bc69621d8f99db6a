"""The README's quick start is two commands, ./run and ./test, and CI runs the
README's test command (issue 22). The set-up they share (scripts/bootstrap.py)
is checked here without installing anything: its stamp key and its fast path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bootstrap  # noqa: E402


def quick_start() -> list[str]:
    """The commands of the README's first sh block under 'Set up, run, test'."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Set up, run, test"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block in the README's set-up section"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_that_exist_and_run() -> None:
    commands = quick_start()
    assert commands == ["./run", "./test"]
    for command in commands:
        path = ROOT / command
        assert path.is_file() and os.access(path, os.X_OK), f"{command} missing or not executable"
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "scripts/bootstrap.py" in text
    assert 'exec "$root/.venv/bin/console" run "$@"' in (ROOT / "run").read_text()
    assert '-m pytest "$@"' in (ROOT / "test").read_text()


def test_ci_calls_the_readme_test_command() -> None:
    test_command = quick_start()[1]
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    lines = [ln.strip() for ln in ci.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    # the plain command, and the same with the hot path interpreted
    assert test_command in lines
    assert any(ln.startswith(f"CONSOLE_PURE_PYTHON=1 {test_command}") for ln in lines)
    # and nothing else runs pytest or pip behind the README's back
    assert not any("pytest" in ln or "pip " in ln for ln in lines)


def fake_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "core").mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, root / name)
    for src in re.findall(r'"(core/[\w/]+\.py)"', (ROOT / "setup.py").read_text()):
        shutil.copy(ROOT / src, root / src)
    return root


def test_stamp_key_changes_with_what_the_install_depends_on(tmp_path: Path) -> None:
    root = fake_project(tmp_path)
    key = bootstrap.stamp_key(root, env={})
    assert key == bootstrap.stamp_key(root, env={"CONSOLE_NO_COMPILE": "0"})
    assert key != bootstrap.stamp_key(root, env={"CONSOLE_NO_COMPILE": "1"})
    for name in ("pyproject.toml", "setup.py", "core/engine.py", "core/gate.py"):
        path = root / name
        before = path.read_bytes()
        path.write_bytes(before + b"\n# changed\n")
        assert bootstrap.stamp_key(root, env={}) != key, name
        path.write_bytes(before)
        assert bootstrap.stamp_key(root, env={}) == key


def test_set_up_is_skipped_when_the_stamp_matches(tmp_path: Path) -> None:
    """A matching stamp: bootstrap returns at once, silent, without touching pip."""
    root = fake_project(tmp_path)
    (root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.py", root / "scripts" / "bootstrap.py")
    bindir = root / ".venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "CONSOLE_NO_COMPILE"}
    key = subprocess.run([sys.executable, "-c", "import bootstrap, pathlib, sys; "
                          "print(bootstrap.stamp_key(pathlib.Path(sys.argv[1])))", str(root)],
                         cwd=root / "scripts", env=env, capture_output=True, text=True, check=True).stdout
    (root / ".venv" / ".setup-stamp").write_text(key)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(root / "scripts" / "bootstrap.py")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done
    assert time.monotonic() - t0 < 10
    assert not (root / ".venv" / "install.log").exists()


def test_too_old_python_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bootstrap, "MIN_PYTHON", (3, 99))
    monkeypatch.setattr(bootstrap, "install", lambda *a: pytest.fail("must not install"))
    assert bootstrap.main() == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("setup: needs Python 3.99"), err
