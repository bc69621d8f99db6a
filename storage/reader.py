"""Reading the session log: find a session, stream its events, summarise.

Every sqlite3 failure surfaces as a one-line StorageError naming the file;
an id that matches nothing (or too much) is an ``UnknownSession``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from core.errors import InputError
from core.pnl import logged_initial_cash, session_pnl
from storage.schema import StorageError, db_path, translate_errors

EventRow = tuple[int, str, int, str, str, bool]
"""``(seq, kind, ts, symbol, payload_json, is_input)``; ``ts`` in epoch ms."""

LAST: Final = "last"


class UnknownSession(InputError):
    """A session id or prefix that names no session, or more than one."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One line of ``console sessions``. ``duration_s`` is wall seconds (None
    while not closed); ``pnl`` is ``core.pnl.session_pnl``: the last risk
    snapshot's NAV minus the logged initial cash (to the last bar close, net
    of fees), in currency; ``trades`` counts fills; ``halts`` counts moves
    into HALTED."""

    id: str
    started_at: str
    ended_at: str | None
    duration_s: float | None
    events: int
    trades: int
    pnl: float
    halts: int
    clean: bool
    data_source: str | None
    seed: int | None


def resolve_session(db: Database, id_or_prefix: str) -> str:
    """The full id for an exact id, a unique prefix, or ``last`` (newest)."""
    path = db_path(db)
    with translate_errors(path):
        if id_or_prefix == LAST:
            return _newest(db, path)
        if not id_or_prefix:
            raise UnknownSession(f"unknown session '' in {path}")
        if db.table("sessions").count_where("id = ?", [id_or_prefix]):
            return id_or_prefix  # an exact id wins even if it prefixes another
        return _by_prefix(db, path, id_or_prefix)


def session_meta(db: Database, sid: str) -> dict[str, Any]:
    """The session's row; ``config`` decoded from JSON, ``clean_close`` and
    ``compiled`` as bools (``compiled`` None if unknown)."""
    path = db_path(db)
    with translate_errors(path):
        try:
            row = dict(db.table("sessions").get(sid))
        except NotFoundError:
            raise UnknownSession(f"unknown session {sid!r} in {path}") from None
    row["config"] = _decode_config(row["config"], sid, path)
    row["clean_close"] = bool(row["clean_close"])
    if row["compiled"] is not None:
        row["compiled"] = bool(row["compiled"])
    return row


def logged_setup(meta: dict[str, Any], sid: str) -> dict[str, Any]:
    """The engine setup a session logged (``session_meta``'s ``config``), or
    InputError when its log holds none (a session written by another tool,
    or a hand-edited row): what replay, resume and re-runs build from."""
    setup = meta.get("config")
    if not isinstance(setup, dict):
        raise InputError(f"session {sid}: its log holds no engine config "
                         f"({'none' if setup is None else type(setup).__name__}), so it cannot be rebuilt")
    return setup


def iter_events(db: Database, sid: str) -> EventStream:
    """Stream the session's events in seq order, one row at a time (an
    ``EventStream``: iterate it, or hand all of it to a reader with ``feed``).

    The writer commits ``sessions.last_seq`` with the rows up to it, so a log
    that ends before it has lost committed rows (a damaged file or a hand
    edit): the stream then ends with a StorageError rather than looking like
    a shorter session that replays clean."""
    path = db_path(db)
    _require_session(db, sid, path)  # checked now, not at the first next()
    with translate_errors(path):
        # read before the rows: a live writer only moves it forward
        committed = db.execute("SELECT last_seq FROM sessions WHERE id = ?", [sid]).fetchone()[0]
        cursor = db.execute(
            "SELECT seq, kind, ts, symbol, payload, input FROM events "
            "WHERE session = ? ORDER BY seq", [sid])
    return EventStream(db, cursor, path, sid, committed if isinstance(committed, int) else None)


class EventStream:
    """A session's events in seq order, from ``iter_events``.

    Iterated, it yields ``EventRow`` tuples (``close()`` ends it early).
    ``feed(consume)`` instead hands ``consume`` the cursor itself, so a
    reader that takes every row (``core.replay.verify``) pays for no Python
    layer per row; those rows hold ``input`` as stored (0 or 1), not as a
    bool. Either way a sqlite3 failure is a StorageError naming the file, and
    a stream read to its end that stops short of ``sessions.last_seq`` ends
    with one."""

    def __init__(self, db: Database, cursor: sqlite3.Cursor, path: str, sid: str, committed: int | None) -> None:
        self._db = db
        self._cursor = cursor
        self._path = path
        self._sid = sid
        self._committed = committed
        self._rows = _stream(cursor, path, sid, committed)

    def __iter__(self) -> Iterator[EventRow]:
        return self._rows

    def __next__(self) -> EventRow:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()

    def feed(self, consume: Callable[[Iterator[tuple[Any, ...]]], bool]) -> bool:
        """``consume(rows)`` over the rows not yet read, as the cursor gives
        them; returns its result, True when it read them all, which then
        checks the log reaches ``sessions.last_seq``."""
        with translate_errors(self._path):
            done = consume(self._cursor)
            if done and self._committed is not None:
                # the last integer seq, as the iterator tracks it: an index probe from the end
                # (SQLite orders every number before any text)
                row = self._db.execute(
                    "SELECT seq FROM events WHERE session = ? AND seq < '' AND typeof(seq) = 'integer' "
                    "ORDER BY seq DESC LIMIT 1", [self._sid]).fetchone()
                _check_end(self._path, self._sid, self._committed, row[0] if row is not None else 0)
        return done


def fills_by_seq(db: Database, sid: str) -> dict[int, tuple[int, str, int, float, float, float]]:
    """Typed ``fills`` rows by seq: ``(ts, symbol, order_id, qty, price, commission)``."""
    return _typed(db, sid, "fills", "ts, symbol, order_id, qty, price, commission")


def orders_by_seq(db: Database, sid: str) -> dict[int, tuple[int, str, float, float, str, int]]:
    """Typed ``orders`` rows by seq: ``(ts, symbol, qty, ref_price, origin, intent_seq)``."""
    return _typed(db, sid, "orders", "ts, symbol, qty, ref_price, origin, intent_seq")


def artifact(db: Database, sid: str, sha256: str) -> tuple[str, int, bytes]:
    """(model, version, blob) of a stored model artifact; InputError if absent."""
    path = db_path(db)
    with translate_errors(path):
        row = db.execute("SELECT model, version, blob FROM artifacts WHERE session = ? AND sha256 = ?",
                         [sid, sha256]).fetchone()
    if row is None:
        raise InputError(f"{path}: session {sid} has no model artifact {sha256[:12]}")
    return str(row[0]), int(row[1]), bytes(row[2])


def list_sessions(db: Database) -> list[SessionSummary]:
    """Every session, newest first; cost per session is a few index lookups."""
    path = db_path(db)
    with translate_errors(path):
        rows = db.execute(SUMMARY_SQL + SUMMARY_ORDER).fetchall()
    return [_summary(row) for row in rows]


def session_summary(db: Database, sid: str) -> SessionSummary:
    """The ``console sessions`` line of one session (exact id)."""
    path = db_path(db)
    with translate_errors(path):
        row = db.execute(SUMMARY_SQL + "WHERE s.id = ?", [sid]).fetchone()
    if row is None:
        raise UnknownSession(f"unknown session {sid!r} in {path}")
    return _summary(row)


# One row per session; every subquery is an index search, none scans events.
# "events" is max - min + 1: the writer refuses gaps, and both ends are one
# b-tree probe each where count(*) would walk the whole session. Without
# ANALYZE statistics SQLite picks the primary key for the kind lookups and
# walks every event of the session; INDEXED BY pins the (session, kind) index.
# NAV is decoded in Python from the last risk payload because the codec
# writes NaN/Infinity tokens that SQLite < 3.42's json_extract rejects; the
# initial cash comes from the logged config (also decoded in Python).
SUMMARY_SQL: Final = """
SELECT s.id, s.started_at, s.ended_at, s.clean_close, s.data_source, s.seed, s.config,
  (SELECT max(seq) FROM events e WHERE e.session = s.id)
    - (SELECT min(seq) FROM events e WHERE e.session = s.id) + 1 AS events,
  (SELECT count(*) FROM fills f WHERE f.session = s.id) AS trades,
  (SELECT payload FROM events e INDEXED BY events_session_kind
     WHERE e.session = s.id AND e.kind = 'risk' ORDER BY e.seq DESC LIMIT 1) AS last_risk,
  (SELECT count(*) FROM events e INDEXED BY events_session_kind
     WHERE e.session = s.id AND e.kind = 'state'
     AND CASE WHEN json_valid(e.payload) THEN json_extract(e.payload, '$.new') END
         = 'HALTED') AS halts
FROM sessions s
"""
SUMMARY_ORDER: Final = "ORDER BY s.started_at DESC, s.rowid DESC"


# ------------------------------------------------------------ internals


def _newest(db: Database, path: str) -> str:
    """The newest session that logged anything: one whose start failed (a full
    disk, Ctrl-C during start-up) has no events and is never ``last``."""
    row = db.execute("SELECT id FROM sessions AS s WHERE EXISTS (SELECT 1 FROM events AS e "
                     "WHERE e.session = s.id) ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
    if row is None:
        empty = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        if empty:
            raise UnknownSession(f"no session in {path} has logged an event "
                                 f"({empty} started but logged nothing); name one by its id")
        raise UnknownSession(f"no sessions in {path}")
    return str(row[0])


def _by_prefix(db: Database, path: str, prefix: str) -> str:
    where, args = "substr(id, 1, ?) = ?", [len(prefix), prefix]
    ids = [r["id"] for r in db.table("sessions").rows_where(where, args, select="id", limit=2)]
    if len(ids) == 1:
        return str(ids[0])
    if not ids:
        raise UnknownSession(f"unknown session {prefix!r} in {path}")
    count = db.table("sessions").count_where(where, args)
    raise UnknownSession(f"ambiguous session prefix {prefix!r} ({count} matches)")


def _require_session(db: Database, sid: str, path: str) -> None:
    with translate_errors(path):
        found = db.table("sessions").count_where("id = ?", [sid])
    if not found:
        raise UnknownSession(f"unknown session {sid!r} in {path}")


def _stream(cursor: sqlite3.Cursor, path: str, sid: str, committed: int | None) -> Generator[EventRow, None, None]:
    last = 0
    with translate_errors(path):  # corruption found mid-stream still names the file
        for seq, kind, ts, symbol, payload, is_input in cursor:
            last = seq if isinstance(seq, int) else last
            yield seq, kind, ts, symbol, payload, bool(is_input)
    if committed is not None:
        _check_end(path, sid, committed, last)


def _check_end(path: str, sid: str, committed: int, last: int) -> None:
    if last < committed:
        raise StorageError(f"{path}: session {sid}: the log ends at seq {last} but seq {committed} "
                           "was committed (rows lost: damaged file?)")


def _typed(db: Database, sid: str, table: str, columns: str) -> dict[int, Any]:
    path = db_path(db)
    _require_session(db, sid, path)
    with translate_errors(path):
        cursor = db.execute(f"SELECT seq, {columns} FROM {table} WHERE session = ? ORDER BY seq", [sid])
        return {row[0]: tuple(row[1:]) for row in cursor}


def _decode_config(text: str | None, sid: str, path: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise StorageError(f"{path}: session {sid}: config is not JSON") from None


def _summary(row: tuple[Any, ...]) -> SessionSummary:
    sid, started, ended, clean, source, seed, config, events, trades, last, halts = row
    return SessionSummary(
        id=sid, started_at=started, ended_at=ended, duration_s=_duration_s(started, ended),
        events=events or 0, trades=trades, pnl=_pnl(config, last), halts=halts,
        clean=bool(clean), data_source=source, seed=seed,
    )


def _pnl(config: str | None, last: str | None) -> float:
    try:
        setup = json.loads(config) if config else None
    except ValueError:
        setup = None  # a damaged config: the P&L is unknown (NaN), the row still lists
    engine = setup.get("engine") if isinstance(setup, dict) else None
    return session_pnl(_nav(last), logged_initial_cash(engine))


def _nav(payload: str | None) -> float | None:
    if payload is None:
        return None
    try:
        nav = json.loads(payload).get("nav")
    except (ValueError, AttributeError):
        return math.nan  # a damaged risk row: say "unknown", not zero
    return float(nav) if isinstance(nav, (int, float)) else math.nan


def _duration_s(started: str | None, ended: str | None) -> float | None:
    if not started or not ended:
        return None
    try:
        return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (ValueError, TypeError):
        return None  # hand-edited or naive/aware mix: no duration rather than a crash
