"""A run's figures from its events: the equity and drawdown curves, period
returns, Sharpe, the worst drawdown with its times, trades, halts, breaker
trips and rejections.

Pure: events in (decoded, as ``(kind, event)`` pairs), frozen figures out; no
I/O. ``console report`` and ``console replay --what-if`` both summarise runs
here, so a logged session and an engine re-run are measured the same way.

Conventions (as in the README): returns are simple fractions; drawdown is a
positive fraction of the running NAV peak (the peak starts at the initial
cash, as in the engine); Sharpe is annualised, risk-free rate 0, sample sd
(ddof=1). Daily returns (sqrt(252)) when the curve covers at least two UTC
days, else per-bar returns annualised by sqrt(252 x bars a day).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from core.breakers import TRIPPED
from core.events import (BreakerChanged, Command, Fill, OrderRejected, PositionChanged, RiskSnapshot,
                         StateChanged)
from core.pnl import session_pnl
from core.state import HALTED

TRADING_DAYS: Final = 252
DAY_MS: Final = 86_400_000
MIN_DAYS_FOR_DAILY: Final = 2

# the decision kinds a summary reads (others are skipped without decoding)
SUMMARY_KINDS: Final = frozenset({"risk", "fill", "position", "order_rejected", "state", "breaker",
                                  "command"})

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Returns:
    """Per-period simple returns; ``period`` is ``"day"`` or ``"bar"``."""

    values: FloatArray
    period: str
    periods_per_year: float


@dataclass(frozen=True)
class DrawdownSpan:
    """The deepest fall from a NAV peak: ``depth`` a positive fraction of the
    peak; times in epoch ms (``recovered_ts`` None if NAV never got back)."""

    depth: float
    peak_ts: int | None
    trough_ts: int | None
    recovered_ts: int | None


@dataclass(frozen=True)
class Moment:
    """One notable moment: a halt, a breaker trip."""

    ts: int
    name: str
    reason: str


@dataclass(frozen=True)
class RunSummary:
    """Everything a report or an A/B comparison shows about one run.
    Money in currency; ``pnl`` is ``core.pnl.session_pnl``: the last risk
    snapshot's NAV minus the initial cash (to the last bar close, net of
    fees)."""

    initial_cash: float
    ts: npt.NDArray[np.int64]  # risk snapshot times, epoch ms
    nav: FloatArray
    drawdown: FloatArray  # positive fractions of the running peak
    returns: Returns
    sharpe: float  # annualised; NaN when undefined (no variance)
    max_drawdown: DrawdownSpan
    pnl: float
    trades: int
    traded_notional: float
    commission: float
    halts: tuple[Moment, ...]
    trips: tuple[Moment, ...]
    rejections: dict[str, int]  # by gate rule
    commands: int
    realized_by_symbol: dict[str, float]  # realised P&L before commission
    commission_by_symbol: dict[str, float]
    # market ms spent in each trading state (ACTIVE / REDUCING / HALTED), from
    # the first to the last event summarised
    time_in_state: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())


@dataclass
class Tally:
    """Accumulates a run's decisions one event at a time (memory: one float
    pair per risk snapshot), so a long session is summarised as it streams."""

    initial_cash: float
    bars_per_day: float
    ts: list[int] = field(default_factory=list)
    nav: list[float] = field(default_factory=list)
    trades: int = 0
    notional: float = 0.0
    commission: float = 0.0
    halts: list[Moment] = field(default_factory=list)
    trips: list[Moment] = field(default_factory=list)
    rejections: Counter[str] = field(default_factory=Counter)
    commands: int = 0
    realized: dict[str, float] = field(default_factory=dict)
    fees: dict[str, float] = field(default_factory=dict)
    state: str = "ACTIVE"
    state_since: int | None = None  # market ms the current state began (None: no event yet)
    last_ts: int = 0
    time_in: dict[str, int] = field(default_factory=dict)

    def add(self, ev: Any) -> None:
        """Take one decoded event; kinds a summary does not use are ignored."""
        ts = getattr(ev, "ts", None)
        if isinstance(ts, int) and ts > 0:
            if self.state_since is None:
                self.state_since = ts
            self.last_ts = max(self.last_ts, ts)
        if isinstance(ev, StateChanged) and self.state_since is not None:
            self.time_in[self.state] = self.time_in.get(self.state, 0) + max(0, ev.ts - self.state_since)
            self.state, self.state_since = ev.new, ev.ts
        if isinstance(ev, RiskSnapshot):
            self.ts.append(ev.ts)
            self.nav.append(ev.nav)
        elif isinstance(ev, Fill):
            self.trades += 1
            self.notional += abs(ev.qty * ev.price)
            self.commission += ev.commission
            self.fees[ev.symbol] = self.fees.get(ev.symbol, 0.0) + ev.commission
        elif isinstance(ev, PositionChanged):
            self.realized[ev.symbol] = self.realized.get(ev.symbol, 0.0) + ev.realized
        elif isinstance(ev, OrderRejected):
            self.rejections[ev.rule] += 1
        elif isinstance(ev, StateChanged) and ev.new == HALTED:
            self.halts.append(Moment(ev.ts, ev.prev, ev.reason))
        elif isinstance(ev, BreakerChanged) and ev.new == TRIPPED:
            self.trips.append(Moment(ev.ts, ev.name, ev.reason))
        elif isinstance(ev, Command):
            self.commands += 1

    def summary(self) -> RunSummary:
        ts = np.asarray(self.ts, dtype=np.int64)
        nav = np.asarray(self.nav, dtype=np.float64)
        rets = period_returns(ts, nav, self.bars_per_day, self.initial_cash)
        return RunSummary(
            initial_cash=self.initial_cash, ts=ts, nav=nav,
            drawdown=drawdowns(nav, self.initial_cash), returns=rets,
            sharpe=sharpe(rets.values, rets.periods_per_year),
            max_drawdown=max_drawdown_span(ts, nav, self.initial_cash),
            pnl=session_pnl(float(nav[-1]) if nav.size else None, self.initial_cash),
            trades=self.trades, traded_notional=self.notional, commission=self.commission,
            halts=tuple(self.halts), trips=tuple(self.trips),
            rejections=dict(sorted(self.rejections.items())), commands=self.commands,
            realized_by_symbol=dict(sorted(self.realized.items())),
            commission_by_symbol=dict(sorted(self.fees.items())),
            time_in_state=self._time_in(),
        )

    def _time_in(self) -> dict[str, int]:
        out = dict(self.time_in)
        if self.state_since is not None:
            out[self.state] = out.get(self.state, 0) + max(0, self.last_ts - self.state_since)
        return out


def summarize(events: Iterable[Any], initial_cash: float, bars_per_day: float) -> RunSummary:
    """The summary of decoded events (any order-preserving iterable)."""
    tally = Tally(initial_cash, bars_per_day)
    for ev in events:
        tally.add(ev)
    return tally.summary()


# ------------------------------------------------------------ curve math


def drawdowns(nav: FloatArray, start_peak: float | None = None) -> FloatArray:
    """``1 - nav / running peak`` at each point (positive fractions); the
    running peak starts at ``start_peak`` when given (the initial cash)."""
    if nav.size == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(nav)
    if start_peak is not None:
        peak = np.maximum(peak, start_peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1.0 - nav / peak, 1.0)


def max_drawdown_span(ts: npt.NDArray[np.int64], nav: FloatArray,
                      start_peak: float | None = None) -> DrawdownSpan:
    """The deepest drawdown and when its peak, trough and recovery were.
    A peak that is the initial cash (never marked higher) has the first
    snapshot's time."""
    dd = drawdowns(nav, start_peak)
    if dd.size == 0 or not dd.max() > 0:
        return DrawdownSpan(0.0, None, None, None)
    trough = int(np.argmax(dd))
    peak_value = nav[trough] / (1.0 - dd[trough])
    before = np.flatnonzero(nav[: trough + 1] >= peak_value)
    peak = int(before[-1]) if before.size else 0
    after = np.flatnonzero(nav[trough:] >= peak_value)
    recovered = int(ts[trough + after[0]]) if after.size else None
    return DrawdownSpan(float(dd[trough]), int(ts[peak]), int(ts[trough]), recovered)


def period_returns(ts: npt.NDArray[np.int64], nav: FloatArray, bars_per_day: float,
                   opening: float | None = None) -> Returns:
    """Daily returns (close of each UTC day over the previous close, the first
    over ``opening`` or the first NAV) when the curve spans at least two UTC
    days; otherwise returns between consecutive risk snapshots (bars)."""
    if nav.size == 0:
        return Returns(np.zeros(0), "bar", TRADING_DAYS * bars_per_day)
    days = ts // DAY_MS
    last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1))
    if last_of_day.size >= MIN_DAYS_FOR_DAILY:
        base = opening if opening is not None else float(nav[0])
        closes = np.concatenate([[base], nav[last_of_day]])
        return Returns(_ratio(closes), "day", float(TRADING_DAYS))
    return Returns(_ratio(nav), "bar", TRADING_DAYS * float(bars_per_day))


def _ratio(x: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = x[1:] / x[:-1] - 1.0
    return np.where(np.isfinite(r), r, 0.0)  # a NAV of 0 has no next return: not NaN in a test


def sharpe(returns: FloatArray, periods_per_year: float) -> float:
    """Annualised Sharpe, ``mean / sd(ddof=1) * sqrt(periods a year)``; 0 for
    a flat book (all returns 0), NaN for fewer than 2 returns or no variance."""
    if returns.size < 2:
        return math.nan
    sd = float(np.std(returns, ddof=1))
    mean = float(np.mean(returns))
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.nan
    return mean / sd * math.sqrt(periods_per_year)
