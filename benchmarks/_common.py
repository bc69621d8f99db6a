"""Shared plumbing for the benchmark scripts: child processes, best-of-N with
alternation, result rows.

A shared, noisy machine hurts whichever contender runs during a burst, so every
comparison runs its contenders in turn (A B A B ...) in fresh processes and
keeps each one's best run; figures from one invocation are comparable, figures
across invocations less so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One line of the summary table. ``ratio`` is figure / target for
    higher-is-better targets and target / figure for lower-is-better ones, so
    >= 1 always means the target is met."""

    key: str
    what: str
    figure: str
    target: str
    met: bool | None
    ratio: float | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inherited_pure() -> bool:
    """CONSOLE_PURE_PYTHON=1 on the suite applies to every child (the
    compiled-vs-interpreted benchmark sets it per child itself)."""
    return os.environ.get("CONSOLE_PURE_PYTHON", "") not in ("", "0")


def env(pure: bool | None = None, **extra: str) -> dict[str, str]:
    pure = inherited_pure() if pure is None else pure
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
             CONSOLE_PURE_PYTHON="1" if pure else "0")
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.update(extra)
    return e


def child(args: Sequence[str], *, pure: bool | None = None, python: str | None = None,
          timeout: float = 900, **extra: str) -> dict[str, Any]:
    """Run ``python args...`` and parse the JSON object on its last stdout line."""
    proc = subprocess.run([python or sys.executable, *args], env=env(pure, **extra), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise RuntimeError(f"{' '.join(args[:3])} failed (rc {proc.returncode}): " + " | ".join(tail))
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def alternate(contenders: dict[str, Callable[[], dict[str, Any]]], repeats: int,
              key: str = "rate", higher: bool = True) -> dict[str, dict[str, Any]]:
    """Run each contender ``repeats`` times in turn; keep each one's best result
    (by ``key``), with every run's figure under ``runs``."""
    best: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            r = fn()
            runs[name].append(float(r[key]))
            b = best.get(name)
            if b is None or (r[key] > b[key] if higher else r[key] < b[key]):
                best[name] = r
    for name in best:
        best[name]["runs"] = runs[name]
    return best


def peak_rss_mb() -> float:
    """This process's peak resident set size, MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}/s"


def emit(obj: dict[str, Any]) -> None:
    """A child's answer: one JSON line on stdout."""
    print(json.dumps(obj), flush=True)


def print_rows(rows: Sequence[Row]) -> None:
    for r in rows:
        met = "n/a" if r.met is None else ("yes" if r.met else "NO")
        ratio = "" if r.ratio is None else f"  ({r.ratio:.2f}x of target)"
        print(f"[{r.key}] {r.what}: {r.figure}  target {r.target}  met {met}{ratio}")
        if r.detail:
            print(f"      {r.detail}")


def report(rows: Sequence[Row], as_json: bool) -> None:
    """A benchmark's rows: JSON (for run.py and scripts) or the summary table."""
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=1))
    else:
        print_rows(rows)
