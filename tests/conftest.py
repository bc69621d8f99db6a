"""Shared fixtures: engines on fixed inputs, a temp database, the shared data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.build import build_engine
from core.config import EngineConfig
from core.market.spec import InstrumentSpec, MarketSpec

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SPEC = MarketSpec((InstrumentSpec("AAA", "equity", 1.0), InstrumentSpec("BBB", "equity", 1.0)),
                  bar_ms=60_000, bars_per_day=390.0)


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "console.db"
    monkeypatch.setenv("CONSOLE_DB", str(path))
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def make_engine(cfg: EngineConfig | None = None, spec: MarketSpec = SPEC):  # type: ignore[no-untyped-def]
    return build_engine(cfg or EngineConfig(), spec)


def pytest_report_header(config: pytest.Config) -> str:
    from core.build import is_compiled

    pure = os.environ.get("CONSOLE_PURE_PYTHON", "")
    return f"hot path: {'compiled (mypyc)' if is_compiled() else 'interpreted'} (CONSOLE_PURE_PYTHON={pure!r})"


def console(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``console ARGS`` through the real entry point, in this process."""
    from console.cli import main

    argv = sys.argv
    sys.argv = ["console", *args]
    try:
        try:
            main()
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return rc, out, err
