"""HMM regime model ("hmm"): a Gaussian HMM per symbol, updated by forward filtering.

Conventions:
- Features are simple returns (fractions, not percent) and, with ``use_vol``,
  the log of their rolling sample std (ddof=1) over ``vol_window`` bars (the
  log keeps crash-time volatility from sitting dozens of stds out). Both are
  standardised with the training window's mean and std (ddof=1) so hmmlearn's
  ``min_covar`` floor does not swamp daily-return variances.
- ``ts`` are int nanoseconds of market time; the wall clock is never read.
- ``fit`` runs hmmlearn's EM (``random_state = params["seed"]``, default 0) on
  the window given, per symbol. ``on_bar`` never refits and never re-decodes the
  sequence: it does one step of the forward recursion
  ``p_t ∝ (p_{t-1} @ A) * N(x_t | mu_k, Sigma_k)``, so the posterior equals
  hmmlearn's ``predict_proba`` last row for the whole sequence.
- States are labelled by the mean of the return feature: the lowest is
  "bearish", the highest "bullish", the ones between "neutral" (3 states) or
  "neutral_1".."neutral_k" in ascending mean (4-5 states).
- ``value`` = sum_k p_k * mu_k / max_j |mu_j| (mu in return units), in [-1, 1];
  ``confidence`` = max_k p_k. ``detail["risk_scale"]`` = sum_k p_k * s_k with
  s = 1.0 bullish, 0.75 neutral, 0.5 bearish, and at most 0.5 for the
  high-volatility state (the one whose return variance is at least
  ``high_vol_ratio`` times the calmest state's).
- The artifact is a pickled plain dict (format "hmm", version 1) of numpy
  arrays and floats; a round trip reproduces outputs bit for bit.
"""

from __future__ import annotations

import math
import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register

FORMAT = "hmm"
FORMAT_VERSION = 1
DEFAULTS: dict[str, Any] = {
    "n_states": 3, "use_vol": False, "vol_window": 20, "seed": 0,
    "n_iter": 100, "tol": 1e-4, "high_vol_ratio": 2.0, "min_obs": None,
}
RISK_SCALE = {"bullish": 1.0, "neutral": 0.75, "bearish": 0.5}
HIGH_VOL_SCALE = 0.5
LOG_2PI = math.log(2.0 * math.pi)


def state_labels(n: int) -> list[str]:
    """Labels for ``n`` states in ascending order of mean return."""
    if n == 2:
        return ["bearish", "bullish"]
    if n == 3:
        return ["bearish", "neutral", "bullish"]
    return ["bearish"] + [f"neutral_{i}" for i in range(1, n - 1)] + ["bullish"]


def _label_scale(label: str) -> float:
    return RISK_SCALE["neutral"] if label.startswith("neutral") else RISK_SCALE[label]


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"hmm: unknown param {unknown[0]!r} (known: {', '.join(sorted(DEFAULTS))})")
    p = {**DEFAULTS, **params}
    n = p["n_states"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= 5:
        raise ValueError(f"hmm: param n_states must be an integer from 2 to 5, got {n!r}")
    if not isinstance(p["use_vol"], bool):
        raise ValueError(f"hmm: param use_vol must be true or false, got {p['use_vol']!r}")
    vw = p["vol_window"]
    if isinstance(vw, bool) or not isinstance(vw, (int, np.integer)) or vw < 2:
        raise ValueError(f"hmm: param vol_window must be an integer >= 2, got {vw!r}")
    seed = p["seed"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"hmm: param seed must be a non-negative integer, got {seed!r}")
    it = p["n_iter"]
    if isinstance(it, bool) or not isinstance(it, (int, np.integer)) or it < 1:
        raise ValueError(f"hmm: param n_iter must be a positive integer, got {it!r}")
    if not (isinstance(p["tol"], (int, float)) and p["tol"] > 0):
        raise ValueError(f"hmm: param tol must be a positive number, got {p['tol']!r}")
    if not (isinstance(p["high_vol_ratio"], (int, float)) and p["high_vol_ratio"] >= 1):
        raise ValueError(f"hmm: param high_vol_ratio must be a number >= 1, got {p['high_vol_ratio']!r}")
    mo = p["min_obs"]
    if mo is not None and (isinstance(mo, bool) or not isinstance(mo, (int, np.integer)) or mo < 2 * n):
        raise ValueError(f"hmm: param min_obs must be an integer >= 2 * n_states, got {mo!r}")
    return {**p, "n_states": int(n), "vol_window": int(vw), "seed": int(seed), "n_iter": int(it)}


def check_closes(closes: Any, who: str) -> pd.DataFrame:
    """Validate a closes frame: int-ns ascending index, positive finite prices (NaN = no bar)."""
    if not isinstance(closes, pd.DataFrame):
        raise DataError(f"{who}: closes must be a pandas DataFrame, got {type(closes).__name__}")
    idx = closes.index
    if len(idx) and not pd.api.types.is_integer_dtype(idx):
        raise DataError(f"{who}: closes index must be int nanosecond timestamps, got {idx.dtype}")
    if len(idx) > 1:
        steps = np.diff(np.asarray(idx, dtype=np.int64))
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            raise DataError(f"{who}: closes index not strictly ascending at ts {int(idx[bad[0] + 1])}")
    for sym in closes.columns:
        col = pd.to_numeric(closes[sym], errors="coerce")
        raw = closes[sym]
        if (col.isna() & raw.notna()).any():
            pos = int(np.flatnonzero((col.isna() & raw.notna()).to_numpy())[0])
            raise DataError(f"{who}: close of {sym} at ts {int(idx[pos])} is not a number: {raw.iloc[pos]!r}")
        vals = col.to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isnan(vals) & ~(np.isfinite(vals) & (vals > 0)))
        if bad.size:
            raise DataError(f"{who}: close of {sym} at ts {int(idx[bad[0]])} is {vals[bad[0]]}, must be positive")
    return closes


def check_bar(who: str, ts: Any, symbol: str, close: Any, last_ts: int | None) -> tuple[int, float]:
    if isinstance(ts, bool) or not isinstance(ts, (int, np.integer)):
        raise DataError(f"{who}: bar ts for {symbol} must be int nanoseconds, got {ts!r}")
    try:
        c = float(close)
    except (TypeError, ValueError):
        raise DataError(f"{who}: close of {symbol} at ts {ts} is not a number: {close!r}") from None
    if not (math.isfinite(c) and c > 0):
        raise DataError(f"{who}: close of {symbol} at ts {ts} is {c}, must be positive")
    if last_ts is not None and int(ts) <= last_ts:
        raise DataError(f"{who}: bar ts {int(ts)} for {symbol} is not after the previous bar ts {last_ts}")
    return int(ts), c


def raw_features(prices: np.ndarray, use_vol: bool, vol_window: int) -> np.ndarray:
    """Unstandardised features, one row per bar from the first with a full history.

    Column 0: simple return; column 1 (``use_vol``): log of the sample std
    (ddof=1) of the last ``vol_window`` returns including this one.
    """
    rets = prices[1:] / prices[:-1] - 1.0
    if not use_vol:
        col: np.ndarray = rets[:, None]
        return col
    if rets.size < vol_window:
        return np.empty((0, 2))
    win = np.lib.stride_tricks.sliding_window_view(rets, vol_window)
    vol = np.log(np.array([np.std(w, ddof=1) for w in win]))
    out: np.ndarray = np.column_stack([rets[vol_window - 1:], vol])
    return out


def log_emission(x: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log N(x | mean_k, diag(var_k)) for each state k; x has shape (n_features,)."""
    d = x[None, :] - means
    out: np.ndarray = -0.5 * (x.size * LOG_2PI + np.log(variances).sum(axis=1) + (d * d / variances).sum(axis=1))
    return out


def forward_step(prev: np.ndarray, transmat: np.ndarray, logb: np.ndarray) -> np.ndarray:
    """One normalised forward-recursion step from the previous filtered posterior ``prev``."""
    pred = prev @ transmat
    w = pred * np.exp(logb - logb.max())
    out: np.ndarray = w / w.sum()
    return out


@register("hmm")
class HMMRegime(SignalModel):
    """Per-symbol Gaussian HMM regimes; see the module docstring for the conventions."""

    symbols_independent = True  # one HMM per symbol, fitted and filtered on its own column

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._p = _check_params(self.params)
        self._fits: dict[str, dict[str, Any]] = {}
        self._last: dict[str, SignalOut] = {}

    # ---- fitting -------------------------------------------------------------
    def fit(self, closes: pd.DataFrame) -> FitReport:
        from hmmlearn.hmm import GaussianHMM  # type: ignore[import-untyped, unused-ignore]

        check_closes(closes, "hmm")
        if closes.shape[1] == 0 or closes.shape[0] == 0:
            raise DataError("hmm: closes has no symbols or no rows to fit on")
        p, n = self._p, self._p["n_states"]
        nf = 2 if p["use_vol"] else 1
        min_obs = p["min_obs"] or 30 * n
        fits: dict[str, dict[str, Any]] = {}
        lls: list[float] = []
        for k, sym in enumerate(closes.columns):
            self.report_progress(k / len(closes.columns), f"symbol {sym}")
            col = pd.to_numeric(closes[sym], errors="coerce").dropna()
            prices = col.to_numpy(dtype=float)
            feats = raw_features(prices, p["use_vol"], p["vol_window"])
            if feats.shape[0] < min_obs:
                raise DataError(f"hmm: {sym} has {feats.shape[0]} feature rows, need at least {min_obs}")
            mu, sd = feats.mean(axis=0), feats.std(axis=0, ddof=1)
            if not np.all(sd > 0):
                raise DataError(f"hmm: {sym} prices do not vary in the training window")
            x = (feats - mu) / sd
            model = GaussianHMM(n_components=n, covariance_type="diag", n_iter=p["n_iter"], tol=p["tol"],
                                random_state=p["seed"], implementation="log")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x)
            means = np.asarray(model.means_, dtype=float)
            variances = np.diagonal(np.asarray(model.covars_, dtype=float), axis1=1, axis2=2).copy()
            transmat = np.asarray(model.transmat_, dtype=float)
            startprob = np.asarray(model.startprob_, dtype=float)
            if not all(np.all(np.isfinite(a)) for a in (means, variances, transmat, startprob)):
                raise DataError(f"hmm: fit for {sym} did not converge to finite parameters")
            st: dict[str, Any] = {
                "means": means, "variances": variances, "transmat": transmat, "startprob": startprob,
                "feat_mean": mu, "feat_std": sd, "n_features": nf,
                "order": np.argsort(means[:, 0], kind="stable"),
                "prices_tail": prices[-(p["vol_window"] + 1):].copy() if p["use_vol"] else prices[-1:].copy(),
                "last_ts": int(col.index[-1]),
            }
            post = startprob * np.exp(self._logb(st, x[0]) - self._logb(st, x[0]).max())
            post = post / post.sum()
            for row in x[1:]:
                post = forward_step(post, transmat, self._logb(st, row))
            st["posterior"] = post
            fits[sym] = st
            lls.append(float(model.score(x)) / x.shape[0])
        self._fits = fits
        self.version += 1
        self.fitted_at = int(closes.index[-1])
        self._last = {sym: self._out(sym, st["last_ts"]) for sym, st in fits.items()}
        return FitReport(model=self.name, version=self.version, train_start=int(closes.index[0]),
                         train_end=int(closes.index[-1]),
                         metrics={"loglik_per_obs": float(np.mean(lls)), "n_symbols": float(len(fits))})

    @staticmethod
    def _logb(st: dict[str, Any], x: np.ndarray) -> np.ndarray:
        return log_emission(x, st["means"], st["variances"])

    # ---- per bar -------------------------------------------------------------
    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        st = self._fits.get(symbol)
        if st is None:
            return []
        t, c = check_bar("hmm", ts, symbol, close, st["last_ts"])
        prices = np.append(st["prices_tail"], c)
        p = self._p
        feat = raw_features(prices, p["use_vol"], p["vol_window"])[-1]
        x = (feat - st["feat_mean"]) / st["feat_std"]
        st["posterior"] = forward_step(st["posterior"], st["transmat"], self._logb(st, x))
        st["prices_tail"] = prices[1:]
        st["last_ts"] = t
        out = self._out(symbol, t)
        self._last[symbol] = out
        return [out]

    def _state_view(self, st: dict[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(labels per state index, raw return mean per state, signed score per state, risk scale)."""
        n = st["means"].shape[0]
        names = state_labels(n)
        labels = [""] * n
        for rank, k in enumerate(st["order"]):
            labels[int(k)] = names[rank]
        ret_mean = st["means"][:, 0] * st["feat_std"][0] + st["feat_mean"][0]
        top = float(np.max(np.abs(ret_mean)))
        score = ret_mean / top if top > 0 else np.zeros(n)
        ret_var = st["variances"][:, 0] * st["feat_std"][0] ** 2
        scale = np.array([_label_scale(lab) for lab in labels])
        hv = int(np.argmax(ret_var))
        if ret_var[hv] >= self._p["high_vol_ratio"] * float(np.min(ret_var)):
            scale[hv] = min(scale[hv], HIGH_VOL_SCALE)
        return labels, ret_mean, score, scale

    def _out(self, symbol: str, ts: int) -> SignalOut:
        st = self._fits[symbol]
        post = st["posterior"]
        labels, ret_mean, score, scale = self._state_view(st)
        k = int(np.argmax(post))
        value = float(np.clip(float(post @ score), -1.0, 1.0))
        detail = {
            "regime": labels[k],
            "posteriors": {labels[i]: float(post[i]) for i in st["order"][::-1]},
            "risk_scale": float(post @ scale),
            "state_mean_return": {labels[i]: float(ret_mean[i]) for i in st["order"][::-1]},
        }
        return SignalOut(ts=ts, symbol=symbol, model=self.name, value=value,
                         confidence=float(post[k]), detail=detail)

    def posterior(self, symbol: str) -> np.ndarray:
        """The current filtered posterior over hmmlearn's state indices (a copy)."""
        return np.array(self._fits[symbol]["posterior"], copy=True)

    def standardised_features(self, symbol: str, prices: np.ndarray) -> np.ndarray:
        """Features of ``prices`` scaled with ``symbol``'s training statistics."""
        st = self._fits[symbol]
        f = raw_features(np.asarray(prices, dtype=float), self._p["use_vol"], self._p["vol_window"])
        out: np.ndarray = (f - st["feat_mean"]) / st["feat_std"]
        return out

    def hmmlearn_model(self, symbol: str) -> Any:
        """An hmmlearn GaussianHMM carrying ``symbol``'s fitted parameters (for checks)."""
        from hmmlearn.hmm import GaussianHMM

        st = self._fits[symbol]
        m = GaussianHMM(n_components=st["means"].shape[0], covariance_type="diag", init_params="")
        m.n_features = st["n_features"]
        m.startprob_, m.transmat_ = st["startprob"], st["transmat"]
        m.means_, m.covars_ = st["means"], st["variances"]
        return m

    def state(self) -> list[SignalOut]:
        return [self._last[s] for s in sorted(self._last)]

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """Each regime's contribution posterior x scaled mean to ``value``, largest |.| first."""
        st = self._fits.get(symbol)
        if st is None:
            return []
        labels, _, score, _ = self._state_view(st)
        parts = [(labels[i], float(st["posterior"][i] * score[i])) for i in range(len(labels))]
        return sorted(parts, key=lambda kv: (-abs(kv[1]), kv[0]))

    # ---- artifact ------------------------------------------------------------
    def to_bytes(self) -> bytes:
        blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": dict(self.params),
                "version": self.version, "fitted_at": self.fitted_at,
                "fits": {s: dict(st) for s, st in self._fits.items()}}
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "HMMRegime":
        d = _load_blob(blob, FORMAT, FORMAT_VERSION)
        m = cls(d["params"])
        m.version, m.fitted_at = int(d["version"]), d["fitted_at"]
        m._fits = {s: dict(st) for s, st in d["fits"].items()}
        m._last = {s: m._out(s, st["last_ts"]) for s, st in m._fits.items()}
        return m


def _load_blob(blob: bytes, fmt: str, version: int) -> dict[str, Any]:
    try:
        d = pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad artifact
        raise DataError(f"{fmt}: artifact is not readable: {type(exc).__name__}: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise DataError(f"{fmt}: artifact is not a {fmt} model")
    if d.get("format_version") != version:
        raise DataError(f"{fmt}: artifact format version {d.get('format_version')!r}, this code reads {version}")
    return d
