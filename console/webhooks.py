"""Alerts while nobody watches: what raises one, how repeats are folded, and
delivery to every sink (webhook, desktop notification, command hook, the
bell in attached consoles), each delivery recorded.

Configured in the run's TOML (``--config``), beside the engine's sections
(the engine ignores the table; it is the session edge's); console/alert_config.py
reads it. The engine never waits on an alert: ``AlertingSink`` sees the events
as the log writer does and ``Alerter.notice`` puts an alert on a bounded queue
(a full queue drops it, and says so in the table); one thread delivers them.
A sink that fails is recorded (and noted in the engine's log file) and the
next sink is tried; nothing here can stop the engine.

Rate limit: alerts are folded by key (a breaker's trip, a breaker's warning,
a halt, a state, a stale feed, a venue burst ...). The first alert of a key
goes out; another of the same key within ``repeat_after`` (default 5 min) of
the last one sent is not sent but counted, and the next one sent after the
window says how many were folded and since when. Re-sends by the escalation
are not folded.
"""

from __future__ import annotations

import collections
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console import alert_sinks, alert_store
from console.alert_config import KINDS, AlertSettings, duration, load_alerts  # noqa: F401 (re-exported)
from core.events import BreakerChanged, OrderRejected, StateChanged, VenueReport

__all__ = ["KINDS", "QUEUE_MAX", "SCHEMA", "AlertSettings", "Alerter", "AlertingSink", "alert_of", "duration",
           "load_alerts"]
QUEUE_MAX = 1000
_WATCHED = frozenset({BreakerChanged, StateChanged, OrderRejected, VenueReport})
VENUE_ALERTS = ("disconnect", "stale", "reconnect", "mismatch")  # VenueReport kinds worth a "venue" alert
SCHEMA = alert_store.DELIVERIES


def alert_of(e: object) -> tuple[str, str, str] | None:
    """(kind, key, text) if the engine event ``e`` is worth an alert."""
    if isinstance(e, BreakerChanged):
        if e.new == "TRIPPED":
            return "trip", f"trip:{e.name}", f"BREAKER {e.name} tripped: {e.reason}"
        if e.new == "WARNING":
            return "warning", f"warning:{e.name}", f"BREAKER {e.name} warning: {e.reason}"
        return None
    if isinstance(e, StateChanged):
        kind = "halt" if e.new == "HALTED" else "state"
        return kind, f"state:{e.new}", f"STATE {e.prev} -> {e.new}: {e.reason}"
    if isinstance(e, VenueReport) and e.kind in VENUE_ALERTS:
        # the venue went away, went stale, came back, or disagrees with the log at a reconciliation
        return "venue", f"venue:{e.kind}", f"VENUE {e.kind}{' ' + e.symbol if e.symbol else ''}: {e.reason}"
    return None


class Alerter:
    """Raises alerts (any thread, never blocking) and delivers them on its own thread."""

    def __init__(self, settings: AlertSettings, db: Path, session_id: str,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 note: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.db = db
        self.session_id = session_id
        self.sleep = sleep
        self.clock = clock
        self.note = note or (lambda text: print(text, flush=True))
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_MAX)
        self.dropped = 0
        self.delivered = 0
        # the bell in attached consoles: control.ControlServer.broadcast_alert (how many got it)
        self.bell: Callable[[dict[str, Any]], int] | None = None
        # each alert once issued (it has its id): the escalation tracks it
        self.on_issued: Callable[[dict[str, Any]], None] | None = None
        self.notify_send = alert_sinks.notify_send_path() if settings.desktop else None
        self._lock = threading.Lock()
        self._last_sent: dict[str, float] = {}  # key -> when its last alert went out (wall clock)
        # key -> (repeats not sent, since when, the last of them: kind, text, seq, market ts)
        self._folded: dict[str, tuple[int, str, tuple[str, str, int | None, int]]] = {}
        self._rejects: collections.deque[int] = collections.deque()  # market ms of recent venue rejects
        self._local_id = 0
        self._thread = threading.Thread(target=self._deliver_all, name="alerts", daemon=True)

    def start(self) -> None:
        if self.settings.desktop and self.notify_send is None:
            self.note("alerts: notify-send is not on PATH; no desktop notifications")
        self._thread.start()

    # ------------------------------------------------------------ raising

    def notice(self, seq_start: int, events: list[object]) -> None:
        """The engine's thread: cheap, never blocks."""
        for i, e in enumerate(events):
            if type(e) not in _WATCHED:  # most events: one set lookup
                continue
            found = alert_of(e)
            if found is not None:
                self.put(found[0], found[2], seq_start + i, int(getattr(e, "ts", 0)), key=found[1])
            elif isinstance(e, OrderRejected) and e.rule == "venue":
                self._venue_reject(seq_start + i, e)

    def _venue_reject(self, seq: int, e: OrderRejected) -> None:
        s = self.settings
        window_ms = int(s.venue_reject_window_s * 1000)
        self._rejects.append(e.ts)
        while self._rejects and self._rejects[0] < e.ts - window_ms:
            self._rejects.popleft()
        if len(self._rejects) >= s.venue_rejects:
            self._rejects.clear()
            self.put("venue", f"VENUE {s.venue_rejects} rejects within {s.venue_reject_window_s:g} s "
                              f"(market time); the last: {e.symbol} {e.reason}", seq, e.ts, key="venue:rejects")

    def put(self, kind: str, text: str, seq: int | None, ts: int = 0, key: str | None = None,
            severity: str | None = None) -> bool:
        """Raise an alert unless its kind is not wanted or it is folded into an earlier one of its key.
        Returns whether it was queued."""
        s = self.settings
        if not s.wants(kind):
            return False
        key = key or kind
        now = self.clock()
        with self._lock:
            last = self._last_sent.get(key)
            if last is not None and now - last < s.repeat_after_s:
                held = self._folded.get(key)
                n, since = (held[0], held[1]) if held is not None else (0, _utc(now))
                self._folded[key] = (n + 1, since, (kind, text, seq, ts))
                return False
            self._last_sent[key] = now
            folded = self._folded.pop(key, None)
        alert: dict[str, Any] = {"session": self.session_id, "seq": seq, "market_ts": ts, "kind": kind, "key": key,
                                 "severity": severity or s.severity_of(kind), "text": text, "at": _utc(now)}
        if folded is not None:
            alert["suppressed"], alert["suppressed_since"] = folded[:2]
        return self._enqueue(alert)

    def flush_folded(self) -> None:
        """About once a second (console.escalation.Watch): a key whose window has passed with repeats
        folded and no new alert since sends the last repeat now (``delayed``; ``suppressed`` counts the
        ones before it), so a condition that flapped and went quiet is still told, once per window."""
        now = self.clock()
        with self._lock:
            due = [k for k in self._folded if now - self._last_sent.get(k, 0.0) >= self.settings.repeat_after_s]
            items = [(k, self._folded.pop(k)) for k in due]
            for k in due:
                self._last_sent[k] = now
        for key, (n, since, (kind, text, seq, ts)) in items:
            self._enqueue({"session": self.session_id, "seq": seq, "market_ts": ts, "kind": kind, "key": key,
                           "severity": self.settings.severity_of(kind), "text": text, "at": _utc(now),
                           "suppressed": n - 1, "suppressed_since": since, "delayed": True})

    def resend(self, alert: dict[str, Any], n: int) -> bool:
        """The escalation: send an unacknowledged alert again (its ``escalation`` is ``n``)."""
        again = {k: v for k, v in alert.items() if k not in ("suppressed", "suppressed_since")}
        again.update(escalation=n, at=_utc(self.clock()))
        return self._enqueue(again)

    def _enqueue(self, alert: dict[str, Any]) -> bool:
        try:
            self.queue.put_nowait(alert)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop."""
        if not self._thread.is_alive():
            return
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # ------------------------------------------------------------ delivering

    def _deliver_all(self) -> None:
        con: sqlite3.Connection | None = None
        try:
            con = alert_store.connect(self.db)
        except sqlite3.Error as exc:
            self.note(f"alerts: cannot record deliveries in {self.db}: {exc}")
        while True:
            alert = self.queue.get()
            if alert is None:
                break
            if self.dropped:
                n, self.dropped = self.dropped, 0
                self._record(con, {**alert, "kind": "dropped", "text": f"{n} alert(s) dropped: queue full"},
                             "queue", "", False, 0, "queue full")
            new = "id" not in alert
            if new:
                alert["id"] = self._issue(con, alert)
            elif con is not None and alert.get("escalation"):
                self._db(lambda c: alert_store.escalated(c, alert["id"], alert["escalation"]), con)
            self._deliver(con, alert)
            if new and self.on_issued is not None:
                self.on_issued(alert)
        with self._lock:
            folded, self._folded = self._folded, {}
        for key, (n, since, _) in folded.items():
            self._record(con, {"session": self.session_id, "seq": None, "kind": key.split(":")[0], "at": _utc(self.clock()),
                               "text": f"{n} repeat(s) of {key} since {since} not sent"},
                         "rate-limit", key, False, 0, f"within repeat_after ({self.settings.repeat_after_s:g} s)")
        if con is not None:
            con.close()

    def _issue(self, con: sqlite3.Connection | None, alert: dict[str, Any]) -> int:
        got = self._db(lambda c: alert_store.issue(c, alert), con) if con is not None else None
        if isinstance(got, int) and got > 0:
            return got
        self._local_id -= 1  # not recorded: a negative id, acknowledged over the socket only
        return self._local_id

    def _deliver(self, con: sqlite3.Connection | None, alert: dict[str, Any]) -> None:
        s = self.settings
        sinks: list[tuple[str, str, Callable[[], tuple[bool, int, str]]]] = []
        if s.bell and self.bell is not None:
            bell = self.bell
            sinks.append(("bell", "attached consoles", lambda: _bell(bell, alert)))
        if self.notify_send is not None:
            path = self.notify_send
            sinks.append(("desktop", path, lambda: alert_sinks.notify_desktop(path, alert)))
        if s.command:
            sinks.append(("command", s.command[0], lambda: alert_sinks.run_hook(s, alert)))
        if s.webhook or not sinks:
            sinks.append(("webhook", s.webhook, lambda: alert_sinks.post_webhook(s, alert, self.sleep)))
        any_ok = False
        for channel, target, send in sinks:
            try:
                ok, attempts, error = send()
            except Exception as exc:  # a sink's bug is recorded, never the engine's problem
                ok, attempts, error = False, 1, f"{type(exc).__name__}: {exc}"
            any_ok |= ok
            if not ok and channel != "bell" and target:  # "" : nothing configured, nothing failed
                self.note(f"alerts: {channel} failed for alert {alert.get('id')} ({alert['kind']}): {error}")
            self._record(con, alert, channel, target, ok, attempts, error)
        self.delivered += any_ok

    def _record(self, con: sqlite3.Connection | None, alert: dict[str, Any], channel: str, target: str,
                ok: bool, attempts: int, error: str) -> None:
        if con is not None:
            self._db(lambda c: alert_store.record(c, alert, channel, target, ok, attempts, error), con)

    def _db(self, write: Callable[[sqlite3.Connection], Any], con: sqlite3.Connection) -> Any:
        try:
            return write(con)
        except sqlite3.Error as exc:
            self.note(f"alerts: not recorded ({exc})")
            return None


def _bell(bell: Callable[[dict[str, Any]], int], alert: dict[str, Any]) -> tuple[bool, int, str]:
    n = bell(alert)
    return n > 0, 1, "" if n else "no console attached"


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class AlertingSink:
    """The session's sink, seen by the alerter too (the engine waits on neither)."""

    def __init__(self, inner: Any, alerter: Alerter) -> None:
        self.inner = inner
        self.alerter = alerter

    def write(self, seq_start: int, events: list[object]) -> None:
        self.inner.write(seq_start, events)
        self.alerter.notice(seq_start, events)

    def flush(self) -> None:
        self.inner.flush()

    def close(self, clean: bool) -> None:
        self.inner.close(clean)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
