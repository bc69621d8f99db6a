"""Cross-asset features from closes, built from returns, batch and one bar at a time.

Conventions:
- Returns are simple fractions (0.01 = +1%); a standard deviation is the
  sample one (ddof=1); nothing here is annualised (vol_20 is per bar).
- ``ts`` are int nanoseconds of market time; nothing reads the wall clock.
- No leakage: the feature row at bar ``t`` uses closes up to and including
  ``t`` only (the last ``WINDOW`` returns); ``y`` at ``t`` is the return
  t -> t+1, the only value that looks forward (NaN at the last bar).
- Every feature is a function of a fixed window of returns, so the batch path
  (``make_features``) and the incremental path (``FeatureState``) run the
  same code (``_block``) on the same window and agree to rounding.

Features of symbol ``s`` at bar ``t`` (names in ``feature_names``):
  ret_1            r_t, the bar's return
  mom_5/10/20      compounded return over the last 5/10/20 bars
  vol_20           sample sd of the last 20 returns (per bar)
  zret             r_t / vol_20 (0 when vol_20 is 0)
  rsi_14           100 * mean gain / (mean gain + mean loss) over 14 returns
                   (simple means of returns, not Wilder smoothing; 50 when flat)
  mkt_ret          equal-weight mean return of all symbols at t
  rel_ret          r_t - mkt_ret
  mkt_mom_5        equal-weight mean of mom_5
  xret_<S>         return of every symbol S of the universe at t (only when
                   there are two or more symbols): other assets' returns,
                   lagged one bar relative to the target.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError

MOMENTUM = (5, 10, 20)
VOL_WINDOW = 20
RSI_WINDOW = 14
WINDOW = max(max(MOMENTUM), VOL_WINDOW, RSI_WINDOW)  # returns a feature row needs
OWN = ("ret_1", *(f"mom_{k}" for k in MOMENTUM), f"vol_{VOL_WINDOW}", "zret",
       f"rsi_{RSI_WINDOW}", "mkt_ret", "rel_ret", "mkt_mom_5")  # fmt: skip

Array = npt.NDArray[np.float64]


def feature_names(symbols: Sequence[str]) -> list[str]:
    """Column names of the feature matrix for this universe, in order."""
    cross = [f"xret_{s}" for s in symbols] if len(symbols) > 1 else []
    return [*OWN, *cross]


def check_closes(closes: pd.DataFrame, what: str = "closes", min_rows: int = 2) -> None:
    """Raise ``DataError`` (one line naming the column and ts) unless ``closes`` is usable.

    Usable: a DataFrame with an int ns index strictly ascending, unique string
    columns, and finite positive prices."""
    if not isinstance(closes, pd.DataFrame):
        raise DataError(f"{what}: expected a DataFrame of closes, got {type(closes).__name__}")
    if closes.shape[1] == 0:
        raise DataError(f"{what}: no symbol columns")
    if len(closes) < min_rows:
        raise DataError(f"{what}: {len(closes)} bars; need at least {min_rows}")
    if not pd.api.types.is_integer_dtype(closes.index.dtype):
        raise DataError(f"{what}: index must be int nanosecond timestamps, got {closes.index.dtype}")
    if not closes.columns.is_unique:
        raise DataError(f"{what}: duplicate symbol columns")
    idx = closes.index.to_numpy()
    bad_order = np.flatnonzero(np.diff(idx) <= 0)
    if bad_order.size:
        i = int(bad_order[0]) + 1
        raise DataError(f"{what}: timestamps not increasing at row {i} (ts {idx[i]} after {idx[i - 1]})")
    values = closes.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.argwhere(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise DataError(f"{what}: price {values[i, j]} in column {closes.columns[j]!r} at row {i}"
                        f" (ts {idx[i]}) is not positive and finite")


def _block(w: Array) -> Array:
    """Features from return windows ``w`` of shape (M, WINDOW, N), latest return last.

    Returns shape (M, N, F) in ``feature_names`` order."""
    m, _, n = w.shape
    r = w[:, -1, :]
    moms = [np.expm1(np.log1p(w[:, -k:, :]).sum(axis=1)) for k in MOMENTUM]
    vol = w[:, -VOL_WINDOW:, :].std(axis=1, ddof=1)
    zret = np.divide(r, vol, out=np.zeros_like(r), where=vol > 0)
    last = w[:, -RSI_WINDOW:, :]
    gain = np.clip(last, 0.0, None).mean(axis=1)
    loss = np.clip(-last, 0.0, None).mean(axis=1)
    tot = gain + loss
    rsi = np.divide(100.0 * gain, tot, out=np.full_like(r, 50.0), where=tot > 0)
    mkt = np.repeat(r.mean(axis=1, keepdims=True), n, axis=1)
    mkt_mom = np.repeat(moms[0].mean(axis=1, keepdims=True), n, axis=1)
    own = np.stack([r, *moms, vol, zret, rsi, mkt, r - mkt, mkt_mom], axis=2)
    if n == 1:
        return own
    cross = np.broadcast_to(r[:, None, :], (m, n, n))
    return np.concatenate([own, cross], axis=2)


def make_features(closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features ``X`` and next-bar return ``y``, both indexed by (ts, symbol).

    ``X`` has one row per symbol for every bar from the ``WINDOW``-th return on
    (the first ``WINDOW`` bars are warm-up); ``y`` at (t, s) is the simple return
    of ``s`` from t to t+1, NaN at the last bar (drop it before training).
    Raises ``DataError`` on unusable closes."""
    check_closes(closes, min_rows=WINDOW + 1)
    symbols = [str(c) for c in closes.columns]
    c = closes.to_numpy(dtype=np.float64)
    rets = c[1:] / c[:-1] - 1.0  # rets[i] is the return into bar i+1
    windows = np.lib.stride_tricks.sliding_window_view(rets, WINDOW, axis=0)  # (M, N, WINDOW)
    feats = _block(np.ascontiguousarray(windows.transpose(0, 2, 1)))
    m, n, f = feats.shape
    ts = closes.index.to_numpy()[WINDOW:]
    index = pd.MultiIndex.from_product([ts, symbols], names=["ts", "symbol"])
    x = pd.DataFrame(feats.reshape(m * n, f), index=index, columns=feature_names(symbols))
    fwd = np.full_like(c, np.nan)
    fwd[:-1] = rets
    y = pd.Series(fwd[WINDOW:].reshape(m * n), index=index, name="y")
    return x, y


class BarAssembler:
    """Collects per-symbol closes into complete cross-sectional bars.

    ``push`` returns the bars it completes: a bar is complete when every symbol
    has reported its ts, or when a later ts arrives (missing symbols then carry
    their last close, i.e. a zero return). Out-of-order input raises DataError."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = [str(s) for s in symbols]
        self._pos = {s: i for i, s in enumerate(self.symbols)}
        self.last: Array | None = None  # closes of the last emitted bar
        self.last_ts: int | None = None
        self._ts: int | None = None
        self._pending: dict[int, float] = {}

    def push(self, ts: int, symbol: str, close: float) -> list[tuple[int, Array]]:
        i = self._pos.get(symbol)
        if i is None:
            raise ValueError(f"unknown symbol {symbol!r}; the model knows {', '.join(self.symbols)}")
        if not (math.isfinite(close) and close > 0):
            raise DataError(f"bar {symbol} at ts {ts}: close {close} is not positive and finite")
        ts = int(ts)
        if (self.last_ts is not None and ts <= self.last_ts) or (self._ts is not None and ts < self._ts):
            raise DataError(f"bar {symbol} at ts {ts}: not after the previous bar")
        out: list[tuple[int, Array]] = []
        if self._ts is not None and ts > self._ts:
            done = self._flush()
            if done is not None:
                out.append(done)
        if i in self._pending:
            raise DataError(f"bar {symbol} at ts {ts}: duplicate close for this ts")
        self._ts = ts
        self._pending[i] = float(close)
        if len(self._pending) == len(self.symbols):
            done = self._flush()
            if done is not None:
                out.append(done)
        return out

    def _flush(self) -> tuple[int, Array] | None:
        assert self._ts is not None
        ts, pending = self._ts, self._pending
        self._ts, self._pending = None, {}
        if self.last is None and len(pending) < len(self.symbols):
            return None  # first bar incomplete: no close to carry for the missing symbols
        row = np.array(self.last, dtype=np.float64) if self.last is not None else np.empty(len(self.symbols))
        for i, v in pending.items():
            row[i] = v
        self.last, self.last_ts = row, ts
        return ts, row


class FeatureState:
    """The incremental path of ``make_features``: one complete bar in, one feature block out.

    ``update(ts, closes)`` takes the closes of every symbol at ``ts`` (array in
    ``symbols`` order, or a mapping symbol -> close) and returns the (N, F)
    feature block for that bar, equal to ``make_features``'s rows at ``ts``, or
    None during warm-up. ``push`` does the same from per-symbol bars."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = [str(s) for s in symbols]
        self.names = feature_names(self.symbols)
        self.assembler = BarAssembler(self.symbols)
        self._last: Array | None = None
        self._rets: deque[Array] = deque(maxlen=WINDOW)
        self.ts: int | None = None
        self.block: Array | None = None  # the latest feature block (N, F)

    def update(self, ts: int, closes: Array | Mapping[str, float]) -> Array | None:
        row = (np.array([float(closes[s]) for s in self.symbols]) if isinstance(closes, Mapping)
               else np.asarray(closes, dtype=np.float64))
        if row.shape != (len(self.symbols),) or not np.all(np.isfinite(row) & (row > 0)):
            raise DataError(f"bar at ts {ts}: need {len(self.symbols)} positive finite closes")
        if self._last is not None:
            self._rets.append(row / self._last - 1.0)
        self._last = row
        self.ts = int(ts)
        self.assembler.last, self.assembler.last_ts = row.copy(), int(ts)
        if len(self._rets) < WINDOW:
            self.block = None
            return None
        self.block = _block(np.stack(self._rets)[None, :, :])[0]
        return self.block

    def push(self, ts: int, symbol: str, close: float) -> list[tuple[int, Array | None]]:
        """Per-symbol input: the (ts, block) of every bar this close completes."""
        return [(t, self.update(t, row)) for t, row in self.assembler.push(ts, symbol, close)]

    def warm(self, closes: pd.DataFrame) -> None:
        """Feed the tail of a closes frame (the last WINDOW + 1 bars are enough)."""
        tail = closes[self.symbols].iloc[-(WINDOW + 1):]
        for ts, row in zip(tail.index, tail.to_numpy(dtype=np.float64)):
            self.update(int(ts), row)
