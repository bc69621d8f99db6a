"""Trading state machine: ACTIVE / REDUCING / HALTED (compiled by mypyc).

ACTIVE trades freely; REDUCING accepts only orders that shrink a position;
HALTED accepts no new order. Cancels are always allowed. Setting the current
state again is a no-op (no event).
"""

from typing import Final

ACTIVE: Final = "ACTIVE"
REDUCING: Final = "REDUCING"
HALTED: Final = "HALTED"
STATES: Final = (ACTIVE, REDUCING, HALTED)


class TradingState:
    def __init__(self) -> None:
        self.state: str = ACTIVE

    def move(self, new: str) -> bool:
        """Switch to ``new``; False (and nothing changes) if already there."""
        if new not in STATES:
            raise ValueError(f"unknown trading state {new!r}")
        if new == self.state:
            return False
        self.state = new
        return True
