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


class PriceScreen:
    def __init__(self, band: float, confirm: int) -> None:
        self.band = band
        self.confirm = confirm
        self.good: dict[str, float] = {}  # the last good price per symbol
        self.q_level: dict[str, float] = {}  # a candidate new level
        self.q_count: dict[str, int] = {}  # prints in a row at it

    def last_good(self, sym: str) -> float:
        return self.good.get(sym, 0.0)

    def check(self, sym: str, price: float) -> str:
        """"" if ``price`` may be used (and it becomes the last good price),
        else why not."""
        if not good_price(price):
            return "price is not positive and finite"
        ref = self.good.get(sym, 0.0)
        band = self.band
        if ref <= 0.0 or abs(price / ref - 1.0) <= band:
            self.good[sym] = price
            self.q_count[sym] = 0
            return ""
        ratio = price / ref
        if ratio > MAX_GAP or ratio < 1.0 / MAX_GAP:
            self.q_count[sym] = 0
            return (f"jump of {ratio:.3g}x from the last good price {ref:.6g}: beyond the "
                    f"{MAX_GAP:g}x bound, never taken as a real gap")
        n = self.q_count.get(sym, 0)
        level = self.q_level.get(sym, 0.0)
        n = n + 1 if n > 0 and abs(price / level - 1.0) <= band else 1
        self.q_level[sym] = price
        self.q_count[sym] = n
        if n >= self.confirm:
            self.good[sym] = price
            self.q_count[sym] = 0
            return ""
        return (f"jump of {price / ref - 1.0:+.1%} from the last good price "
                f"(band {band:.0%}); {n} of {self.confirm} prints to confirm")
