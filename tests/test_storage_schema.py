"""Schema and migrations: a fresh log, reopening, WAL and the table shapes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import SCHEMA_VERSION, open_db
from storage.schema import MIGRATIONS


def test_there_is_one_migration_per_schema_version() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_a_fresh_log_gets_every_table_wal_and_its_version(tmp_path: Path) -> None:
    db = open_db(tmp_path / "log.db")
    assert {"schema_version", "sessions", "events", "orders", "fills", "artifacts"} <= set(db.table_names())
    assert db.journal_mode == "wal"
    assert db.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)]  # each migration recorded
    assert [ix.columns for ix in db["events"].indexes if ix.name == "events_session_kind"] == [
        ["session", "kind"]]
    assert db["events"].pks == ["session", "seq"]
    assert db["orders"].pks == db["fills"].pks == ["session", "seq"]


def test_reopening_a_log_does_not_migrate_it_again(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    open_db(path).close()
    db = open_db(path)
    db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_an_empty_file_is_initialised_as_a_new_log(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    path.touch()  # SQLite treats a zero-byte file as an empty database
    db = open_db(path, create=False)
    assert "events" in db.table_names()


def test_a_readonly_open_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    open_db(path).close()
    db = open_db(path, readonly=True)
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("INSERT INTO sessions (id, started_at) VALUES ('x', 'y')")
