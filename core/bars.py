"""Aggregate ticks into OHLCV bars (compiled by mypyc; per tick)."""

from core.events import Bar


class BarBuilder:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.has_data: bool = False
        self.open: float = 0.0
        self.high: float = 0.0
        self.low: float = 0.0
        self.close: float = 0.0
        self.volume: float = 0.0
        self.src: Bar | None = None  # the input bar these figures are, while no tick has changed them

    def add_tick(self, price: float, size: float) -> None:
        self.src = None
        if not self.has_data:
            self.has_data = True
            self.open = price
            self.high = price
            self.low = price
            self.volume = 0.0
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += size

    def take_bar(self, b: Bar) -> None:
        """Take a whole bar from a file; ``b`` is kept as the source of its figures."""
        self.has_data = True
        self.open = b.open
        self.high = b.high
        self.low = b.low
        self.close = b.close
        self.volume = b.volume
        self.src = b
