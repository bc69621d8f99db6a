"""Cost of the drl agent: PPO training seconds, and its bar-close time for 20 symbols.

    .venv/bin/python benchmarks/rl_train.py [--steps N] [--bars N] [--json] [--csv PATH]

Training: ``core.signals.drl_env.train`` (what ``console models train-rl``
runs) with its default params but ``--steps``, on ``--bars`` synthetic daily
OHLCV bars of one symbol (a seeded random walk, 1% daily sd), one torch
thread, in a fresh process; the seconds exclude imports. Bar close: the
trained policy loaded as the ``drl`` model, fed 300 bars of 20 symbols, one
``on_bar_ohlcv`` call per symbol (each answers for its symbol): the 20 calls
of one bar close, median and worst. Targets: training at least 200 steps a
second; a bar close <= 5 ms for 20 symbols (the other models' target).

``--csv PATH`` writes the synthetic bars as a Date,Open,High,Low,Close,Volume
file instead (nothing timed), something to try ``console models train-rl PATH`` on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import _common  # noqa: E402
from _common import Row, child, emit  # noqa: E402

SYMBOLS = 20
LIVE_BARS = 300
STEPS_TARGET = 200.0  # steps a second
BAR_TARGET_MS = 5.0


def ohlcv(n: int, seed: int = 11, symbol: str = "SYN") -> Any:
    import numpy as np

    from core.signals.drl_env import Bars

    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n)))
    o = c * np.exp(rng.normal(0, 0.003, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    v = np.round(rng.lognormal(15, 0.3, n))
    ts = (1_577_836_800_000 + 86_400_000 * np.arange(n)).astype(np.int64)
    return Bars(symbol, ts, o, h, low, c, v)


def write_csv(path: str, bars: Any) -> None:
    import pandas as pd

    dates = pd.to_datetime(bars.ts, unit="ms").strftime("%Y-%m-%d")
    pd.DataFrame({"Date": dates, "Open": bars.open.round(4), "High": bars.high.round(4), "Low": bars.low.round(4),
                  "Close": bars.close.round(4), "Volume": bars.volume}).to_csv(path, index=False)


def child_main(steps: int, n_bars: int) -> None:
    import pandas as pd

    from core.signals.drl import DRLModel
    from core.signals.drl_env import train

    data = ohlcv(n_bars)
    t = time.perf_counter()
    blob, sha, meta, seconds = train([data], params={"steps": steps, "seed": 0})
    wall = time.perf_counter() - t
    path = Path(tempfile.mkdtemp()) / "bench.drl.pt"
    path.write_bytes(blob)
    model = DRLModel({"seed": 0, "policy": str(path)})
    live = [ohlcv(60 + LIVE_BARS, seed=100 + i, symbol=f"S{i:02d}") for i in range(SYMBOLS)]
    model.fit(pd.DataFrame({b.symbol: b.close[:60] for b in live}, index=pd.Index(live[0].ts[:60] * 1_000_000)))
    per_bar: list[float] = []
    cpu = 0.0
    outs = 0
    for k in range(60 - 21, 60 + LIVE_BARS):  # the first 21 fill the state window (as the hub primes it), untimed
        t, c0 = time.perf_counter(), time.process_time()
        for b in live:
            outs += len(model.on_bar_ohlcv(int(b.ts[k]) * 1_000_000, b.symbol, b.open[k], b.high[k], b.low[k],
                                           b.close[k], b.volume[k]))
        if k >= 60:
            per_bar.append((time.perf_counter() - t) * 1000.0)
            cpu += time.process_time() - c0
    emit({"steps": steps, "seconds": seconds, "wall_s": wall, "steps_per_s": steps / seconds, "bars": n_bars,
          "holdout": {k: v for k, v in meta["metrics"].items()}, "median_ms": statistics.median(per_bar),
          "max_ms": max(per_bar), "cpu_ms": cpu * 1000.0 / len(per_bar), "p95_ms": sorted(per_bar)[int(0.95 * (len(per_bar) - 1))], "views": outs,
          "sha256": sha})


def measure(steps: int, bars: int) -> list[Row]:
    r = child([str(_common.BENCH / "rl_train.py"), "--child", "--steps", str(steps), "--bars", str(bars)])
    return [
        Row("9-drl-train", f"drl PPO training, {steps:,} steps", f"{r['seconds']:.1f} s",
            f">= {STEPS_TARGET:g} steps/s", r["steps_per_s"] >= STEPS_TARGET, r["steps_per_s"] / STEPS_TARGET,
            f"{r['steps_per_s']:.0f} steps/s on {bars:,} daily bars, one thread; held-out Sharpe "
            f"{r['holdout'].get('holdout_sharpe', float('nan')):.2f} net of costs", r),
        Row("9-drl", f"drl bar close, {SYMBOLS} symbols", f"{r['median_ms']:.2f} ms", f"<= {BAR_TARGET_MS:g} ms",
            r["median_ms"] <= BAR_TARGET_MS, BAR_TARGET_MS / r["median_ms"],
            f"median over {LIVE_BARS} bars; p95 {r['p95_ms']:.2f} ms, worst {r['max_ms']:.2f} ms; "
            f"mean process CPU {r['cpu_ms']:.2f} ms a bar close; "
            f"{r['views']:,} views", r),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--bars", type=int, default=1_000)
    ap.add_argument("--csv", default=None, metavar="PATH", help="write the synthetic bars to this CSV instead of timing")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.steps, a.bars)
        return
    if a.csv:
        write_csv(a.csv, ohlcv(a.bars))
        print(f"wrote {a.bars:,} bars to {a.csv}")
        return
    _common.report(measure(a.steps, a.bars), a.json)


if __name__ == "__main__":
    main()
