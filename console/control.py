"""The control channel: a Unix socket in the engine process, JSON lines.

The engine process (console/service.py) listens on ``<run dir>/<session>.sock``
(mode 0600, in a 0700 directory; no TCP) and describes itself in
``<run dir>/<session>.json``. The run dir is ``$CONSOLE_RUNTIME_DIR``, else
the user's runtime directory (platformdirs), else ``<db>.run`` beside the
database. Consoles (``console attach``) and CLI commands (``console halt``,
``console ps``, ...) are clients; so may be any script.

Protocol: one JSON object per line each way, UTF-8. Every request has ``op``;
every reply has ``ok`` (true/false) and, when false, ``error``.

``{"op": "hello"}``
    -> ``{"ok": true, "protocol": 1, "session": ..., "pid": ..., "db": ..., "mode": ..., "started": epoch}``
``{"op": "status"}``
    -> ``{"ok": true, "session", "seq", "state", "nav", "day_pnl", "finished", "error", "uptime_s",
    "attached", "attached_read_only"}``
``{"op": "command", "action": "halt", "arg": "", "reason": "why", "who": "alice via my-script"}``
    ``action``: halt, resume, reduce, flatten, cancel_all (or cancel-all), reset_breaker (``arg``:
    the breaker's name). ``reason`` is required. The reply comes once the engine has applied the
    command at its next event boundary: ``{"ok": true, "seq": N, "state": ...}`` where N is the
    command's seq in the log, or ``{"ok": false, "seq": N, "error": "why the engine refused"}``.
``{"op": "stop", "reason": "why", "who": ...}``
    -> the session stops and closes its log; the reply, once it has: ``{"ok": true, "seq": last}``.
``{"op": "subscribe", "read_only": true}``
    -> ``{"ok": true, ...hello...}`` then ``{"snapshot": {...}}`` lines at the publish rate (about
    10 Hz) until the client closes; the snapshot is core.snapshot.Snapshot as JSON (tuples as
    arrays). An alert raised meanwhile comes as an ``{"alert": {...}}`` line (the same object the
    webhook gets); a console rings its bell on it. Send commands on another connection.
``{"op": "ack", "alerts": [17, 18] | "all", "who": ...}``
    -> acknowledges alerts of this session (stops their escalation and the dead-man switch);
    ``{"ok": true, "acked": [17, 18]}`` (the ids that were open). Refused when the engine has no
    ``[alerts]``.
``{"op": "heartbeat", "who": "cron on ops-1"}``
    -> ``{"ok": true, "session": ..., "heartbeats": N, "attached": n, "heartbeat_after_s": S}``: a sign
    of life for the dead-man rule ``[alerts] heartbeat_after`` (``S`` is 0 when it is off). Nothing
    enters the engine; an attached console counts as a heartbeat for as long as it is attached.

The engine records who sent each command: the sender's ``who`` plus what the
kernel says of the peer (uid and pid, SO_PEERCRED), in the logged Command's
``who``. A line that is not a JSON object with a known ``op`` is refused with
``ok: false`` (and noted in the engine's log); it never stops the engine.
Lines longer than 64 KiB are refused and the connection closed.
"""

from __future__ import annotations

import dataclasses
import getpass
import inspect
import json
import os
import socket
import struct
import sys
import threading
import time
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.snapshot import Snapshot

PROTOCOL = 1
MAX_LINE = 65536
ACTION_NAMES = {"halt": "halt", "resume": "resume", "reduce": "reduce", "flatten": "flatten",
                "cancel_all": "cancel_all", "cancel-all": "cancel_all",
                "reset_breaker": "reset_breaker", "reset-breaker": "reset_breaker",
                "flatten_symbol": "flatten_symbol", "flatten-symbol": "flatten_symbol",
                "block_symbol": "block_symbol", "block-symbol": "block_symbol",
                "unblock_symbol": "unblock_symbol", "unblock-symbol": "unblock_symbol",
                "set_limit": "set_limit", "set-limit": "set_limit"}
# commands on one symbol: need "symbol"; the engine session must take it (Session.submit(symbol=))
SYMBOL_ACTIONS = frozenset({"flatten_symbol", "block_symbol", "unblock_symbol"})
APP_NAME = "trading-console"
ALERT_BACKLOG = 64  # alert lines kept for a subscriber that is behind
SUN_PATH_MAX = 107  # bytes of a Unix socket path on Linux, less the NUL


class NoEngine(InputError):
    """No running engine answers for that session (exit code 2)."""


# ------------------------------------------------------------------ places


def run_dir(db: Path | None = None) -> Path:
    """Where engines put their sockets and descriptions (created 0700)."""
    env = os.environ.get("CONSOLE_RUNTIME_DIR")
    candidates: list[Path] = [Path(env)] if env else []
    if not env:
        try:
            import platformdirs

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "XDG_RUNTIME_DIR is not set, falling back to /tmp/runtime-UID"
                candidates.append(Path(platformdirs.user_runtime_dir(APP_NAME)))
        except Exception:
            pass
        if db is not None:
            candidates.append(Path(str(db) + ".run"))
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = d.stat()
            if st.st_uid != os.getuid():
                continue  # never a directory someone else owns
            if st.st_mode & 0o077:
                os.chmod(d, 0o700)
            return d
        except OSError:
            continue
    raise InputError("no usable runtime directory for the control socket "
                     "(set CONSOLE_RUNTIME_DIR to a directory you own)")


def who_am_i(via: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} pid {os.getpid()} via {via}"


# ------------------------------------------------------------ JSON <-> snapshot


def snapshot_to_dict(snap: Snapshot) -> dict[str, Any]:
    return dataclasses.asdict(snap)


_HINTS: dict[type, dict[str, Any]] = {}


def _build(tp: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _HINTS.get(tp)
        if hints is None:
            hints = _HINTS[tp] = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value})
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value))
    if tp is float:
        return float(value)
    return value


def snapshot_from_dict(d: dict[str, Any]) -> Snapshot:
    return typing.cast(Snapshot, _build(Snapshot, d))


# ------------------------------------------------------------------ client


def _connect(path: Path, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
    except OSError:
        s.close()
        raise
    return s


def request(path: Path, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request, return its reply. OSError if the engine cannot be reached."""
    with _connect(path, timeout) as s:
        s.sendall(json.dumps(message).encode() + b"\n")
        with s.makefile("rb") as f:
            line = f.readline(MAX_LINE * 64)
    if not line:
        raise ConnectionError("the engine closed the connection without a reply")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ConnectionError("the engine sent something that is not a reply")
    return reply


@dataclasses.dataclass
class EngineEntry:
    """One engine's description in the run dir."""

    session: str
    pid: int
    db: str
    socket: str
    mode: str
    started: float
    path: Path

    def pid_alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _not_zombie(self.pid)

    def status(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """The engine's status, or None if it does not answer."""
        if not self.pid_alive():
            return None
        try:
            reply = request(Path(self.socket), {"op": "status"}, timeout)
        except (OSError, ValueError):
            return None
        return reply if reply.get("ok") and reply.get("session") == self.session else None


def _not_zombie(pid: int) -> bool:
    """False once the process is a zombie with no thread left (killed, not yet
    reaped). A zombie thread-group leader whose other threads still run (the
    log writer finishing a write) is still alive."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        return not (fields[b"State"].strip().startswith(b"Z") and int(fields[b"Threads"]) <= 1)
    except (OSError, KeyError, ValueError):
        return True


def entries(db: Path | None = None) -> list[EngineEntry]:
    """Engines described in the run dir (live or dead), oldest first; only those
    of ``db`` when given."""
    d = run_dir(db)
    out = []
    want = str(Path(db).resolve()) if db is not None else None
    for p in sorted(d.glob("*.json")):
        try:
            raw = json.loads(p.read_text())
            e = EngineEntry(str(raw["session"]), int(raw["pid"]), str(raw["db"]), str(raw["socket"]),
                            str(raw.get("mode", "")), float(raw.get("started", 0.0)), p)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if want is None or e.db == want:
            out.append(e)
    return sorted(out, key=lambda e: e.started)


def find(ident: str, db: Path | None = None) -> EngineEntry:
    """The engine for a session id (a unique prefix will do) or ``last``."""
    found = entries(db)
    where = f" for {db}" if db is not None else ""
    if ident == "last":
        live = [e for e in found if e.pid_alive()]
        if not live:
            raise NoEngine(f"no running engine{where} (console ps lists them)")
        return live[-1]
    exact = [e for e in found if e.session == ident]
    match = exact or [e for e in found if e.session.startswith(ident)]
    if not match:
        raise NoEngine(f"no engine for session {ident!r}{where} (console ps lists them)")
    if len(match) > 1:
        raise NoEngine(f"{ident!r} matches {len(match)} engines: {', '.join(e.session for e in match)}")
    return match[0]


def send_command(ident: str, action: str, reason: str, arg: str = "", db: Path | None = None,
                 via: str = "cli", timeout: float = 30.0, symbol: str = "") -> dict[str, Any]:
    """Send a command and wait for the engine to apply it. Raises NoEngine when
    there is no engine to take it; returns the engine's reply otherwise.
    ``symbol``: for the one-symbol commands (flatten_symbol, block_symbol, unblock_symbol)."""
    e = find(ident, db)
    msg: dict[str, Any] = {"op": "stop", "reason": reason, "who": who_am_i(via)} if action == "stop" else \
        {"op": "command", "action": action, "arg": arg, "reason": reason, "who": who_am_i(via)}
    if symbol:
        msg["symbol"] = symbol
    if not e.pid_alive():
        from console.alert_dead import report_dead

        try:
            report_dead(e)
        except Exception:  # the command's answer (no such engine) matters more
            pass
        raise NoEngine(f"the engine of session {e.session} is dead (pid {e.pid}); "
                       f"resume it: {resume_hint(e)}")
    try:
        reply = request(Path(e.socket), msg, timeout)
    except (OSError, ValueError) as exc:
        raise NoEngine(f"the engine of session {e.session} does not answer on its socket ({exc})") from None
    reply.setdefault("session", e.session)
    return reply


def resume_hint(e: EngineEntry) -> str:
    return f"console run --detach --resume {e.session} --db {e.db}"


class AttachedSession:
    """A console's view of an engine in another process, over its socket: the
    shape the app expects (session_id, latest, submit, run, stop). ``stop``
    detaches (the engine runs on); ``stop_engine`` asks the engine to stop."""

    detachable = True

    def __init__(self, entry: EngineEntry, read_only: bool = False, via: str = "console attach",
                 timeout: float = 10.0) -> None:
        self.entry = entry
        self.read_only = read_only
        self.via = via
        self.error = ""
        self.engine_stopped = False
        self.want_stop = False  # the operator chose "stop the engine" on quit
        self.notes: list[str] = []
        self.alerts: list[dict[str, Any]] = []  # alerts the engine broadcast while attached
        self.on_alert: Callable[[dict[str, Any]], None] | None = None  # the console's bell
        self._closing = False
        try:
            self._sock = _connect(Path(entry.socket), timeout)
            self._sock.sendall(json.dumps({"op": "subscribe", "read_only": read_only}).encode() + b"\n")
            self._file = self._sock.makefile("rb")
            hello = json.loads(self._file.readline(MAX_LINE) or b"null")
            first = json.loads(self._file.readline(MAX_LINE * 64) or b"null")
        except (OSError, ValueError) as exc:
            raise NoEngine(f"cannot attach to session {entry.session}: {exc}") from None
        if not isinstance(hello, dict) or not hello.get("ok") or not isinstance(first, dict) \
                or "snapshot" not in first:
            raise NoEngine(f"cannot attach to session {entry.session}: "
                           f"{(hello or {}).get('error', 'no snapshot') if isinstance(hello, dict) else hello}")
        self._sock.settimeout(None)
        self.session_id = str(hello["session"])
        self.db_path = str(hello.get("db", entry.db))
        self.latest: Snapshot = snapshot_from_dict(first["snapshot"])

    def submit(self, action: str, arg: str = "", reason: str = "", symbol: str = "") -> None:
        if self.read_only:
            self.notes.append(f"read-only: {action} not sent")
            return
        threading.Thread(target=self._send, args=(action, arg, reason, symbol), daemon=True).start()

    def _send(self, action: str, arg: str, reason: str, symbol: str = "") -> None:
        message = {"op": "command", "action": action, "arg": arg, "reason": reason or "operator",
                   "who": who_am_i(self.via)}
        if symbol:
            message["symbol"] = symbol  # the command's Command.symbol (flatten_symbol, block_symbol)
        try:
            reply = request(Path(self.entry.socket), message, 30.0)
            if not reply.get("ok"):
                self.notes.append(f"{action}{' ' + symbol if symbol else ''} refused: {reply.get('error')}")
        except (OSError, ValueError) as exc:
            self.notes.append(f"{action} not delivered: {exc}")

    def run(self) -> None:
        """Read snapshots until the engine goes away or we detach (app worker thread)."""
        from dataclasses import replace

        while True:
            try:
                line = self._file.readline(MAX_LINE * 64)
            except (OSError, ValueError):
                line = b""
            if not line:
                if not self._closing:
                    self.error = self.error or "the engine closed the connection (stopped?)"
                    self.latest = replace(self.latest, error=self.error)
                return
            try:
                msg = json.loads(line)
                if isinstance(msg, dict) and isinstance(msg.get("alert"), dict):
                    self._alert(msg["alert"])
                    continue
                self.latest = snapshot_from_dict(msg["snapshot"])
            except (ValueError, KeyError, TypeError):
                continue

    def _alert(self, alert: dict[str, Any]) -> None:
        self.alerts.append(alert)
        del self.alerts[:-100]
        if self.on_alert is not None:
            try:
                self.on_alert(alert)
            except Exception as exc:  # the view's trouble, never the reader's
                self.notes.append(f"alert not shown: {exc!r}")

    def ack(self, ids: list[int] | None = None) -> dict[str, Any]:
        """Acknowledge alerts (None: all open ones) of this engine. The engine's reply."""
        if self.read_only:
            return {"ok": False, "error": "read-only console: acknowledge with console ack"}
        try:
            return request(Path(self.entry.socket), {"op": "ack", "alerts": "all" if ids is None else ids,
                                                     "who": who_am_i(self.via)}, 10.0)
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": f"not delivered: {exc}"}

    def stop(self) -> None:
        """Detach: close our connection; the engine runs on."""
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def stop_engine(self, reason: str = "operator quit") -> None:
        if self.read_only:
            return
        try:
            request(Path(self.entry.socket), {"op": "stop", "reason": reason, "who": who_am_i(self.via)}, 60.0)
            self.engine_stopped = True
        except (OSError, ValueError) as exc:
            self.notes.append(f"stop not delivered: {exc}")


# ------------------------------------------------------------------ server


def _peer(conn: socket.socket) -> str:
    try:
        pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
        return f"peer uid {uid} pid {pid}"
    except (OSError, AttributeError, struct.error):
        return "peer unknown"


class ControlServer:
    """Listens on the session's socket in the engine process. ``session`` is a
    core.session.Session that this server's ``on_publish`` is wired to."""

    def __init__(self, session: Any, path: Path, info: dict[str, Any],
                 note: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.path = path
        self.info = info
        self.note = note or (lambda text: print(text, file=sys.stderr, flush=True))
        self.started = time.time()
        self.refused = 0
        self._cond = threading.Condition()
        self._snap: tuple[int, Any] = (0, session.latest)  # (version, snapshot)
        self._encoded: tuple[int, bytes] = (-1, b"")
        self._subscribers: dict[int, bool] = {}  # id -> read_only
        self._pending: list[Callable[[int, str], None]] = []
        self._alerts: list[tuple[int, bytes]] = []  # (number, line) of the latest alerts, for subscribers
        self._alert_n = 0
        # ``ack`` requests: (ids or None for all, who) -> the ids acknowledged (console.escalation)
        self.on_ack: Callable[[list[int] | None, str], list[int]] | None = None
        # ``heartbeat`` requests (console.escalation.HeartbeatWatch reads them with ``pulse``)
        self.heartbeats = 0
        self.heartbeat_who = ""
        self.heartbeat_after_s = 0.0  # the rule's limit, told in the reply (0: off); set by console.service
        self._ended = threading.Event()
        self._closed = False
        self._inflight = 0
        if len(os.fsencode(str(path))) > SUN_PATH_MAX:
            raise InputError(f"socket path too long for a Unix socket: {path} "
                             "(set CONSOLE_RUNTIME_DIR to a shorter directory)")
        if path.exists() or path.is_symlink():
            path.unlink()  # a socket left by a killed engine of this session
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._listener.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._listener.listen(16)

    # -------- wiring

    def publish(self, snap: Any) -> None:
        """session.on_publish: never blocks the engine."""
        with self._cond:
            self._snap = (self._snap[0] + 1, snap)
            self._cond.notify_all()

    def broadcast_alert(self, alert: dict[str, Any]) -> int:
        """An alert to every attached console (each rings its bell); how many are attached."""
        line = json.dumps({"alert": alert}).encode() + b"\n"
        with self._cond:
            self._alert_n += 1
            self._alerts.append((self._alert_n, line))
            del self._alerts[:-ALERT_BACKLOG]
            self._cond.notify_all()
            return len(self._subscribers)

    def start(self) -> None:
        threading.Thread(target=self._accept, name="control-accept", daemon=True).start()

    def ended(self) -> None:
        """The session has stopped and its log is closed: answer whoever waits."""
        self._ended.set()
        with self._cond:
            pending, self._pending = self._pending, []
            self._closed = True
            self._cond.notify_all()
        for done in pending:
            done(-1, "the engine stopped before the command took effect")

    def close(self, grace: float = 5.0) -> None:
        """Stop listening; give the replies in flight (a stop's) ``grace`` seconds to go out."""
        self.ended()
        try:
            self._listener.close()
        except OSError:
            pass
        deadline = time.monotonic() + grace
        with self._cond:
            while self._inflight and time.monotonic() < deadline:
                self._cond.wait(0.05)
        try:
            self.path.unlink()
        except OSError:
            pass

    # -------- connections

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), name="control-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        peer = _peer(conn)
        try:
            with conn, conn.makefile("rb") as f:
                while True:
                    line = f.readline(MAX_LINE + 1)
                    if not line:
                        return
                    if len(line) > MAX_LINE:
                        self._refuse(conn, peer, f"line longer than {MAX_LINE} bytes", line[:80])
                        return
                    if not line.strip():
                        continue
                    try:
                        msg = json.loads(line)
                    except ValueError as exc:
                        self._refuse(conn, peer, f"not JSON: {exc}", line)
                        continue
                    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
                        self._refuse(conn, peer, "expected a JSON object with an \"op\"", line)
                        continue
                    if msg["op"] == "subscribe":
                        self._stream(conn, bool(msg.get("read_only", False)))
                        return
                    with self._cond:
                        self._inflight += 1
                    try:
                        _send(conn, self._handle(msg, peer, line))
                    finally:
                        with self._cond:
                            self._inflight -= 1
                            self._cond.notify_all()
        except OSError:
            return  # the client went away
        except Exception as exc:  # never the engine's problem
            self.note(f"control: connection error {exc!r}")

    def _refuse(self, conn: socket.socket, peer: str, why: str, line: bytes) -> None:
        self.refused += 1
        self.note(f"control: refused a message from {peer}: {why}: {line[:200]!r}")
        _send(conn, {"ok": False, "error": why})

    def hello(self) -> dict[str, Any]:
        return {"ok": True, "protocol": PROTOCOL, **self.info}

    def status(self) -> dict[str, Any]:
        snap = self._snap[1]
        with self._cond:
            ro = sum(self._subscribers.values())
            n = len(self._subscribers)
        return {"ok": True, "session": self.info["session"], "pid": os.getpid(), "mode": self.info.get("mode", ""),
                "seq": snap.seq, "state": snap.trading_state, "nav": snap.risk.nav, "day_pnl": snap.risk.day_pnl,
                "finished": snap.finished, "error": snap.error, "uptime_s": time.time() - self.started,
                "attached": n, "attached_read_only": ro}

    def pulse(self) -> tuple[int, int, str]:
        """(consoles attached now, heartbeats received so far, who sent the last one): the dead-man
        heartbeat rule's signs of life (console.escalation.HeartbeatWatch)."""
        with self._cond:
            return len(self._subscribers), self.heartbeats, self.heartbeat_who

    def _heartbeat(self, msg: dict[str, Any], peer: str) -> dict[str, Any]:
        who = msg.get("who", "")
        if not isinstance(who, str):
            return {"ok": False, "error": "\"who\" must be a string"}
        with self._cond:
            self.heartbeats += 1
            self.heartbeat_who = f"{who[:200]} ({peer})" if who else peer
            n, attached = self.heartbeats, len(self._subscribers)
        return {"ok": True, "session": self.info["session"], "heartbeats": n, "attached": attached,
                "heartbeat_after_s": self.heartbeat_after_s}

    def _handle(self, msg: dict[str, Any], peer: str, line: bytes) -> dict[str, Any]:
        op = msg["op"]
        if op == "hello":
            return self.hello()
        if op == "status":
            return self.status()
        if op == "ack":
            return self._ack(msg, peer)
        if op == "heartbeat":
            return self._heartbeat(msg, peer)
        if op not in ("command", "stop"):
            self.refused += 1
            self.note(f"control: refused unknown op from {peer}: {line[:200]!r}")
            return {"ok": False, "error": f"unknown op {op!r}; expected hello, status, command, stop, ack, "
                                          "heartbeat or subscribe"}
        reason, who = msg.get("reason"), msg.get("who", "")
        if not isinstance(reason, str) or not reason.strip():
            return {"ok": False, "error": "a reason is required (\"reason\": \"why\")"}
        if not isinstance(who, str):
            return {"ok": False, "error": "\"who\" must be a string"}
        who = f"{who[:200]} ({peer})" if who else peer
        if op == "stop":
            self.note(f"control: stop by {who}: {reason}")
            self.session.stop()
            self._ended.wait()
            return {"ok": True, "seq": self.session.latest.seq, "state": self.session.latest.trading_state}
        action = ACTION_NAMES.get(str(msg.get("action")))
        arg = msg.get("arg", "")
        symbol = msg.get("symbol", "")
        if action is None:
            return {"ok": False, "error": f"unknown action {msg.get('action')!r}; expected one of "
                                          "halt, resume, reduce, flatten, cancel_all, reset_breaker, "
                                          "flatten_symbol, block_symbol, unblock_symbol, set_limit"}
        if not isinstance(arg, str) or (action == "reset_breaker" and not arg):
            return {"ok": False, "error": "reset_breaker needs the breaker's name in \"arg\""}
        if action == "set_limit" and ("=" not in arg or len(arg) > 200):
            return {"ok": False, "error": "set_limit needs \"arg\": \"NAME=VALUE\""}
        if action in SYMBOL_ACTIONS:
            if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > 64:
                return {"ok": False, "error": f"{action} needs the symbol in \"symbol\""}
            if "symbol" not in inspect.signature(self.session.submit).parameters:
                return {"ok": False, "error": f"{action}: this engine has no per-symbol commands yet"}
        elif symbol:
            return {"ok": False, "error": f"{action} takes no \"symbol\" (flatten_symbol does)"}
        result: list[tuple[int, str, str]] = []
        got = threading.Event()

        def done(seq: int, refusal: str) -> None:
            # called on the engine's thread just after the command: the state it left
            # (the published snapshot may be up to a publish interval older)
            eng = getattr(self.session, "engine", None)
            state = getattr(getattr(eng, "state", None), "state", "")
            result.append((seq, refusal, state if isinstance(state, str) else ""))
            got.set()

        with self._cond:
            if self._closed:
                return {"ok": False, "error": "the engine is stopping"}
            self._pending.append(done)
        if action in SYMBOL_ACTIONS:
            self.session.submit(action, arg, reason[:500], who=who, done=done, symbol=symbol.strip())
        else:
            self.session.submit(action, arg, reason[:500], who=who, done=done)
        got.wait()
        with self._cond:
            if done in self._pending:
                self._pending.remove(done)
        seq, refusal, state = result[0]
        if refusal:
            return {"ok": False, "seq": seq, "error": refusal}
        return {"ok": True, "seq": seq, "state": state or self.session.latest.trading_state}

    def _ack(self, msg: dict[str, Any], peer: str) -> dict[str, Any]:
        which, who = msg.get("alerts", "all"), msg.get("who", "")
        if which != "all" and not (isinstance(which, list) and all(
                isinstance(i, int) and not isinstance(i, bool) for i in which)):
            return {"ok": False, "error": "\"alerts\" must be \"all\" or a list of alert ids"}
        if not isinstance(who, str):
            return {"ok": False, "error": "\"who\" must be a string"}
        if self.on_ack is None:
            return {"ok": False, "error": "this engine raises no alerts (no [alerts] in its config)"}
        who = f"{who[:200]} ({peer})" if who else peer
        acked = self.on_ack(None if which == "all" else list(which), who)
        self.note(f"control: ack by {who}: alerts {acked or 'none open'}")
        return {"ok": True, "acked": acked}

    def _stream(self, conn: socket.socket, read_only: bool) -> None:
        key = id(conn)
        with self._cond:
            self._subscribers[key] = read_only
            alert_seen = self._alert_n  # alerts raised from now on
        try:
            _send(conn, self.hello())
            seen = -1
            while True:
                with self._cond:
                    while self._snap[0] == seen and self._alert_n == alert_seen and not self._closed:
                        self._cond.wait(1.0)
                    version, snap = self._snap
                    alerts = [line for n, line in self._alerts if n > alert_seen]
                    alert_seen = self._alert_n
                    if version == seen and not alerts:  # closed, nothing new
                        return
                    if self._encoded[0] != version:
                        self._encoded = (version, b"")
                for line in alerts:
                    conn.sendall(line)
                if version != seen:
                    encoded = self._encode(version, snap)
                    seen = version
                    conn.sendall(encoded)
                if self._closed:
                    return
        finally:
            with self._cond:
                self._subscribers.pop(key, None)

    def _encode(self, version: int, snap: Any) -> bytes:
        cached = self._encoded
        if cached[0] == version and cached[1]:
            return cached[1]
        data = json.dumps({"snapshot": snapshot_to_dict(snap)}).encode() + b"\n"
        with self._cond:
            if self._encoded[0] == version:
                self._encoded = (version, data)
        return data


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")
