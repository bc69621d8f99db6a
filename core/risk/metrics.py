"""Risk metrics on return series and books: VaR, CVaR, drawdown, Sharpe, exposure.

Conventions, shared by every function here:

* Returns are simple one-period fractions, ``r_t = p_t / p_{t-1} - 1``
  (0.01 = +1%), one trading day per period unless the caller says otherwise.
* VaR, CVaR and drawdown are reported as POSITIVE loss fractions: a 95% VaR of
  0.021 means "on 1 day in 20 we lose at least 2.1%". A negative VaR means the
  tail quantile is still a gain. Pass ``value`` (the position's or portfolio's
  value in currency) to get the same figure in currency instead.
* Horizon: one day (one period of the series); no square-root-of-time scaling.
* Standard deviations are sample ones (``ddof=1``); annualisation uses
  ``sqrt(252)`` for volatility and Sharpe.
* ``z_alpha = norm.ppf(1 - confidence)`` is the (negative) left-tail z score,
  e.g. -1.645 at 95%, -2.326 at 99%.

Every function is pure: numpy arrays or plain sequences in, floats or frozen
rows out. Bad data (fewer than 2 returns, NaN or inf, non-positive prices)
raises ``core.errors.DataError`` with a one-line message; a bad parameter
(a confidence outside (0, 1), a NAV that is not positive) raises
``core.errors.InputError``. Not compiled by mypyc: this module is numpy work
on bar close, not per-tick code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.stats import norm  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError, InputError

TRADING_DAYS: Final = 252
MIN_RETURNS: Final = 2
DEFAULT_SIMS: Final = 100_000
UNMAPPED_SECTOR: Final = "(unmapped)"

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


# ------------------------------------------------------------ validation


def _first_bad(a: FloatArray) -> int:
    return int(np.flatnonzero(~np.isfinite(a.ravel()))[0])


def _finite_1d(values: ArrayLike, what: str) -> FloatArray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} are not numbers: {exc}") from None
    if a.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        i = _first_bad(a)
        raise DataError(f"{what} contain {a[i]} at index {i}")
    return a


def as_returns(returns: ArrayLike) -> FloatArray:
    """Validate a return series: 1-D, finite, at least ``MIN_RETURNS`` long."""
    r = _finite_1d(returns, "returns")
    if r.size < MIN_RETURNS:
        raise DataError(f"need at least {MIN_RETURNS} returns, got {r.size}")
    return r


def as_prices(prices: ArrayLike, what: str = "prices") -> FloatArray:
    """Validate a price or equity curve: 1-D, finite, strictly positive, >= 2 points."""
    p = _finite_1d(prices, what)
    if p.size < 2:
        raise DataError(f"need at least 2 {what}, got {p.size}")
    if np.any(p <= 0):
        i = int(np.flatnonzero(p <= 0)[0])
        raise DataError(f"{what} must be positive, got {p[i]} at index {i}")
    return p


def as_return_matrix(returns: ArrayLike, n_assets: int) -> FloatArray:
    """Validate a (T, N) matrix of returns, one column per asset, T >= 2."""
    try:
        m = np.asarray(returns, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"returns are not numbers: {exc}") from None
    if m.ndim == 1 and n_assets == 1:
        m = m.reshape(-1, 1)
    if m.ndim != 2 or m.shape[1] != n_assets:
        raise DataError(f"returns must have shape (T, {n_assets}), got {m.shape}")
    if not np.all(np.isfinite(m)):
        t, j = divmod(_first_bad(m), n_assets)
        raise DataError(f"returns contain {m[t, j]} at row {t}, column {j}")
    if m.shape[0] < MIN_RETURNS:
        raise DataError(f"need at least {MIN_RETURNS} returns, got {m.shape[0]}")
    return m


def _check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InputError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return c


def _scale(fraction: float, value: float | None) -> float:
    return fraction if value is None else fraction * float(value)


def z_score(confidence: float) -> float:
    """Left-tail standard normal quantile ``norm.ppf(1 - confidence)`` (negative)."""
    return float(norm.ppf(1.0 - _check_confidence(confidence)))


# ------------------------------------------------------------ returns, vol, Sharpe


def simple_returns(prices: ArrayLike) -> FloatArray:
    """Simple returns ``p[t] / p[t-1] - 1`` of a positive price series (fractions)."""
    p = as_prices(prices)
    return p[1:] / p[:-1] - 1.0


def annualised_vol(returns: ArrayLike, periods_per_year: float = TRADING_DAYS) -> float:
    """Annualised volatility: sample sd (ddof=1) of daily returns times sqrt(252)."""
    r = as_returns(returns)
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(
    returns: ArrayLike, risk_free: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf_d) / sd(r) * sqrt(252)``, ddof=1.

    ``risk_free`` is an annual simple rate (0.02 = 2% a year), turned into a
    per-period rate by dividing by ``periods_per_year``. Returns NaN when the
    returns have zero variance (the ratio is undefined), so a flat book does
    not stop the engine.
    """
    r = as_returns(returns)
    sd = float(np.std(r, ddof=1))
    if sd == 0.0:
        return math.nan
    excess = float(np.mean(r)) - float(risk_free) / periods_per_year
    return excess / sd * math.sqrt(periods_per_year)


# ------------------------------------------------------------ VaR and CVaR, one series


def var_parametric(
    returns: ArrayLike, confidence: float = 0.95, *, value: float | None = None
) -> float:
    """Gaussian one-day VaR: ``-(mean + z_alpha * sd)``, ddof=1; positive = loss."""
    r = as_returns(returns)
    z = z_score(confidence)
    return _scale(-(float(np.mean(r)) + z * float(np.std(r, ddof=1))), value)


def cvar_parametric(
    returns: ArrayLike, confidence: float = 0.95, *, value: float | None = None
) -> float:
    """Gaussian one-day CVaR (expected shortfall), closed form.

    ``-(mean - sd * pdf(z_alpha) / (1 - confidence))``, ddof=1; positive = loss.
    """
    r = as_returns(returns)
    c = _check_confidence(confidence)
    tail = float(norm.pdf(z_score(c))) / (1.0 - c)
    return _scale(-(float(np.mean(r)) - float(np.std(r, ddof=1)) * tail), value)


def var_historical(
    returns: ArrayLike, confidence: float = 0.95, *, value: float | None = None
) -> float:
    """Historical one-day VaR: ``-quantile(r, 1 - confidence)``.

    The quantile is numpy's default (``method="linear"``: linear interpolation
    between the two nearest order statistics). Positive = loss.
    """
    r = as_returns(returns)
    c = _check_confidence(confidence)
    return _scale(-float(np.quantile(r, 1.0 - c)), value)


def cvar_historical(
    returns: ArrayLike, confidence: float = 0.95, *, value: float | None = None
) -> float:
    """Historical one-day CVaR: ``-mean(r[r <= q])`` with ``q = quantile(r, 1 - confidence)``.

    Convention: ``q`` is the same linearly interpolated quantile as
    ``var_historical``; the tail is every observed return less than or equal to
    ``q`` (never empty, since ``q >= min(r)``), averaged with equal weights and
    no fractional weighting of the boundary observation. So CVaR >= VaR.
    """
    r = as_returns(returns)
    q = float(np.quantile(r, 1.0 - _check_confidence(confidence)))
    return _scale(-float(np.mean(r[r <= q])), value)


def simulate_normal(returns: ArrayLike, n_sims: int = DEFAULT_SIMS, *, seed: int) -> FloatArray:
    """``n_sims`` one-day returns drawn from N(mean, sd) fitted to ``returns`` (ddof=1).

    Drawn as ``mean + sd * rng.standard_normal`` with ``numpy.random.default_rng(seed)``,
    so the same seed always gives the same sample.
    """
    r = as_returns(returns)
    if n_sims < 1:
        raise InputError(f"n_sims must be at least 1, got {n_sims}")
    z = np.random.default_rng(seed).standard_normal(int(n_sims))
    return float(np.mean(r)) + float(np.std(r, ddof=1)) * z


def var_monte_carlo(
    returns: ArrayLike,
    confidence: float = 0.95,
    *,
    seed: int,
    n_sims: int = DEFAULT_SIMS,
    value: float | None = None,
) -> float:
    """Monte Carlo one-day VaR: historical VaR of ``simulate_normal(returns, n_sims, seed)``."""
    return var_historical(simulate_normal(returns, n_sims, seed=seed), confidence, value=value)


def cvar_monte_carlo(
    returns: ArrayLike,
    confidence: float = 0.95,
    *,
    seed: int,
    n_sims: int = DEFAULT_SIMS,
    value: float | None = None,
) -> float:
    """Monte Carlo one-day CVaR: historical CVaR of the same simulated sample as VaR."""
    return cvar_historical(simulate_normal(returns, n_sims, seed=seed), confidence, value=value)


# ------------------------------------------------------------ drawdown


@dataclass(frozen=True, slots=True)
class Drawdown:
    """A drawdown of an equity or price curve.

    ``depth`` is a positive loss fraction ``1 - curve[trough] / curve[peak]``
    (0.0 when there is none); ``peak`` and ``trough`` are positions in the
    curve, and ``peak_at`` / ``trough_at`` the matching timestamps when the
    caller passed some (else None).
    """

    depth: float
    peak: int
    trough: int
    peak_at: object = None
    trough_at: object = None


def _labels(timestamps: Sequence[object] | None, n: int) -> Sequence[object] | None:
    if timestamps is not None and len(timestamps) != n:
        raise DataError(f"got {len(timestamps)} timestamps for {n} curve points")
    return timestamps


def _drawdown(ts: Sequence[object] | None, depth: float, peak: int, trough: int) -> Drawdown:
    if ts is None:
        return Drawdown(depth, peak, trough)
    return Drawdown(depth, peak, trough, ts[peak], ts[trough])


def max_drawdown(curve: ArrayLike, timestamps: Sequence[object] | None = None) -> Drawdown:
    """Largest peak-to-trough fall of a positive curve (prices or equity).

    The trough is the first point of the deepest fall and the peak the first
    time the running maximum before it was reached. With no fall at all,
    depth is 0 and peak = trough = 0.
    """
    c = as_prices(curve, "curve points")
    ts = _labels(timestamps, c.size)
    running = np.maximum.accumulate(c)
    falls = 1.0 - c / running
    trough = int(np.argmax(falls))
    peak = int(np.argmax(c[: trough + 1]))
    return _drawdown(ts, float(falls[trough]), peak, trough)


def current_drawdown(curve: ArrayLike, timestamps: Sequence[object] | None = None) -> Drawdown:
    """How far the last point is below the highest point so far (positive fraction).

    ``peak`` is the first index of the running maximum, ``trough`` the last index.
    """
    c = as_prices(curve, "curve points")
    ts = _labels(timestamps, c.size)
    peak = int(np.argmax(c))
    return _drawdown(ts, float(1.0 - c[-1] / c[peak]), peak, c.size - 1)


# ------------------------------------------------------------ books: exposure, concentration


@dataclass(frozen=True, slots=True)
class Exposure:
    """A book's exposure: currency amounts and fractions of NAV.

    ``gross = sum |v|``, ``net = sum v``, ``long`` and ``short`` the sums of the
    positive and negative market values (``short`` <= 0), ``leverage =
    gross / nav`` and ``net_fraction = net / nav``.
    """

    gross: float
    net: float
    long: float
    short: float
    leverage: float
    net_fraction: float


def _market_values(positions: Mapping[str, float]) -> dict[str, float]:
    values = {str(k): float(v) for k, v in positions.items()}
    for sym, v in values.items():
        if not math.isfinite(v):
            raise DataError(f"market value of {sym} is {v}")
    return values


def _check_nav(nav: float) -> float:
    n = float(nav)
    if not (math.isfinite(n) and n > 0.0):
        raise InputError(f"NAV must be a positive number, got {nav}")
    return n


def exposure(positions: Mapping[str, float], nav: float) -> Exposure:
    """Gross, net, long, short exposure (currency) and leverage for ``symbol -> market value``."""
    v = list(_market_values(positions).values())
    n = _check_nav(nav)
    long = math.fsum(x for x in v if x > 0)
    short = math.fsum(x for x in v if x < 0)
    gross = long - short
    return Exposure(gross, long + short, long, short, gross / n, (long + short) / n)


def position_concentration(positions: Mapping[str, float]) -> dict[str, float]:
    """Each position's share of gross exposure, ``|v_i| / sum |v|`` (fractions, sum to 1).

    Largest first. An empty or all-zero book gives zeros.
    """
    values = _market_values(positions)
    gross = math.fsum(abs(v) for v in values.values())
    shares = {s: (abs(v) / gross if gross else 0.0) for s, v in values.items()}
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def sector_concentration(
    positions: Mapping[str, float], sectors: Mapping[str, str]
) -> dict[str, float]:
    """Each sector's share of gross exposure (fractions, sum to 1), largest first.

    A symbol missing from ``sectors`` is counted under ``"(unmapped)"`` so it
    stays visible rather than stopping the risk report.
    """
    totals: dict[str, float] = {}
    for sym, share in position_concentration(positions).items():
        key = sectors.get(sym, UNMAPPED_SECTOR)
        totals[key] = totals.get(key, 0.0) + share
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------ portfolio VaR


@dataclass(frozen=True, slots=True)
class PortfolioVaR:
    """Parametric one-day VaR of a book, with its Euler decomposition.

    Units follow ``positions``: currency amounts give currency, weights give
    fractions. ``var = -(mean + z_alpha * sd)`` where ``mean = v . mu`` and
    ``sd = sqrt(v' Sigma v)`` (sample covariance, ddof=1). ``components[i] =
    -z_alpha * v_i * (Sigma v)_i / sd`` is position i's Euler contribution to
    the sd part: they sum to ``-z_alpha * sd``, so ``var = -mean + sum(components)``.
    """

    var: float
    mean: float
    sd: float
    components: tuple[float, ...]


def _portfolio_inputs(returns: ArrayLike, positions: ArrayLike) -> tuple[FloatArray, FloatArray]:
    v = _finite_1d(positions, "positions")
    m = as_return_matrix(returns, v.size)
    return m, v


def covariance(returns: ArrayLike) -> FloatArray:
    """Sample covariance (ddof=1) of a (T, N) return matrix, always (N, N)."""
    m = np.asarray(returns, dtype=np.float64)
    return np.atleast_2d(np.cov(m, rowvar=False, ddof=1))


def portfolio_var_parametric(
    returns: ArrayLike, positions: ArrayLike, confidence: float = 0.95
) -> PortfolioVaR:
    """Gaussian VaR of positions ``v`` (currency or weights) over a (T, N) return matrix."""
    m, v = _portfolio_inputs(returns, positions)
    z = z_score(confidence)
    sigma_v = covariance(m) @ v
    sd = math.sqrt(max(float(v @ sigma_v), 0.0))
    mean = float(np.mean(m, axis=0) @ v)
    if sd == 0.0:
        comps = tuple(0.0 for _ in range(v.size))
    else:
        comps = tuple(float(x) for x in -z * v * sigma_v / sd)
    return PortfolioVaR(-(mean + z * sd), mean, sd, comps)


def _cov_root(cov: FloatArray) -> FloatArray:
    """A matrix L with L @ L.T == cov: Cholesky, or an eigen root when cov is singular."""
    try:
        root = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        # Singular (e.g. fewer days than assets, or two identical series):
        # Cholesky refuses, but the symmetric root simulates the same law.
        w, q = np.linalg.eigh(cov)
        root = q * np.sqrt(np.clip(w, 0.0, None))
    return np.asarray(root, dtype=np.float64)


def simulate_portfolio(
    returns: ArrayLike, positions: ArrayLike, n_sims: int = DEFAULT_SIMS, *, seed: int
) -> FloatArray:
    """``n_sims`` one-day P&Ls of ``positions`` under correlated normal returns.

    Asset returns are ``mu + L z`` with ``z`` iid standard normal from
    ``numpy.random.default_rng(seed)``, ``mu`` the sample means and ``L`` the
    Cholesky factor of the sample covariance (ddof=1). Units follow ``positions``.
    """
    m, v = _portfolio_inputs(returns, positions)
    if n_sims < 1:
        raise InputError(f"n_sims must be at least 1, got {n_sims}")
    z = np.random.default_rng(seed).standard_normal((int(n_sims), v.size))
    sims = np.mean(m, axis=0) + z @ _cov_root(covariance(m)).T
    return np.asarray(sims @ v, dtype=np.float64)


def portfolio_var_monte_carlo(
    returns: ArrayLike,
    positions: ArrayLike,
    confidence: float = 0.95,
    *,
    seed: int,
    n_sims: int = DEFAULT_SIMS,
) -> tuple[float, float]:
    """Monte Carlo one-day ``(VaR, CVaR)`` of a book from ``simulate_portfolio``.

    Both are positive losses in the units of ``positions``, taken from the same
    simulated sample with the conventions of ``var_historical`` / ``cvar_historical``.
    """
    pnl = simulate_portfolio(returns, positions, n_sims, seed=seed)
    return var_historical(pnl, confidence), cvar_historical(pnl, confidence)


# ------------------------------------------------------------ one-series summary


@dataclass(frozen=True, slots=True)
class RiskSummary:
    """Every one-series figure at 95% and 99%; fractions, one-day horizon."""

    n: int
    mean: float
    vol: float
    sharpe: float
    max_drawdown: Drawdown
    current_drawdown: Drawdown
    var_hist: tuple[float, float]
    cvar_hist: tuple[float, float]
    var_param: tuple[float, float]
    cvar_param: tuple[float, float]
    var_mc: tuple[float, float]
    cvar_mc: tuple[float, float]
    confidences: tuple[float, float] = (0.95, 0.99)


def summarize(
    prices: ArrayLike,
    timestamps: Sequence[object] | None = None,
    *,
    seed: int,
    n_sims: int = DEFAULT_SIMS,
    periods_per_year: float = TRADING_DAYS,
) -> RiskSummary:
    """Risk figures of one price series (needs at least 3 prices: 2 returns).
    VaR and CVaR are over one period (one bar) of the series; volatility and
    Sharpe are annualised by ``periods_per_year`` (252 for daily closes;
    bars a day x 252 for intraday bars: see ``core.market.files.bar_interval``)."""
    p = as_prices(prices)
    r = as_returns(simple_returns(p))
    cs = (0.95, 0.99)
    sims = simulate_normal(r, n_sims, seed=seed)
    return RiskSummary(
        n=int(r.size),
        mean=float(np.mean(r)),
        vol=annualised_vol(r, periods_per_year),
        sharpe=sharpe_ratio(r, periods_per_year=periods_per_year),
        max_drawdown=max_drawdown(p, timestamps),
        current_drawdown=current_drawdown(p, timestamps),
        var_hist=(var_historical(r, cs[0]), var_historical(r, cs[1])),
        cvar_hist=(cvar_historical(r, cs[0]), cvar_historical(r, cs[1])),
        var_param=(var_parametric(r, cs[0]), var_parametric(r, cs[1])),
        cvar_param=(cvar_parametric(r, cs[0]), cvar_parametric(r, cs[1])),
        var_mc=(var_historical(sims, cs[0]), var_historical(sims, cs[1])),
        cvar_mc=(cvar_historical(sims, cs[0]), cvar_historical(sims, cs[1])),
    )
