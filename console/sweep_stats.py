"""Honest statistics for a parameter sweep: many trials make the best look good
by chance.

* **Deflated Sharpe ratio** (Bailey & Lopez de Prado, 2014): the probability
  that a trial's true Sharpe exceeds the best Sharpe expected from ``N``
  trials of pure noise, given the trial's sample length, skew and kurtosis::

      SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))
      DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))

  with ``SR`` the trial's per-period (not annualised) Sharpe, ``V`` the
  variance of the per-period Sharpes across the ``N`` trials counted (every
  trial that produced one), ``g`` Euler-Mascheroni's constant, ``T`` the
  number of returns, ``kurt`` the plain (not excess) kurtosis. With fewer than
  two trials ``SR0`` is 0 (the probabilistic Sharpe ratio against zero).
* **Holm-adjusted p-values** of each trial against the base config (the
  paired bootstrap of the Sharpe difference from ``console.whatif.ab_test``),
  holding the family-wise error rate at 5% over every trial tested.

A trial *survives* when its Holm-adjusted p-value is below 5% with a higher
Sharpe than the base, and its deflated Sharpe ratio is at least 0.95.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

EULER_GAMMA: Final = 0.5772156649015329
ALPHA: Final = 0.05
DSR_LEVEL: Final = 0.95


def per_period_sharpe(r: npt.NDArray[np.float64]) -> float:
    """mean / sd (ddof=1) of the returns, not annualised, as ``console.curves.sharpe``:
    0 for a flat book (every return 0), NaN for fewer than 2 returns or no variance."""
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    mean = float(np.mean(r))
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.nan
    return mean / sd


def _norm_ppf(p: float) -> float:
    from scipy.stats import norm  # type: ignore[import-untyped, unused-ignore]

    return float(norm.ppf(p))


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def expected_max_sharpe(sharpes: Sequence[float]) -> float:
    """SR0: the largest per-period Sharpe expected among ``len`` noise trials
    whose Sharpes vary as ``sharpes`` do (NaNs are not counted)."""
    s = np.array([x for x in sharpes if not math.isnan(x)], dtype=float)
    n = s.size
    if n < 2:
        return 0.0
    sd = float(np.std(s, ddof=1))
    return sd * ((1.0 - EULER_GAMMA) * _norm_ppf(1.0 - 1.0 / n)
                 + EULER_GAMMA * _norm_ppf(1.0 - 1.0 / (n * math.e)))


def deflated_sharpe(r: npt.NDArray[np.float64], sr0: float) -> float:
    """DSR of one trial's returns against the benchmark Sharpe ``sr0`` (NaN
    when the trial's Sharpe is undefined)."""
    sr = per_period_sharpe(r)
    t = r.size
    if math.isnan(sr) or t < 3 or not np.any(r):
        return math.nan  # a flat book counts as a trial (Sharpe 0) but has no DSR
    from scipy.stats import kurtosis, skew  # type: ignore[import-untyped, unused-ignore]

    g3 = float(skew(r, bias=False)) if t > 2 else 0.0
    g4 = float(kurtosis(r, fisher=False, bias=False)) if t > 3 else 3.0
    if not math.isfinite(g3):
        g3 = 0.0
    if not math.isfinite(g4):
        g4 = 3.0
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    if var <= 0.0:
        return math.nan
    return _norm_cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(var))


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order; NaN stays NaN
    and is not counted among the hypotheses."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: (pvalues[j], j))):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def survives(p_holm: float, sharpe_diff: float, dsr: float) -> bool:
    return (not math.isnan(p_holm) and p_holm < ALPHA and sharpe_diff > 0
            and not math.isnan(dsr) and dsr >= DSR_LEVEL)
