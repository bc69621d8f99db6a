"""Circuit breakers: continuous, latching, fail closed (compiled by mypyc).

A breaker sees a value and a limit. At ``warn_fraction`` of the limit it is
WARNING; at or past the limit it TRIPS and stays TRIPPED until an operator
resets it with a reason. A value that is NaN (the breaker's own computation
failed) trips it: we fail closed.
"""

import math
from typing import Final

ARMED: Final = "ARMED"
WARNING: Final = "WARNING"
TRIPPED: Final = "TRIPPED"


class Breaker:
    def __init__(self, name: str, limit: float, warn_fraction: float, unit: str,
                 confirm: int = 1, action: str = "HALTED") -> None:
        self.name = name
        self.limit = limit
        self.warn_fraction = warn_fraction
        self.unit = unit  # "frac" (fraction of NAV), "count", "s", "sharpe"
        self.confirm = confirm  # consecutive breaches needed to trip
        self.action = action  # a trip moves trading to HALTED or REDUCING; DISABLE: only that model
        self.breaches: int = 0
        self.state: str = ARMED
        self.value: float = 0.0
        self.last_trip_ts: int = 0
        self.reason: str = ""
        self.trips: int = 0

    def evaluate(self, value: float, ts: int) -> str:
        """Update with a fresh value; returns the new state if it changed, else ""."""
        self.value = value
        if self.state == TRIPPED:
            return ""
        if math.isnan(value):
            return self.trip(ts, "value is NaN: breaker cannot compute, failing closed")
        if value >= self.limit:
            self.breaches += 1
            if self.breaches >= self.confirm:
                return self.trip(ts, f"{self.name} {fmt(value, self.unit)} reached limit "
                                     f"{fmt(self.limit, self.unit)}" +
                                     (f" ({self.breaches} checks in a row)" if self.confirm > 1 else ""))
        else:
            self.breaches = 0
        new = WARNING if value >= self.warn_fraction * self.limit else ARMED
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
