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

import numpy as np
import numpy.typing as npt

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
