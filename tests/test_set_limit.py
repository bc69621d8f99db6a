"""The operator's set_limit: one gate or breaker limit changed for a session,
checked as the config checks it, logged old -> new with who and why, or
refused with why; replay and resume re-apply it (issue 18)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.build import build_engine
from core.codec import encode_payload, from_row, kind_of, to_row
from core.config import EngineConfig, LimitsConfig, _check_ranges
from core.engine import SETTABLE_LIMITS, parse_limit
from core.events import Command, CommandRejected, LimitChanged, OrderRejected
from core.market.sim import Simulator
from core.replay import verify
from core.session import ACTIONS, MemorySink, Session


def fresh(seed: int = 2, cfg: EngineConfig | None = None):  # type: ignore[no-untyped-def]
    sim = Simulator(seed)
    return build_engine(cfg or EngineConfig(), sim.spec, seed), sim


def set_limit(eng, arg: str, reason: str = "test", who: str = "pytest") -> list[object]:  # type: ignore[no-untyped-def]
    return eng.process(Command(eng.ts, "", "set_limit", arg, reason, who))


def refusal(out: list[object]) -> str:
    r = [e.reason for e in out if isinstance(e, CommandRejected)]
    assert len(r) == 1, out
    return r[0]


def test_a_gate_limit_is_changed_and_logged_old_to_new() -> None:
    eng, _ = fresh()
    out = set_limit(eng, "var_budget=0.12", "wider for the event", "ops@desk")
    assert [e for e in out if isinstance(e, LimitChanged)] == [
        LimitChanged(eng.ts, "", "var_budget", 0.08, 0.12, "wider for the event", "ops@desk")]
    assert eng.gate.var_budget == 0.12
    assert eng.limits_configured == {"var_budget": 0.08}
    set_limit(eng, "limits.var_budget=5%")  # the table's prefix and percent
    assert eng.gate.var_budget == 0.05 and eng.limits_configured == {"var_budget": 0.08}


def test_a_breaker_limit_is_changed_and_the_breakers_pane_sees_it() -> None:
    eng, _ = fresh()
    out = set_limit(eng, "daily_loss=0.05")
    ch = [e for e in out if isinstance(e, LimitChanged)][0]
    assert (ch.name, ch.old, ch.new) == ("daily_loss", 0.03, 0.05)
    assert eng.brk.daily.limit == 0.05
    set_limit(eng, "consecutive_losses=40")
    assert eng.brk.losses.limit == 40.0
    from core.view import View
    snap = View(eng).build(session_id="t", speed="max", events_per_s=0.0, source="sim", finished=False,
                           error="", compiled=False)
    rows = {b.name: b.limit for b in snap.breakers}
    assert rows["daily_loss"] == 0.05 and rows["consecutive_losses"] == 40.0
    extra = dict(snap.risk.extra)
    assert extra["limit daily_loss"] == "5.00% (config 3.00%)"
    assert extra["limit consecutive_losses"] == "40 (config 20)"


def test_the_stale_limit_keeps_its_floor_of_stale_bars() -> None:
    eng, _ = fresh()
    floor = eng.p.stale_bars * eng.p.bar_ms / 1000.0
    out = set_limit(eng, "stale_data=1")  # the breaker's own name is accepted too
    ch = [e for e in out if isinstance(e, LimitChanged)][0]
    assert ch.name == "stale_data_s" and ch.new == max(1.0, floor) == eng.brk.stale.limit


@pytest.mark.parametrize("arg, why", [
    ("var_budget", "expected NAME=VALUE"),
    ("=0.1", "expected NAME=VALUE"),
    ("nope=1", "unknown limit 'nope'"),
    ("var_budget=abc", "var_budget must be a number, got 'abc'"),
    ("var_budget=nan", "var_budget must be finite"),
    ("max_order_notional=inf", "max_order_notional must be finite"),
    ("var_budget=0", "var_budget must be in (0, 1], got 0"),
    ("daily_loss=1.5", "daily_loss must be in (0, 1], got 1.5"),
    ("daily_loss=-0.01", "daily_loss must be in (0, 1]"),
    ("max_gross_leverage=-2", "max_gross_leverage must be > 0, got -2"),
    ("max_orders_per_minute=0", "max_orders_per_minute must be >= 1, got 0"),
    ("reject_storm=2.5", "reject_storm must be a whole number, got '2.5'"),
])
def test_bad_names_and_values_are_refused_with_why_and_change_nothing(arg: str, why: str) -> None:
    eng, _ = fresh()
    before = (eng.gate.var_budget, eng.gate.max_gross_leverage, eng.brk.daily.limit, eng.brk.rejects.limit)
    out = set_limit(eng, arg)
    assert why in refusal(out)
    assert not any(isinstance(e, LimitChanged) for e in out)
    assert (eng.gate.var_budget, eng.gate.max_gross_leverage, eng.brk.daily.limit, eng.brk.rejects.limit) == before
    assert eng.limits_configured == {}


@pytest.mark.parametrize("name", sorted(SETTABLE_LIMITS))
def test_the_bounds_are_the_configs(name: str) -> None:
    """Each value the engine takes, the config takes, and each it refuses the
    config refuses: the two checks cannot drift apart unseen."""
    table = "limits" if name in LimitsConfig.__dataclass_fields__ else "breakers"
    integer = SETTABLE_LIMITS[name][1]
    for v in ([-1, 0, 1, 2, 10_000] if integer else [-0.5, 0.0, 1e-9, 0.05, 1.0, 1.0000001, 3.0, 1e12]):
        engine_ok = parse_limit(f"{name}={v}")[2] == ""
        cfg = EngineConfig()
        section = replace(getattr(cfg, table), **{name: v})
        config_ok = not [p for p in _check_ranges(replace(cfg, **{table: section})) if name in p]
        assert engine_ok == config_ok, (name, v, engine_ok, config_ok)


def test_a_tighter_order_limit_refuses_the_next_order() -> None:
    eng, sim = fresh()
    it = iter(sim)
    for _ in range(3000):
        eng.process(next(it))
    sym = next(iter(eng.instruments))
    px = eng.portfolio.last[sym]
    set_limit(eng, f"max_order_notional={px * 2:.6f}")
    assert not eng.submit(sym, 10.0, px, "operator", "too big now")
    assert isinstance(eng.bus.out[-1], OrderRejected) and eng.bus.out[-1].rule == "max_order_notional"


def test_limit_changed_round_trips_through_the_codec() -> None:
    e = LimitChanged(5, "", "var_budget", 0.08, 0.1, "why", "who")
    assert kind_of(e) == "limit_changed"
    assert from_row(*to_row(e)) == e


def test_replay_re_applies_a_logged_set_limit() -> None:
    sim = Simulator(4)
    eng = build_engine(EngineConfig(), sim.spec, 4)
    src = iter(sim)
    inputs: list[object] = [next(src) for _ in range(3000)]
    inputs.append(Command(inputs[-1].ts, "", "set_limit", "max_gross_leverage=0.5", "tight", "pytest"))  # type: ignore[attr-defined]
    inputs.append(Command(inputs[-2].ts, "", "set_limit", "bad", "typo", "pytest"))  # type: ignore[attr-defined]
    inputs += [next(src) for _ in range(3000)]
    rows = []
    seq = 0
    for ev in inputs:
        for i, e in enumerate(eng.process(ev)):
            seq += 1
            rows.append((seq, kind_of(e), e.ts, e.symbol, encode_payload(e), i == 0))  # type: ignore[attr-defined]
    kinds = [r[1] for r in rows]
    assert kinds.count("limit_changed") == 1 and "command_rejected" in kinds
    again = build_engine(EngineConfig(), Simulator(4).spec, 4)
    rep = verify(again, rows)
    assert rep.verified and rep.events == len(rows), rep.divergence
    assert again.gate.max_gross_leverage == 0.5 and again.limits_configured == {"max_gross_leverage": 2.0}


def test_session_takes_set_limit_and_reports_a_refusal() -> None:
    assert "set_limit" in ACTIONS
    sim = Simulator(1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "x", speed=None, max_events=200)
    got: list[tuple[int, str]] = []
    s.submit("set_limit", "trailing_loss=0.04", reason="r", who="w", done=lambda q, why: got.append((q, why)))
    s.submit("set_limit", "trailing_loss=2", reason="r", who="w", done=lambda q, why: got.append((q, why)))
    s.run()
    assert got[0][1] == "" and "trailing_loss must be in (0, 1]" in got[1][1]
    assert s.engine.brk.trailing.limit == 0.04
    assert any("LIMIT trailing_loss 2.00% -> 4.00%: r (by w)" in line.text for line in s.latest.log)


def test_defaults_are_within_their_own_bounds() -> None:
    cfg = EngineConfig()
    for name in SETTABLE_LIMITS:
        sec = cfg.limits if name in LimitsConfig.__dataclass_fields__ else cfg.breakers
        assert parse_limit(f"{name}={getattr(sec, name)}")[2] == "", name


def test_resume_keeps_a_limit_set_before_the_stop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from console.setup_run import resume
    from core.build import engine_from_setup, engine_setup
    from storage import LogWriter

    db = tmp_path / "r.db"
    sim = Simulator(21)
    setup = engine_setup(EngineConfig(), sim.spec, {"kind": "sim", "seed": 21})
    writer = LogWriter(db, {"id": "lim", "config": json.dumps(setup), "seed": 21})
    s = Session(engine_from_setup(setup), sim, writer, "lim", speed=None, max_events=3000)
    s.submit("set_limit", "max_drawdown=0.2", reason="wider for the test", who="pytest")
    s.run()
    writer.close(False)  # as a crash leaves it
    assert s.engine.brk.drawdown.limit == 0.2
    prepared = resume(db=db, session_id="lim", speed=None, max_events=10, keep_alive=False)
    try:
        eng = prepared.session.engine
        assert eng.brk.drawdown.limit == 0.2 and eng.limits_configured == {"max_drawdown": 0.1}
    finally:
        prepared.writer.close(True)


def test_set_limit_from_a_shell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import signal
    import sqlite3

    from console.control import entries
    from tests.test_control import cli, detach

    mp = pytest.MonkeyPatch()
    run = tmp_path / "run"
    mp.setenv("CONSOLE_RUNTIME_DIR", str(run))
    db = tmp_path / "s.db"
    try:
        sid = detach(db, "--seed", "3", "--speed", "200")
        r = cli("set-limit", sid, "var_budget", "10%", "--reason", "earnings week")
        assert r.returncode == 0 and r.stdout.startswith("set-limit took effect at seq "), r.stderr
        r = cli("set-limit", sid, "var_budget", "2", "--reason", "typo", "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["error"] == "var_budget must be in (0, 1], got 2"
        r = cli("set-limit", sid, "nope", "1", "--reason", "x")
        assert r.returncode == 1 and "unknown limit 'nope'" in r.stderr
        assert cli("stop", sid).returncode == 0
    finally:
        for e in entries():  # a test that failed half way leaves no engine behind
            try:
                os.kill(e.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        mp.undo()
    con = sqlite3.connect(db)
    got = con.execute("select json_extract(payload, '$.name'), json_extract(payload, '$.old'), "
                      "json_extract(payload, '$.new'), json_extract(payload, '$.reason'), "
                      "json_extract(payload, '$.who') from events where kind = 'limit_changed'").fetchall()
    assert len(got) == 1 and got[0][:4] == ("var_budget", 0.08, 0.1, "earnings week") and "via cli" in got[0][4]
    assert cli("replay", sid, "--db", str(db)).returncode == 0


def test_the_report_lists_the_limits_changed_in_the_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    import json

    from rich.console import Console

    from console.report_cmd import load_report, print_report, render_html
    from core.build import engine_from_setup, engine_setup
    from storage import LogWriter

    db = tmp_path / "rep.db"
    sim = Simulator(22)
    setup = engine_setup(EngineConfig(), sim.spec, {"kind": "sim", "seed": 22})
    writer = LogWriter(db, {"id": "rep", "config": json.dumps(setup), "seed": 22})
    s = Session(engine_from_setup(setup), sim, writer, "rep", speed=None, max_events=3000)
    s.submit("set_limit", "daily_loss=0.05", reason="a volatile open", who="alice@desk pid 1 via cli")
    s.run()
    writer.close(True)
    rep = load_report(db, "rep")
    assert [(c.name, c.old, c.new, c.reason) for c in rep.limits] == [("daily_loss", 0.03, 0.05, "a volatile open")]
    buf = io.StringIO()
    print_report(Console(file=buf, width=160, color_system=None), rep)
    text = buf.getvalue()
    assert "limits changed during the session" in text and "daily_loss" in text and "alice@desk pid 1" in text
    assert "a volatile open" in render_html(rep)
