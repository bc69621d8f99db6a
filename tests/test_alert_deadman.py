"""The dead-man rules of issue 17 beside the alert escalation, on a clock the
tests advance: ``halted_open_after`` (the book HALTED with open positions that
long: alert again, or flatten) and ``heartbeat_after`` (no console attached
and no heartbeat that long: reduce or halt). Each is tested below, at and
above its limit; the commands go through the control socket, so they are
logged inputs with their who and reason."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.test_alert_escalation import drain
from tests.test_control import rundir, session_thread, wait_for  # noqa: F401  (a fixture)

from console.alert_config import AlertSettings, load_alerts
from console.control import AttachedSession, EngineEntry, request
from console.escalation import HaltedOpenWatch, HeartbeatWatch, open_positions, socket_command
from console.webhooks import Alerter
from core.errors import InputError
from core.events import Command


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Pos:
    symbol: str
    qty: float


@dataclass
class Put:
    symbol: str
    contracts: float


@dataclass
class Snap:
    trading_state: str = "HALTED"
    seq: int = 40
    market_ts: int = 7
    positions: tuple[Pos, ...] = (Pos("AAPL", 10.0), Pos("MSFT", 0.0))
    options: tuple[Put, ...] = ()


@dataclass
class FakeSession:
    finished: bool = False
    stopping: bool = False
    error: str = ""
    latest: Snap = field(default_factory=Snap)


class Sender:
    """The socket's stand-in: records each command, answers as the engine would."""

    def __init__(self, state: str = "HALTED") -> None:
        self.state = state
        self.sent: list[tuple[str, str, str, tuple[str, ...]]] = []

    def __call__(self, action: str, reason: str, via: str, applies: tuple[str, ...]) -> dict[str, Any]:
        self.sent.append((action, reason, via, applies))
        if self.state not in applies:
            return {"ok": True, "skipped": True, "state": self.state}
        return {"ok": True, "seq": 99, "state": "REDUCING"}


def alerter_of(tmp_path: Path, clock: Clock, **kw: Any) -> Alerter:
    return Alerter(AlertSettings(desktop=False, on=("trip",), **kw), tmp_path / "a.db", "s-9", clock=clock,
                   note=lambda _t: None)


# ------------------------------------------------------------ config


def test_the_rules_are_off_by_default_and_read_from_alerts(tmp_path: Path) -> None:
    assert AlertSettings().halted_open_after_s == 0 and AlertSettings().heartbeat_after_s == 0
    assert not AlertSettings(on=("trip",)).wants("dead_man")
    cfg = tmp_path / "a.toml"
    cfg.write_text('[alerts]\nhalted_open_after = "30m"\nhalted_open_action = "flatten"\n'
                   'heartbeat_after = "15m"\nheartbeat_action = "reduce"\non = ["trip"]\n')
    s = load_alerts(cfg)
    assert s is not None
    assert (s.halted_open_after_s, s.halted_open_action, s.heartbeat_after_s, s.heartbeat_action) == (
        1800.0, "flatten", 900.0, "reduce")
    assert s.wants("dead_man") and s.severity_of("dead_man") == "critical"  # said whatever `on` lists
    assert AlertSettings.from_json(s.to_json()) == s  # a resume takes them over
    cfg.write_text('[alerts]\nheartbeat_after = "15m"\n')
    s = load_alerts(cfg)
    assert s is not None and s.heartbeat_action == "halt" and s.halted_open_after_s == 0


@pytest.mark.parametrize("text, says", [
    ('halted_open_action = "sell"', 'halted_open_action must be "alert" or "flatten", got \'sell\''),
    ('heartbeat_action = "flatten"', 'heartbeat_action must be "reduce" or "halt", got \'flatten\''),
    ('heartbeat_after = "soon"', "heartbeat_after must be a duration"),
    ('halted_open_after = -5', "halted_open_after must be between 0 and 30 days"),
])
def test_a_bad_rule_is_one_line_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[alerts]\n{text}\n")
    with pytest.raises(InputError) as err:
        load_alerts(cfg)
    assert says in str(err.value) and "\n" not in str(err.value) and str(cfg) in str(err.value)


# ------------------------------------------------------------ halted_open_after


def test_open_positions_counts_positions_and_puts() -> None:
    snap = Snap(positions=(Pos("A", 0.0), Pos("B", -3.0)), options=(Put("A", 2.0), Put("C", 0.0)))
    assert open_positions(snap) == ["B", "A put"]


def test_halted_with_open_positions_flattens_once_at_the_limit(tmp_path: Path) -> None:
    clock = Clock()
    alerter = alerter_of(tmp_path, clock, halted_open_after_s=1800, halted_open_action="flatten")
    session, send, notes = FakeSession(), Sender("HALTED"), []  # type: ignore[var-annotated]
    w = HaltedOpenWatch(session, alerter, send, clock=clock, note=notes.append)
    w.tick()  # the stretch begins
    clock.t += 1799  # below the limit
    w.tick()
    assert send.sent == [] and drain(alerter) == []
    clock.t += 1  # at the limit
    w.tick()
    assert len(send.sent) == 1
    action, reason, via, applies = send.sent[0]
    assert (action, via, applies) == ("flatten", "dead-man switch", ("HALTED",))
    assert reason.startswith("dead-man switch (halted_open_after 30 min): the book stayed HALTED with "
                             "1 open position(s) (AAPL) for 30 min")
    got = drain(alerter)
    assert [(a["kind"], a["key"], a["severity"]) for a in got] == [("dead_man", "dead_man:halted_open", "critical")]
    assert got[0]["text"].endswith("; flattened the book at seq 99") and got[0]["seq"] == 40
    assert notes == ["alerts: dead-man halted_open_after: the book stayed HALTED with 1 open position(s) (AAPL) "
                     "for 30 min; flattened the book at seq 99"]
    for _ in range(5):  # above the limit, same stretch: once
        clock.t += 3600
        w.tick()
    assert len(send.sent) == 1 and drain(alerter) == []
    session.latest = Snap(trading_state="REDUCING")  # the flatten took the book out of HALTED: the stretch ends
    w.tick()
    session.latest = Snap()  # halted again with a position: a new stretch, a new limit
    clock.t += 10
    w.tick()
    clock.t += 1799
    w.tick()
    assert len(send.sent) == 1
    clock.t += 1
    w.tick()
    assert len(send.sent) == 2


def test_halted_open_alert_only_and_what_does_not_count(tmp_path: Path) -> None:
    clock = Clock()
    alerter = alerter_of(tmp_path, clock, halted_open_after_s=60, repeat_after_s=0)
    session = FakeSession(latest=Snap(positions=(Pos("AAPL", 0.0),)))  # halted, nothing open
    send = Sender()
    w = HaltedOpenWatch(session, alerter, send, clock=clock, note=lambda _t: None)
    for _ in range(5):
        clock.t += 100
        w.tick()
    assert drain(alerter) == []
    session.latest = Snap(trading_state="REDUCING")  # open, but not halted
    for _ in range(5):
        clock.t += 100
        w.tick()
    assert drain(alerter) == []
    session.latest = Snap(positions=(), options=(Put("SPY", 1.0),))  # a put held counts
    w.tick()
    clock.t += 59
    w.tick()
    assert drain(alerter) == []
    clock.t += 1
    w.tick()
    clock.t += 500
    w.tick()
    got = drain(alerter)
    assert len(got) == 1 and got[0]["kind"] == "dead_man"
    assert "HALTED with 1 open position(s) (SPY put) for 1 min; nobody has flattened or resumed it" in got[0]["text"]
    assert send.sent == []  # "alert": no command
    session.latest = Snap()
    session.finished = True  # a finished session: no market to act in
    clock.t += 10_000
    w.tick()
    assert drain(alerter) == []


# ------------------------------------------------------------ heartbeat_after


class Pulse:
    def __init__(self) -> None:
        self.attached, self.beats, self.who = 0, 0, ""

    def __call__(self) -> tuple[int, int, str]:
        return self.attached, self.beats, self.who


def test_no_console_and_no_heartbeat_halts_once_per_silence(tmp_path: Path) -> None:
    clock = Clock()
    alerter = alerter_of(tmp_path, clock, heartbeat_after_s=900, repeat_after_s=0)
    session, pulse, send, notes = FakeSession(), Pulse(), Sender("ACTIVE"), []  # type: ignore[var-annotated]
    w = HeartbeatWatch(session, alerter, pulse, send, clock=clock, note=notes.append)
    clock.t += 899  # below: the silence counts from the engine's start
    w.tick()
    assert send.sent == [] and drain(alerter) == []
    clock.t += 1  # at the limit
    w.tick()
    assert [(a, v, ap) for a, _r, v, ap in send.sent] == [("halt", "dead-man switch", ("ACTIVE", "REDUCING"))]
    assert send.sent[0][1] == ("dead-man switch (heartbeat_after 15 min): no console attached and no heartbeat "
                               "for 15 min")
    got = drain(alerter)
    assert [(a["kind"], a["key"]) for a in got] == [("dead_man", "dead_man:heartbeat")]
    assert got[0]["text"] == "DEAD-MAN no console attached and no heartbeat for 15 min; halted the book at seq 99"
    assert notes[-1].startswith("alerts: dead-man heartbeat_after: no console attached and no heartbeat for 15 min")
    for _ in range(10):  # above: once per silence, not every tick
        clock.t += 600
        w.tick()
    assert len(send.sent) == 1 and drain(alerter) == []
    pulse.beats, pulse.who = 1, "cron (peer uid 1 pid 2)"  # a heartbeat ends the silence
    w.tick()
    assert "a heartbeat from cron (peer uid 1 pid 2) after " in notes[-1] and "armed again" in notes[-1]
    clock.t += 899
    w.tick()
    assert len(send.sent) == 1
    clock.t += 1
    w.tick()
    assert len(send.sent) == 2  # a new silence, a new halt


def test_an_attached_console_is_a_heartbeat_and_reduce_never_lifts_a_halt(tmp_path: Path) -> None:
    clock = Clock()
    alerter = alerter_of(tmp_path, clock, heartbeat_after_s=60, heartbeat_action="reduce", repeat_after_s=0)
    session, pulse, send = FakeSession(), Pulse(), Sender("HALTED")
    w = HeartbeatWatch(session, alerter, pulse, send, clock=clock, note=lambda _t: None)
    pulse.attached = 1
    for _ in range(20):  # attached: however long
        clock.t += 600
        w.tick()
    assert send.sent == []
    pulse.attached = 0  # detached: the silence starts now
    clock.t += 59
    w.tick()
    assert send.sent == []
    clock.t += 1
    w.tick()
    assert send.sent[0][0] == "reduce" and send.sent[0][3] == ("ACTIVE",)
    got = drain(alerter)
    assert got[0]["text"].endswith("; the book is HALTED; no reduce sent")
    session.error = "boom"
    pulse.beats = 1
    w.tick()
    clock.t += 1000
    w.tick()
    assert len(send.sent) == 1  # stopped on an error: nothing to act on


def test_a_send_that_fails_is_said_not_raised(tmp_path: Path) -> None:
    clock = Clock()
    alerter = alerter_of(tmp_path, clock, heartbeat_after_s=10)

    def broken(*_a: Any) -> dict[str, Any]:
        raise ConnectionRefusedError("no socket")

    w = HeartbeatWatch(FakeSession(), alerter, Pulse(), broken, clock=clock, note=lambda _t: None)
    clock.t += 10
    w.tick()
    assert drain(alerter)[0]["text"].endswith("; could not halt: ConnectionRefusedError: no socket")


# ------------------------------------------------------------ through the socket


def test_heartbeats_and_consoles_reach_the_watch_and_its_halt_is_a_logged_command(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    rundir.mkdir(parents=True)
    sock = rundir / "hb.sock"
    s, server, t = session_thread(sock)
    try:
        clock = Clock()
        alerter = alerter_of(tmp_path, clock, heartbeat_after_s=300, heartbeat_action="reduce")
        server.heartbeat_after_s = 300.0
        w = HeartbeatWatch(s, alerter, server.pulse, socket_command(sock), clock=clock, note=lambda _t: None)
        reply = request(sock, {"op": "heartbeat", "who": "cron"})
        assert reply == {"ok": True, "session": "sess-1", "heartbeats": 1, "attached": 0, "heartbeat_after_s": 300.0}
        assert request(sock, {"op": "heartbeat", "who": 5})["ok"] is False
        assert server.pulse()[1:] == (1, f"cron {server.pulse()[2].split(' ', 1)[1]}")
        assert " (peer uid " in server.pulse()[2]
        clock.t += 299
        w.tick()  # the heartbeat counts: a new silence from here
        clock.t += 299
        w.tick()
        entry = EngineEntry("sess-1", 0, "mem", str(sock), "sim", 0.0, tmp_path / "x.json")
        console = AttachedSession(entry, read_only=True)
        reader = threading.Thread(target=console.run, daemon=True)
        reader.start()
        wait_for(lambda: server.pulse()[0] == 1)
        clock.t += 10_000
        w.tick()  # a console attached: no silence
        console.stop()
        wait_for(lambda: server.pulse()[0] == 0)
        w.tick()
        clock.t += 300
        w.tick()
        assert w.replies[0]["ok"] and w.replies[0]["state"] == "REDUCING"
        cmds = [(seq, e) for seq, e in s.sink.rows if isinstance(e, Command)]  # type: ignore[attr-defined]
        assert [seq for seq, _ in cmds] == [w.replies[0]["seq"]]
        c = cmds[0][1]
        assert c.action == "reduce" and " via dead-man switch (peer uid " in c.who
        assert c.reason == "dead-man switch (heartbeat_after 5 min): no console attached and no heartbeat for 5 min"
        flatten = socket_command(sock)("flatten", "dead-man switch (halted_open_after 1 min): x", "dead-man switch",
                                       ("HALTED",))
        assert flatten == {"ok": True, "skipped": True, "state": "REDUCING"}  # only while still HALTED
    finally:
        s.stop()
        t.join(10)


def test_a_book_left_halted_with_positions_is_flattened_through_the_socket(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    rundir.mkdir(parents=True)
    sock = rundir / "ho.sock"
    s, server, t = session_thread(sock)
    try:
        wait_for(lambda: bool(open_positions(s.latest)), timeout=60)
        assert request(sock, {"op": "command", "action": "halt", "reason": "news", "who": "alice"})["ok"]
        wait_for(lambda: s.latest.trading_state == "HALTED")
        clock = Clock()
        alerter = alerter_of(tmp_path, clock, halted_open_after_s=120, halted_open_action="flatten")
        w = HaltedOpenWatch(s, alerter, socket_command(sock), clock=clock, note=lambda _t: None)
        w.tick()
        clock.t += 119
        w.tick()
        assert w.replies == []
        clock.t += 1
        w.tick()
        assert w.replies[0]["ok"] and w.replies[0]["state"] == "REDUCING"
        cmds = [e for _seq, e in s.sink.rows if isinstance(e, Command)]  # type: ignore[attr-defined]
        assert [c.action for c in cmds] == ["halt", "flatten"]
        assert " via dead-man switch (peer uid " in cmds[1].who
        assert cmds[1].reason.startswith("dead-man switch (halted_open_after 2 min): the book stayed HALTED with ")
        got = drain(alerter)
        assert len(got) == 1 and got[0]["text"].endswith(f"flattened the book at seq {w.replies[0]['seq']}")
    finally:
        s.stop()
        t.join(10)
