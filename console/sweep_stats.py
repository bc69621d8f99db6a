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

The Sharpe is ``console.curves.sharpe`` (one period a year) and SR0 the fit
gate's ``core.signals.walkforward.deflated_threshold``: one formula each. The
skew and kurtosis here are scipy's bias-corrected sample estimators, where the
fit gate uses population moments (``walkforward.moments``); they are kept
apart so that stored sweeps report the numbers they reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

ALPHA: Final = 0.05
DSR_LEVEL: Final = 0.95


def per_period_sharpe(r: npt.NDArray[np.float64]) -> float:
    """mean / sd (ddof=1) of the returns, not annualised: ``console.curves.sharpe``
    with one period a year (0 for a flat book, NaN for fewer than 2 returns or
    no variance)."""
    from console.curves import sharpe

    return sharpe(r, 1.0)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def expected_max_sharpe(sharpes: Sequence[float]) -> float:
    """SR0: the largest per-period Sharpe expected among ``len`` noise trials
    whose Sharpes vary as ``sharpes`` do (NaNs are not counted): the fit gate's
    ``core.signals.walkforward.deflated_threshold`` with the Sharpes' sample sd."""
    from core.signals.walkforward import deflated_threshold

    s = np.array([x for x in sharpes if not math.isnan(x)], dtype=float)
    if s.size < 2:
        return 0.0
    return deflated_threshold(float(np.std(s, ddof=1)), int(s.size))


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
