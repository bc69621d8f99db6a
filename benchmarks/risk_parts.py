"""Where a bar's time goes: the crossover benchmark's engine (logging off)
with the per-bar risk parts switched off one at a time, in one run.

    .venv/bin/python benchmarks/risk_parts.py [--bars N]

Variants: default (historical book VaR + Monte Carlo every risk.mc_every bars,
the display figures every 10th bar as at speed), the display figures every bar
(risk.figures_every = 1: the same decisions), no Monte Carlo, parametric book
VaR, and parametric with no Monte Carlo. The differences between the rows are
what each part costs a bar (the decisions differ between the last three and
the first two: this measures cost, not behaviour). The variants alternate,
best of --repeats.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import crossover  # noqa: E402

VARIANTS = {
    "default": {},
    "figures every bar": {"risk": {"figures_every": 1}},
    "no Monte Carlo": {"risk": {"mc_every": 10**9}},
    "parametric VaR": {"breakers": {"var_measure": "parametric"}},
    "parametric, no MC": {"breakers": {"var_measure": "parametric"}, "risk": {"mc_every": 10**9}},
}


def main() -> int:
    from core.build import build_engine, is_compiled
    from core.config import config_from_dict

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    n = a.bars
    evs = next(crossover.event_chunks(n))
    print(f"{n:,} bars, {'compiled' if is_compiled() else 'interpreted'}, best of {a.repeats}")
    best: dict[str, float] = {}
    for _ in range(a.repeats):
        for name, extra in VARIANTS.items():
            cfg = copy.deepcopy(crossover.CONFIG)
            for section, values in extra.items():
                cfg.setdefault(section, {}).update(values)
            eng = build_engine(config_from_dict(cfg, "risk_parts"), crossover.spec())
            t = time.perf_counter()
            for e in evs:
                eng.process(e)
            dt = time.perf_counter() - t
            best[name] = min(best.get(name, dt), dt)
    for name, dt in best.items():
        print(f"  {name:20s} {n / dt:10,.0f} bars/s  {dt / n * 1e6:6.1f} us/bar")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
