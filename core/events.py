"""Event types: every input the engine sees and every decision it makes.

Events are immutable typed tuples. They carry no sequence number: the engine
numbers each input and the decisions it makes in one session-wide sequence
(see ``core.engine.Engine.process``). ``ts`` is market time in integer
milliseconds since the Unix epoch (UTC), never the wall clock.

Compiled by mypyc (hot path): keep to plain annotated NamedTuples.

Fields added after a kind was first logged carry a default, at the end; the
codec leaves a field out of the payload while it equals its default, so logs
written before the field existed decode and replay unchanged.
"""

from typing import Final, NamedTuple, Union

# ---------------------------------------------------------------- inputs


class Tick(NamedTuple):
    """A trade print: ``price`` in quote currency, ``size`` in units."""

    ts: int
    symbol: str
    price: float
    size: float


class Bar(NamedTuple):
    """A complete OHLCV bar from a price file (the bar *ending* at ``ts``)."""

    ts: int
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class Headline(NamedTuple):
    """A news headline about ``symbol`` (``""`` for the whole market)."""

    ts: int
    symbol: str
    text: str
    source: str


class Command(NamedTuple):
    """An operator command: halt, resume, reduce, flatten, cancel_all, reset_breaker.

    ``arg`` is command specific (the breaker name for reset_breaker). ``who``
    says who sent it ("user@host pid 123 via cli"); empty in logs written
    before it existed (a default is left out of the payload, so those decode)."""

    ts: int
    symbol: str
    action: str
    arg: str
    reason: str
    who: str = ""


class ModelSignal(NamedTuple):
    """A signal model's view on a symbol after a bar close (an input: models run
    outside the engine, so their outputs are logged and replayed as inputs).
    ``scale`` is the model's risk scale in [0, 1] (e.g. a bearish regime: 0.5)."""

    ts: int
    symbol: str
    model: str
    value: float
    confidence: float
    scale: float
    version: int


class ModelActivated(NamedTuple):
    """A (re)trained model version became active at this seq. ``artifact`` is the
    sha256 of its stored weights; ``val_sharpe`` its walk-forward validation Sharpe."""

    ts: int
    symbol: str
    model: str
    version: int
    artifact: str
    val_sharpe: float
    reason: str


class ModelFit(NamedTuple):
    """The record of one signal-model fit, whatever came of it (an input: fits
    run beside the engine). ``outcome`` is "active" (a ``ModelActivated`` of
    ``version`` follows at the same boundary), "rejected" (it did not clear the
    fit gate: ``detail`` says which test) or "failed" (the fit raised:
    ``detail`` says why). ``val_sharpe`` is annualised for the engine's bars as
    in ``ModelActivated``; ``val_bars`` the validation bars behind it; ``psr``
    the probability that its true Sharpe is above the deflated threshold given
    ``trials`` fits of this model so far (NaN where the model reports no
    validation Sharpe); ``started`` the market time (ms) the fit started."""

    ts: int
    symbol: str
    model: str
    version: int
    outcome: str
    val_sharpe: float
    val_bars: int
    psr: float
    trials: int
    started: int
    reason: str
    detail: str


class Timer(NamedTuple):
    """A scheduled boundary from the source: ``bar`` (close the bars now) or
    ``day`` (a new trading day starts)."""

    ts: int
    symbol: str
    name: str


# ------------------------------------------------------------- decisions


class BarClosed(NamedTuple):
    """A bar closed by the engine (aggregated from ticks or taken from a file)."""

    ts: int
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class Signal(NamedTuple):
    """A model's view of ``symbol``: ``value`` in [-1, 1] (short..long),
    ``confidence`` in [0, 1]."""

    ts: int
    symbol: str
    model: str
    value: float
    confidence: float


class OrderIntent(NamedTuple):
    """What a strategy (or the operator) wants: ``qty`` signed units."""

    ts: int
    symbol: str
    qty: float
    ref_price: float
    origin: str
    reason: str


class OrderRejected(NamedTuple):
    """The pre-trade gate refused the intent logged at ``intent_seq``."""

    ts: int
    symbol: str
    intent_seq: int
    qty: float
    rule: str
    value: float
    limit: float
    reason: str


class OrderAccepted(NamedTuple):
    """An order sent to the broker. Its id is the seq of this event.
    ``order_type`` is ``market`` or ``limit`` (``limit`` the worst price it may
    fill at, 0 for a market order); ``expire_ts`` the market ms at which it
    expires (0 = good till cancelled); ``parent_id`` the seq of the
    ``ParentOrder`` it is a slice of (0 = none)."""

    ts: int
    symbol: str
    intent_seq: int
    qty: float
    ref_price: float
    origin: str
    order_type: str = "market"
    limit: float = 0.0
    expire_ts: int = 0
    parent_id: int = 0


class OrderCancelled(NamedTuple):
    """An open order cancelled with ``remaining`` signed units unfilled."""

    ts: int
    symbol: str
    order_id: int
    remaining: float
    reason: str


class OrderExpired(NamedTuple):
    """An open order reached its time in force (``broker.order_ttl_s``) with
    ``remaining`` signed units unfilled."""

    ts: int
    symbol: str
    order_id: int
    remaining: float
    reason: str


class ParentOrder(NamedTuple):
    """A large order worked by an execution algorithm (``twap`` or ``pov``) as
    child orders over market time; its id is the seq of this event, and each
    child's ``OrderAccepted.parent_id``. ``slice_ms`` is market ms per slice;
    the parent ends after ``slices`` slices at the latest."""

    ts: int
    symbol: str
    intent_seq: int
    qty: float
    ref_price: float
    algo: str
    slices: int
    slice_ms: int
    origin: str


class ParentDone(NamedTuple):
    """A parent order ended: ``status`` is filled, cancelled, rejected (a child
    was refused by the gate) or expired (its horizon passed, or its last child
    expired); ``filled`` and ``remaining`` are signed units."""

    ts: int
    symbol: str
    parent_id: int
    filled: float
    remaining: float
    status: str
    reason: str


class Fill(NamedTuple):
    """An execution: ``qty`` signed units at ``price``; ``commission`` in
    currency. ``remaining`` is the order's signed quantity still open after
    this fill: 0 means the order is filled, anything else a partial fill."""

    ts: int
    symbol: str
    order_id: int
    qty: float
    price: float
    commission: float
    remaining: float = 0.0


class PositionChanged(NamedTuple):
    """A position after a fill; ``realized`` is the realised P&L of that fill."""

    ts: int
    symbol: str
    qty: float
    avg_price: float
    realized: float


class RiskSnapshot(NamedTuple):
    """Book-level risk at a bar boundary. Money in currency; ``drawdown``,
    ``max_drawdown``, VaR and CVaR as positive loss fractions of NAV, one-day
    horizon, from the NAV's bar returns (parametric: Gaussian; hist:
    empirical quantile scaled by sqrt(bars a day); mc: seeded draws);
    ``leverage`` = gross / NAV. The NAV's VaR/CVaR figures (var95 ..
    cvar_hist99) and ``var_contrib`` are those of the last figures bar
    (``risk.figures_every``), as the mc figures are of the last Monte Carlo
    run; the rest are this bar's."""

    ts: int
    symbol: str
    nav: float
    cash: float
    gross: float
    net: float
    leverage: float
    day_pnl: float
    drawdown: float
    max_drawdown: float
    var95: float
    var99: float
    var_hist95: float
    var_hist99: float
    cvar_hist95: float
    cvar_hist99: float
    var_mc95: float
    var_mc99: float
    # the VaR breaker's figure: 95% one-day VaR of the book now by breakers.var_measure
    # (0.0 in sessions logged before it existed, which used var95)
    var_book95: float = 0.0
    # each position's contribution to var_book95, currency, "SYM=value;SYM=value" by
    # symbol (they add up to var_book95 x nav); "" in sessions logged before
    var_contrib: str = ""


class StateChanged(NamedTuple):
    """The trading state moved (ACTIVE / REDUCING / HALTED). ``cause_seq`` is
    the seq of the input that caused it."""

    ts: int
    symbol: str
    prev: str
    new: str
    reason: str
    cause_seq: int


class BreakerChanged(NamedTuple):
    """A circuit breaker changed state (ARMED / WARNING / TRIPPED)."""

    ts: int
    symbol: str
    name: str
    prev: str
    new: str
    value: float
    limit: float
    reason: str


class Quarantined(NamedTuple):
    """A price the engine refused to use (never marked, never a fill price):
    NaN, zero, negative, infinite, or a jump past the quarantine band from the
    last good price that later prints did not confirm."""

    ts: int
    symbol: str
    price: float
    ref_price: float
    reason: str


class CommandRejected(NamedTuple):
    """An operator command that could not take effect, and why."""

    ts: int
    symbol: str
    action: str
    reason: str


class SymbolBlocked(NamedTuple):
    """The operator blocked (``blocked`` True) or unblocked one symbol: while
    blocked, no order may grow its position (exits pass), as for a symbol on
    the configured do-not-trade list."""

    ts: int
    symbol: str
    blocked: bool
    reason: str


class LimitChanged(NamedTuple):
    """The operator changed one limit for this session (``set_limit``): a
    pre-trade gate limit or a breaker's limit, from ``old`` to ``new`` (the
    figure the engine now checks against, in its own unit). ``who`` and
    ``reason`` are the command's."""

    ts: int
    symbol: str
    name: str
    old: float
    new: float
    reason: str
    who: str


class ProtectivePut(NamedTuple):
    """The options overlay (``[hedge]``, core/overlay.py) on one symbol.
    ``action``: "buy" (puts bought at the desk's ask), "sell" (sold back at its
    bid: the long they protected shrank, or a flatten), "expire" (settled at
    intrinsic value) or "decline" (a flagged name whose ask was above
    ``max_premium_multiple`` x fair value, or over the premium budget).
    Per unit of underlying: ``strike``, ``price`` (ask, bid or payoff) and
    ``fair`` (buy and decline: BSM at ``fair_vol``; sell: the mark the bid
    came from, with ``fair_vol`` 0; expire: the payoff); ``contracts`` of
    ``multiplier`` units; ``cash`` the signed cash flow, commissions
    included; vols annualised."""

    ts: int
    symbol: str
    action: str
    option_id: int
    contracts: float
    strike: float
    expiry_ts: int
    price: float
    fair: float
    quote_vol: float
    fair_vol: float
    cash: float
    reason: str


class AllocationChanged(NamedTuple):
    """A strategy book's capital weight changed (``strategy.books``, on the
    ``rebalance_every`` schedule). ``vol`` is the book's return volatility per
    bar behind an inverse-vol or mean-variance weight (0 for equal weights or
    no estimate); ``reason`` names the method used (``inverse_vol_fallback``
    when the mean-variance optimiser failed, with why)."""

    ts: int
    symbol: str
    book: str
    weight: float
    prev: float
    vol: float
    reason: str


class BookCross(NamedTuple):
    """Strategy books traded ``symbol`` with each other inside the engine
    (``strategy.books``): ``qty`` units (> 0) went from the sellers to the
    buyers at ``price`` (the last price), with no commission and no order, so
    the real position did not change. ``buyers`` and ``sellers`` list each
    book's signed units as ``book:+qty`` joined by commas."""

    ts: int
    symbol: str
    qty: float
    price: float
    buyers: str
    sellers: str
    reason: str


class VenueReport(NamedTuple):
    """What the venue said about one of our orders (an input, in venue mode:
    the paper broker fills nothing then). ``kind``: ack, fill, cancel,
    expire, reject; ``order_id`` the engine's id (its OrderAccepted seq);
    ``qty`` signed units of this fill, ``price`` and ``commission`` its price
    and fee; ``remaining`` signed units the venue still holds open;
    ``venue_id`` the venue's order id; ``reason`` its status or refusal.

    ``balance`` (``symbol`` the asset, ``qty`` total, ``remaining`` free)
    sets the gate's free balance for its ``venue_funds`` rule. Kinds the
    engine does not act on (logged for the operator, reconciliation and
    replay; core/venues/execution.py and console/venue_session.py):
    ``disconnect`` / ``reconnect`` / ``stale``
    (``reason`` the venue's one-line error), and reconciliation's
    ``position``, ``open_order``, ``mismatch`` and ``reconciled``."""

    ts: int
    symbol: str
    kind: str
    order_id: int
    qty: float
    price: float
    commission: float
    remaining: float
    venue_id: str
    reason: str


InputEvent = Union[Tick, Bar, Headline, Command, Timer, ModelSignal, ModelActivated, ModelFit, VenueReport]
Event = Union[
    Tick, Bar, Headline, Command, Timer, ModelSignal, ModelActivated, ModelFit, VenueReport, BarClosed, Signal, OrderIntent,
    OrderRejected, OrderAccepted, OrderCancelled, OrderExpired, ParentOrder, ParentDone, Fill,
    PositionChanged, RiskSnapshot, StateChanged, BreakerChanged, CommandRejected, Quarantined,
    AllocationChanged, ProtectivePut, BookCross, SymbolBlocked, LimitChanged,
]

# kind names as logged; the storage schema and replay key on these
INPUT_KINDS: Final = {
    "tick": Tick, "bar": Bar, "headline": Headline, "command": Command, "timer": Timer,
    "model_signal": ModelSignal, "model_activated": ModelActivated, "model_fit": ModelFit, "venue_report": VenueReport,
}
DECISION_KINDS: Final = {
    "bar_closed": BarClosed, "signal": Signal, "order_intent": OrderIntent,
    "order_rejected": OrderRejected, "order_accepted": OrderAccepted,
    "order_cancelled": OrderCancelled, "order_expired": OrderExpired, "parent_order": ParentOrder,
    "parent_done": ParentDone, "fill": Fill, "position": PositionChanged,
    "risk": RiskSnapshot, "state": StateChanged, "breaker": BreakerChanged,
    "command_rejected": CommandRejected, "quarantined": Quarantined, "allocation": AllocationChanged,
    "protective_put": ProtectivePut, "book_cross": BookCross, "symbol_blocked": SymbolBlocked,
    "limit_changed": LimitChanged,
}


# ------------------------------------------------------------ fast construction
#
# ``Signal(...)`` runs the NamedTuple's generated ``__new__``, a Python
# function, even from compiled code: about 0.2 us an event. These build the
# same tuples (same type, same fields, equal and identical in every way)
# without it, for the events made on every bar.


_NEW: Final = tuple.__new__
# the classes as Final names: compiled code reads a module's class from its
# dict at each use, a Final from a C static
_BAR_CLOSED: Final = BarClosed
_SIGNAL: Final = Signal
_RISK_SNAPSHOT: Final = RiskSnapshot


def new_bar_closed(ts: int, symbol: str, o: float, h: float, lo: float, c: float, v: float) -> BarClosed:
    return _NEW(_BAR_CLOSED, (ts, symbol, o, h, lo, c, v))


def bar_closed_of(ts: int, b: Bar) -> BarClosed:
    """``new_bar_closed`` of the input bar ``b`` as it came (a bar from a
    file, no tick since): its price and volume objects are shared, not boxed
    again (the same floats)."""
    t: tuple[object, ...] = b
    return _NEW(_BAR_CLOSED, (ts, t[1], t[2], t[3], t[4], t[5], t[6]))


def new_signal(ts: int, symbol: str, model: str, value: float, confidence: float) -> Signal:
    return _NEW(_SIGNAL, (ts, symbol, model, value, confidence))


def risk_snapshot_with(ts: int, nav: float, gross: float, net: float, leverage: float, day_pnl: float,
                       drawdown: float, var_book95: float, var_contrib: str, stand: tuple[object, ...]) -> RiskSnapshot:
    """A RiskSnapshot (symbol "") with its slower-moving floats boxed already:
    ``stand`` is (cash, max_drawdown, var95, var99, var_hist95, var_hist99,
    cvar_hist95, cvar_hist99, var_mc95, var_mc99), floats that stand for
    many bars, shared by each bar's event while they do (the risk monitor)."""
    return _NEW(_RISK_SNAPSHOT, (ts, "", nav, stand[0], gross, net, leverage, day_pnl, drawdown, stand[1],
                                 stand[2], stand[3], stand[4], stand[5], stand[6], stand[7], stand[8], stand[9],
                                 var_book95, var_contrib))
