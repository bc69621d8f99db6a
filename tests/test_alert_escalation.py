"""Escalation, the dead-man switch, acknowledgements, the stale-feed watch and
alerts to attached consoles (issue 17), on a clock the tests advance. The
dead-man halt goes through the control socket, so it is a logged command."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.test_control import rundir, session_thread, wait_for  # noqa: F401  (a fixture)

from console import alert_store
from console.alert_config import AlertSettings
from console.control import AttachedSession, EngineEntry, request
from console.escalation import Escalator, FeedWatch, socket_halt
from console.webhooks import Alerter
from core.events import Command


class Clock:
    def __init__(self, t: float = 2_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def issued(alerter: Alerter, kind: str, text: str = "x") -> dict[str, Any]:
    """An alert raised and issued (it has its id), as the delivery thread would hand it on."""
    alerter.put(kind, text, 1, key=f"{kind}:{text}")
    alert = alerter.queue.get_nowait()
    assert alert is not None
    con = alert_store.connect(alerter.db)
    alert["id"] = alert_store.issue(con, alert)
    con.close()
    return alert


def drain(alerter: Alerter) -> list[dict[str, Any]]:
    out = []
    while not alerter.queue.empty():
        a = alerter.queue.get_nowait()
        assert a is not None
        out.append(a)
    return out


def test_an_unacknowledged_critical_alert_is_sent_again_then_the_dead_man_halts_once(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "e.db"
    s = AlertSettings(desktop=False, escalate_after_s=600, escalate_max=2, dead_man_halt_after_s=900)
    alerter = Alerter(s, db, "s-1", clock=clock, note=lambda _t: None)
    halts: list[tuple[str, str]] = []
    notes: list[str] = []
    esc = Escalator(alerter, db, "s-1", lambda reason, who: halts.append((reason, who)) or {"ok": True, "seq": 77},
                    clock=clock, note=notes.append)
    trip = issued(alerter, "trip", "drawdown")
    info = issued(alerter, "state", "REDUCING")  # info: below escalate_severity
    acked = issued(alerter, "halt", "key h")
    for a in (trip, info, acked):
        esc.track(a)
    assert set(esc.open) == {trip["id"], acked["id"]}
    clock.t += 100
    assert esc.ack([acked["id"]], "alice@desk pid 1 via console attach") == [acked["id"]]
    clock.t += 499  # 599 s
    esc.tick()
    assert drain(alerter) == [] and halts == []
    clock.t += 1  # 600 s
    esc.tick()
    again = drain(alerter)
    assert [(a["id"], a["escalation"], a["text"]) for a in again] == [(trip["id"], 1, trip["text"])]
    clock.t += 300  # 900 s: the dead-man switch
    esc.tick()
    assert len(halts) == 1 and halts[0][1] == "dead-man switch"
    assert f"alert {trip['id']} (trip: drawdown)" in halts[0][0] and "not acknowledged in 15 min" in halts[0][0]
    clock.t += 300  # 1200 s: the second and last re-send
    esc.tick()
    clock.t += 3600
    esc.tick()
    assert [a["escalation"] for a in drain(alerter)] == [2]
    assert len(halts) == 1  # once per alert
    assert any("dead-man switch halted the book at seq 77" in n for n in notes)
    con = sqlite3.connect(db)
    assert con.execute("select alert_id, session, who, via from alert_acks").fetchall() == [
        (acked["id"], "s-1", "alice@desk pid 1 via console attach", "control socket")]
    assert con.execute("select acked_by from alert_issued where id = ?", (trip["id"],)).fetchone() == (None,)


def test_an_acknowledgement_in_the_database_stops_the_escalation_too(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "d.db"
    alerter = Alerter(AlertSettings(desktop=False, escalate_after_s=60, dead_man_halt_after_s=120), db, "s-2",
                      clock=clock)
    halts: list[str] = []
    esc = Escalator(alerter, db, "s-2", lambda r, w: halts.append(r) or {"ok": True}, clock=clock)
    a = issued(alerter, "engine_dead")
    esc.track(a)
    assert alert_store.acknowledge(db, "s-2", None, "bob", "cli (engine not running)") == [a["id"]]
    clock.t += 1000
    esc.tick()
    assert esc.open == {} and drain(alerter) == [] and halts == []
    assert alert_store.acknowledge(db, "s-2", None, "bob", "cli") == []  # nothing open is left


@dataclass
class FakeSnap:
    seq: int = 10
    market_ts: int = 5
    trading_state: str = "ACTIVE"


@dataclass
class FakeSession:
    inputs: int = 0
    finished: bool = False
    stopping: bool = False
    error: str = ""
    source_name: str = "paper-live:binance"
    latest: FakeSnap = field(default_factory=FakeSnap)


def test_a_feed_that_sends_nothing_for_stale_feed_after_raises_one_alert_and_one_when_it_is_back(
        tmp_path: Path) -> None:
    clock = Clock(50.0)
    alerter = Alerter(AlertSettings(desktop=False, stale_feed_after_s=300), tmp_path / "f.db", "s-3")
    s = FakeSession()
    w = FeedWatch(s, alerter, clock=clock)
    for _ in range(3):  # inputs flow
        s.inputs += 1
        clock.t += 30
        w.tick()
    for step in (100, 100, 99):  # then none for 299 s
        clock.t += step
        w.tick()
    assert drain(alerter) == []
    clock.t += 1  # 300 s without an input
    w.tick()
    clock.t += 60
    w.tick()
    got = drain(alerter)
    assert [(a["kind"], a["severity"], a["key"]) for a in got] == [("stale_feed", "warning", "stale_feed")]
    assert "no input for 5 min" in got[0]["text"] and "paper-live:binance" in got[0]["text"]
    s.inputs += 1
    clock.t += 1
    w.tick()
    assert [(a["kind"], a["severity"], a["key"]) for a in drain(alerter)] == [
        ("stale_feed", "info", "stale_feed:back")]
    s.finished = True  # a file that ended: no input is expected
    clock.t += 10_000
    w.tick()
    assert drain(alerter) == []


def test_an_attached_console_gets_each_alert_and_acks_over_the_socket_and_the_dead_man_halt_is_logged(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    rundir.mkdir(parents=True)
    sock = rundir / "al.sock"
    s, server, t = session_thread(sock)
    try:
        assert request(sock, {"op": "ack", "alerts": "all"}) == {
            "ok": False, "error": "this engine raises no alerts (no [alerts] in its config)"}
        db = tmp_path / "c.db"
        alerter = Alerter(AlertSettings(desktop=False), db, "sess-1")
        esc = Escalator(alerter, db, "sess-1", socket_halt(sock))
        server.on_ack = esc.ack
        alerter.bell = server.broadcast_alert
        alerter.on_issued = esc.track
        assert server.broadcast_alert({"kind": "nobody"}) == 0
        entry = EngineEntry("sess-1", os.getpid(), str(db), str(sock), "sim", time.time(), tmp_path / "x.json")
        console = AttachedSession(entry)
        got: list[dict[str, Any]] = []
        console.on_alert = got.append
        reader = threading.Thread(target=console.run, daemon=True)
        reader.start()
        wait_for(lambda: request(sock, {"op": "status"})["attached"] == 1)
        alerter.start()
        alerter.put("stale_feed", "FEED no input for 5 min", 3, key="stale_feed")
        wait_for(lambda: len(got) == 1)
        assert got[0]["kind"] == "stale_feed" and got[0]["id"] == 1 and console.alerts == got
        assert console.latest.session_id == "sess-1"  # snapshots keep coming beside the alerts
        bad = request(sock, {"op": "ack", "alerts": "one"})
        assert bad["ok"] is False and "list of alert ids" in bad["error"]
        reply = console.ack()
        assert reply == {"ok": True, "acked": [1]}
        who = sqlite3.connect(db).execute("select who, via from alert_acks").fetchone()
        assert " via console attach (peer uid " in who[0] and who[1] == "control socket"
        halt = socket_halt(sock)
        first = halt("dead-man switch: alert 9 (trip: x) not acknowledged in 15 min", "dead-man switch")
        assert first["ok"] and first["state"] == "HALTED"
        assert halt("again", "dead-man switch") == {"ok": True, "skipped": True, "state": "HALTED"}
        cmds = [(seq, e) for seq, e in s.sink.rows if isinstance(e, Command)]  # type: ignore[attr-defined]
        assert [seq for seq, _ in cmds] == [first["seq"]]
        assert cmds[0][1].action == "halt" and cmds[0][1].reason.startswith("dead-man switch: alert 9")
        assert " via dead-man switch (peer uid " in cmds[0][1].who
        console.stop()
        alerter.close()
        bell = sqlite3.connect(db).execute("select channel, target, delivered from alerts").fetchall()
        assert bell == [("bell", "attached consoles", 1)]
    finally:
        s.stop()
        t.join(10)


@pytest.mark.asyncio
async def test_k_acknowledges_in_the_console_and_an_alert_rings_and_shows(tmp_path: Path) -> None:
    from console.app import build_app
    from console.attach_alerts import wire
    from tests.test_ui_fakes import FakeSession as UISession, snapshot

    class Remote(UISession):
        def __init__(self) -> None:
            super().__init__(snapshot())
            self.on_alert = None
            self.acks: list[object] = []

        def ack(self, ids: list[int] | None = None) -> dict[str, Any]:
            self.acks.append(ids)
            return {"ok": True, "acked": [4, 5]}

    remote = Remote()
    app = build_app(remote, start_engine=False)  # type: ignore[arg-type]
    feed = wire(app, remote)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        assert remote.on_alert is not None
        remote.on_alert({"id": 4, "kind": "stale_feed", "severity": "warning", "text": "FEED no input for 5 min"})
        remote.on_alert({"id": 5, "kind": "trip", "severity": "critical", "text": "BREAKER x tripped"})
        await pilot.pause(0.5)
        assert len(bells) == 1  # the trip rings from the snapshot already; the stale feed rings here
        titles = [n.title for n in app._notifications]
        assert "Alert 4: stale_feed" in titles and "Alert 5: trip" in titles
        await pilot.press("A")
        for _ in range(40):
            await pilot.pause(0.05)
            if any("acknowledged alert(s) 4, 5" in n.message for n in app._notifications):
                break
        assert remote.acks == [None]
        assert any("acknowledged alert(s) 4, 5" in n.message for n in app._notifications)
        remote.on_alert({"id": 5, "kind": "trip", "severity": "critical", "text": "BREAKER x tripped",
                         "escalation": 1})
        await pilot.pause(0.4)
        assert len(bells) == 2  # a re-sent alert rings whatever its kind
    assert [a["id"] for a in feed.shown] == [4, 5, 5]
