"""Kill test: SIGKILL headless sessions at random points, then prove nothing
was lost and nothing will be sent twice.

    .venv/bin/python scripts/kill_test.py [--runs 50] [--seed 0] [--jobs 1]

Each run starts a session against its own temporary database and kills it
(SIGKILL: no clean-up code runs) after a seeded random delay. The runs cycle
through four kinds:

* ``cli``        ``console run --headless --seed K``, killed at random;
* ``halt``       a small driver (core.session.Session + storage.LogWriter,
                 like tests/test_resume.py) whose source submits an operator
                 ``halt`` at a random input count; killed a random delay
                 after the halt is committed;
* ``halt-race``  the same driver, killed a random delay after start, so the
                 kill may come before or after the halt;
* every fifth run's resume is itself killed once (``resume-kill``) before the
  final resume: a crash during the catch-up of a crash.

About one run in seven is killed within 50 ms of its database file appearing
(during start-up: schema creation, the session row, the first batch).

After the kill, for each run:

1. the database opens (read only) and passes ``PRAGMA quick_check``;
2. if a session row exists: ``console replay <id>`` exits 0 ("verified") and
   checked every committed row; the session's seqs are 1..N with no gap and
   ``sessions.last_seq`` is N; every fill's order id is the seq of a logged
   ``order_accepted`` (and of an ``orders`` row); no order id appears twice
   (in orders, or as the order of two fills); the typed tables match the
   event log;
3. ``console run --headless --resume <id> --events 2000`` exits 0 and prints
   the id; a session whose last state change before the crash was to HALTED
   comes back HALTED ("state HALTED" in the summary) and has no
   ``order_accepted`` after that state change; the logged inputs (commands
   aside) are exactly the simulator's, in order, 2,000 more than before the
   crash (nothing skipped, nothing fed twice); the checks of step 2 hold
   again, and ``console replay`` verifies the resumed session.

A run killed before its session row was committed must leave a database
that opens (and a new session can be logged to it).

Prints one line per run and a summary table (runs, verified, resumed,
halted-and-stayed-halted, failures); exits 1 on any failure. Run
directories are deleted unless ``--keep DIR`` is given (failing runs are
always kept, and their paths printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESUME_EVENTS = 2_000
CLI_TIMEOUT_S = 300

# The operator-halt driver, written into each halt run's directory.
DRIVER = r'''
import json, sys
from core.build import engine_from_setup, engine_setup
from core.config import EngineConfig
from core.market.sim import Simulator
from core.session import Session
from storage import LogWriter

db, sid, seed, halt_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sim = Simulator(seed)
setup = engine_setup(EngineConfig(), sim.spec, {"kind": "sim", "seed": seed})
writer = LogWriter(db, {"id": sid, "config": json.dumps(setup, sort_keys=True), "seed": seed,
                        "data_source": sim.describe()})
session = Session(engine_from_setup(setup), sim, writer, sid, source_name=sim.describe())

def source():
    for n, ev in enumerate(sim):
        if n == halt_at:
            session.submit("halt", reason="kill-test operator halt")
        yield ev

session.source = source()
session.run()
writer.close(clean=not session.error)
'''


@dataclass
class Plan:
    index: int
    seed: int          # simulator seed
    kind: str          # cli | halt | halt-race
    halt_at: int       # input count at which the driver halts (halt kinds)
    early: bool        # killed within 50 ms of the database appearing
    delay: float       # seconds after the trigger
    kill_resume: bool  # kill the first resume too
    resume_delay: float  # seconds from the resume's start to its kill


@dataclass
class Result:
    plan: Plan
    sid: str = ""
    crash_seq: int = 0        # highest committed seq after the kill
    started: bool = False     # a session row was committed before the kill
    verified: bool = False
    resumed: bool = False
    halted: bool = False      # the last state change before the crash was to HALTED
    stayed_halted: bool = False
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def mid_stream(self) -> bool:
        """Killed with events committed (not in start-up)."""
        return self.started and self.crash_seq > 0


class CheckFailed(Exception):
    pass


def make_plans(runs: int, seed: int, max_delay: float) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for k in range(runs):
        kind = ("cli", "halt", "cli", "halt-race")[k % 4]
        early = rng.random() < 0.15 and k % 4 != 1
        delay = rng.uniform(0.0, 0.05) if early else rng.uniform(0.05, max_delay)
        plans.append(Plan(
            index=k, seed=rng.randrange(1, 1_000_000), kind=kind,
            halt_at=rng.randrange(20, 3_000), early=early, delay=delay,
            kill_resume=k % 5 == 4, resume_delay=rng.uniform(1.0, 3.0 + max_delay),
        ))
    return plans


# ------------------------------------------------------------ processes


def _env(db: Path) -> dict[str, str]:
    return dict(os.environ, CONSOLE_DB=str(db), PYTHONUNBUFFERED="1")


def console(args: list[str], db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], env=_env(db), cwd=ROOT,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)


def _halt_committed(db: Path) -> bool:
    try:
        con = _ro(db)
        try:
            return con.execute("select 1 from events where kind = 'state' limit 1").fetchone() is not None
        finally:
            con.close()
    except sqlite3.Error:
        return False


def _events_committed(db: Path) -> bool:
    try:
        con = _ro(db)
        try:
            return con.execute("select 1 from events limit 1").fetchone() is not None
        finally:
            con.close()
    except sqlite3.Error:
        return False


def kill_after(proc: subprocess.Popen[bytes], db: Path, wait_for_halt: bool, delay: float,
               limit_s: float = 60.0, wait_for_events: bool = False) -> float:
    """Wait for the database file (and, if asked, the first committed batch of
    events, or a committed state change), then ``delay`` seconds, then SIGKILL.
    Returns seconds from start to kill. Timed from the first batch, a kill
    lands mid-stream rather than in the second or so of start-up."""
    t0 = time.monotonic()
    deadline = t0 + limit_s
    while not db.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    while wait_for_events and proc.poll() is None and time.monotonic() < deadline \
            and not _events_committed(db):
        time.sleep(0.01)
    while wait_for_halt and proc.poll() is None and time.monotonic() < deadline \
            and not _halt_committed(db):
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.monotonic() - t0


# ------------------------------------------------------------ checks


def check(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def open_checked(db: Path) -> sqlite3.Connection:
    """The database opens read only through the console's own opener and
    passes SQLite's quick check. Returns a plain read-only connection."""
    from storage import open_db

    d = open_db(db, create=False, readonly=True)
    try:
        ok = d.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        d.close()
    check(ok == "ok", f"quick_check: {ok}")
    return _ro(db)


def log_invariants(con: sqlite3.Connection, sid: str) -> int:
    """Gap-free seqs, last_seq, fills -> orders, no order twice, tables match
    the event log. Returns the highest seq."""
    seqs = [s for (s,) in con.execute("select seq from events where session = ? order by seq", (sid,))]
    n = len(seqs)
    check(seqs == list(range(1, n + 1)),
          f"seqs are not 1..{n}: first gap after {next((a for a, b in zip(seqs, seqs[1:]) if b != a + 1), None)}")
    last_seq = con.execute("select last_seq from sessions where id = ?", (sid,)).fetchone()[0]
    check((last_seq or 0) == n, f"sessions.last_seq {last_seq} but the log ends at seq {n}")
    accepted = [s for (s,) in con.execute(
        "select seq from events where session = ? and kind = 'order_accepted' order by seq", (sid,))]
    orders = [s for (s,) in con.execute("select seq from orders where session = ? order by seq", (sid,))]
    check(orders == accepted, f"orders table ({len(orders)} rows) differs from the "
                              f"order_accepted events ({len(accepted)})")
    check(len(set(orders)) == len(orders), "an order id appears twice in orders")
    fill_events = [(s, json.loads(p)["order_id"]) for s, p in con.execute(
        "select seq, payload from events where session = ? and kind = 'fill' order by seq", (sid,))]
    fills = list(con.execute("select seq, order_id from fills where session = ? order by seq", (sid,)))
    check(fills == fill_events, f"fills table ({len(fills)} rows) differs from the fill events "
                                f"({len(fill_events)})")
    order_set = set(orders)
    orphans = [o for _, o in fills if o not in order_set]
    check(not orphans, f"fills of order(s) never logged as accepted: {orphans[:5]}")
    filled = [o for _, o in fills]
    twice = sorted({o for o in filled if filled.count(o) > 1})
    check(not twice, f"order(s) filled twice: {twice[:5]}")
    for seq, oid in fills:
        check(oid < seq, f"fill at seq {seq} is of order {oid}, logged after it")
    return n


def last_halt(con: sqlite3.Connection, sid: str) -> int | None:
    """Seq of the last state change if it went to HALTED, else None."""
    row = con.execute("select seq, payload from events where session = ? and kind = 'state' "
                      "order by seq desc limit 1", (sid,)).fetchone()
    if row is None or json.loads(row[1]).get("new") != "HALTED":
        return None
    return int(row[0])


def replay_verified(db: Path, sid: str, last_seq: int) -> None:
    res = console(["replay", sid], db)
    check(res.returncode == 0 and "verified" in res.stdout,
          f"replay exit {res.returncode}: {(res.stdout + res.stderr).strip()[-400:]}")
    m = re.search(r"last seq\s+([\d,]+)", res.stdout)
    got = int(m.group(1).replace(",", "")) if m else -1
    check(got == last_seq, f"replay checked up to seq {got}, the log ends at {last_seq}")


def inputs_match_source(con: sqlite3.Connection, sid: str, seed: int) -> int:
    """The logged market inputs (commands, venue reports and the signal
    layer's views, fits and activations aside) are the simulator's first N,
    in order, each once. Returns N."""
    from core.codec import to_row
    from core.market.sim import Simulator

    rows = con.execute("select kind, ts, symbol, payload from events where session = ? and input = 1 "
                       "and kind not in ('command', 'venue_report', 'model_signal', 'model_activated', 'model_fit') "
                       "order by seq", (sid,))
    n = 0
    for n, (logged, ev) in enumerate(zip(rows, Simulator(seed)), 1):
        want = to_row(ev)
        check(tuple(logged) == want, f"logged input #{n} {tuple(logged)!r} is not the source's {want!r}")
    return n


def resume(db: Path, sid: str, plan: Plan, workdir: Path) -> subprocess.CompletedProcess[str]:
    if plan.kill_resume:  # crash the catch-up itself once
        with open(workdir / "resume-kill.err", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "console.cli", "run", "--headless",
                                     "--resume", sid], env=_env(db), cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=err)
            time.sleep(plan.resume_delay)  # during its replay, catch-up or run
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        con = open_checked(db)
        try:
            log_invariants(con, sid)
        finally:
            con.close()
    return console(["run", "--headless", "--resume", sid, "--events", str(RESUME_EVENTS)], db)


def one_run(plan: Plan, base: Path) -> Result:
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"run{plan.index:03d}-", dir=base))
    db = workdir / "kill.db"
    r = Result(plan, workdir=str(workdir))
    try:
        _one_run(plan, db, workdir, r)
    except CheckFailed as exc:
        r.failures.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - a harness fault is a failure too
        r.failures.append(f"{type(exc).__name__}: {exc}")
    r.seconds = time.monotonic() - t0
    return r


def _one_run(plan: Plan, db: Path, workdir: Path, r: Result) -> None:
    sid = f"kill-{plan.index:03d}-{plan.seed}"
    err = open(workdir / "run.err", "wb")
    try:
        if plan.kind == "cli":
            cmd = [sys.executable, "-m", "console.cli", "run", "--headless", "--seed", str(plan.seed)]
        else:
            (workdir / "driver.py").write_text(DRIVER)
            cmd = [sys.executable, str(workdir / "driver.py"), str(db), sid, str(plan.seed),
                   str(plan.halt_at)]
        proc = subprocess.Popen(cmd, env=_env(db), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        try:
            # early runs die in start-up on purpose; the rest are timed from the first batch
            kill_after(proc, db, plan.kind == "halt", plan.delay, wait_for_events=not plan.early)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        err.close()
    check(proc.returncode == -signal.SIGKILL,
          f"the session ended by itself (exit {proc.returncode}) before the kill: "
          f"{(workdir / 'run.err').read_text(errors='replace')[-300:]}")
    check(db.exists(), "no database file was created")

    if not _has_session(db):  # killed during start-up: schema, session row
        _check_fresh_session_possible(db)
        return
    con = open_checked(db)
    try:
        row = con.execute("select id from sessions").fetchone()
        r.started = True
        r.sid = sid = row[0]
        r.crash_seq = n = log_invariants(con, sid)
        halt_seq = last_halt(con, sid)
        r.halted = halt_seq is not None
        inputs_before = inputs_match_source(con, sid, plan.seed)
    finally:
        con.close()

    replay_verified(db, sid, n)
    r.verified = True

    res = resume(db, sid, plan, workdir)
    check(res.returncode == 0, f"resume exit {res.returncode}: {res.stderr.strip()[-400:]}")
    check(res.stdout.strip().splitlines()[-1:] == [sid], f"resume printed {res.stdout.strip()[-80:]!r}")
    con = open_checked(db)
    try:
        n2 = log_invariants(con, sid)
        check(n2 > n, f"the resumed session logged nothing past seq {n}")
        inputs_after = inputs_match_source(con, sid, plan.seed)
        if not plan.kill_resume:
            check(inputs_after == inputs_before + RESUME_EVENTS,
                  f"{inputs_before} inputs before the crash + {RESUME_EVENTS} resumed != {inputs_after}")
        clean = con.execute("select clean_close from sessions where id = ?", (sid,)).fetchone()[0]
        check(clean == 1, "the resumed session did not close cleanly")
        if halt_seq is not None:
            check("state HALTED" in res.stderr, f"halted before the crash, resumed as: "
                                                f"{res.stderr.strip().splitlines()[-1:]}")
            later = con.execute("select count(*) from events where session = ? and kind = 'state' "
                                "and seq > ?", (sid, halt_seq)).fetchone()[0]
            check(later == 0, f"{later} state change(s) after the halt at seq {halt_seq}")
            after = con.execute("select min(seq) from events where session = ? and kind = "
                                "'order_accepted' and seq > ?", (sid, halt_seq)).fetchone()[0]
            check(after is None, f"order accepted at seq {after}, after the halt at seq {halt_seq}")
    finally:
        con.close()
    r.resumed = True
    r.stayed_halted = r.halted
    replay_verified(db, sid, n2)


def _has_session(db: Path) -> bool:
    con = _ro(db)
    try:
        if con.execute("select 1 from sqlite_master where type = 'table' and name = 'sessions'"
                       ).fetchone() is None:
            return False
        return con.execute("select count(*) from sessions").fetchone()[0] > 0
    finally:
        con.close()


def _check_fresh_session_possible(db: Path) -> None:
    """Killed before the session row: the file (empty, or with the schema
    only) must open as the next console would open it, and take a session."""
    from storage import LogWriter

    w = LogWriter(db, {"id": "after-early-kill"})
    w.close(clean=True)
    con = _ro(db)
    try:
        check(con.execute("select count(*) from sessions").fetchone()[0] == 1,
              "a new session could not be logged after an early kill")
    finally:
        con.close()


# ------------------------------------------------------------ main


def run_all(runs: int, seed: int, jobs: int = 1, max_delay: float = 1.5,
            keep: Path | None = None, out=None, under: Path | None = None) -> list[Result]:  # type: ignore[no-untyped-def]
    """Run the plan; ``keep``: keep every run's directory under it; else runs
    go under ``under`` (default: the system temp directory) and only failing
    runs are kept."""
    out = out or sys.stdout
    plans = make_plans(runs, seed, max_delay)
    base = Path(tempfile.mkdtemp(prefix="kill-test-", dir=keep or under))
    lock = threading.Lock()
    results: list[Result] = []

    def job(plan: Plan) -> Result:
        r = one_run(plan, base)
        with lock:
            print(_line(r), file=out, flush=True)
        if r.ok and keep is None:
            shutil.rmtree(r.workdir, ignore_errors=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(job, plans))
    if keep is None and all(r.ok for r in results):
        shutil.rmtree(base, ignore_errors=True)
    print(summary(results), file=out, flush=True)
    return results


def _line(r: Result) -> str:
    p = r.plan
    what = f"{p.kind}{' early' if p.early else ''}{' +resume-kill' if p.kill_resume else ''}"
    state = ("no session yet" if not r.started else
             f"crash seq {r.crash_seq:,}{' HALTED' if r.halted else ''}")
    verdict = "ok" if r.ok else "FAIL: " + "; ".join(r.failures) + f" (kept {r.workdir})"
    return f"run {p.index:3d} seed {p.seed:6d} {what:<28} {state:<26} {r.seconds:5.1f}s  {verdict}"


def summary(results: list[Result]) -> str:
    runs = len(results)
    started = sum(r.started for r in results)
    verified = sum(r.verified for r in results)
    resumed = sum(r.resumed for r in results)
    halted = sum(r.halted for r in results)
    stayed = sum(r.stayed_halted for r in results)
    failures = sum(not r.ok for r in results)
    mid = sum(r.mid_stream for r in results)
    rows = [("runs", runs), ("killed before the session row", runs - started),
            ("killed mid-stream (events committed)", mid),
            ("replay verified after the kill", verified), ("resumed", resumed),
            ("halted before the kill", halted), ("halted and stayed halted", stayed),
            ("failures", failures)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(["", "kill test summary"] + [f"  {k:<{width}}  {v:>5}" for k, v in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50, help="sessions to kill (default 50)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the plan: kinds, delays, halts")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    ap.add_argument("--max-delay", type=float, default=1.5,
                    help="longest kill delay after the trigger, seconds (default 1.5)")
    ap.add_argument("--keep", type=Path, default=None, help="keep every run's directory under DIR")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.jobs < 1 or args.max_delay <= 0.05:
        ap.error("--runs and --jobs must be >= 1 and --max-delay > 0.05")
    results = run_all(args.runs, args.seed, args.jobs, args.max_delay, args.keep)
    return 1 if any(not r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
