"""When a session commits its log before going on (core.session.Session.step):
before a venue sees an accepted order, always; for the paper broker inside
the engine, never (its orders and fills die with the process, so the batched
commits keep the log a prefix of the session). And the collector's freeze
lasts exactly as long as ``run``."""

from __future__ import annotations

import gc
from collections.abc import Iterator

from core.build import build_engine
from core.config import EngineConfig
from core.events import OrderAccepted
from core.market.sim import Simulator
from core.session import GC_GEN0, Session
from tests.conftest import FlushSink

EVENTS = 6_000


class RecordingVenue:
    """Sees each step's events after the session's write-ahead point."""

    def __init__(self, sink: FlushSink) -> None:
        self.sink = sink
        self.seen: list[tuple[int, int, bool]] = []  # (rows through this step, durable then, had an order)

    def take_inputs(self, ts: int) -> list[object]:
        return []

    def after_step(self, base: int, out: list[object]) -> None:
        self.seen.append((base + len(out) - 1, self.sink.durable,
                          any(isinstance(e, OrderAccepted) for e in out)))


def session(sink: FlushSink) -> Session:
    sim = Simulator(seed=2)
    return Session(build_engine(EngineConfig(), sim.spec), sim, sink, "wa", speed=None, max_events=EVENTS)


def test_a_venue_sees_an_accepted_order_only_once_it_is_flushed() -> None:
    sink = FlushSink()
    s = session(sink)
    venue = RecordingVenue(sink)
    s.venue = venue
    s.run()
    assert not s.error
    ordered = [(last, durable) for last, durable, order in venue.seen if order]
    assert ordered, "the simulator made no order: the test would prove nothing"
    assert all(durable >= last for last, durable in ordered)  # every row through the order is durable
    assert sink.flushes == len(ordered)  # and no flush where no order went out


def test_the_paper_broker_makes_no_write_ahead_flush() -> None:
    sink = FlushSink()
    s = session(sink)
    s.run()
    assert not s.error and s.engine.orders_accepted > 0
    assert sink.flushes == 0
    assert sink.closed is None  # the caller closes the log; every row was handed to it in order
    assert [seq for seq, _ in sink.rows] == list(range(1, s.engine.seq + 1))


def test_the_paper_broker_still_commits_a_confirmed_command() -> None:
    sink = FlushSink()
    s = session(sink)
    confirmed: list[int] = []
    s.submit("halt", reason="test", who="pytest", done=lambda seq, refusal: confirmed.append(seq))
    s.run()
    assert len(confirmed) == 1 and sink.flushes == 1 and sink.durable >= confirmed[0]


def test_the_collector_is_frozen_for_the_run_and_only_for_it() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    seen: list[tuple[int, tuple[int, ...]]] = []
    sim = Simulator(seed=2)

    def source() -> Iterator[object]:
        for i, ev in enumerate(sim):
            if i == 100:
                seen.append((gc.get_freeze_count(), gc.get_threshold()))
            yield ev

    s = Session(build_engine(EngineConfig(), sim.spec), source(), FlushSink(), "wa", speed=None,
                max_events=500)
    s.run()
    assert seen and seen[0][0] > 0  # the engine, the simulator, pytest: frozen while it ran
    assert seen[0][1] == (max(before[0], GC_GEN0), *before[1:])
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_failing_run_unfreezes_too() -> None:
    gc.unfreeze()
    before = gc.get_threshold()

    def source() -> Iterator[object]:
        raise RuntimeError("feed broke")
        yield  # pragma: no cover

    sim = Simulator(seed=2)
    s = Session(build_engine(EngineConfig(), sim.spec), source(), FlushSink(), "wa", speed=None)
    s.run()
    assert s.error == "session stopped: feed broke" and gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
