"""Drift checks for live models: input drift (two-sample KS) and live-vs-validation Sharpe.

Conventions:
- Returns are simple fractions per bar (0.01 = +1%), never percent.
- Sample standard deviation uses ddof=1; Sharpe is annualised with sqrt(252)
  and assumes a zero risk-free rate.
- Nothing here reads the wall clock or draws random numbers; every result is a
  function of the numbers passed in.
- Bad input (empty, NaN, non-numeric, bad parameters) raises ``ValueError``
  with a one-line message naming the argument.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
from scipy.stats import ks_2samp  # type: ignore[import-untyped, unused-ignore]

ANNUALISE = math.sqrt(252.0)
Level = Literal["ok", "warning", "drift"]
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "drift": 2}


@dataclass(frozen=True)
class DriftStatus:
    """A verdict the console can show: ``status`` is "ok", "warning" or "drift"."""

    status: Level
    reason: str

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"status must be ok, warning or drift, got {self.status!r}")


def worst(statuses: Iterable[DriftStatus]) -> DriftStatus:
    """The most severe status (the first one wins a tie); "ok" when there are none."""
    found: DriftStatus | None = None
    for s in statuses:
        if found is None or _RANK[s.status] > _RANK[found.status]:
            found = s
    return found if found is not None else DriftStatus("ok", "no checks")


def _sample(name: str, values: object) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not numeric: {exc}") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{name} contains {a[bad[0]]} at index {int(bad[0])}")
    return a


def ks_drift(reference: object, recent: object, alpha: float = 0.05) -> tuple[bool, float, float]:
    """Two-sample Kolmogorov-Smirnov test of ``recent`` against ``reference``.

    Returns ``(drifted, statistic, p_value)``; drifted when ``p_value < alpha``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ref = _sample("reference", reference)
    rec = _sample("recent", recent)
    res = ks_2samp(ref, rec)
    stat, p = float(res.statistic), float(res.pvalue)
    return p < alpha, stat, p


def ks_status(reference: object, recent: object, alpha: float = 0.05,
              warn_alpha: float = 0.2) -> DriftStatus:
    """KS drift as a status: "drift" when p < alpha, "warning" when p < warn_alpha."""
    if not alpha <= warn_alpha < 1.0:
        raise ValueError(f"warn_alpha must be in [alpha, 1), got {warn_alpha}")
    drifted, stat, p = ks_drift(reference, recent, alpha)
    text = f"KS stat {stat:.3f}, p {p:.3g}"
    if drifted:
        return DriftStatus("drift", f"input distribution shifted ({text} < {alpha})")
    if p < warn_alpha:
        return DriftStatus("warning", f"input distribution may be shifting ({text})")
    return DriftStatus("ok", f"no input drift ({text})")


def sharpe(returns: object) -> float:
    """Annualised Sharpe ratio of per-bar simple returns (ddof=1, sqrt(252)).

    0.0 when there are fewer than two returns or they do not vary.
    """
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    if not sd > 1e-15:
        return 0.0
    return float(np.mean(r)) / sd * ANNUALISE


class SharpeMonitor:
    """Warns when a model's live Sharpe falls below ``ratio`` x its validation Sharpe.

    ``window`` is the number of most recent per-bar returns used; below
    ``min_obs`` returns the live Sharpe is reported as 0.0 and the status is "ok"
    (not enough evidence). With at least ``min_obs`` but fewer than ``window``
    returns a shortfall is a "warning"; over a full window it is "drift".

    The threshold is ``validation_sharpe - (1 - ratio) * |validation_sharpe|``,
    i.e. ``ratio * validation_sharpe`` for a positive validation Sharpe, and
    still below the validation value when that is negative.
    """

    def __init__(self, validation_sharpe: float, ratio: float = 0.7, window: int = 63,
                 min_obs: int | None = None) -> None:
        if not math.isfinite(validation_sharpe):
            raise ValueError(f"validation_sharpe must be finite, got {validation_sharpe}")
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        if int(window) != window or window < 2:
            raise ValueError(f"window must be an integer >= 2, got {window}")
        mo = min(20, int(window)) if min_obs is None else min_obs
        if int(mo) != mo or not 2 <= mo <= window:
            raise ValueError(f"min_obs must be an integer in [2, window], got {min_obs}")
        self.validation_sharpe = float(validation_sharpe)
        self.ratio = float(ratio)
        self.window = int(window)
        self.min_obs = int(mo)
        self._returns: deque[float] = deque(maxlen=self.window)

    @property
    def threshold(self) -> float:
        v = self.validation_sharpe
        return v - (1.0 - self.ratio) * abs(v)

    def update(self, ret: float) -> DriftStatus:
        """Add one per-bar simple return; return the status after it."""
        r = float(ret)
        if not math.isfinite(r):
            raise ValueError(f"return must be finite, got {ret}")
        self._returns.append(r)
        return self.status()

    def live_sharpe(self) -> float:
        """Annualised Sharpe of the window; 0.0 with fewer than ``min_obs`` returns."""
        if len(self._returns) < self.min_obs:
            return 0.0
        return sharpe(list(self._returns))

    def status(self) -> DriftStatus:
        n = len(self._returns)
        if n < self.min_obs:
            return DriftStatus("ok", f"not enough data ({n}/{self.min_obs} returns)")
        live, thr = self.live_sharpe(), self.threshold
        text = f"live Sharpe {live:.2f} vs threshold {thr:.2f} ({self.ratio:g} x validation {self.validation_sharpe:.2f})"
        if live >= thr:
            return DriftStatus("ok", text)
        if n < self.window:
            return DriftStatus("warning", f"{text} over {n}/{self.window} returns")
        return DriftStatus("drift", text)
