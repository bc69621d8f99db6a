"""Ensemble ("ensemble"): combines other models' SignalOuts per symbol, weighted by skill.

Conventions:
- Skill per (symbol, model) is an exponentially weighted hit rate of
  ``sign(value_t) * return_{t+1} > 0`` with a uniform Beta(1, 1) prior:
  ``h = (hits + 1) / (hits + misses + 2)``, where hits and misses decay by
  ``0.5 ** (1 / halflife)`` per update (``halflife`` in updates, default 20).
  A view of 0 or a return of exactly 0 is no evidence and leaves them as they are.
- Weight: ``raw = max(0, 2h - 1) + prior`` (skill floored at 0 plus a
  uniform prior, default 0.1, so a new model gets weight), normalised to sum
  to 1 over the models present in ``combine``. Ties and order are resolved by
  model name, so results are deterministic.
- ``value = sum w * value``, ``confidence = sum w * confidence``.
- Returns are simple fractions. ``ts`` are int nanoseconds of market time; the
  wall clock is never read and nothing is random (``seed`` accepted, unused).
- ``update_performance(symbol, r)`` scores the outs from the latest ``combine``
  for that symbol against the realised return that followed them. With
  ``auto_update`` (default True) ``on_bar`` does this itself from consecutive
  closes; callers that call ``update_performance`` directly should turn it off.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.hmm import _load_blob, check_bar

FORMAT = "ensemble"
FORMAT_VERSION = 1
DEFAULTS: dict[str, Any] = {"halflife": 20.0, "prior": 0.1, "auto_update": True, "seed": 0}


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"ensemble: unknown param {unknown[0]!r} (known: {', '.join(sorted(DEFAULTS))})")
    p = {**DEFAULTS, **params}
    for key, low in (("halflife", 0.0), ("prior", 0.0)):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= low:
            raise ValueError(f"ensemble: param {key} must be a positive number, got {v!r}")
        p[key] = float(v)
    if not isinstance(p["auto_update"], bool):
        raise ValueError(f"ensemble: param auto_update must be true or false, got {p['auto_update']!r}")
    return p


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@register("ensemble")
class Ensemble(SignalModel):
    """Skill-weighted average of other models' views; see the module docstring."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._p = _check_params(self.params)
        self._keep = 0.5 ** (1.0 / self._p["halflife"])
        self._perf: dict[str, dict[str, list[float]]] = {}  # symbol -> model -> [hits, misses]
        self._pending: dict[str, dict[str, float]] = {}  # symbol -> model -> value at last combine
        self._closes: dict[str, tuple[int, float]] = {}
        self._last: dict[str, SignalOut] = {}

    def fit(self, closes: pd.DataFrame) -> FitReport:
        """No training: skill is learnt online. Returns a report for the window."""
        idx = getattr(closes, "index", [])
        start, end = (int(idx[0]), int(idx[-1])) if len(idx) else (0, 0)
        return FitReport(model=self.name, version=self.version, train_start=start, train_end=end)

    def hit_rate(self, symbol: str, model: str) -> float:
        """Laplace-smoothed, exponentially weighted hit rate (0.5 for a new model)."""
        hits, misses = self._perf.get(symbol, {}).get(model, [0.0, 0.0])
        return (hits + 1.0) / (hits + misses + 2.0)

    def weights(self, symbol: str, models: list[str]) -> dict[str, float]:
        """Normalised weights for ``models`` on ``symbol`` (sorted by name)."""
        raw = {m: max(0.0, 2.0 * self.hit_rate(symbol, m) - 1.0) + self._p["prior"] for m in sorted(set(models))}
        total = sum(raw.values())
        return {m: r / total for m, r in raw.items()}

    def combine(self, symbol: str, outs: list[SignalOut]) -> SignalOut:
        """Weighted view on ``symbol`` from ``outs`` (other models' latest, same symbol).

        A model appearing twice keeps its last out. The outs are remembered for
        the next ``update_performance`` on this symbol.
        """
        by_model: dict[str, SignalOut] = {}
        for o in outs:
            if o.symbol != symbol:
                raise ValueError(f"ensemble: out from {o.model} is for {o.symbol}, not {symbol}")
            if not (math.isfinite(o.value) and math.isfinite(o.confidence)):
                raise ValueError(f"ensemble: out from {o.model} for {symbol} has a non-finite value or confidence")
            if o.model == self.name:
                continue
            by_model[o.model] = o
        w = self.weights(symbol, list(by_model))
        value = float(sum(w[m] * by_model[m].value for m in w))
        conf = float(sum(w[m] * by_model[m].confidence for m in w))
        ts = max((o.ts for o in by_model.values()), default=self._closes.get(symbol, (0, 0.0))[0])
        self._pending[symbol] = {m: by_model[m].value for m in w}
        detail = {"weights": w, "hit_rates": {m: self.hit_rate(symbol, m) for m in w},
                  "values": {m: by_model[m].value for m in w}}
        out = SignalOut(ts=ts, symbol=symbol, model=self.name, value=max(-1.0, min(1.0, value)),
                        confidence=max(0.0, min(1.0, conf)), detail=detail)
        self._last[symbol] = out
        return out

    def update_performance(self, symbol: str, realized_return: float) -> None:
        """Score the last combined views on ``symbol`` against the return that followed."""
        r = float(realized_return)
        if not math.isfinite(r):
            raise ValueError(f"ensemble: realized_return for {symbol} must be finite, got {realized_return!r}")
        perf = self._perf.setdefault(symbol, {})
        for model, value in sorted(self._pending.get(symbol, {}).items()):
            s = _sign(value) * _sign(r)
            if s == 0:
                continue
            hm = perf.setdefault(model, [0.0, 0.0])
            hm[0] = hm[0] * self._keep + (1.0 if s > 0 else 0.0)
            hm[1] = hm[1] * self._keep + (1.0 if s < 0 else 0.0)

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        """With ``auto_update``, scores the pending views by this bar's simple return."""
        prev = self._closes.get(symbol)
        t, c = check_bar("ensemble", ts, symbol, close, None if prev is None else prev[0])
        if prev is not None and self._p["auto_update"]:
            self.update_performance(symbol, c / prev[1] - 1.0)
        self._closes[symbol] = (t, c)
        return []

    def state(self) -> list[SignalOut]:
        return [self._last[s] for s in sorted(self._last)]

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """Each model's contribution weight x value to the last combined view."""
        out = self._last.get(symbol)
        if out is None:
            return []
        parts = [(m, w * out.detail["values"][m]) for m, w in out.detail["weights"].items()]
        return sorted(parts, key=lambda kv: (-abs(kv[1]), kv[0]))

    def to_bytes(self) -> bytes:
        blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": dict(self.params),
                "version": self.version, "fitted_at": self.fitted_at,
                "perf": {s: {m: list(v) for m, v in d.items()} for s, d in self._perf.items()},
                "pending": {s: dict(d) for s, d in self._pending.items()},
                "closes": dict(self._closes),
                "last": {s: (o.ts, o.value, o.confidence, o.detail) for s, o in self._last.items()}}
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Ensemble":
        d = _load_blob(blob, FORMAT, FORMAT_VERSION)
        m = cls(d["params"])
        m.version, m.fitted_at = int(d["version"]), d["fitted_at"]
        m._perf = {s: {k: list(v) for k, v in dd.items()} for s, dd in d["perf"].items()}
        m._pending = {s: dict(dd) for s, dd in d["pending"].items()}
        m._closes = dict(d["closes"])
        m._last = {s: SignalOut(ts, s, m.name, v, c, det) for s, (ts, v, c, det) in d["last"].items()}
        return m
