"""Frozen snapshots the engine publishes and the console renders.

The UI never touches live engine objects: the session thread builds a
``Snapshot`` a few times a second and swaps one reference; panes read it.
Money in the book's currency; fractions as fractions (0.05 = 5%).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: str
    qty: float
    avg_price: float
    last: float
    market_value: float
    unrealized: float
    realized: float
    weight: float  # market value / NAV


@dataclass(frozen=True, slots=True)
class BookRow:
    """One strategy book's attribution (``strategy.books``): its virtual
    positions' value and P&L, which over all books add up to the portfolio's."""

    book: str
    weight: float  # capital weight, 0..1
    market_value: float  # signed value of its positions at last prices
    realized: float  # gross of commission, as PositionRow
    unrealized: float
    commissions: float
    pnl: float  # realised + unrealised - commissions
    symbols: tuple[tuple[str, float, float, float], ...] = ()  # (symbol, qty, market value, P&L)


@dataclass(frozen=True, slots=True)
class OptionRow:
    """A protective put held (``[hedge]``): per unit of underlying, ``cost``
    paid and ``mark`` at the desk's mid; ``delta`` in units of underlying for
    the whole holding (negative); ``pnl`` = (mark - cost) x units."""

    option_id: int
    symbol: str
    contracts: float
    units: float
    strike: float
    expiry_ts: int  # market ms
    cost: float
    mark: float
    vol: float  # the mark's implied vol, annual
    delta: float
    pnl: float


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: int
    symbol: str
    qty: float  # signed remaining units
    ref_price: float
    origin: str
    ts: int
    order_type: str = "market"  # market / limit, or the algorithm of a parent order (twap / pov)
    limit: float = 0.0  # worst fill price of a limit order; 0 = none
    filled: float = 0.0  # signed units filled so far
    parent_id: int = 0  # the parent order a child slices; 0 = none


@dataclass(frozen=True, slots=True)
class SignalRow:
    symbol: str
    model: str
    value: float  # -1 .. 1
    confidence: float  # 0 .. 1
    last: float
    ts: int
    regime: str = ""  # HMM: bullish / neutral / bearish
    posterior: tuple[tuple[str, float], ...] = ()  # HMM: probability per regime
    version: int = 0  # model version (0: in-engine or not fitted)
    status: str = ""  # model state and drift: "active", "training", "drift (KS ...)"
    explain: tuple[tuple[str, float], ...] = ()  # top feature contributions


@dataclass(frozen=True, slots=True)
class StressLine:
    name: str
    pnl: float  # currency, negative = loss
    pnl_fraction: float  # of NAV
    unshocked: tuple[str, ...] = ()  # symbols whose class the scenario has no view on (n/a)


@dataclass(frozen=True, slots=True)
class BreakerRow:
    name: str
    state: str  # ARMED / WARNING / TRIPPED
    value: float
    limit: float
    utilisation: float  # value / limit, 1.0 = at the limit
    last_trip_ts: int  # 0 = never
    reason: str
    unit: str = ""  # value and limit in: "frac" (of NAV), "count", "s" (market seconds), "sharpe"


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One signal model's live performance against its backtest: the
    validation Sharpe it was activated with (ModelActivated.val_sharpe) and
    the live Sharpe its breaker watches (annualised, over the last
    ``window`` bars of its live signal P&L; NaN until ``bars`` reaches it)."""

    model: str
    version: int
    val_sharpe: float
    live_sharpe: float
    bars: int  # bars of live signal P&L so far (capped at window)
    window: int
    state: str  # its live-Sharpe breaker: ARMED / WARNING / TRIPPED (TRIPPED: its views are ignored)
    trip_below: float  # the live Sharpe under which the breaker trips (ratio x validation)
    # (symbol, live Sharpe of the model's P&L on that symbol alone, NaN until its window is full)
    symbols: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class RiskView:
    nav: float
    cash: float
    gross: float
    net: float
    leverage: float
    day_pnl: float
    realized: float
    unrealized: float
    drawdown: float  # positive fraction of peak NAV
    max_drawdown: float
    var95: float  # positive fraction of NAV, one-day 95%: the VaR breaker's figure (var_measure)
    peak_nav: float
    extra: tuple[tuple[str, str], ...] = ()  # further labelled figures
    contributions: tuple[tuple[str, float], ...] = ()  # Euler VaR contribution per position (currency)
    sectors: tuple[tuple[str, float], ...] = ()  # gross exposure per sector / NAV
    stress: tuple[StressLine, ...] = ()  # the book under historical and hypothetical shocks
    var_measure: str = "parametric"  # what var95 is: historical, parametric, monte_carlo (of the book)
    start_nav: float = 0.0  # NAV at the session's start (initial cash); 0 = unknown
    sector_limit: float = 0.0  # the gate's gross exposure limit per sector / NAV; 0 = unknown


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    ts: int
    level: str  # info / trade / warn / alert
    text: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    session_id: str
    seq: int
    market_ts: int
    speed: str  # "60x", "max"
    events_per_s: float
    source: str
    trading_state: str  # ACTIVE / REDUCING / HALTED
    risk: RiskView
    positions: tuple[PositionRow, ...] = ()
    open_orders: tuple[OrderRow, ...] = ()
    signals: tuple[SignalRow, ...] = ()
    breakers: tuple[BreakerRow, ...] = ()
    rejections: tuple[tuple[str, int], ...] = ()  # (rule, count)
    log: tuple[LogLine, ...] = ()  # newest last, capped
    finished: bool = False
    error: str = ""  # set when the session stopped on a fault
    compiled: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    books: tuple[BookRow, ...] = ()  # P&L attribution by strategy book (empty: one driving signal)
    options: tuple[OptionRow, ...] = ()  # protective puts held (empty: none, or the overlay is off)
    blocked: tuple[str, ...] = ()  # symbols the operator blocked (block_symbol): no order may grow them
    models: tuple[ModelRow, ...] = ()  # live vs validation Sharpe per signal model (those with a breaker)
    # the limits set_limit may change: (name, now, as configured), in core.engine.SETTABLE_LIMITS order
    limits: tuple[tuple[str, float, float], ...] = ()
