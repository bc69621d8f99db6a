"""Bar-close cost of the signal models across 20 symbols.

    .venv/bin/python benchmarks/signals_bar.py [--bars N] [--models a,b] [--fit-bars N] [--json]

Each of HMM regimes (core.signals.hmm), the random forest (core.signals.forest),
the LSTM (core.signals.lstm), the CNN and the Transformer (core.signals.nets)
and the online SGD model (core.signals.online, which also learns one
partial_fit per bar) is fitted once, with its default params, on
600 (--fit-bars) synthetic one-minute bars of 20 correlated symbols, then fed N further
bar closes: one ``on_bar`` call per symbol per bar (the cross-sectional models
answer for all 20 once the last symbol's bar arrives). Timed: the 20 calls of
one bar close, median and worst over N bars (one thread: OMP/torch at 1).
Target: each model <= 5 ms per bar close for 20 symbols. Also reported: the fit
(imports warmed first: a session's first fit pays them once) and one
``explain`` after the last bar (SHAP values for all 20 symbols).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import _common  # noqa: E402
from _common import Row, child, emit  # noqa: E402

TARGET_MS = 5.0
SYMBOLS = 20
FIT_BARS = 600
MODELS = ("hmm", "forest", "lstm", "cnn", "transformer", "sgd")


def closes(n: int, seed: int = 11) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.0008, size=(n, 1))
    rets = common + rng.normal(0, 0.001, size=(n, SYMBOLS))
    prices = 100.0 * np.exp(np.cumsum(rets, axis=0))
    ts = (1_767_571_200_000 + 60_000 * np.arange(1, n + 1)) * 1_000_000
    return pd.DataFrame(prices, index=pd.Index(ts, dtype="int64"), columns=[f"S{i:02d}" for i in range(SYMBOLS)])


def warm_imports(name: str) -> None:
    """Import what a fit imports lazily, so fit_s is a refit's cost: a session's
    first fit pays these once (shap about 3-5 s, torch's deterministic mode,
    which loads torch._inductor, about 4 s, on this machine)."""
    if name in ("forest", "lstm", "cnn", "transformer"):
        import shap  # noqa: F401
    if name in ("lstm", "cnn", "transformer"):
        import torch

        torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())


def child_main(name: str, bars: int, fit_bars: int = FIT_BARS) -> None:
    from core.signals.base import load_all

    frame = closes(fit_bars + bars)
    model = load_all()[name]({"seed": 0})
    warm_imports(name)
    t = time.perf_counter()
    model.fit(frame.iloc[:fit_bars])
    fit_s = time.perf_counter() - t
    live = frame.iloc[fit_bars:]
    cols = list(live.columns)
    per_bar: list[float] = []
    outs = 0
    for ts, row in zip(live.index.tolist(), live.to_numpy().tolist()):
        t = time.perf_counter()
        for sym, c in zip(cols, row):
            outs += len(model.on_bar(int(ts), sym, float(c)))
        per_bar.append((time.perf_counter() - t) * 1000.0)
    t = time.perf_counter()
    explained = len(model.explain(cols[0]))  # the Signals pane's `e`: SHAP values, all symbols of the bar at once
    explain_ms = (time.perf_counter() - t) * 1000.0
    emit({"model": name, "median_ms": statistics.median(per_bar), "max_ms": max(per_bar),
          "p95_ms": sorted(per_bar)[int(0.95 * (len(per_bar) - 1))], "fit_s": fit_s, "signals": outs,
          "explain_ms": explain_ms, "explained": explained})


def measure(bars: int, models: tuple[str, ...] = MODELS, fit_bars: int = FIT_BARS) -> list[Row]:
    rows = []
    for name in models:
        r = child([str(_common.BENCH / "signals_bar.py"), "--child", name, "--bars", str(bars),
                   "--fit-bars", str(fit_bars)])
        rows.append(Row(f"9-{name}", f"{name} bar close, {SYMBOLS} symbols", f"{r['median_ms']:.2f} ms",
                        f"<= {TARGET_MS:g} ms", r["median_ms"] <= TARGET_MS, TARGET_MS / r["median_ms"],
                        f"median over {bars} bars; p95 {r['p95_ms']:.2f} ms, worst {r['max_ms']:.2f} ms; "
                        f"fit {r['fit_s']:.1f} s on {fit_bars} bars; {r['signals']:,} views; "
                        f"explain (SHAP, {SYMBOLS} symbols) {r['explain_ms']:.0f} ms", r))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=300)
    ap.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--fit-bars", type=int, default=FIT_BARS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.child, a.bars, a.fit_bars)
        return
    models = tuple(m.strip() for m in a.models.split(",") if m.strip())
    odd = [m for m in models if m not in MODELS]
    if odd or not models:
        ap.error(f"--models: unknown model {odd[0] if odd else a.models!r}; known: {', '.join(MODELS)}")
    rows = measure(a.bars, models, a.fit_bars)
    _common.report(rows, a.json)


if __name__ == "__main__":
    main()
