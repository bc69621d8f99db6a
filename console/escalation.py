"""In the engine's process, beside the session (never inside the engine): the
escalation of unacknowledged alerts, the dead-man switch, and the wall-clock
watch on the feed.

Escalation (``escalate_after``, off by default): an alert of severity
``escalate_severity`` (default critical) or above that nobody acknowledged
(``console ack ID``, or ``A`` in an attached console) is sent again every
``escalate_after``, at most ``escalate_max`` times.

Dead-man switch (``dead_man_halt_after``, off by default): when such an alert
stays unacknowledged that long, the book is halted. The halt is a command
sent over the engine's control socket like any other client's
(console.control), so it enters the engine as a logged ``command`` input with
its who ("dead-man switch") and reason; the wall clock decides when it is
sent, never anything inside the engine. If the book is already HALTED, no
command is sent.

Dead-man rules on the book and on signs of life (both off by default; each
fires once per stretch, says so in the engine's log and as a ``dead_man``
alert, and acts through the control socket like the dead-man halt above, as a
logged ``command`` whose who ends ``via dead-man switch`` and whose reason
names the rule):

- ``halted_open_after``: the book has stayed HALTED with open positions (or
  puts) that long. ``halted_open_action = "alert"`` raises the alert again;
  ``"flatten"`` sends ``flatten`` (the engine moves to REDUCING and closes
  every position). Sent only while the book is still HALTED.
- ``heartbeat_after``: no console has been attached and no ``heartbeat``
  request has come (``console heartbeat ID``, or ``{"op": "heartbeat"}``
  from a script) that long, counted from the engine's start.
  ``heartbeat_action = "halt"`` (default) or ``"reduce"``; never sent when
  the book is already in that state or tighter (a reduce never lifts a halt).
  A console that attaches or a heartbeat starts a new silence.

Neither fires once the session has finished, is stopping, or stopped on an
error. The watches read the wall clock (tests pass one they advance); the
engine only ever sees the command.

Stale feed (``stale_feed_after``, default 5 min): no input has reached the
engine for that long of wall time while the session is not finished (a venue
that stopped sending bars, a stalled poll); the engine's own stale_data
breaker runs on market time and cannot see a feed that sends nothing. An
alert when it goes quiet, and one (info) when inputs come back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console import alert_store
from console.webhooks import Alerter


@dataclass
class _Open:
    alert: dict[str, Any]
    first: float
    last: float
    sent_again: int = 0
    halted: bool = False


def _span(seconds: float) -> str:
    return f"{round(seconds / 60, 1):g} min" if seconds >= 60 else f"{seconds:.0f} s"


class Escalator:
    """Tracks the alerts that escalate until they are acknowledged. ``tick`` is called about once a
    second (``Watch``); tests call it with a clock they advance."""

    def __init__(self, alerter: Alerter, db: Path, session_id: str,
                 halt: Callable[[str, str], dict[str, Any]] | None,
                 clock: Callable[[], float] = time.time, note: Callable[[str], None] | None = None) -> None:
        self.alerter = alerter
        self.settings = alerter.settings
        self.db = db
        self.session_id = session_id
        self.halt = halt  # (reason, who) -> the engine's reply; control.request over the socket
        self.clock = clock
        self.note = note or (lambda text: print(text, flush=True))
        self.open: dict[int, _Open] = {}
        self.halts: list[dict[str, Any]] = []  # the dead-man halts sent, with the engine's replies
        self._lock = threading.Lock()

    def track(self, alert: dict[str, Any]) -> None:
        """Alerter.on_issued: an alert that escalates is watched until acknowledged."""
        if self.settings.escalates(str(alert.get("severity", ""))):
            now = self.clock()
            with self._lock:
                self.open[int(alert["id"])] = _Open(alert, now, now)

    def ack(self, ids: list[int] | None, who: str, via: str = "control socket") -> list[int]:
        """Acknowledge alerts of this session (None: every open one). Logged in ``alert_acks``
        (who, when); returns the ids that were open."""
        acked: list[int] = []
        try:
            acked = alert_store.acknowledge(self.db, self.session_id,
                                            None if ids is None else [i for i in ids if i > 0], who, via)
        except sqlite3.Error as exc:
            self.note(f"alerts: acknowledgement not recorded ({exc}); applied in memory")
        with self._lock:
            local = list(self.open) if ids is None else [i for i in ids if i in self.open]
            for i in local:
                self.open.pop(i, None)
        return sorted(set(acked) | set(local))

    def tick(self) -> None:
        s = self.settings
        self._sync_acks()
        now = self.clock()
        with self._lock:
            due = list(self.open.items())
        for alert_id, o in due:
            if s.escalate_after_s > 0 and o.sent_again < s.escalate_max and now - o.last >= s.escalate_after_s:
                o.sent_again += 1
                o.last = now
                self.note(f"alerts: alert {alert_id} not acknowledged after {_span(now - o.first)}; "
                          f"sent again ({o.sent_again}/{s.escalate_max})")
                self.alerter.resend(o.alert, o.sent_again)
            if s.dead_man_halt_after_s > 0 and not o.halted and now - o.first >= s.dead_man_halt_after_s:
                o.halted = True
                self._dead_man(alert_id, o)

    def _sync_acks(self) -> None:
        """Alerts acknowledged in the database (``console ack`` when the socket did not answer)."""
        with self._lock:
            ids = [i for i in self.open if i > 0]
        if not ids:
            return
        try:
            con = alert_store.connect(self.db, create=False)
            try:
                marks = ",".join("?" * len(ids))
                done = [r[0] for r in con.execute(
                    f"select id from alert_issued where id in ({marks}) and acked_at is not null", ids)]
            finally:
                con.close()
        except sqlite3.Error:
            return
        with self._lock:
            for i in done:
                self.open.pop(i, None)

    def _dead_man(self, alert_id: int, o: _Open) -> None:
        if self.halt is None:
            return
        reason = (f"dead-man switch: alert {alert_id} ({o.alert['kind']}: {o.alert['text'][:200]}) "
                  f"not acknowledged in {_span(self.settings.dead_man_halt_after_s)}")
        try:
            reply = self.halt(reason, "dead-man switch")
        except Exception as exc:  # the socket, the engine stopping: noted, never fatal
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        self.halts.append(reply)
        if reply.get("skipped"):
            self.note(f"alerts: dead-man switch for alert {alert_id}: the book is already halted")
        elif reply.get("ok"):
            self.note(f"alerts: dead-man switch halted the book at seq {reply.get('seq')} (alert {alert_id})")
        else:
            self.note(f"alerts: dead-man switch could not halt (alert {alert_id}): {reply.get('error')}")


class FeedWatch:
    """No input for ``stale_feed_after`` of wall time while the session runs: an alert."""

    def __init__(self, session: Any, alerter: Alerter, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.alerter = alerter
        self.after_s = alerter.settings.stale_feed_after_s
        self.clock = clock
        self._inputs = -1
        self._since = clock()
        self.stale = False

    def tick(self) -> None:
        if self.after_s <= 0:
            return
        now = self.clock()
        s = self.session
        inputs = int(s.inputs)
        if inputs != self._inputs or s.finished or s.stopping or s.error:
            if self.stale and inputs != self._inputs:
                self.alerter.put("stale_feed", f"FEED inputs again after {_span(now - self._since)} without any",
                                 s.latest.seq, s.latest.market_ts, key="stale_feed:back", severity="info")
            self.stale = False
            self._inputs, self._since = inputs, now
            return
        if not self.stale and now - self._since >= self.after_s:
            self.stale = True
            snap = s.latest
            self.alerter.put("stale_feed", f"FEED no input for {_span(now - self._since)} "
                                           f"(last at seq {snap.seq}, source {getattr(s, 'source_name', '')})",
                             snap.seq, snap.market_ts, key="stale_feed")


def open_positions(snap: Any) -> list[str]:
    """The symbols with a position (or a put) open in a snapshot."""
    held = [p.symbol for p in snap.positions if p.qty != 0]
    held += [f"{o.symbol} put" for o in getattr(snap, "options", ()) if o.contracts != 0]
    return held


def _idle(session: Any) -> bool:
    """No market to act in: the session finished, is stopping, or stopped on an error."""
    return bool(session.finished or session.stopping or session.error)


# (action, reason, who's via, the states it applies in) -> the engine's reply
Send = Callable[[str, str, str, tuple[str, ...]], dict[str, Any]]


def _said(action: str, reply: dict[str, Any]) -> str:
    """What a dead-man rule's command came to, for the engine's log and the alert."""
    past = {"halt": "halted the book", "reduce": "set the book reduce-only", "flatten": "flattened the book"}
    if reply.get("skipped"):
        return f"the book is {reply.get('state')}; no {action} sent"
    if reply.get("ok"):
        return f"{past.get(action, action)} at seq {reply.get('seq')}"
    return f"could not {action}: {reply.get('error')}"


class HaltedOpenWatch:
    """``halted_open_after``: the book HALTED with open positions that long, once per stretch: an alert,
    or a ``flatten`` sent over the socket (``send``)."""

    RULE = "halted_open_after"

    def __init__(self, session: Any, alerter: Alerter, send: Send | None,
                 clock: Callable[[], float] = time.monotonic, note: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.alerter = alerter
        self.after_s = alerter.settings.halted_open_after_s
        self.action = alerter.settings.halted_open_action
        self.send = send
        self.clock = clock
        self.note = note or (lambda text: print(text, flush=True))
        self._since: float | None = None  # when the current stretch began
        self.fired = False
        self.replies: list[dict[str, Any]] = []

    def tick(self) -> None:
        if self.after_s <= 0:
            return
        s = self.session
        snap = s.latest
        held = open_positions(snap) if snap.trading_state == "HALTED" and not _idle(s) else []
        now = self.clock()
        if not held:
            self._since, self.fired = None, False
            return
        if self._since is None:
            self._since = now
        if self.fired or now - self._since < self.after_s:
            return
        self.fired = True
        what = (f"the book stayed HALTED with {len(held)} open position(s) ({', '.join(held[:8])}"
                f"{', ...' if len(held) > 8 else ''}) for {_span(now - self._since)}")
        if self.action == "flatten":
            reason = f"dead-man switch ({self.RULE} {_span(self.after_s)}): {what}"
            reply = _call(self.send, "flatten", reason, ("HALTED",))
            self.replies.append(reply)
            done = _said("flatten", reply)
        else:
            done = "nobody has flattened or resumed it"
        self.note(f"alerts: dead-man {self.RULE}: {what}; {done}")
        self.alerter.put("dead_man", f"DEAD-MAN {what}; {done}", snap.seq, snap.market_ts,
                         key="dead_man:halted_open")


class HeartbeatWatch:
    """``heartbeat_after``: no console attached and no heartbeat that long: ``reduce`` or ``halt`` sent
    over the socket, once per silence. ``pulse`` is ControlServer.pulse: (consoles attached,
    heartbeats received, who sent the last)."""

    RULE = "heartbeat_after"
    APPLIES = {"halt": ("ACTIVE", "REDUCING"), "reduce": ("ACTIVE",)}

    def __init__(self, session: Any, alerter: Alerter, pulse: Callable[[], tuple[int, int, str]],
                 send: Send | None, clock: Callable[[], float] = time.monotonic,
                 note: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.alerter = alerter
        self.after_s = alerter.settings.heartbeat_after_s
        self.action = alerter.settings.heartbeat_action
        self.pulse = pulse
        self.send = send
        self.clock = clock
        self.note = note or (lambda text: print(text, flush=True))
        self._since = clock()  # the engine's start counts as a sign of life
        self._beats = pulse()[1]
        self.fired = False
        self.replies: list[dict[str, Any]] = []

    def tick(self) -> None:
        if self.after_s <= 0:
            return
        now = self.clock()
        attached, beats, who = self.pulse()
        if attached or beats != self._beats:
            if self.fired:
                sign = f"{attached} console(s) attached" if attached else f"a heartbeat from {who}"
                self.note(f"alerts: dead-man {self.RULE}: {sign} after {_span(now - self._since)} of silence; "
                          "the rule is armed again")
            self._since, self._beats, self.fired = now, beats, False
            return
        if self.fired or _idle(self.session) or now - self._since < self.after_s:
            return
        self.fired = True
        silent = now - self._since
        reason = (f"dead-man switch ({self.RULE} {_span(self.after_s)}): no console attached and no heartbeat "
                  f"for {_span(silent)}")
        reply = _call(self.send, self.action, reason, self.APPLIES[self.action])
        self.replies.append(reply)
        done = _said(self.action, reply)
        snap = self.session.latest
        self.note(f"alerts: dead-man {self.RULE}: no console attached and no heartbeat for {_span(silent)}; {done}")
        self.alerter.put("dead_man", f"DEAD-MAN no console attached and no heartbeat for {_span(silent)}; {done}",
                         snap.seq, snap.market_ts, key="dead_man:heartbeat")


def _call(send: Send | None, action: str, reason: str, applies: tuple[str, ...]) -> dict[str, Any]:
    if send is None:
        return {"ok": False, "error": "no control socket"}
    try:
        return send(action, reason, "dead-man switch", applies)
    except Exception as exc:  # the socket, the engine stopping: noted, never fatal
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def socket_command(sock: Path) -> Send:
    """A dead-man rule's command: a client of the control socket, so the command is a logged input with
    its who (``via``) and reason. Skipped (``skipped``) unless the book is in one of ``applies``."""
    from console.control import request, who_am_i

    def send(action: str, reason: str, via: str, applies: tuple[str, ...]) -> dict[str, Any]:
        status = request(sock, {"op": "status"}, 10.0)
        if status.get("state") not in applies:
            return {"ok": True, "skipped": True, "state": status.get("state")}
        return request(sock, {"op": "command", "action": action, "reason": reason, "who": who_am_i(via)}, 60.0)

    return send


def socket_halt(sock: Path) -> Callable[[str, str], dict[str, Any]]:
    """The dead-man switch's halt: a client of the control socket. Skipped (``skipped``) when the
    book is already HALTED."""
    from console.control import request, who_am_i

    def halt(reason: str, via: str) -> dict[str, Any]:
        status = request(sock, {"op": "status"}, 10.0)
        if status.get("state") == "HALTED":
            return {"ok": True, "skipped": True, "state": "HALTED"}
        return request(sock, {"op": "command", "action": "halt", "reason": reason, "who": who_am_i(via)}, 60.0)

    return halt


class Watch:
    """One thread: the escalation, the feed watch and the dead-man rules, about once a second."""

    def __init__(self, *ticks: Callable[[], None], every_s: float = 1.0,
                 note: Callable[[str], None] | None = None) -> None:
        self.ticks = ticks
        self.every_s = every_s
        self.note = note or (lambda text: print(text, flush=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for tick in self.ticks:
                try:
                    tick()
                except Exception as exc:  # never the engine's problem
                    self.note(f"alerts: watch error {exc!r}")
