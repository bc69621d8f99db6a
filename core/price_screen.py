"""The price screen (compiled by mypyc, in the engine's unit): whether a
print may be used at all. A price must be positive and finite. A print past
``quarantine_band`` from the symbol's last good price is held back unless
``quarantine_confirm`` prints in a row agree on the new level (a real gap,
which is then taken) -- and a level more than MAX_GAP times (or less than
1 / MAX_GAP of) the last good price is never confirmed, however many prints
agree: no instrument's price moves 100-fold between two prints in real data
(price files are split-adjusted), while a feed that repeats a garbage value
(1e308, a price in the wrong unit) does (issue 19).

The engine logs each refusal (``Quarantined``) and counts it toward the
bad-data breaker.
"""

from core.kernels import good_price

MAX_GAP = 100.0


class ScreenSlot:
    """One symbol's screen: its last good price and a candidate new level."""

    def __init__(self) -> None:
        self.good: float = 0.0  # the last good price (0: none yet)
        self.q_level: float = 0.0  # a candidate new level
        self.q_count: int = 0  # prints in a row at it


class PriceScreen:
    def __init__(self, band: float, confirm: int) -> None:
        self.band = band
        self.confirm = confirm
        self.slots: dict[str, ScreenSlot] = {}

    def slot(self, sym: str) -> ScreenSlot:
        s = self.slots.get(sym)
        if s is None:
            s = ScreenSlot()
            self.slots[sym] = s
        return s

    def last_good(self, sym: str) -> float:
        s = self.slots.get(sym)
        return 0.0 if s is None else s.good

    def check(self, sym: str, price: float) -> str:
        """"" if ``price`` may be used (and it becomes the last good price),
        else why not."""
        return self.check_slot(self.slot(sym), price)

    def check_slot(self, s: ScreenSlot, price: float) -> str:
        """``check`` on the symbol's slot."""
        if not good_price(price):
            return "price is not positive and finite"
        ref = s.good
        band = self.band
        if ref <= 0.0 or abs(price / ref - 1.0) <= band:
            s.good = price
            s.q_count = 0
            return ""
        ratio = price / ref
        if ratio > MAX_GAP or ratio < 1.0 / MAX_GAP:
            s.q_count = 0
            return (f"jump of {ratio:.3g}x from the last good price {ref:.6g}: beyond the "
                    f"{MAX_GAP:g}x bound, never taken as a real gap")
        n = s.q_count
        level = s.q_level
        n = n + 1 if n > 0 and abs(price / level - 1.0) <= band else 1
        s.q_level = price
        s.q_count = n
        if n >= self.confirm:
            s.good = price
            s.q_count = 0
            return ""
        return (f"jump of {price / ref - 1.0:+.1%} from the last good price "
                f"(band {band:.0%}); {n} of {self.confirm} prints to confirm")
