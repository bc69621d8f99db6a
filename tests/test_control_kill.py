"""The kill test in detached mode (issue 17): a background engine
(``console run --detach``), halted or not from another shell, is SIGKILLed
at a random point; its log passes the kill test's checks
(scripts/kill_test.py), replay verifies it, ``console ps`` shows it dead,
and ``console run --detach --resume`` brings it back (a halt stays a halt,
no order after it, the market inputs are the simulator's, each once). Two
runs by default, twelve seeded random ones under ``-m slow``."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from console.control import entries
from tests.test_control import cli, pid_gone, rundir, wait_for  # noqa: F401  (rundir: a fixture)
from tests.test_kill import kt


def detached_kill_run(tmp: Path, seed: int, halt: bool, delay: float) -> None:
    db = tmp / f"k{seed}.db"
    r = cli("run", "--detach", "--db", str(db), "--seed", str(seed), "--speed", "max")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.split()[-1]
    (e,) = entries()
    if halt:
        time.sleep(delay / 2)
        h = cli("halt", sid, "--reason", "kill test")
        assert h.returncode == 0, h.stderr
        halt_seq = int(h.stdout.split("seq ")[1].split()[0])
    time.sleep(delay)
    os.kill(e.pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(e.pid))

    con = kt.open_checked(db)
    try:
        n = kt.log_invariants(con, sid)
        inputs_before = kt.inputs_match_source(con, sid, seed)
        if halt:
            assert kt.last_halt(con, sid) == halt_seq + 1  # the command, then its state change
    finally:
        con.close()
    kt.replay_verified(db, sid, n)
    (row,) = json.loads(cli("ps", "--json").stdout)
    assert row["status"] == "dead" and row["session"] == sid

    r = cli("run", "--detach", "--resume", sid, "--db", str(db))
    assert r.returncode == 0 and r.stdout.split()[-1] == sid, r.stderr
    (row,) = json.loads(cli("ps", "--json").stdout)
    assert row["status"] == "running" and row["state"] == ("HALTED" if halt else "ACTIVE")
    time.sleep(0.5)
    s = cli("stop", sid, "--json")
    assert s.returncode == 0, s.stdout + s.stderr
    wait_for(lambda: pid_gone(row["pid"]))
    con = kt.open_checked(db)
    try:
        n2 = kt.log_invariants(con, sid)
        assert n2 > n
        assert kt.inputs_match_source(con, sid, seed) > inputs_before
        assert con.execute("select clean_close from sessions").fetchone() == (1,)
        if halt:
            later = con.execute("select count(*) from events where kind in ('state', 'order_accepted') "
                                "and seq > ?", (halt_seq + 1,)).fetchone()[0]
            assert later == 0
    finally:
        con.close()
    kt.replay_verified(db, sid, n2)
    assert entries() == []


def test_a_detached_engine_killed_then_resumed_loses_nothing_and_a_halt_stays(rundir: Path,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    detached_kill_run(tmp_path, seed=21, halt=True, delay=0.6)
    detached_kill_run(tmp_path, seed=22, halt=False, delay=0.3)


@pytest.mark.slow
def test_twelve_detached_engines_killed_at_random(rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    rng = random.Random(17)
    for i in range(12):
        detached_kill_run(tmp_path, seed=100 + i, halt=i % 2 == 0, delay=rng.uniform(0.05, 1.5))
