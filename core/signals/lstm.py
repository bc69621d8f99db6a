"""``lstm``: a small LSTM over windows of returns, one network for all symbols.

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

Output: "return" labels: value = clip(pred / scale, -1, 1) with scale = 2 * sd
of the training predictions (or params["scale"]), confidence = min(1, |value|).
"triple_barrier": value = p(up) - p(down), confidence = the top class probability.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections import deque
from typing import Any, Iterator

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import torch
from torch import nn

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.features import BarAssembler, check_closes
from core.signals.walkforward import signal_metrics

Array = npt.NDArray[np.float64]
FORMAT = 1
MIN_VAL_BARS = 5
DEFAULTS: dict[str, Any] = {
    "seed": 0, "window": 20, "hidden": 16, "dropout": 0.2, "lr": 0.003,
    "batch": 256, "max_epochs": 30, "patience": 3, "val_frac": 0.2,
    "train_bars": 500, "labels": "return", "k": 1.0, "h": 5, "vol_window": 20,
    "scale": None,
}  # fmt: skip


def triple_barrier_labels(closes: pd.Series | pd.DataFrame, k: float, h: int, vol_window: int = 20,
                          vol: pd.Series | pd.DataFrame | None = None) -> pd.Series | pd.DataFrame:
    """Triple-barrier label at every bar: +1, -1 or 0, NaN where unknown.

    From the close at t, the upper barrier is a return of +k*vol_t, the lower
    one -k*vol_t, the vertical one h bars later. The label is +1 if the
    cumulative return from t touches (>=) the upper barrier first, -1 if it
    touches (<=) the lower one first, 0 if neither is touched within h bars.
    ``vol_t`` is the sample sd (ddof=1) of the ``vol_window`` returns up to t
    (per bar, known at t), or the given ``vol`` (fractions). NaN where vol_t
    is undefined, or where fewer than h bars follow t and no barrier was hit."""
    if isinstance(closes, pd.DataFrame):
        return pd.DataFrame({c: triple_barrier_labels(closes[c], k, h, vol_window,
                                                      None if vol is None else vol[c])
                             for c in closes.columns}, index=closes.index)
    if h < 1 or not (k > 0):
        raise ValueError(f"triple_barrier_labels: need h >= 1 and k > 0 (got h={h}, k={k})")
    c = closes.to_numpy(dtype=np.float64)
    if vol is None:
        sd = closes.pct_change().rolling(vol_window, min_periods=vol_window).std(ddof=1)
        width = k * sd.to_numpy(dtype=np.float64)
    else:
        width = k * np.asarray(vol, dtype=np.float64)
    n = len(c)
    label = np.full(n, np.nan)
    open_ = np.isfinite(width) & (width > 0)
    for j in range(1, h + 1):
        path = np.full(n, np.nan)
        path[: n - j] = c[j:] / c[: n - j] - 1.0
        up = open_ & (path >= width)
        down = open_ & (path <= -width)
        label[up] = 1.0
        label[down] = -1.0
        open_ &= ~(up | down)
    label[open_ & (np.arange(n) + h <= n - 1)] = 0.0
    return pd.Series(label, index=closes.index, name=closes.name)


@contextlib.contextmanager
def _torch_env(seed: int | None = None) -> Iterator[None]:
    """One thread, deterministic algorithms, and (with a seed) a private seeded RNG.

    Without a seed (predictions, which draw no random numbers) the global RNG
    is left alone: forking it saves and restores its state, and a prediction
    on the engine thread restoring it while a fit on the fit thread draws from
    it made that fit's weights depend on thread timing (issue 14)."""
    threads, determ = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        if seed is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        torch.use_deterministic_algorithms(determ)
        torch.set_num_threads(threads)


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


def _inputs(rets: Array) -> Array:
    """Per-step inputs from a (bars, N) return matrix: (bars, N, 1 or 2) own and market return."""
    own = rets[:, :, None]
    if rets.shape[1] == 1:
        return own
    mkt = np.repeat(rets.mean(axis=1, keepdims=True), rets.shape[1], axis=1)[:, :, None]
    return np.concatenate([own, mkt], axis=2)


@register("lstm")
class LSTMModel(SignalModel):
    """A small LSTM of the next-bar return (or triple-barrier class), all symbols pooled."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        unknown = set(self.params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"lstm: unknown params {', '.join(sorted(unknown))}")
        self.p: dict[str, Any] = {**DEFAULTS, **self.params}
        if self.p["labels"] not in ("return", "triple_barrier"):
            raise ValueError(f"lstm: params labels must be 'return' or 'triple_barrier', got {self.p['labels']!r}")
        if int(self.p["window"]) < 2:
            raise ValueError(f"lstm: params window must be >= 2, got {self.p['window']}")
        self.net: Net | None = None
        self.symbols: list[str] = []
        self.scaler: dict[str, list[float]] = {}
        self.scale = 1.0
        self.assembler: BarAssembler | None = None
        self._rets: deque[Array] = deque(maxlen=int(self.p["window"]))
        self._latest: dict[str, SignalOut] = {}

    @property
    def barrier(self) -> bool:
        return bool(self.p["labels"] == "triple_barrier")

    # ------------------------------------------------------------ data

    def _dataset(self, closes: pd.DataFrame) -> tuple[Array, Array, Array, Array, Array]:
        """(inputs (S, window, F), target, fwd return, bar number, symbol number) over all samples."""
        w = int(self.p["window"])
        c = closes.to_numpy(dtype=np.float64)
        rets = c[1:] / c[:-1] - 1.0  # rets[i]: return into bar i+1
        steps = _inputs(rets)  # (T-1, N, F)
        n_bars, n_sym = c.shape
        bars = np.arange(w, n_bars - 1)  # bar t needs rets[t-w:t] and a next return rets[t]
        if bars.size == 0:
            raise DataError(f"lstm fit: {n_bars} bars; need at least window + 2 = {w + 2}")
        win = np.lib.stride_tricks.sliding_window_view(steps, w, axis=0)  # (T-w, N, F, w)
        x = win[bars - w].transpose(0, 1, 3, 2).reshape(-1, w, steps.shape[2])
        fwd = rets[bars].reshape(-1)
        if self.barrier:
            lab = triple_barrier_labels(closes, float(self.p["k"]), int(self.p["h"]), int(self.p["vol_window"]))
            target = lab.to_numpy(dtype=np.float64)[bars].reshape(-1)
        else:
            target = fwd.copy()
        bar_no = np.repeat(bars, n_sym).astype(np.float64)
        sym_no = np.tile(np.arange(n_sym), bars.size).astype(np.float64)
        return np.ascontiguousarray(x), target, fwd, bar_no, sym_no

    def _scale_x(self, x: Array) -> torch.Tensor:
        mean = np.asarray(self.scaler["x_mean"])
        sd = np.asarray(self.scaler["x_sd"])
        return torch.from_numpy(((x - mean) / sd).astype(np.float32))

    # ------------------------------------------------------------ training

    def fit(self, closes: pd.DataFrame) -> FitReport:
        w = int(self.p["window"])
        check_closes(closes, "lstm fit", min_rows=w + 2)
        closes = closes.iloc[-(int(self.p["train_bars"]) + w + 1):]
        x, target, fwd, bar_no, sym_no = self._dataset(closes)
        keep = np.isfinite(target)
        x, target, fwd, bar_no, sym_no = x[keep], target[keep], fwd[keep], bar_no[keep], sym_no[keep]
        bars = np.unique(bar_no)
        n_val = max(MIN_VAL_BARS, int(round(len(bars) * float(self.p["val_frac"]))))
        embargo = int(self.p["h"]) if self.barrier else 1
        if len(bars) < n_val + embargo + MIN_VAL_BARS:
            raise DataError(f"lstm fit: {len(closes)} bars; too few for a validation split (window {w})")
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
        self.symbols = [str(s) for s in closes.columns]
        with _torch_env(int(self.p["seed"])):
            xt, xv = self._scale_x(x[tr]), self._scale_x(x[va])
            yt, yv = self._torch_target(target[tr]), self._torch_target(target[va])
            self.net = Net(n_f, int(self.p["hidden"]), float(self.p["dropout"]), 3 if self.barrier else 1)
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
        assert self.net is not None
        opt = torch.optim.Adam(self.net.parameters(), lr=float(self.p["lr"]))
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
        with _torch_env():
            return self._predict_tensor(self._scale_x(x))

    def _metrics(self, pred: Array, fwd: Array, bar_no: Array, sym_no: Array) -> dict[str, float]:
        rows = np.unique(bar_no, return_inverse=True)[1]
        cols = sym_no.astype(np.int64)
        pm = np.full((int(rows.max()) + 1, len(self.symbols)), np.nan)
        rm = pm.copy()
        pm[rows, cols], rm[rows, cols] = pred, fwd
        return signal_metrics(pm, rm, prefix="val_")

    # ------------------------------------------------------------ live

    def _reset_live(self, closes: pd.DataFrame) -> None:
        self.assembler = BarAssembler(self.symbols)
        self._rets = deque(maxlen=int(self.p["window"]))
        self._latest = {}
        tail = closes.iloc[-(int(self.p["window"]) + 1):].to_numpy(dtype=np.float64)
        self._rets.extend(tail[1:] / tail[:-1] - 1.0)
        self.assembler.last, self.assembler.last_ts = tail[-1].copy(), int(closes.index[-1])

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        if self.assembler is None or self.net is None:
            raise RuntimeError("lstm: fit (or from_bytes) before on_bar")
        prev = self.assembler.last
        out: list[SignalOut] = []
        for bar_ts, row in self.assembler.push(ts, symbol, close):
            if prev is not None:
                self._rets.append(row / prev - 1.0)
            prev = row
            if len(self._rets) == self._rets.maxlen:
                out.extend(self._signals(bar_ts))
        return out

    def _signals(self, ts: int) -> list[SignalOut]:
        x = _inputs(np.stack(self._rets))  # (window, N, F)
        pred, top = self.predict_windows(np.ascontiguousarray(x.transpose(1, 0, 2)))
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
            raise RuntimeError("lstm: nothing to serialise before fit")
        a = self.assembler
        blob = {
            "format": FORMAT, "params": self.params, "version": self.version,
            "fitted_at": self.fitted_at, "symbols": self.symbols, "scaler": self.scaler,
            "scale": self.scale, "n_in": self.net.lstm.input_size,
            "state_dict": self.net.state_dict(),
            "rets": [r.tolist() for r in self._rets],
            "last": None if a.last is None else a.last.tolist(), "last_ts": a.last_ts,
            "pending_ts": a._ts, "pending": {int(k): v for k, v in a._pending.items()},
            "latest": [[s.ts, s.symbol, s.value, s.confidence, s.detail] for s in self._latest.values()],
        }  # fmt: skip
        buf = io.BytesIO()
        torch.save(blob, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "LSTMModel":
        """Rebuild from ``to_bytes`` output (loaded with weights_only: no code runs)."""
        d = torch.load(io.BytesIO(blob), weights_only=True)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError("lstm artifact: unknown format")
        m = cls(d["params"])
        m.version, m.fitted_at, m.symbols = d["version"], d["fitted_at"], list(d["symbols"])
        m.scaler, m.scale = d["scaler"], d["scale"]
        m.net = Net(int(d["n_in"]), int(m.p["hidden"]), float(m.p["dropout"]), 3 if m.barrier else 1)
        m.net.load_state_dict(d["state_dict"])
        m.net.eval()
        m._rets.extend(np.asarray(r, dtype=np.float64) for r in d["rets"])
        m.assembler = BarAssembler(m.symbols)
        m.assembler.last = None if d["last"] is None else np.asarray(d["last"], dtype=np.float64)
        m.assembler.last_ts, m.assembler._ts = d["last_ts"], d["pending_ts"]
        m.assembler._pending = {int(k): float(v) for k, v in d["pending"].items()}
        m._latest = {s: SignalOut(int(t), s, m.name, v, c, dict(det)) for t, s, v, c, det in d["latest"]}
        return m
