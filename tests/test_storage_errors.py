"""Bad files and bad states: one-line StorageError naming the file, nothing altered."""

from __future__ import annotations

import random
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from core.errors import InputError
from storage import LogWriter, StorageError, open_db
from storage.schema import SCHEMA_VERSION, storage_error


def make_log(path: Path) -> Path:
    open_db(path).close()
    return path


def assert_one_line_naming(exc: BaseException, path: Path) -> None:
    message = str(exc)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_storage_error_is_an_input_error_so_the_cli_prints_one_line() -> None:
    assert issubclass(StorageError, InputError)


def test_a_file_of_random_bytes_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    content = random.Random(0).randbytes(8192)
    path.write_bytes(content)
    for kwargs in ({}, {"create": False}, {"readonly": True}):
        with pytest.raises(StorageError) as info:
            open_db(path, **kwargs)
        assert str(info.value) == f"{path}: not a console database (file is not a database)"
    with pytest.raises(StorageError):
        LogWriter(path, {"id": "s1"})
    assert path.read_bytes() == content
    assert siblings(path) == ["notes.db"]  # no -wal or -shm left beside it


def test_a_sqlite_header_over_garbage_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    content = b"SQLite format 3\x00" + random.Random(1).randbytes(8192)
    path.write_bytes(content)
    with pytest.raises(StorageError) as info:
        open_db(path)
    assert_one_line_naming(info.value, path)
    assert path.read_bytes() == content


def test_another_applications_sqlite_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.close()
    content = path.read_bytes()
    with pytest.raises(StorageError, match="no schema_version table") as info:
        open_db(path)
    assert_one_line_naming(info.value, path)
    assert path.read_bytes() == content  # not even switched to WAL


def test_a_foreign_schema_version_table_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "flyway.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (installed_rank INTEGER)")
    conn.close()
    content = path.read_bytes()
    with pytest.raises(StorageError, match="not a console database") as info:
        open_db(path)
    assert_one_line_naming(info.value, path)
    assert path.read_bytes() == content


def test_an_empty_file_cannot_be_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StorageError) as info:
        open_db(path, readonly=True)
    assert str(info.value) == f"{path}: not a console database (empty)"
    assert path.read_bytes() == b""


def test_a_newer_schema_version_is_refused_with_an_upgrade_hint(tmp_path: Path) -> None:
    path = make_log(tmp_path / "log.db")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (7, 'future')")
    conn.close()
    content = path.read_bytes()
    with pytest.raises(StorageError) as info:
        open_db(path)
    assert str(info.value) == (f"{path}: schema version 7 is newer than this console "
                               f"understands ({SCHEMA_VERSION}); upgrade the console")
    with pytest.raises(StorageError, match="newer"):
        open_db(path, readonly=True)
    assert path.read_bytes() == content


def test_a_missing_file_is_an_error_when_create_is_false_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    for kwargs in ({"create": False}, {"readonly": True}):
        with pytest.raises(StorageError) as info:
            open_db(path, **kwargs)
        assert str(info.value) == f"{path}: no such database file"
    assert not path.exists()


def test_a_missing_directory_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "log.db"
    with pytest.raises(StorageError, match="does not exist") as info:
        open_db(path)
    assert_one_line_naming(info.value, path)


def test_a_directory_given_as_the_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a directory"):
        open_db(tmp_path)


def test_a_read_only_file_is_refused_for_writing_but_readable(tmp_path: Path) -> None:
    path = make_log(tmp_path / "log.db")
    LogWriter(path, {"id": "s1"}).close(clean=True)
    content = path.read_bytes()
    path.chmod(0o444)
    try:
        for opener in (lambda: open_db(path), lambda: LogWriter(path, {"id": "s2"})):
            with pytest.raises(StorageError) as info:
                opener()
            assert str(info.value) == f"{path}: read-only file, cannot write the log"
        db = open_db(path, readonly=True)
        assert db.execute("SELECT id FROM sessions").fetchall() == [("s1",)]
        db.close()
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == content


def test_a_read_only_directory_is_refused_for_writing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    make_log(folder / "log.db")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        for name in ("log.db", "new.db"):
            with pytest.raises(StorageError, match="read-only directory") as info:
                open_db(folder / name)
            assert_one_line_naming(info.value, folder / name)
    finally:
        folder.chmod(0o755)
    assert not (folder / "new.db").exists()


def test_a_locked_rollback_journal_database_fails_to_open_within_the_timeout(tmp_path: Path) -> None:
    path = make_log(tmp_path / "log.db")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=DELETE")  # here an exclusive lock blocks readers too
    blocker.execute("BEGIN EXCLUSIVE")
    blocker.execute("INSERT INTO schema_version VALUES (99, 'x')")
    try:
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="locked") as info:
            open_db(path, busy_timeout_s=0.3)
        assert time.monotonic() - t0 < 5.0
    finally:
        blocker.rollback()
        blocker.close()
    assert_one_line_naming(info.value, path)


def test_a_locked_database_fails_a_new_writer_within_the_timeout(tmp_path: Path) -> None:
    path = make_log(tmp_path / "log.db")  # WAL: readers pass, the writer must wait
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="database is locked") as info:
            LogWriter(path, {"id": "s1"}, busy_timeout_s=0.3)
        assert time.monotonic() - t0 < 5.0
    finally:
        blocker.rollback()
        blocker.close()
    assert_one_line_naming(info.value, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


@pytest.mark.parametrize("sqlite_message, hint", [
    ("attempt to write a readonly database", "read-only database, cannot write the log"),
    ("database or disk is full", "disk full"),
    ("database is locked", "database is locked by another connection"),
    ("database disk image is malformed", "database file is corrupt"),
    ("unable to open database file", "cannot open the file (check its directory and permissions)"),
])
def test_sqlite_failures_become_one_line_messages_naming_the_file(
        tmp_path: Path, sqlite_message: str, hint: str) -> None:
    path = tmp_path / "log.db"
    err = storage_error(path, sqlite3.OperationalError(sqlite_message))
    assert str(err) == f"{path}: {hint} ({sqlite_message})"


def test_an_unknown_sqlite_failure_keeps_sqlites_own_first_line(tmp_path: Path) -> None:
    err = storage_error(tmp_path / "x.db", sqlite3.OperationalError("no such table: foo\nmore"))
    assert str(err) == f"{tmp_path / 'x.db'}: no such table: foo"
