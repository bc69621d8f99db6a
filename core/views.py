"""The signal layer's views as the engine holds them (compiled by mypyc, in
the engine's unit): each model's latest view and risk scale per symbol, its
active version, and its live-Sharpe check -- the mean over symbols of its
previous view times this bar's return, whose Sharpe decay against the
model's validation Sharpe feeds that model's breaker (a trip disables the
model's views; it never stops the book).
"""

import math

from core.breaker_set import BreakerSet
from core.breakers import ARMED
from core.bus import BreakerHost, Bus
from core.engine_params import EngineParams
from core.events import BreakerChanged, ModelActivated, ModelSignal
from core.strategy import Momentum, RollingWindow


class Views:
    def __init__(self, p: EngineParams, bus: Bus, host: BreakerHost, strategy: Momentum,
                 brk: BreakerSet) -> None:
        self.p = p
        self.bus = bus
        self.host = host
        self.strategy = strategy
        self.brk = brk
        self.new_rules: bool = p.breaker_version >= 2
        self.values: dict[str, dict[str, float]] = {}  # model -> symbol -> latest view
        self.scales: dict[str, dict[str, float]] = {}  # model -> symbol -> risk scale (books)
        self.versions: dict[str, int] = {}
        self.returns: dict[str, RollingWindow] = {}  # model -> live P&L per bar
        self.val_sharpe: dict[str, float] = {}
        self.live_sharpe: dict[str, float] = {}  # model -> its last live Sharpe (annualised; shown, decides nothing)
        # model -> symbol -> that symbol's part of the live P&L per bar (shown per symbol, decides nothing)
        self.symbol_returns: dict[str, dict[str, RollingWindow]] = {}

    def record(self, m: ModelSignal, scaled: bool) -> bool:
        """Keep ``m``'s view (0 when it is not finite) and, if ``scaled`` (a
        book trades it), its risk scale in [0, 1]. True if the view was finite."""
        values = self.values.get(m.model)
        if values is None:
            values = {}
            self.values[m.model] = values
        ok = math.isfinite(m.value) and math.isfinite(m.confidence) and math.isfinite(m.scale)
        values[m.symbol] = m.value if ok else 0.0
        if scaled:
            scales = self.scales.get(m.model)
            if scales is None:
                scales = {}
                self.scales[m.model] = scales
            scales[m.symbol] = max(0.0, min(1.0, m.scale)) if ok else 0.0
        return ok

    def activate(self, a: ModelActivated) -> None:
        """A new model version: its live-Sharpe breaker starts afresh against
        its own validation Sharpe. A model that never had one gets no breaker;
        a version without one, after versions that had one, fails closed (NaN)."""
        self.versions[a.model] = a.version
        b = self.brk.models.get(a.model)
        if math.isnan(a.val_sharpe) and b is None:
            return  # no validation Sharpe (regimes, sentiment): no live-Sharpe check
        self.val_sharpe[a.model] = a.val_sharpe
        self.returns[a.model] = RollingWindow(max(2, self.p.live_sharpe_min_bars))
        self.live_sharpe.pop(a.model, None)  # a new version is measured afresh
        self.symbol_returns[a.model] = {}
        if b is None:
            b = self.brk.add_model(a.model)
        elif b.state != ARMED:
            prev = b.state
            b.reset(f"{a.model} v{a.version} activated")
            self.bus.emit(BreakerChanged(self.bus.ts, "", b.name, prev, b.state, 0.0, b.limit,
                                     f"reset: {a.model} v{a.version} activated"))
        vs = a.val_sharpe
        b.limit = (1.0 - self.p.live_sharpe_ratio) * vs if math.isfinite(vs) else math.nan

    def track(self, closed: list[str]) -> None:
        """Each activated model's live P&L per bar: the mean over symbols of its
        previous view times this bar's return (no look-ahead: a view set after
        bar t's close earns bar t+1's return). Its breaker sees the Sharpe decay
        (validation - live, annualised) against (1 - ratio) x validation."""
        for model, window in self.returns.items():
            values = self.values.get(model)
            if values is None:
                continue
            total = 0.0
            n = 0
            per_symbol = self.symbol_returns.get(model)
            for sym in closed:
                st = self.strategy.states.get(sym)
                v = values.get(sym)
                if st is None or v is None or st.returns.count < 1:
                    continue
                earned = v * st.returns.values[(st.returns.pos - 1) % st.returns.capacity]
                total += earned
                n += 1
                if per_symbol is not None:
                    w = per_symbol.get(sym)
                    if w is None:
                        w = RollingWindow(window.capacity)
                        per_symbol[sym] = w
                    w.push(earned)
            if n == 0:
                continue
            window.push(total / n)
            if not window.full():
                continue
            sd = window.std()
            live = window.mean_last(window.count) / sd * math.sqrt(252.0 * self.p.bars_per_day) if sd > 0.0 else 0.0
            self.live_sharpe[model] = live
            b = self.brk.models[model]
            vs = self.val_sharpe.get(model, math.nan)
            if self.new_rules and vs - live >= b.limit:
                ratio = self.p.live_sharpe_ratio
                b.detail = f"{b.name}: live Sharpe {live:.2f} vs validation {vs:.2f} " \
                           f"(limit ratio {ratio:g}: trips below {ratio * vs:.2f})"
            self.host.check_breaker(b, vs - live if math.isfinite(b.limit) else math.nan)

