"""Alerts (issue 17): a webhook POST on a state change or a breaker trip,
retried a bounded number of times, never blocking the engine, every delivery
recorded in the ``alerts`` table. Against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.test_control import rundir  # noqa: F401  (a fixture)

from console.webhooks import Alerter, AlertingSink, AlertSettings, load_alerts
from core.build import build_engine
from core.config import EngineConfig, load_config
from core.errors import InputError
from core.events import BreakerChanged, StateChanged
from core.market.sim import Simulator
from core.session import MemorySink, Session


class Hook:
    """A local webhook: answers each POST with the next status of ``plan``
    (then 200), after ``delay`` seconds; keeps the bodies."""

    def __init__(self, plan: list[int] | None = None, delay: float = 0.0) -> None:
        self.bodies: list[dict] = []  # type: ignore[type-arg]
        self.plan = list(plan or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                status = hook.plan.pop(0) if hook.plan else 200
                hook.bodies.append({"status": status, "type": self.headers["Content-Type"],
                                    **json.loads(body)})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rows(db: Path) -> list[tuple]:  # type: ignore[type-arg]
    return sqlite3.connect(db).execute(
        "select kind, channel, target, delivered, attempts, error, seq, text from alerts order by id").fetchall()


def test_a_halt_and_a_trip_reach_the_webhook_after_a_retry_and_are_recorded(tmp_path: Path) -> None:
    hook = Hook(plan=[500])  # the first attempt fails: retried
    db = tmp_path / "a.db"
    sim = Simulator(seed=3)
    sink = MemorySink()
    alerter = Alerter(AlertSettings(hook.url, timeout_s=2.0, retries=2, backoff_s=0.01, desktop=False), db, "s-1")
    s = Session(build_engine(EngineConfig(), sim.spec), sim, AlertingSink(sink, alerter), "s-1",
                speed=None, max_events=3_000)
    alerter.start()
    try:
        s.submit("halt", reason="alert me")
        s.run()
        alerter.notice(9_999, [BreakerChanged(1, "", "drawdown", "ARMED", "TRIPPED", 0.2, 0.1, "dd 20%")])
        alerter.close()
    finally:
        hook.close()
    assert sink.rows  # the inner sink got every event
    assert [b["kind"] for b in hook.bodies] == ["halt", "halt", "trip"]  # the halt's first attempt got a 500
    assert [b["status"] for b in hook.bodies] == [500, 200, 200]
    first = hook.bodies[1]
    assert first["type"] == "application/json" and first["session"] == "s-1"
    assert first["text"] == "STATE ACTIVE -> HALTED: alert me"
    logged = [seq for seq, e in sink.rows if isinstance(e, StateChanged)]
    assert first["seq"] == logged[0]
    got = rows(db)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in got] == [
        ("halt", "webhook", hook.url, 1, 2, ""), ("trip", "webhook", hook.url, 1, 1, "")]
    assert got[1][6] == 9_999 and "drawdown tripped" in got[1][7]


def test_an_unreachable_or_slow_webhook_is_recorded_as_not_delivered_and_never_blocks_the_engine(
        tmp_path: Path) -> None:
    hook = Hook(delay=1.0)  # slower than the timeout
    db = tmp_path / "b.db"
    slow = Alerter(AlertSettings(hook.url, timeout_s=0.2, retries=1, backoff_s=0.0, desktop=False), db, "s-2")
    dead = Alerter(AlertSettings("http://127.0.0.1:9/", timeout_s=0.5, retries=2, backoff_s=0.0,
                                 desktop=False, repeat_after_s=0.0), db, "s-3")
    for a in (slow, dead):
        a.start()
    ev = [StateChanged(1, "", "ACTIVE", "HALTED", "test", 1)]
    t0 = time.perf_counter()
    slow.notice(1, ev)
    for _ in range(50):
        dead.notice(1, ev)
    assert time.perf_counter() - t0 < 0.05  # queued, not delivered, on the engine's thread
    dead.close(timeout=120.0)  # returns when delivered: generous for a loaded machine
    slow.close(timeout=120.0)
    hook.close()
    got = rows(db)
    by = {r[2]: r for r in got}
    assert sum(r[2] == "http://127.0.0.1:9/" for r in got) == 50
    assert by["http://127.0.0.1:9/"][3:5] == (0, 3) and by["http://127.0.0.1:9/"][5]
    assert by[hook.url][3:5] == (0, 2) and "timed out" in by[hook.url][5]


def test_a_full_queue_drops_and_says_so(tmp_path: Path) -> None:
    a = Alerter(AlertSettings("", on=("state",), desktop=False, repeat_after_s=0.0), tmp_path / "c.db", "s-4")
    for _ in range(1_005):
        a.notice(1, [StateChanged(1, "", "ACTIVE", "HALTED", "x", 1)])
    assert a.dropped == 5
    a.start()
    a.close(timeout=120.0)  # 1,001 rows recorded: generous for a loaded machine (returns when done)
    got = rows(tmp_path / "c.db")
    assert got[0][:2] == ("dropped", "queue") and "5 alert(s) dropped" in got[0][7]
    assert len(got) == 1_001 and got[1][5] == "no webhook configured"


def test_alerts_config_is_read_beside_the_engine_config_and_checked(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[alerts]\nwebhook = "http://127.0.0.1:1/x"\nretries = 1\non = ["trip"]\n')
    assert load_config(p) == EngineConfig()  # the engine ignores the table
    assert load_alerts(p) == AlertSettings("http://127.0.0.1:1/x", 5.0, 1, 0.5, ("trip",))
    assert load_alerts(None) is None
    for bad, why in (('webhook = "ftp://x"', "http"), ("retries = 99", "retries"), ("timeout_s = 0", "timeout_s"),
                     ('on = ["nope"]', "on must"), ("colour = 1", "unknown key colour")):
        p.write_text(f"[alerts]\n{bad}\n")
        with pytest.raises(InputError, match=why):
            load_alerts(p)


def test_a_detached_engine_alerts_on_a_halt_from_the_cli(rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    from tests.test_control import cli, detach

    hook = Hook()
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(f'[alerts]\nwebhook = "{hook.url}"\non = ["state"]\n')
    db = tmp_path / "d.db"
    try:
        sid = detach(db, "--seed", "2", "--speed", "50", "--config", str(cfg))
        r = cli("halt", sid, "--reason", "page me")
        assert r.returncode == 0, r.stderr
        seq = int(r.stdout.split("seq ")[1].split()[0])
        assert cli("stop", sid).returncode == 0
    finally:
        hook.close()
    assert [(b["kind"], b["seq"], b["session"]) for b in hook.bodies] == [("halt", seq + 1, sid)]
    assert [(r[0], r[3], r[6]) for r in rows(db) if r[1] == "webhook"] == [("halt", 1, seq + 1)]


def test_alerters_opening_a_fresh_database_at_once_all_get_their_tables(tmp_path: Path) -> None:
    """Several alerters (the engine's, attached consoles') may open a new
    database together: none may fail on "database is locked" (the switch to
    WAL does not wait) or on a column another one has just added. Before the
    retry, 4 threads x 40 fresh files failed 18 times."""
    from console import alert_store

    errors: list[str] = []
    for k in range(25):
        db = tmp_path / f"a{k}.db"
        start = threading.Barrier(4)

        def open_it() -> None:
            start.wait()
            try:
                alert_store.connect(db).close()
            except sqlite3.Error as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cols = {r[1] for r in sqlite3.connect(db).execute("pragma table_info(alerts)")}
        assert {"alert_id", "severity"} <= cols
    assert errors == []
