"""Replay proves a session: clean logs verify, any edited decision is caught."""

from __future__ import annotations

import json
import sqlite3

from core.build import engine_from_setup, engine_setup
from core.codec import to_row
from core.config import EngineConfig
from core.events import Command
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from tests.conftest import make_engine


def logged_session(events: int = 20_000, seed: int = 11, commands: dict[int, str] | None = None):  # type: ignore[no-untyped-def]
    """Run a simulated session into memory, submitting ``commands`` at input counts."""
    sim = Simulator(seed)
    sink = MemorySink()
    setup = engine_setup(EngineConfig(), sim.spec)
    session = Session(engine_from_setup(setup), sim, sink, "s", max_events=events)
    if commands:
        it = iter(sim)

        def source():  # type: ignore[no-untyped-def]
            for n, ev in enumerate(it):
                if n in commands:
                    session.submit(commands[n], reason=f"test at {n}")
                yield ev

        session.source = source()
    session.run()
    rows = []
    for seq, ev in sink.rows:
        kind, ts, symbol, payload = to_row(ev)
        rows.append((seq, kind, ts, symbol, payload, isinstance(ev, (Command,)) or kind in
                     ("tick", "bar", "headline", "timer")))
    return setup, rows


def fills_of(rows):  # type: ignore[no-untyped-def]
    out = {}
    for seq, kind, ts, symbol, payload, _ in rows:
        if kind == "fill":
            p = json.loads(payload)
            out[seq] = {"ts": ts, "symbol": symbol, **{k: p[k] for k in ("order_id", "qty", "price", "commission")}}
    return out


def test_a_logged_session_replays_verified_decision_for_decision():
    setup, rows = logged_session()
    report = verify(engine_from_setup(setup), rows, fills_of(rows))
    assert report.verified and report.events == len(rows) and report.trades > 0
    assert report.last_seq == rows[-1][0]


def test_operator_commands_replay_at_the_seq_they_took_effect():
    setup, rows = logged_session(commands={3000: "halt", 9000: "resume", 12000: "flatten"})
    kinds = [r[1] for r in rows]
    assert kinds.count("command") == 3 and "state" in kinds
    report = verify(engine_from_setup(setup), rows, fills_of(rows))
    halted = [r for r in rows if r[1] == "state" and json.loads(r[4])["new"] == "HALTED"]
    assert report.verified and report.halts == len(halted) >= 1


def test_an_edited_fill_price_in_the_event_log_is_caught_with_its_seq():
    setup, rows = logged_session()
    i = next(i for i, r in enumerate(rows) if r[1] == "fill")
    seq, kind, ts, sym, payload, inp = rows[i]
    p = json.loads(payload)
    p["price"] += 0.01
    rows[i] = (seq, kind, ts, sym, json.dumps(p, sort_keys=True, separators=(",", ":")), inp)
    report = verify(engine_from_setup(setup), rows, None)
    assert not report.verified and report.divergence.seq == seq
    assert str(p["price"]) in report.divergence.expected


def test_an_edited_fills_table_row_is_caught_even_when_events_are_intact():
    setup, rows = logged_session()
    fills = fills_of(rows)
    seq = sorted(fills)[2]
    fills[seq]["price"] *= 1.001
    report = verify(engine_from_setup(setup), rows, fills)
    assert not report.verified and report.divergence.seq == seq


def test_a_deleted_decision_is_reported_as_missing_from_the_log():
    setup, rows = logged_session()
    i = next(i for i, r in enumerate(rows) if r[1] == "order_accepted")
    del rows[i]
    report = verify(engine_from_setup(setup), rows, None)
    assert not report.verified


def test_a_log_cut_mid_step_verifies_up_to_its_last_row():
    setup, rows = logged_session()
    i = next(i for i, r in enumerate(rows) if r[1] == "signal")
    report = verify(engine_from_setup(setup), rows[: i + 1], None)
    assert report.verified and report.truncated and report.last_seq == rows[i][0]


def test_replay_with_another_config_diverges():
    setup, rows = logged_session()
    other = json.loads(json.dumps(setup))
    other["engine"]["strategy"]["fast"] = 3
    assert not verify(engine_from_setup(other), rows, None).verified


def test_the_same_seed_gives_the_same_events():
    a = [e for _, e in zip(range(5000), Simulator(3))]
    b = [e for _, e in zip(range(5000), Simulator(3))]
    c = [e for _, e in zip(range(5000), Simulator(4))]
    assert a == b and a != c


def test_engine_decisions_do_not_depend_on_anything_but_inputs():
    evs = [e for _, e in zip(range(20_000), Simulator(8))]
    runs = []
    for _ in range(2):
        eng = make_engine(spec=Simulator(8).spec)
        runs.append([to_row(x) for ev in evs for x in eng.process(ev)])
    assert runs[0] == runs[1]


def test_replay_from_a_real_database(tmp_path):  # type: ignore[no-untyped-def]
    from storage import LogWriter, fills_by_seq, iter_events, open_db

    sim = Simulator(2)
    setup = engine_setup(EngineConfig(), sim.spec)
    writer = LogWriter(tmp_path / "x.db", {"id": "abc", "config": json.dumps(setup), "seed": 2})
    Session(engine_from_setup(setup), sim, writer, "abc", max_events=15_000).run()
    writer.close(clean=True)
    db = open_db(tmp_path / "x.db", create=False)
    cols = ("ts", "symbol", "order_id", "qty", "price", "commission")
    fills = {k: dict(zip(cols, v)) for k, v in fills_by_seq(db, "abc").items()}
    assert verify(engine_from_setup(setup), iter_events(db, "abc"), fills).verified
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("update fills set price = price * 1.0001 where seq = (select max(seq) from fills)")
    con.commit()
    fills = {k: dict(zip(cols, v)) for k, v in fills_by_seq(db, "abc").items()}
    assert not verify(engine_from_setup(setup), iter_events(db, "abc"), fills).verified


def test_the_divergence_state_shows_positions_orders_breakers_and_models() -> None:
    from core.events import ModelActivated, Tick
    from core.replay import state_of
    from tests.conftest import make_engine

    eng = make_engine()
    eng.process(Tick(1, "AAA", 100.0, 1.0))
    eng.submit("AAA", 10.0, 100.0, "operator", "buy")
    eng.process(ModelActivated(2, "", "forest", 3, "sha", 1.0, "fit"))
    state = dict(state_of(eng))
    assert state["trading"] == "ACTIVE" and state["positions"] == "flat"
    assert state["open orders"].endswith("AAA +10 of +10") and state["models"] == "forest v3"
    assert state["breakers"] == "all ARMED"
