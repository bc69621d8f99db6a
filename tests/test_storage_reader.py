"""Reader: session lookup, streaming events, typed rows, the sessions list."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from core.events import (
    Command, Fill, OrderAccepted, RiskSnapshot, StateChanged, Tick,
)
from storage import (
    LogWriter, StorageError, UnknownSession, fills_by_seq, iter_events, list_sessions,
    open_db, orders_by_seq, resolve_session, session_meta,
)
from storage.reader import SUMMARY_SQL


def risk(ts: int, nav: float, var95: float = 0.01) -> RiskSnapshot:
    return RiskSnapshot(ts, "", nav, nav, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, var95, *([0.0] * 7))


def state(ts: int, prev: str, new: str) -> StateChanged:
    return StateChanged(ts, "", prev, new, "test", 1)


def write_session(path: Path, sid: str, events: list, *, started_at: str,
                  clean: bool | None = True, **meta: object) -> None:
    """A session whose events are ``events`` (seq 1..n); ``clean=None`` leaves it open."""
    w = LogWriter(path, {"id": sid, "started_at": started_at, **meta})
    w.write(1, events)
    w.flush()
    if clean is not None:
        w.close(clean=clean)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    for i, sid in enumerate(["a1b2c3", "a1ffff", "b77777"]):
        write_session(path, sid, [Tick(i, "X", 1.0, 1.0)], started_at=f"2026-01-0{i + 1}T09:00:00+00:00")
    conn = open_db(path, create=False)
    yield conn
    conn.close()


def test_resolve_session_accepts_a_unique_prefix(db: Database) -> None:
    assert resolve_session(db, "b") == "b77777"
    assert resolve_session(db, "a1b") == "a1b2c3"


def test_resolve_session_accepts_a_full_id_that_also_prefixes_another(path: Path, db: Database) -> None:
    write_session(path, "a1b2c3d4", [Tick(0, "X", 1.0, 1.0)], started_at="2026-01-09T00:00:00+00:00")
    assert resolve_session(db, "a1b2c3") == "a1b2c3"


def test_resolve_session_last_is_the_newest_session(path: Path, db: Database) -> None:
    assert resolve_session(db, "last") == "b77777"
    write_session(path, "0000new", [Tick(0, "X", 1.0, 1.0)], started_at="2026-02-01T00:00:00+00:00")
    assert resolve_session(db, "last") == "0000new"


def test_an_unknown_session_error_names_the_id_and_the_file(path: Path, db: Database) -> None:
    with pytest.raises(UnknownSession) as info:
        resolve_session(db, "abc")
    assert str(info.value) == f"unknown session 'abc' in {path}"


def test_an_ambiguous_prefix_error_counts_the_matches_without_listing_them(db: Database) -> None:
    with pytest.raises(UnknownSession) as info:
        resolve_session(db, "a1")
    assert str(info.value) == "ambiguous session prefix 'a1' (2 matches)"


def test_an_empty_id_and_last_in_an_empty_log_are_unknown(tmp_path: Path) -> None:
    empty = open_db(tmp_path / "empty.db")
    with pytest.raises(UnknownSession, match="no sessions in"):
        resolve_session(empty, "last")
    with pytest.raises(UnknownSession, match="unknown session ''"):
        resolve_session(empty, "")


def test_session_meta_returns_the_row_with_config_decoded(path: Path) -> None:
    write_session(path, "s1", [Tick(0, "X", 1.0, 1.0)], started_at="2026-01-01T00:00:00+00:00",
                  config={"risk": {"max_dd": 0.1}}, seed=42, data_source="sim", compiled=True)
    meta = session_meta(open_db(path, create=False), "s1")
    assert meta["config"] == {"risk": {"max_dd": 0.1}}
    assert (meta["seed"], meta["data_source"], meta["compiled"], meta["clean_close"]) == (
        42, "sim", True, True)
    with pytest.raises(UnknownSession):
        session_meta(open_db(path, create=False), "nope")


def test_iter_events_streams_in_seq_order_with_input_flags(path: Path) -> None:
    events = [Tick(5, "X", 1.0, 2.0), risk(6, 100.0), Command(7, "", "halt", "", "why"),
              state(7, "ACTIVE", "HALTED")]
    write_session(path, "s1", events, started_at="2026-01-01T00:00:00+00:00")
    write_session(path, "s2", [Tick(9, "Y", 1.0, 1.0)], started_at="2026-01-02T00:00:00+00:00")
    rows = iter_events(open_db(path, create=False), "s1")
    assert not isinstance(rows, (list, tuple))  # a lazy stream, not a loaded list
    first = next(rows)
    assert first == (1, "tick", 5, "X", '{"price":1.0,"size":2.0}', True)
    rest = list(rows)
    assert [(r[0], r[1], r[5]) for r in rest] == [
        (2, "risk", False), (3, "command", True), (4, "state", False)]


def test_iter_events_of_an_unknown_session_fails_at_the_call_not_later(db: Database) -> None:
    with pytest.raises(UnknownSession):
        iter_events(db, "zzz")


def test_fills_and_orders_come_from_their_own_tables(path: Path) -> None:
    events = [OrderAccepted(1, "X", 0, 2.0, 10.0, "op"), Fill(2, "X", 1, 2.0, 10.5, 0.01)]
    write_session(path, "s1", events, started_at="2026-01-01T00:00:00+00:00")
    db = open_db(path, create=False)
    assert orders_by_seq(db, "s1") == {1: (1, "X", 2.0, 10.0, "op", 0)}
    assert fills_by_seq(db, "s1") == {2: (2, "X", 1, 2.0, 10.5, 0.01)}
    # tamper with the typed table only: the reader must show it, so replay's
    # cross-check against the event payloads can catch it
    db.execute("UPDATE fills SET price = 11.0 WHERE session = 's1'")
    assert fills_by_seq(db, "s1")[2][4] == 11.0
    assert '"price":10.5' in [r[4] for r in iter_events(db, "s1")][1]


def test_list_sessions_summarises_events_trades_pnl_and_halts(path: Path) -> None:
    events = [
        # the first bar already made 100: P&L counts from the initial cash, not the first snapshot
        risk(1, 100_100.0, var95=math.nan),  # NaN in a payload must not break the SQL
        OrderAccepted(2, "X", 1, 1.0, 10.0, "s"), Fill(3, "X", 2, 1.0, 10.0, 0.0),
        Fill(4, "X", 2, 1.0, 10.0, 0.0),
        state(5, "ACTIVE", "HALTED"), state(6, "HALTED", "ACTIVE"), state(7, "ACTIVE", "HALTED"),
        state(8, "HALTED", "REDUCING"),
        risk(9, 100_250.5),
    ]
    write_session(path, "s1", events, started_at="2026-01-01T09:00:00+00:00",
                  data_source="sim", seed=3, config={"engine": {"initial_cash": 100_000.0}})
    (summary,) = list_sessions(open_db(path, create=False))
    assert (summary.id, summary.events, summary.trades, summary.halts) == ("s1", 9, 2, 2)
    assert summary.pnl == pytest.approx(250.5)
    assert (summary.clean, summary.data_source, summary.seed) == (True, "sim", 3)
    assert summary.duration_s is not None and summary.duration_s > 0


def test_list_sessions_shows_an_unclosed_session_without_duration_and_newest_first(path: Path) -> None:
    write_session(path, "old", [Tick(0, "X", 1.0, 1.0)], started_at="2026-01-01T00:00:00+00:00")
    write_session(path, "crashed", [Tick(0, "X", 1.0, 1.0)], started_at="2026-01-02T00:00:00+00:00",
                  clean=None)
    crashed, old = list_sessions(open_db(path, create=False))
    assert (crashed.id, crashed.ended_at, crashed.duration_s, crashed.clean) == (
        "crashed", None, None, False)
    assert (crashed.pnl, crashed.trades, crashed.halts, crashed.events) == (0.0, 0, 0, 1)
    assert old.id == "old" and old.clean


def test_list_sessions_searches_indexes_and_never_scans_the_events_table(path: Path) -> None:
    db = open_db(path)
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + SUMMARY_SQL).fetchall()]
    scans = [step for step in plan if step.startswith("SCAN")]
    assert scans and all(step.startswith("SCAN s") for step in scans), plan
    # the lookups by kind (last risk, halts) must use the (session, kind)
    # index; a primary-key search on session alone walks the whole session
    by_kind = [step for step in plan if "(session=? AND kind=?)" in step]
    assert len(by_kind) == 2, plan


def test_a_corrupt_payload_in_the_summary_is_reported_as_unknown_pnl(path: Path) -> None:
    write_session(path, "s1", [risk(1, 100.0), risk(2, 110.0)], started_at="2026-01-01T00:00:00+00:00",
                  config={"engine": {"initial_cash": 100.0}})
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET payload = '{broken' WHERE seq = 2")
    conn.close()
    (summary,) = list_sessions(open_db(path, create=False))
    assert math.isnan(summary.pnl)


def test_a_config_that_is_not_json_is_a_storage_error(path: Path) -> None:
    write_session(path, "s1", [Tick(0, "X", 1.0, 1.0)], started_at="2026-01-01T00:00:00+00:00",
                  config="{not json")
    with pytest.raises(StorageError, match="config is not JSON"):
        session_meta(open_db(path, create=False), "s1")


def test_every_reader_works_on_a_read_only_connection(path: Path) -> None:
    write_session(path, "s1", [OrderAccepted(1, "X", 0, 2.0, 10.0, "op"), risk(2, 5.0)],
                  started_at="2026-01-01T00:00:00+00:00")
    db = open_db(path, readonly=True)
    sid = resolve_session(db, "s")
    assert resolve_session(db, "last") == sid == "s1"
    assert session_meta(db, sid)["last_seq"] == 2
    assert len(list(iter_events(db, sid))) == 2
    assert list(orders_by_seq(db, sid)) == [1] and fills_by_seq(db, sid) == {}
    assert [s.id for s in list_sessions(db)] == ["s1"]


def test_last_skips_a_newer_session_whose_start_failed_before_any_event(path: Path, db: Database) -> None:
    """A start that failed (full disk, Ctrl-C in start-up) leaves a session row
    with no events: it is listed, but never ``last`` (issue 19, item 9)."""
    assert resolve_session(db, "last") == "b77777"
    write_session(path, "0000empty", [], started_at="2026-03-01T00:00:00+00:00", clean=False)
    assert resolve_session(db, "last") == "b77777"
    assert resolve_session(db, "0000empty") == "0000empty"  # still there by id


def test_last_in_a_log_of_only_failed_starts_says_so(tmp_path: Path) -> None:
    p = tmp_path / "failed.db"
    write_session(p, "s-empty", [], started_at="2026-03-01T00:00:00+00:00", clean=False)
    with pytest.raises(UnknownSession, match=r"no session in .* has logged an event \(1 started but logged nothing\)"):
        resolve_session(open_db(p, create=False), "last")
