"""``lstm``: a small LSTM over windows of returns, one network for all symbols.

``WindowNetModel`` here is also the base of ``cnn`` and ``transformer``
(``core.signals.nets``): everything below but the network applies to all three.

Conventions:
- Returns are simple fractions; sd is sample (ddof=1); Sharpe annualised by
  sqrt(252) (see ``walkforward``); ts are int ns of market time, never the
  wall clock.
- Determinism: ``fit`` and every prediction run on one CPU thread with
  deterministic algorithms, under a forked torch RNG seeded from
  ``params["seed"]`` (default 0); the global torch RNG is left untouched, so
  two fits with the same params on the same window predict identically.
- Input of symbol s at bar t: the last ``window`` returns of s (and, with
  two or more symbols, the equal-weight market return), standardised with the
  mean/sd of the TRAINING split only; both are stored in the artifact.
- Target: the next-bar return (standardised with the training mean/sd), or with
  ``labels="triple_barrier"`` the triple-barrier label in {-1, 0, +1}
  (``triple_barrier_labels``) learned as three classes.
- Validation: the last ``val_frac`` of the window's bars, chronological (never
  shuffled across time), after an embargo of the label horizon (1 bar, or h);
  early stopping on validation loss with ``patience``; the best epoch's
  weights are kept. The live network is that one (it is not refitted on the
  validation block).

Regularisation: ``weight_decay`` (L2, Adam's) and ``l1`` (x sum of |weights|);
both 0 by default for the LSTM (its fits are what they were), 1e-4 L2 for the
CNN and the Transformer. ``indicators = true`` adds, per step, the forest's
own-symbol features (momentum 5/10/20, 20-bar vol, z-return, RSI 14, return
relative to the market, market momentum; each from the 20 returns up to that
step). ``features = "fracdiff"`` adds one more input per step:
the fixed-width fractional difference of the log close with d chosen by an
ADF test on the fit window (``core.signals.fracdiff``). ``leak_check`` (on)
re-builds the inputs without the bars after two seeded cut points and fails
the fit if any input at or before a cut changes (``core.signals.leakage``).

Explanations: SHAP values (``shap.GradientExplainer``, expected gradients)
of the view against a seeded background of 32 training windows stored in
the artifact, with the mean |SHAP| over validation windows (``shap_global``).

Output: "return" labels: value = clip(pred / scale, -1, 1) with scale = 2 * sd
of the training predictions (or params["scale"]), confidence = min(1, |value|).
"triple_barrier": value = p(up) - p(down), confidence = the top class probability.
"""

from __future__ import annotations

import copy
import math
import threading
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import torch
from torch import nn

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.features import OWN, WINDOW, BarAssembler, _block, check_closes
from core.signals.fracdiff import MAX_WIDTH, choose_d, ffd_weights, frac_diff
from core.signals.labels import triple_barrier_labels
from core.signals.leakage import check_no_lookahead
from core.signals.params import checked
from core.signals.torch_common import torch_bytes, torch_env, torch_loads
from core.signals.walkforward import signal_metrics

__all__ = ["LSTMModel", "WindowNetModel", "triple_barrier_labels"]

Array = npt.NDArray[np.float64]
FORMAT = 2  # 1: before cnn/transformer (no "model", "fd", SHAP keys); still loads
MIN_VAL_BARS = 5
BG_WINDOWS = 32  # SHAP background windows kept with the weights
SHAP_KEEP = 12  # contributions kept per explanation
GLOBAL_WINDOWS = 16  # validation windows behind shap_global (the latest)
_SHAP_LOCK = threading.Lock()  # shap draws from numpy's global RNG: one explainer at a time
# shared by every window net (lstm, cnn, transformer); each adds its own sizes
NET_DEFAULTS: dict[str, Any] = {
    "seed": 0, "window": 20, "dropout": 0.2, "lr": 0.003,
    "batch": 256, "max_epochs": 30, "patience": 3, "val_frac": 0.2,
    "train_bars": 500, "labels": "return", "k": 1.0, "h": 5, "vol_window": 20,
    "scale": None, "weight_decay": 0.0, "l1": 0.0, "features": "returns", "leak_check": True,
    "shap_samples": 64, "explain_every": 20, "indicators": False,
}  # fmt: skip
# with indicators = true, each step also carries these of the forest's features
# (core.signals.features; ret_1 and mkt_ret are the ret and mkt inputs already)
INDICATORS = tuple(n for n in OWN if n not in ("ret_1", "mkt_ret"))
_IND_COLS = [OWN.index(n) for n in INDICATORS]
DEFAULTS: dict[str, Any] = {**NET_DEFAULTS, "hidden": 16}


class Net(nn.Module):
    """LSTM -> dropout -> linear on the last hidden state."""

    def __init__(self, n_in: int, hidden: int, dropout: float, n_out: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(x)
        out: torch.Tensor = self.head(self.drop(seq[:, -1, :]))
        return out


def _indicator_rows(rets: Array) -> Array:
    """The INDICATORS at every step of a (T, N) return matrix, (T, N, 8): each
    from the WINDOW returns up to that step (NaN before WINDOW are in)."""
    ind = np.full((len(rets), rets.shape[1], len(INDICATORS)), np.nan)
    if len(rets) >= WINDOW:
        win = np.lib.stride_tricks.sliding_window_view(rets, WINDOW, axis=0)  # (M, N, WINDOW)
        ind[WINDOW - 1:] = _block(np.ascontiguousarray(win.transpose(0, 2, 1)))[:, :, _IND_COLS]
    return ind


def _inputs(rets: Array) -> Array:
    """Per-step inputs from a (bars, N) return matrix: (bars, N, 1 or 2) own and market return."""
    own = rets[:, :, None]
    if rets.shape[1] == 1:
        return own
    mkt = np.repeat(rets.mean(axis=1, keepdims=True), rets.shape[1], axis=1)[:, :, None]
    return np.concatenate([own, mkt], axis=2)


class WindowNetModel(SignalModel):
    """A small network over windows of per-step inputs, all symbols pooled.

    Subclasses give ``DEFAULTS`` and ``make_net``; fit, early stopping,
    regularisation, the live path, SHAP explanations and the artifact are
    shared (``lstm``, ``cnn``, ``transformer``)."""

    DEFAULTS: dict[str, Any] = NET_DEFAULTS

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.p: dict[str, Any] = checked(self.name, self.params, self.DEFAULTS)
        self.net: nn.Module | None = None
        self.n_in = 0
        self.symbols: list[str] = []
        self.scaler: dict[str, list[float]] = {}
        self.scale = 1.0
        self.d = math.nan  # fracdiff order (features = "fracdiff")
        self.assembler: BarAssembler | None = None
        self._rets: deque[Array] = deque(maxlen=int(self.p["window"]))
        self._fd: deque[Array] = deque(maxlen=int(self.p["window"]))
        self._logp: deque[Array] = deque(maxlen=MAX_WIDTH)
        self._hist: deque[Array] = deque(maxlen=WINDOW)  # returns behind the indicators
        self._ind: deque[Array] = deque(maxlen=int(self.p["window"]))  # indicator rows (N, 8)
        self._latest: dict[str, SignalOut] = {}
        self.shap_bg: Array | None = None  # background windows of the SHAP explainer (stored)
        self.shap_global: list[tuple[str, float]] = []  # mean |SHAP| on validation windows (stored)
        self._explained: dict[str, tuple[int, list[tuple[str, float]]]] = {}
        self._explainer: Any = None
        self._bars = 0  # bars completed live (when an explanation was made; not stored)

    def make_net(self, n_in: int, n_out: int) -> nn.Module:
        raise NotImplementedError

    @property
    def barrier(self) -> bool:
        return bool(self.p["labels"] == "triple_barrier")

    @property
    def fracdiff(self) -> bool:
        return bool(self.p["features"] == "fracdiff")

    @property
    def indicators(self) -> bool:
        return bool(self.p["indicators"])

    def channels(self) -> list[str]:
        names = ["ret"] + (["mkt"] if len(self.symbols) > 1 else [])
        names += list(INDICATORS) if self.indicators else []
        return names + (["fracdiff"] if self.fracdiff else [])

    def input_names(self) -> list[str]:
        w = int(self.p["window"])
        return [f"{c} t-{w - 1 - i}" for i in range(w) for c in self.channels()]

    # ------------------------------------------------------------ data

    def _steps(self, c: Array) -> Array:
        """Per-step inputs (T-1, N, F) from closes (T, N): step i is bar i+1."""
        rets = c[1:] / c[:-1] - 1.0
        steps = _inputs(rets)
        if self.indicators:
            steps = np.concatenate([steps, _indicator_rows(rets)], axis=2)
        if self.fracdiff:
            fd = frac_diff(np.log(c), self.d)[1:]
            steps = np.concatenate([steps, fd[:, :, None]], axis=2)
        return steps

    def _windows(self, closes: pd.DataFrame, last: bool) -> tuple[Array, Array]:
        """(input windows (S, window, F), bar numbers) for every bar from
        ``window`` on (without the last bar unless ``last``), symbols inner."""
        w = int(self.p["window"])
        c = closes.to_numpy(dtype=np.float64)
        steps = self._steps(c)
        n_bars = c.shape[0]
        bars = np.arange(w, n_bars if last else n_bars - 1)
        if bars.size == 0:
            raise DataError(f"{self.name} fit: {n_bars} bars; need at least window + 2 = {w + 2}")
        win = np.lib.stride_tricks.sliding_window_view(steps, w, axis=0)  # (T-w, N, F, w)
        x = win[bars - w].transpose(0, 1, 3, 2).reshape(-1, w, steps.shape[2])
        return np.ascontiguousarray(x), bars

    def _dataset(self, closes: pd.DataFrame) -> tuple[Array, Array, Array, Array, Array]:
        """(inputs (S, window, F), target, fwd return, bar number, symbol number) over all samples."""
        c = closes.to_numpy(dtype=np.float64)
        rets = c[1:] / c[:-1] - 1.0  # rets[i]: return into bar i+1
        n_sym = c.shape[1]
        x, bars = self._windows(closes, last=False)  # bar t needs rets[t-w:t] and a next return rets[t]
        fwd = rets[bars].reshape(-1)
        if self.barrier:
            lab = triple_barrier_labels(closes, float(self.p["k"]), int(self.p["h"]), int(self.p["vol_window"]))
            target = lab.to_numpy(dtype=np.float64)[bars].reshape(-1)
        else:
            target = fwd.copy()
        bar_no = np.repeat(bars, n_sym).astype(np.float64)
        sym_no = np.tile(np.arange(n_sym), bars.size).astype(np.float64)
        return x, target, fwd, bar_no, sym_no

    def feature_rows(self, closes: pd.DataFrame) -> tuple[Array, list[str], Array]:
        """(bar ts per row, names, flattened input windows): what the leakage check compares."""
        x, bars = self._windows(closes, last=True)
        ts = np.repeat(closes.index.to_numpy()[bars], closes.shape[1])
        return ts, [c for c in self.channels()], x.reshape(len(x), -1)

    def _scale_x(self, x: Array) -> torch.Tensor:
        mean = np.asarray(self.scaler["x_mean"])
        sd = np.asarray(self.scaler["x_sd"])
        return torch.from_numpy(((x - mean) / sd).astype(np.float32))

    # ------------------------------------------------------------ training

    def fit(self, closes: pd.DataFrame) -> FitReport:
        w = int(self.p["window"])
        check_closes(closes, f"{self.name} fit", min_rows=w + 2)
        self.symbols = [str(s) for s in closes.columns]
        extra = 0
        if self.fracdiff:
            self.d, _ = choose_d(np.log(closes.to_numpy(dtype=np.float64)))
            extra = len(ffd_weights(self.d)) - 1
        extra = max(extra, WINDOW - 1) if self.indicators else extra
        closes = closes.iloc[-(int(self.p["train_bars"]) + w + 1 + extra):]
        if self.p["leak_check"]:
            check_no_lookahead(self.feature_rows, closes, int(self.p["seed"]), f"{self.name} fit")
        x, target, fwd, bar_no, sym_no = self._dataset(closes)
        keep = np.isfinite(target) & np.isfinite(x).all(axis=(1, 2))
        x, target, fwd, bar_no, sym_no = x[keep], target[keep], fwd[keep], bar_no[keep], sym_no[keep]
        bars = np.unique(bar_no)
        n_val = max(MIN_VAL_BARS, int(round(len(bars) * float(self.p["val_frac"]))))
        embargo = int(self.p["h"]) if self.barrier else 1
        if len(bars) < n_val + embargo + MIN_VAL_BARS:
            raise DataError(f"{self.name} fit: {len(closes)} bars; too few for a validation split (window {w})")
        v0 = bars[-n_val]
        tr = bar_no < v0 - embargo + 1  # the label of the last training bar ends before v0
        va = bar_no >= v0
        n_f = x.shape[2]
        flat = x[tr].reshape(-1, n_f)
        sd = flat.std(axis=0, ddof=1)
        self.scaler = {"x_mean": flat.mean(axis=0).tolist(), "x_sd": np.where(sd > 0, sd, 1.0).tolist()}
        if not self.barrier:
            y_sd = float(target[tr].std(ddof=1))
            self.scaler.update({"y_mean": [float(target[tr].mean())], "y_sd": [y_sd if y_sd > 0 else 1.0]})
        self.n_in = n_f
        with torch_env(int(self.p["seed"])):
            xt, xv = self._scale_x(x[tr]), self._scale_x(x[va])
            yt, yv = self._torch_target(target[tr]), self._torch_target(target[va])
            self.net = self.make_net(n_f, 3 if self.barrier else 1)
            epochs, best = self._train(xt, yt, xv, yv)
            val_pred = self._predict_tensor(xv)[0]
            train_pred = self._predict_tensor(xt)[0]
            with torch.no_grad():
                val_class = (self.net(xv).argmax(dim=1) - 1).double().numpy() if self.barrier else None
        if not self.barrier:
            sd_pred = float(np.std(train_pred, ddof=1))
            self.scale = float(self.p["scale"] or (2.0 * sd_pred if sd_pred > 0 else 1.0))
        metrics = self._metrics(val_pred, fwd[va], bar_no[va], sym_no[va])
        if val_class is not None:
            metrics["val_accuracy"] = float(np.mean(val_class == target[va]))
        metrics.update({"epochs": float(epochs), "val_loss": best, "train_rows": float(tr.sum())})
        if self.fracdiff:
            metrics["fracdiff_d"] = self.d
        # SHAP: a seeded background of training windows, kept with the weights
        rng = np.random.default_rng(int(self.p["seed"]))
        n_bg = min(BG_WINDOWS, int(tr.sum()))
        self.shap_bg = x[tr][np.sort(rng.choice(int(tr.sum()), size=n_bg, replace=False))]
        self._explainer, self._explained = None, {}
        self.report_progress(0.99, "SHAP values on validation windows")
        xs = x[va][-min(GLOBAL_WINDOWS, int(va.sum())):]
        vals = self.shap_values(xs)
        self.shap_global = sorted(zip(self.input_names(), np.abs(vals).mean(axis=0).ravel().tolist()),
                                  key=lambda nv: -nv[1])[:SHAP_KEEP]
        self._reset_live(closes)
        self.version += 1
        self.fitted_at = int(closes.index[-1])
        return FitReport(self.name, self.version, int(closes.index[0]), int(closes.index[-1]), metrics)

    def _torch_target(self, t: Array) -> torch.Tensor:
        if self.barrier:
            return torch.from_numpy((t + 1).astype(np.int64))
        return torch.from_numpy(((t - self.scaler["y_mean"][0]) / self.scaler["y_sd"][0]).astype(np.float32))

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.barrier:
            return nn.functional.cross_entropy(out, y)
        return nn.functional.mse_loss(out[:, 0], y)

    def _train(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> tuple[int, float]:
        """Adam with L2 weight decay (``weight_decay``) and an L1 penalty
        (``l1`` x the sum of |weights|, biases excluded) on the training
        loss; early stopping on the (unpenalised) validation loss."""
        assert self.net is not None
        wd, l1 = float(self.p["weight_decay"]), float(self.p["l1"])
        opt = torch.optim.Adam(self.net.parameters(), lr=float(self.p["lr"]), weight_decay=wd)
        weights = [p for n, p in self.net.named_parameters() if "bias" not in n]
        batch, patience = int(self.p["batch"]), int(self.p["patience"])
        best, best_state, stale, epochs = math.inf, copy.deepcopy(self.net.state_dict()), 0, 0
        for _ in range(int(self.p["max_epochs"])):
            epochs += 1
            self.report_progress(epochs / int(self.p["max_epochs"]), f"epoch {epochs} (best val loss {best:.3g})")
            self.net.train()
            order = torch.randperm(len(xt))  # shuffles samples inside the training split only
            for i in range(0, len(xt), batch):
                idx = order[i:i + batch]
                opt.zero_grad()
                loss = self._loss(self.net(xt[idx]), yt[idx])
                if l1 > 0:
                    loss = loss + l1 * sum(p.abs().sum() for p in weights)
                loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
                opt.step()
            self.net.eval()
            with torch.no_grad():
                val = float(self._loss(self.net(xv), yv))
            if val < best - 1e-9:
                best, best_state, stale = val, copy.deepcopy(self.net.state_dict()), 0
            else:
                stale += 1
                if stale >= patience:
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()
        return epochs, best

    def _predict_tensor(self, x: torch.Tensor) -> tuple[Array, Array]:
        """(output in signal units, top class probability): a return and NaN ("return"),
        or p(up) - p(down) and max p ("triple_barrier")."""
        assert self.net is not None
        with torch.no_grad():
            out = self.net(x)
        if self.barrier:
            prob = torch.softmax(out, dim=1).double().numpy()
            return prob[:, 2] - prob[:, 0], prob.max(axis=1)
        pred = out[:, 0].double().numpy() * self.scaler["y_sd"][0] + self.scaler["y_mean"][0]
        return pred, np.full(len(pred), np.nan)

    def predict_windows(self, x: Array) -> tuple[Array, Array]:
        """``_predict_tensor`` of raw input windows (S, window, F), single-threaded and deterministic."""
        with torch_env():
            return self._predict_tensor(self._scale_x(x))

    def views(self, x: Array) -> Array:
        """The view in [-1, 1] of raw input windows (what ``on_bar`` emits)."""
        pred, _ = self.predict_windows(x)
        return pred if self.barrier else np.clip(pred / self.scale, -1.0, 1.0)

    def _metrics(self, pred: Array, fwd: Array, bar_no: Array, sym_no: Array) -> dict[str, float]:
        rows = np.unique(bar_no, return_inverse=True)[1]
        cols = sym_no.astype(np.int64)
        pm = np.full((int(rows.max()) + 1, len(self.symbols)), np.nan)
        rm = pm.copy()
        pm[rows, cols], rm[rows, cols] = pred, fwd
        return signal_metrics(pm, rm, prefix="val_")

    # ------------------------------------------------------------ SHAP

    def shap_values(self, x: Array) -> Array:
        """SHAP values (S, window, F) of raw input windows for the view
        (expected gradients, ``shap.GradientExplainer``, against the stored
        background windows, ``shap_samples`` samples, seeded; numpy's global
        RNG, which shap draws from, is restored afterwards). In units of the
        view before clipping: they sum to about view - mean background view."""
        import shap  # type: ignore[import-untyped, unused-ignore]

        assert self.net is not None and self.shap_bg is not None
        with _SHAP_LOCK, torch_env():
            if self._explainer is None:
                head = _ViewHead(self.net, self.barrier, 1.0 if self.barrier else self.scaler["y_sd"][0] / self.scale)
                self._explainer = shap.GradientExplainer(head, self._scale_x(self.shap_bg))
            state = np.random.get_state()
            try:
                raw = self._explainer.shap_values(self._scale_x(x), nsamples=int(self.p["shap_samples"]),
                                                  rseed=int(self.p["seed"]))
            finally:
                np.random.set_state(state)
        vals = np.asarray(raw[0] if isinstance(raw, list) else raw, dtype=np.float64)
        return vals.reshape(x.shape)

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """SHAP values of ``symbol``'s input window, largest first.

        Computed for all symbols at once and kept for ``explain_every`` bars
        (default 20; 1 = every bar): the session asks for every row's
        explanation at each snapshot (10 a second), and one computation costs
        about 0.1-0.3 s for 20 symbols on this machine. An explanation older
        than the current bar starts with the entry ("(SHAP of the view N
        bar(s) ago)", 0.0), so the pane says which view it explains."""
        sig = self._latest.get(symbol)
        if sig is None or self.net is None or self.shap_bg is None:
            return []
        got = self._explained.get(symbol)
        if got is None or self._bars - got[0] >= int(self.p["explain_every"]):
            x = self._current()
            if x is None:
                return []
            vals = self.shap_values(x)
            names = self.input_names()
            for i, sym in enumerate(self.symbols):
                pairs = [(n, float(v)) for n, v in zip(names, vals[i].ravel())]
                self._explained[sym] = (self._bars, sorted(pairs, key=lambda nv: -abs(nv[1]))[:SHAP_KEEP])
            got = self._explained[symbol]
        age = self._bars - got[0]
        return ([(f"(SHAP of the view {age} bar(s) ago)", 0.0)] if age else []) + list(got[1])

    # ------------------------------------------------------------ live

    def _reset_live(self, closes: pd.DataFrame) -> None:
        w = int(self.p["window"])
        self.assembler = BarAssembler(self.symbols)
        self._rets = deque(maxlen=w)
        self._fd = deque(maxlen=w)
        self._logp = deque(maxlen=len(ffd_weights(self.d)) if self.fracdiff else 1)
        self._hist = deque(maxlen=WINDOW)
        self._ind = deque(maxlen=w)
        self._latest = {}
        self._explained = {}
        c = closes.to_numpy(dtype=np.float64)
        tail = c[-(w + 1):]
        self._rets.extend(tail[1:] / tail[:-1] - 1.0)
        if self.indicators:
            rets = c[1:] / c[:-1] - 1.0
            self._hist.extend(rets[-WINDOW:])
            self._ind.extend(_indicator_rows(rets)[-w:])
        if self.fracdiff:
            fd = frac_diff(np.log(c), self.d)
            self._fd.extend(fd[-w:])
            self._logp.extend(np.log(c[-len(ffd_weights(self.d)):]))
        self.assembler.last, self.assembler.last_ts = tail[-1].copy(), int(closes.index[-1])

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        if self.assembler is None or self.net is None:
            raise RuntimeError(f"{self.name}: fit (or from_bytes) before on_bar")
        prev = self.assembler.last
        out: list[SignalOut] = []
        for bar_ts, row in self.assembler.push(ts, symbol, close):
            if prev is not None:
                self._rets.append(row / prev - 1.0)
                if self.indicators:
                    self._hist.append(self._rets[-1])
                    self._ind.append(_block(np.stack(self._hist)[None])[0][:, _IND_COLS]
                                     if len(self._hist) == WINDOW else np.full((len(row), len(INDICATORS)), np.nan))
            prev = row
            if self.fracdiff:
                self._logp.append(np.log(row))
                wts = ffd_weights(self.d)
                fd = (wts[::-1] @ np.stack(self._logp) if len(self._logp) == len(wts)
                      else np.full(len(self.symbols), np.nan))
                self._fd.append(fd)
            self._bars += 1
            if len(self._rets) == self._rets.maxlen:
                out.extend(self._signals(bar_ts))
        return out

    def _current(self) -> Array | None:
        """The live input windows (N, window, F), or None while any is incomplete."""
        if len(self._rets) < int(self.p["window"]):
            return None
        x = _inputs(np.stack(self._rets))  # (window, N, F)
        if self.indicators:
            if len(self._ind) < int(self.p["window"]):
                return None
            x = np.concatenate([x, np.stack(self._ind)], axis=2)
        if self.fracdiff:
            if len(self._fd) < int(self.p["window"]):
                return None
            x = np.concatenate([x, np.stack(self._fd)[:, :, None]], axis=2)
            if not np.isfinite(x).all():
                return None
        if not np.isfinite(x).all():
            return None
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def _signals(self, ts: int) -> list[SignalOut]:
        x = self._current()
        if x is None:
            return []
        pred, top = self.predict_windows(x)
        out = []
        for i, sym in enumerate(self.symbols):
            p = float(pred[i])
            if self.barrier:
                value, conf = p, float(top[i])
            else:
                value = float(np.clip(p / self.scale, -1.0, 1.0))
                conf = min(1.0, abs(value))
            sig = SignalOut(ts, sym, self.name, value, conf, {"pred": p, "version": self.version})
            self._latest[sym] = sig
            out.append(sig)
        return out

    def state(self) -> list[SignalOut]:
        return [self._latest[s] for s in self.symbols if s in self._latest]

    # ------------------------------------------------------------ artifact

    def to_bytes(self) -> bytes:
        if self.net is None or self.assembler is None:
            raise RuntimeError(f"{self.name}: nothing to serialise before fit")
        a = self.assembler
        blob = {
            "format": FORMAT, "model": self.name, "params": self.params, "version": self.version,
            "fitted_at": self.fitted_at, "symbols": self.symbols, "scaler": self.scaler,
            "scale": self.scale, "n_in": self.n_in, "d": self.d,
            "state_dict": self.net.state_dict(),
            "rets": [r.tolist() for r in self._rets],
            "fd": [r.tolist() for r in self._fd], "logp": [r.tolist() for r in self._logp],
            "hist": [r.tolist() for r in self._hist], "ind": [r.tolist() for r in self._ind],
            "last": None if a.last is None else a.last.tolist(), "last_ts": a.last_ts,
            "pending_ts": a._ts, "pending": {int(k): v for k, v in a._pending.items()},
            "latest": [[s.ts, s.symbol, s.value, s.confidence, s.detail] for s in self._latest.values()],
            "shap_bg": None if self.shap_bg is None else self.shap_bg.tolist(),
            "shap_global": [[n, v] for n, v in self.shap_global],
        }  # fmt: skip
        return torch_bytes(blob)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "WindowNetModel":
        """Rebuild from ``to_bytes`` output (loaded with weights_only: no code runs)."""
        d = torch_loads(blob)
        if not isinstance(d, dict) or d.get("format") not in (1, FORMAT) or d.get("model", "lstm") != cls.name:
            raise DataError(f"{cls.name} artifact: unknown format")
        m = cls(d["params"])
        m.version, m.fitted_at, m.symbols = d["version"], d["fitted_at"], list(d["symbols"])
        m.scaler, m.scale, m.n_in = d["scaler"], d["scale"], int(d["n_in"])
        m.d = float(d.get("d", math.nan))
        m.net = m.make_net(m.n_in, 3 if m.barrier else 1)
        m.net.load_state_dict(d["state_dict"])
        m.net.eval()
        m._rets.extend(np.asarray(r, dtype=np.float64) for r in d["rets"])
        m._fd.extend(np.asarray(r, dtype=np.float64) for r in d.get("fd", []))
        m._hist.extend(np.asarray(r, dtype=np.float64) for r in d.get("hist", []))
        m._ind.extend(np.asarray(r, dtype=np.float64) for r in d.get("ind", []))
        if m.fracdiff:
            m._logp = deque((np.asarray(r, dtype=np.float64) for r in d["logp"]), maxlen=len(ffd_weights(m.d)))
        m.assembler = BarAssembler(m.symbols)
        m.assembler.last = None if d["last"] is None else np.asarray(d["last"], dtype=np.float64)
        m.assembler.last_ts, m.assembler._ts = d["last_ts"], d["pending_ts"]
        m.assembler._pending = {int(k): float(v) for k, v in d["pending"].items()}
        m._latest = {s: SignalOut(int(t), s, m.name, v, c, dict(det)) for t, s, v, c, det in d["latest"]}
        bg = d.get("shap_bg")
        m.shap_bg = None if bg is None else np.asarray(bg, dtype=np.float64)
        m.shap_global = [(str(n), float(v)) for n, v in d.get("shap_global", [])]
        return m


class _ViewHead(nn.Module):
    """The network's output as the view SHAP explains: p(up) - p(down), or
    the standardised prediction x (y_sd / scale) (the view before clipping)."""

    def __init__(self, net: nn.Module, barrier: bool, factor: float) -> None:
        super().__init__()
        self.net, self.barrier, self.factor = net, barrier, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        if self.barrier:
            p = torch.softmax(out, dim=1)
            return (p[:, 2] - p[:, 0])[:, None]
        return out[:, :1] * self.factor


@register("lstm")
class LSTMModel(WindowNetModel):
    """A small LSTM of the next-bar return (or triple-barrier class), all symbols pooled."""

    DEFAULTS = DEFAULTS

    def make_net(self, n_in: int, n_out: int) -> nn.Module:
        return Net(n_in, int(self.p["hidden"]), float(self.p["dropout"]), n_out)
