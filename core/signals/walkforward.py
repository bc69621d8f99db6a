"""Walk-forward evaluation of signal models, and the signal metrics fits report.

Conventions:
- Returns are simple fractions; standard deviations are sample ones (ddof=1);
  a Sharpe ratio is the per-bar mean over sd times sqrt(252), whatever the bar
  size (so intraday figures are per-bar Sharpes scaled like daily ones).
- A position taken at bar t (the model's output after t's close) is held for
  the bar t -> t+1 and earns ``position * r_{t+1}``; with several symbols the
  book is an equal-weight average across the symbols with a position.
- ``ts`` are int nanoseconds of market time; nothing reads the wall clock.
- Models are fitted on a window of closes only; the test bars are then fed one
  by one through ``on_bar``; no fit ever sees its test bars.
- The numbers are reported as they come out, poor or not; a metric that is
  undefined (e.g. a flat signal has no Sharpe) is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError
from core.signals.base import SignalModel
from core.signals.features import check_closes

ANNUAL = math.sqrt(252.0)
Array = npt.NDArray[np.float64]


def sharpe(pnl: Array) -> float:
    """Annualised Sharpe (rf 0) of per-bar returns: mean / sd(ddof=1) * sqrt(252); NaN if undefined."""
    x = np.asarray(pnl, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan")
    sd = float(x.std(ddof=1))
    return float(x.mean() / sd * ANNUAL) if sd > 0 else float("nan")


def hit_rate(position: Array, fwd: Array) -> float:
    """Share of bets whose sign matches the next return's sign (zero positions and returns excluded)."""
    p, r = np.asarray(position, dtype=np.float64), np.asarray(fwd, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(r) & (p != 0) & (r != 0)
    return float(np.mean(np.sign(p[ok]) == np.sign(r[ok]))) if ok.any() else float("nan")


def rank_ic(pred: Array, fwd: Array) -> float:
    """Spearman rank correlation of predictions and next returns, pooled over all rows."""
    p, r = np.asarray(pred, dtype=np.float64), np.asarray(fwd, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(r)
    if ok.sum() < 3:
        return float("nan")
    a = pd.Series(p[ok]).rank().to_numpy()
    b = pd.Series(r[ok]).rank().to_numpy()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def book_pnl(position: Array, fwd: Array) -> Array:
    """Per-bar pnl of a (bars x symbols) position matrix: mean over symbols of position * next return.

    Rows where no symbol has a defined position give NaN (left out of Sharpe)."""
    p, r = np.asarray(position, dtype=np.float64), np.asarray(fwd, dtype=np.float64)
    prod = p * r
    ok = np.isfinite(prod)
    count = ok.sum(axis=1)
    total = np.where(ok, prod, 0.0).sum(axis=1)
    pnl: Array = np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
    return pnl


def turnover(position: Array) -> float:
    """Mean |change of position| per bar and symbol (NaN positions count as flat)."""
    p = np.nan_to_num(np.asarray(position, dtype=np.float64))
    if p.shape[0] < 2:
        return float("nan")
    return float(np.abs(np.diff(p, axis=0)).mean())


def signal_metrics(pred: Array, fwd: Array, prefix: str = "") -> dict[str, float]:
    """Metrics of a (bars x symbols) prediction matrix against next-bar returns.

    hit_rate and sharpe use sign(pred) as the position; ic is the pooled rank
    correlation; n is the number of (bar, symbol) predictions; sharpe_bars,
    skew and kurt are the count, skewness and (non-excess) kurtosis of the
    per-bar book returns behind sharpe (what the fit gate's probabilistic
    Sharpe ratio needs)."""
    p = np.atleast_2d(np.asarray(pred, dtype=np.float64))
    r = np.atleast_2d(np.asarray(fwd, dtype=np.float64))
    pos = np.sign(p)
    pnl = book_pnl(pos, r)
    skew, kurt = moments(pnl)
    return {
        f"{prefix}hit_rate": hit_rate(pos, r),
        f"{prefix}sharpe": sharpe(pnl),
        f"{prefix}ic": rank_ic(p.ravel(), r.ravel()),
        f"{prefix}n": float(np.isfinite(p * r).sum()),
        f"{prefix}sharpe_bars": float(np.isfinite(pnl).sum()),
        f"{prefix}skew": skew,
        f"{prefix}kurt": kurt,
    }


def moments(pnl: Array) -> tuple[float, float]:
    """Skewness and non-excess kurtosis (population moments) of the finite
    values; (0, 3), the normal's, when undefined."""
    x = np.asarray(pnl, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return 0.0, 3.0
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    if not m2 > 0:
        return 0.0, 3.0
    return float(np.mean(d ** 3) / m2 ** 1.5), float(np.mean(d ** 4) / m2 ** 2)


# ------------------------------------------------------------ evidence

EULER_GAMMA = 0.5772156649015329


def sharpe_sd(sr: float, n: int, skew: float = 0.0, kurt: float = 3.0) -> float:
    """Standard error of a per-bar Sharpe estimate ``sr`` from ``n`` returns
    with the given skewness and (non-excess) kurtosis (Mertens; Bailey and
    Lopez de Prado 2012): sqrt((1 - skew sr + (kurt - 1) / 4 sr^2) / (n - 1))."""
    if n < 2:
        return math.nan
    v = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    return math.sqrt(max(v, 1e-12) / (n - 1))


def deflated_threshold(sd: float, trials: int) -> float:
    """The per-bar Sharpe that the best of ``trials`` independent tries of a
    skill-less strategy reaches by luck (Bailey and Lopez de Prado 2014, the
    deflated Sharpe ratio's SR0), with ``sd`` the Sharpe estimate's standard
    error: sd x ((1 - g) Z(1 - 1/N) + g Z(1 - 1/(N e))). 0 for one trial."""
    if trials <= 1 or not math.isfinite(sd):
        return 0.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf
    return sd * ((1.0 - EULER_GAMMA) * z(1.0 - 1.0 / trials) + EULER_GAMMA * z(1.0 - 1.0 / (trials * math.e)))


def probabilistic_sharpe(sr: float, n: int, skew: float = 0.0, kurt: float = 3.0,
                         trials: int = 1) -> float:
    """Probability that the true per-bar Sharpe exceeds the deflated threshold
    for ``trials`` tries (the probabilistic Sharpe ratio against SR0: with one
    trial PSR(0), with more the deflated Sharpe ratio). NaN when undefined."""
    if n < 2 or not math.isfinite(sr):
        return math.nan
    sd = sharpe_sd(sr, n, skew, kurt)
    sr0 = deflated_threshold(sharpe_sd(0.0, n, skew, kurt), trials)
    return 0.5 * (1.0 + math.erf((sr - sr0) / sd / math.sqrt(2.0)))


# ------------------------------------------------------------ costs


@dataclass(frozen=True)
class Costs:
    """The paper broker's costs (``core.config.BrokerConfig``) for research:
    commission in bps of traded notional with a minimum per trade, and the
    half-spread paid on every trade; ``capital`` is the book's size in
    currency (what the minimum commission is a share of)."""

    commission_bps: float = 1.0
    min_commission: float = 1.0
    half_spread_bps: float = 2.0
    capital: float = 1_000_000.0


def cost_per_bar(position: Array, fwd: Array, costs: Costs) -> Array:
    """Per-bar cost, as a fraction of the book, of trading a (bars x symbols)
    position matrix as ``book_pnl`` holds it: the trade at bar t is the change
    of position since t-1 (NaN counts as flat), each symbol's notional its
    share of the book (1 / the symbols with a position that bar), charged
    commission (at least ``min_commission`` a trade) and the half-spread."""
    p = np.nan_to_num(np.asarray(position, dtype=np.float64))
    r = np.asarray(fwd, dtype=np.float64)
    held = np.isfinite(np.asarray(position, dtype=np.float64) * r).sum(axis=1)
    trade = np.abs(np.diff(p, axis=0, prepend=0.0))
    notional = trade * costs.capital / np.maximum(held, 1)[:, None]  # currency per symbol and bar
    fee = np.where(notional > 0, np.maximum(costs.min_commission, notional * costs.commission_bps / 1e4), 0.0)
    spread = notional * costs.half_spread_bps / 1e4
    out: Array = (fee + spread).sum(axis=1) / costs.capital
    return out


def net_metrics(position: Array, fwd: Array, costs: Costs) -> dict[str, float]:
    """Sharpe ratios after ``costs`` (value and sign positions), and the mean
    cost per bar in bps of the book, for positions held as ``book_pnl`` holds them."""
    p = np.asarray(position, dtype=np.float64)
    r = np.asarray(fwd, dtype=np.float64)
    out: dict[str, float] = {}
    for key, pos in (("sharpe_net", p), ("sharpe_sign_net", np.sign(p))):
        gross = book_pnl(pos, r)
        cost = cost_per_bar(pos, r, costs)
        out[key] = sharpe(gross - cost)
        if key == "sharpe_net":
            ok = np.isfinite(gross)
            out["cost_bps"] = float(cost[ok].mean() * 1e4) if ok.any() else float("nan")
    return out


# ------------------------------------------------------------ walk-forward


@dataclass
class WalkForwardResult:
    """A model's walk-forward record: metrics, and the per-bar positions behind them."""

    model: str
    metrics: dict[str, float]
    positions: pd.DataFrame  # ts x symbol, model output after each test bar
    fwd: pd.DataFrame  # ts x symbol, the return t -> t+1 each position earns
    folds: list[dict[str, Any]] = field(default_factory=list)


def _positions_from_signals(signals: list[Any], symbols: list[str]) -> dict[str, float]:
    """Map a bar's SignalOuts to per-symbol positions; a pair "A/B" is +v in A and -v in B."""
    pos: dict[str, float] = {}
    for sig in signals:
        v = float(sig.value)
        if not math.isfinite(v):
            continue
        if sig.symbol in symbols:
            pos[sig.symbol] = pos.get(sig.symbol, 0.0) + v
        elif "/" in sig.symbol:
            a, _, b = sig.symbol.partition("/")
            if a in symbols and b in symbols:
                pos[a] = pos.get(a, 0.0) + v
                pos[b] = pos.get(b, 0.0) - v
    return {k: max(-1.0, min(1.0, v)) for k, v in pos.items()}


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold, as row positions in the closes: fit on
    ``[start, end)``, trade bars ``[end, stop)``."""

    start: int
    end: int
    stop: int


@dataclass
class FoldResult:
    """What one fold produced: the model's name, the positions it took on
    its test bars (rows ``end..stop-1``, one column per symbol fitted) and the
    fold's record. A fold whose fit rejects the data carries ``error``
    instead (the exception as it would have been raised)."""

    fold: Fold
    symbols: tuple[str, ...]
    model: str = "model"
    positions: Array = field(default_factory=lambda: np.zeros((0, 0)))
    record: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


def check_walk_forward(closes: pd.DataFrame, train_bars: int, test_bars: int) -> None:
    """The checks ``evaluate`` makes before any fit (the same errors)."""
    check_closes(closes, what="closes", min_rows=2)
    if train_bars < 2 or test_bars < 1:
        raise ValueError(f"train_bars must be >= 2 and test_bars >= 1 (got {train_bars}, {test_bars})")
    if len(closes) < train_bars + 2:
        raise DataError(f"closes: {len(closes)} bars; walk-forward needs more than train_bars={train_bars} + 1")


def plan_folds(n_bars: int, train_bars: int, test_bars: int) -> list[Fold]:
    """The folds of a walk-forward over ``n_bars`` bars: fit on ``train_bars``,
    trade the next ``test_bars`` (the last bar has no next return), roll by
    ``test_bars``."""
    folds: list[Fold] = []
    start = 0
    while start + train_bars < n_bars - 1:
        end = start + train_bars
        folds.append(Fold(start, end, min(end + test_bars, n_bars - 1)))
        start += test_bars
    return folds


def check_feed(closes: pd.DataFrame, feed: pd.DataFrame | None) -> None:
    """A ``feed`` must have the closes' shape (the same bars and symbols)."""
    if feed is not None and feed.shape != closes.shape:
        raise ValueError(f"feed: shape {feed.shape} is not the closes' {closes.shape}")


def run_fold(model_factory: Callable[[], SignalModel], closes: pd.DataFrame, fold: Fold,
             catch: tuple[type[BaseException], ...] = (), feed: pd.DataFrame | None = None) -> FoldResult:
    """Fit a fresh model on the fold's training bars and feed it the fold's
    test bars one by one (every column of ``closes``, in order). Independent
    of every other fold, so folds can run anywhere in any order. An exception
    of a ``catch`` type is returned in ``error`` rather than raised.

    ``feed``: the closes fed on the test bars instead of ``closes`` (see
    ``evaluate``); a frame over more symbols than ``closes`` (the whole file,
    when a part covers some of its symbols) is cut to ``closes``' columns."""
    symbols = [str(c) for c in closes.columns]
    ts_all = closes.index.to_numpy()
    values = closes.to_numpy(dtype=np.float64)
    if feed is not None and feed.shape[1] != closes.shape[1] and set(closes.columns) <= set(feed.columns):
        feed = feed[list(closes.columns)]
    check_feed(closes, feed)
    fed = values if feed is None else feed.to_numpy(dtype=np.float64)
    pos = np.full((fold.stop - fold.end, len(symbols)), np.nan)
    try:
        model = model_factory()
        report = model.fit(closes.iloc[fold.start:fold.end])
        for i in range(fold.end, fold.stop):
            out: list[Any] = []
            for j, sym in enumerate(symbols):
                out.extend(model.on_bar(int(ts_all[i]), sym, float(fed[i, j])))
            for sym, v in _positions_from_signals([s for s in out if s.ts == int(ts_all[i])], symbols).items():
                pos[i - fold.end, symbols.index(sym)] = v
    except catch as exc:
        return FoldResult(fold, tuple(symbols), error=exc)
    record = {"train_start": int(ts_all[fold.start]), "train_end": int(ts_all[fold.end - 1]),
              "test_start": int(ts_all[fold.end]), "test_end": int(ts_all[fold.stop - 1]),
              "fit_metrics": dict(report.metrics)}
    return FoldResult(fold, tuple(symbols), model.name, pos, record)


def assemble(closes: pd.DataFrame, train_bars: int, parts: list[FoldResult],
             costs: Costs | None = None) -> WalkForwardResult:
    """The walk-forward result from its folds' parts (in any order; a fold
    may come in several parts, each over some of the symbols, as a model
    whose symbols are independent is split). The first error in fold order
    (then column order) is raised, as the serial run would have raised it.
    A fold split by symbol keeps each part's record under
    ``record["by_symbol"]``."""
    symbols = [str(c) for c in closes.columns]
    col = {s: j for j, s in enumerate(symbols)}
    ts_all = closes.index.to_numpy()
    values = closes.to_numpy(dtype=np.float64)
    parts = sorted(parts, key=lambda p: (p.fold.start, min(col[s] for s in p.symbols)))
    failed = next((p for p in parts if p.error is not None), None)
    if failed is not None and failed.error is not None:
        raise failed.error
    pos = np.full(values.shape, np.nan)
    folds: list[dict[str, Any]] = []
    name = "model"
    for p in parts:
        name = p.model
        cols = [col[s] for s in p.symbols]
        pos[p.fold.end:p.fold.stop, cols] = p.positions
        if len(p.symbols) == len(symbols):
            folds.append(p.record)
        elif folds and folds[-1].get("test_start") == p.record["test_start"] and "by_symbol" in folds[-1]:
            folds[-1]["by_symbol"].update({s: p.record["fit_metrics"] for s in p.symbols})
        else:
            folds.append({**{k: v for k, v in p.record.items() if k != "fit_metrics"},
                          "by_symbol": {s: p.record["fit_metrics"] for s in p.symbols}})
    fwd = np.full(values.shape, np.nan)
    fwd[:-1] = values[1:] / values[:-1] - 1.0
    test = slice(train_bars, len(closes) - 1)  # the folds' test blocks, back to back
    p_, r = pos[test], fwd[test]
    sign = np.sign(p_)
    bh = np.nanmean(r, axis=1) if r.size else np.array([])
    metrics = {
        "hit_rate": hit_rate(p_, r),
        "sharpe": sharpe(book_pnl(p_, r)),
        "sharpe_sign": sharpe(book_pnl(sign, r)),
        "turnover": turnover(p_),
        "bh_sharpe": sharpe(bh),
        "ic": rank_ic(p_.ravel(), r.ravel()),
        "mean_abs_position": float(np.nanmean(np.abs(p_))) if np.isfinite(p_).any() else float("nan"),
        "coverage": float(np.isfinite(p_).mean()) if p_.size else float("nan"),
        "n_bars": float(p_.shape[0]),
        "n_folds": float(len(folds)),
    }
    if costs is not None:
        metrics.update(net_metrics(p_, r, costs))
    idx = pd.Index(ts_all[test], name="ts")
    return WalkForwardResult(name, metrics, pd.DataFrame(p_, index=idx, columns=symbols),
                             pd.DataFrame(r, index=idx, columns=symbols), folds)


def evaluate(model_factory: Callable[[], SignalModel], closes: pd.DataFrame,
             train_bars: int, test_bars: int, costs: Costs | None = None,
             feed: pd.DataFrame | None = None) -> WalkForwardResult:
    """Fit on ``train_bars`` bars, trade the next ``test_bars`` through ``on_bar``, roll forward.

    Metrics (fractions; Sharpe annualised by sqrt(252), ddof=1):
      hit_rate      sign of position vs sign of next return
      sharpe        book of positions = model value, held one bar
      sharpe_sign   book of positions = sign(value)
      turnover      mean |change of value| per bar and symbol
      bh_sharpe     equal-weight buy-and-hold over the same test bars
      ic            pooled rank correlation of value and next return
      coverage      share of (bar, symbol) cells with a position (warm-up leaves gaps)
      n_bars, n_folds
    and with ``costs`` (the paper broker's), the same books after them:
      sharpe_net, sharpe_sign_net, cost_bps (mean cost per bar, bps of the book)

    ``feed`` (same shape as ``closes``): the closes the model is fed on the
    test bars instead of ``closes`` (perturbed inputs: ``robustness``); fits
    and the forward returns that score the positions stay on ``closes``.

    The folds are independent (``plan_folds``, ``run_fold``, ``assemble``):
    ``console.models_ray`` runs the same three steps as Ray tasks.
    """
    check_walk_forward(closes, train_bars, test_bars)
    check_feed(closes, feed)
    parts = [run_fold(model_factory, closes, f, feed=feed) for f in plan_folds(len(closes), train_bars, test_bars)]
    return assemble(closes, train_bars, parts, costs)
