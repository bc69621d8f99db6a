"""LogWriter: round trip, batching, flush, close and crash behaviour."""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.codec import from_row, is_input_kind
from core.events import (
    Command, Fill, OrderAccepted, OrderIntent, PositionChanged, RiskSnapshot,
    StateChanged, Tick,
)
from storage.schema import SCHEMA_VERSION
from storage import LogWriter, StorageError, iter_events, open_db, session_meta

REPO = Path(__file__).resolve().parents[1]


def sample_events() -> list:
    """One of each kind the typed tables and summaries care about."""
    return [
        Tick(1_000, "AAPL", 189.25, 100.0),
        Command(1_001, "", "resume", "", "operator"),
        OrderIntent(1_002, "AAPL", 10.0, 189.25, "momentum", "z > 2"),
        OrderAccepted(1_002, "AAPL", 3, 10.0, 189.25, "momentum"),
        Fill(1_003, "AAPL", 4, 10.0, 189.3, 0.05),
        PositionChanged(1_003, "AAPL", 10.0, 189.3, 0.0),
        RiskSnapshot(1_004, "", 100_000.0, 98_107.0, 1_893.0, 1_893.0, 0.019, 0.0, 0.0,
                     0.0, float("nan"), *([0.0] * 7)),
        StateChanged(1_005, "", "ACTIVE", "HALTED", "operator halt", 2),
    ]


def ticks(n: int, start_ts: int = 0) -> list[Tick]:
    return [Tick(start_ts + i, "X", 100.0 + i, 1.0) for i in range(n)]


def count_events(path: Path, sid: str) -> int:
    """Rows visible to a fresh, separate connection."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE session = ?", [sid]).fetchone()[0]


def session_row(path: Path, sid: str) -> dict:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM sessions WHERE id = ?", [sid]).fetchone())


def wait_for(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


def test_events_round_trip_through_writer_and_reader(db_file: Path) -> None:
    events = sample_events()
    w = LogWriter(db_file, {"id": "s1"})
    w.write(1, events[:3])
    w.write(4, events[3:])
    w.close(clean=True)
    db = open_db(db_file, create=False)
    rows = list(iter_events(db, "s1"))
    assert [r[0] for r in rows] == list(range(1, len(events) + 1))
    back = [from_row(kind, ts, sym, payload) for _, kind, ts, sym, payload, _ in rows]
    # NaN != NaN, so compare the canonical repr of each event
    assert [repr(e) for e in back] == [repr(e) for e in events]
    assert [r[5] for r in rows] == [is_input_kind(r[1]) for r in rows]
    assert [r[5] for r in rows][:2] == [True, True] and not any(r[5] for r in rows[2:])


def test_flush_makes_rows_visible_to_another_connection(db_file: Path) -> None:
    # a long interval and a big batch: only flush can make the rows visible
    w = LogWriter(db_file, {"id": "s1"}, batch_seconds=60, batch_rows=1_000_000)
    w.write(1, ticks(500))
    time.sleep(0.2)
    assert count_events(db_file, "s1") == 0
    w.flush()
    assert count_events(db_file, "s1") == 500
    w.close(clean=True)


def test_rows_commit_within_the_batch_interval_without_a_flush(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, batch_seconds=0.05)
    w.write(1, ticks(10))
    assert wait_for(lambda: count_events(db_file, "s1") == 10, timeout_s=3.0)
    w.close(clean=True)


def test_a_full_batch_commits_before_the_interval_and_the_rest_waits(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, batch_rows=100, batch_seconds=60)
    for i in range(25):  # 250 rows in batches of 10: two full batches of 100
        w.write(1 + 10 * i, ticks(10, start_ts=10 * i))
    assert wait_for(lambda: count_events(db_file, "s1") >= 200, timeout_s=3.0)
    time.sleep(0.2)
    assert count_events(db_file, "s1") == 200
    w.flush()
    assert count_events(db_file, "s1") == 250
    w.close(clean=True)


def test_order_and_fill_rows_are_committed_with_their_events(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"})
    w.write(1, sample_events())
    w.flush()
    with sqlite3.connect(db_file) as conn:
        orders = conn.execute("SELECT * FROM orders").fetchall()
        fills = conn.execute("SELECT * FROM fills").fetchall()
    assert orders == [("s1", 4, 1_002, "AAPL", 10.0, 189.25, "momentum", 3)]
    assert fills == [("s1", 5, 1_003, "AAPL", 4, 10.0, 189.3, 0.05)]
    w.close(clean=True)


@pytest.mark.parametrize("clean", [True, False])
def test_close_records_clean_close_end_time_and_last_seq(db_file: Path, clean: bool) -> None:
    w = LogWriter(db_file, {"id": "s1", "seed": 7, "config": {"k": 1}})
    w.write(1, ticks(30))
    w.close(clean=clean)
    row = session_row(db_file, "s1")
    assert row["clean_close"] == int(clean)
    assert row["ended_at"] is not None
    assert row["last_seq"] == 30
    assert (row["seed"], row["config"], row["schema_version"]) == (7, '{"k":1}', SCHEMA_VERSION)


def test_close_twice_is_harmless_and_write_after_close_is_refused(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"})
    w.write(1, ticks(3))
    w.close(clean=True)
    w.close(clean=False)  # a second close must not flip the recorded outcome
    assert session_row(db_file, "s1")["clean_close"] == 1
    with pytest.raises(RuntimeError, match="closed"):
        w.write(4, ticks(1))


def test_an_abandoned_writer_leaves_an_unclean_session_with_its_committed_rows(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"})
    w.write(1, ticks(40))
    w.flush()
    del w  # never closed: what a crash leaves behind
    db = open_db(db_file, create=False)
    meta = session_meta(db, "s1")
    assert (meta["clean_close"], meta["ended_at"], meta["last_seq"]) == (False, None, 40)
    assert len(list(iter_events(db, "s1"))) == 40


_CRASHING_WRITER = textwrap.dedent("""
    import sys, time
    from core.events import Tick
    from storage import LogWriter
    w = LogWriter(sys.argv[1], {"id": "crash"})
    w.write(1, [Tick(i, "X", 1.0, 1.0) for i in range(1, 1001)])
    w.flush()
    print("flushed", flush=True)
    seq = 1001
    while True:  # keep writing until killed
        w.write(seq, [Tick(seq, "X", 1.0, 1.0)])
        seq += 1
        time.sleep(0.0002)
""")


def test_a_killed_writer_process_leaves_an_openable_log_with_its_flushed_rows(db_file: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", _CRASHING_WRITER, str(db_file)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "flushed"
        time.sleep(0.3)  # let some timed batches commit too
    finally:
        proc.kill()
        proc.wait(timeout=10)
    # replay opens read-only: it must see the rows still in the crashed -wal
    reader = open_db(db_file, readonly=True)
    seen_read_only = len(list(iter_events(reader, "crash")))
    reader.close()
    db = open_db(db_file, create=False)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    seqs = [r[0] for r in iter_events(db, "crash")]
    assert seen_read_only == len(seqs)
    assert len(seqs) >= 1000 and seqs == list(range(1, len(seqs) + 1))
    meta = session_meta(db, "crash")
    assert (meta["clean_close"], meta["ended_at"]) == (False, None)
    assert meta["last_seq"] == seqs[-1]  # last_seq commits with its rows


def test_write_refuses_a_batch_that_leaves_a_gap_in_the_sequence(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"})
    w.write(1, ticks(5))
    with pytest.raises(ValueError, match="expected 6"):
        w.write(7, ticks(1))
    w.write(6, ticks(1))
    w.close(clean=True)
    assert session_row(db_file, "s1")["last_seq"] == 6


def test_the_writer_copies_the_batch_so_the_caller_may_reuse_its_list(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, batch_seconds=60)
    batch = ticks(3)
    w.write(1, batch)
    batch.clear()
    w.close(clean=True)
    assert count_events(db_file, "s1") == 3


def test_update_session_changes_the_row_in_order_with_the_events(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1", "speed": "1x"})
    w.write(1, ticks(2))
    w.update_session(speed="max", config={"a": [1, 2]})
    w.flush()
    row = session_row(db_file, "s1")
    assert (row["speed"], row["config"]) == ("max", '{"a":[1,2]}')
    with pytest.raises(ValueError, match="id"):
        w.update_session(id="other")
    w.close(clean=True)


def test_session_meta_with_an_unknown_key_is_refused_before_touching_the_file(db_file: Path) -> None:
    with pytest.raises(ValueError, match="colour"):
        LogWriter(db_file, {"id": "s1", "colour": "red"})
    assert not db_file.exists()


def test_a_second_session_with_the_same_id_is_a_storage_error(db_file: Path) -> None:
    LogWriter(db_file, {"id": "s1"}).close(clean=True)
    with pytest.raises(StorageError, match="session s1 already exists") as info:
        LogWriter(db_file, {"id": "s1"})
    assert str(db_file) in str(info.value)


def test_write_does_not_block_while_the_database_is_locked(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, busy_timeout_s=10)
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        for i in range(2_000):
            w.write(1 + i, ticks(1, start_ts=i))
        elapsed = time.monotonic() - t0
        time.sleep(0.2)  # the writer thread is now waiting on the lock
    finally:
        blocker.rollback()
        blocker.close()
    assert elapsed < 1.0
    w.flush()  # a lock shorter than the busy timeout is waited out
    assert count_events(db_file, "s1") == 2_000
    w.close(clean=True)


def test_a_lock_that_outlasts_the_timeout_fails_flush_and_keeps_committed_rows(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, busy_timeout_s=0.2)
    w.write(1, ticks(10))
    w.flush()
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        w.write(11, ticks(5))
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="locked") as info:
            w.flush()
        assert time.monotonic() - t0 < 5.0
    finally:
        blocker.rollback()
        blocker.close()
    message = str(info.value)
    assert message.startswith(f"{db_file}: ") and "\n" not in message
    assert w.error == message
    with pytest.raises(StorageError):
        w.write(16, ticks(1))  # a failed writer stays failed
    w.close(clean=True)  # already reported: close does not raise it again
    assert count_events(db_file, "s1") == 10
    assert session_row(db_file, "s1")["clean_close"] == 0


@contextlib.contextmanager
def stuck_writer(db_file: Path) -> Iterator[LogWriter]:
    """A writer (backlog bound 10 events) stuck committing seq 1 behind another
    connection's exclusive lock until the block ends; it then fails "locked"."""
    w = LogWriter(db_file, {"id": "s1"}, busy_timeout_s=0.5, max_backlog=10)
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        w.write(1, ticks(1))
        time.sleep(0.2)  # the writer is now stuck committing seq 1
        yield w
    finally:
        blocker.rollback()
        blocker.close()


def test_a_full_backlog_makes_write_wait_and_a_failed_writer_ends_the_wait(db_file: Path) -> None:
    with stuck_writer(db_file) as w:
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="locked"):
            for seq in range(2, 1_000):
                w.write(seq, ticks(1))
        assert time.monotonic() - t0 < 5.0
    assert seq <= 12  # it stopped at the backlog limit, not after queueing everything


@pytest.mark.parametrize("durable, level", [(True, 2), (False, 1)])
def test_durable_chooses_full_or_normal_synchronous_commits(
        db_file: Path, durable: bool, level: int) -> None:
    w = LogWriter(db_file, {"id": "s1"}, durable=durable)
    try:
        db = w._worker.db  # the writer thread's own connection, read-only peek
        assert db is not None and db.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        w.close(clean=True)


# every text a symbol or a payload may hold comes back as written: quotes, backslashes,
# escapes, control characters, NUL, non-ASCII and astral characters; not lone
# surrogates (sqlite3 cannot store them)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_DB_NUMBER = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8))
@example([("a\x00b", "\x00"), ('q"\\u0000', "\u00e9\U0001f600\x7f\x1f")])
def test_every_text_comes_back_exactly(tmp_path: Path, texts: list[tuple[str, str]]) -> None:
    db = tmp_path / f"t{next(_DB_NUMBER)}.db"  # hypothesis reuses tmp_path between examples
    events = []
    for i, (symbol, reason) in enumerate(texts):
        events.append(Tick(i, symbol, 1.5 + i, 2.0))
        events.append(OrderIntent(i, symbol, 1.0, 2.0, "momentum", reason))
    w = LogWriter(db, {"id": "s1"}, durable=False)
    w.write(1, events)
    w.close(clean=True)
    rows = list(iter_events(open_db(db, create=False, readonly=True), "s1"))
    assert [from_row(kind, ts, symbol, payload) for _, kind, ts, symbol, payload, _ in rows] == events
    with sqlite3.connect(db) as conn:  # input is stored as integer 0/1
        assert conn.execute("SELECT group_concat(typeof(input) || input, ' ') FROM events").fetchone()[0] \
            == " ".join(["integer1", "integer0"] * len(texts))


# ------------------------------------------------------------ multi-row inserts

def _event_rows(n: int, seed: int) -> list[tuple]:
    """n event rows with every column type the events table sees, texts with NUL and quotes."""
    import random

    rng = random.Random(seed)
    texts = ["", "a\x00b", 'q"\\', "\u00e9\U0001f600", "x" * 300]
    return [("s1", i + 1, rng.randrange(-2**63, 2**63), rng.choice(["tick", "fill"]),
             rng.choice(texts), rng.randrange(2), rng.choice(texts) + str(rng.random()))
            for i in range(n)]


def _flat(rows: list[tuple]) -> list:
    """The writer's buffer for these rows: six values a row, the session apart."""
    return [v for row in rows for v in row[1:]]


def _events_table(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT session, seq, ts, kind, symbol, input, payload, typeof(ts), "
                        "typeof(input), typeof(payload) FROM events ORDER BY seq").fetchall()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 255, 511, 512, 513, 1023, 1537, 5000])
def test_multi_row_inserts_store_exactly_what_executemany_stores(tmp_path: Path, n: int) -> None:
    from storage.writer import _INSERT_EVENT, _insert_events

    rows = _event_rows(n, seed=n)
    tables = []
    for name, insert in (("many", lambda c: c.executemany(_INSERT_EVENT, rows)),
                         ("multi", lambda c: _insert_events(c, "s1", _flat(rows)))):
        LogWriter(tmp_path / f"{name}.db", {"id": "s1"}, durable=False).close(clean=True)
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            insert(conn)
            tables.append(_events_table(conn))
    assert len(tables[1]) == n
    assert tables[0] == tables[1]


def test_a_multi_row_insert_of_a_logged_seq_fails_and_the_commit_keeps_nothing_of_it(db_file: Path) -> None:
    from storage.writer import _insert_events

    LogWriter(db_file, {"id": "s1"}, durable=False).close(clean=True)
    with sqlite3.connect(db_file, isolation_level=None) as conn:
        _insert_events(conn, "s1", _flat(_event_rows(3, seed=1)))
        clash = _event_rows(600, seed=2)  # seq 1..600: 1..3 are taken
        conn.execute("BEGIN")
        with pytest.raises(sqlite3.IntegrityError):
            _insert_events(conn, "s1", _flat(clash[3:] + clash[:3]))
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_statement_shapes_stay_within_sqlites_parameter_limit_and_statement_cache() -> None:
    from storage import writer

    assert sorted(writer._INSERT_EVENTS) == [1 << b for b in range(writer._CHUNK.bit_length())]
    assert len(writer._INSERT_EVENTS) <= 10  # sqlite3 caches 128 statements per connection
    limit = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    assert 1 + writer._CHUNK * writer._EVENT_COLS <= limit
    for k, sql in writer._INSERT_EVENTS.items():  # the session once as ?1, six more a row
        assert sql.count("?1,") == k and sql.count("?") == k * (1 + writer._EVENT_COLS)


def test_a_large_batch_through_the_writer_reads_back_in_order(db_file: Path) -> None:
    events = [Tick(i, "X", 100.0 + i / 7, 1.0) for i in range(5_000 + 777)]
    w = LogWriter(db_file, {"id": "s1"}, durable=False)
    for i in range(0, len(events), 333):
        w.write(i + 1, events[i:i + 333])
    w.close(clean=True)
    rows = list(iter_events(open_db(db_file, create=False, readonly=True), "s1"))
    assert [r[0] for r in rows] == list(range(1, len(events) + 1))
    assert [from_row(kind, ts, symbol, payload) for _, kind, ts, symbol, payload, _ in rows] == events


def test_the_backlog_counts_events_not_batches(db_file: Path) -> None:
    """One bar close of many names is one batch of many rows: the wait for a
    confirmed halt is bounded by the events queued, so the bound counts them."""
    with stuck_writer(db_file) as w:
        w.write(2, ticks(10))  # 10 queued: at the limit, no wait
        with pytest.raises(StorageError, match="locked"):
            w.write(12, ticks(5))  # one batch, but 15 events queued: waits, then the failure


def test_a_writer_that_keeps_up_never_makes_write_wait(db_file: Path) -> None:
    w = LogWriter(db_file, {"id": "s1"}, max_backlog=100)
    waits = 0
    real = w._wait_for_backlog

    def counted() -> None:
        nonlocal waits
        waits += 1
        real()

    w._wait_for_backlog = counted  # type: ignore[method-assign]
    seq = 1
    for _ in range(200):
        w.write(seq, ticks(50))  # 50 events a batch, each batch over half the limit
        seq += 50
        w.flush()  # the writer takes everything before the next
    w.close(clean=True)
    assert waits == 0 and count_events(db_file, "s1") == 10_000
