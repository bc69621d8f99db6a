"""Shared data for the signal models' tests: a planted lead-lag market and a
feed that runs a model over closes bar by bar."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.signals.base import SignalModel, SignalOut

DAY = 86_400 * 1_000_000_000  # ns


def lead_lag(n: int, seed: int = 1) -> pd.DataFrame:
    """A's and C's next return are 0.6 x B's return now plus noise: B's return predicts."""
    rng = np.random.default_rng(seed)
    rb = rng.normal(0, 0.01, n)
    r = np.zeros((n, 3))
    r[:, 1] = rb
    r[1:, 0] = 0.6 * rb[:-1] + rng.normal(0, 0.003, n - 1)
    r[1:, 2] = 0.6 * rb[:-1] + rng.normal(0, 0.003, n - 1)
    return pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=np.arange(1, n + 1, dtype=np.int64) * DAY,
                        columns=["A", "B", "C"])


def feed(model: SignalModel, closes: pd.DataFrame) -> list[SignalOut]:
    """Every output of ``model`` fed the closes bar by bar, symbol by symbol."""
    out: list[SignalOut] = []
    for ts, row in zip(closes.index, closes.to_numpy()):
        for sym, c in zip(closes.columns, row):
            out.extend(model.on_bar(int(ts), str(sym), float(c)))
    return out
