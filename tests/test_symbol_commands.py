"""One-symbol operator commands in the engine: flatten_symbol, block_symbol,
unblock_symbol (issue 18's UI sends them; the engine acts on them, logs them,
and replay re-applies them)."""

from __future__ import annotations

import pytest

from core.build import build_engine
from core.config import EngineConfig, LimitsConfig
from core.events import (Command, CommandRejected, OrderAccepted, OrderCancelled, OrderRejected, StateChanged,
                         SymbolBlocked, Timer)
from core.market.sim import Simulator
from core.replay import verify
from core.codec import encode_payload, kind_of
from core.session import MemorySink, Session


def warm(seed: int = 2, events: int = 6000, cfg: EngineConfig | None = None):  # type: ignore[no-untyped-def]
    sim = Simulator(seed)
    eng = build_engine(cfg or EngineConfig(), sim.spec, seed)
    it = iter(sim)
    for _ in range(events):
        eng.process(next(it))
    assert eng.portfolio.open_symbols(), "the test needs a book"
    return eng, it


def cmd(eng, action: str, sym: str, reason: str = "test") -> list[object]:  # type: ignore[no-untyped-def]
    return eng.process(Command(eng.ts, sym, action, "", reason, "pytest"))


def test_flatten_one_symbol_closes_it_and_leaves_the_others() -> None:
    eng, _ = warm()
    held = eng.portfolio.open_symbols()
    sym, others = held[0], {s: eng.portfolio.qty(s) for s in held[1:]}
    out = cmd(eng, "flatten_symbol", sym, "news")
    orders = [e for e in out if isinstance(e, OrderAccepted)]
    assert [(o.symbol, o.qty, o.origin) for o in orders] == [(sym, -eng.portfolio.qty(sym), "operator")]
    assert eng.state.state == "ACTIVE"  # one symbol: the book keeps trading
    assert {s: eng.portfolio.qty(s) for s in held[1:]} == others


def test_flatten_one_symbol_from_halted_moves_to_reducing_first() -> None:
    eng, _ = warm()
    cmd(eng, "halt", "")
    sym = eng.portfolio.open_symbols()[0]
    out = cmd(eng, "flatten_symbol", sym)
    states = [e for e in out if isinstance(e, StateChanged)]
    assert states and states[0].new == "REDUCING" and eng.state.state == "REDUCING"
    assert any(isinstance(e, OrderAccepted) and e.symbol == sym for e in out)


def test_flatten_of_nothing_or_an_unknown_symbol_is_refused_with_why() -> None:
    sim = Simulator(2)
    eng = build_engine(EngineConfig(), sim.spec, 2)  # nothing held, nothing working
    flat = sim.spec.instruments[0].symbol
    out = cmd(eng, "flatten_symbol", flat)
    r = [e for e in out if isinstance(e, CommandRejected)]
    assert r and "nothing to flatten" in r[0].reason and r[0].symbol == flat
    out = cmd(eng, "flatten_symbol", "NOPE")
    assert [e.reason for e in out if isinstance(e, CommandRejected)] == ["unknown symbol 'NOPE'"]


def test_a_blocked_symbol_takes_exits_only_until_unblocked() -> None:
    eng, it = warm()
    sym = eng.portfolio.open_symbols()[0]
    out = cmd(eng, "block_symbol", sym, "halt news")
    assert [e for e in out if isinstance(e, SymbolBlocked)] == [SymbolBlocked(eng.ts, sym, True, "halt news")]
    assert eng.gate.blocked == {sym}
    grow = eng.portfolio.qty(sym)  # the same sign again: grows it
    ok = eng.submit(sym, grow, eng.portfolio.last[sym], "operator", "grow")
    assert not ok and isinstance(eng.bus.out[-1], OrderRejected) and eng.bus.out[-1].rule == "blocked"
    assert eng.submit(sym, -grow / 2.0, eng.portfolio.last[sym], "operator", "exit half")  # exits pass
    again = cmd(eng, "block_symbol", sym)
    assert [e.reason for e in again if isinstance(e, CommandRejected)] == [f"{sym} is blocked already"]
    out = cmd(eng, "unblock_symbol", sym, "cleared")
    assert [e for e in out if isinstance(e, SymbolBlocked)] == [SymbolBlocked(eng.ts, sym, False, "cleared")]
    assert eng.submit(sym, grow, eng.portfolio.last[sym], "operator", "grow")
    out = cmd(eng, "unblock_symbol", sym)
    assert [e.reason for e in out if isinstance(e, CommandRejected)] == [f"{sym} is not blocked"]


def test_a_block_cancels_working_orders_that_would_grow_the_position() -> None:
    eng, _ = warm(cfg=EngineConfig(limits=LimitsConfig()))
    sym = eng.portfolio.open_symbols()[0]
    q = eng.portfolio.qty(sym)
    px = eng.portfolio.last[sym]
    assert eng.submit(sym, q, px, "operator", "grow, resting", px * 0.95 if q > 0 else px * 1.05)
    out = cmd(eng, "block_symbol", sym)
    assert any(isinstance(e, OrderCancelled) and e.symbol == sym for e in out)
    assert not eng.broker.has_open_orders(sym)


def test_unblocking_a_configured_do_not_trade_symbol_is_refused() -> None:
    sim = Simulator(2)
    sym = sim.spec.instruments[0].symbol
    eng = build_engine(EngineConfig(limits=LimitsConfig(do_not_trade=(sym,))), sim.spec, 2)
    eng.process(Timer(1, "", "bar"))
    out = cmd(eng, "unblock_symbol", sym)
    assert "configured do-not-trade list" in [e for e in out if isinstance(e, CommandRejected)][0].reason


def test_one_symbol_commands_are_logged_and_replay_verifies_them() -> None:
    eng, _ = warm(seed=4)
    sym = eng.portfolio.open_symbols()[0]
    rows: list[tuple[int, str, int, str, str, bool]] = []
    fresh = build_engine(EngineConfig(), Simulator(4).spec, 4)
    sim = Simulator(4)
    inputs: list[object] = []
    src = iter(sim)
    for _ in range(6000):
        inputs.append(next(src))
    inputs.append(Command(inputs[-1].ts, sym, "block_symbol", "", "blocked in a test", "pytest"))  # type: ignore[attr-defined]
    inputs.append(Command(inputs[-2].ts, sym, "flatten_symbol", "", "flattened in a test", "pytest"))  # type: ignore[attr-defined]
    for _ in range(3000):
        inputs.append(next(src))
    seq = 0
    for ev in inputs:
        for i, e in enumerate(fresh.process(ev)):
            seq += 1
            rows.append((seq, kind_of(e), e.ts, e.symbol, encode_payload(e), i == 0))  # type: ignore[attr-defined]
    kinds = [r[1] for r in rows]
    assert "symbol_blocked" in kinds
    assert fresh.portfolio.qty(sym) == 0.0 or sym in fresh.gate.blocked
    rep = verify(build_engine(EngineConfig(), Simulator(4).spec, 4), rows)
    assert rep.verified and rep.events == len(rows), rep.divergence
    again = build_engine(EngineConfig(), Simulator(4).spec, 4)
    verify(again, rows)
    assert again.gate.blocked == {sym}  # replay rebuilds the blocked set from the logged command


def test_session_submit_checks_the_symbol() -> None:
    sim = Simulator(1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "x", speed=None, max_events=10)
    with pytest.raises(ValueError, match="needs a symbol"):
        s.submit("flatten_symbol", reason="x")
    with pytest.raises(ValueError, match="takes no symbol"):
        s.submit("halt", reason="x", symbol="AAPL")
