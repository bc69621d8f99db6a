"""``forest``: one random forest over all symbols on cross-asset features.

Conventions:
- Returns are simple fractions; sd is sample (ddof=1); Sharpe annualised by
  sqrt(252) (see ``walkforward``); ts are int ns of market time, never the
  wall clock; every random choice comes from ``params["seed"]`` (default 0)
  and the forest is built with n_jobs=1, so two fits agree exactly.
- Features are ``features.make_features`` (returns only, no leakage); one row
  per (bar, symbol), all symbols pooled into one forest.
- ``fit`` validates walk-forward: train on ``train_bars`` bars, predict the
  next ``val_bars``, roll forward ``folds`` times (never a shuffled split),
  then fits the live forest on the last ``train_bars`` bars of the window.

Params (defaults in ``DEFAULTS``):
  target   "return": regress the next-bar return; value = clip(pred/scale, -1, 1)
           with scale = 2 * sd of the live forest's in-sample predictions
           (or params["scale"]); confidence = share of trees whose prediction
           has the forest's sign.
           "big_move": classify |r_{t+1}| > k * vol_20 (vol known at t);
           the output has no direction: value 0, detail["p_big_move"] = the
           probability, confidence = share of trees on the forest's side of 0.5;
           metrics have no val_sharpe meaning (it is NaN) but carry val_auc.
  n_estimators, max_depth, min_samples_leaf, max_features, max_samples: sklearn's
           (max_samples, an int, caps each tree's bootstrap so a 20-symbol fit
           stays at a few seconds on one core).
  train_bars, val_bars, folds: the walk-forward shape; k: the big-move threshold in sd.

  labels   "triple_barrier" (with target "return"): classify the triple-barrier
           label in {-1, 0, +1} (``core.signals.labels``, k * vol_<vol_window>
           barriers, h bars); value = p(up) - p(down), confidence = share of
           trees on the forest's side of 0; training rows within h bars before
           each validation block are purged.
  features "fracdiff" adds a column: the fixed-width fractional difference of
           the symbol's log close, d chosen by an ADF test on the fit window
           (``core.signals.fracdiff``; d in the metrics as fracdiff_d).
  drop     > 0 (e.g. 0.05; default 0, off): a second classifier, fitted on the
           live window's rows, of a fall of more than ``drop`` over the next
           ``drop_h`` bars (close at t + drop_h / close at t - 1 < -drop; rows
           whose horizon runs past the window are left out). Each bar it adds a
           side view, model "forest_drop": value = p(drop) in [0, 1],
           confidence = share of trees on its side of 0.5, and detail["p_drop"]
           on the forest's own view. The hub logs it as a ModelSignal, so the
           options overlay's ``flag_rule = "drop_probability"`` reads it (seed
           000: p > 60% flags a name for puts). No such drop in the window: p = 0
           (metric drop_events = 0).
  leak_check  (on) fit rebuilds the features without the bars after two
           seeded cut points and fails loudly if any row at or before a cut
           changes (``core.signals.leakage``).

``predict_block`` also gives per-feature contributions from the tree paths
(the treeinterpreter decomposition from sklearn's ``tree_`` arrays).
``explain`` gives exact SHAP values (``shap.TreeExplainer``, path-dependent,
no background data, so deterministic) of the symbol's current feature row,
computed once per bar for all symbols; ``shap_global`` (mean |SHAP| over the
last 200 training rows) is computed at fit and kept in the artifact.
"""

from __future__ import annotations

import pickle
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
from core.signals.walkforward import hit_rate, signal_metrics

Array = npt.NDArray[np.float64]
FORMAT = 1
MIN_TRAIN_BARS = 60
MIN_VAL_BARS = 10
DEFAULTS: dict[str, Any] = {
    "seed": 0, "target": "return", "n_estimators": 100, "max_depth": 6,
    "min_samples_leaf": 20, "max_features": 0.33, "max_samples": 2000,
    "train_bars": 500, "val_bars": 100, "folds": 3, "k": 2.0, "scale": None,
    "labels": "return", "h": 5, "vol_window": 20, "leak_check": True, "features": "returns",
    "drop": 0.0, "drop_h": 5,
}  # fmt: skip
DROP_MODEL = "forest_drop"  # the side view's model name (p of a fall past ``drop`` within ``drop_h`` bars)
SHAP_ROWS = 200  # training rows behind shap_global
SHAP_KEEP = 12


class PackedForest:
    """The trees of a fitted forest as padded arrays, walked in numpy.

    ``run(X)`` returns (per-tree predictions (T, n), contributions (n, F), bias);
    it matches sklearn's predict (X is cast to float32 as sklearn does)."""

    def __init__(self, estimators: list[Any], class_index: int | None,
                 class_weights: Array | None = None) -> None:
        trees = [e.tree_ for e in estimators]
        size = max(t.node_count for t in trees)
        n = len(trees)
        self.left = np.full((n, size), -1, dtype=np.int64)
        self.right = np.full((n, size), -1, dtype=np.int64)
        self.feature = np.zeros((n, size), dtype=np.int64)
        self.threshold = np.zeros((n, size), dtype=np.float64)
        self.value = np.zeros((n, size), dtype=np.float64)
        for k, t in enumerate(trees):
            c = t.node_count
            self.left[k, :c], self.right[k, :c] = t.children_left, t.children_right
            self.feature[k, :c] = np.maximum(t.feature, 0)  # leaves carry -2; never read
            self.threshold[k, :c] = t.threshold
            v = np.asarray(t.value[:, 0, :], dtype=np.float64)
            if class_weights is not None:  # e.g. p(up) - p(down): linear in the class proportions
                self.value[k, :c] = (v / v.sum(axis=1, keepdims=True)) @ class_weights
            elif class_index is None:
                self.value[k, :c] = v[:, 0]
            else:  # class proportions (normalised again in case of weighted counts)
                self.value[k, :c] = v[:, class_index] / v.sum(axis=1)
        self.depth = max(int(t.max_depth) for t in trees)
        self.n_features = int(estimators[0].n_features_in_)

    def run(self, x: Array) -> tuple[Array, Array, float]:
        x32 = np.asarray(x, dtype=np.float32)
        n_trees, n = self.left.shape[0], x32.shape[0]
        rows = np.arange(n_trees)[:, None]
        cols = np.broadcast_to(np.arange(n)[None, :], (n_trees, n))
        node = np.zeros((n_trees, n), dtype=np.int64)
        contrib = np.zeros((n, self.n_features))
        for _ in range(self.depth):
            left = self.left[rows, node]
            feat = self.feature[rows, node]
            go = np.where(x32[cols, feat] <= self.threshold[rows, node], left, self.right[rows, node])
            child = np.where(left == -1, node, go)
            np.add.at(contrib, (cols, feat), self.value[rows, child] - self.value[rows, node])
            node = child
        return self.value[rows, node], contrib / n_trees, float(self.value[:, 0].mean())


def _auc(p: Array, label: Array) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney); NaN with one class only."""
    pos, neg = int(label.sum()), int((1 - label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(p).rank().to_numpy()
    return float((ranks[label == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


@register("forest")
class ForestModel(SignalModel):
    """Random forest of the next-bar return (or big-move probability), all symbols pooled."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.p: dict[str, Any] = checked("forest", self.params, DEFAULTS)
        if self.barrier and self.p["target"] != "return":
            raise ValueError("signals.forest.labels = 'triple_barrier' needs target 'return' (not big_move)")
        self.forest: Any = None  # a fitted sklearn RandomForestRegressor/Classifier
        self.packed: PackedForest | None = None
        self.symbols: list[str] = []
        self.names: list[str] = []
        self.scale = 1.0
        self.features: FeatureState | None = None
        self._latest: dict[str, SignalOut] = {}
        self._contrib: dict[str, Array] = {}
        self.shap_global: list[tuple[str, float]] = []
        self.d = float("nan")  # fracdiff order (features = "fracdiff")
        self.fd: FracDiffState | None = None
        self._explained: dict[str, tuple[int, list[tuple[str, float]]]] = {}
        self._explainer: Any = None
        self.drop_forest: Any = None  # RandomForestClassifier of a fall past ``drop`` (None: off or no such fall)
        self.packed_drop: PackedForest | None = None

    # ------------------------------------------------------------ training

    @property
    def classifier(self) -> bool:
        return bool(self.p["target"] == "big_move") or self.barrier

    @property
    def barrier(self) -> bool:
        return bool(self.p["labels"] == "triple_barrier")

    def _new_forest(self, rows: int) -> Any:
        # Imported here: scikit-learn 1.9 loads rich (sklearn.callback) on import, and
        # core must not pull UI libraries in just because the model is registered.
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # type: ignore[import-untyped, unused-ignore]

        kw = {k: self.p[k] for k in ("n_estimators", "max_depth", "min_samples_leaf", "max_features")}
        cap = self.p["max_samples"]
        # An int cap bounds each tree's bootstrap (fit time) whatever the universe size.
        kw["max_samples"] = None if isinstance(cap, int) and cap >= rows else cap
        cls = RandomForestClassifier if self.classifier else RandomForestRegressor
        return cls(**kw, n_jobs=1, random_state=int(self.p["seed"]))

    def _target(self, x: pd.DataFrame, y: pd.Series, closes: pd.DataFrame) -> pd.Series:
        if self.barrier:
            lab = triple_barrier_labels(closes, float(self.p["k"]), int(self.p["h"]), int(self.p["vol_window"]))
            stacked = lab.stack(future_stack=True)
            stacked.index = stacked.index.set_names(["ts", "symbol"])
            return stacked.reindex(x.index)
        if not self.classifier:
            return y
        big = (y.abs() > float(self.p["k"]) * x["vol_20"]).astype(np.float64)
        return big.where(y.notna())

    def _predict(self, forest: Any, x: pd.DataFrame) -> Array:
        if not self.classifier:
            return np.asarray(forest.predict(x.to_numpy()), dtype=np.float64)
        classes = list(forest.classes_)
        if self.barrier:
            prob = forest.predict_proba(x.to_numpy())
            up = prob[:, classes.index(1.0)] if 1.0 in classes else 0.0
            down = prob[:, classes.index(-1.0)] if -1.0 in classes else 0.0
            return np.asarray(up - down, dtype=np.float64) + np.zeros(len(x))
        if 1.0 not in classes:
            return np.zeros(len(x))
        return np.asarray(forest.predict_proba(x.to_numpy())[:, classes.index(1.0)], dtype=np.float64)

    def _fold_plan(self, n_bars: int) -> tuple[int, int]:
        """(folds, val_bars) that fit in ``n_bars`` usable bars."""
        folds, want = int(self.p["folds"]), int(self.p["val_bars"])
        while folds >= 1:
            val = min(want, (n_bars - MIN_TRAIN_BARS) // folds)
            if val >= MIN_VAL_BARS:
                return folds, val
            folds -= 1
        need = MIN_TRAIN_BARS + MIN_VAL_BARS + WINDOW + 1
        raise DataError(f"forest fit: {n_bars + WINDOW + 1} bars in the window; need at least {need}")

    def fit(self, closes: pd.DataFrame) -> FitReport:
        check_closes(closes, "forest fit", min_rows=WINDOW + 2)
        if self.p["features"] == "fracdiff":
            self.d = choose_d(np.log(closes.to_numpy(dtype=np.float64)))[0]
        if self.p["leak_check"]:
            check_no_lookahead(self.feature_rows, closes, int(self.p["seed"]), "forest fit")
        x, y = self._features(closes)
        target = self._target(x, y, closes)
        ok = (target.notna() & x.notna().all(axis=1)).to_numpy()
        x, y, target = x[ok], y[ok], target[ok]
        ts = x.index.get_level_values("ts").to_numpy()
        bars = np.unique(ts)
        folds, val_bars = self._fold_plan(len(bars))
        train_bars = int(self.p["train_bars"])
        preds: list[pd.Series] = []
        for f in range(folds):
            self.report_progress(f / (folds + 1), f"validation fold {f + 1}/{folds}")
            v_end = len(bars) - (folds - 1 - f) * val_bars
            v0, v1 = bars[v_end - val_bars], bars[v_end - 1]
            t0 = bars[max(0, v_end - val_bars - train_bars)]
            purge = int(self.p["h"]) - 1 if self.barrier else 0  # labels that reach into the validation block
            tr = (ts >= t0) & (ts < bars[max(0, v_end - val_bars - purge)])
            va = (ts >= v0) & (ts <= v1)
            forest = self._new_forest(int(tr.sum())).fit(x[tr].to_numpy(), target[tr].to_numpy())
            preds.append(pd.Series(self._predict(forest, x[va]), index=x.index[va]))
        pred = pd.concat(preds)
        metrics = self._metrics(pred, y.loc[pred.index], target.loc[pred.index])
        metrics.update({"val_folds": float(folds), "val_bars": float(val_bars)})
        self.report_progress(folds / (folds + 1), "live forest")
        live = ts >= bars[max(0, len(bars) - train_bars)]
        self.forest = self._new_forest(int(live.sum())).fit(x[live].to_numpy(), target[live].to_numpy())
        if float(self.p["drop"]) > 0.0:
            metrics["drop_events"] = self._fit_drop(closes, x[live])
        self._finish(closes, x[live])
        metrics["train_rows"] = float(live.sum())
        if self.p["features"] == "fracdiff":
            metrics["fracdiff_d"] = self.d
        self.version += 1
        self.fitted_at = int(closes.index[-1])
        return FitReport(self.name, self.version, int(closes.index[0]), int(closes.index[-1]), metrics)

    def _fit_drop(self, closes: pd.DataFrame, x: pd.DataFrame) -> float:
        """The drop classifier on the live rows ``x``; returns how many rows were drops."""
        from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped, unused-ignore]

        h = int(self.p["drop_h"])
        fwd = closes.shift(-h) / closes - 1.0
        stacked = fwd.stack(future_stack=True)
        stacked.index = stacked.index.set_names(["ts", "symbol"])
        r = stacked.reindex(x.index)
        ok = r.notna().to_numpy()
        label = (r[ok] < -float(self.p["drop"])).astype(np.float64).to_numpy()
        self.drop_forest = None
        if label.sum() == 0 or label.sum() == len(label):
            return float(label.sum())
        kw = {k: self.p[k] for k in ("n_estimators", "max_depth", "min_samples_leaf", "max_features")}
        cap = self.p["max_samples"]
        kw["max_samples"] = None if isinstance(cap, int) and cap >= int(ok.sum()) else cap
        self.drop_forest = RandomForestClassifier(**kw, n_jobs=1, random_state=int(self.p["seed"]))
        self.drop_forest.fit(x[ok].to_numpy(), label)
        return float(label.sum())

    def _features(self, closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """``make_features`` plus, with features "fracdiff", its column (NaN until its width is in)."""
        x, y = make_features(closes)
        if self.p["features"] == "fracdiff":
            x = x.assign(fracdiff=fracdiff_column(closes, self.d, x.index))
        return x, y

    def feature_rows(self, closes: pd.DataFrame) -> tuple[Any, list[str], Array]:
        """(bar ts per row, names, rows) of the features: what the leakage check compares."""
        return _feature_rows_of(self._features(closes)[0])

    def _metrics(self, pred: pd.Series, y: pd.Series, target: pd.Series) -> dict[str, float]:
        if self.barrier:
            pm = pred.unstack("symbol")
            out = signal_metrics(pm.to_numpy(), y.unstack("symbol").reindex_like(pm).to_numpy(), prefix="val_")
            lab = target.to_numpy()
            out["val_accuracy"] = float(np.mean(np.where(pred.to_numpy() > 1 / 3, 1.0,
                                                         np.where(pred.to_numpy() < -1 / 3, -1.0, 0.0)) == lab))
            return out
        if not self.classifier:
            pm = pred.unstack("symbol")
            ym = y.unstack("symbol").reindex_like(pm)
            return signal_metrics(pm.to_numpy(), ym.to_numpy(), prefix="val_")
        p, lab = pred.to_numpy(), target.to_numpy()
        return {
            "val_auc": _auc(p, lab),
            "val_brier": float(np.mean((p - lab) ** 2)),
            "val_base_rate": float(lab.mean()),
            "val_hit_rate": hit_rate(np.where(p > 0.5, 1.0, -1.0), np.where(lab > 0, 1.0, -1.0)),
            "val_sharpe": float("nan"),
            "val_n": float(len(p)),
        }

    def _finish(self, closes: pd.DataFrame, x_live: pd.DataFrame) -> None:
        assert self.forest is not None
        self.symbols = [str(c) for c in closes.columns]
        self.names = list(x_live.columns)
        self._pack()
        if self.p["scale"] is not None:
            self.scale = float(self.p["scale"])
        elif not self.classifier:
            sd = float(np.std(self._predict(self.forest, x_live), ddof=1))
            self.scale = 2.0 * sd if sd > 0 else 1.0
        self.features = FeatureState(self.symbols)
        self.features.warm(closes)
        if self.p["features"] == "fracdiff":
            self.fd = FracDiffState(self.d, len(self.symbols))
            self.fd.warm(closes.to_numpy(dtype=np.float64))
        self._latest, self._contrib = {}, {}
        self._explainer, self._explained = None, {}
        vals = self.shap_values(x_live.to_numpy()[-SHAP_ROWS:])
        self.shap_global = sorted(zip(self.names, np.abs(vals).mean(axis=0).tolist()),
                                  key=lambda nv: -nv[1])[:SHAP_KEEP]

    def _pack(self) -> None:
        assert self.forest is not None
        index: int | None = None
        if self.barrier:
            classes = [float(c) for c in self.forest.classes_]
            weights = np.array([1.0 if c == 1.0 else -1.0 if c == -1.0 else 0.0 for c in classes])
            self.packed = PackedForest(list(self.forest.estimators_), None, weights)
            self._pack_drop()
            return
        if self.classifier:
            classes = list(self.forest.classes_)
            if 1.0 not in classes:
                raise DataError("forest fit: no big moves in the training window (target big_move); lower k")
            index = classes.index(1.0)
        self.packed = PackedForest(list(self.forest.estimators_), index)
        self._pack_drop()

    def _pack_drop(self) -> None:
        df = self.drop_forest
        self.packed_drop = None if df is None else \
            PackedForest(list(df.estimators_), [float(c) for c in df.classes_].index(1.0))

    # ------------------------------------------------------------ live

    def predict_block(self, block: Array) -> tuple[Array, Array, Array, float]:
        """Per-row (prediction, tree agreement, contributions, bias) of a feature block."""
        if self.packed is None:
            raise RuntimeError("forest: fit (or from_bytes) before predicting")
        per_tree, contrib, bias = self.packed.run(block)
        pred = per_tree.mean(axis=0)
        if self.classifier and not self.barrier:
            agree = (np.sign(per_tree - 0.5) == np.sign(pred - 0.5)).mean(axis=0)
        else:
            agree = np.where(pred != 0, (np.sign(per_tree) == np.sign(pred)).mean(axis=0), 0.0)
        return pred, agree, contrib, bias

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        if self.features is None:
            raise RuntimeError("forest: fit (or from_bytes) before on_bar")
        out: list[SignalOut] = []
        for bar_ts, block in self.features.push(ts, symbol, close):
            if self.fd is not None:
                assert self.features._last is not None
                fd = self.fd.update(self.features._last)
                if block is not None:
                    block = np.concatenate([block, fd[:, None]], axis=1)
                    self.features.block = block
            if block is not None and np.isfinite(block).all():
                out.extend(self._signals(bar_ts, block))
        return out

    def _signals(self, ts: int, block: Array) -> list[SignalOut]:
        pred, agree, contrib, _ = self.predict_block(block)
        out = []
        drop = float(self.p["drop"]) > 0.0
        p_drop = np.zeros(len(self.symbols))
        drop_agree = np.ones(len(self.symbols))
        if self.packed_drop is not None:
            per_tree = self.packed_drop.run(block)[0]
            p_drop = per_tree.mean(axis=0)
            drop_agree = (np.sign(per_tree - 0.5) == np.sign(p_drop - 0.5)).mean(axis=0)
        for i, sym in enumerate(self.symbols):
            p = float(pred[i])
            if self.barrier:
                value, detail = float(np.clip(p, -1.0, 1.0)), {"p_up_minus_down": p}
            elif self.classifier:
                value, detail = 0.0, {"p_big_move": p}
            else:
                value, detail = float(np.clip(p / self.scale, -1.0, 1.0)), {"pred": p}
            detail["version"] = self.version
            if drop:  # the side view first: the overlay reads it when the forest's own view arrives
                detail["p_drop"] = float(p_drop[i])
                out.append(SignalOut(ts, sym, DROP_MODEL, float(p_drop[i]), float(drop_agree[i]),
                                     {"version": self.version, "drop": float(self.p["drop"]),
                                      "drop_h": int(self.p["drop_h"])}))
            sig = SignalOut(ts, sym, self.name, value, float(agree[i]), detail)
            self._latest[sym] = sig
            self._contrib[sym] = contrib[i]
            out.append(sig)
        return out

    def state(self) -> list[SignalOut]:
        return [self._latest[s] for s in self.symbols if s in self._latest]

    def shap_values(self, rows: Array) -> Array:
        """Exact SHAP values (rows, features) of the forest's output for feature
        ``rows``: the prediction ("return"), p(big move) or p(up) - p(down)."""
        import shap  # type: ignore[import-untyped, unused-ignore]

        if self._explainer is None:
            self._explainer = shap.TreeExplainer(self.forest)
        raw = np.asarray(self._explainer.shap_values(np.asarray(rows, dtype=np.float64), check_additivity=False))
        if raw.ndim == 2:
            return np.asarray(raw, dtype=np.float64)
        classes = [float(c) for c in self.forest.classes_]
        if self.barrier:
            w = np.array([1.0 if c == 1.0 else -1.0 if c == -1.0 else 0.0 for c in classes])
        else:
            w = np.array([1.0 if c == 1.0 else 0.0 for c in classes])
        return np.asarray(raw @ w, dtype=np.float64)  # (rows, features, classes) -> (rows, features)

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """SHAP values of ``symbol``'s current feature row, largest first (one
        TreeExplainer call per bar for all symbols, then cached)."""
        sig = self._latest.get(symbol)
        block = None if self.features is None else self.features.block
        if sig is None or block is None or self.forest is None:
            return []
        got = self._explained.get(symbol)
        if got is None or got[0] != sig.ts:
            vals = self.shap_values(block)
            for i, sym in enumerate(self.symbols):
                pairs = sorted(((n, float(v)) for n, v in zip(self.names, vals[i])), key=lambda nv: -abs(nv[1]))
                self._explained[sym] = (sig.ts, pairs[:SHAP_KEEP])
            got = self._explained[symbol]
        return list(got[1])

    # ------------------------------------------------------------ artifact

    def to_bytes(self) -> bytes:
        if self.forest is None:
            raise RuntimeError("forest: nothing to serialise before fit")
        blob = {
            "format": FORMAT, "params": self.params, "version": self.version,
            "fitted_at": self.fitted_at, "forest": self.forest, "symbols": self.symbols,
            "names": self.names, "scale": self.scale, "features": self.features,
            "latest": self._latest, "contrib": self._contrib, "shap_global": self.shap_global,
            "d": self.d, "fd": self.fd, "drop_forest": self.drop_forest,
        }  # fmt: skip
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "ForestModel":
        """Rebuild from ``to_bytes`` output (a trusted artifact: it is a pickle)."""
        d = pickle.loads(blob)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError("forest artifact: unknown format")
        m = cls(d["params"])
        m.version, m.fitted_at, m.forest = d["version"], d["fitted_at"], d["forest"]
        m.symbols, m.names, m.scale = d["symbols"], d["names"], d["scale"]
        m.features, m._latest, m._contrib = d["features"], d["latest"], d["contrib"]
        m.shap_global = list(d.get("shap_global", []))
        m.d, m.fd = float(d.get("d", float("nan"))), d.get("fd")
        m.drop_forest = d.get("drop_forest")
        m._pack()
        return m


def _feature_rows_of(x: pd.DataFrame) -> tuple[Any, list[str], Array]:
    return x.index.get_level_values("ts").to_numpy(), list(x.columns), x.to_numpy(dtype=np.float64)


def _feature_rows(closes: pd.DataFrame) -> tuple[Any, list[str], Array]:
    """(bar ts per row, names, rows) of ``make_features``: what the leakage check compares."""
    x, _ = make_features(closes)
    return x.index.get_level_values("ts").to_numpy(), list(x.columns), x.to_numpy(dtype=np.float64)
