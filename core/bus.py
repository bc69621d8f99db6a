"""The engine's output bus (compiled by mypyc, in the engine's unit): the
market time of the input being processed, the sequence counter, and the list
of events that input has produced so far. Every component that decides
something emits it here, so one input's events come out in the order they
were decided, each numbered with the next seq."""

from mypy_extensions import trait

from core.breakers import Breaker


@trait
class BreakerHost:
    """Who acts on a breaker's new value (the engine): logs the change and,
    on a trip, does what the trip does across components."""

    def check_breaker(self, b: Breaker, value: float) -> None:
        raise NotImplementedError


class Bus:
    def __init__(self) -> None:
        self.seq: int = 0  # the last seq given out
        self.input_seq: int = 0  # the seq of the input being processed
        self.ts: int = 0  # its market time (ms)
        self.out: list[object] = []
        self.bars: int = 0  # bar closes so far

    def emit(self, e: object) -> None:
        self.seq += 1
        self.out.append(e)
