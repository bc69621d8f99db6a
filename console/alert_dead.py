"""An engine that died cannot say so: whoever finds it dead says it for it.

``console ps``, ``console attach`` and the commands from any shell find an
engine dead when its description is still in the run dir but its process is
gone (SIGKILL, the OOM killer, a crash): its session was never closed (the
log's lock file is left behind, and ``clean_close`` is 0). If that engine had
``[alerts]`` (kept in its 0600 description), an ``engine_dead`` alert is
raised once per engine (the database says whether it was), and delivered to
the webhook, desktop and command hook by a short background process, so
``console ps`` never waits on a slow webhook. There is no escalation of it:
the process that would escalate is the one that died.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console import alert_store
from console.alert_config import AlertSettings


def settings_of(desc: Path) -> AlertSettings | None:
    try:
        raw = json.loads(desc.read_text())
        alerts = raw.get("alerts")
        return AlertSettings.from_json(alerts) if isinstance(alerts, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _closed_clean(db: str, sid: str) -> bool:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
        try:
            row = con.execute("select clean_close from sessions where id = ?", (sid,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def report_dead(entry: Any, wait: bool = False) -> int | None:
    """Raise ``engine_dead`` for a dead engine's entry (console.control.EngineEntry) once; the alert's
    id when raised now, else None. Delivery runs in the background (``wait``: in the foreground)."""
    s = settings_of(entry.path)
    if s is None or not s.wants("engine_dead") or _closed_clean(entry.db, entry.session):
        return None
    from console.control import resume_hint
    from storage.lock import lock_path

    lock = lock_path(entry.db, entry.session)
    stale = f"; its lock {lock} is stale" if lock.exists() else ""
    alert = {"session": entry.session, "seq": None, "market_ts": 0, "kind": "engine_dead",
             "key": f"engine_dead:{entry.pid}", "severity": s.severity_of("engine_dead"),
             "text": f"ENGINE of session {entry.session} (pid {entry.pid}) is dead with its session open{stale}; "
                     f"resume it: {resume_hint(entry)}",
             "at": alert_store.utc_now()}
    try:
        alert["id"] = alert_store.issue_once(entry.db, alert)
    except sqlite3.Error:
        return None  # the database is gone or locked: the next ps tries again
    if alert["id"] is None:
        return None
    job = json.dumps({"settings": s.to_json(), "alert": alert, "db": entry.db}).encode()
    if wait:
        deliver(json.loads(job))
        return int(alert["id"])
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:  # the job (the webhook URL among it) on stdin, never in argv where ps shows it
        proc = subprocess.Popen([sys.executable, "-m", "console.alert_dead"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True, env=env, cwd="/")
        assert proc.stdin is not None
        proc.stdin.write(job)
        proc.stdin.close()
    except OSError:
        pass
    return int(alert["id"])


def deliver(job: dict[str, Any]) -> None:
    from console.webhooks import Alerter

    s = AlertSettings.from_json(job["settings"])
    alert = job["alert"]
    a = Alerter(s, Path(job["db"]), alert["session"], note=lambda _t: None)
    a.start()
    a._enqueue(alert)  # already issued (it has its id): delivered as it is, not folded
    a.close(timeout=s.command_timeout_s + (s.timeout_s + s.backoff_s * 2 ** s.retries) * (s.retries + 1) + 5)


def main() -> int:
    deadline = time.monotonic() + 5
    data = b""
    while time.monotonic() < deadline:
        chunk = sys.stdin.buffer.read(65536)
        if not chunk:
            break
        data += chunk
    try:
        deliver(json.loads(data))
    except (ValueError, KeyError, TypeError):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
