"""Engine loop throughput, compiled (mypyc) against interpreted, in one run.

    .venv/bin/python benchmarks/engine_loop.py [--events N] [--repeats R]

Both modes replay the same pre-generated simulator inputs through the engine
(no logging), each in its own subprocess, alternating, and report the best of
R runs, so a noisy shared machine hurts both alike. Prints inputs/s for each
and the ratio (target: compiled >= 5x interpreted). ``measure()`` is what
benchmarks/run.py calls.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
from core.build import build_engine, is_compiled
from core.config import EngineConfig
from core.market.sim import Simulator
n = int(sys.argv[1])
sim = Simulator(seed=1)
evs = [e for _, e in zip(range(n), sim)]
eng = build_engine(EngineConfig(), sim.spec)
process = eng.process
t = time.perf_counter()
for ev in evs:
    process(ev)
dt = time.perf_counter() - t
print(json.dumps({"compiled": is_compiled(), "rate": n / dt, "seq": eng.seq}))
"""


def run(n: int, pure: bool) -> dict[str, float]:
    env = dict(os.environ, CONSOLE_PURE_PYTHON="1" if pure else "0", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


TARGET = 5.0


def measure(events: int, repeats: int) -> list:  # type: ignore[type-arg]
    from _common import Row

    best = {False: 0.0, True: 0.0}
    seqs = set()
    compiled = True
    for _ in range(repeats):
        for pure in (False, True):
            r = run(events, pure)
            compiled = compiled and (pure or bool(r["compiled"]))
            best[pure] = max(best[pure], r["rate"])
            seqs.add(r["seq"])
    ratio = best[False] / best[True]
    detail = (f"{events:,} simulator inputs, best of {repeats}: compiled {best[False]:,.0f} inputs/s, "
              f"interpreted {best[True]:,.0f} inputs/s; same decisions: {'yes' if len(seqs) == 1 else 'NO'}")
    if not compiled:
        detail += "; THE COMPILED BUILD IS NOT INSTALLED (both ran interpreted)"
    return [Row("3", "compiled vs interpreted engine loop", f"{ratio:.2f}x", f">= {TARGET:.0f}x",
                ratio >= TARGET and compiled and len(seqs) == 1, ratio / TARGET, detail,
                {"compiled": best[False], "interpreted": best[True], "same_decisions": len(seqs) == 1})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    best = {False: 0.0, True: 0.0}
    seqs = set()
    for _ in range(a.repeats):
        for pure in (False, True):
            r = run(a.events, pure)
            if not pure and not r["compiled"]:
                sys.exit("the compiled build is not installed: run pip install -e '.[dev]'")
            best[pure] = max(best[pure], r["rate"])
            seqs.add(r["seq"])
    print(f"inputs          {a.events:,} simulator events, best of {a.repeats}")
    print(f"compiled        {best[False]:,.0f} inputs/s")
    print(f"interpreted     {best[True]:,.0f} inputs/s")
    print(f"ratio           {best[False] / best[True]:.2f}x")
    print(f"same decisions  {'yes' if len(seqs) == 1 else 'NO: ' + str(seqs)}")


if __name__ == "__main__":
    main()
