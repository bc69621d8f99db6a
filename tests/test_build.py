"""The mypyc build and the pure-Python switch."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]


def test_compiled_module_list_matches_setup_py():
    tree = ast.parse((ROOT / "setup.py").read_text())
    hot = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "HOT")  # type: ignore[attr-defined]
    files = [ast.literal_eval(e) for e in hot.elts]  # type: ignore[attr-defined]
    assert [f[:-3].replace("/", ".") for f in files] == list(core.COMPILED)


def test_pure_python_switch_loads_every_hot_module_from_source():
    code = ("import importlib, core\n"
            "mods=[importlib.import_module(m) for m in core.COMPILED]\n"
            "print(all(m.__file__.endswith('.py') for m in mods))")
    env = dict(os.environ, CONSOLE_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "True", out.stderr


def test_doctor_and_version_say_which_hot_path_is_loaded():
    env = dict(os.environ, CONSOLE_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-m", "console.cli", "--version"], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    assert "interpreted" in out.stdout


def test_the_compiled_modules_type_check_without_numpy_as_the_isolated_build_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """pip builds the mypyc extensions in an isolated environment holding
    setuptools, wheel and mypy but not numpy: mypy must type-check the hot
    modules there (the engine reaches numpy code only through lazy imports
    that pyproject's overrides tell mypy not to follow). --no-site-packages
    stands in for that environment; a stale .mypy_cache once hid it."""
    hot = [f"{m.replace('.', '/')}.py" for m in core.COMPILED]
    assert "core/engine.py" in hot
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-site-packages", "--cache-dir", str(tmp_path), *hot],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
