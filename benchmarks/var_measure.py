"""What the VaR breaker's measure costs per bar, side by side in one run.

    .venv/bin/python benchmarks/var_measure.py [--bars N] [--repeats R] [--json]

The crossover engine (crossover.py, logging off, one symbol held most of the
time) under each ``breakers.var_measure``, and under the rules of sessions
logged before it (breakers.version 1: NAV-return VaR with the loss drift,
no book VaR at all). Contenders alternate in fresh processes; best of R.
Timed in process CPU time (time.process_time), not wall time, so that other
work on this shared 2-core machine inflates the figures less.
"""

from __future__ import annotations

import argparse
import sys
import time

import _common
from _common import Row, alternate, child, emit, report

MEASURES = {
    "old rules (v1)": {"version": 1, "var_measure": "nav_parametric", "stale_bars": 0, "warn_clear": -1.0,
                       "on_trip": {"daily_loss": "halt", "max_drawdown": "halt", "trailing_loss": "halt",
                                   "var_limit": "halt"}},
    "historical": {"var_measure": "historical"},
    "parametric": {"var_measure": "parametric"},
    "monte_carlo": {"var_measure": "monte_carlo"},
}


def child_main(name: str, n: int) -> None:
    import crossover
    from core.build import build_engine
    from core.config import config_from_dict

    cfg = dict(crossover.CONFIG)
    cfg["breakers"] = {**crossover.CONFIG["breakers"], **MEASURES[name]}
    eng = build_engine(config_from_dict(cfg, "var_measure benchmark"), crossover.spec())
    process = eng.process
    elapsed = 0.0
    for evs in crossover.event_chunks(n):
        t = time.process_time()
        for ev in evs:
            process(ev)
        elapsed += time.process_time() - t
    emit({"rate": n / elapsed, "us_per_bar": elapsed / n * 1e6, "orders": eng.orders_accepted})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_main(a.child, a.bars)
        return
    me = str(_common.BENCH / "var_measure.py")
    best = alternate({name: (lambda name=name: child([me, "--child", name, "--bars", str(a.bars)]))
                      for name in MEASURES}, a.repeats)
    base = best["old rules (v1)"]["us_per_bar"]
    rows = [Row(f"var_{name.split()[0]}", f"engine bars/s, var_measure {name}", f"{r['rate']:,.0f}", "-", None,
                None, f"{r['us_per_bar']:.1f} us/bar ({r['us_per_bar'] - base:+.1f} vs old rules)", r)
            for name, r in best.items()]
    report(rows, a.json)


if __name__ == "__main__":
    sys.exit(main())
