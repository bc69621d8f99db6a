"""Momentum strategy on bar closes (compiled by mypyc; per bar, plain loops).

signal = clip((SMA_fast / SMA_slow - 1) / (vol_scale * sd of bar returns), -1, 1)
confidence = share of the slow window filled (0 until warm, then 1).
The target position is signal * target_fraction * NAV / price, in whole lots.
"""

import math

from librt.vecs import vec
from mypy_extensions import i64


class RollingWindow:
    """Fixed-capacity ring of floats. ``values`` is a ``vec[float]`` (mypyc's
    unboxed array of doubles, from librt): the per-bar sums over 250-500
    values read doubles in place instead of unboxing a Python float each
    (3.7x on a 500-value sum); interpreted, it indexes like a list."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.values: vec[float] = vec[float]([0.0] * capacity)
        self.count: int = 0
        self.pos: int = 0

    def push(self, x: float) -> None:
        self.values[self.pos] = x
        self.pos = (self.pos + 1) % self.capacity
        if self.count < self.capacity:
            self.count += 1

    def full(self) -> bool:
        return self.count == self.capacity

    def mean_last(self, n: int) -> float:
        """Mean of the newest ``n`` values (n <= count). Summed afresh each
        call, newest first: windows are short and this keeps float results
        independent of history (no running-sum drift), which replay relies
        on. The ring is walked as two plain descending ranges (no modulo per
        value): the same values in the same order as stepping back one by one."""
        total = 0.0
        vals = self.values
        pos: i64 = self.pos
        first: i64 = n if n <= pos else pos  # newest values: pos - 1 down to pos - first
        i: i64 = pos - 1
        while i >= pos - first:
            total += vals[i]
            i -= 1
        cap: i64 = self.capacity
        i = cap - 1  # then from the end of the ring backwards
        while i >= cap - (n - first):
            total += vals[i]
            i -= 1
        return total / n

    def std(self) -> float:
        """Sample standard deviation (ddof=1) of the window."""
        n = self.count
        if n < 2:
            return 0.0
        return self.std_about(self.mean_last(n))

    def std_about(self, m: float) -> float:
        """``std()`` given the window's mean ``m`` (= mean_last(count)), when
        the caller has it already: the same figure, one pass fewer."""
        n = self.count
        if n < 2:
            return 0.0
        acc = 0.0
        vals = self.values
        pos: i64 = self.pos
        first: i64 = n if n <= pos else pos
        i: i64 = pos - 1
        while i >= pos - first:
            d = vals[i] - m
            acc += d * d
            i -= 1
        cap: i64 = self.capacity
        i = cap - 1
        while i >= cap - (n - first):
            d = vals[i] - m
            acc += d * d
            i -= 1
        return math.sqrt(acc / (n - 1))


class SymbolState:
    def __init__(self, slow: int) -> None:
        self.closes = RollingWindow(slow)
        self.returns = RollingWindow(slow)
        self.value: float = 0.0
        self.confidence: float = 0.0
        self.vol: float = 0.0  # sd of ``returns`` (ddof=1) as of the last bar close; 0 below 2 returns


class Momentum:
    def __init__(self, fast: int, slow: int, vol_scale: float) -> None:
        self.fast = fast
        self.slow = slow
        self.vol_scale = vol_scale
        self.states: dict[str, SymbolState] = {}

    def state(self, symbol: str) -> SymbolState:
        st = self.states.get(symbol)
        if st is None:
            st = SymbolState(self.slow)
            self.states[symbol] = st
        return st

    def on_bar_state(self, st: SymbolState, close: float) -> SymbolState:
        """A bar close of the symbol whose state is ``st`` (``state(symbol)``)."""
        pushed = st.closes.count > 0
        if pushed:
            prev = st.closes.values[(st.closes.pos - 1) % st.closes.capacity]
            st.returns.push(close / prev - 1.0)
        st.closes.push(close)
        st.confidence = float(st.closes.count) / float(self.slow)  # as count / slow (exact ints), without the int division's checks
        if not st.closes.full():
            if pushed:
                st.vol = st.returns.std()  # read again by sizing and risk until the next close
            st.value = 0.0
            return st
        if pushed and st.returns.count >= 2:
            r = st.returns
            st.vol, fast_mean, slow_mean = std_and_means(r, r.mean_last(r.count), st.closes, self.fast, self.slow)
        else:
            if pushed:
                st.vol = st.returns.std()
            fast_mean = st.closes.mean_last(self.fast)
            slow_mean = st.closes.mean_last(self.slow)
        trend = fast_mean / slow_mean - 1.0
        vol = st.vol
        raw = 0.0 if vol <= 0.0 else trend / (self.vol_scale * vol)
        st.value = max(-1.0, min(1.0, raw))
        return st


def std_and_means(r: RollingWindow, m: float, c: RollingWindow, fast: i64, slow: i64) -> tuple[float, float, float]:
    """``(r.std_about(m), c.mean_last(fast), c.mean_last(slow))`` in one
    walk: the two sums run side by side (each a chain of dependent adds, so
    together they take about the time of one), and the shorter mean is the
    longer sum's partial sum, which is the same additions in the same order.
    Each figure is the same bits as its own method's (r.count >= 2)."""
    nr: i64 = r.count
    short: i64 = fast if fast < slow else slow
    long: i64 = slow if fast < slow else fast
    rv = r.values
    cv = c.values
    ri: i64 = r.pos - 1
    ci: i64 = c.pos - 1
    rcap: i64 = r.capacity
    ccap: i64 = c.capacity
    acc = 0.0
    total = 0.0
    part = 0.0
    top: i64 = nr if nr > long else long
    k: i64 = 0
    while k < top:
        if k < nr:
            if ri < 0:
                ri += rcap
            d = rv[ri] - m
            acc += d * d
            ri -= 1
        if k < long:
            if ci < 0:
                ci += ccap
            total += cv[ci]
            ci -= 1
            if k + 1 == short:
                part = total
        k += 1
    sd = math.sqrt(acc / float(nr - 1))
    if fast <= slow:
        return sd, part / float(fast), total / float(slow)
    return sd, total / float(fast), part / float(slow)
