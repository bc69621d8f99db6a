"""Run the session in its own process when a UI is attached.

With the engine on a thread of the UI's process, a full-speed feed starves the
UI's event loop of the GIL: a key press took 0.5-2.5 s to reach the engine
(benchmarks/halt_latency.py). In its own process the engine has its own GIL
and, on two cores, its own core.

The child builds the session (config, source, engine, log writer) exactly as
the headless path does, runs it, and sends snapshots back at the session's
publish rate (~10 Hz). Commands go the other way to a reader thread that puts
them on the session's queue; they take effect at the next event boundary and
are logged there, as before. ``RemoteSession`` is the parent's proxy and has
the shape the app expects (session_id, latest, submit, run, stop).

No textual here: the child imports this module.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.snapshot import Snapshot

STOP = "__stop__"


def quiet_stdio(db: Any) -> None:
    """Whatever a library prints in the engine process (hmmlearn's convergence
    notes, warnings) would land on top of the console's screen, which shares
    the terminal: send fd 1 and 2 to a log beside the database instead."""
    try:
        path = Path(str(db)).with_name(Path(str(db)).name + ".engine.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except (OSError, TypeError, ValueError):
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def child_main(kind: str, options: dict[str, Any], snaps: Connection, commands: Connection) -> None:
    """Entry point of the engine process."""
    import signal

    from console.setup_run import prepare, resume

    quiet_stdio(options.get("db"))
    # the child shares the terminal's process group: a Ctrl-C or SIGINT sent to
    # the group is the UI's to handle (it stops this process through the pipe);
    # here it would raise mid-step and the log would still be closed "clean"
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    try:
        prep = resume(**options) if kind == "resume" else prepare(**options)
    except InputError as exc:
        snaps.send(("error", str(exc)))
        return
    except Exception as exc:  # not an input problem: still one line to the parent
        snaps.send(("error", f"could not start the session: {exc!r}"))
        return
    session = prep.session
    snaps.send(("ready", session.session_id, str(prep.db_path), prep.seed, prep.source_name,
                prep.fixups, session.latest))
    for name in ("SIGTERM", "SIGHUP"):  # stop at the next event boundary; the log closes cleanly
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: session.stop())
    session.on_publish = lambda snap: _send(snaps, ("snapshot", snap))
    threading.Thread(target=_read_commands, args=(session, commands), daemon=True).start()
    try:
        session.run()
    finally:
        prep.writer.close(clean=not session.error)
        _send(snaps, ("done", session.latest))


def _send(conn: Connection, message: object) -> None:
    try:
        conn.send(message)
    except (BrokenPipeError, EOFError, OSError):
        pass  # the UI is gone; the session still closes its log cleanly


def _read_commands(session: Any, commands: Connection) -> None:
    while True:
        try:
            action, arg, reason = commands.recv()
        except (EOFError, OSError):
            session.stop()  # the UI process went away
            return
        if action == STOP:
            session.stop()
            return
        session.submit(action, arg, reason)


class RemoteSession:
    """The parent's view of a session running in a child process."""

    def __init__(self, kind: str, options: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")  # a clean interpreter: no textual, no threads inherited
        self._snaps, child_snaps = ctx.Pipe(duplex=False)
        child_cmds, self._cmds = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=child_main, args=(kind, options, child_snaps, child_cmds),
                                   name="console-engine", daemon=True)
        self.process.start()
        child_snaps.close()
        child_cmds.close()
        first = self._recv()
        if first is None:
            raise InputError("the engine process exited before starting the session")
        if first[0] == "error":
            self.process.join(5)
            raise InputError(first[1])
        _, self.session_id, self.db_path, self.seed, self.source_name, self.fixups, self.latest = first
        self.error = ""
        self._lock = threading.Lock()

    def _recv(self) -> Any:
        try:
            return self._snaps.recv()
        except (EOFError, OSError):
            return None

    def submit(self, action: str, arg: str = "", reason: str = "") -> None:
        with self._lock:  # the UI thread and a quitting thread may both send
            try:
                self._cmds.send((action, arg, reason))
            except (BrokenPipeError, OSError):
                pass

    def run(self) -> None:
        """Take snapshots until the child says it is done (app worker thread)."""
        while True:
            msg = self._recv()
            if msg is None:
                self.error = self.error or "the engine process stopped unexpectedly"
                self.latest = _with_error(self.latest, self.error)
                return
            if msg[0] == "snapshot":
                self.latest = msg[1]
            elif msg[0] == "done":
                self.latest = msg[1]
                self.error = msg[1].error
                return

    def stop(self) -> None:
        self.submit(STOP)

    def join(self, timeout: float = 30.0) -> None:
        self.process.join(timeout)


def _with_error(snap: Snapshot, error: str) -> Snapshot:
    from dataclasses import replace

    return replace(snap, error=error)
