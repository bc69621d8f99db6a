"""``sgd``: an online linear model updated every bar (scikit-learn SGD ``partial_fit``).

Conventions:
- Features are ``features.make_features`` (returns only; the row at t uses
  closes up to t), standardised with the mean/sd of the first fit's training
  block (stored, never updated, so an update cannot move the inputs).
- ``features = "fracdiff"`` adds a column: the fixed-width fractional
  difference of the log close, d chosen by an ADF test on the first fit's
  window (``core.signals.fracdiff``).
- Labels: "return" (the next-bar return, divided by its training sd) with an
  ``SGDRegressor`` (loss squared_error or huber), or "triple_barrier"
  (``core.signals.labels``, k * vol_<vol_window> barriers, h bars) with an
  ``SGDClassifier`` over classes {-1, 0, +1} (loss log_loss or modified_huber).
- Updates: at every completed bar the model first learns the rows whose
  label has just become known (the previous bar's row for "return"; the row
  of h bars ago for "triple_barrier", labelled from the closes seen since), one
  ``partial_fit`` call per bar in symbol order, then predicts this bar. So a
  view at t uses labels known at t only, and the same bars in give the same
  weights and views out (``shuffle=False``, ``random_state=seed``, one thread):
  replay re-runs it from the stored weights and the logged bars exactly.
- ``fit`` (the first fit and each refit): ``epochs`` chronological passes of
  ``partial_fit`` over the training block (the first 1 - ``val_frac`` of the
  window), then a prequential validation over the rest (predict each bar,
  then learn its label, as it runs live): its metrics are the val_ figures.
- Output: "return": value = clip(pred / scale, -1, 1), scale = 2 * sd of the
  training-block predictions (or params["scale"]), confidence = min(1, |value|);
  "triple_barrier": value = p(up) - p(down), confidence = max p.
- ``explain``: SHAP values of the linear model, coef * (x - background mean)
  in standardised units, the background being the training block (what
  ``shap.LinearExplainer`` with an independent masker gives: exact for a
  linear model, and a test checks the two agree).
"""

from __future__ import annotations

import pickle
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.features import WINDOW, FeatureState, check_closes, make_features
from core.signals.fracdiff import FracDiffState, choose_d, fracdiff_column
from core.signals.labels import triple_barrier_labels
from core.signals.leakage import check_no_lookahead
from core.signals.params import checked
from core.signals.walkforward import signal_metrics

Array = npt.NDArray[np.float64]
FORMAT = 1
MIN_BARS = 40
DEFAULTS: dict[str, Any] = {
    "seed": 0, "labels": "return", "loss": None, "alpha": 1e-4, "penalty": "l2",
    "eta0": 0.01, "learning_rate": "invscaling", "epochs": 3, "train_bars": 500, "val_frac": 0.3,
    "k": 1.0, "h": 5, "vol_window": 20, "scale": None, "leak_check": True, "features": "returns",
}  # fmt: skip
CLASSES = np.array([-1.0, 0.0, 1.0])


@register("sgd")
class SGDModel(SignalModel):
    """Linear model on the cross-asset features, learning from every bar."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.p: dict[str, Any] = checked("sgd", self.params, DEFAULTS)
        loss = self.p["loss"] or ("log_loss" if self.barrier else "squared_error")
        ok = ("log_loss", "modified_huber") if self.barrier else ("squared_error", "huber")
        if loss not in ok:
            raise ValueError(f"signals.sgd.loss must be one of {', '.join(ok)} with labels "
                             f"{self.p['labels']!r}, got {loss!r}")
        self.loss = loss
        self.model: Any = None
        self.symbols: list[str] = []
        self.names: list[str] = []
        self.x_mean: Array = np.zeros(0)
        self.x_sd: Array = np.ones(0)
        self.y_sd = 1.0
        self.scale = 1.0
        self.features: FeatureState | None = None
        self.updates = 0  # partial_fit calls since the first fit
        # rows waiting for their label: (standardised block (N, F), closes at t, vol at t)
        self._pending: deque[tuple[Array, Array, Array]] = deque()
        self._rets: deque[Array] = deque(maxlen=int(self.p["vol_window"]))
        self._path: deque[Array] = deque(maxlen=int(self.p["h"]) + 1)
        self._latest: dict[str, SignalOut] = {}
        self._xlatest: Array | None = None
        self.d = float("nan")
        self.fd: FracDiffState | None = None

    @property
    def barrier(self) -> bool:
        return bool(self.p["labels"] == "triple_barrier")

    @property
    def fracdiff(self) -> bool:
        return bool(self.p["features"] == "fracdiff")

    def _features(self, closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        x, y = make_features(closes)
        if self.fracdiff:
            x = x.assign(fracdiff=fracdiff_column(closes, self.d, x.index))
        return x, y

    def feature_rows(self, closes: pd.DataFrame) -> tuple[Any, list[str], Array]:
        x, _ = self._features(closes)
        return x.index.get_level_values("ts").to_numpy(), list(x.columns), x.to_numpy(dtype=np.float64)

    def _new(self) -> Any:
        from sklearn.linear_model import SGDClassifier, SGDRegressor  # type: ignore[import-untyped, unused-ignore]

        kw = {"loss": self.loss, "alpha": float(self.p["alpha"]), "penalty": self.p["penalty"],
              "eta0": float(self.p["eta0"]), "learning_rate": self.p["learning_rate"],
              "shuffle": False, "random_state": int(self.p["seed"])}
        return SGDClassifier(**kw) if self.barrier else SGDRegressor(**kw)

    def _learn(self, x: Array, y: Array) -> None:
        keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
        if not keep.any():
            return
        if self.barrier:
            self.model.partial_fit(x[keep], y[keep], classes=CLASSES)
        else:
            self.model.partial_fit(x[keep], y[keep] / self.y_sd)
        self.updates += 1

    def _predict(self, x: Array) -> tuple[Array, Array]:
        """(signal-unit output, confidence) for standardised rows."""
        if self.barrier:
            prob = self.model.predict_proba(x)
            cls = [float(c) for c in self.model.classes_]
            up, down = prob[:, cls.index(1.0)], prob[:, cls.index(-1.0)]
            return np.asarray(up - down, dtype=np.float64), np.asarray(prob.max(axis=1), dtype=np.float64)
        pred = np.asarray(self.model.predict(x), dtype=np.float64) * self.y_sd
        return pred, np.full(len(pred), np.nan)

    # ------------------------------------------------------------ training

    def fit(self, closes: pd.DataFrame) -> FitReport:
        check_closes(closes, "sgd fit", min_rows=WINDOW + MIN_BARS)
        closes = closes.iloc[-(int(self.p["train_bars"]) + WINDOW + 1):]
        if self.fracdiff:
            self.d = choose_d(np.log(closes.to_numpy(dtype=np.float64)))[0]
        if self.p["leak_check"]:
            check_no_lookahead(self.feature_rows, closes, int(self.p["seed"]), "sgd fit")
        x, y = self._features(closes)
        self.symbols = [str(s) for s in closes.columns]
        self.names = list(x.columns)
        n = len(self.symbols)
        if self.barrier:
            lab = triple_barrier_labels(closes, float(self.p["k"]), int(self.p["h"]), int(self.p["vol_window"]))
            target = lab.to_numpy(dtype=np.float64)[WINDOW:].reshape(-1)
        else:
            target = y.to_numpy(dtype=np.float64)
        fwd = y.to_numpy(dtype=np.float64)
        xa = x.to_numpy(dtype=np.float64)
        bars = len(xa) // n
        n_val = max(10, int(round(bars * float(self.p["val_frac"]))))
        purge = int(self.p["h"]) if self.barrier else 1  # labels of the last training rows end before validation
        n_tr = bars - n_val - purge
        if n_tr < MIN_BARS // 2:
            raise DataError(f"sgd fit: {len(closes)} bars; too few for a training block and a validation block")
        tr = slice(0, n_tr * n)
        self.x_mean = np.nanmean(xa[tr], axis=0)
        sd = np.nanstd(xa[tr], axis=0, ddof=1)
        self.x_sd = np.where(sd > 0, sd, 1.0)
        ys = target[tr][np.isfinite(target[tr])]
        self.y_sd = 1.0 if self.barrier or len(ys) < 2 or not ys.std(ddof=1) > 0 else float(ys.std(ddof=1))
        xs = (xa - self.x_mean) / self.x_sd
        self.model, self.updates = self._new(), 0
        for e in range(int(self.p["epochs"])):
            self.report_progress(e / (int(self.p["epochs"]) + 1), f"pass {e + 1} over the training block")
            self._learn(xs[tr], target[tr])  # one chronological pass (shuffle=False)
        fin = np.isfinite(xs[tr]).all(axis=1)  # fracdiff rows are NaN until its width is in
        train_pred = self._predict(xs[tr][fin])[0]
        if not self.barrier:
            sd_pred = float(np.std(train_pred, ddof=1))
            self.scale = float(self.p["scale"] or (2.0 * sd_pred if sd_pred > 0 else 1.0))
        # prequential validation, as live: at bar b learn the label that b makes known (bar b - purge's),
        # then predict b
        self.report_progress(0.9, "prequential validation")
        v0 = n_tr + purge
        preds = np.full((n_val, n), np.nan)
        for b in range(n_tr, bars):
            known = b - purge  # its label ends at b at the latest
            if known >= n_tr:
                self._learn(xs[known * n:(known + 1) * n], target[known * n:(known + 1) * n])
            if b >= v0:
                preds[b - v0] = self._predict(xs[b * n:(b + 1) * n])[0]
        val_fwd = fwd[v0 * n:].reshape(-1, n)
        metrics = signal_metrics(preds[: len(val_fwd)], val_fwd, prefix="val_")
        metrics.update({"train_rows": float(n_tr * n), "updates": float(self.updates)})
        if self.fracdiff:
            metrics["fracdiff_d"] = self.d
        # the rows whose labels are not known yet at the window's end wait for live bars
        self.features = FeatureState(self.symbols)
        self.features.warm(closes)
        if self.fracdiff:
            self.fd = FracDiffState(self.d, n)
            self.fd.warm(closes.to_numpy(dtype=np.float64))
        c = closes.to_numpy(dtype=np.float64)
        rets = c[1:] / c[:-1] - 1.0
        self._rets = deque(rets[-int(self.p["vol_window"]):], maxlen=int(self.p["vol_window"]))
        self._pending = deque()
        self._path = deque(maxlen=int(self.p["h"]) + 1)
        for b in range(max(0, bars - purge), bars):
            t_row = WINDOW + b  # row of closes for feature bar b
            vol = _vol(rets[max(0, t_row - int(self.p["vol_window"])):t_row])
            self._pending.append((xs[b * n:(b + 1) * n], c[t_row], vol))
        self._path.extend(c[-(int(self.p["h"]) + 1):])
        self._latest, self._xlatest = {}, None
        self.version += 1
        self.fitted_at = int(closes.index[-1])
        return FitReport(self.name, self.version, int(closes.index[0]), int(closes.index[-1]), metrics)

    # ------------------------------------------------------------ live

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        if self.features is None or self.model is None:
            raise RuntimeError("sgd: fit (or from_bytes) before on_bar")
        out: list[SignalOut] = []
        for bar_ts, row in self.features.assembler.push(ts, symbol, close):
            prev = self.features._last
            block = self.features.update(bar_ts, row)
            if prev is not None:
                self._rets.append(row / prev - 1.0)
            self._path.append(row)
            self._resolve(row)
            if self.fd is not None:
                fd = self.fd.update(row)
                block = None if block is None else np.concatenate([block, fd[:, None]], axis=1)
            if block is None or not np.isfinite(block).all():
                continue
            xs = (block - self.x_mean) / self.x_sd
            self._pending.append((xs, row.copy(), _vol(np.stack(self._rets)) if len(self._rets) > 1
                                  else np.full(len(row), np.nan)))
            out.extend(self._signals(bar_ts, xs))
        return out

    def _resolve(self, row: Array) -> None:
        """Learn every pending row whose label this bar makes known."""
        h = int(self.p["h"]) if self.barrier else 1
        # one row per bar, the newest from the previous bar: the head is len(pending) bars old
        while len(self._pending) >= h:
            age = len(self._pending)
            xs, c0, vol = self._pending.popleft()
            if self.barrier:
                path = np.stack(list(self._path)[-age:][:h]) / c0 - 1.0  # the h closes after t
                y = _barrier(path, float(self.p["k"]) * vol)
            else:
                y = row / c0 - 1.0
            self._learn(xs, y)

    def _signals(self, ts: int, xs: Array) -> list[SignalOut]:
        pred, top = self._predict(xs)
        self._xlatest = xs
        out = []
        for i, sym in enumerate(self.symbols):
            p = float(pred[i])
            if self.barrier:
                value, conf = float(np.clip(p, -1.0, 1.0)), float(top[i])
            else:
                value = float(np.clip(p / self.scale, -1.0, 1.0))
                conf = min(1.0, abs(value))
            sig = SignalOut(ts, sym, self.name, value, conf,
                            {"pred": p, "version": self.version, "updates": self.updates})
            self._latest[sym] = sig
            out.append(sig)
        return out

    def state(self) -> list[SignalOut]:
        return [self._latest[s] for s in self.symbols if s in self._latest]

    def coef(self) -> Array:
        """Weights on the standardised features, (F,) (for the classifier: up minus down)."""
        c = np.asarray(self.model.coef_, dtype=np.float64)
        if not self.barrier:
            return c.ravel() * self.y_sd / self.scale
        cls = [float(v) for v in self.model.classes_]
        return np.asarray(c[cls.index(1.0)] - c[cls.index(-1.0)], dtype=np.float64)

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """SHAP values of the linear score (standardised features; background mean 0)."""
        if self._xlatest is None or symbol not in self.symbols or self.model is None:
            return []
        x = self._xlatest[self.symbols.index(symbol)]
        pairs = [(n, float(v)) for n, v in zip(self.names, self.coef() * x)]
        return sorted(pairs, key=lambda nv: -abs(nv[1]))[:12]

    # ------------------------------------------------------------ artifact

    def to_bytes(self) -> bytes:
        if self.model is None:
            raise RuntimeError("sgd: nothing to serialise before fit")
        blob = {"format": FORMAT, "params": self.params, "version": self.version, "fitted_at": self.fitted_at,
                "model": self.model, "symbols": self.symbols, "names": self.names, "x_mean": self.x_mean,
                "x_sd": self.x_sd, "y_sd": self.y_sd, "scale": self.scale, "features": self.features,
                "updates": self.updates, "pending": list(self._pending), "rets": list(self._rets),
                "path": list(self._path), "latest": self._latest, "xlatest": self._xlatest,
                "d": self.d, "fd": self.fd}
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "SGDModel":
        """Rebuild from ``to_bytes`` output (a trusted artifact: it is a pickle)."""
        d = pickle.loads(blob)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError("sgd artifact: unknown format")
        m = cls(d["params"])
        m.version, m.fitted_at, m.model = d["version"], d["fitted_at"], d["model"]
        m.symbols, m.names, m.x_mean, m.x_sd = d["symbols"], d["names"], d["x_mean"], d["x_sd"]
        m.y_sd, m.scale, m.features, m.updates = d["y_sd"], d["scale"], d["features"], d["updates"]
        m._pending = deque(d["pending"])
        m._rets = deque(d["rets"], maxlen=int(m.p["vol_window"]))
        m._path = deque(d["path"], maxlen=int(m.p["h"]) + 1)
        m._latest, m._xlatest = d["latest"], d["xlatest"]
        m.d, m.fd = float(d.get("d", float("nan"))), d.get("fd")
        return m


def _vol(rets: Array) -> Array:
    """Sample sd (ddof=1) per column of a (k, N) block of returns."""
    r = np.asarray(rets, dtype=np.float64)
    return r.std(axis=0, ddof=1) if len(r) > 1 else np.full(r.shape[-1], np.nan)


def _barrier(path: Array, width: Array) -> Array:
    """Triple-barrier label per column from the (h, N) returns since t: the
    first touch of +width (1) or -width (-1), else 0 (NaN where width is not > 0)."""
    out = np.zeros(path.shape[1])
    open_ = np.isfinite(width) & (width > 0)
    out[~open_] = np.nan
    for r in path:
        up, down = open_ & (r >= width), open_ & (r <= -width)
        out[up], out[down] = 1.0, -1.0
        open_ &= ~(up | down)
    return out


def _feature_rows(closes: pd.DataFrame) -> tuple[Any, list[str], Array]:
    x, _ = make_features(closes)
    return x.index.get_level_values("ts").to_numpy(), list(x.columns), x.to_numpy(dtype=np.float64)
