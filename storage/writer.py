"""The session's one log writer: batches event rows on its own thread.

The engine thread only appends to a deque (``write`` copies the batch and
appends it; it wakes the writer only once per ``batch_rows`` events, because a
wake-up per call made the two threads ping-pong the GIL: measured here, 12 us
per ``write`` and 15k events/s end to end, against 2.4 us and 50k). The writer thread
wakes every ``batch_seconds``, turns events into rows and commits them in one
transaction per ``batch_seconds`` or ``batch_rows``, whichever comes first.
``flush`` is the write-ahead point for orders: when it returns, every event
written so far is committed (and, with synchronous=FULL, on disk).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from sqlite_utils import Database

from core.events import Event
from core.rows import add_batches
from storage.lock import SessionLock
from storage.schema import (
    DEFAULT_BUSY_TIMEOUT_S, SCHEMA_VERSION, StorageError, now_iso, open_db,
    storage_error, write_transaction,
)

BATCH_ROWS: Final = 5_000
BATCH_SECONDS: Final = 0.05
# Events queued and not yet taken by the writer before write() waits, and how far it waits
# them down. A confirmed operator command (a halt) is committed with everything queued
# before it, so this bounds the wait for a confirmation (about 4 us an event here, plus the
# writer's buffer of at most BATCH_ROWS). It was 200,000 batches: a max-speed session over
# bars (2.5 rows a batch; one bar close of 20 names is one batch of 60+) then had ~94,000
# batches queued and a halt took 1.1 s to be confirmed, once the paper broker's orders
# stopped flushing (issue 15's notes; benchmarks/engine_logged.py --halt 5, with and
# without --max-backlog 10000000). It costs a max-speed logged session nothing measurable
# (engine_logged.py with --max-backlog 25000 against the default, alternating). Inserting
# rows ahead of their commit shortened the wait further but held SQLite's write lock
# nearly all the time at max speed, so another writer of the same file (a second
# session, the alert store) waited up to seconds (issue 15's notes): not kept.
MAX_BACKLOG: Final = 2_000
BACKLOG_RESUME: Final = 2  # write() goes on once the backlog is down to MAX_BACKLOG // this
_POLL_S: Final = 0.05  # how often a waiting flush checks the thread is alive

_META_KEYS: Final = frozenset({
    "id", "started_at", "config", "seed", "data_source", "code_version", "compiled", "speed",
})
_UPDATABLE: Final = (_META_KEYS - {"id"}) | {"ended_at", "last_seq"}

_INSERT_EVENT: Final = (
    "INSERT INTO events (session, seq, ts, kind, symbol, input, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_EVENT_COLS: Final = 6  # per row in the writer's flat buffer: seq, ts, kind, symbol, input, payload
# Events go in by multi-row INSERTs of up to _CHUNK rows (512, then 256, 128 ... 1 for the
# rest: at most ten statement shapes, all in sqlite3's statement cache), the session bound
# once as ?1. executemany steps once per row and releases and re-takes the GIL around every
# step; one statement per 512 rows does SQLite's work for them in one GIL-free step.
# Measured here: the log writer 0.49x -> 0.65x raw executemany, the logged session
# 0.27x -> 0.32x (benchmarks/run.py). 1 + 512 x 6 = 3,073 parameters: SQLite >= 3.32
# allows 32,766; older ones 999, so 128 rows there.
_CHUNK: Final = 512 if sqlite3.sqlite_version_info >= (3, 32, 0) else 128
_INSERT_EVENTS: Final = {
    k: _INSERT_EVENT.replace("(?, ?, ?, ?, ?, ?, ?)", ",".join(["(?1,?,?,?,?,?,?)"] * k))
    for k in (1 << b for b in range(_CHUNK.bit_length()))
}
_SET_LAST_SEQ: Final = "UPDATE sessions SET last_seq = ? WHERE id = ?"
_INSERT_ORDER: Final = (
    "INSERT INTO orders (session, seq, ts, symbol, qty, ref_price, origin, intent_seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FILL: Final = (
    "INSERT INTO fills (session, seq, ts, symbol, order_id, qty, price, commission) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Update:
    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields


class _Artifact:
    __slots__ = ("row",)

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row


class _Close:
    __slots__ = ("clean",)

    def __init__(self, clean: bool) -> None:
        self.clean = clean


class LogWriter:
    """Writes one session's events to the log at ``path``.

    ``session_meta`` keys: ``id`` (required), ``started_at`` (ISO; default
    now), ``config`` (dict or JSON text), ``seed``, ``data_source``,
    ``code_version``, ``compiled``, ``speed``. The session row is created
    before the constructor returns, so a bad database fails here with
    StorageError, and a session another live process is writing with
    SessionBusy (``storage.lock``). ``busy_timeout_s`` and ``batch_seconds`` are seconds.

    ``durable=True`` commits with synchronous=FULL: a flushed row survives
    power loss (measured here: 0.55 ms per write+flush, against 0.35 ms with
    NORMAL; slower disks widen the gap). ``durable=False`` uses NORMAL: still
    safe against a crashed or killed process, but a power cut may drop the
    last commits; meant for max-speed simulations."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        session_meta: dict[str, Any],
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        batch_rows: int = BATCH_ROWS,
        batch_seconds: float = BATCH_SECONDS,
        max_backlog: int = MAX_BACKLOG,
        durable: bool = True,
        resume: bool = False,
        lock: SessionLock | None = None,
    ) -> None:
        self.path = Path(path)
        self.resume = resume
        row = _session_row(session_meta)
        self.session_id: str = row["id"]
        # one writer per session: held until close(), or until this process ends
        # (a caller that read the log first, like resume, takes it earlier and passes it)
        self._lock = lock if lock is not None else SessionLock(self.path, self.session_id)
        self._worker = _Worker(self.path, self.session_id, busy_timeout_s, batch_rows,
                               batch_seconds, durable)
        # deque.append / popleft are atomic: no lock on the hot path
        self._pending: deque[object] = deque()
        self._wake = threading.Event()
        self._batch_rows, self._max_backlog = batch_rows, max_backlog
        self._unsignalled = 0  # events appended since the writer was last woken
        self._queued = 0  # events written (this thread) ...
        # ... and taken by the writer thread (self._worker.taken): the backlog is the difference
        self._error: str | None = None
        self._reported = False  # the error has reached the caller once
        self._closed = False
        self._close_lock = threading.Lock()
        self._next_seq: int | None = None
        self._ready = threading.Event()
        # daemon: a writer that is never closed must not keep the process
        # alive; whatever it had not committed is lost, as in a crash
        self._thread = threading.Thread(
            target=self._thread_main, args=(row,), name=f"log-writer-{self.session_id[:8]}",
            daemon=True,
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._closed = self._reported = True
            self._lock.release()
            raise StorageError(self._error)
        if resume:
            self._next_seq = (self._worker.committed_seq or 0) + 1

    @property
    def error(self) -> str | None:
        """The writer thread's failure as one line, or None while healthy."""
        return self._error

    @property
    def committed_seq(self) -> int | None:
        """The highest seq known committed (None before the first commit)."""
        return self._worker.committed_seq

    def write(self, seq_start: int, events: Sequence[Event]) -> None:
        """Enqueue events numbered ``seq_start``, ``seq_start + 1``, ...

        Cheap: rows are committed later on the writer thread. It waits only
        when more than ``max_backlog`` events are queued and not yet taken by
        the writer, until half of that is left (the disk cannot keep up, or
        a max-speed feed outruns it: better a slower engine than an unbounded
        queue, unlogged trading, or a halt that waits seconds to be confirmed).
        Raises StorageError once the writer has failed."""
        # the engine calls this once per input: the common case is kept to a few
        # attribute reads (log_writer.py's 200k writes, the writer idle: 0.11 s -> 0.09 s)
        if self._error is not None or self._closed:
            self._check_usable()
        expected = self._next_seq
        if seq_start != expected and (expected is not None or seq_start < 1):
            self._bad_seq(seq_start)
        batch = events if type(events) is tuple else tuple(events)  # the caller may reuse its list
        n = len(batch)
        if not n:
            return
        self._next_seq = seq_start + n
        pending = self._pending
        pending.append((seq_start, batch))
        unsignalled = self._unsignalled + n
        if unsignalled >= self._batch_rows:
            unsignalled = 0
            self._wake.set()
        self._unsignalled = unsignalled
        queued = self._queued + n
        self._queued = queued
        if queued - self._worker.taken > self._max_backlog:
            self._wait_for_backlog()

    def _bad_seq(self, seq_start: int) -> None:
        if self._next_seq is not None:
            # a gap or overlap would make the log unreplayable: a caller bug
            raise ValueError(f"seq_start {seq_start} does not follow the previous batch "
                             f"(expected {self._next_seq})")
        raise ValueError(f"seq_start must be >= 1, got {seq_start}")

    def flush(self) -> None:
        """Block until every event written so far is committed.

        Raises StorageError if the writer has failed (now or earlier)."""
        self._raise_error()
        if self._closed:
            return  # close() already flushed everything
        marker = _Flush()
        self._send(marker)
        while not marker.done.wait(_POLL_S):
            if not self._thread.is_alive():
                break
        self._raise_error()
        if not marker.done.is_set():
            raise StorageError(f"{self.path}: log writer stopped before flushing")

    def update_session(self, **fields: Any) -> None:
        """Change session columns; committed in order with the events around it."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update session field(s) {sorted(unknown)}")
        if "config" in fields:
            fields["config"] = _json_text(fields["config"])
        self._check_usable()
        self._send(_Update(fields))

    def write_artifact(self, sha256: str, model: str, version: int, blob: bytes) -> None:
        """Store a model's weights with the session (any thread). Committed in
        order with the events: queue it before the ModelActivated that names it."""
        self._check_usable()
        self._send(_Artifact((self.session_id, sha256, model, int(version), len(blob), bytes(blob))))

    def close(self, clean: bool) -> None:
        """Flush, record ``ended_at``, ``clean_close`` and ``last_seq``, stop.

        Idempotent. Raises StorageError only for a failure the caller has not
        already been given by ``write`` or ``flush``."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._send(_Close(clean))
        self._thread.join()
        self._lock.release()
        if self._error is not None and not self._reported:
            self._reported = True
            raise StorageError(self._error)

    # ------------------------------------------------------------ internals

    def _send(self, marker: object) -> None:
        self._pending.append(marker)
        self._wake.set()

    def _wait_for_backlog(self) -> None:
        self._wake.set()
        low, worker = self._max_backlog // BACKLOG_RESUME, self._worker
        while self._queued - worker.taken > low and self._thread.is_alive():
            time.sleep(0.001)
        self._raise_error()

    def _check_usable(self) -> None:
        self._raise_error()
        if self._closed:
            raise RuntimeError(f"log writer for session {self.session_id} is closed")

    def _raise_error(self) -> None:
        if self._error is not None:
            self._reported = True
            raise StorageError(self._error)

    def _thread_main(self, row: dict[str, Any]) -> None:
        worker = self._worker
        try:
            worker.open(row, self.resume)
        except Exception as exc:  # noqa: BLE001 - any failure must reach the caller
            self._error = _one_line(self.path, exc)
            return
        finally:
            self._ready.set()
        try:
            worker.run(self._pending, self._wake)
        except Exception as exc:  # noqa: BLE001 - kept for the next write/flush
            self._error = _one_line(self.path, exc)
        finally:
            worker.close()


class _Worker:
    """Lives on the writer thread: owns the connection and the pending rows."""

    def __init__(self, path: Path, sid: str, busy_timeout_s: float,
                 batch_rows: int, batch_seconds: float, durable: bool) -> None:
        self.path, self.sid, self.durable = path, sid, durable
        self.busy_timeout_s = busy_timeout_s
        self.batch_rows, self.batch_seconds = batch_rows, batch_seconds
        self.batch_cells = batch_rows * _EVENT_COLS
        self.db: Database | None = None
        self.events: list[Any] = []  # flat: _EVENT_COLS values a row, the session apart
        self.orders: list[tuple[Any, ...]] = []
        self.fills: list[tuple[Any, ...]] = []
        self.artifacts: list[tuple[Any, ...]] = []
        self.updates: dict[str, Any] = {}
        self.pending_seq: int | None = None  # highest seq in the buffers
        self.taken = 0  # events taken from the queue so far (LogWriter's backlog is written - taken)
        self.committed_seq: int | None = None
        self.last_commit = time.monotonic()

    def open(self, row: dict[str, Any], resume: bool = False) -> None:
        self.db = db = open_db(self.path, busy_timeout_s=self.busy_timeout_s)
        db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        with write_transaction(db):
            exists = db.table("sessions").count_where("id = ?", [self.sid])
            if resume:
                if not exists:
                    raise StorageError(f"{self.path}: no session {self.sid} to resume")
                # the session is open again until this writer closes it
                db.execute("UPDATE sessions SET ended_at = NULL, clean_close = 0 WHERE id = ?", [self.sid])
                last = db.execute("SELECT max(seq) FROM events WHERE session = ?", [self.sid]).fetchone()[0]
                self.committed_seq = last
                return
            if exists:
                raise StorageError(f"{self.path}: session {self.sid} already exists")
            db.table("sessions").insert(row)

    def run(self, pending: deque[object], wake: threading.Event) -> None:
        """Drain ``pending`` on every wake-up or tick until a close marker."""
        while True:
            wake.wait(self.batch_seconds)
            wake.clear()  # before draining: a later append wakes us again
            if self.drain(pending):
                return
            if time.monotonic() - self.last_commit >= self.batch_seconds:
                self.commit()

    def drain(self, pending: deque[object]) -> bool:
        """Process queued items in order; True once the close marker is done."""
        while pending:
            if type(pending[0]) is tuple:  # event batches, up to a commit's worth, in one compiled call
                cells = len(self.events)
                last = add_batches(self.sid, pending, self.batch_cells, self.events, self.orders, self.fills)
                self.taken += (len(self.events) - cells) // _EVENT_COLS
                if last >= 0:
                    self.pending_seq = last
                if len(self.events) >= self.batch_cells:
                    self.commit()
                continue
            item = pending.popleft()
            if isinstance(item, _Update):
                self.updates.update(item.fields)
            elif isinstance(item, _Artifact):
                self.artifacts.append(item.row)
            elif isinstance(item, _Flush):
                self.commit()
                item.done.set()
            elif isinstance(item, _Close):
                self.commit()
                self.finish(item.clean)
                return True
        return False

    def commit(self) -> None:
        if not (self.events or self.updates or self.artifacts):
            return
        self.last_commit = time.monotonic()
        db = self._db()
        fields = dict(self.updates)
        if self.pending_seq is not None:
            fields["last_seq"] = self.pending_seq
        with write_transaction(db):
            # the hot path: raw statements in one transaction (STYLE note 8)
            _insert_events(db.conn, self.sid, self.events)
            db.conn.executemany(_INSERT_ORDER, self.orders)
            db.conn.executemany(_INSERT_FILL, self.fills)
            if self.artifacts:
                db.conn.executemany("INSERT OR IGNORE INTO artifacts (session, sha256, model, version, "
                                    "size, blob) VALUES (?, ?, ?, ?, ?, ?)", self.artifacts)
            if fields.keys() == {"last_seq"}:  # the usual commit: one statement (sqlite-utils' update
                # looks the row up and opens a savepoint first: a third of a small commit's time)
                if db.conn.execute(_SET_LAST_SEQ, (fields["last_seq"], self.sid)).rowcount != 1:
                    raise StorageError(f"{self.path}: session {self.sid} is not in the log")
            elif fields:
                db.table("sessions").update(self.sid, fields)
        self.committed_seq = self.pending_seq
        self.events, self.orders, self.fills, self.updates = [], [], [], {}
        self.artifacts = []

    def finish(self, clean: bool) -> None:
        fields = {"ended_at": now_iso(), "clean_close": int(clean), "last_seq": self.committed_seq}
        with write_transaction(self._db()) as db:
            db.table("sessions").update(self.sid, fields)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _db(self) -> Database:
        assert self.db is not None, "writer used before open()"
        return self.db


def _insert_events(conn: sqlite3.Connection, sid: str, flat: list[Any]) -> None:
    """Insert session ``sid``'s event rows, given flat (``_EVENT_COLS`` values
    a row: seq, ts, kind, symbol, input, payload), in order: the same rows as
    ``executemany`` of ``_INSERT_EVENT`` in fewer steps. A failing row (a seq
    already logged) fails its whole statement where executemany would have
    kept the rows before it, but the caller's transaction is rolled back either way."""
    cols = _EVENT_COLS
    n, i = len(flat) // cols, 0
    execute, head = conn.execute, [sid]
    while i < n:
        left = n - i
        k = _CHUNK if left >= _CHUNK else 1 << (left.bit_length() - 1)
        execute(_INSERT_EVENTS[k], head + flat[i * cols:(i + k) * cols])
        i += k


def _session_row(meta: dict[str, Any]) -> dict[str, Any]:
    unknown = set(meta) - _META_KEYS
    if unknown:
        raise ValueError(f"unknown session_meta key(s) {sorted(unknown)}; "
                         f"expected some of {sorted(_META_KEYS)}")
    if not meta.get("id"):
        raise ValueError("session_meta needs a non-empty 'id'")
    row = dict(meta, id=str(meta["id"]), config=_json_text(meta.get("config")))
    row.setdefault("started_at", now_iso())
    if row.get("compiled") is not None:
        row["compiled"] = int(bool(row["compiled"]))
    row.update(ended_at=None, clean_close=0, schema_version=SCHEMA_VERSION, last_seq=None)
    return row


def _json_text(config: Any) -> str | None:
    if config is None or isinstance(config, str):
        return config
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _one_line(path: Path, exc: BaseException) -> str:
    if isinstance(exc, StorageError):
        return str(exc).splitlines()[0] if str(exc) else f"{path}: storage error"
    if isinstance(exc, (OSError, sqlite3.Error)):
        return str(storage_error(path, exc))
    detail = (str(exc).splitlines() or [""])[0]
    return f"{path}: log writer failed: {type(exc).__name__}: {detail}"
