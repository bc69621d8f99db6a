"""The console over a REAL session (simulator -> engine -> memory sink): the
kill switch halts the engine and no order is accepted after the halt."""

from __future__ import annotations

import asyncio

import pytest

from console.app import build_app
from core.build import build_engine
from core.config import BreakersConfig, EngineConfig
from core.events import Command, OrderAccepted, StateChanged
from core.market.sim import Simulator
from core.session import MemorySink, Session


# Breakers wide open: the test is about the operator's halt, so no breaker may halt first.
OPEN_BREAKERS = BreakersConfig(daily_loss=0.9, max_drawdown=0.9, consecutive_losses=100_000,
                               reject_storm=100_000, stale_data_s=1e9)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _accepted(session: Session) -> int:
    return int(dict(session.latest.risk.extra).get("orders accepted", "0"))


async def _until(pilot, condition, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


@pytest.mark.asyncio
async def test_h_on_a_live_session_halts_and_no_order_is_accepted_after():
    sim = Simulator(seed=1)
    sink = MemorySink()
    engine = build_engine(EngineConfig(breakers=OPEN_BREAKERS), sim.spec)
    # paced (600 market s per s) like a real run, so the UI thread gets its share
    session = Session(engine, sim, sink, "ui-live", speed=600.0, max_events=2_000_000,
                      source_name=sim.describe())
    app = build_app(session)  # starts session.run() in a thread worker
    async with app.run_test(size=(160, 48)) as pilot:
        await _until(pilot, lambda: _accepted(session) > 0)  # trading is under way
        await pilot.press("h")
        await _until(pilot, lambda: session.latest.trading_state == "HALTED")
        await _until(pilot, lambda: str(app.query_one("#badge").content) == "HALTED")
        await pilot.pause(0.3)  # let the engine run on, halted, for a while
        session.stop()
        await app.workers.wait_for_complete()
    halts = [seq for seq, e in sink.rows if isinstance(e, Command) and e.action == "halt"]
    assert len(halts) == 1
    command = dict(sink.rows)[halts[0]]
    assert command.reason == "operator key h"
    changes = [e for _, e in sink.rows if isinstance(e, StateChanged)]
    assert [(e.new, e.cause_seq) for e in changes] == [("HALTED", halts[0])]
    assert any(isinstance(e, OrderAccepted) for seq, e in sink.rows if seq < halts[0])
    assert not [seq for seq, e in sink.rows if isinstance(e, OrderAccepted) and seq > halts[0]]


def test_the_snapshot_gives_each_breaker_its_unit():
    sim = Simulator(seed=1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "units", max_events=50)
    s.run()
    units = {b.name: b.unit for b in s.latest.breakers}
    assert units["daily_loss"] == "frac" and units["stale_data"] == "s"
    assert units["consecutive_losses"] == "count"
    assert s.latest.risk.start_nav == EngineConfig().initial_cash  # the header's total P&L base
    assert s.latest.risk.sector_limit == EngineConfig().limits.max_sector_fraction


def test_stress_with_a_nav_at_or_below_zero_says_so_without_error_text():
    sim = Simulator(seed=1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "stress", max_events=8000)
    s.run()
    assert s.engine.portfolio.open_symbols(), "the test needs a book"
    lines = s.view._stress(-900_718.0)
    assert [line.name for line in lines] == ["n/a while NAV ≤ 0"]


def test_order_lines_say_why_the_order_was_sent():
    sim = Simulator(seed=1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "why", max_events=8000)
    s.run()
    orders = [line.text for line in s.log if line.text.startswith("ORDER ") and "[strategy]" in line.text]
    assert orders and all(" why: " in text for text in orders), orders[:3]


def test_the_log_pane_skips_only_kinds_that_have_no_line() -> None:
    """View.note asks describe() only for the kinds in DESCRIBED: every other
    kind must be one describe() has no line for, and every kind in it one
    it has (else a new kind's line would silently vanish from the pane)."""
    from core.codec import ALL_KINDS
    from core.view import DESCRIBED, describe

    sample = {int: 1, float: 1.0, str: "x", bool: True, "int": 1, "float": 1.0, "str": "x", "bool": True}
    for kind, cls in ALL_KINDS.items():
        ev = cls(*[sample.get(cls.__annotations__[f], "x") for f in cls._fields])
        if kind == "venue_report":
            ev = ev._replace(kind="reject")
        assert (describe(ev) is not None) == (cls in DESCRIBED), kind
