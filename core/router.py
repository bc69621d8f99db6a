"""The order router (compiled by mypyc, in the engine's unit): intent ->
pre-trade gate -> paper broker (or the venue), order expiry and cancel-all,
and the execution algorithms (TWAP, VWAP and POV parents, whose children go
through the gate again). Every intent is logged, and so is its fate.

A gate refusal counts toward the reject-storm breaker, whose trip crosses
components (state, every order, maybe a flatten): the router hands it to its
host, the engine, through the ``BreakerHost`` trait.
"""

from core.broker import LIMIT, MARKET, POV, VWAP, BrokerFill, OpenOrder, PaperBroker, ParentOrder
from core.breaker_set import BreakerSet
from core.bus import BreakerHost, Bus
from core.engine_params import EngineParams, Instrument
from core.events import OrderAccepted, OrderCancelled, OrderExpired, OrderIntent, OrderRejected, ParentDone
from core.events import ParentOrder as ParentOrderEvent
from core.gate import Gate, OrderContext
from core.kernels import good_price
from core.portfolio import Portfolio
from core.risk_monitor import RiskMonitor
from core.state import TradingState


class Router:
    def __init__(self, p: EngineParams, bus: Bus, host: BreakerHost, portfolio: Portfolio,
                 broker: PaperBroker, state: TradingState, instruments: dict[str, Instrument],
                 risk: RiskMonitor, brk: BreakerSet) -> None:
        self.p = p
        self.bus = bus
        self.host = host
        self.portfolio = portfolio
        self.broker = broker
        self.state = state
        self.instruments = instruments
        self.risk = risk
        self.brk = brk
        self.gate = Gate(p.max_order_notional, p.max_position_fraction,
                         p.max_gross_leverage, p.fat_finger_band, p.max_sector_fraction,
                         p.var_budget, p.max_orders_per_minute, p.do_not_trade,
                         p.open_minute, p.close_minute)
        self.gate.fee_bps = p.commission_bps  # venue_funds: a buy's commission estimate
        self.algo_due: int = 0  # market ms of the next parent-order slice (0 = none)
        if p.algo == VWAP:  # the broker keeps the volume profile by slice-wide time-of-day buckets
            broker.profile_ms, broker.clock = p.slice_ms, bus
        self.last_reject: str = ""  # the last gate refusal, for a parent whose child it was
        self.rejects_this_bar: int = 0
        self.orders_accepted: int = 0
        self.order_shares: dict[int, list[float]] = {}  # order / parent id -> share per book
        self.next_shares: list[float] = []  # the books' split of the order being submitted

    def submit(self, sym: str, qty: float, ref_price: float, origin: str, reason: str,
               limit: float = 0.0) -> bool:
        """Intent -> gate -> broker. Every intent is logged, and so is its fate.
        ``limit`` > 0 makes a limit order (the worst fill price). A strategy
        order above ``algo_above_notional`` becomes a parent order whose
        children are sent over market time (each through the gate again)."""
        return self.submit_order(sym, qty, ref_price, origin, reason, limit, 0)

    def submit_order(self, sym: str, qty: float, ref_price: float, origin: str, reason: str,
                     limit: float, parent_id: int) -> bool:
        self.bus.emit(OrderIntent(self.bus.ts, sym, qty, ref_price, origin, reason))
        intent_seq = self.bus.seq
        pf = self.portfolio
        broker = self.broker
        pending = broker.pending_qty(sym)
        has_pending = broker.has_pending(sym)
        if parent_id != 0:
            # a child: its parent's unfilled rest, this child included, is in
            # pending already; and the parent itself is no duplicate of it
            pending -= qty
            has_pending = broker.has_open_orders(sym)
        ctx = OrderContext(self.state.state, sym, qty, ref_price, pf.last.get(sym, 0.0),
                           pf.qty(sym), pending, has_pending,
                           origin, pf.nav(), pf.gross(), self.bus.ts, self.sector_gross_other(sym),
                           self.risk.var_other(sym), self.risk.symbol_unit_var(sym))
        rej = self.gate.check(ctx)
        if rej is not None:
            self.bus.emit(OrderRejected(self.bus.ts, sym, intent_seq, qty, rej.rule, rej.value, rej.limit, rej.reason))
            self.last_reject = rej.rule + ": " + rej.reason
            self.rejects_this_bar += 1
            self.host.check_breaker(self.brk.rejects, float(self.rejects_this_bar))
            return False
        p = self.p
        if parent_id == 0 and origin == "strategy" and p.algo_above_notional > 0.0 and p.slices >= 2 \
                and abs(qty * ref_price) > p.algo_above_notional:
            self.start_parent(sym, qty, ref_price, origin, intent_seq)
            return True
        expire = self.bus.ts + p.order_ttl_ms if p.order_ttl_ms > 0 else 0
        self.bus.emit(OrderAccepted(self.bus.ts, sym, intent_seq, qty, ref_price, origin,
                                LIMIT if limit > 0.0 else MARKET, limit, expire, parent_id))
        if parent_id == 0 and self.next_shares:
            self.order_shares[self.bus.seq] = self.next_shares
        part = 0.0
        if parent_id != 0:
            parent = broker.parents.get(parent_id)
            if parent is not None and parent.algo == POV:
                part = parent.pov_rate
        broker.submit(OpenOrder(self.bus.seq, sym, qty, ref_price, origin, self.bus.ts, limit, expire,
                                parent_id, self.lot_of(sym), part))
        self.gate.record_accepted(self.bus.ts)
        self.orders_accepted += 1
        return True

    def lot_of(self, sym: str) -> float:
        inst = self.instruments.get(sym)
        return 1.0 if inst is None else inst.lot

    def start_parent(self, sym: str, qty: float, ref_price: float, origin: str, intent_seq: int) -> None:
        p = self.p
        self.bus.emit(ParentOrderEvent(self.bus.ts, sym, intent_seq, qty, ref_price, p.algo, p.slices,
                                   p.slice_ms, origin))
        if self.next_shares:
            self.order_shares[self.bus.seq] = self.next_shares
        parent = ParentOrder(self.bus.seq, sym, qty, ref_price, origin, p.algo, p.slices, p.slice_ms,
                             self.bus.ts, self.lot_of(sym), p.pov_rate, p.limit_offset_bps / 10_000.0)
        if parent.algo == VWAP:
            parent.set_profile(self.broker.profile(sym, self.bus.ts, p.slices, p.slice_ms))
        self.broker.add_parent(parent)
        self.step_parent(parent)  # the first slice goes now
        self.algo_due = self.broker.next_slice_ts()

    def run_algos(self) -> None:
        """Every parent with a slice due by now takes it (after this input's
        fills, so a child fills at a later print, as any order does)."""
        due = [p for p in self.broker.parents.values() if p.next_ts <= self.bus.ts]
        for parent in due:
            if parent.parent_id in self.broker.parents:
                self.step_parent(parent)
        self.algo_due = self.broker.next_slice_ts()

    def step_parent(self, parent: ParentOrder) -> None:
        """The slice due now. After a gap in the market, slices missed are not
        caught up one by one: the slice for the current time is sent."""
        k = (self.bus.ts - parent.start_ts) // parent.slice_ms
        pid = parent.parent_id
        if k >= parent.slices:
            self.cancel_child(parent, f"{parent.algo} #{pid}: horizon ended")
            self.finish_parent(parent, "filled" if parent.done() else "expired",
                               f"horizon of {parent.slices} slices ended")
            return
        parent.sent = k + 1
        parent.next_ts = parent.start_ts + (k + 1) * parent.slice_ms
        if parent.algo == POV and parent.child_id in self.broker.open:
            return  # a POV child works the whole rest until the horizon
        self.cancel_child(parent, f"{parent.algo} #{pid}: rest carried to slice {k + 1}/{parent.slices}")
        qty = parent.child_qty(int(k))
        if abs(qty) <= 1e-9 * abs(parent.qty):
            return  # nothing due this slice (lot rounding)
        sym = parent.symbol
        price = self.portfolio.last.get(sym, 0.0)
        if not good_price(price):
            return
        limit = 0.0
        if parent.limit_offset > 0.0:
            limit = price * (1.0 + parent.limit_offset) if qty > 0.0 else price * (1.0 - parent.limit_offset)
        why = f"{parent.algo} slice {k + 1}/{parent.slices} of parent #{pid}"
        if self.submit_order(sym, qty, price, parent.origin, why, limit, pid):
            parent.child_id = self.bus.seq
        else:
            self.finish_parent(parent, "rejected", "child refused by the gate: " + self.last_reject)

    def cancel_child(self, parent: ParentOrder, reason: str) -> None:
        if parent.child_id == 0:
            return
        o = self.broker.cancel(parent.child_id)
        parent.child_id = 0
        if o is not None:
            self.bus.emit(OrderCancelled(self.bus.ts, o.symbol, o.order_id, o.qty - o.filled, reason))

    def child_filled(self, o: OpenOrder, f: BrokerFill) -> None:
        parent = self.broker.parents.get(o.parent_id)
        if parent is None:
            return
        parent.filled += f.qty
        if f.remaining == 0.0 and parent.child_id == o.order_id:
            parent.child_id = 0
        if parent.done():
            parent.filled = parent.qty
            self.finish_parent(parent, "filled", "")

    def finish_parent(self, parent: ParentOrder, status: str, reason: str) -> None:
        if self.broker.end_parent(parent.parent_id) is None:
            return  # already ended (a breaker the child's refusal tripped cancelled it)
        if self.order_shares:
            self.order_shares.pop(parent.parent_id, None)
        rest = 0.0 if parent.done() else parent.qty - parent.filled
        self.bus.emit(ParentDone(self.bus.ts, parent.symbol, parent.parent_id, parent.filled, rest, status, reason))
        self.algo_due = self.broker.next_slice_ts()

    def expire_orders(self) -> None:
        ttl = self.p.order_ttl_ms / 1000.0
        for o in self.broker.expire(self.bus.ts):
            if self.order_shares and o.parent_id == 0:
                self.order_shares.pop(o.order_id, None)
            self.bus.emit(OrderExpired(self.bus.ts, o.symbol, o.order_id, o.qty - o.filled,
                                   f"time in force of {ttl:g}s ended"))
            parent = self.broker.parents.get(o.parent_id) if o.parent_id != 0 else None
            if parent is not None and parent.child_id == o.order_id:
                parent.child_id = 0
                if parent.sent >= parent.slices:
                    self.finish_parent(parent, "expired", "its last child expired")

    def sector_of(self, sym: str) -> str:
        inst = self.instruments.get(sym)
        return "unknown" if inst is None else inst.sector

    def sector_gross_other(self, sym: str) -> float:
        """Gross exposure of ``sym``'s sector held in other symbols (currency)."""
        sector = self.sector_of(sym)
        total = 0.0
        for other in self.portfolio.open_symbols():
            if other != sym and self.sector_of(other) == sector:
                total += abs(self.portfolio.market_value(other))
        return total

    def cancel_all(self, reason: str) -> None:
        """Cancel every open order, children included, and end every parent."""
        for o in self.broker.cancel_all():
            if self.order_shares and o.parent_id == 0:
                self.order_shares.pop(o.order_id, None)
            self.bus.emit(OrderCancelled(self.bus.ts, o.symbol, o.order_id, o.qty - o.filled, reason))
        for parent in list(self.broker.parents.values()):
            parent.child_id = 0
            self.finish_parent(parent, "cancelled", reason)

    def limit_for(self, qty: float, price: float) -> float:
        """A strategy order's limit: ``limit_offset_bps`` past ``price`` against
        us (the worst price we accept), or 0 (a market order)."""
        off = self.p.limit_offset_bps / 10_000.0
        if off <= 0.0:
            return 0.0
        return price * (1.0 + off) if qty > 0.0 else price * (1.0 - off)

    def cancel_symbol(self, sym: str, reason: str, growing_only: bool) -> None:
        """Cancel ``sym``'s open orders and parents (only those that would grow
        its position when ``growing_only``: a block keeps its exits working)."""
        held = self.portfolio.qty(sym)
        for o in list(self.broker.open.values()):
            if o.symbol != sym or o.parent_id != 0:
                continue  # a parent's child goes with its parent below
            if growing_only and not grows(held, o.qty - o.filled):
                continue
            if self.broker.cancel(o.order_id) is not None:
                if self.order_shares:
                    self.order_shares.pop(o.order_id, None)
                self.bus.emit(OrderCancelled(self.bus.ts, o.symbol, o.order_id, o.qty - o.filled, reason))
        for parent in list(self.broker.parents.values()):
            if parent.symbol != sym:
                continue
            if growing_only and not grows(held, parent.qty - parent.filled):
                continue
            self.cancel_child(parent, reason)
            self.finish_parent(parent, "cancelled", reason)


def grows(held: float, qty: float) -> bool:
    """Whether trading ``qty`` more would grow a position of ``held`` (or flip it)."""
    after = held + qty
    if held != 0.0 and after != 0.0 and (held > 0.0) != (after > 0.0):
        return True
    return abs(after) > abs(held)

