"""Fractional differentiation of log prices (fixed-width window), d chosen by an ADF test.

Conventions (Lopez de Prado, AFML ch. 5):
- ``ffd_weights(d)``: w_0 = 1, w_k = -w_{k-1} (d - k + 1) / k, cut where
  |w_k| < ``thresh`` or at ``max_width`` weights; the series at t is
  sum_k w_k * logp_{t-k}, so it uses prices up to t only (no leakage) and
  is NaN until ``width - 1`` earlier prices exist.
- ``choose_d``: the smallest d on the grid 0, 0.1, ..., 1 for which the ADF
  test (statsmodels ``adfuller``, constant, ``maxlag`` lags, no autolag, so
  the cost is fixed) rejects a unit root at ``alpha`` for every column: the
  least differencing that makes the series stationary, keeping the most
  memory. d = 1 (plain log returns) when none below does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

Array = npt.NDArray[np.float64]
GRID = tuple(round(0.1 * i, 1) for i in range(11))
THRESH = 1e-3
MAX_WIDTH = 60


def ffd_weights(d: float, thresh: float = THRESH, max_width: int = MAX_WIDTH) -> Array:
    """Weights w_0..w_{L-1} (w_0 = 1, applied to the latest price first)."""
    w = [1.0]
    k = 1
    while k < max_width:
        nxt = -w[-1] * (d - k + 1) / k
        if abs(nxt) < thresh:
            break
        w.append(nxt)
        k += 1
    return np.asarray(w, dtype=np.float64)


def frac_diff(logp: Array, d: float, thresh: float = THRESH, max_width: int = MAX_WIDTH) -> Array:
    """Fixed-width fractional difference of ``logp`` (T,) or (T, N); NaN for the first width-1 rows."""
    w = ffd_weights(d, thresh, max_width)
    x = np.asarray(logp, dtype=np.float64)
    squeeze = x.ndim == 1
    x2 = x[:, None] if squeeze else x
    out = np.full_like(x2, np.nan)
    width = len(w)
    if len(x2) >= width:
        win = np.lib.stride_tricks.sliding_window_view(x2, width, axis=0)  # (T-L+1, N, L), oldest first
        out[width - 1:] = win @ w[::-1]
    return out[:, 0] if squeeze else out


def choose_d(logp: Array, alpha: float = 0.05, maxlag: int = 1) -> tuple[float, float]:
    """(d, worst ADF p-value at that d) for the (T, N) log prices ``logp``."""
    from statsmodels.tsa.stattools import adfuller  # type: ignore[import-untyped, unused-ignore]

    x = np.asarray(logp, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    worst = 1.0
    for d in GRID:
        fd = frac_diff(x, d)
        worst = 0.0
        for j in range(x.shape[1]):
            col = fd[:, j]
            col = col[np.isfinite(col)]
            if len(col) < 20 or float(np.std(col)) == 0.0:
                worst = 1.0
                break
            p = float(adfuller(col, maxlag=maxlag, autolag=None, regression="c", result_object=True).pvalue)
            worst = max(worst, p)
            if worst >= alpha:
                break
        if worst < alpha:
            return float(d), worst
    return 1.0, worst


class FracDiffState:
    """The incremental path of ``frac_diff``: one bar of closes in, one row of
    fractionally differentiated log closes out (NaN until width bars are in)."""

    def __init__(self, d: float, n: int) -> None:
        self.d = float(d)
        self.w = ffd_weights(self.d)[::-1].copy()  # oldest price first
        self.logp: list[Array] = []
        self.n = n

    def update(self, closes: Array) -> Array:
        self.logp.append(np.log(np.asarray(closes, dtype=np.float64)))
        if len(self.logp) > len(self.w):
            self.logp.pop(0)
        if len(self.logp) < len(self.w):
            return np.full(self.n, np.nan)
        return np.asarray(self.w @ np.stack(self.logp), dtype=np.float64)

    def warm(self, closes: Array) -> Array:
        """Feed the last width rows of a (T, N) closes array; the last row's value."""
        out = np.full(self.n, np.nan)
        for row in np.asarray(closes, dtype=np.float64)[-len(self.w):]:
            out = self.update(row)
        return out


def fracdiff_column(closes: "pd.DataFrame", d: float, index: "pd.MultiIndex") -> Array:
    """``frac_diff`` of the log closes as one feature column for rows ``index`` ((ts, symbol))."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    fd = pd.DataFrame(frac_diff(np.log(closes.to_numpy(dtype=np.float64)), d), index=closes.index,
                      columns=[str(c) for c in closes.columns])
    stacked = fd.stack(future_stack=True)
    stacked.index = stacked.index.set_names(["ts", "symbol"])
    return np.asarray(stacked.reindex(index).to_numpy(dtype=np.float64), dtype=np.float64)
