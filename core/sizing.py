"""Position sizing: volatility targeting, fractional Kelly and regime scaling.

Conventions:

* Returns are simple one-period fractions (0.01 = +1%), one trading day per
  period. Realised volatility is the sample standard deviation (ddof=1)
  annualised by sqrt(252); ``target_vol`` is an annualised fraction too.
* A *weight* is a fraction of NAV (notional / NAV, signed: negative is
  short); 1.0 is fully invested, 2.0 is 2x gross leverage.
* Kelly: ``mu`` is the annualised expected excess return and ``sigma`` the
  annualised vol (continuous case: f* = mu / sigma^2); ``p`` is the win
  probability and ``b`` the net odds won per 1 staked (binary case:
  f* = p - (1 - p) / b).

Bad *parameters* (a negative target, a fraction outside [0, 1], a lot size
of 0) raise ``FieldError`` (a ``ValueError``) naming the field. Bad *data*
(NaN returns, zero volatility, a NaN signal or price) never raises and never
gives a NaN or infinite size: the result is 0 with a ``reason``. Not compiled by
mypyc (numpy), runs on bar close.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from core.options import FieldError

TRADING_DAYS: Final = 252
MIN_RETURNS: Final = 2
OK: Final = "ok"

Floats = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class Size:
    """A weight (fraction of NAV) or Kelly fraction, always finite, with why it is what it is."""

    value: float
    reason: str = OK


def _param(field: str, x: float, lo: float = 0.0, hi: float = math.inf, lo_open: bool = False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise FieldError(field, f"must be a number, got {x!r}") from None
    if math.isnan(v) or v < lo or v > hi or (lo_open and v == lo):
        low = "(" if lo_open else "["
        raise FieldError(field, f"must be in {low}{lo:g}, {hi:g}], got {v}")
    return v


def _series(x: Floats) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.asarray(x, dtype=np.float64).ravel()
    return out


# ------------------------------------------------------------ volatility


def realised_vol(returns: Floats) -> float:
    """Annualised sample vol of daily simple returns: std(ddof=1) * sqrt(252); NaN if unusable."""
    r = _series(returns)
    if r.size < MIN_RETURNS or not np.isfinite(r).all():
        return math.nan
    return float(np.std(r, ddof=1)) * math.sqrt(TRADING_DAYS)


def atr(high: Floats, low: Floats, close: Floats, n: int = 14) -> float:
    """Average true range over the last ``n`` bars (simple mean, in price units); NaN if unusable.

    True range of bar t: max(high_t - low_t, |high_t - close_{t-1}|, |low_t - close_{t-1}|);
    it needs the previous close, so ``n + 1`` bars are required.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise FieldError("n", f"must be a whole number >= 1, got {n}")
    h, lo, c = _series(high), _series(low), _series(close)
    if not h.size == lo.size == c.size:
        raise FieldError("high/low/close", f"lengths differ: {h.size}, {lo.size}, {c.size}")
    if c.size < n + 1:
        return math.nan
    h, lo, prev = h[-n:], lo[-n:], c[-n - 1:-1]
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return float(tr.mean()) if np.isfinite(tr).all() else math.nan


def atr_vol(high: Floats, low: Floats, close: Floats, n: int = 14) -> float:
    """An annualised vol proxy: ATR / last close * sqrt(252).

    ATR measures a range, not a close-to-close standard deviation: for a normal
    random walk it reads about 1.3-1.6x higher, so ATR-based targets size more
    conservatively. NaN if unusable.
    """
    a = atr(high, low, close, n)
    last = float(_series(close)[-1]) if len(close) else math.nan
    if not (math.isfinite(a) and math.isfinite(last) and last > 0):
        return math.nan
    return a / last * math.sqrt(TRADING_DAYS)


def vol_target(vol: float, target_vol: float, max_leverage: float = 1.0) -> Size:
    """Weight ``target_vol / vol``, capped at ``max_leverage``; 0 when the vol is NaN, inf or 0."""
    tgt = _param("target_vol", target_vol)
    cap = _param("max_leverage", max_leverage)
    if not math.isfinite(vol):
        return Size(0.0, "volatility is not finite (too few or bad returns)")
    if vol <= 0.0:
        return Size(0.0, "volatility is zero: no basis for a size")
    w = tgt / vol
    if w > cap:
        return Size(cap, f"capped at max_leverage {cap:g} (uncapped {w:.4g})")
    return Size(w)


def vol_target_weight(returns: Floats, target_vol: float, max_leverage: float = 1.0) -> Size:
    """Vol targeting on daily returns: ``target_vol / realised_vol(returns)``, capped."""
    return vol_target(realised_vol(returns), target_vol, max_leverage)


def atr_target_weight(high: Floats, low: Floats, close: Floats, target_vol: float,
                      n: int = 14, max_leverage: float = 1.0) -> Size:
    """Vol targeting on the ATR proxy: ``target_vol / atr_vol(...)``, capped."""
    return vol_target(atr_vol(high, low, close, n), target_vol, max_leverage)


# ------------------------------------------------------------ Kelly


def kelly_continuous(mu: float, sigma: float) -> float:
    """Full Kelly weight for a continuous bet: mu / sigma^2 (NaN when sigma is 0 or data is bad)."""
    if not (math.isfinite(mu) and math.isfinite(sigma)) or sigma <= 0.0:
        return math.nan
    return mu / (sigma * sigma)


def kelly_binary(p: float, b: float) -> float:
    """Full Kelly stake for a win-or-lose bet: p - (1 - p) / b; negative means no edge."""
    prob = _param("p", p, 0.0, 1.0)
    odds = _param("b", b, 0.0, lo_open=True)
    return prob - (1.0 - prob) / odds


def fractional_kelly(f_star: float, fraction: float = 0.5, cap: float = 1.0) -> Size:
    """``fraction * f_star`` clipped to [-cap, cap]; 0 with a reason when f_star is not finite."""
    frac = _param("fraction", fraction, 0.0, 1.0)
    c = _param("cap", cap)
    if not math.isfinite(f_star):
        return Size(0.0, "Kelly fraction is not finite (zero or bad volatility)")
    w = frac * f_star
    if abs(w) > c:
        return Size(math.copysign(c, w), f"capped at {c:g} (uncapped {w:.4g})")
    return Size(w)


# ------------------------------------------------------------ regime


def regime_scale(weight: float, risk_scale: float) -> Size:
    """``weight * risk_scale`` with ``risk_scale`` in [0, 1] (1: normal regime, 0: stand aside)."""
    if isinstance(risk_scale, float) and math.isnan(risk_scale):
        return Size(0.0, "risk_scale is NaN")
    scale = _param("risk_scale", risk_scale, 0.0, 1.0)
    if not math.isfinite(weight):
        return Size(0.0, "weight is not finite")
    if scale == 0.0:
        return Size(0.0, "regime risk_scale is 0")
    return Size(weight * scale)


# ------------------------------------------------------------ combined


@dataclass(frozen=True)
class PositionSize:
    """A whole-lot quantity (signed) and how it was reached.

    ``weight`` is the final signed fraction of NAV before rounding to lots;
    ``vol_weight`` and ``kelly_weight`` are the parts (None when not used).
    """

    quantity: int
    weight: float
    reason: str
    vol_weight: float | None = None
    kelly_weight: float | None = None


def size_position(nav: float, price: float, signal: float, *, returns: Floats | None = None,
                  target_vol: float = 0.10, max_leverage: float = 1.0,
                  kelly_mu: float | None = None, kelly_sigma: float | None = None,
                  kelly_fraction: float = 0.5, risk_scale: float = 1.0,
                  lot_size: int = 1) -> PositionSize:
    """Quantity to hold: ``signal * min(vol weight, Kelly weight) * risk_scale`` of NAV, in whole lots.

    ``signal`` in [-1, 1] gives direction and conviction. The vol weight is
    ``target_vol / realised_vol(returns)`` (``max_leverage`` when no returns
    are given); the Kelly weight, used when ``kelly_mu`` and ``kelly_sigma``
    are given, is ``kelly_fraction * mu / sigma^2`` and only ever shrinks the
    size (a negative Kelly weight, i.e. no edge, gives 0). The result is
    capped at ``max_leverage`` and truncated toward zero to a multiple of
    ``lot_size``. NaN or non-positive nav/price, NaN signal, zero or NaN vol:
    quantity 0 with a reason.
    """
    lot = int(lot_size)
    if isinstance(lot_size, bool) or lot != lot_size or lot < 1:
        raise FieldError("lot_size", f"must be a whole number >= 1, got {lot_size}")
    cap = _param("max_leverage", max_leverage)
    for field, x in (("nav", nav), ("price", price)):
        if not (math.isfinite(x) and x > 0.0):
            return PositionSize(0, 0.0, f"{field} {x} is not positive and finite")
    if not math.isfinite(signal):
        return PositionSize(0, 0.0, "signal is not finite")
    if abs(signal) > 1.0:
        raise FieldError("signal", f"must be in [-1, 1], got {signal}")
    if signal == 0.0:
        return PositionSize(0, 0.0, "signal is 0")
    reasons: list[str] = []
    vol_w: float | None = None
    base = cap
    if returns is not None:
        vs = vol_target_weight(returns, target_vol, cap)
        vol_w = base = vs.value
        if vs.reason != OK:
            reasons.append(vs.reason)
        if base == 0.0:
            return PositionSize(0, 0.0, vs.reason, vol_w)
    kelly_w: float | None = None
    if kelly_mu is not None or kelly_sigma is not None:
        ks = fractional_kelly(kelly_continuous(_nan(kelly_mu), _nan(kelly_sigma)), kelly_fraction, cap)
        kelly_w = ks.value
        if kelly_w <= 0.0:
            why = ks.reason if ks.reason != OK else "Kelly weight <= 0: no edge"
            return PositionSize(0, 0.0, why, vol_w, kelly_w)
        if kelly_w < base:
            base = kelly_w
            reasons.append(f"Kelly-limited to {kelly_w:.4g}")
    scaled = regime_scale(base, risk_scale)
    if scaled.value == 0.0:
        return PositionSize(0, 0.0, scaled.reason, vol_w, kelly_w)
    weight = signal * scaled.value
    # round first: 0.25 * 1e5 / 10 is 2499.9999999999995 in floating point, not 2499 lots
    lots = math.trunc(round(weight * nav / price / lot, 9))
    reason = "; ".join(reasons) if reasons else OK
    if lots == 0:
        reason = f"less than one lot of {lot} (weight {weight:.4g})"
    return PositionSize(lots * lot, weight, reason, vol_w, kelly_w)


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)
