"""The engine as a background process that outlives its terminal.

``start_detached`` (the CLI side) launches ``python -m console.service`` in a
session of its own (setsid: no controlling terminal, so closing the terminal
sends it nothing), stdin from /dev/null, stdout and stderr appended to
``<db>.engine.log``. The options travel pickled over a pipe; the engine says
"ready" (or why it could not start) over another, then the CLI returns.

The engine process (``serve``) builds the session exactly as the headless and
attached paths do (console.setup_run), opens its control socket
(console.control), describes itself in the run dir, and runs the session on
its main thread. SIGTERM, SIGINT or a ``stop`` request stop it cleanly: the
log is closed clean, the socket and description removed. A SIGKILL leaves the
description behind, so ``console ps`` shows the engine dead with the command
that resumes it.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import InputError

READY_TIMEOUT_S = 300.0  # a resume replays the whole log before it is ready


def log_path(db: Path) -> Path:
    return Path(str(db) + ".engine.log")


def start_detached(kind: str, options: dict[str, Any], timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Start an engine in the background; return its ready message
    (session, pid, db, socket, fixups). Raises InputError with the engine's
    one-line reason if it could not start."""
    db = Path(os.path.abspath(options["db"]))
    options = {**options, "keep_alive": True, "db": str(db)}
    for key in ("data", "config_path"):  # the engine runs in "/": paths the caller gave are from its cwd
        v = options.get(key)
        if isinstance(v, str) and v and not os.path.isabs(v) and os.path.exists(v):
            options[key] = os.path.abspath(v)
    spec_r, spec_w = os.pipe()
    ready_r, ready_w = os.pipe()
    try:
        log = open(log_path(db), "ab")
    except OSError as exc:
        raise InputError(f"cannot open the engine log beside the database: {exc}") from None
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.service", "--spec-fd", str(spec_r), "--ready-fd", str(ready_w)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(spec_r, ready_w),
            start_new_session=True, close_fds=True, env=env, cwd="/")
    finally:
        log.close()
        os.close(spec_r)
        os.close(ready_w)
    with os.fdopen(spec_w, "wb") as f:
        pickle.dump((kind, options), f)
    data = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(ready_r, "rb") as f:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([f], [], [], 0.5)
            if ready:
                chunk = os.read(f.fileno(), 65536)
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
    if not data:
        if proc.poll() is None:
            proc.kill()
            raise InputError(f"the engine did not start within {timeout:.0f} s (see {log_path(db)})")
        raise InputError(f"the engine exited before it was ready (exit {proc.returncode}; see {log_path(db)})")
    msg = json.loads(data.decode().splitlines()[0])
    if not msg.get("ok"):
        proc.wait(10)
        raise InputError(str(msg.get("error")))
    return dict(msg)


def serve(kind: str, options: dict[str, Any], ready_fd: int | None) -> int:
    """The engine process: returns its exit code."""
    from console.alert_config import load_alerts
    from console.webhooks import Alerter, AlertingSink
    from console.escalation import (
        Escalator, FeedWatch, HaltedOpenWatch, HeartbeatWatch, Watch, socket_command, socket_halt,
    )
    from console.control import ControlServer, run_dir
    from console.setup_run import prepare, resume

    def ready(msg: dict[str, Any]) -> None:
        if ready_fd is not None:
            try:
                os.write(ready_fd, json.dumps(msg).encode() + b"\n")
                os.close(ready_fd)
            except OSError:
                pass

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"{stamp}Z engine pid {os.getpid()} starting ({kind})", flush=True)
    try:
        prep = resume(**options) if kind == "resume" else prepare(**options)
    except InputError as exc:
        ready({"ok": False, "error": str(exc)})
        print(f"error: {exc}", flush=True)
        return 2
    except Exception as exc:
        ready({"ok": False, "error": f"could not start the session: {exc!r}"})
        raise
    session = prep.session
    sid = session.session_id
    db = Path(prep.db_path).resolve()
    alerter = None
    mode = _mode(options, prep.source_name)
    try:
        rdir = run_dir(db)
        settings = load_alerts(options.get("config_path")) if kind != "resume" else _inherited_alerts(rdir, sid)
    except InputError as exc:
        prep.writer.close(clean=True)
        ready({"ok": False, "error": str(exc)})
        return 2
    try:
        sock = rdir / f"{sid}.sock"
        info = {"session": sid, "pid": os.getpid(), "db": str(db), "mode": mode, "socket": str(sock),
                "started": time.time(), "source": prep.source_name, "log": str(log_path(db))}
        server = ControlServer(session, sock, info)
    except (InputError, OSError) as exc:
        prep.writer.close(clean=True)
        ready({"ok": False, "error": f"cannot open the control socket: {exc}"})
        return 2
    watch = None
    if settings is not None:
        # the description is 0600: ps alerts with these when it finds this engine dead, a resume takes them over
        info = {**info, "alerts": settings.to_json()}
        alerter = Alerter(settings, db, sid)
        alerter.bell = server.broadcast_alert
        escalator = Escalator(alerter, db, sid, socket_halt(sock))
        alerter.on_issued = escalator.track
        server.on_ack = escalator.ack
        session.sink = AlertingSink(session.sink, alerter)
        alerter.start()
        for note in prep.fixups:  # a venue reconciliation that halted the start happened before the alerter
            if note.startswith("reconciliation with") and "venue" in settings.on:
                alerter.put("venue", f"VENUE {note}", session.engine.seq)
        server.heartbeat_after_s = settings.heartbeat_after_s
        send = socket_command(sock)  # the dead-man rules' commands: logged inputs, like any client's
        watch = Watch(escalator.tick, FeedWatch(session, alerter).tick,
                      HaltedOpenWatch(session, alerter, send).tick,
                      HeartbeatWatch(session, alerter, server.pulse, send).tick, alerter.flush_folded)
    desc = rdir / f"{sid}.json"
    tmp = desc.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, desc)
    session.on_publish = server.publish
    server.start()
    if watch is not None:
        watch.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: session.stop())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ready({"ok": True, "session": sid, "pid": os.getpid(), "db": str(db), "socket": str(sock), "mode": mode,
           "fixups": list(prep.fixups), "log": str(log_path(db))})
    print(f"session {sid} running; socket {sock}", flush=True)
    try:
        session.run()
    finally:
        prep.writer.close(clean=not session.error)
        if watch is not None:
            watch.stop()
        if alerter is not None:
            alert_unclean(alerter, mode, session.error, session.latest.seq, session.latest.market_ts)
            alerter.close()
        server.close()
        try:
            desc.unlink()
        except OSError:
            pass
        snap = session.latest
        print(f"session {sid} stopped at seq {snap.seq}, state {snap.trading_state}"
              f"{', error: ' + session.error if session.error else ''}", flush=True)
    return 1 if session.error else 0


def alert_unclean(alerter: Any, mode: str, error: str, seq: int, ts: int) -> bool:
    """The session ended on an error (its log is closed unclean): ``unclean``, or ``venue`` in a venue
    mode, where the venue (a lost connection, refused keys) is mostly why. Whether one was raised."""
    if not error:
        return False
    venue = mode in ("venue", "paper-live")
    return bool(alerter.put("venue" if venue else "unclean",
                            f"{'VENUE connection lost or refused; ' if venue else ''}engine stopped unclean: {error}",
                            seq, ts, key="venue:stopped" if venue else "unclean"))


def _inherited_alerts(rdir: Path, sid: str) -> Any:
    """A resumed engine's alerts: those of the engine it resumes, from the description that engine left
    when it died (a resume after a clean stop has none: its config comes from the log)."""
    from console.alert_dead import settings_of

    desc = rdir / f"{sid}.json"
    return settings_of(desc) if desc.exists() else None


def _mode(options: dict[str, Any], source_name: str) -> str:
    venue = options.get("venue")
    if venue is not None:
        return str(getattr(venue, "mode", "venue"))
    if source_name.startswith("file:") or options.get("data"):
        return "file"
    if source_name.startswith("venue") or "live" in source_name:
        return "venue"
    return "sim"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="console.service")
    ap.add_argument("--spec-fd", type=int, required=True)
    ap.add_argument("--ready-fd", type=int, default=None)
    args = ap.parse_args(argv)
    with os.fdopen(args.spec_fd, "rb") as f:
        kind, options = pickle.load(f)
    return serve(kind, options, args.ready_fd)


if __name__ == "__main__":
    sys.exit(main())
