"""Deleting old sessions from the log and giving their space back.

A live session grows the log by every event it logs (see the README for the
rate), so a long paper run needs a way to drop what is no longer wanted:
``prune(path, keep=N)`` deletes every session but the newest ``keep``, rows
of every table, one session per transaction, then VACUUMs. A session that a
live process is writing (its lock is held, ``storage.lock``) is never
deleted. VACUUM needs the database to itself: while another process writes
to it, the space is left for SQLite to reuse and the result says so.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from storage.lock import SessionBusy, SessionLock
from storage.schema import StorageError, open_db, storage_error, write_transaction

_TABLES = ("events", "orders", "fills", "artifacts")


@dataclass
class Pruned:
    deleted: list[str] = field(default_factory=list)
    events: int = 0  # event rows deleted
    live: list[str] = field(default_factory=list)  # kept: a process is writing them
    kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    vacuumed: bool = False
    note: str = ""


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def prune(path: str | os.PathLike[str], keep: int, dry_run: bool = False) -> Pruned:
    """Delete all sessions but the newest ``keep`` (by start time)."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    p = Path(path)
    db = open_db(p, create=False)
    out = Pruned(bytes_before=_size(p))
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC")]
        out.kept = min(keep, len(ids))
        for sid in ids[keep:]:
            try:
                lock = SessionLock(p, sid)
            except SessionBusy:
                out.live.append(sid)
                continue
            try:
                n = db.execute("SELECT count(*) FROM events WHERE session = ?", [sid]).fetchone()[0]
                if not dry_run:
                    with write_transaction(db):
                        for table in _TABLES:
                            db.execute(f"DELETE FROM {table} WHERE session = ?", [sid])
                        db.execute("DELETE FROM sessions WHERE id = ?", [sid])
            finally:
                lock.release()
            out.deleted.append(sid)
            out.events += int(n)
        if out.deleted and not dry_run:
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                out.vacuumed = True
            except sqlite3.OperationalError as exc:  # another process has the database open for writing
                out.note = f"not compacted ({exc}); SQLite reuses the freed pages"
    except sqlite3.Error as exc:
        raise storage_error(p, exc) from None
    finally:
        db.close()
    out.bytes_after = _size(p)
    return out


__all__ = ["Pruned", "StorageError", "prune"]
