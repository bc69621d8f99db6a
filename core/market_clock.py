"""Market time for staleness (compiled by mypyc, in the engine's unit).

A market clock in ms that advances at each bar close by the time since the
last one, or by one bar when a day boundary lies between (closed hours,
weekends and holidays are not stale time); and, per symbol, when it last
printed on that clock and how long a silence its latest print ended (a file
has no timers inside a hole, so there the hole is seen when the feed resumes).
"""


from mypy_extensions import i64


class SymbolClock:
    """One symbol's prints on the market clock."""

    def __init__(self) -> None:
        self.fresh: bool = False  # printed since the last bar close
        self.at: i64 = -1  # the clock at the bar close after its last print (-1: none yet)
        self.hole: i64 = 0  # the silence its print at bar close number ``hole_close`` ended
        self.hole_close: i64 = -1


class MarketClock:
    def __init__(self, bar_ms: int) -> None:
        self.bar_ms = bar_ms
        self.now: int = 0  # market ms
        self.last_bar_ts: int = 0
        self.day_pending: bool = False
        self.closes: i64 = 0  # bar closes so far
        self.symbols: dict[str, SymbolClock] = {}
        self.fresh: list[SymbolClock] = []  # those with a print since the last bar close

    def slot(self, sym: str) -> SymbolClock:
        c = self.symbols.get(sym)
        if c is None:
            c = SymbolClock()
            self.symbols[sym] = c
        return c

    def printed_slot(self, c: SymbolClock) -> None:
        """The symbol printed (whatever the price screen makes of it)."""
        if not c.fresh:
            c.fresh = True
            self.fresh.append(c)

    def new_day(self) -> None:
        self.day_pending = True

    def bar_close(self, ts: int) -> None:
        """Advance to this bar close; symbols that printed since the last one are fresh as of now."""
        if self.last_bar_ts > 0:
            self.now += self.bar_ms if self.day_pending else max(0, ts - self.last_bar_ts)
        self.day_pending = False
        self.last_bar_ts = ts
        self.closes += 1
        if self.fresh:
            now: i64 = self.now
            for c in self.fresh:
                if c.at >= 0:  # the silence this print ended
                    c.hole = now - c.at
                    c.hole_close = self.closes
                c.at = now
                c.fresh = False
            self.fresh.clear()

    def silence_ms(self, sym: str) -> int:
        """Market ms since ``sym`` last printed, or of the silence its print at
        this bar close ended, whichever is longer (0: never printed)."""
        c = self.symbols.get(sym)
        if c is None or c.at < 0:
            return 0
        hole: i64 = c.hole if c.hole_close == self.closes else 0
        return max(self.now - c.at, hole)
