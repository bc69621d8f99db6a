"""Position sizing (compiled by mypyc, in the engine's unit): volatility
targeting on realised vol or ATR, and fractional Kelly per signal source and
symbol from the returns of holding the sign of its view. The engine asks for
a scale per order; this component keeps the windows behind it.

core/sizing.py holds the same formulas in numpy for research and reports;
tests/test_sizing_engine.py checks the two agree.
"""

import math

from core.engine_params import EngineParams
from core.strategy import Momentum, RollingWindow


class TrueRange:
    """One symbol's true ranges at bar close, for ATR: max(high - low,
    |high - previous close|, |low - previous close|). The first bar has no
    previous close, so no range (as core.sizing.atr, which needs n + 1 bars)."""

    def __init__(self, n: int) -> None:
        self.ranges = RollingWindow(n)
        self.close: float = 0.0  # the last bar's close (0: none yet)

    def on_bar(self, high: float, low: float, close: float) -> None:
        prev = self.close
        if prev > 0.0:
            self.ranges.push(max(high - low, max(abs(high - prev), abs(low - prev))))
        self.close = close

    def atr(self) -> float:
        """Mean true range of the last n bars (price units; a simple mean, as
        core.sizing.atr, not Wilder's smoothing); 0 until n ranges are in."""
        r = self.ranges
        return r.mean_last(r.count) if r.full() else 0.0


class Sizer:
    def __init__(self, p: EngineParams, strategy: Momentum, model_values: dict[str, dict[str, float]]) -> None:
        self.p = p
        self.strategy = strategy
        self.model_values = model_values  # the engine's latest view per model and symbol (shared)
        # true ranges per symbol (vol_estimator "atr"); per Kelly source (the
        # driving signal, or each book) and symbol, the per-bar returns of
        # holding the sign of its view (kelly_fraction > 0)
        self.atr_on: bool = p.vol_target > 0.0 and p.vol_estimator == "atr"
        self.true_ranges: dict[str, TrueRange] = {}
        self.kelly_sources: list[str] = [] if p.kelly_fraction <= 0.0 else \
            (list(p.books) if p.books else [p.signal])
        self.kelly_returns: dict[str, dict[str, RollingWindow]] = {}
        for src in self.kelly_sources:
            self.kelly_returns[src] = {}

    def vol_scaling(self, sym: str) -> float:
        """Volatility targeting: vol_target / the symbol's annual vol, capped
        at 3x; no estimate yet (or a flat series) means no position. The vol
        is realised (bar returns, ddof=1, x sqrt(252 x bars a day)), or with
        vol_estimator "atr" the ATR over atr_bars bars / the last bar's close,
        x sqrt(252 x bars a day) (a range reads higher than a close-to-close
        sd, so ATR sizes somewhat smaller)."""
        if self.atr_on:
            vol = self.atr_vol(sym)
            return min(3.0, self.p.vol_target / vol) if vol > 0.0 else 0.0
        st = self.strategy.states.get(sym)
        if st is None or st.returns.count < 2:
            return 0.0
        vol = st.vol * math.sqrt(252.0 * self.p.bars_per_day)
        return min(3.0, self.p.vol_target / vol) if vol > 0.0 else 0.0

    def atr_vol(self, sym: str) -> float:
        """ATR / close, annualised (a fraction); 0 until atr_bars ranges are in."""
        tr = self.true_ranges.get(sym)
        if tr is None or tr.close <= 0.0:
            return 0.0
        return tr.atr() / tr.close * math.sqrt(252.0 * self.p.bars_per_day)

    def true_range(self, sym: str) -> TrueRange:
        tr = self.true_ranges.get(sym)
        if tr is None:
            tr = TrueRange(self.p.atr_bars)
            self.true_ranges[sym] = tr
        return tr

    def momentum_view(self, sym: str) -> float:
        st = self.strategy.states.get(sym)
        return 0.0 if st is None else st.value  # 0 while warming up

    def track_kelly(self, sym: str, momentum_prev: float, ret: float) -> None:
        """At bar close: each Kelly source's return on ``sym`` this bar from
        holding the sign of its view before the bar closed (no look-ahead: a
        view set after bar t's close earns bar t+1's return). A bar with no
        view (0: flat, warming up, no signal yet) adds nothing: the window
        holds only bars the signal bet on."""
        for src in self.kelly_sources:
            v = momentum_prev
            if src != "momentum":
                values = self.model_values.get(src)
                v = 0.0 if values is None else values.get(sym, 0.0)
            if v == 0.0:
                continue
            by_sym = self.kelly_returns[src]
            w = by_sym.get(sym)
            if w is None:
                w = RollingWindow(self.p.kelly_bars)
                by_sym[sym] = w
            w.push(ret if v > 0.0 else -ret)

    def kelly_scaling(self, src: str, sym: str) -> float:
        """min(kelly_cap, kelly_fraction x f*), f* = mean / variance (ddof=1)
        of ``src``'s last kelly_bars per-bar returns on ``sym`` (see
        track_kelly; the bar units cancel, so this is the annualised mu /
        sigma^2 too). 0 -- no exposure, exits still go -- while fewer than
        kelly_bars returns are in (an edge not yet measured is not an edge),
        when the returns are flat, or when f* <= 0 (no edge)."""
        by_sym = self.kelly_returns.get(src)
        w = None if by_sym is None else by_sym.get(sym)
        if w is None or not w.full():
            return 0.0
        sd = w.std()
        if sd <= 0.0:
            return 0.0
        f = w.mean_last(w.count) / (sd * sd)
        return min(self.p.kelly_cap, self.p.kelly_fraction * f) if f > 0.0 else 0.0

    def sizing_note(self, vs: float, kelly: str) -> str:
        """How a strategy order was sized, for its reason: only what is not
        the default (ATR vol, Kelly), so default reasons read as they always did."""
        if self.atr_on:
            return f" vol(atr) {vs:.2f}x" + kelly
        return kelly

