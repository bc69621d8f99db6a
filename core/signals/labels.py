"""Triple-barrier labels (Lopez de Prado, AFML ch. 3), shared by every supervised model.

Conventions: returns are simple fractions; the volatility that sets the
barriers is the sample sd (ddof=1) of the ``vol_window`` returns up to t
(known at t); the label looks forward h bars (it is a target, never a feature).
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]


def triple_barrier_labels(closes: pd.Series | pd.DataFrame, k: float, h: int, vol_window: int = 20,
                          vol: pd.Series | pd.DataFrame | None = None) -> pd.Series | pd.DataFrame:
    """Triple-barrier label at every bar: +1, -1 or 0, NaN where unknown.

    From the close at t, the upper barrier is a return of +k*vol_t, the lower
    one -k*vol_t, the vertical one h bars later. The label is +1 if the
    cumulative return from t touches (>=) the upper barrier first, -1 if it
    touches (<=) the lower one first, 0 if neither is touched within h bars.
    ``vol_t`` is the sample sd (ddof=1) of the ``vol_window`` returns up to t
    (per bar, known at t), or the given ``vol`` (fractions). NaN where vol_t
    is undefined, or where fewer than h bars follow t and no barrier was hit."""
    if isinstance(closes, pd.DataFrame):
        return pd.DataFrame({c: triple_barrier_labels(closes[c], k, h, vol_window,
                                                      None if vol is None else vol[c])
                             for c in closes.columns}, index=closes.index)
    if h < 1 or not (k > 0):
        raise ValueError(f"triple_barrier_labels: need h >= 1 and k > 0 (got h={h}, k={k})")
    c = closes.to_numpy(dtype=np.float64)
    if vol is None:
        sd = closes.pct_change().rolling(vol_window, min_periods=vol_window).std(ddof=1)
        width = k * sd.to_numpy(dtype=np.float64)
    else:
        width = k * np.asarray(vol, dtype=np.float64)
    n = len(c)
    label = np.full(n, np.nan)
    open_ = np.isfinite(width) & (width > 0)
    for j in range(1, h + 1):
        path = np.full(n, np.nan)
        path[: n - j] = c[j:] / c[: n - j] - 1.0
        up = open_ & (path >= width)
        down = open_ & (path <= -width)
        label[up] = 1.0
        label[down] = -1.0
        open_ &= ~(up | down)
    label[open_ & (np.arange(n) + h <= n - 1)] = 0.0
    return pd.Series(label, index=closes.index, name=closes.name)
