"""Pairs model ("pairs"): rolling-OLS spread z-score with a per-pair state machine.

Conventions:
- For a pair "A/B", A is regressed on B with an intercept over the last
  ``window`` aligned closes (price levels, or log prices with ``log_prices``):
  ``A = alpha + beta * B + e``. The spread is the residual and
  ``z = e_t / std(e, ddof=1)`` over the same window (OLS residuals have mean 0).
  ``beta`` is the hedge ratio: units of B per unit of A.
- Cointegration is Engle-Granger (``statsmodels.tsa.stattools.coint``, A on B)
  over the last ``coint_window`` aligned bars, at fit and every
  ``recheck_every`` pair bars after it; p < ``max_p`` (0.05) is cointegrated.
- ``ts`` are int nanoseconds of market time; the wall clock is never read.
  Nothing here is random (``seed`` is accepted for uniformity and unused).
- A pair advances once it has seen a bar for both legs since its last advance,
  using the latest close of each leg, stamped with the later of the two ts.
- State machine (strict inequalities: a z exactly on a threshold changes nothing):
    FLAT         -> SHORT_SPREAD when entry_z < z < stop_z
                 -> LONG_SPREAD  when -stop_z < z < -entry_z
    LONG_SPREAD  -> FLAT ("exit") when z > -exit_z (reverted into or past the
                    exit band), FLAT ("stop") when z < -stop_z
    SHORT_SPREAD -> FLAT ("exit") when z < exit_z,  FLAT ("stop") when z > stop_z
    any          -> BROKEN when a recheck finds p >= max_p; an open position is
                    kept until its exit or stop, then the pair goes to BROKEN.
    BROKEN       -> FLAT when a later recheck finds p < max_p (no entries before).
- Each advance emits one SignalOut per leg: LONG_SPREAD is A +1 and B
  -sign(beta); SHORT_SPREAD the opposite; FLAT/BROKEN 0. With ``sizing =
  "hedge_ratio"`` (``[signals.pairs]``; default "equal") the legs' values are
  ``leg_values``: B's notional |beta| x pB / pA times A's, so a sizer without
  per-symbol vol scaling holds beta units of B per unit of A. ``detail`` carries the
  pair, z, hedge_ratio, intercept, state, coint_p, the transition event, and
  ``units`` (1 for A, -beta for B) for sizing.
- ``pairs`` may be left out (None): ``fit`` then picks up to ``max_pairs``
  pairs with ``find_candidate_pairs`` (level correlation >= ``min_corr``,
  Engle-Granger p < ``max_p``) on the last ``coint_window`` bars it is given.
- The artifact is a pickled plain dict (format "pairs", version 1).
"""

from __future__ import annotations

import math
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.hmm import _load_blob, check_bar, check_closes

FORMAT = "pairs"
FORMAT_VERSION = 1
FLAT, LONG, SHORT, BROKEN = "FLAT", "LONG_SPREAD", "SHORT_SPREAD", "BROKEN"
DEFAULTS: dict[str, Any] = {
    "pairs": None, "window": 60, "entry_z": 2.0, "exit_z": 0.5, "stop_z": 4.0,
    "recheck_every": 20, "coint_window": 250, "max_p": 0.05, "log_prices": False, "seed": 0,
    "min_corr": 0.7, "max_pairs": 3, "sizing": "equal",
}
MIN_COINT_OBS = 30


def parse_pair(text: Any) -> tuple[str, str]:
    """'KO/PEP' -> ('KO', 'PEP'); ValueError naming the bad entry otherwise."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.strip() for p in parts) or parts[0].strip() == parts[1].strip():
        raise ValueError(f"pairs: param pairs entry {text!r} must look like 'A/B' with two different symbols")
    return parts[0].strip(), parts[1].strip()


def _int_param(p: dict[str, Any], key: str, low: int) -> int:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"pairs: param {key} must be an integer >= {low}, got {v!r}")
    return int(v)


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"pairs: unknown param {unknown[0]!r} (known: {', '.join(sorted(DEFAULTS))})")
    p = {**DEFAULTS, **params}
    raw = p["pairs"]
    if raw is not None:
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ValueError(f"pairs: param pairs must be a non-empty list of 'A/B' (or left out), got {raw!r}")
        pairs = [parse_pair(x) for x in raw]
        if len(set(pairs)) != len(pairs):
            raise ValueError("pairs: param pairs lists a pair twice")
        p["pairs"] = [f"{a}/{b}" for a, b in pairs]
    p["max_pairs"] = _int_param(p, "max_pairs", 1)
    mc = p["min_corr"]
    if isinstance(mc, bool) or not isinstance(mc, (int, float)) or not -1 <= mc <= 1:
        raise ValueError(f"pairs: param min_corr must be a number in [-1, 1], got {mc!r}")
    p["window"] = _int_param(p, "window", 4)
    p["recheck_every"] = _int_param(p, "recheck_every", 1)
    p["coint_window"] = _int_param(p, "coint_window", MIN_COINT_OBS)
    if p["coint_window"] < p["window"]:
        raise ValueError(f"pairs: param coint_window ({p['coint_window']}) must be >= window ({p['window']})")
    for key in ("entry_z", "exit_z", "stop_z", "max_p"):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"pairs: param {key} must be a non-negative number, got {v!r}")
        p[key] = float(v)
    if not p["exit_z"] < p["entry_z"] < p["stop_z"]:
        raise ValueError(f"pairs: params need exit_z < entry_z < stop_z, got "
                         f"{p['exit_z']}, {p['entry_z']}, {p['stop_z']}")
    if not 0 < p["max_p"] < 1:
        raise ValueError(f"pairs: param max_p must be in (0, 1), got {p['max_p']}")
    if not isinstance(p["log_prices"], bool):
        raise ValueError(f"pairs: param log_prices must be true or false, got {p['log_prices']!r}")
    if p["sizing"] not in ("equal", "hedge_ratio"):
        raise ValueError(f"pairs: param sizing must be equal or hedge_ratio, got {p['sizing']!r}")
    return p


def leg_values(direction: float, beta: float, price_a: float, price_b: float, log_prices: bool) -> tuple[float, float]:
    """(A's value, B's value) for ``sizing = "hedge_ratio"``: B's notional is
    ``r`` times A's, with r = |beta| x price_b / price_a (units of B per unit
    of A is beta; with log prices beta is already the notional ratio, r =
    |beta|), the larger leg at full strength. A sizer that takes a view's
    value as the share of full size (no per-symbol vol scaling) then holds
    beta units of B per unit of A."""
    if not direction:
        return 0.0, 0.0
    r = abs(beta) if log_prices else abs(beta) * price_b / price_a
    if not (math.isfinite(r) and r > 0.0):
        return 0.0, 0.0
    k = max(1.0, r)
    sign_b = 1.0 if beta >= 0 else -1.0
    return direction / k, -direction * sign_b * r / k


def spread_z(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """OLS of ``a`` on ``b`` with intercept; returns (z of the last residual, beta, alpha).

    z uses the sample std (ddof=1) of the window's residuals; 0.0 when they do not vary.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    bm, am = b.mean(), a.mean()
    db = b - bm
    sxx = float(db @ db)
    beta = float(db @ (a - am)) / sxx if sxx > 0 else 0.0
    alpha = float(am - beta * bm)
    resid = a - alpha - beta * b
    sd = float(np.std(resid, ddof=1))
    z = float(resid[-1]) / sd if sd > 1e-12 * max(1.0, float(np.abs(a).max())) else 0.0
    return z, beta, alpha


def coint_p(a: np.ndarray, b: np.ndarray) -> float:
    """Engle-Granger cointegration p-value of ``a`` on ``b`` (1.0 if the test cannot run)."""
    from statsmodels.tsa.stattools import coint  # type: ignore[import-untyped, unused-ignore]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = float(coint(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).pvalue)
        except (ValueError, np.linalg.LinAlgError):
            return 1.0
    return p if math.isfinite(p) else 1.0


def transition(state: str, z: float, broken: bool, entry_z: float, exit_z: float,
               stop_z: float) -> tuple[str, str]:
    """One step of the pair state machine: (new state, event); see the module docstring."""
    rest = BROKEN if broken else FLAT
    if state == LONG:
        if z < -stop_z:
            return rest, "stop"
        if z > -exit_z:
            return rest, "exit"
        return state, ""
    if state == SHORT:
        if z > stop_z:
            return rest, "stop"
        if z < exit_z:
            return rest, "exit"
        return state, ""
    if broken:
        return BROKEN, "" if state == BROKEN else "broken"
    event = "recovered" if state == BROKEN else ""
    if entry_z < z < stop_z:
        return SHORT, "entry"
    if -stop_z < z < -entry_z:
        return LONG, "entry"
    return FLAT, event


@dataclass
class PairState:
    a: str
    b: str
    pa: list[float] = field(default_factory=list)
    pb: list[float] = field(default_factory=list)
    state: str = FLAT
    broken: bool = False
    coint_p: float = 1.0
    since_check: int = 0
    z: float = 0.0
    beta: float = 0.0
    alpha: float = 0.0
    event: str = ""
    last_ts: int = 0
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)
    leg_ts: dict[str, int] = field(default_factory=dict)


@register("pairs")
class PairsModel(SignalModel):
    """Rolling-hedge-ratio pairs trading with Engle-Granger rechecks."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._p = _check_params(self.params)
        self._pairs: dict[str, PairState] = {}

    def _prices(self, x: np.ndarray) -> np.ndarray:
        return np.log(x) if self._p["log_prices"] else x

    def fit(self, closes: pd.DataFrame) -> FitReport:
        check_closes(closes, "pairs")
        if closes.shape[0] == 0:
            raise DataError("pairs: closes has no rows to fit on")
        p = self._p
        keep = max(p["window"], p["coint_window"])
        need = max(p["window"], MIN_COINT_OBS)
        pairs: dict[str, PairState] = {}
        names = p["pairs"]
        if names is None:
            tail = closes.iloc[-p["coint_window"]:]
            found = find_candidate_pairs(tail, max_p=p["max_p"], min_corr=p["min_corr"])
            names = [f"{a}/{b}" for a, b, _ in found[:p["max_pairs"]]]
        for name in names:
            a, b = parse_pair(name)
            for leg in (a, b):
                if leg not in closes.columns:
                    raise DataError(f"pairs: closes has no column {leg} for pair {name}")
            both = closes[[a, b]].apply(pd.to_numeric, errors="coerce").dropna()
            if len(both) < need:
                raise DataError(f"pairs: {name} has {len(both)} aligned closes, need at least {need}")
            tail = both.iloc[-keep:]
            ps = PairState(a, b, [float(v) for v in tail[a]], [float(v) for v in tail[b]])
            ps.last_ts = int(tail.index[-1])
            ps.leg_ts = {a: ps.last_ts, b: ps.last_ts}
            self._check_coint(ps)
            ps.state = BROKEN if ps.broken else FLAT
            self._measure(ps)
            pairs[name] = ps
        self._pairs = pairs
        self.version += 1
        self.fitted_at = int(closes.index[-1])
        return FitReport(model=self.name, version=self.version, train_start=int(closes.index[0]),
                         train_end=int(closes.index[-1]),
                         metrics={"n_pairs": float(len(pairs)),
                                  **{f"coint_p:{n}": ps.coint_p for n, ps in pairs.items()}})

    def _check_coint(self, ps: PairState) -> None:
        n = self._p["coint_window"]
        pa, pb = np.array(ps.pa[-n:]), np.array(ps.pb[-n:])
        ps.coint_p = coint_p(self._prices(pa), self._prices(pb))
        ps.broken = not ps.coint_p < self._p["max_p"]
        ps.since_check = 0

    def _measure(self, ps: PairState) -> None:
        w = self._p["window"]
        ps.z, ps.beta, ps.alpha = spread_z(self._prices(np.array(ps.pa[-w:])), self._prices(np.array(ps.pb[-w:])))

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        outs: list[SignalOut] = []
        for name, ps in self._pairs.items():
            if symbol not in (ps.a, ps.b):
                continue
            t, c = check_bar("pairs", ts, symbol, close, ps.leg_ts.get(symbol))
            ps.leg_ts[symbol] = t
            ps.pending[symbol] = (t, c)
            if len(ps.pending) == 2:
                outs.extend(self._advance(name, ps))
        return outs

    def _advance(self, name: str, ps: PairState) -> list[SignalOut]:
        p = self._p
        (ta, ca), (tb, cb) = ps.pending[ps.a], ps.pending[ps.b]
        ps.pending = {}
        keep = max(p["window"], p["coint_window"])
        ps.pa = (ps.pa + [ca])[-keep:]
        ps.pb = (ps.pb + [cb])[-keep:]
        ps.last_ts = max(ta, tb)
        ps.since_check += 1
        if ps.since_check >= p["recheck_every"]:
            self._check_coint(ps)
        self._measure(ps)
        ps.state, ps.event = transition(ps.state, ps.z, ps.broken, p["entry_z"], p["exit_z"], p["stop_z"])
        return self._outs(name, ps)

    def _outs(self, name: str, ps: PairState) -> list[SignalOut]:
        direction = {LONG: 1.0, SHORT: -1.0}.get(ps.state, 0.0)
        conf = min(1.0, abs(ps.z) / self._p["entry_z"]) * (0.5 if ps.broken else 1.0)
        base = {"pair": name, "z": ps.z, "hedge_ratio": ps.beta, "intercept": ps.alpha, "state": ps.state,
                "coint_p": ps.coint_p, "broken": ps.broken, "event": ps.event}
        sign_b = 1.0 if ps.beta >= 0 else -1.0
        va, vb = direction, -direction * sign_b if direction else 0.0
        if self._p["sizing"] == "hedge_ratio" and ps.pa and ps.pb:
            va, vb = leg_values(direction, ps.beta, ps.pa[-1], ps.pb[-1], self._p["log_prices"])
        return [
            SignalOut(ps.last_ts, ps.a, self.name, va, conf, {**base, "leg": "A", "units": 1.0}),
            SignalOut(ps.last_ts, ps.b, self.name, vb, conf, {**base, "leg": "B", "units": -ps.beta}),
        ]

    def pair_state(self, pair: str) -> str:
        return self._pairs[pair].state

    @property
    def pair_names(self) -> list[str]:
        """The pairs traded now (given, or found by the last fit), in fit order."""
        return list(self._pairs)

    def state(self) -> list[SignalOut]:
        return [o for name in sorted(self._pairs) for o in self._outs(name, self._pairs[name])]

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        parts: list[tuple[str, float]] = []
        for name, ps in sorted(self._pairs.items()):
            if symbol in (ps.a, ps.b):
                parts += [(f"{name} z", ps.z), (f"{name} hedge_ratio", ps.beta), (f"{name} coint_p", ps.coint_p)]
        return sorted(parts, key=lambda kv: -abs(kv[1]))

    def to_bytes(self) -> bytes:
        pairs = {n: {**vars(ps), "pa": np.array(ps.pa), "pb": np.array(ps.pb),
                     "pending": dict(ps.pending), "leg_ts": dict(ps.leg_ts)} for n, ps in self._pairs.items()}
        blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": dict(self.params),
                "version": self.version, "fitted_at": self.fitted_at, "pairs": pairs}
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "PairsModel":
        d = _load_blob(blob, FORMAT, FORMAT_VERSION)
        m = cls(d["params"])
        m.version, m.fitted_at = int(d["version"]), d["fitted_at"]
        for n, st in d["pairs"].items():
            m._pairs[n] = PairState(**{**st, "pa": [float(v) for v in st["pa"]], "pb": [float(v) for v in st["pb"]]})
        return m


def find_candidate_pairs(closes: pd.DataFrame, max_p: float = 0.05,
                         min_corr: float = 0.7) -> list[tuple[str, str, float]]:
    """Pairs (a, b, p) whose price levels correlate >= ``min_corr`` and whose
    Engle-Granger test (a on b, a before b in column order) gives p < ``max_p``;
    sorted by p, then names. Rows where either leg is NaN are dropped per pair."""
    if not isinstance(closes, pd.DataFrame):
        raise DataError(f"pairs: closes must be a pandas DataFrame, got {type(closes).__name__}")
    frame = closes.apply(pd.to_numeric, errors="coerce")
    for sym in frame.columns:
        v = frame[sym].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isnan(v) & ~(np.isfinite(v) & (v > 0)))
        if bad.size:
            raise DataError(f"pairs: close of {sym} at row {int(bad[0])} is {v[bad[0]]}, must be positive")
    cols = list(frame.columns)
    found: list[tuple[str, str, float]] = []
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            both = frame[[a, b]].dropna()
            if len(both) < MIN_COINT_OBS:
                continue
            corr = float(np.corrcoef(both[a], both[b])[0, 1])
            if not corr >= min_corr:
                continue
            p = coint_p(both[a].to_numpy(), both[b].to_numpy())
            if p < max_p:
                found.append((str(a), str(b), p))
    return sorted(found, key=lambda t: (t[2], t[0], t[1]))
