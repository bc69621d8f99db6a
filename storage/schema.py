"""The session log's schema, its migrations, and opening a log safely.

Opening never alters a file that is not a console log: the file's header and
tables are checked before WAL is switched on or a migration runs. Every
failure becomes a one-line ``StorageError`` that names the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from sqlite_utils import Database

from core.errors import InputError

SCHEMA_VERSION: Final = 3
DEFAULT_BUSY_TIMEOUT_S: Final = 5.0
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"


class StorageError(InputError):
    """The session log cannot be opened, read or written; one line naming the file."""


def open_db(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Database:
    """Open (and if needed create and migrate) the log at ``path``.

    ``busy_timeout_s`` (seconds) bounds how long any statement waits for
    another connection's lock before failing with StorageError. The
    connection may be handed to another thread, but used by one at a time."""
    p = Path(path)
    try:
        _check_file(p, create=create, readonly=readonly)
    except OSError as exc:  # e.g. a parent directory we may not search
        raise StorageError(f"{p}: cannot access ({exc.strerror})") from None
    try:
        conn = _connect(p, create=create, readonly=readonly, busy_timeout_s=busy_timeout_s)
    except sqlite3.Error as exc:
        raise storage_error(p, exc) from None
    try:
        with translate_errors(p):
            db = Database(conn)
            _prepare(db, p, readonly=readonly)
    except BaseException:
        conn.close()
        raise
    return db


def storage_error(path: str | os.PathLike[str], exc: BaseException) -> StorageError:
    """One-line StorageError for a sqlite3 (or OS) failure on ``path``."""
    detail = (str(exc).splitlines() or [type(exc).__name__])[0]
    low = detail.lower()
    for needles, hint in _HINTS:
        if any(n in low for n in needles):
            return StorageError(f"{path}: {hint} ({detail})")
    return StorageError(f"{path}: {detail}")


_HINTS: Final = (
    (("locked", "busy"), "database is locked by another connection"),
    (("readonly", "read-only"), "read-only database, cannot write the log"),
    (("disk is full", "no space"), "disk full"),
    (("not a database",), "not a console database"),
    (("malformed", "corrupt"), "database file is corrupt"),
    (("unable to open",), "cannot open the file (check its directory and permissions)"),
)


@contextlib.contextmanager
def translate_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise sqlite3 errors inside the block as StorageError naming ``path``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise storage_error(path, exc) from None


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``, rolled back on any error.

    IMMEDIATE takes the write lock up front, so a busy database waits out the
    busy timeout instead of failing at once when a read would need upgrading."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


def db_path(db: Database) -> str:
    """The file behind ``db`` (``:memory:`` for an in-memory database), for messages."""
    for row in db.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return str(row[2]) or ":memory:"
    return ":memory:"


def now_iso() -> str:
    """Wall time (UTC, ISO 8601): storage is outside the engine, so this is allowed."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ------------------------------------------------------------ opening


def check_regular(p: Path) -> None:
    """Refuse a database path that exists and is not a regular file (after
    symlinks): reading a FIFO's header would block for ever, and SQLite would
    put its -wal and -shm files beside a device."""
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise StorageError(f"{p}: is a directory, not a database file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise StorageError(f"{p}: is {kind}, not a database file")


def _check_file(p: Path, *, create: bool, readonly: bool) -> None:
    check_regular(p)
    if not p.exists():
        if readonly or not create:
            raise StorageError(f"{p}: no such database file")
        if not p.parent.is_dir():
            raise StorageError(f"{p}: directory {p.parent} does not exist")
        _check_writable(p.parent, p, "directory")
        return
    header = _read_header(p)
    # an empty file is an empty database to SQLite; anything else must be one
    if header and header != _SQLITE_MAGIC:
        raise StorageError(f"{p}: not a console database (file is not a database)")
    if not readonly:
        _check_writable(p, p, "file")
        _check_writable(p.parent, p, "directory")  # WAL needs its -wal/-shm files


def _read_header(p: Path) -> bytes:
    try:
        with p.open("rb") as f:
            return f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StorageError(f"{p}: cannot read ({exc.strerror})") from None


def _check_writable(target: Path, p: Path, what: str) -> None:
    # root passes os.access everywhere and SQLite would write anyway; a file
    # or directory with no write bit was made read-only on purpose: respect it
    writable = os.access(target, os.W_OK) and target.stat().st_mode & 0o222
    if not writable:
        raise StorageError(f"{p}: read-only {what}, cannot write the log")


def _connect(p: Path, *, create: bool, readonly: bool, busy_timeout_s: float) -> sqlite3.Connection:
    # a URI with an explicit mode: "rw" never creates a file, "ro" never writes
    mode = "ro" if readonly else ("rwc" if create else "rw")
    uri = f"{p.absolute().as_uri()}?mode={mode}"
    # timeout= is SQLite's busy timeout: wait this long for a lock, then fail
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)


def _prepare(db: Database, p: Path, *, readonly: bool) -> None:
    version = _read_version(db, p)  # raises for foreign or newer files first
    if readonly:
        if version == 0:
            raise StorageError(f"{p}: not a console database (empty)")
        if version < SCHEMA_VERSION:
            raise StorageError(f"{p}: schema version {version} is older than this console's "
                               f"({SCHEMA_VERSION}); open it writable once to upgrade it")
        return
    db.enable_wal()
    if version < SCHEMA_VERSION:
        _migrate(db, p)


def _read_version(db: Database, p: Path) -> int:
    names = [n for n in db.table_names() if not n.startswith("sqlite_")]
    if "schema_version" not in names:
        if names:
            raise StorageError(f"{p}: not a console database (no schema_version table)")
        return 0
    try:
        version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    except sqlite3.OperationalError:  # another tool's table of the same name
        raise StorageError(f"{p}: not a console database (unknown schema_version table)") from None
    if not isinstance(version, int):
        raise StorageError(f"{p}: not a console database (schema version {version!r})")
    if version > SCHEMA_VERSION:
        raise StorageError(f"{p}: schema version {version} is newer than this console "
                           f"understands ({SCHEMA_VERSION}); upgrade the console")
    return int(version)


def _migrate(db: Database, p: Path) -> None:
    # the version is read again under the write lock: two consoles opening a
    # fresh file at once must not both run the same migration
    with write_transaction(db):
        for v in range(_read_version(db, p), SCHEMA_VERSION):
            MIGRATIONS[v](db)
            db.table("schema_version").insert({"version": v + 1, "applied_at": now_iso()})


# ---------------------------------------------------------- migrations


def _v1_initial(db: Database) -> None:
    db.table("schema_version").create({"version": int, "applied_at": str}, pk="version")
    db.table("sessions").create(
        {"id": str, "started_at": str, "ended_at": str, "clean_close": int,
         "config": str, "seed": int, "data_source": str, "code_version": str,
         "schema_version": int, "compiled": int, "speed": str, "last_seq": int},
        pk="id", not_null=["started_at", "clean_close"], defaults={"clean_close": 0},
    )
    # WITHOUT ROWID: the (session, seq) key *is* the table, not a second
    # b-tree beside it (about 20% smaller and faster to insert, measured)
    events_sql = db.create_table_sql(
        "events",
        {"session": str, "seq": int, "ts": int, "kind": str, "symbol": str,
         "input": int, "payload": str},
        pk=("session", "seq"),
        not_null=["session", "seq", "ts", "kind", "symbol", "input", "payload"],
    )
    db.execute(events_sql.rstrip().rstrip(";") + " WITHOUT ROWID")
    db.table("events").create_index(["session", "kind"], index_name="events_session_kind")
    db.table("orders").create(
        {"session": str, "seq": int, "ts": int, "symbol": str, "qty": float,
         "ref_price": float, "origin": str, "intent_seq": int},
        pk=("session", "seq"),
    )
    db.table("fills").create(
        {"session": str, "seq": int, "ts": int, "symbol": str, "order_id": int,
         "qty": float, "price": float, "commission": float},
        pk=("session", "seq"),
    )


def _v2_artifacts(db: Database) -> None:
    """Model weights stored with the session, keyed by their sha256, so replay
    can use the same weights from the same seq (the ModelActivated input)."""
    db.table("artifacts").create(
        {"session": str, "sha256": str, "model": str, "version": int, "size": int, "blob": bytes},
        pk=("session", "sha256"), not_null=["session", "sha256", "model", "blob"],
    )


def _v3_sweeps(db: Database) -> None:
    """Parameter sweeps (``console sweep``): one row per sweep, one per
    finished trial, so a stopped sweep resumes without re-running them."""
    db.table("sweeps").create(
        {"id": str, "created_at": str, "source": str, "source_kind": str, "grid": str,
         "seed": int, "samples": int, "n_trials": int, "base": str, "status": str,
         "finished_at": str},
        pk="id", not_null=["id", "created_at", "source", "grid", "n_trials"],
    )
    db.table("trials").create(
        {"sweep": str, "idx": int, "params": str, "status": str, "error": str,
         "pnl": float, "sharpe": float, "max_drawdown": float, "trades": int, "fees": float,
         "halts": int, "trips": int, "rejected": int, "period": str, "ppy": float,
         "returns": str, "finished_at": str},
        pk=("sweep", "idx"), not_null=["sweep", "idx", "params", "status"],
    )


# MIGRATIONS[v] takes a log from version v to v + 1; append, never edit
MIGRATIONS: Final[list[Callable[[Database], None]]] = [_v1_initial, _v2_artifacts, _v3_sweeps]
assert len(MIGRATIONS) == SCHEMA_VERSION
