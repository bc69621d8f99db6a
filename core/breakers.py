"""Circuit breakers: continuous, latching, fail closed (compiled by mypyc).

A breaker sees a value and a limit. At ``warn_fraction`` of the limit it is
WARNING, and it stays WARNING until the value falls below ``warn_clear`` of
the limit (hysteresis: a value hovering at the warning level does not flap);
at or past the limit it TRIPS and stays TRIPPED until it is reset (by an
operator with a reason, or by the engine's rule for the VaR breaker). A value
that is NaN (the breaker's own computation failed) trips it: we fail closed.

``action`` is what a trip does to trading: HALTED, REDUCING, FLATTEN (exits
for every position, then exits only) or DISABLE (a model breaker: only that
model's views are ignored).
"""

import math
from typing import Final

ARMED: Final = "ARMED"
WARNING: Final = "WARNING"
TRIPPED: Final = "TRIPPED"
FLATTEN: Final = "FLATTEN"  # a trip's action: exits for every position, then REDUCING


class Breaker:
    def __init__(self, name: str, limit: float, warn_fraction: float, unit: str,
                 confirm: int = 1, action: str = "HALTED", warn_clear: float = -1.0) -> None:
        self.name = name
        self.limit = limit
        self.warn_fraction = warn_fraction
        # WARNING clears below this share of the limit; < 0: at warn_fraction (no hysteresis)
        self.warn_clear = warn_fraction if warn_clear < 0.0 else min(warn_clear, warn_fraction)
        self.unit = unit  # "frac" (fraction of NAV), "count", "s", "sharpe"
        self.confirm = confirm  # consecutive breaches needed to trip
        self.action = action  # HALTED, REDUCING, FLATTEN; DISABLE: only that model
        self.detail: str = ""  # when set, a trip's reason (what exactly breached, in words)
        self.breaches: int = 0
        self.state: str = ARMED
        self.value: float = 0.0
        self.last_trip_ts: int = 0
        self.reason: str = ""
        self.trips: int = 0

    def evaluate(self, value: float, ts: int) -> str:
        """Update with a fresh value; returns the new state if it changed, else ""."""
        self.value = value
        if value < self.limit and value < self.warn_fraction * self.limit and self.state == ARMED:
            self.breaches = 0  # the common case, as the steps below end for it (NaN never gets here)
            return ""
        if self.state == TRIPPED:
            return ""
        if math.isnan(value):
            return self.trip(ts, "value is NaN: breaker cannot compute, failing closed")
        if value >= self.limit:
            self.breaches += 1
            if self.breaches >= self.confirm:
                head = self.detail if self.detail else \
                    f"{self.name} {fmt(value, self.unit)} reached limit {fmt(self.limit, self.unit)}"
                return self.trip(ts, head + (f" ({self.breaches} checks in a row)" if self.confirm > 1 else ""))
        else:
            self.breaches = 0
        level = self.warn_clear if self.state == WARNING else self.warn_fraction
        new = WARNING if value >= level * self.limit else ARMED
        if new == self.state:
            return ""
        self.state = new
        self.reason = "" if new == ARMED else f"at {value / self.limit:.0%} of limit"
        return new

    def trip(self, ts: int, reason: str) -> str:
        self.state = TRIPPED
        self.last_trip_ts = ts
        self.reason = reason
        self.trips += 1
        return TRIPPED

    def reset(self, reason: str) -> None:
        self.state = ARMED
        self.value = 0.0
        self.breaches = 0
        self.reason = reason


def fmt(x: float, unit: str) -> str:
    if unit == "frac":
        return f"{x * 100.0:.2f}%"
    if unit == "s":
        return f"{x:.0f}s"
    if unit == "sharpe":
        return f"{x:.2f}"
    return f"{x:.0f}"
