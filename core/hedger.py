"""The options hedger (compiled by mypyc, in the engine's unit): protective
puts bought from the overlay's desk for longs a flag model flags, marked and
settled at bar close, sold back when the long shrinks or on a flatten. The
desk and its pricing live in core/overlay.py; this component decides when
to trade with it and books the cash.
"""

import math

from core.broker import PaperBroker
from core.breaker_set import BreakerSet
from core.bus import Bus
from core.engine_params import EngineParams
from core.events import ProtectivePut
from core.kernels import holding_id
from core.overlay import OptionsOverlay
from core.portfolio import Portfolio
from core.state import ACTIVE, HALTED, TradingState
from core.strategy import Momentum


class Hedger:
    def __init__(self, p: EngineParams, bus: Bus, overlay: OptionsOverlay, portfolio: Portfolio,
                 broker: PaperBroker, state: TradingState, strategy: Momentum,
                 model_values: dict[str, dict[str, float]], brk: BreakerSet) -> None:
        self.p = p
        self.bus = bus
        self.overlay: OptionsOverlay | None = overlay
        self.portfolio = portfolio
        self.broker = broker
        self.state = state
        self.strategy = strategy
        self.model_values = model_values
        self.brk = brk
        # puts are considered as the position-setting views arrive, or at bar close under momentum alone
        self.hedge_on_views: bool = p.signal != "momentum" or any(b != "momentum" for b in p.books)
        # set by core/build.py from [hedge]: "view" (flag_models at or below flag_below) or
        # "drop_probability" (the forest's forest_drop view above drop_above)
        self.flag_rule: str = "view"
        self.drop_above: float = 0.6

    def settle(self) -> None:
        """At bar close, before NAV: puts past expiry settle at intrinsic value
        (cash; not an order, so in any state); the rest are marked to the
        desk's mid. A mark that cannot be computed keeps the last one."""
        ov = self.overlay
        if ov is None:
            return
        for h in list(ov.holdings.values()):
            spot = self.portfolio.last.get(h.symbol, 0.0)
            if h.expiry_ms <= self.bus.ts and spot > 0.0:
                payoff = max(h.strike - spot, 0.0)
                cash = payoff * h.units()
                self.portfolio.cash += cash
                ov.proceeds += cash
                del ov.holdings[h.option_id]
                self.bus.emit(ProtectivePut(self.bus.ts, h.symbol, "expire", h.option_id, h.contracts, h.strike,
                                        h.expiry_ms, payoff, payoff, h.vol, 0.0, cash,
                                        f"expired with {h.symbol} at {spot:,.4f}"))
                continue
            if spot > 0.0:
                try:
                    ov.mark(h, spot, self.bus.ts)
                except Exception:
                    pass  # keeps the last mark
        self.portfolio.option_value = ov.value()

    def hedge_flag(self, sym: str) -> str:
        """The first flag model whose view on ``sym`` is at or below
        ``flag_below``, as "model value", or "" when none is. A model disabled
        by its live-Sharpe breaker flags nothing. Under flag_rule
        "drop_probability": the forest's p(drop) above ``drop_above``."""
        hp = self.p.hedge
        if self.flag_rule == "drop_probability":  # seed 000: p(drop) > drop_above
            drops = self.model_values.get("forest_drop")
            if drops is None or sym not in drops or self.brk.disabled("forest"):
                return ""
            pd_ = drops[sym]
            return f"forest p(drop) {pd_:.2f}" if pd_ > self.drop_above else ""
        for name in hp.flag_models:
            v = 0.0
            if name == "momentum":
                st = self.strategy.states.get(sym)
                if st is None or st.confidence < 1.0:
                    continue
                v = st.value
            else:
                values = self.model_values.get(name)
                if values is None or sym not in values:
                    continue
                if self.brk.disabled(name):
                    continue
                v = values[sym]
            if v <= hp.flag_below:
                return f"{name} {v:+.2f}"
        return ""

    def hedge(self, nav: float) -> None:
        """Protective puts at bar close, after the bar's orders. Puts that
        protect more than is held long are sold back (ACTIVE or REDUCING).
        When positions follow in-engine momentum alone, each flagged long is
        then considered for puts here (``protect``); when a signal-layer
        model sets them, that happens as its view arrives, after the engine
        has acted on it (``on_model_signal``), so a long the view is about to
        sell is not insured first."""
        ov = self.overlay
        if ov is None:
            return
        for sym in ov.symbols():
            held = self.portfolio.qty(sym)
            need = ov.contracts_for(held)
            have = ov.contracts_on(sym)
            if have > need:
                self.sell_puts(sym, have - need, f"long {held:g} units needs {need:g} contracts")
        if not self.hedge_on_views:
            for sym in self.portfolio.open_symbols():
                self.protect(sym, nav)

    def protect(self, sym: str, nav: float) -> None:
        """In ACTIVE, a long that a flag model flags gets puts for
        ``hedge_ratio`` of it (of what stays long after the working orders: a
        long being sold gets none), when the desk's ask is at most
        ``max_premium_multiple`` x fair value and the premium of the puts held
        stays within ``max_premium_fraction`` of NAV. A decline is logged at
        most once per ``recheck_bars`` bars per symbol."""
        ov = self.overlay
        if ov is None or self.state.state != ACTIVE or nav <= 0.0:
            return
        hp = self.p.hedge
        held = self.portfolio.qty(sym)
        held = min(held, held + self.broker.pending_qty(sym))
        if held <= 0.0:
            return
        want = ov.contracts_for(held) - ov.contracts_on(sym)
        if want < 1.0 or not ov.ready(sym):
            return
        last_decline = ov.declined_at.get(sym, -1)
        if last_decline >= 0 and self.bus.bars - last_decline < hp.recheck_bars:
            return
        flag = self.hedge_flag(sym)
        if flag == "":
            return
        spot = self.portfolio.last.get(sym, 0.0)
        if spot <= 0.0:
            return
        try:
            q = ov.quote(sym, spot, self.bus.ts)
        except Exception as exc:
            ov.declined_at[sym] = self.bus.bars
            self.bus.emit(ProtectivePut(self.bus.ts, sym, "decline", 0, want, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                    f"{flag}: no quote ({type(exc).__name__}: {exc})"))
            return
        limit = hp.max_premium_multiple * q.fair
        vols = f"implied vol {q.quote_vol:.1%}, fair {q.fair_vol:.1%}"
        if q.ask > limit:
            ov.declined_at[sym] = self.bus.bars
            self.bus.emit(ProtectivePut(self.bus.ts, sym, "decline", 0, want, q.strike, q.expiry_ms, q.ask, q.fair,
                                    q.quote_vol, q.fair_vol, 0.0,
                                    f"{flag}: ask {q.ask:.4f} > {hp.max_premium_multiple:g} x fair "
                                    f"{q.fair:.4f} ({vols})"))
            return
        per = q.ask * hp.multiplier + hp.commission_per_contract
        room = hp.max_premium_fraction * nav - ov.cost_held()
        n: float = want
        if per * want > room:
            n = float(math.floor(room / per)) if per > 0.0 else 0.0
        if n < 1.0:
            ov.declined_at[sym] = self.bus.bars
            self.bus.emit(ProtectivePut(self.bus.ts, sym, "decline", 0, want, q.strike, q.expiry_ms, q.ask, q.fair,
                                    q.quote_vol, q.fair_vol, 0.0,
                                    f"{flag}: premium budget: {ov.cost_held():,.0f} held of "
                                    f"{hp.max_premium_fraction:.1%} x NAV, one contract costs {per:,.2f}"))
            return
        cash = -(q.ask * n * hp.multiplier + hp.commission_per_contract * n)
        h = ov.add(sym, n, q, spot, self.bus.ts)
        self.portfolio.cash += cash
        ov.premium_paid -= cash
        ov.commissions += hp.commission_per_contract * n
        self.portfolio.option_value = ov.value()
        part = "" if n == want else f" ({want:g} wanted; premium budget)"
        self.bus.emit(ProtectivePut(self.bus.ts, sym, "buy", h.option_id, n, q.strike, q.expiry_ms, q.ask, q.fair,
                                q.quote_vol, q.fair_vol, cash,
                                f"{flag}: ask {q.ask:.4f} <= {hp.max_premium_multiple:g} x fair "
                                f"{q.fair:.4f} ({vols}){part}"))

    def sell_puts(self, sym: str, contracts: float, reason: str) -> None:
        """Sell ``contracts`` puts on ``sym`` back to the desk at its bid
        (mid x (1 - half_spread), at the last mark), oldest first. Not while
        HALTED: a halted book trades nothing, and keeps its protection."""
        ov = self.overlay
        if ov is None or self.state.state == HALTED:
            return
        hp = self.p.hedge
        left = contracts
        for h in sorted(ov.holdings.values(), key=holding_id):
            if left <= 0.0:
                break
            if h.symbol != sym:
                continue
            k = min(h.contracts, left)
            bid = h.mark * (1.0 - hp.half_spread)
            cash = bid * k * h.multiplier - hp.commission_per_contract * k
            self.portfolio.cash += cash
            ov.proceeds += cash
            ov.commissions += hp.commission_per_contract * k
            h.contracts -= k
            left -= k
            if h.contracts <= 0.0:
                del ov.holdings[h.option_id]
            self.bus.emit(ProtectivePut(self.bus.ts, sym, "sell", h.option_id, k, h.strike, h.expiry_ms, bid, h.mark,
                                    h.vol, 0.0, cash, reason))
        self.portfolio.option_value = ov.value()

