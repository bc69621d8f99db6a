"""A stop signal to the full-screen console (issue 19, item 5): SIGTERM or
SIGHUP to the UI process, or SIGINT to its whole process group (the engine
child too), ends the app, restores the terminal (alternate screen and mouse
reporting off) and prints the session id. Since issue 17 the console detaches:
the engine runs on in the background and closes the session cleanly when
stopped (`console stop`). Run in a real
pseudo-terminal, as a user's shell would run it."""

from __future__ import annotations

import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _pump(fd: int, buf: bytearray, seconds: float, until: bytes | None = None) -> bool:
    """Read the terminal for ``seconds`` (or until ``until`` is seen); False at EOF."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if until is not None and until in buf:
            return True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side has closed
                return False
            if not chunk:
                return False
            buf += chunk
    return True


@pytest.mark.parametrize(("signame", "group"), [("SIGTERM", False), ("SIGHUP", False), ("SIGINT", True)],
                         ids=["SIGTERM", "SIGHUP", "SIGINT-to-the-group"])
def test_a_stop_signal_restores_the_terminal_and_closes_the_session_cleanly(
        tmp_path: Path, signame: str, group: bool) -> None:
    db = tmp_path / "ui.db"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console in the pseudo-terminal
        os.chdir(ROOT)
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "console.cli", "run", "--db", str(db),
                                  "--seed", "3", "--speed", "5"])
    buf = bytearray()
    try:
        _pump(fd, buf, 90, until=b"\x1b[?1049h")  # full screen
        assert b"\x1b[?1049h" in buf, bytes(buf[-500:])
        deadline = time.monotonic() + 60  # until the engine has logged something
        while time.monotonic() < deadline:
            _pump(fd, buf, 0.5)
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        if con.execute("select count(*) from events").fetchone()[0]:
                            break
                except sqlite3.Error:
                    pass
        mark = len(buf)
        if group:
            os.killpg(pid, signal.SIGINT)
        else:
            os.kill(pid, getattr(signal, signame))
        _pump(fd, buf, 60)
    finally:
        try:
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(fd)
    after = bytes(buf[mark:])
    assert os.waitstatus_to_exitcode(status) == 0, after[-500:]
    assert b"\x1b[?1049l" in after and b"\x1b[?1000l" in after  # out of full screen, mouse off
    text = after.decode(errors="replace")
    assert f"stopped by {signame}" in text and "Traceback" not in text
    # the console detached (issue 17: killing the UI does not kill the engine); the engine
    # runs on until stopped, and then closes its session cleanly
    with sqlite3.connect(db) as con:
        (sid,) = con.execute("select id from sessions").fetchone()
    assert f"detached from session {sid}" in text
    res = subprocess.run([sys.executable, "-m", "console.cli", "stop", sid, "--db", str(db)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    with sqlite3.connect(db) as con:
        clean, ended = con.execute("select clean_close, ended_at from sessions").fetchone()
    assert clean == 1 and ended
    engine_log = db.with_name(db.name + ".engine.log")
    assert not engine_log.exists() or "Traceback" not in engine_log.read_text()
