"""What the options overlay ([hedge]) costs the engine loop, off against on, in one run.

    .venv/bin/python benchmarks/overlay.py [--events N] [--repeats R]

Both contenders feed the same pre-generated simulator inputs, with a bearish
sentiment view on every open position every 25 bars (so the overlay has
names to insure), through the engine without logging, in fresh processes,
alternating, best of R. Prints inputs/s for each, the ratio, and how many
protective_put decisions the hedged run made.
"""

from __future__ import annotations

import argparse
import sys

from _common import ROOT  # noqa: F401  (puts the repo on sys.path)

CHILD = r"""
import json, sys, time
from core.build import build_engine, is_compiled
from core.config import config_from_dict
from core.events import ModelSignal, ProtectivePut, Timer
from core.market.sim import Simulator
n, protect = int(sys.argv[1]), sys.argv[2] == "1"
sim = Simulator(seed=5)
cfg = config_from_dict({"hedge": {"protect": protect, "flag_models": ["sentiment"]}})
# the views depend on positions, which the hedge does not change (it trades
# no stock), so both contenders see the same inputs: build them once, unhedged
probe = build_engine(config_from_dict({}), sim.spec)
evs, bars = [], 0
for _, ev in zip(range(n), sim):
    evs.append(ev)
    probe.process(ev)
    if isinstance(ev, Timer) and ev.name == "bar":
        bars += 1
        if bars % 25 == 0:
            for sym in list(probe.portfolio.positions):
                v = ModelSignal(ev.ts, sym, "sentiment", -0.8, 0.9, 1.0, 1)
                evs.append(v)
                probe.process(v)
eng = build_engine(cfg, sim.spec)
process = eng.process
puts = 0
t = time.perf_counter()
for ev in evs:
    for e in process(ev):
        if type(e) is ProtectivePut:
            puts += 1
dt = time.perf_counter() - t
print(json.dumps({"compiled": is_compiled(), "rate": len(evs) / dt, "puts": puts}))
"""


def main() -> None:
    import json
    import os
    import subprocess

    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    best = {False: 0.0, True: 0.0}
    puts = 0
    compiled = True
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for _ in range(a.repeats):
        for protect in (False, True):
            out = subprocess.run([sys.executable, "-c", CHILD, str(a.events), "1" if protect else "0"],
                                 env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            r = json.loads(out)
            compiled = compiled and bool(r["compiled"])
            best[protect] = max(best[protect], r["rate"])
            if protect:
                puts = r["puts"]
    print(f"engine loop, {a.events:,} simulator inputs + views, best of {a.repeats} "
          f"({'compiled' if compiled else 'interpreted'}):")
    print(f"  hedge off  {best[False]:>12,.0f} inputs/s")
    print(f"  hedge on   {best[True]:>12,.0f} inputs/s   ({puts} protective_put decisions)")
    print(f"  on / off   {best[True] / best[False]:>12.2f}x")


if __name__ == "__main__":
    main()
