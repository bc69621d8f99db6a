"""Capital allocation across strategies: equal weight, inverse vol, mean-variance.

Conventions:

* Weights are fractions of capital that sum to 1 (long-only unless ``min_w``
  is negative); ``vols``, ``mu`` and ``cov`` are annualised (fractions,
  fractions, fractions squared), e.g. from daily returns with ddof=1 times
  252 for the covariance and sqrt(252) for the vols.
* Risk contributions are in the same units as portfolio vol and sum to it.
* Timestamps are market time in integer nanoseconds since the epoch; the
  wall clock never decides a rebalance.

Bad inputs raise ``FieldError`` (a ``ValueError``) naming the field. Not
compiled by mypyc (numpy/scipy), runs on bar close or on a schedule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, minimize  # type: ignore[import-untyped, unused-ignore]

from core.options import FieldError

NS_PER_S: Final = 1_000_000_000
SUM_TOL: Final = 1e-9
BOUND_TOL: Final = 1e-9
VOL_TOL: Final = 1e-6

Floats = Sequence[float] | npt.NDArray[np.float64]
Matrix = Sequence[Sequence[float]] | npt.NDArray[np.float64]
Vec = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Allocation:
    """Weights (sum 1, within bounds), the method that produced them, and a note.

    ``method`` is "equal", "inverse_vol", "mean_variance" or
    "inverse_vol_fallback" (the optimiser failed; ``note`` says why).
    """

    weights: Vec
    method: str
    note: str = ""


# ------------------------------------------------------------ validation


def _vec(field: str, x: Floats) -> Vec:
    try:
        v = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise FieldError(field, "must be a list of numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise FieldError(field, "must be a non-empty list of numbers")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise FieldError(field, f"[{int(bad[0])}] must be finite, got {v[bad[0]]}")
    return v


def _cov(x: Matrix, n: int | None = None) -> Vec:
    try:
        c = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise FieldError("cov", "must be a square matrix of numbers") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.size == 0:
        raise FieldError("cov", f"must be a square matrix, got shape {c.shape}")
    if n is not None and c.shape[0] != n:
        raise FieldError("cov", f"is {c.shape[0]}x{c.shape[0]}; expected {n}x{n}")
    if not np.isfinite(c).all():
        raise FieldError("cov", "must be finite")
    scale = max(float(np.abs(c).max()), 1e-300)
    if not np.allclose(c, c.T, rtol=0.0, atol=1e-10 * scale):
        raise FieldError("cov", "is not symmetric")
    if float(np.linalg.eigvalsh(c)[0]) < -1e-10 * scale:
        raise FieldError("cov", "is not positive semi-definite")
    return c


def _bounds(n: int, min_w: float, max_w: float) -> tuple[float, float]:
    lo, hi = float(min_w), float(max_w)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise FieldError("min_w", f"must be <= max_w and both finite, got [{lo}, {hi}]")
    if n * lo > 1.0 + SUM_TOL or n * hi < 1.0 - SUM_TOL:
        raise FieldError("min_w", f"bounds [{lo:g}, {hi:g}] cannot sum to 1 over {n} weights")
    return lo, hi


def fit_to_bounds(raw: Floats, min_w: float = 0.0, max_w: float = 1.0) -> Vec:
    """Scale positive ``raw`` weights by one factor c, clip each to [min_w, max_w], and pick c so they sum to 1.

    Unclipped weights keep their proportions. Deterministic (bisection by
    Brent's method), exact to about 1e-12.
    """
    v = _vec("weights", raw)
    if (v <= 0).any():
        raise FieldError("weights", "must all be > 0 to scale")
    lo, hi = _bounds(v.size, min_w, max_w)

    def excess(c: float) -> float:
        return float(np.clip(c * v, lo, hi).sum()) - 1.0

    top = hi / float(v.min()) * (1.0 + 1e-9) + 1e-12
    if excess(0.0) >= 0.0:
        return _polish(np.full(v.size, lo), lo, hi)
    if excess(top) <= 0.0:
        return _polish(np.full(v.size, hi), lo, hi)
    c = float(brentq(excess, 0.0, top, xtol=1e-300, rtol=1e-15, maxiter=500))
    return _polish(np.clip(c * v, lo, hi), lo, hi)


# ------------------------------------------------------------ simple rules


def equal_weight(n: int) -> Allocation:
    """1/n each."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise FieldError("n", f"must be a whole number >= 1, got {n}")
    return Allocation(np.full(int(n), 1.0 / n), "equal")


def inverse_vol(vols: Floats, min_w: float = 0.0, max_w: float = 1.0) -> Allocation:
    """Weights proportional to 1 / vol_i (naive risk parity), fitted to [min_w, max_w]."""
    v = _vec("vols", vols)
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise FieldError("vols", f"[{int(bad[0])}] must be > 0, got {v[bad[0]]}")
    return Allocation(fit_to_bounds(1.0 / v, min_w, max_w), "inverse_vol")


# ------------------------------------------------------------ mean-variance


def portfolio_vol(weights: Floats, cov: Matrix) -> float:
    """sqrt(w' cov w), annualised when cov is."""
    w = _vec("weights", weights)
    c = _cov(cov, w.size)
    return math.sqrt(max(float(w @ c @ w), 0.0))


def _feasible(w: Vec, lo: float, hi: float, c: Vec, target_vol: float | None) -> str:
    if not np.isfinite(w).all():
        return "weights are not finite"
    if abs(float(w.sum()) - 1.0) > 1e-6:
        return f"weights sum to {w.sum():.8f}"
    if (w < lo - 1e-6).any() or (w > hi + 1e-6).any():
        return "weights break the bounds"
    if target_vol is not None and math.sqrt(max(float(w @ c @ w), 0.0)) > target_vol * (1 + VOL_TOL) + VOL_TOL:
        return f"vol above target {target_vol:g}"
    return ""


def mean_variance(mu: Floats, cov: Matrix, *, min_w: float = 0.0, max_w: float = 1.0,
                  risk_aversion: float = 1.0, target_vol: float | None = None) -> Allocation:
    """Mean-variance weights by SLSQP, with inverse-vol as the deterministic fallback.

    Without ``target_vol``: maximise ``mu'w - risk_aversion / 2 * w'cov w``.
    With ``target_vol`` (annualised): maximise ``mu'w`` subject to
    ``sqrt(w'cov w) <= target_vol``, starting from the minimum-variance
    portfolio (a feasible point). Always ``sum(w) = 1`` and
    ``min_w <= w_i <= max_w``. If the optimiser fails or returns weights that
    break a constraint (e.g. the target vol is below the minimum achievable),
    the result is ``inverse_vol`` on the diagonal of ``cov`` fitted to the
    bounds, with method "inverse_vol_fallback" and the reason in ``note``.
    """
    m = _vec("mu", mu)
    c = _cov(cov, m.size)
    lo, hi = _bounds(m.size, min_w, max_w)
    lam = float(risk_aversion)
    if not (math.isfinite(lam) and lam >= 0):
        raise FieldError("risk_aversion", f"must be >= 0 and finite, got {risk_aversion}")
    if target_vol is not None and not (math.isfinite(target_vol) and target_vol > 0):
        raise FieldError("target_vol", f"must be > 0 and finite, got {target_vol}")
    if target_vol is None:
        w, why = _utility(m, c, lam, lo, hi)
    else:
        w, why = _max_return(m, c, float(target_vol), lo, hi)
    why = why or _feasible(w, lo, hi, c, target_vol)
    if not why:
        return Allocation(_polish(w, lo, hi), "mean_variance")
    return Allocation(_fallback(c, lo, hi), "inverse_vol_fallback", why)


def mean_variance_floats(mu: list[float], cov: list[list[float]], min_w: float, max_w: float,
                         risk_aversion: float) -> tuple[list[float], str, str]:
    """``mean_variance`` for a caller that holds no numpy (the mypyc-compiled
    engine's books): plain floats in, ``(weights, method, note)`` out. Inputs
    it refuses (a ``FieldError``: not finite, not positive semi-definite)
    give equal weights, which the engine's validated bounds always allow,
    with method "equal_fallback" and the reason in ``note``."""
    try:
        a = mean_variance(mu, cov, min_w=min_w, max_w=max_w, risk_aversion=risk_aversion)
    except FieldError as exc:
        n = len(mu)
        return [1.0 / n for _ in range(n)], "equal_fallback", str(exc)
    return [float(x) for x in a.weights], a.method, a.note


def fit_to_bounds_floats(raw: list[float], min_w: float, max_w: float) -> list[float]:
    """``fit_to_bounds`` with plain floats in and out (for the compiled engine)."""
    return [float(x) for x in fit_to_bounds(raw, min_w, max_w)]


def _slsqp(objective: object, start: Vec, lo: float, hi: float, cons: list[dict[str, object]]) -> tuple[Vec, str]:
    """Run SLSQP with sum(w) = 1 plus ``cons``; the weights and "" or why it failed."""
    n = start.size
    budget = {"type": "eq", "fun": _sum_gap, "jac": lambda w: np.ones(n)}
    try:
        res = minimize(objective, start, jac=True, method="SLSQP", bounds=[(lo, hi)] * n,
                       constraints=[budget, *cons], options={"maxiter": 500, "ftol": 1e-12})
    except (ValueError, np.linalg.LinAlgError) as exc:
        return start, f"optimiser failed: {exc}"
    w = np.asarray(res.x, dtype=np.float64)
    # Status 8 ("positive directional derivative") is SLSQP stalling at the
    # optimum on a curved constraint: checked against trust-constr it was the
    # same point. Keep it when it is no worse than the (feasible) start; the
    # caller still checks every constraint.
    stalled = res.status == 8 and float(objective(w)[0]) <= float(objective(start)[0]) + 1e-12  # type: ignore[operator]
    return w, "" if res.success or stalled else f"optimiser failed: {res.message}"


def _sum_gap(w: Vec) -> float:
    return float(w.sum()) - 1.0


def _utility(m: Vec, c: Vec, lam: float, lo: float, hi: float) -> tuple[Vec, str]:
    def objective(w: Vec) -> tuple[float, Vec]:
        cw = c @ w
        return -float(m @ w - 0.5 * lam * (w @ cw)), -(m - lam * cw)

    return _slsqp(objective, fit_to_bounds(np.ones(m.size), lo, hi), lo, hi, [])


def _max_return(m: Vec, c: Vec, target: float, lo: float, hi: float) -> tuple[Vec, str]:
    start, why = _utility(np.zeros(m.size), c, 1.0, lo, hi)  # the minimum-variance portfolio
    if why:
        return start, why
    floor = math.sqrt(max(float(start @ c @ start), 0.0))
    if floor > target * (1 + VOL_TOL) + VOL_TOL:
        return start, f"target_vol {target:g} is below the minimum achievable vol {floor:.6g}"
    tv2 = target * target
    cap = {"type": "ineq", "fun": lambda w: tv2 - w @ c @ w, "jac": lambda w: -2.0 * (c @ w)}

    def objective(w: Vec) -> tuple[float, Vec]:
        return -float(m @ w), -m

    return _slsqp(objective, start, lo, hi, [cap])


def _fallback(c: Vec, lo: float, hi: float) -> Vec:
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    if (sd <= 0).any():
        return fit_to_bounds(np.ones(sd.size), lo, hi)
    return inverse_vol(sd, lo, hi).weights


def _polish(w: Vec, lo: float, hi: float) -> Vec:
    """Clip SLSQP's tiny bound overshoots and put the sum back to exactly 1 (within rounding)."""
    w = np.clip(w, lo, hi)
    gap = 1.0 - float(w.sum())
    room = (hi - w) if gap > 0 else (w - lo)
    total = float(room.sum())
    if total > 0:
        w = w + gap * room / total
    return np.clip(w, lo, hi)


# ------------------------------------------------------------ risk contributions


def risk_contributions(weights: Floats, cov: Matrix) -> Vec:
    """Euler risk contributions w_i (cov w)_i / sigma_p; they sum to sigma_p (0 each when sigma_p is 0)."""
    w = _vec("weights", weights)
    c = _cov(cov, w.size)
    cw = c @ w
    sigma = math.sqrt(max(float(w @ cw), 0.0))
    if sigma == 0.0:
        return np.zeros(w.size)
    out: Vec = w * cw / sigma
    return out


# ------------------------------------------------------------ schedule


def due(last_rebalance_ts: int | None, ts: int, every_s: float) -> bool:
    """True when at least ``every_s`` seconds of market time separate ``ts`` from the last rebalance.

    Timestamps are integer nanoseconds of market time; ``None`` (never
    rebalanced) is always due. A ``ts`` before the last rebalance is out of
    order and raises ``FieldError`` naming ``ts``.
    """
    if isinstance(ts, bool) or not isinstance(ts, (int, np.integer)):
        raise FieldError("ts", f"must be integer nanoseconds, got {ts!r}")
    period = float(every_s)
    if not (math.isfinite(period) and period > 0):
        raise FieldError("every_s", f"must be > 0 and finite, got {every_s}")
    if last_rebalance_ts is None:
        return True
    if isinstance(last_rebalance_ts, bool) or not isinstance(last_rebalance_ts, (int, np.integer)):
        raise FieldError("last_rebalance_ts", f"must be integer nanoseconds, got {last_rebalance_ts!r}")
    last, now = int(last_rebalance_ts), int(ts)
    if now < last:
        raise FieldError("ts", f"{now} is before the last rebalance {last} (market time runs forward)")
    return now - last >= round(period * NS_PER_S)
