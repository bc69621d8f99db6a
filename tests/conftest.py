"""Shared fixtures: engines on fixed inputs, a temp database, the shared data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.build import build_engine
from core.config import EngineConfig
from core.market.spec import InstrumentSpec, MarketSpec
from core.session import MemorySink

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


ROOT = Path(__file__).resolve().parents[1]
# rejections (a tight position limit) and a breaker trip that halts (a tight drawdown limit)
# the drawdown trip halts (rather than flattens) so that the log has a HALT to report and export
TIGHT_CONFIG = ("[limits]\nmax_position_fraction = 0.08\n[breakers]\nmax_drawdown = 0.0006\n"
                "[breakers.on_trip]\nmax_drawdown = \"halt\"\n")


def run_cli(*args: str, db: Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """``console ARGS`` in a subprocess against ``db`` (extra environment in ``env``)."""
    full = dict(os.environ, CONSOLE_DB=str(db), **env)
    return subprocess.run([sys.executable, "-m", "console.cli", *args], env=full, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="session")
def tight_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One logged headless session (15k inputs, seed 5, TIGHT_CONFIG), shared
    read-only by the export and report tests: (database, session id)."""
    d = tmp_path_factory.mktemp("tight")
    (d / "tight.toml").write_text(TIGHT_CONFIG)
    res = run_cli("run", "--headless", "--events", "15000", "--seed", "5", "--config", str(d / "tight.toml"),
                  db=d / "t.db")
    assert res.returncode == 0, res.stderr
    return d / "t.db", res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def ray_local():  # type: ignore[no-untyped-def]
    """One local 2-CPU Ray for the whole test session (the sweep and the
    walk-forward tests share it); shut down (its processes gone) after."""
    ray = pytest.importorskip("ray")
    from console.sweep import start_ray

    started = start_ray(None, 2)
    yield ray
    if started:
        ray.shutdown()


class FlushSink(MemorySink):
    """Remembers how far each flush reached (what a LogWriter would have committed)."""

    def __init__(self) -> None:
        super().__init__()
        self.durable = 0

    def flush(self) -> None:
        super().flush()
        self.durable = len(self.rows)
