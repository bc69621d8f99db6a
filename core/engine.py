"""The strategy loop (compiled by mypyc).

``Engine.process(input)`` is the only way in: it numbers the input with the
next seq, runs ingest -> bars -> signals -> sizing -> pre-trade gate ->
paper broker -> portfolio -> risk -> breakers, and returns the input followed
by every decision it made, each taking the next seq. No clock, no I/O, no
unseeded randomness: the same inputs give the same decisions, which is what
replay proves.

The work is done by components, each with its own state (see the README's
"How it is built"): the price screen, the market clock, the breaker set, the
risk monitor, the views, the sizer, the router (gate, broker, algos), the
books and the hedger, all emitting to one bus. This class dispatches the
inputs, runs the bar-close pipeline in a fixed order, and does what crosses
components: a trip's halt, cancels and flatten; the operator's commands.
"""

import math

from core.bars import BarBuilder
from core.breakers import ARMED, FLATTEN, TRIPPED, Breaker
from core.broker import BrokerFill, OpenOrder, PaperBroker
from core.events import (
    Bar, BreakerChanged, Command, CommandRejected, Fill, Headline, LimitChanged, ModelActivated, ModelFit,
    ModelSignal, OrderCancelled, OrderRejected, PositionChanged, Quarantined, Signal, StateChanged,
    SymbolBlocked, Tick, Timer, VenueReport, bar_closed_of, new_bar_closed, new_signal,
)
from core.books import Books
from core.breaker_set import DISABLE, BreakerSet
from core.bus import BreakerHost, Bus
from core.engine_params import EngineParams, Instrument
from core.market_clock import MarketClock, SymbolClock
from core.hedger import Hedger
from core.overlay import OptionsOverlay
from core.portfolio import Portfolio
from core.price_screen import PriceScreen, ScreenSlot
from core.risk_monitor import RiskMonitor, RiskTrack
from core.router import Router
from core.sizer import Sizer
from core.state import ACTIVE, HALTED, REDUCING, TradingState
from core.views import Views
from core.kernels import Z95, good_price, toward_zero
from core.strategy import Momentum, SymbolState


# The limits ``set_limit`` may change for a session: name (as in the config,
# [limits] or [breakers]) -> (where it lives: the gate or a breaker, whole
# numbers only, lower bound, lower bound allowed, upper bound). The bounds are
# core/config.py's (_check_ranges); tests/test_set_limit.py checks they agree.
INF = math.inf
SETTABLE_LIMITS: dict[str, tuple[str, bool, float, bool, float]] = {
    "max_order_notional": ("gate", False, 0.0, False, INF),
    "max_position_fraction": ("gate", False, 0.0, False, 1.0),
    "max_gross_leverage": ("gate", False, 0.0, False, INF),
    "fat_finger_band": ("gate", False, 0.0, False, 1.0),
    "max_sector_fraction": ("gate", False, 0.0, False, 1.0),
    "var_budget": ("gate", False, 0.0, False, 1.0),
    "max_orders_per_minute": ("gate", True, 1.0, True, INF),
    "daily_loss": ("daily_loss", False, 0.0, False, 1.0),
    "max_drawdown": ("max_drawdown", False, 0.0, False, 1.0),
    "trailing_loss": ("trailing_loss", False, 0.0, False, 1.0),
    "var_limit": ("var_limit", False, 0.0, False, 1.0),
    "consecutive_losses": ("consecutive_losses", True, 1.0, True, INF),
    "reject_storm": ("reject_storm", True, 1.0, True, INF),
    "bad_data": ("bad_data", True, 1.0, True, INF),
    "stale_data_s": ("stale_data", False, 0.0, False, INF),
}
LIMIT_ALIASES: dict[str, str] = {"stale_data": "stale_data_s"}  # the breaker's name for its config key


def parse_limit(arg: str) -> tuple[str, float, str]:
    """``set_limit``'s "name=value" as (name, value, "") or ("", 0, why not).
    ``name`` may carry its config table ("limits.var_budget"); a fraction may
    be written in percent ("5%")."""
    name, eq, text = arg.partition("=")
    name = name.strip()
    text = text.strip()
    if name.startswith("limits.") or name.startswith("breakers."):
        name = name.split(".", 1)[1]
    name = LIMIT_ALIASES.get(name, name)
    if eq == "" or name == "" or text == "":
        return "", 0.0, f"expected NAME=VALUE, got {arg[:80]!r}"
    spec = SETTABLE_LIMITS.get(name)
    if spec is None:
        return "", 0.0, f"unknown limit {name[:60]!r}; settable: {', '.join(SETTABLE_LIMITS)}"
    integer = spec[1]
    value = 0.0
    try:
        if integer:
            value = float(int(text))
        elif text.endswith("%"):
            value = float(text[:-1]) / 100.0
        else:
            value = float(text)
    except (ValueError, OverflowError):
        kind = "a whole number" if integer else "a number"
        return "", 0.0, f"{name} must be {kind}, got {text[:40]!r}"
    if not math.isfinite(value):
        return "", 0.0, f"{name} must be finite, got {text[:40]!r}"
    lo, lo_ok, hi = spec[2], spec[3], spec[4]
    if value < lo or (value == lo and not lo_ok) or value > hi:
        if integer:
            return "", 0.0, f"{name} must be >= {lo:g}, got {text[:40]}"
        if hi == INF:
            return "", 0.0, f"{name} must be > {lo:g}, got {text[:40]}"
        return "", 0.0, f"{name} must be in (0, 1], got {text[:40]}"
    return name, value, ""


class SymbolSlots:
    """One symbol's pieces in the components (its market clock, price screen,
    bar builder, strategy state and VaR track), found by one dict lookup a
    print rather than one per component a bar. Each piece is made when its
    component made it before: the builder at the first print that passes
    the screen, the state and the track at the first bar close."""

    def __init__(self, symbol: str, clock: SymbolClock, screen: ScreenSlot) -> None:
        self.symbol = symbol
        self.clock = clock
        self.screen = screen
        self.bars: BarBuilder | None = None
        self.state: SymbolState | None = None
        self.risk: RiskTrack | None = None
        self.signal: Signal | None = None  # the momentum signal of its last bar close


class Engine(BreakerHost):
    def __init__(self, p: EngineParams, instruments: list[Instrument]) -> None:
        self.p = p
        self.bus = Bus()
        self.state = TradingState()
        self.portfolio = Portfolio(p.initial_cash)
        self.broker = PaperBroker(p.commission_bps, p.min_commission, p.slippage_bps,
                                  p.participation, p.impact_bps, p.min_commission_per_order)
        self.strategy = Momentum(p.fast, p.slow, p.vol_scale)
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.slots: dict[str, SymbolSlots] = {}  # each printed symbol's pieces in the components
        self.closing: list[SymbolSlots] = []  # those with a bar builder, in the order their bars close
        self.brk = BreakerSet(p)
        self.breakers: list[Breaker] = self.brk.all  # every breaker, in display order
        self.new_rules: bool = p.breaker_version >= 2
        self.clock = MarketClock(p.bar_ms)  # market time for staleness
        # the book's VaR (var_measure): each symbol's bar returns, and the figure
        self.var_reduced: bool = False  # the VaR trip moved the book from ACTIVE to REDUCING
        self.losing_streak: int = 0
        self.trip_pnl: dict[str, float] = {}
        self.last_price_ts: int = 0
        self.halts: int = 0
        self.bad_prices: int = 0  # quarantined prints, all reasons
        # quarantine: the last good price per symbol and a candidate new level
        self.price_screen = PriceScreen(p.quarantine_band, p.quarantine_confirm)
        self.quarantined_this_bar: int = 0
        # risk caches, refreshed at bar close
        # the options overlay: protective puts on flagged longs (None when off)
        self.overlay: OptionsOverlay | None = OptionsOverlay(p.hedge) if p.hedge.protect else None
        # puts are considered as the position-setting views arrive, or at bar close under momentum alone
        self.risk = RiskMonitor(p, self.portfolio, self.strategy, self.overlay, len(instruments))
        # signal-layer models: latest view per model and symbol, versions, live-Sharpe breakers
        self.views = Views(p, self.bus, self, self.strategy, self.brk)
        self.model_values: dict[str, dict[str, float]] = self.views.values
        self.model_versions: dict[str, int] = self.views.versions
        self.books: list[str] = list(p.books)  # [] = one driving signal (``signal``)
        # sizing: true ranges per symbol (vol_estimator "atr"); per Kelly source
        # (the driving signal, or each book) and symbol, the per-bar returns of
        # holding the sign of its view (kelly_fraction > 0)
        self.sizer = Sizer(p, self.strategy, self.model_values)
        self.router = Router(p, self.bus, self, self.portfolio, self.broker, self.state, self.instruments,
                             self.risk, self.brk)
        self.gate = self.router.gate
        self.book_set = Books(p, self.bus, self.portfolio, self.broker, self.state, self.strategy,
                              self.model_values, self.views.scales, self.brk, self.sizer, self.router)
        self.limits_configured: dict[str, float] = {}  # name -> its value before the first set_limit
        self.hedger: Hedger | None = None
        if self.overlay is not None:
            self.hedger = Hedger(p, self.bus, self.overlay, self.portfolio, self.broker, self.state,
                                 self.strategy, self.model_values, self.brk)

    # ------------------------------------------------------------ entry

    def process(self, ev: object) -> list[object]:
        """Number ``ev`` and return ``[ev, *decisions]`` (consecutive seqs)."""
        self.bus.seq += 1
        self.bus.input_seq = self.bus.seq
        out: list[object] = [ev]
        self.bus.out = out
        if isinstance(ev, Tick):
            self.bus.ts = ev.ts
            self.on_tick(ev)
        elif isinstance(ev, Timer):
            self.bus.ts = ev.ts
            self.on_timer(ev)
        elif isinstance(ev, Bar):
            self.bus.ts = ev.ts
            self.on_bar(ev)
        elif isinstance(ev, Command):
            self.bus.ts = ev.ts
            self.on_command(ev)
        elif isinstance(ev, ModelSignal):
            self.bus.ts = ev.ts
            self.on_model_signal(ev)
        elif isinstance(ev, ModelActivated):
            self.bus.ts = ev.ts
            self.views.activate(ev)
        elif isinstance(ev, Headline):
            self.bus.ts = ev.ts
        elif isinstance(ev, VenueReport):
            self.bus.ts = ev.ts
            self.on_venue_report(ev)
        elif isinstance(ev, ModelFit):
            self.bus.ts = ev.ts  # a model fit's record (core.signals.hub): logged, decides nothing
        else:
            raise TypeError(f"not an input event: {ev!r}")
        if 0 < self.router.algo_due <= self.bus.ts:
            self.router.run_algos()
        return out

    def emit(self, e: object) -> None:
        self.bus.emit(e)

    @property
    def seq(self) -> int:
        """The last seq given out."""
        return self.bus.seq

    @property
    def ts(self) -> int:
        """The market time of the last input."""
        return self.bus.ts

    # ------------------------------------------------------------ market data

    def on_tick(self, t: Tick) -> None:
        if 0 < self.broker.next_expiry <= self.bus.ts:
            self.router.expire_orders()
        sl = self.slot(t.symbol)
        self.clock.printed_slot(sl.clock)  # the feed is alive, whatever the screen makes of the print
        if math.isnan(t.size) or t.size < 0.0 or math.isinf(t.size):
            self.quarantine(t.symbol, t.price, f"size {t.size!r} is not a finite size >= 0")
            return
        if not self.screen_slot(sl, t.price):
            return  # never marked, never a fill price
        self.portfolio.mark(t.symbol, t.price)
        self.last_price_ts = t.ts
        self.fill_at(t.symbol, t.price, t.size)
        self.builder_of(sl).add_tick(t.price, t.size)

    def on_bar(self, b: Bar) -> None:
        if 0 < self.broker.next_expiry <= self.bus.ts:
            self.router.expire_orders()
        sym = b.symbol
        o = b.open
        c = b.close
        v = b.volume
        sl = self.slot(sym)
        self.clock.printed_slot(sl.clock)
        if not (good_price(o) and good_price(b.high) and good_price(b.low)
                and good_price(c)) or math.isnan(v) or v < 0.0:
            bad = c if not good_price(c) else (o if not good_price(o) else
                                               (b.high if not good_price(b.high) else b.low))
            self.quarantine(sym, bad, "bar with a price that is not positive and finite, or a bad volume")
            return
        ref = sl.screen.good
        if not self.screen_slot(sl, c):
            return
        # orders from the last bar fill at this open, unless the open itself is
        # a wild print against the last good price: then at the (screened) close
        fill = o if ref <= 0.0 or abs(o / ref - 1.0) <= self.p.quarantine_band else c
        self.fill_at(sym, fill, v)
        self.portfolio.mark(sym, c)
        self.last_price_ts = b.ts
        self.builder_of(sl).take_bar(b)

    def slot(self, sym: str) -> SymbolSlots:
        sl = self.slots.get(sym)
        if sl is None:
            sl = SymbolSlots(sym, self.clock.slot(sym), self.price_screen.slot(sym))
            self.slots[sym] = sl
        return sl

    def screen_slot(self, sl: SymbolSlots, price: float) -> bool:
        """True if ``price`` may be used (core/price_screen.py); else it is quarantined."""
        why = self.price_screen.check_slot(sl.screen, price)
        if why == "":
            return True
        self.quarantine(sl.symbol, price, why)
        return False

    def quarantine(self, sym: str, price: float, reason: str) -> None:
        self.bad_prices += 1
        self.quarantined_this_bar += 1
        self.emit(Quarantined(self.bus.ts, sym, price, self.price_screen.last_good(sym), reason))
        self.check_breaker(self.brk.bad, float(self.quarantined_this_bar))

    def builder_of(self, sl: SymbolSlots) -> BarBuilder:
        """The symbol's bar builder, made at its first print that passes the
        screen: that order is the order its bars close in."""
        bb = sl.bars
        if bb is None:
            bb = BarBuilder(sl.symbol)
            sl.bars = bb
            self.closing.append(sl)
        return bb

    def fill_at(self, symbol: str, price: float, volume: float) -> None:
        """Fill resting orders against a screened print of ``volume`` units
        (the paper broker; in venue mode only the venue's reports fill)."""
        if self.p.venue_exec:
            return
        for f in self.broker.on_price(symbol, price, volume):
            self.book_fill(f)

    def book_fill(self, f: BrokerFill) -> None:
        o = f.order
        symbol = o.symbol
        before = self.portfolio.qty(symbol)
        realized = self.portfolio.apply_fill(symbol, f.qty, f.price, f.commission)
        self.gate.us.on_fill(self.bus.ts, symbol, o.order_id, before, f.qty, realized)  # US account rules
        if self.books:
            self.book_set.attribute(o, f, before)
        pos = self.portfolio.positions[symbol]
        self.emit(Fill(self.bus.ts, symbol, o.order_id, f.qty, f.price, f.commission, f.remaining))
        self.emit(PositionChanged(self.bus.ts, symbol, pos.qty, pos.avg_price, realized))
        if o.parent_id != 0:
            self.router.child_filled(o, f)  # before round_trip: a breaker it trips ends the parent
        self.round_trip(symbol, before, pos.qty, realized - f.commission)

    def on_venue_report(self, r: VenueReport) -> None:
        """The venue's word on an order. A fill is booked at the venue's price
        and fee, also for an order we no longer hold open (cancelled here,
        filled there first: the position is real). A cancel, expiry or
        refusal ends the order (a refusal is a gate-like rejection, rule
        "venue", and counts toward the reject storm). A balance (``symbol`` the
        asset, ``remaining`` its free part) is the gate's ``venue_funds``."""
        if r.kind == "balance":
            self.gate.set_funds(r.symbol, r.remaining)
            return
        o = self.broker.open.get(r.order_id)
        if r.kind == "fill":
            if not (math.isfinite(r.qty) and math.isfinite(r.price) and r.price > 0.0 and r.qty != 0.0):
                self.quarantine(r.symbol, r.price, f"venue fill of order {r.order_id} with qty {r.qty!r}")
                return
            fee = r.commission if math.isfinite(r.commission) else 0.0
            if o is None:
                late = OpenOrder(r.order_id, r.symbol, r.qty, r.price, "venue", self.bus.ts)
                late.filled = r.qty
                self.book_fill(BrokerFill(late, r.qty, r.price, fee, 0.0))
                return
            rem = o.qty - o.filled
            qty = r.qty if abs(r.qty) <= abs(rem) else rem
            o.filled += qty
            done = abs(o.qty - o.filled) <= 1e-9 * abs(o.qty)
            if done:
                self.broker.remove(o.order_id)
            self.book_fill(BrokerFill(o, qty, r.price, fee, 0.0 if done else o.qty - o.filled))
            return
        if o is None or r.kind not in ("cancel", "expire", "reject"):
            return  # an ack, or news of an order already ended here: logged, nothing to do
        self.broker.remove(o.order_id)
        left = o.qty - o.filled
        if r.kind == "reject":
            self.router.rejects_this_bar += 1
            self.emit(OrderRejected(self.bus.ts, o.symbol, o.order_id, left, "venue", 0.0, 0.0,
                                    f"venue refused: {r.reason}"))
        else:
            self.emit(OrderCancelled(self.bus.ts, o.symbol, o.order_id, left, f"venue {r.kind}: {r.reason}"))
        parent = self.broker.parents.get(o.parent_id) if o.parent_id != 0 else None
        if parent is not None:
            parent.child_id = 0
            self.router.finish_parent(parent, "cancelled", f"venue {r.kind} of a slice: {r.reason}")

    def round_trip(self, symbol: str, before: float, after: float, net: float) -> None:
        """A trade, for the losing-streak breaker, is a round trip: from flat
        back to flat (or through zero), net of every commission on the way."""
        acc = self.trip_pnl.get(symbol, 0.0) + net
        closed = before != 0.0 and (after == 0.0 or (after > 0.0) != (before > 0.0))
        if not closed:
            self.trip_pnl[symbol] = acc
            return
        self.trip_pnl[symbol] = 0.0
        self.losing_streak = self.losing_streak + 1 if acc < 0.0 else 0
        self.check_breaker(self.brk.losses, float(self.losing_streak))

    # ------------------------------------------------------------ timers

    def on_timer(self, t: Timer) -> None:
        if 0 < self.broker.next_expiry <= self.bus.ts:
            self.router.expire_orders()
        if t.name == "bar":
            self.clock.bar_close(t.ts)
            self.on_bar_close()
        elif t.name == "day":
            self.risk.day_open_nav = self.portfolio.nav()
            self.risk.day_pnl_peak = 0.0
            self.clock.new_day()
        elif t.name == "end" and self.new_rules:
            self.feed_ended()

    def exposed_symbols(self) -> list[str]:
        """Symbols held, with an open order, or with a working parent order."""
        out = self.portfolio.open_symbols()
        for o in self.broker.open.values():
            if o.symbol not in out:
                out.append(o.symbol)
        for pid in self.broker.parents:
            sym = self.broker.parents[pid].symbol
            if sym not in out:
                out.append(sym)
        return out

    def feed_ended(self) -> None:
        """The market data source has no more input: with a position or an
        order open, that is an alarm (the book can no longer be marked or
        exited), raised as a stale_data trip."""
        held = self.exposed_symbols()
        b = self.brk.stale
        if not held or b.state == TRIPPED:
            return
        pf = self.portfolio
        what = ", ".join(f"{s} {pf.qty(s):+g}" for s in held)
        prev = b.state
        b.trip(self.bus.ts, f"feed ended while exposed: {what}")
        self.emit(BreakerChanged(self.bus.ts, "", b.name, prev, TRIPPED, b.value, b.limit, b.reason))
        self.on_trip(b)

    def on_bar_close(self) -> None:
        closed: list[SymbolSlots] = []  # in the order they close
        h = math.sqrt(self.p.bars_per_day)
        for sl in self.closing:
            bb = sl.bars
            if bb is None or not bb.has_data:
                continue
            sym = sl.symbol
            src = bb.src
            if src is not None and src.symbol == sym:
                self.emit(bar_closed_of(self.bus.ts, src))
            else:
                self.emit(new_bar_closed(self.bus.ts, sym, bb.open, bb.high, bb.low, bb.close, bb.volume))
            if self.sizer.atr_on:
                self.sizer.true_range(sym).on_bar(bb.high, bb.low, bb.close)
            prev_view = self.sizer.momentum_view(sym) if self.sizer.kelly_sources else 0.0  # before this bar's update
            st = sl.state
            if st is None:  # made at the symbol's first bar close, as strategy.on_bar would
                st = self.strategy.state(sym)
                sl.state = st
            self.strategy.on_bar_state(st, bb.close)
            if self.sizer.kelly_sources and st.closes.count >= 2:  # a return this bar
                self.sizer.track_kelly(sym, prev_view, st.returns.values[(st.returns.pos - 1) % st.returns.capacity])
            sig = new_signal(self.bus.ts, sym, "momentum", st.value, min(1.0, st.confidence))
            sl.signal = sig
            self.emit(sig)
            bb.has_data = False
            closed.append(sl)
            if self.overlay is not None:
                self.overlay.on_close(sym, bb.close)
            self.risk.unit_var[sym] = Z95 * st.vol * h * bb.close if st.returns.count >= 2 else 0.0
            if self.new_rules:
                rt = sl.risk
                if rt is None:
                    rt = self.risk.track(sym)
                    sl.risk = rt
                self.risk.track_return(rt, sym, bb.close)
        self.bus.bars += 1
        if self.views.returns:  # a model's live P&L to follow
            self.views.track([c.symbol for c in closed])
        reweighted = False
        if self.books:
            self.book_set.track()
            if self.bus.bars % self.p.rebalance_every == 0:
                reweighted = self.book_set.reallocate()
        if self.hedger is not None:
            self.hedger.settle()
        nav = self.risk.update_nav()
        var = self.risk.var95()
        if self.bus.bars % self.p.mc_every == 1 % self.p.mc_every or self.risk.mc95 > 0.0 \
                and not self.portfolio.has_open():
            self.risk.run_monte_carlo(nav)
        vb = var
        if self.new_rules:
            vb = self.risk.book_var(nav)
            self.risk.var_book = vb
        self.check_risk_breakers(nav, vb)
        self.router.rejects_this_bar = 0
        self.quarantined_this_bar = 0
        if self.new_rules and self.brk.var.state == TRIPPED:
            self.var_rule(vb)
        if self.state.state != HALTED:
            if self.brk.var.state == TRIPPED and vb > self.brk.var.limit:
                self.cut_largest_var()
            if self.books:
                syms = list(self.portfolio.last.keys()) if reweighted else \
                    ([c.symbol for c in closed] if "momentum" in self.books else [])
                for sym in syms:
                    self.book_set.rebalance(sym, nav, "reweighted" if reweighted else "momentum bar close")
            elif self.p.signal == "momentum":
                for sl in closed:
                    st = sl.state
                    if st is not None:
                        self.rebalance(sl.symbol, st.value, st.confidence, 1.0, nav, "")
            if self.hedger is not None:
                self.hedger.hedge(nav)
        self.emit(self.risk.snapshot(self.bus.ts, nav, var))

    @property
    def signals(self) -> dict[str, Signal]:
        """The momentum signal of each symbol's last bar close."""
        return {sl.symbol: sl.signal for sl in self.closing if sl.signal is not None}

    # ------------------------------------------------------------ signal-layer models

    def on_model_signal(self, m: ModelSignal) -> None:
        booked = bool(self.books) and m.model in self.books
        ok = self.views.record(m, booked)
        if self.books:
            if not booked:
                return
            if self.state.state != HALTED:
                self.book_set.rebalance(m.symbol, self.portfolio.nav(), f"{m.model} v{m.version} {m.value:+.2f}")
                if self.hedger is not None:
                    self.hedger.protect(m.symbol, self.portfolio.nav())
            return
        if m.model != self.p.signal or self.state.state == HALTED:
            return
        value = m.value if ok and not self.brk.disabled(m.model) else 0.0  # disabled: exit
        scale = max(0.0, min(1.0, m.scale)) if ok else 0.0
        conf = 1.0 if m.confidence >= 0.0 else 0.0  # any published view is warm
        why = f"{m.model} v{m.version} {value:+.2f}" + (f" x{scale:.2f}" if scale < 1.0 else "")
        self.rebalance(m.symbol, max(-1.0, min(1.0, value)), conf, scale, self.portfolio.nav(), why)
        if self.hedger is not None:
            self.hedger.protect(m.symbol, self.portfolio.nav())

    def var_rule(self, vb: float) -> None:
        """A tripped VaR breaker: once the measure is back below warn_clear x
        the limit, with var_auto_resume it re-arms, and a book that its trip
        moved to REDUCING returns to ACTIVE (unless another breaker is tripped)."""
        b = self.brk.var
        if not self.p.var_auto_resume or vb >= b.warn_clear * b.limit:
            return
        b.reset("")
        b.value = vb
        why = f"var_limit: VaR {vb * 100.0:.2f}% back under {b.warn_clear * b.limit * 100.0:.2f}% " \
              f"({b.warn_clear:.0%} of the limit); auto resume"
        b.reason = why
        self.emit(BreakerChanged(self.bus.ts, "", b.name, TRIPPED, ARMED, vb, b.limit, "reset: " + why))
        if self.var_reduced and self.state.state == REDUCING:
            for other in self.breakers:
                if other.state == TRIPPED and other.action != DISABLE:
                    self.var_reduced = False
                    return
            self.move_state(ACTIVE, why)
        self.var_reduced = False

    def cut_largest_var(self) -> None:
        """VaR over its limit: halve the position that adds most VaR (its
        contribution to the breaker's measure; stand-alone VaR under the old rules)."""
        worst = ""
        worst_var = 0.0
        for sym in self.portfolio.open_symbols():
            if self.new_rules:  # the largest contributor to the measure that tripped
                v = self.risk.var_contrib.get(sym, 0.0)
            else:
                v = abs(self.portfolio.qty(sym)) * self.risk.symbol_unit_var(sym)
            if v > worst_var:
                worst, worst_var = sym, v
        if worst == "" or self.broker.has_pending(worst):
            return
        inst = self.instruments.get(worst)
        lot = 1.0 if inst is None else inst.lot
        qty = self.portfolio.qty(worst)
        cut = math.ceil(abs(qty) / 2.0 / lot) * lot
        self.submit(worst, -cut if qty > 0.0 else cut, self.portfolio.last[worst], "risk",
                    "var_limit: cut the largest VaR contributor")

    # ------------------------------------------------------------ breakers

    def check_risk_breakers(self, nav: float, var: float) -> None:
        """Fail closed: if computing any breaker's value raises, every risk
        breaker not yet tripped trips, with the exception as its reason."""
        try:
            self.compute_risk_breakers(nav, var)
        except Exception as exc:
            why = f"breaker computation raised {type(exc).__name__}: {exc}; failing closed"
            for b in self.brk.risk():
                if b.state != TRIPPED:
                    prev = b.state
                    b.trip(self.bus.ts, why)
                    self.emit(BreakerChanged(self.bus.ts, "", b.name, prev, TRIPPED, math.nan, b.limit, why))
                    self.on_trip(b)

    def compute_risk_breakers(self, nav: float, var: float) -> None:
        day_open = self.risk.day_open_nav
        day_pnl = nav - day_open
        if day_pnl > self.risk.day_pnl_peak:
            self.risk.day_pnl_peak = day_pnl
        self.check_breaker(self.brk.daily, (day_open - nav) / day_open if day_open > 0.0 else math.nan)
        peak = self.risk.breaker_peak_nav
        self.check_breaker(self.brk.drawdown, 1.0 - nav / peak if peak > 0.0 else math.nan)
        self.check_breaker(self.brk.trailing,
                           (self.risk.day_pnl_peak - day_pnl) / day_open if day_open > 0.0 else math.nan)
        self.check_breaker(self.brk.var, var)
        if self.p.stale_bars > 0:
            self.check_stale()
            return
        stale = 0.0
        exposed = bool(self.broker.open) or bool(self.broker.parents) or self.portfolio.has_open()
        if exposed and self.last_price_ts > 0:
            stale = (self.bus.ts - self.last_price_ts) / 1000.0
        self.check_breaker(self.brk.stale, stale)

    def check_stale(self) -> None:
        """Per symbol held or with orders: market seconds since its last print,
        or of the silence that its print at this bar close ended (a file has no
        timers inside a hole, so there the hole is seen when the feed resumes;
        live, the bar timers see it grow). The stalest symbol is the value."""
        worst = ""
        stale = 0.0
        # exposed_symbols()'s symbols in its order, without making the list
        # (a symbol seen twice has the same silence: the first stays the worst)
        for sym, pos in self.portfolio.positions.items():
            if pos.qty != 0.0:
                v = self.clock.silence_ms(sym) / 1000.0
                if v > stale:
                    worst, stale = sym, v
        if self.broker.open:
            for o in self.broker.open.values():
                v = self.clock.silence_ms(o.symbol) / 1000.0
                if v > stale:
                    worst, stale = o.symbol, v
        if self.broker.parents:
            for parent in self.broker.parents.values():
                v = self.clock.silence_ms(parent.symbol) / 1000.0
                if v > stale:
                    worst, stale = parent.symbol, v
        b = self.brk.stale
        if stale >= b.limit:  # the words only when they will be read (a trip): this runs every bar
            b.detail = f"stale_data: no print of {worst} for {stale:.0f}s of market time (limit {b.limit:.0f}s)"
        self.check_breaker(b, stale)

    def check_breaker(self, b: Breaker, value: float) -> None:
        prev = b.state
        new = b.evaluate(value, self.bus.ts)
        if new == "":
            return
        self.emit(BreakerChanged(self.bus.ts, "", b.name, prev, new, value, b.limit, b.reason))
        if new != TRIPPED or b.action == DISABLE:
            return  # a model breaker disables that model only (its views are ignored)
        self.on_trip(b)

    def on_trip(self, b: Breaker) -> None:
        """HALTED: no orders (positions kept); REDUCING: exits only; FLATTEN:
        exits for every position, then exits only (from HALTED too: a loss
        breaker caps the loss). REDUCING never lifts a HALT."""
        why = f"breaker {b.name} tripped: {b.reason}"
        if b.action == FLATTEN:
            if self.state.state == ACTIVE:
                self.move_state(REDUCING, why)
            self.flatten(why, "risk")
            return
        was_active = self.state.state == ACTIVE
        if b.action == HALTED or was_active:
            self.move_state(b.action, why)
        if b.name == "var_limit" and was_active and b.action == REDUCING:
            self.var_reduced = True
        self.router.cancel_all(why)
        if self.p.flatten_on_trip:
            self.flatten(why, "risk" if self.new_rules else "operator")

    # ------------------------------------------------------------ orders

    def rebalance(self, sym: str, value: float, confidence: float, scale: float, nav: float,
                  why: str) -> None:
        """Trade ``sym`` toward ``value`` x the sized target. ``why`` "" is the
        momentum strategy's reason, made only when an order goes out (a float
        format every bar otherwise)."""
        price = self.portfolio.last.get(sym, 0.0)
        if not good_price(price) or nav <= 0.0:
            return
        if self.broker.parent_of(sym) != 0 or self.p.participation > 0.0 and self.broker.has_open_orders(sym):
            return  # an order is working this symbol (a parent, a resting partial): it runs first
        inst = self.instruments.get(sym)
        lot = 1.0 if inst is None else inst.lot
        full = self.p.target_fraction * nav / price  # units at a full-strength signal
        vs = 1.0
        if self.p.vol_target > 0.0:
            vs = self.sizer.vol_scaling(sym)
            full *= vs
        kelly = ""
        if self.sizer.kelly_sources:
            k = self.sizer.kelly_scaling(self.p.signal, sym)
            full *= k
            kelly = f" kelly {k:.2f}"
        if not full < math.inf:
            return  # a price so small that NAV / price overflows (or a NaN scale): no size, no order
        target = 0.0
        if confidence >= 1.0:
            target = math.floor(abs(value) * scale * full / lot) * lot * (1.0 if value >= 0.0 else -1.0)
        have = self.portfolio.qty(sym) + self.broker.pending_qty(sym)
        if self.state.state == REDUCING:
            target = toward_zero(have, target)
        diff = target - have
        if abs(diff) < lot:
            return
        if target != 0.0 and abs(diff) < self.p.rebalance_band * full:
            return  # small drift: not worth the cost (going flat always is)
        if why == "":
            why = f"momentum {value:+.2f}"
        self.submit(sym, diff, price, "strategy", why + self.sizer.sizing_note(vs, kelly), self.router.limit_for(diff, price))

    # ------------------------------------------------------------ options overlay (protective puts)

    # ------------------------------------------------------------ books (several strategies)

    def submit(self, sym: str, qty: float, ref_price: float, origin: str, reason: str,
               limit: float = 0.0) -> bool:
        return self.router.submit(sym, qty, ref_price, origin, reason, limit)

    @property
    def orders_accepted(self) -> int:
        return self.router.orders_accepted

    def sector_of(self, sym: str) -> str:
        return self.router.sector_of(sym)

    # ------------------------------------------------------------ operator

    def on_command(self, c: Command) -> None:
        why = c.reason if c.reason != "" else "operator"
        a = c.action
        if a == "halt":
            self.move_state(HALTED, why)
        elif a == "resume":
            tripped = self.brk.tripped_book()
            if tripped:
                self.emit(CommandRejected(self.bus.ts, "", a, "breaker(s) tripped, reset first: " + ", ".join(tripped)))
            else:
                self.move_state(ACTIVE, why)
        elif a == "reduce":
            self.move_state(REDUCING, why)
        elif a == "cancel_all":
            self.router.cancel_all(why)
        elif a == "flatten":
            self.flatten(why)
        elif a == "reset_breaker":
            self.reset_breaker(c.arg, why)
        elif a == "flatten_symbol":
            self.flatten_symbol(c.symbol, why)
        elif a == "block_symbol":
            self.block_symbol(c.symbol, why)
        elif a == "unblock_symbol":
            self.unblock_symbol(c.symbol, why)
        elif a == "set_limit":
            self.set_limit(c.arg, why, c.who)
        else:
            self.emit(CommandRejected(self.bus.ts, "", a, f"unknown action {a!r}"))

    def move_state(self, new: str, reason: str) -> None:
        prev = self.state.state
        if not self.state.move(new):
            return
        self.emit(StateChanged(self.bus.ts, "", prev, new, reason, self.bus.input_seq))
        if new == HALTED:
            self.halts += 1
            self.router.cancel_all("halt: " + reason)

    def flatten(self, reason: str, origin: str = "operator") -> None:
        """Exits for every position. From HALTED this first moves to REDUCING,
        since a halted book accepts no order at all."""
        if self.state.state == HALTED:
            self.move_state(REDUCING, "flatten: " + reason)
        self.router.cancel_all("flatten: " + reason)
        hg = self.hedger
        ov = self.overlay
        if hg is not None and ov is not None:
            for sym in ov.symbols():
                hg.sell_puts(sym, ov.contracts_on(sym), "flatten: " + reason)
        for sym in self.portfolio.open_symbols():
            price = self.portfolio.last.get(sym, 0.0)
            self.submit(sym, -self.portfolio.qty(sym), price, origin, "flatten: " + reason)

    def flatten_symbol(self, sym: str, reason: str) -> None:
        """Exits for one symbol: its orders and parents cancelled, its puts
        sold back, its position closed. From HALTED this first moves to
        REDUCING (as ``flatten``). The strategy may enter it again later
        unless the symbol is also blocked."""
        why = f"flatten {sym}: {reason}"
        qty = self.portfolio.qty(sym)
        ov = self.overlay
        puts = ov.contracts_on(sym) if ov is not None else 0.0
        working = self.broker.has_open_orders(sym) or self.broker.parent_of(sym) != 0
        if sym not in self.instruments:
            self.emit(CommandRejected(self.bus.ts, sym, "flatten_symbol", f"unknown symbol {sym!r}"))
            return
        if qty == 0.0 and puts <= 0.0 and not working:
            self.emit(CommandRejected(self.bus.ts, sym, "flatten_symbol",
                                      f"nothing to flatten in {sym}: no position, order or put"))
            return
        if self.state.state == HALTED:
            self.move_state(REDUCING, why)
        self.router.cancel_symbol(sym, why, False)
        hg = self.hedger
        if hg is not None and puts > 0.0:
            hg.sell_puts(sym, puts, why)
        if qty != 0.0:
            self.submit(sym, -qty, self.portfolio.last.get(sym, 0.0), "operator", why)

    def block_symbol(self, sym: str, reason: str) -> None:
        """No order may grow ``sym``'s position until it is unblocked (exits
        pass); its working orders that would grow it are cancelled."""
        gate = self.router.gate
        if sym not in self.instruments:
            self.emit(CommandRejected(self.bus.ts, sym, "block_symbol", f"unknown symbol {sym!r}"))
            return
        if sym in gate.blocked or sym in gate.do_not_trade:
            self.emit(CommandRejected(self.bus.ts, sym, "block_symbol", f"{sym} is blocked already"))
            return
        gate.blocked.add(sym)
        self.emit(SymbolBlocked(self.bus.ts, sym, True, reason))
        self.router.cancel_symbol(sym, f"block {sym}: {reason}", True)

    def unblock_symbol(self, sym: str, reason: str) -> None:
        gate = self.router.gate
        if sym in gate.do_not_trade:
            self.emit(CommandRejected(self.bus.ts, sym, "unblock_symbol",
                                      f"{sym} is on the configured do-not-trade list (limits.do_not_trade)"))
            return
        if sym not in gate.blocked:
            self.emit(CommandRejected(self.bus.ts, sym, "unblock_symbol", f"{sym} is not blocked"))
            return
        gate.blocked.discard(sym)
        self.emit(SymbolBlocked(self.bus.ts, sym, False, reason))

    def set_limit(self, arg: str, reason: str, who: str) -> None:
        """The operator's ``set_limit NAME=VALUE`` for this session: a gate
        limit or a book breaker's limit, checked as the config checks it,
        then logged old -> new (LimitChanged), or refused with why. A breaker
        is judged against its new limit at the next bar close; a tripped one
        stays tripped until it is reset."""
        name, value, why_not = parse_limit(arg)
        if why_not != "":
            self.emit(CommandRejected(self.bus.ts, "", "set_limit", why_not))
            return
        where = SETTABLE_LIMITS[name][0]
        if where == "gate":
            old = self.router.gate.set_limit(name, value)
        else:
            old = self.brk.set_limit(where, value)
            value = self.brk.by_name[where].limit  # the stale limit keeps its floor of stale_bars bars
        if name not in self.limits_configured:
            self.limits_configured[name] = old
        self.emit(LimitChanged(self.bus.ts, "", name, old, value, reason, who))

    def reset_breaker(self, name: str, reason: str) -> None:
        b = self.brk.get(name)
        if b is None:
            self.emit(CommandRejected(self.bus.ts, "", "reset_breaker", f"unknown breaker {name!r}"))
            return
        if b.state != ARMED:
            prev = b.state
            b.reset(reason)
            self.rebaseline(b)
            self.emit(BreakerChanged(self.bus.ts, "", b.name, prev, b.state, b.value, b.limit, "reset: " + reason))

    def rebaseline(self, b: Breaker) -> None:
        """A reset measures from now: the drawdown breaker from today's NAV, the
        streak and storm counters from zero. The daily loss does not re-base."""
        name = b.name
        if name == "max_drawdown":
            self.risk.breaker_peak_nav = self.portfolio.nav()
        elif name == "trailing_loss":
            self.risk.day_pnl_peak = self.portfolio.nav() - self.risk.day_open_nav
        elif name == "consecutive_losses":
            self.losing_streak = 0
        elif name == "reject_storm":
            self.router.rejects_this_bar = 0
