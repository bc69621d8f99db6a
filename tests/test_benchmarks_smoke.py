"""The benchmark scripts run (tiny sizes): CI exercises them, figures are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_suite(*args: str, timeout: float) -> dict:  # type: ignore[type-arg]
    env = dict(os.environ, OMP_NUM_THREADS="1", CONSOLE_BENCH_NO_REEXEC="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), *args, "--json", "-"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout[proc.stdout.index('{\n "meta"'):])  # type: ignore[no-any-return]


def test_smoke_run_of_engine_and_replay_prints_rows_and_json() -> None:
    doc = run_suite("--smoke", "--only", "engine,replay", timeout=120)
    rows = {r["key"]: r for r in doc["rows"]}
    assert set(rows) == {"1", "7"}
    # the crossover made exactly the reference number of orders, and replay verified
    assert rows["1"]["data"]["ours"]["orders"] == rows["1"]["data"]["reference_orders"]
    assert rows["7"]["data"]["verified"] is True
    assert doc["meta"]["command"].startswith("benchmarks/run.py --smoke")


@pytest.mark.slow
def test_smoke_run_of_every_benchmark() -> None:
    doc = run_suite("--smoke", timeout=900)
    assert all(r["figure"] != "error" for r in doc["rows"]), [r["detail"] for r in doc["rows"]]


def test_file_memory_benchmark_reads_a_generated_file() -> None:
    """benchmarks/file_memory.py at 1 MB (the README's figures are at 200 MB)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "file_memory.py"), "--mb", "1", "--json"],
                          cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(proc.stdout)
    assert row["key"] == "19.6" and row["data"]["bars"] > 10_000 and row["data"]["events"] > 2 * row["data"]["bars"]
    assert row["data"]["rss_mb"] >= row["data"]["import_rss_mb"]
