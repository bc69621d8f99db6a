"""``console prune --keep N``: old sessions go, their space comes back, and a
session that a live process is writing is never touched (issue 19, "Also")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.events import Tick
from storage import LogWriter
from storage.lock import SessionLock
from tests.conftest import console


def _log(db: Path, n_sessions: int, ticks: int) -> list[str]:
    ids = []
    for k in range(n_sessions):
        sid = f"s{k}"
        w = LogWriter(db, {"id": sid, "started_at": f"2026-01-0{k + 1}T00:00:00+00:00"})
        w.write(1, [Tick(i, "AAA", 100.0 + i % 13, 1.0) for i in range(ticks)])
        w.close(clean=True)
        ids.append(sid)
    return ids


def _counts(db: Path) -> tuple[list[str], int]:
    with sqlite3.connect(db) as con:
        return ([r[0] for r in con.execute("select id from sessions order by id")],
                con.execute("select count(*) from events").fetchone()[0])


def test_prune_keeps_the_newest_and_gives_the_space_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "log.db"
    _log(db, 4, 20_000)
    rc, out, err = console(capsys, "prune", "--keep", "1", "--dry-run", "--db", str(db))
    assert rc == 0 and "would delete 3 session(s) (60,000 events), kept 1" in out, err
    assert _counts(db) == (["s0", "s1", "s2", "s3"], 80_000)
    before = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    rc, out, err = console(capsys, "prune", "--keep", "1", "--db", str(db))
    assert rc == 0 and "deleted 3 session(s) (60,000 events), kept 1" in out, err
    assert _counts(db) == (["s3"], 20_000)
    after = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    assert after < before / 2, (before, after)


def test_prune_never_deletes_a_session_that_is_being_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "log.db"
    _log(db, 3, 1_000)
    live = SessionLock(db, "s0")  # as a running writer holds it
    try:
        rc, out, err = console(capsys, "prune", "--keep", "0", "--db", str(db))
    finally:
        live.release()
    assert rc == 0 and "deleted 2 session(s) (2,000 events), kept 0 and 1 still being written" in out, err
    assert _counts(db) == (["s0"], 1_000)


def test_prune_needs_keep_and_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = console(capsys, "prune", "--db", str(tmp_path / "x.db"))
    assert rc == 2 and "--keep" in err
    rc, _, err = console(capsys, "prune", "--keep", "3", "--db", str(tmp_path / "missing.db"))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "missing.db" in err
