"""Crash safety: sessions SIGKILLed at random points lose nothing committed,
replay verified, resume where they were (a halt stays a halt) and send no
order twice. The harness is scripts/kill_test.py; here a 3-run version runs
by default and the full 50 runs under ``-m slow``."""

from __future__ import annotations

import importlib.util
import io
import json
import sqlite3
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kill_test", ROOT / "scripts" / "kill_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_test"] = module
    spec.loader.exec_module(module)
    return module


kt = load_harness()


def run_harness(runs: int, seed: int, max_delay: float, under: Path) -> tuple[list, str]:  # type: ignore[type-arg]
    out = io.StringIO()
    results = kt.run_all(runs, seed, jobs=2, max_delay=max_delay, out=out, under=under)
    return results, out.getvalue()


def test_three_killed_sessions_verify_resume_and_a_halted_one_stays_halted(tmp_path: Path) -> None:
    results, report = run_harness(3, seed=11, max_delay=0.6, under=tmp_path)
    assert [r.failures for r in results] == [[], [], []], report
    halt_run = results[1]  # the plan's second run halts, and is killed after the halt
    assert halt_run.plan.kind == "halt" and halt_run.halted and halt_run.stayed_halted, report
    assert sum(r.verified for r in results) >= 2, report
    assert "halted and stayed halted" in report and "failures" in report
    # none of these three is an early kill: each is timed from the first committed batch
    assert not any(r.plan.early for r in results) and all(r.mid_stream for r in results), report
    assert "killed mid-stream (events committed)      3" in report, report


@pytest.mark.slow
def test_fifty_killed_sessions_all_verify_and_resume_without_a_repeated_order(tmp_path: Path) -> None:
    results, report = run_harness(50, seed=0, max_delay=1.5, under=tmp_path)
    failed = [r for r in results if not r.ok]
    assert not failed, report
    assert sum(r.stayed_halted for r in results) >= 10, report
    assert sum(r.resumed for r in results) >= 40, report
    # only the planned early kills (about 15%) may die in start-up
    assert sum(r.mid_stream for r in results) >= sum(not r.plan.early for r in results) - 2, report


# ------------------------------------------------------- the checks themselves


def fake_log(path: Path, events: list[tuple[int, str, dict]], orders: list[int],  # type: ignore[type-arg]
             fills: list[tuple[int, int]], last_seq: int | None = None) -> sqlite3.Connection:
    from storage import open_db

    open_db(path).close()
    con = sqlite3.connect(path)
    con.execute("insert into sessions (id, started_at, clean_close, last_seq) values ('s', 'now', 0, ?)",
                (last_seq if last_seq is not None else max((e[0] for e in events), default=None),))
    for seq, kind, payload in events:
        con.execute("insert into events values ('s', ?, 0, ?, '', ?, ?)",
                    (seq, kind, int(kind == "tick"), json.dumps(payload)))
    con.executemany("insert into orders (session, seq) values ('s', ?)", [(o,) for o in orders])
    con.executemany("insert into fills (session, seq, order_id) values ('s', ?, ?)", fills)
    con.commit()
    return con


GOOD = [(1, "tick", {}), (2, "order_accepted", {}), (3, "tick", {}), (4, "fill", {"order_id": 2})]


def test_the_log_checks_pass_a_sound_log(tmp_path: Path) -> None:
    assert kt.log_invariants(fake_log(tmp_path / "a.db", GOOD, [2], [(4, 2)]), "s") == 4


@pytest.mark.parametrize(("events", "orders", "fills", "last_seq", "needle"), [
    pytest.param([e for e in GOOD if e[0] != 3], [2], [(4, 2)], None, "seqs are not", id="gap"),
    pytest.param(GOOD, [2], [(4, 2)], 3, "last_seq 3", id="last-seq"),
    pytest.param(GOOD[:3] + [(4, "fill", {"order_id": 9})], [2], [(4, 9)], None,
                 "never logged as accepted", id="orphan-fill"),
    pytest.param(GOOD + [(5, "fill", {"order_id": 2})], [2], [(4, 2), (5, 2)], None,
                 "filled twice", id="double-fill"),
    pytest.param(GOOD, [], [(4, 2)], None, "orders table", id="order-row-lost"),
    pytest.param(GOOD, [2], [], None, "fills table", id="fill-row-lost"),
])
def test_the_log_checks_catch_a_gap_a_lost_row_an_orphan_and_a_double_fill(
        tmp_path: Path, events: list, orders: list, fills: list, last_seq: int | None,  # type: ignore[type-arg]
        needle: str) -> None:
    con = fake_log(tmp_path / "b.db", events, orders, fills, last_seq)
    with pytest.raises(kt.CheckFailed, match=needle):
        kt.log_invariants(con, "s")


def test_the_plan_is_seeded_and_mixes_plain_halted_and_early_kills() -> None:
    a, b = kt.make_plans(40, 3, 1.5), kt.make_plans(40, 3, 1.5)
    assert a == b
    kinds = {p.kind for p in a}
    assert kinds == {"cli", "halt", "halt-race"}
    assert any(p.early for p in a) and any(p.kill_resume for p in a)
    assert all(0.0 <= p.delay <= 1.5 for p in a)
