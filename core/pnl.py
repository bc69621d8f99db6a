"""A session's P&L: one definition, used by every command that shows it.

P&L = NAV of the session's last logged risk snapshot - the initial cash.

* "to the last bar close": the risk snapshot is logged at each bar close, so
  positions are marked at the last bar's close. Ticks after it (a run stopped
  mid-bar) are not in the figure: what the log proves, the figure shows.
* "net of fees": NAV is cash plus positions at their marks, and commission
  and slippage have already left the cash.
* no risk snapshot yet (a session stopped before its first bar closed): 0.

``console run`` (its final line), ``console sessions``, ``console report``,
``console replay`` and ``console replay --what-if`` all call
``session_pnl`` with the logged (or re-made) snapshot NAV, and print it
under ``PNL_LABEL``, so one session shows one figure everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

PNL_LABEL: Final = "P&L (to last bar close, net of fees)"
PNL_NOTE: Final = "P&L: NAV at the last bar close minus the initial cash, net of fees"


def session_pnl(last_nav: float | None, initial_cash: float) -> float:
    """The session's P&L from the NAV of its last risk snapshot (None: no
    snapshot yet, P&L 0). NaN propagates: an unreadable NAV is not a zero."""
    if last_nav is None:
        return 0.0
    return float(last_nav) - float(initial_cash)


def logged_initial_cash(engine: Any) -> float:
    """``initial_cash`` from a session's logged engine config (the setup's
    ``"engine"`` table); the engine's default when the log predates the key;
    NaN when it is unreadable (a P&L that cannot be known is shown so)."""
    if not isinstance(engine, Mapping):
        return math.nan
    if "initial_cash" not in engine:
        from core.config import EngineConfig  # the one default

        return float(EngineConfig.initial_cash)
    cash = engine["initial_cash"]
    return float(cash) if isinstance(cash, (int, float)) and not isinstance(cash, bool) else math.nan


# ------------------------------------------------------------ round trips
#
# A trade is what the engine's losing-streak breaker counts
# (``Engine.round_trip``): a round trip from flat back to flat, or through
# zero, net of every commission on the way. Its P&L is made of the engine's
# own logged figures: each ``PositionChanged.realized`` (the portfolio's
# average-cost realised P&L of a fill) minus that ``Fill.commission``. So the
# closed trades of a session that ends flat add up to ``session_pnl`` (with no
# options overlay: the puts are not trades); nothing here marks or re-prices.


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One closed trade. ``qty`` is the largest absolute position it held;
    ``entry`` / ``exit`` the volume-weighted prices of the fills that grew and
    shrank it; ``pnl`` net of ``fees``; times in market epoch ms."""

    symbol: str
    side: str  # "long" / "short"
    entry_ts: int
    exit_ts: int
    qty: float
    entry: float
    exit: float
    pnl: float
    fees: float
    fills: int
    reason: str = ""  # why the first order of the trip was sent (its OrderIntent), "" if unknown

    @property
    def held_ms(self) -> int:
        return self.exit_ts - self.entry_ts


@dataclass(slots=True)
class _Open:
    side: float
    entry_ts: int
    reason: str
    qty: float = 0.0
    in_units: float = 0.0
    in_value: float = 0.0
    out_units: float = 0.0
    out_value: float = 0.0
    pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Win rate and friends over closed trades: a win has P&L > 0, a loss
    < 0 (a trade at exactly 0 is neither, but counts in ``trades``).
    ``profit_factor`` = gross wins / gross losses (inf with wins and no
    loss, NaN with neither)."""

    trades: int
    wins: int
    losses: int
    win_rate: float  # wins / trades; NaN with no trade
    avg_win: float  # NaN with no win
    avg_loss: float  # negative; NaN with no loss
    profit_factor: float
    net: float  # the closed trades' P&L, net of fees
    fees: float


class RoundTrips:
    """Closed trades from a session's logged fills, fed in seq order: each
    ``Fill`` and the ``PositionChanged`` the engine logs right after it."""

    def __init__(self, reason_of: Callable[[Any], str] | None = None) -> None:
        self.closed: list[RoundTrip] = []
        self.open: dict[str, _Open] = {}
        self._qty: dict[str, float] = {}
        self._fill: Any = None
        self._reason_of = reason_of  # a fill that opens a trip -> why its order was sent

    def add(self, ev: Any) -> None:
        """Take a decoded ``Fill`` or ``PositionChanged``; anything else is ignored."""
        kind = type(ev).__name__
        if kind == "Fill":
            self._fill = ev
        elif kind == "PositionChanged" and self._fill is not None and self._fill.symbol == ev.symbol:
            fill, self._fill = self._fill, None
            self._book(fill, ev)

    def _why(self, f: Any) -> str:
        return self._reason_of(f) if self._reason_of is not None else ""

    def _book(self, f: Any, p: Any) -> None:
        sym = f.symbol
        before = self._qty.get(sym, 0.0)
        after = float(p.qty)
        self._qty[sym] = after
        t = self.open.get(sym)
        if t is None:
            if after == 0.0:
                return  # a fill that left us flat from flat (nothing held): no trip
            t = self.open[sym] = _Open(1.0 if after > 0.0 else -1.0, int(f.ts), self._why(f))
        t.fills += 1
        t.pnl += float(p.realized) - float(f.commission)
        t.fees += float(f.commission)
        closed = before != 0.0 and (after == 0.0 or (after > 0.0) != (before > 0.0))
        qty = float(f.qty)
        if closed:
            out = abs(before)  # the part of this fill that closed the trip
            t.out_units += out
            t.out_value += out * float(f.price)
            self.closed.append(self._close(sym, t, int(f.ts)))
            del self.open[sym]
            if after != 0.0:  # through zero: the rest opens the next trip at this price
                self.open[sym] = _Open(1.0 if after > 0.0 else -1.0, int(f.ts), self._why(f), abs(after),
                                       abs(after), abs(after) * float(f.price))
            return
        if abs(after) > abs(before):
            grew = abs(after) - abs(before)
            t.in_units += grew
            t.in_value += grew * float(f.price)
        else:
            t.out_units += abs(qty)
            t.out_value += abs(qty) * float(f.price)
        t.qty = max(t.qty, abs(after))

    @staticmethod
    def _close(sym: str, t: _Open, ts: int) -> RoundTrip:
        return RoundTrip(sym, "long" if t.side > 0 else "short", t.entry_ts, ts, t.qty,
                         t.in_value / t.in_units if t.in_units else math.nan,
                         t.out_value / t.out_units if t.out_units else math.nan,
                         t.pnl, t.fees, t.fills, t.reason)

    def stats(self) -> TradeStats:
        return trade_stats(self.closed)


def trade_stats(trades: list[RoundTrip]) -> TradeStats:
    wins = [t.pnl for t in trades if t.pnl > 0.0]
    losses = [t.pnl for t in trades if t.pnl < 0.0]
    gross_win = math.fsum(wins)
    gross_loss = -math.fsum(losses)
    if gross_loss > 0.0:
        factor = gross_win / gross_loss
    else:
        factor = math.inf if wins else math.nan
    n = len(trades)
    return TradeStats(
        trades=n, wins=len(wins), losses=len(losses),
        win_rate=len(wins) / n if n else math.nan,
        avg_win=gross_win / len(wins) if wins else math.nan,
        avg_loss=-gross_loss / len(losses) if losses else math.nan,
        profit_factor=factor, net=math.fsum(t.pnl for t in trades), fees=math.fsum(t.fees for t in trades),
    )
