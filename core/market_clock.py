"""Market time for staleness (compiled by mypyc, in the engine's unit).

A market clock in ms that advances at each bar close by the time since the
last one, or by one bar when a day boundary lies between (closed hours,
weekends and holidays are not stale time); and, per symbol, when it last
printed on that clock and how long a silence its latest print ended (a file
has no timers inside a hole, so there the hole is seen when the feed resumes).
"""


class MarketClock:
    def __init__(self, bar_ms: int) -> None:
        self.bar_ms = bar_ms
        self.now: int = 0  # market ms
        self.last_bar_ts: int = 0
        self.day_pending: bool = False
        self.printed_now: set[str] = set()  # symbols with a print since the last bar close
        self.print_clock: dict[str, int] = {}  # the clock at the bar close after each symbol's last print
        self.hole: dict[str, int] = {}  # market ms of silence that a print at this bar close ended

    def printed(self, sym: str) -> None:
        self.printed_now.add(sym)

    def new_day(self) -> None:
        self.day_pending = True

    def bar_close(self, ts: int) -> None:
        """Advance to this bar close; symbols that printed since the last one are fresh as of now."""
        if self.last_bar_ts > 0:
            self.now += self.bar_ms if self.day_pending else max(0, ts - self.last_bar_ts)
        self.day_pending = False
        self.last_bar_ts = ts
        if self.hole:
            self.hole.clear()
        if self.printed_now:
            for sym in self.printed_now:
                prev = self.print_clock.get(sym, -1)
                if prev >= 0:  # the silence this print ended
                    self.hole[sym] = self.now - prev
                self.print_clock[sym] = self.now
            self.printed_now.clear()

    def silence_ms(self, sym: str) -> int:
        """Market ms since ``sym`` last printed, or of the silence its print at
        this bar close ended, whichever is longer (0: never printed)."""
        seen = self.print_clock.get(sym, self.now)
        return max(self.now - seen, self.hole.get(sym, 0))
