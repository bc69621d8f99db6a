"""Storage faults on the CLI: a locked, read-only, corrupt or newer database
stops ``console run`` with one line naming the file (exit 2) and leaves the
file as it was; a disk that fills up during a session stops trading with a
clear reason (exit 1) and loses nothing already committed; two consoles can
log to one database at once.

Most runs go through ``console.cli.main`` in this process (fast, and a test
hook can reach the writer's connection); the lock holder and the two
concurrent consoles are real processes."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import LogWriter, open_db
from storage.schema import SCHEMA_VERSION
from tests.conftest import console

ROOT = Path(__file__).resolve().parents[1]




def one_line_error(rc: int, err: str, path: Path) -> str:
    text = err.strip()
    assert rc == 2 and "Traceback" not in text and len(text.splitlines()) == 1, (rc, err)
    assert text.startswith(f"error: {path}: "), text
    return text


def snapshot(path: Path) -> dict[str, bytes]:
    """The database file and any -wal/-shm beside it, byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


def assert_unchanged(path: Path, before: dict[str, bytes]) -> None:
    """The file is byte for byte as it was and no write is pending in a -wal.
    (A reader of a WAL database may leave an empty -wal and a -shm index:
    SQLite's own bookkeeping, not a change to the log.)"""
    after = snapshot(path)
    assert after[path.name] == before[path.name]
    wal = path.name + "-wal"
    assert after.get(wal, b"") in (b"", before.get(wal, b""))


@pytest.fixture
def logged_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A database holding one short, cleanly closed session."""
    db = tmp_path / "log.db"
    rc, out, err = console(capsys, "run", "--headless", "--events", "3000", "--seed", "4", "--db", str(db))
    assert rc == 0, err
    return db, out.strip().splitlines()[-1]


def run_short(capsys: pytest.CaptureFixture[str], db: Path) -> tuple[int, str, str]:
    return console(capsys, "run", "--headless", "--events", "500", "--seed", "1", "--db", str(db))


# ------------------------------------------------------------ at start


HOLD_LOCK = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
con.rollback()
"""


def test_a_database_locked_by_another_process_stops_the_run_with_one_line_exit_2(
        logged_db: tuple[Path, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = logged_db
    before = snapshot(db)
    # the 5 s default busy timeout, shortened so the test does not wait it out
    monkeypatch.setitem(LogWriter.__init__.__kwdefaults__, "busy_timeout_s", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        rc, out, err = run_short(capsys, db)
        assert time.monotonic() - t0 < 10
    finally:
        holder.communicate("", timeout=30)
    assert "database is locked" in one_line_error(rc, err, db) and out == ""
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from sessions").fetchone()[0] == 1  # no new session
    assert_unchanged(db, before)


def test_replay_still_reads_a_database_another_process_is_writing(
        logged_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    db, sid = logged_db
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        rc, out, err = console(capsys, "replay", sid, "--db", str(db))
    finally:
        holder.communicate("", timeout=30)
    assert rc == 0 and "verified" in out, err


def test_a_read_only_database_file_stops_the_run_with_one_line_exit_2_and_is_unchanged(
        logged_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    db, sid = logged_db
    before = snapshot(db)
    db.chmod(0o444)
    try:
        rc, out, err = run_short(capsys, db)
        assert "read-only" in one_line_error(rc, err, db) and out == ""
        rc, out, err = console(capsys, "replay", sid, "--db", str(db))  # reading still works
        assert rc == 0 and "verified" in out, err
    finally:
        db.chmod(0o644)
    assert_unchanged(db, before)


def test_a_log_cut_short_by_a_bad_copy_stops_the_run_with_one_line_exit_2_and_is_unchanged(
        logged_db: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # test_cli covers a file that is not SQLite at all; this one is a real
    # console log truncated to half its pages (a copy interrupted midway)
    src, sid = logged_db
    with sqlite3.connect(src) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = src.read_bytes()
    db = tmp_path / "half.db"
    db.write_bytes(data[: len(data) // 2 // 4096 * 4096])
    before = snapshot(db)
    for args in (("run", "--headless", "--events", "500"), ("replay", sid), ("sessions",)):
        rc, out, err = console(capsys, *args, "--db", str(db))
        assert "corrupt" in one_line_error(rc, err, db)
    assert_unchanged(db, before)


def test_a_schema_newer_than_the_code_stops_run_and_replay_with_one_line_exit_2(
        logged_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    db, sid = logged_db
    with sqlite3.connect(db) as con:
        con.execute("insert into schema_version (version, applied_at) values (?, 'future')",
                    (SCHEMA_VERSION + 1,))
    con.close()
    before = snapshot(db)
    for args in (("run", "--headless", "--events", "500"), ("replay", sid),
                 ("run", "--headless", "--resume", sid)):
        rc, out, err = console(capsys, *args, "--db", str(db))
        assert "newer than this console" in one_line_error(rc, err, db), args
    assert_unchanged(db, before)


# ------------------------------------------------------------ during a session


def test_a_disk_that_fills_mid_session_stops_trading_and_keeps_every_committed_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.writer as writer_mod

    real_open = writer_mod.open_db
    committed: list[int] = []

    def open_with_a_small_disk(path, **kw):  # type: ignore[no-untyped-def]
        db = real_open(path, **kw)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        # 1.6 MB more, then SQLITE_FULL: room for at least two full batches (5,000 rows each)
        db.execute(f"PRAGMA max_page_count = {pages + 400}")
        return db

    real_commit = writer_mod._Worker.commit

    def commit(self):  # type: ignore[no-untyped-def]
        real_commit(self)
        if self.path == db and self.committed_seq is not None:  # not other tests' idle writers
            committed.append(self.committed_seq)

    db = tmp_path / "full.db"
    monkeypatch.setattr(writer_mod, "open_db", open_with_a_small_disk)
    monkeypatch.setattr(writer_mod._Worker, "commit", commit)
    rc, out, err = console(capsys, "run", "--headless", "--events", "200000", "--seed", "3", "--db", str(db))
    monkeypatch.undo()

    assert rc == 1 and "Traceback" not in err, err
    error = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(error) == 1 and "disk full" in error[0] and str(db) in error[0], err
    events = int(next(ln for ln in err.splitlines() if ln.startswith("events ")).split()[1])
    assert 0 < events < 200_000  # it stopped, and did not run on unlogged
    sid = out.strip().splitlines()[-1]
    with sqlite3.connect(db) as con:
        last, n = con.execute("select max(seq), count(*) from events where session = ?", (sid,)).fetchone()
        clean, last_seq = con.execute("select clean_close, last_seq from sessions where id = ?", (sid,)).fetchone()
    assert committed and last == committed[-1] == n == last_seq  # every committed row is there
    assert clean == 0
    rc, out, err = console(capsys, "replay", sid, "--db", str(db))
    assert rc == 0 and "verified" in out and "did not close cleanly" in out, out + err


def test_a_disk_already_full_at_start_is_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.writer as writer_mod

    real_open = writer_mod.open_db

    def open_full(path, **kw):  # type: ignore[no-untyped-def]
        db = real_open(path, **kw)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        return db

    db = tmp_path / "full.db"
    open_db(db).close()
    monkeypatch.setattr(writer_mod, "open_db", open_full)
    rc, out, err = run_short(capsys, db)
    assert "disk full" in one_line_error(rc, err, db) and out == ""


def test_two_consoles_logging_to_one_database_at_once_each_get_a_session_that_replays(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "shared.db"
    open_db(db).close()  # as a first console would leave it
    env = dict(os.environ, CONSOLE_DB=str(db))
    procs = [subprocess.Popen([sys.executable, "-m", "console.cli", "run", "--headless", "--events",
                               "15000", "--seed", str(seed)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    sids = [out.strip().splitlines()[-1] for out, _ in results]
    assert len(set(sids)) == 2
    with sqlite3.connect(db) as con:
        rows = con.execute("select seed, clean_close, started_at, ended_at from sessions order by seed").fetchall()
    assert [r[:2] for r in rows] == [(1, 1), (2, 1)]
    (_, _, start1, end1), (_, _, start2, end2) = rows
    assert start1 < end2 and start2 < end1, rows  # they did run at the same time
    for sid in sids:
        rc, out, err = console(capsys, "replay", sid, "--db", str(db))
        assert rc == 0 and "verified" in out, out + err
        with sqlite3.connect(db) as con:  # every market input logged (model views are inputs too)
            n = con.execute("select count(*) from events where session = ? and input = 1 and kind not in "
                            "('command', 'model_signal', 'model_activated', 'model_fit')", [sid]).fetchone()[0]
        assert n == 15_000
