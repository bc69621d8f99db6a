"""A halt survives a crash: kill a halted session, resume it, it is still halted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a session that halts after 4,000 inputs and then runs on until killed
HALT_THEN_RUN = r"""
import json, sys
from core.build import engine_from_setup, engine_setup
from core.config import EngineConfig
from core.market.sim import Simulator
from core.session import Session
from storage import LogWriter
sim = Simulator(21)
setup = engine_setup(EngineConfig(), sim.spec, {"kind": "sim", "seed": 21})
writer = LogWriter(sys.argv[1], {"id": "crashy", "config": json.dumps(setup), "seed": 21})
session = Session(engine_from_setup(setup), sim, writer, "crashy")
def source():
    for n, ev in enumerate(sim):
        if n == 4000:
            session.submit("halt", reason="test halt")
        yield ev
session.source = source()
session.run()
"""


def events_in(db: Path) -> int:
    try:
        return sqlite3.connect(db).execute("select count(*) from events").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_halted_session_resumes_halted_and_accepts_no_order(tmp_path: Path):
    db = tmp_path / "h.db"
    proc = subprocess.Popen([sys.executable, "-c", HALT_THEN_RUN, str(db)], cwd=ROOT)
    deadline = time.time() + 60
    while events_in(db) < 40_000 and time.time() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    env = dict(os.environ, CONSOLE_DB=str(db))
    res = subprocess.run([sys.executable, "-m", "console.cli", "run", "--headless", "--resume", "crashy",
                          "--events", "20000"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "state HALTED" in res.stderr and res.stdout.strip().splitlines()[-1] == "crashy"
    con = sqlite3.connect(db)
    halt_seq = next(seq for seq, p in con.execute("select seq, payload from events where kind='state' order by seq")
                    if json.loads(p)["new"] == "HALTED")
    after = con.execute("select count(*) from events where kind='order_accepted' and seq > ?", (halt_seq,)).fetchone()[0]
    seqs = [s for (s,) in con.execute("select seq from events where session='crashy' order by seq")]
    assert after == 0 and seqs == list(range(1, len(seqs) + 1))
    assert con.execute("select clean_close from sessions").fetchone()[0] == 1
    rep = subprocess.run([sys.executable, "-m", "console.cli", "replay", "crashy"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0 and "verified" in rep.stdout


def test_resume_of_an_unknown_session_is_one_line_and_exit_2(tmp_path: Path):
    env = dict(os.environ, CONSOLE_DB=str(tmp_path / "none.db"))
    sqlite3.connect(tmp_path / "none.db").close()
    res = subprocess.run([sys.executable, "-m", "console.cli", "run", "--headless", "--resume", "nope"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_crash_between_a_bar_and_its_model_views_resumes_with_those_views_first(tmp_path: Path):
    """The log ends after a bar's decisions but before the model views that
    follow them (a crash there): resume feeds the missing views first, so the
    replay's model check holds across the crash."""
    db = tmp_path / "v.db"
    env = dict(os.environ, CONSOLE_DB=str(db))
    run = subprocess.run([sys.executable, "-m", "console.cli", "run", "--headless", "--events", "6000",
                          "--seed", "4"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    sid = run.stdout.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    last_bar = con.execute("select max(seq) from events where kind = 'bar_closed'").fetchone()[0]
    first_view = con.execute("select min(seq) from events where kind = 'model_signal' and seq > ?",
                             (last_bar,)).fetchone()[0]
    assert first_view is not None
    cut = con.execute("select count(*) from events where seq >= ?", (first_view,)).fetchone()[0]
    with con:  # as if the process died right before the views were committed
        con.execute("delete from events where seq >= ?", (first_view,))
        con.execute("delete from fills where seq >= ?", (first_view,))
        con.execute("delete from orders where seq >= ?", (first_view,))
        con.execute("update sessions set ended_at = NULL, clean_close = 0, last_seq = ?", (first_view - 1,))
    con.close()
    assert cut > 0
    res = subprocess.run([sys.executable, "-m", "console.cli", "run", "--headless", "--resume", sid,
                          "--events", "2000"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rep = subprocess.run([sys.executable, "-m", "console.cli", "replay", sid], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0 and "verified" in rep.stdout and "models reproduce" in rep.stdout, rep.stdout
    con = sqlite3.connect(db)
    kinds = [k for (k,) in con.execute("select kind from events where seq >= ? order by seq limit 3", (first_view,))]
    assert kinds[0] == "model_signal"
