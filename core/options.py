"""European options under Black-Scholes-Merton with a continuous dividend yield.

Conventions, shared by every function here:

* ``rate`` (r), ``div`` (q) and ``vol`` (sigma) are annualised fractions:
  0.05 = 5% a year, continuously compounded.
* ``expiry`` is in years. Callers holding calendar days convert with
  ``years_from_days(days) = days / 365``.
* Greeks are sensitivities of ONE option (one unit of underlying):

  - ``delta``: per 1.00 of spot (currency per currency).
  - ``gamma``: change of delta per 1.00 of spot.
  - ``vega``: per 1.00 of volatility (sigma 0.20 -> 1.20);
    ``vega_pt = vega / 100`` is per vol point (0.20 -> 0.21).
  - ``theta``: dV/dt per year of calendar time passing (usually negative);
    ``theta_day = theta / 365`` is per calendar day.
  - ``rho``: per 1.00 of rate (0.05 -> 1.05); divide by 100 for per 1%.

* At ``expiry == 0`` the price is the intrinsic value, delta is the step
  (1, 0, or 0.5 exactly at the strike for a call; -1, 0, -0.5 for a put) and
  the other greeks are 0. At ``vol == 0`` with time left the price is the
  discounted intrinsic value of the forward, with the matching delta, theta
  and rho of that deterministic payoff.

Bad inputs raise ``FieldError`` (a ``ValueError`` and a ``core.errors.InputError``)
with a one-line message that starts with the field's name. Not compiled by
mypyc: this is numpy/scipy work off the per-tick path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq  # type: ignore[import-untyped, unused-ignore]

from core.errors import InputError

DAYS_PER_YEAR: Final = 365.0
VOL_POINT: Final = 100.0
IV_LOW: Final = 1e-9
IV_HIGH_MAX: Final = 20.0
MAX_RATE: Final = 5.0  # |rate| and |div| bound: 500% a year, beyond any real market
MAX_EXPIRY: Final = 100.0  # years
MAX_VOL: Final = 20.0  # 2000% a year
MAX_PATHS: Final = 20_000_000
PATH_CHUNK: Final = 200_000
_SQRT2: Final = math.sqrt(2.0)
_SQRT2PI: Final = math.sqrt(2.0 * math.pi)


class FieldError(InputError, ValueError):
    """A bad input value; ``field`` names it and the message is one line starting with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


# ------------------------------------------------------------ validation


def _finite(field: str, x: float) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise FieldError(field, f"must be a number, got {x!r}") from None
    if not math.isfinite(v):
        raise FieldError(field, f"must be finite, got {v}")
    return v


def _positive(field: str, x: float) -> float:
    v = _finite(field, x)
    if v <= 0.0:
        raise FieldError(field, f"must be > 0, got {v}")
    return v


def _non_negative(field: str, x: float) -> float:
    v = _finite(field, x)
    if v < 0.0:
        raise FieldError(field, f"must be >= 0, got {v}")
    return v


def _within(field: str, x: float, lo: float, hi: float) -> float:
    v = _finite(field, x)
    if not lo <= v <= hi:
        raise FieldError(field, f"must be in [{lo:g}, {hi:g}], got {v}")
    return v


def _checked(g: Greeks) -> Greeks:
    """Extreme but valid magnitudes (spot 1e300) can still overflow; say so rather than return inf."""
    if not all(math.isfinite(x) for x in (g.price, g.delta, g.gamma, g.vega, g.theta, g.rho)):
        raise FieldError("spot", "and strike magnitudes overflow the calculation")
    return g


def years_from_days(days: float) -> float:
    """Calendar days to years: ``days / 365``."""
    return _non_negative("expiry_days", days) / DAYS_PER_YEAR


# ------------------------------------------------------------ pricing


def _cdf(x: float) -> float:
    # erfc keeps the far left tail accurate where 0.5 * (1 + erf) cancels to 0.
    return 0.5 * math.erfc(-x / _SQRT2)


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT2PI


@dataclass(frozen=True)
class Greeks:
    """Price and greeks of one option; units in the module docstring."""

    price: float
    delta: float
    gamma: float
    vega: float  # per 1.00 of vol
    vega_pt: float  # per vol point (0.01)
    theta: float  # per year
    theta_day: float  # per calendar day (theta / 365)
    rho: float  # per 1.00 of rate


def _greeks(price: float, delta: float, gamma: float, vega: float, theta: float, rho: float) -> Greeks:
    return Greeks(price, delta, gamma, vega, vega / VOL_POINT, theta, theta / DAYS_PER_YEAR, rho)


def _at_expiry(spot: float, strike: float, put: bool) -> Greeks:
    if put:
        step = -1.0 if spot < strike else (-0.5 if spot == strike else 0.0)
        return _greeks(max(strike - spot, 0.0), step, 0.0, 0.0, 0.0, 0.0)
    step = 1.0 if spot > strike else (0.5 if spot == strike else 0.0)
    return _greeks(max(spot - strike, 0.0), step, 0.0, 0.0, 0.0, 0.0)


def _zero_vol(spot: float, strike: float, t: float, rate: float, div: float, put: bool) -> Greeks:
    """The payoff is certain: max(+-(S e^-qT - K e^-rT), 0)."""
    fwd_s, pv_k = spot * math.exp(-div * t), strike * math.exp(-rate * t)
    sign = -1.0 if put else 1.0
    value = sign * (fwd_s - pv_k)
    if value <= 0.0:
        return _greeks(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # d/dT of (S e^-qT - K e^-rT) is -q S e^-qT + r K e^-rT; theta is minus that.
    theta = sign * (div * fwd_s - rate * pv_k)
    return _greeks(value, sign * math.exp(-div * t), 0.0, 0.0, theta, sign * strike * t * math.exp(-rate * t))


def bsm(spot: float, strike: float, expiry: float, rate: float, vol: float,
        div: float = 0.0, put: bool = False) -> Greeks:
    """Black-Scholes-Merton price and greeks of a European call (or put).

    ``expiry`` in years, ``rate``/``div``/``vol`` annualised fractions; greeks'
    units in the module docstring. Raises ``FieldError`` naming spot, strike,
    expiry, rate, vol or div when it is not finite, or spot/strike <= 0, or
    expiry outside [0, 100] years, vol outside [0, 20], rate/div outside [-5, 5].
    """
    s, k = _positive("spot", spot), _positive("strike", strike)
    t, sigma = _within("expiry", expiry, 0.0, MAX_EXPIRY), _within("vol", vol, 0.0, MAX_VOL)
    r, q = _within("rate", rate, -MAX_RATE, MAX_RATE), _within("div", div, -MAX_RATE, MAX_RATE)
    return _checked(_bsm(s, k, t, r, sigma, q, put))


def _bsm(s: float, k: float, t: float, r: float, sigma: float, q: float, put: bool) -> Greeks:
    if t == 0.0:
        return _at_expiry(s, k, put)
    if sigma == 0.0:
        return _zero_vol(s, k, t, r, q, put)
    sqrt_t = math.sqrt(t)
    sd = sigma * sqrt_t
    d1 = (math.log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / sd
    d2 = d1 - sd
    dq, dr = math.exp(-q * t), math.exp(-r * t)
    n_d1 = _pdf(d1)
    gamma = dq * n_d1 / (s * sd)
    vega = s * dq * n_d1 * sqrt_t
    decay = -s * dq * n_d1 * sigma / (2.0 * sqrt_t)
    if put:
        nm1, nm2 = _cdf(-d1), _cdf(-d2)
        price = k * dr * nm2 - s * dq * nm1
        theta = decay + r * k * dr * nm2 - q * s * dq * nm1
        return _greeks(price, -dq * nm1, gamma, vega, theta, -k * t * dr * nm2)
    n1, n2 = _cdf(d1), _cdf(d2)
    price = s * dq * n1 - k * dr * n2
    theta = decay - r * k * dr * n2 + q * s * dq * n1
    return _greeks(price, dq * n1, gamma, vega, theta, k * t * dr * n2)


def bsm_price(spot: float, strike: float, expiry: float, rate: float, vol: float,
              div: float = 0.0, put: bool = False) -> float:
    """The price alone (currency per one unit of underlying); see ``bsm``."""
    return bsm(spot, strike, expiry, rate, vol, div, put).price


# ------------------------------------------------------------ implied volatility


def implied_vol(price: float, spot: float, strike: float, expiry: float, rate: float,
                div: float = 0.0, put: bool = False, tol: float = 1e-12) -> float:
    """The annualised vol at which ``bsm`` gives ``price``, by Brent's method on a bracket.

    The bracket starts at [1e-9, 1] and widens to at most 20 (2000% vol).
    Raises ``FieldError`` naming ``price`` when it is outside the no-arbitrage
    band (below the discounted intrinsic value of the forward or above the
    discounted spot/strike), or ``expiry`` when it is 0 (vol is undefined).
    """
    p = _finite("price", price)
    s, k = _positive("spot", spot), _positive("strike", strike)
    t = _positive("expiry", expiry)
    if t > MAX_EXPIRY:
        raise FieldError("expiry", f"must be in (0, {MAX_EXPIRY:g}], got {t}")
    r, q = _within("rate", rate, -MAX_RATE, MAX_RATE), _within("div", div, -MAX_RATE, MAX_RATE)
    fwd_s, pv_k = s * math.exp(-q * t), k * math.exp(-r * t)
    lower = max(pv_k - fwd_s, 0.0) if put else max(fwd_s - pv_k, 0.0)
    upper = pv_k if put else fwd_s
    if not lower < p < upper:
        raise FieldError("price", f"{p} is outside the no-arbitrage band ({lower:.6g}, {upper:.6g})")

    def gap(sigma: float) -> float:
        return bsm_price(s, k, t, r, sigma, q, put) - p

    hi = 1.0
    while gap(hi) < 0.0:
        if hi >= IV_HIGH_MAX:
            raise FieldError("price", f"{p} implies a vol above {IV_HIGH_MAX:g}")
        hi = min(hi * 2.0, IV_HIGH_MAX)
    if gap(IV_LOW) >= 0.0:
        return IV_LOW
    return float(brentq(gap, IV_LOW, hi, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=500))


# ------------------------------------------------------------ basket Monte Carlo


@dataclass(frozen=True)
class BasketPrice:
    """A Monte Carlo price, its standard error (same currency units) and the paths used."""

    price: float
    stderr: float
    n_paths: int
    antithetic: bool


def _vector(field: str, xs: Sequence[float] | npt.NDArray[np.float64], n: int | None = None) -> npt.NDArray[np.float64]:
    try:
        v = np.asarray(xs, dtype=np.float64)
    except (TypeError, ValueError):
        raise FieldError(field, "must be a list of numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise FieldError(field, "must be a non-empty list of numbers")
    if n is not None and v.size != n:
        raise FieldError(field, f"has {v.size} entries; expected {n} (one per asset)")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise FieldError(field, f"[{int(bad[0])}] must be finite, got {v[bad[0]]}")
    return v


def check_correlation(corr: Sequence[Sequence[float]] | npt.NDArray[np.float64], n: int,
                      tol: float = 1e-10) -> npt.NDArray[np.float64]:
    """``corr`` as an n x n array once it is symmetric, unit-diagonal and positive semi-definite."""
    try:
        c = np.asarray(corr, dtype=np.float64)
    except (TypeError, ValueError):
        raise FieldError("corr", "must be a square matrix of numbers") from None
    if c.shape != (n, n):
        raise FieldError("corr", f"has shape {c.shape}; expected ({n}, {n})")
    if not np.isfinite(c).all():
        raise FieldError("corr", "must be finite")
    if not np.allclose(c, c.T, rtol=0.0, atol=tol):
        a, b = (int(x) for x in np.unravel_index(int(np.argmax(np.abs(c - c.T))), c.shape))
        raise FieldError("corr", f"is not symmetric: [{a},{b}]={c[a, b]} but [{b},{a}]={c[b, a]}")
    diag = np.flatnonzero(np.abs(np.diag(c) - 1.0) > tol)
    if diag.size:
        i = int(diag[0])
        raise FieldError("corr", f"diagonal must be 1, got [{i},{i}]={c[i, i]}")
    if (np.abs(c) > 1.0 + tol).any():
        raise FieldError("corr", "entries must lie in [-1, 1]")
    low = float(np.linalg.eigvalsh(c)[0])
    if low < -1e-8:
        raise FieldError("corr", f"is not positive semi-definite (smallest eigenvalue {low:.3g})")
    return c


def _factor(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """L with L L^T = c; eigen-based so that singular (e.g. perfectly correlated) matrices work."""
    vals, vecs = np.linalg.eigh(c)
    out: npt.NDArray[np.float64] = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return out


def basket_call_mc(weights: Sequence[float], spots: Sequence[float], vols: Sequence[float],
                   corr: Sequence[Sequence[float]] | npt.NDArray[np.float64], rate: float,
                   divs: Sequence[float] | None, strike: float, expiry: float,
                   n_paths: int = 100_000, seed: int = 0, antithetic: bool = True) -> BasketPrice:
    """Price of a European call on ``sum(w_i * S_i(T))`` by seeded Monte Carlo.

    Each asset is geometric Brownian motion under the risk-neutral measure with
    its own annualised ``vols[i]`` and dividend yield ``divs[i]`` (None: all 0),
    log-returns correlated by ``corr``; ``expiry`` in years. With
    ``antithetic`` each normal draw z is paired with -z and the pair's mean is
    one sample (``n_paths`` counts both halves; an odd count is rounded down to
    even). The standard error is the sample standard deviation (ddof=1) of the
    samples over sqrt(samples). Same inputs and seed give the same result.
    """
    w = _vector("weights", weights)
    n = w.size
    s0 = _vector("spots", spots, n)
    sig = _vector("vols", vols, n)
    q = np.zeros(n) if divs is None else _vector("divs", divs, n)
    if (s0 <= 0).any():
        raise FieldError("spots", f"[{int(np.argmax(s0 <= 0))}] must be > 0")
    if ((sig < 0) | (sig > MAX_VOL)).any():
        raise FieldError("vols", f"[{int(np.argmax((sig < 0) | (sig > MAX_VOL)))}] must be in [0, {MAX_VOL:g}]")
    if (np.abs(q) > MAX_RATE).any():
        raise FieldError("divs", f"[{int(np.argmax(np.abs(q) > MAX_RATE))}] must be in [-{MAX_RATE:g}, {MAX_RATE:g}]")
    c = check_correlation(corr, n)
    r, k = _within("rate", rate, -MAX_RATE, MAX_RATE), _non_negative("strike", strike)
    t = _within("expiry", expiry, 0.0, MAX_EXPIRY)
    low = 4 if antithetic else 2
    if isinstance(n_paths, bool) or int(n_paths) != n_paths or not low <= n_paths <= MAX_PATHS:
        raise FieldError("n_paths", f"must be a whole number in [{low}, {MAX_PATHS}], got {n_paths}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise FieldError("seed", f"must be a whole number >= 0, got {seed}")
    total = int(n_paths) // 2 * 2 if antithetic else int(n_paths)
    samples = total // 2 if antithetic else total
    rng = np.random.default_rng(int(seed))
    lower = _factor(c)
    drift = (r - q - 0.5 * sig * sig) * t
    scale = sig * math.sqrt(t)
    payoff = np.empty(samples)

    def basket(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        terminal = s0 * np.exp(drift + scale * (z @ lower.T))
        out: npt.NDArray[np.float64] = np.maximum(terminal @ w - k, 0.0)
        return out

    # Chunks bound memory; the draws are consumed in the same order whatever the chunk size.
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below as a FieldError
        for start in range(0, samples, PATH_CHUNK):
            m = min(PATH_CHUNK, samples - start)
            z = rng.standard_normal((m, n))
            payoff[start:start + m] = 0.5 * (basket(z) + basket(-z)) if antithetic else basket(z)
    disc = math.exp(-r * t)
    with np.errstate(over="ignore", invalid="ignore"):
        price, err = disc * float(payoff.mean()), disc * float(payoff.std(ddof=1)) / math.sqrt(samples)
    if not (math.isfinite(price) and math.isfinite(err)):
        raise FieldError("spots", "and vols overflow the simulation (terminal values are not finite)")
    return BasketPrice(price, err, total, antithetic)


# ------------------------------------------------------------ protective put


@dataclass(frozen=True)
class PutDecision:
    """Whether to buy a protective put at the quoted premium, and the numbers behind it.

    ``fair`` is the BSM value and ``limit = max_multiple * fair`` the most we
    would pay, both per one unit of underlying; ``ratio = premium / fair``
    (inf when fair is 0).
    """

    buy: bool
    premium: float
    fair: float
    limit: float
    ratio: float
    strike: float
    expiry: float
    reason: str


def protective_put(spot: float, vol: float, premium: float, max_multiple: float, *,
                   expiry: float, strike: float | None = None, rate: float = 0.0,
                   div: float = 0.0) -> PutDecision:
    """Buy the put when ``premium <= max_multiple * fair`` (fair: BSM with ``vol``).

    ``strike`` defaults to ``spot`` (at the money); ``expiry`` in years.
    ``max_multiple`` 1.2 accepts paying up to 20% over fair value.
    """
    s = _positive("spot", spot)
    k = s if strike is None else _positive("strike", strike)
    prem = _non_negative("premium", premium)
    mult = _positive("max_multiple", max_multiple)
    fair = bsm_price(s, k, expiry, rate, vol, div, put=True)
    limit = mult * fair
    ratio = prem / fair if fair > 0.0 else (0.0 if prem == 0.0 else math.inf)
    buy = prem <= limit
    verdict = "<=" if buy else ">"
    reason = f"premium {prem:.4f} {verdict} {mult:g} x fair {fair:.4f} = {limit:.4f}"
    return PutDecision(buy, prem, fair, limit, ratio, k, float(expiry), reason)


# ------------------------------------------------------------ portfolio greeks


@dataclass(frozen=True)
class OptionPosition:
    """``qty`` contracts (negative = short) of ``multiplier`` units of underlying each; expiry in years."""

    qty: float
    spot: float
    strike: float
    expiry: float
    vol: float
    rate: float = 0.0
    div: float = 0.0
    put: bool = False
    multiplier: float = 100.0


@dataclass(frozen=True)
class PortfolioGreeks:
    """Sums over positions of qty * multiplier * greek: value and theta in currency
    (theta per year, theta_day per calendar day), delta in units of underlying,
    gamma in units of underlying per 1.00 of spot, vega per 1.00 of vol and
    vega_pt per vol point, both in currency."""

    value: float
    delta: float
    gamma: float
    vega: float
    vega_pt: float
    theta: float
    theta_day: float


def portfolio_greeks(positions: Sequence[OptionPosition]) -> PortfolioGreeks:
    """Aggregate greeks of a book of options (an empty book is all zeros)."""
    sums = [0.0] * 7
    for i, p in enumerate(positions):
        units = _finite(f"positions[{i}].qty", p.qty) * _finite(f"positions[{i}].multiplier", p.multiplier)
        try:
            g = bsm(p.spot, p.strike, p.expiry, p.rate, p.vol, p.div, p.put)
        except FieldError as exc:
            raise FieldError(f"positions[{i}].{exc.field}", str(exc)[len(exc.field) + 1:]) from None
        for j, x in enumerate((g.price, g.delta, g.gamma, g.vega, g.vega_pt, g.theta, g.theta_day)):
            sums[j] += units * x
    return PortfolioGreeks(*sums)
