"""The garbage collector's pauses in a real session: every collection timed.

    .venv/bin/python benchmarks/gc_pauses.py [--untuned] -- CONSOLE_RUN_ARGS...

For example, the 20-name S&P file with the default config, tuned and untuned side by side:

    .venv/bin/python benchmarks/gc_pauses.py -- --headless \\
        --data ../shared/data/skfolio/sp500_dataset.csv --seed 11 --db /tmp/gc1.db &
    .venv/bin/python benchmarks/gc_pauses.py --untuned -- --headless \\
        --data ../shared/data/skfolio/sp500_dataset.csv --seed 11 --db /tmp/gc2.db

Runs ``console run CONSOLE_RUN_ARGS`` in this process with a ``gc.callbacks``
hook that times each collection, and prints, per generation, how many there
were, their total, median and longest: the whole process's, so the
collections of the set-up (imports, the data, the models) count too. ``--untuned`` runs the session without
what ``core.session.Session.run`` does to the collector (``gc.freeze`` of what
exists at the start, the youngest generation every ``GC_GEN0`` allocations):
the before of that change. The session itself is the same either way (compare
the logs' event rows).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--untuned", action="store_true",
                    help="leave the collector as Python sets it (no freeze, threshold 700)")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="console run's arguments, after --")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    if a.untuned:
        gc.freeze = lambda: None
        gc.unfreeze = lambda: None
        gc.set_threshold = lambda *_: None
    started: dict[int, float] = {}
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def timed(phase: str, info: dict[str, int]) -> None:
        g = info["generation"]
        if phase == "start":
            started[g] = time.perf_counter()
        elif g in started:
            pauses[g].append(time.perf_counter() - started.pop(g))

    def report() -> None:
        label = "untuned" if a.untuned else "tuned (as Session.run)"
        print(f"collector pauses, {label}:", file=sys.stderr)
        for g, p in pauses.items():
            if p:
                p.sort()
                print(f"  generation {g}: {len(p):,} collections, {sum(p):.3f} s in all, "
                      f"median {p[len(p) // 2] * 1e3:.2f} ms, longest {p[-1] * 1e3:.1f} ms", file=sys.stderr)

    gc.callbacks.append(timed)
    atexit.register(report)
    from console.cli import main as console_main

    sys.argv = ["console", "run", *args]
    console_main()


if __name__ == "__main__":
    main()
