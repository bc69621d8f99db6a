"""The engine outlives its terminal (issue 17): the control socket, commands
from any shell, ``run --detach``, ``ps``, ``attach`` and a SIGKILLed
background engine resumed.

Engines started here run in the background against a database under
``tmp_path`` and a short run dir of their own (a Unix socket path has a
length limit); every one is killed at teardown whatever the test did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from console.control import (
    ControlServer, NoEngine, entries, find, request, send_command, snapshot_from_dict, snapshot_to_dict,
)
from core.build import build_engine
from core.codec import from_row, to_row
from core.config import EngineConfig
from core.events import Command
from core.market.sim import Simulator
from core.session import MemorySink, Session
from tests.conftest import FlushSink

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rundir(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    d = Path(tempfile.mkdtemp(prefix="c17", dir="/tmp")) / "run"
    monkeypatch.setenv("CONSOLE_RUNTIME_DIR", str(d))
    yield d
    for e in entries():
        try:
            os.kill(e.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    shutil.rmtree(d.parent, ignore_errors=True)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONSOLE_PURE_PYTHON": "1"}
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def detach(db: Path, *extra: str) -> str:
    r = cli("run", "--detach", "--db", str(db), *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def wait_for(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def pid_gone(pid: int) -> bool:
    """Dead, every thread of it (this machine's init may never reap it)."""
    from console.control import _not_zombie

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return not _not_zombie(pid)


# ------------------------------------------------------------ in process


def session_thread(sock: Path, **kw: object) -> tuple[Session, ControlServer, threading.Thread]:
    sim = Simulator(seed=2)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, FlushSink(), "sess-1", speed=200.0,
                keep_alive=True, **kw)  # type: ignore[arg-type]
    server = ControlServer(s, sock, {"session": "sess-1", "db": "mem", "mode": "sim"},
                           note=lambda text: notes.append(text))
    notes: list[str] = []
    server.notes = notes  # type: ignore[attr-defined]
    s.on_publish = server.publish
    server.start()

    def run() -> None:
        try:
            s.run()
        finally:
            server.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return s, server, t


def raw(sock: Path, data: bytes) -> list[dict]:  # type: ignore[type-arg]
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(str(sock))
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        with c.makefile("rb") as f:
            return [json.loads(line) for line in f]


def test_socket_is_0600_in_a_0700_dir_and_a_command_is_logged_with_who(rundir: Path) -> None:
    rundir.mkdir(parents=True, mode=0o755)  # too open: the engine's side tightens it
    from console.control import run_dir

    assert run_dir() == rundir and stat.S_IMODE(rundir.stat().st_mode) == 0o700
    sock = rundir / "s.sock"
    s, server, t = session_thread(sock)
    try:
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600 and os.stat(sock).st_uid == os.getuid()
        reply = request(sock, {"op": "command", "action": "halt", "reason": "test", "who": "pytest"})
        assert reply["ok"] and reply["state"] == "HALTED"
        assert s.sink.durable >= reply["seq"] + 1  # type: ignore[attr-defined]  # the halt and its state change
        rows = [(seq, e) for seq, e in s.sink.rows if isinstance(e, Command)]  # type: ignore[attr-defined]
        assert [seq for seq, _ in rows] == [reply["seq"]]
        who = rows[0][1].who
        assert who.startswith("pytest (peer uid ") and f"pid {os.getpid()}" in who
        refused = request(sock, {"op": "command", "action": "resume", "reason": "r"})
        assert refused["ok"] is True  # no breaker tripped: resume is accepted
        bad = request(sock, {"op": "command", "action": "reset-breaker", "arg": "nope", "reason": "r"})
        assert bad["ok"] is False and "unknown breaker 'nope'" in bad["error"] and bad["seq"] > reply["seq"]
    finally:
        s.stop()
        t.join(10)
    assert not sock.exists()


def test_garbage_on_the_socket_is_refused_and_logged_and_the_engine_goes_on(rundir: Path) -> None:
    rundir.mkdir(parents=True)
    sock = rundir / "g.sock"
    s, server, t = session_thread(sock)
    try:
        replies = raw(sock, b"garbage\n\xff\xfe\n[1, 2]\n{\"op\": 3}\n{\"op\": \"launch\"}\n"
                            b"{\"op\": \"command\", \"action\": \"halt\"}\n"
                            b"{\"op\": \"command\", \"action\": \"nuke\", \"reason\": \"x\"}\n"
                            b"{\"op\": \"status\"}\n")
        assert [r["ok"] for r in replies] == [False] * 7 + [True]
        assert "not JSON" in replies[0]["error"] and "reason is required" in replies[5]["error"]
        assert "unknown action 'nuke'" in replies[6]["error"]
        long = raw(sock, b"{" + b" " * 70_000 + b"}\n")
        assert long == [{"ok": False, "error": "line longer than 65536 bytes"}]
        # a client that connects and vanishes mid-line
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(sock))
            c.sendall(b'{"op": "sta')
        assert not s.error and t.is_alive()
        wait_for(lambda: request(sock, {"op": "status"})["seq"] > 0)  # still trading
        status = request(sock, {"op": "status"})
        assert status["ok"] and status["state"] == "ACTIVE"
        # 5 bad lines, the long one and the cut one; a missing reason or an unknown action is answered, not refused
        assert server.refused == 7
        assert any("refused a message" in n and "garbage" in n for n in server.notes)  # type: ignore[attr-defined]
        assert not [e for _, e in s.sink.rows if isinstance(e, Command)]  # type: ignore[attr-defined]
    finally:
        s.stop()
        t.join(10)


def test_a_snapshot_survives_the_trip_as_json() -> None:
    sim = Simulator(seed=5)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "x", speed=None, max_events=20_000)
    s.run()
    snap = s.latest
    assert snap.positions and snap.breakers and snap.risk.stress
    back = snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(snap))))
    assert repr(back) == repr(snap)


def test_a_command_logged_before_who_existed_still_decodes() -> None:
    old = from_row("command", 5, "", '{"action": "halt", "arg": "", "reason": "r"}')
    assert old == Command(5, "", "halt", "", "r") and old.who == ""
    assert "who" not in to_row(Command(5, "", "halt", "", "r"))[3]  # same bytes as before
    assert json.loads(to_row(Command(5, "", "halt", "", "r", "me"))[3])["who"] == "me"


def test_no_engine_is_one_line_and_exit_2(rundir: Path) -> None:
    for args in (("halt", "nosuch", "--reason", "x"), ("stop", "last"), ("attach", "last"),
                 ("reset-breaker", "nosuch", "drawdown", "--reason", "x")):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = cli("halt", "nosuch", "--reason", "x", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["no_engine"] is True
    assert cli("ps").stdout.startswith("no engines")
    with pytest.raises(NoEngine):
        send_command("nosuch", "halt", "x")


# ------------------------------------------------------------ in the background


def test_detached_engine_takes_commands_from_the_cli_and_stops_cleanly(rundir: Path, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    sid = detach(db, "--seed", "4", "--speed", "200")
    e = find(sid)
    assert e.pid_alive() and os.getsid(e.pid) == e.pid  # its own session leader
    assert os.getsid(e.pid) != os.getsid(0)
    assert stat.S_IMODE(os.stat(e.socket).st_mode) == 0o600
    r = cli("halt", sid[:12], "--reason", "from a shell", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("halt took effect at seq ") and "state HALTED" in r.stdout
    seq = int(r.stdout.split("seq ")[1].split()[0])
    r = cli("reset-breaker", "last", "no_such_breaker", "--reason", "x", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "unknown breaker 'no_such_breaker'"
    r = cli("resume", sid, "--reason", "all clear", "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["ok"] and out["state"] == "ACTIVE" and out["seq"] > seq
    r = cli("halt", sid, "--reason", "x", "--db", str(tmp_path / "other.db"))
    assert r.returncode == 2  # --db narrows the search
    r = cli("stop", sid)
    assert r.returncode == 0 and "stop took effect at seq" in r.stdout, r.stderr
    wait_for(lambda: pid_gone(e.pid))
    assert not Path(e.socket).exists() and not e.path.exists()
    con = sqlite3.connect(db)
    assert con.execute("select clean_close from sessions").fetchone() == (1,)
    cmds = con.execute("select seq, json_extract(payload, '$.action'), json_extract(payload, '$.who') "
                       "from events where kind = 'command' order by seq").fetchall()
    assert [c[:2] for c in cmds[:1]] == [(seq, "halt")]
    assert [c[1] for c in cmds] == ["halt", "reset_breaker", "resume"]
    assert all(" via cli (peer uid " in c[2] for c in cmds)
    assert "refused" not in (Path(str(db) + ".engine.log")).read_text()
    assert cli("replay", sid, "--db", str(db)).returncode == 0


def test_ps_lists_running_engines_and_a_killed_one_as_dead_then_resume_brings_it_back_halted(
        rundir: Path, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    sid = detach(db, "--seed", "7", "--speed", "max")
    assert cli("halt", sid, "--reason", "before the kill").returncode == 0
    rows = json.loads(cli("ps", "--json").stdout)
    assert [(r["session"], r["status"], r["state"], r["mode"]) for r in rows] == [(sid, "running", "HALTED", "sim")]
    assert rows[0]["nav"] > 0 and rows[0]["uptime_s"] >= 0 and rows[0]["attached"] == 0
    text = cli("ps").stdout
    assert sid in text and "HALTED" in text and "NAV" in text
    pid = rows[0]["pid"]
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid))
    rows = json.loads(cli("ps", "--json").stdout)
    assert rows[0]["status"] == "dead" and rows[0]["resume"] == f"console run --detach --resume {sid} --db {db.resolve()}"
    assert "resume it: console run --detach --resume" in cli("ps").stdout
    r = cli("halt", sid, "--reason", "x")
    assert r.returncode == 2 and "is dead" in r.stderr
    assert detach(db, "--resume", sid) == sid
    rows = json.loads(cli("ps", "--json").stdout)
    assert rows[0]["status"] == "running" and rows[0]["state"] == "HALTED" and rows[0]["pid"] != pid
    assert cli("stop", sid).returncode == 0
    wait_for(lambda: pid_gone(rows[0]["pid"]))
    assert cli("replay", sid, "--db", str(db)).returncode == 0


def test_sigterm_closes_the_detached_session_cleanly(rundir: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    sid = detach(db, "--seed", "1", "--speed", "100")
    e = find(sid)
    os.kill(e.pid, signal.SIGTERM)
    wait_for(lambda: pid_gone(e.pid))
    assert sqlite3.connect(db).execute("select clean_close from sessions").fetchone() == (1,)
    assert entries() == []


def test_a_detach_that_cannot_start_says_why_in_one_line(rundir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Close\n2020-01-02,-1\n")
    r = cli("run", "--detach", "--db", str(tmp_path / "x.db"), "--data", str(bad))
    assert r.returncode == 2 and "bad.csv" in r.stderr and "Traceback" not in r.stderr
    assert entries() == []


# ------------------------------------------------------------ attach (Pilot)


@pytest.mark.asyncio
async def test_two_consoles_attach_a_read_only_one_cannot_halt_and_quit_detaches(
        rundir: Path, tmp_path: Path) -> None:
    from console.app import build_app
    from console.control import AttachedSession
    from console.quit_screen import StopOrDetachScreen

    db = tmp_path / "a.db"
    sid = detach(db, "--seed", "3", "--speed", "100")
    e = find("last")
    watcher = AttachedSession(e, read_only=True)
    operator = AttachedSession(e)
    assert watcher.session_id == operator.session_id == sid
    w_app, o_app = build_app(watcher), build_app(operator)
    async with w_app.run_test() as wp, o_app.run_test() as op:
        for _ in range(200):
            if request(Path(e.socket), {"op": "status"})["attached"] == 2:
                break
            await op.pause(0.05)
        assert request(Path(e.socket), {"op": "status"})["attached_read_only"] == 1
        await wp.press("h")
        await wp.pause(0.3)
        assert watcher.notes == ["read-only: halt not sent"]
        assert [n.message for n in w_app._notifications] == ["Read-only console: halt not sent"]
        await op.press("h")
        for _ in range(100):
            await op.pause(0.05)
            if operator.latest.trading_state == "HALTED" and watcher.latest.trading_state == "HALTED":
                break
        assert operator.latest.trading_state == watcher.latest.trading_state == "HALTED"
        await wp.press("q")  # read-only: detaches at once
        await wp.pause(0.2)
        await op.press("q")
        await op.pause(0.2)
        assert isinstance(o_app.screen, StopOrDetachScreen)
        await op.press("d")
        await op.pause(0.2)
    assert not operator.want_stop
    wait_for(lambda: request(Path(e.socket), {"op": "status"})["attached"] == 0)
    assert e.pid_alive()  # both consoles gone; the engine trades on
    con = sqlite3.connect(db)
    who = con.execute("select json_extract(payload, '$.who'), json_extract(payload, '$.reason') "
                      "from events where kind = 'command'").fetchall()
    assert len(who) == 1 and " via console attach (peer uid " in who[0][0] and who[0][1] == "operator key h"
    again = AttachedSession(find(sid))
    app = build_app(again)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause(0.2)
        await pilot.press("s")
        await pilot.pause(0.2)
    assert again.want_stop
    again.stop()
    again.stop_engine()
    assert again.engine_stopped
    wait_for(lambda: pid_gone(e.pid))
    assert con.execute("select clean_close from sessions").fetchone() == (1,)


def test_relative_db_and_config_paths_are_the_callers_not_the_background_engines(
        rundir: Path, tmp_path: Path) -> None:
    """The engine runs in "/": --db and --config given relative to the shell's
    directory must still mean files there (they were read from "/", so a
    relative --config was "not found" and a relative --db landed in "/")."""
    (tmp_path / "rel.toml").write_text("[breakers]\ndaily_loss = 0.05\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONSOLE_PURE_PYTHON": "1"}
    r = subprocess.run([sys.executable, "-m", "console.cli", "run", "--detach", "--db", "rel.db", "--config",
                        "rel.toml", "--seed", "2", "--speed", "200"],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip().splitlines()[-1]
    assert (tmp_path / "rel.db").exists() and f"db {tmp_path / 'rel.db'}" in r.stderr
    assert cli("stop", sid, "--db", str(tmp_path / "rel.db")).returncode == 0
    con = sqlite3.connect(tmp_path / "rel.db")
    cfg = json.loads(con.execute("select config from sessions").fetchone()[0])
    assert cfg["engine"]["breakers"]["daily_loss"] == 0.05


def test_one_symbol_commands_from_a_shell(rundir: Path, tmp_path: Path) -> None:
    from core.market.sim import Simulator

    db = tmp_path / "s.db"
    sid = detach(db, "--seed", "3", "--speed", "200")
    sym = Simulator(3).spec.instruments[0].symbol
    r = cli("block-symbol", sid, sym, "--reason", "news pending")
    assert r.returncode == 0 and r.stdout.startswith(f"block-symbol {sym} took effect at seq "), r.stderr
    r = cli("block-symbol", sid, sym, "--reason", "again", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == f"{sym} is blocked already"
    assert cli("unblock-symbol", sid, sym, "--reason", "cleared").returncode == 0
    r = cli("flatten-symbol", sid, "NOPE", "--reason", "x")
    assert r.returncode == 1 and "unknown symbol 'NOPE'" in r.stderr
    assert cli("stop", sid).returncode == 0
    con = sqlite3.connect(db)
    got = con.execute("select symbol, json_extract(payload, '$.blocked') from events "
                      "where kind = 'symbol_blocked' order by seq").fetchall()
    assert got == [(sym, 1), (sym, 0)]
    assert cli("replay", sid, "--db", str(db)).returncode == 0
