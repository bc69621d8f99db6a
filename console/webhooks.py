"""Alerts while nobody watches: a webhook on a breaker warning or trip, a
trading-state change, an engine that stopped on an error, or a venue that
went away, came back or disagrees with the log (``venue``).

Configured in the run's TOML (``--config``), beside the engine's sections
(the engine ignores the table; it is the session edge's)::

    [alerts]
    webhook = "https://hooks.example.com/T000/B000"   # JSON POST
    timeout_s = 5.0        # per attempt
    retries = 3            # attempts after the first, backing off 0.5 s, 1 s, 2 s ...
    on = ["trip", "warning", "state", "stopped", "venue"]

The engine never waits on an alert: ``AlertingSink`` sees the events as the
log writer does and puts an alert on a bounded queue (a full queue drops it,
and says so in the table); one thread delivers them. Every delivery is
recorded in the database's ``alerts`` table: when, what, where, delivered or
why not.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.events import BreakerChanged, StateChanged, VenueReport

KINDS = ("trip", "warning", "state", "stopped", "venue")
VENUE_ALERTS = ("disconnect", "stale", "reconnect", "mismatch")  # VenueReport kinds worth a "venue" alert
QUEUE_MAX = 1000

SCHEMA = """create table if not exists alerts (
    id integer primary key,
    session text not null,
    seq integer,
    kind text not null,
    text text not null,
    channel text not null,
    target text not null,
    at text not null,
    delivered integer not null,
    attempts integer not null,
    error text not null default ''
)"""


@dataclass(frozen=True)
class AlertSettings:
    webhook: str = ""
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    on: tuple[str, ...] = KINDS


def load_alerts(config_path: str | Path | None) -> AlertSettings | None:
    """The ``[alerts]`` table of the run's config, or None if there is none."""
    if config_path is None:
        return None
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the engine's own loader has said what is wrong with the file
    raw = data.get("alerts")
    if raw is None:
        return None
    where = f"{config_path}: [alerts]"
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a table")
    known = {"webhook", "timeout_s", "retries", "backoff_s", "on"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]}")
    hook = raw.get("webhook", "")
    if not isinstance(hook, str) or (hook and not hook.startswith(("http://", "https://"))):
        raise InputError(f"{where}.webhook must be an http(s) URL, got {hook!r}")
    timeout, retries, backoff = raw.get("timeout_s", 5.0), raw.get("retries", 3), raw.get("backoff_s", 0.5)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise InputError(f"{where}.timeout_s must be a number of seconds in (0, 60], got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise InputError(f"{where}.retries must be a whole number 0..10, got {retries!r}")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff <= 60:
        raise InputError(f"{where}.backoff_s must be a number of seconds in [0, 60], got {backoff!r}")
    on = raw.get("on", list(KINDS))
    if not isinstance(on, list) or any(k not in KINDS for k in on):
        raise InputError(f"{where}.on must list some of {', '.join(KINDS)}, got {on!r}")
    return AlertSettings(hook, float(timeout), retries, float(backoff), tuple(on))


def alert_of(seq: int, e: object) -> tuple[str, str] | None:
    """(kind, text) if ``e`` is worth an alert."""
    if isinstance(e, BreakerChanged):
        if e.new == "TRIPPED":
            return "trip", f"BREAKER {e.name} tripped: {e.reason}"
        if e.new == "WARNING":
            return "warning", f"BREAKER {e.name} warning: {e.reason}"
        return None
    if isinstance(e, StateChanged):
        return "state", f"STATE {e.prev} -> {e.new}: {e.reason}"
    if isinstance(e, VenueReport) and e.kind in VENUE_ALERTS:
        return "venue", f"VENUE {e.kind}{' ' + e.symbol if e.symbol else ''}: {e.reason}"
    return None


class Alerter:
    """Delivers alerts on its own thread and records each delivery."""

    def __init__(self, settings: AlertSettings, db: Path, session_id: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.db = db
        self.session_id = session_id
        self.sleep = sleep
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_MAX)
        self.dropped = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._deliver_all, name="alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notice(self, seq_start: int, events: list[object]) -> None:
        """The engine's thread: cheap, never blocks."""
        for i, e in enumerate(events):
            found = alert_of(seq_start + i, e)
            if found is not None and found[0] in self.settings.on:
                self.put(found[0], found[1], seq_start + i, int(getattr(e, "ts", 0)))

    def put(self, kind: str, text: str, seq: int | None, ts: int = 0) -> None:
        alert = {"session": self.session_id, "seq": seq, "market_ts": ts, "kind": kind, "text": text,
                 "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop."""
        if not self._thread.is_alive():
            return
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _deliver_all(self) -> None:
        con: sqlite3.Connection | None = None
        try:
            con = sqlite3.connect(self.db, timeout=10.0, isolation_level=None)
            con.execute(SCHEMA)
        except sqlite3.Error as exc:
            print(f"alerts: cannot record deliveries in {self.db}: {exc}", flush=True)
            con = None
        while True:
            alert = self.queue.get()
            if alert is None:
                break
            if self.dropped:
                n, self.dropped = self.dropped, 0
                self._record(con, {**alert, "kind": "dropped", "text": f"{n} alert(s) dropped: queue full"},
                             "queue", "", False, 0, "queue full")
            ok, attempts, error = self._post(alert)
            self.delivered += ok
            self._record(con, alert, "webhook", self.settings.webhook, ok, attempts, error)
        if con is not None:
            con.close()

    def _post(self, alert: dict[str, Any]) -> tuple[bool, int, str]:
        s = self.settings
        if not s.webhook:
            return False, 0, "no webhook configured"
        body = json.dumps(alert).encode()
        error = ""
        for attempt in range(1, s.retries + 2):
            req = urllib.request.Request(s.webhook, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "trading-console-alerts"})
            try:
                with urllib.request.urlopen(req, timeout=s.timeout_s) as resp:  # noqa: S310 (http(s) only)
                    if 200 <= resp.status < 300:
                        return True, attempt, ""
                    error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                error = str(getattr(exc, "reason", exc)) or type(exc).__name__
            if attempt <= s.retries:
                self.sleep(s.backoff_s * 2 ** (attempt - 1))
        return False, s.retries + 1, error

    def _record(self, con: sqlite3.Connection | None, alert: dict[str, Any], channel: str, target: str,
                ok: bool, attempts: int, error: str) -> None:
        if con is None:
            return
        try:
            con.execute("insert into alerts (session, seq, kind, text, channel, target, at, delivered, attempts,"
                        " error) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (alert["session"], alert["seq"], alert["kind"], alert["text"], channel, target,
                         alert["at"], int(ok), attempts, error))
        except sqlite3.Error as exc:
            print(f"alerts: not recorded ({exc}): {alert['text']}", flush=True)


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
