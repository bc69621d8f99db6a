"""``Session.on_end``: hooks run in order when ``run`` ends, before the caller
closes the log, with whether the session ended clean; a hook that raises is
the session's one-line error and the others still run. Venue mode finishes
its venue thread there: an order still in flight when the feed ends has its
reports logged before the log closes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.build import build_engine
from core.config import EngineConfig
from core.events import Command, Tick
from core.session import MemorySink, Session
from tests.conftest import SPEC
from tests.test_venues_recon import keys, replays, spec, start  # noqa: F401  (keys: a fixture)
from tests.venue_fakes import FakeBinance, live  # noqa: F401  (live: a fixture)


def session(source: list[object]) -> Session:
    return Session(build_engine(EngineConfig(), SPEC), source, MemorySink(), "test", speed=None)


def test_hooks_run_in_order_after_the_feed_and_may_still_log() -> None:
    s = session([Tick(i, "AAA", 100.0, 1.0) for i in range(1, 6)])
    calls: list[tuple[str, bool, int]] = []
    s.on_end.append(lambda clean: calls.append(("a", clean, s.inputs)))

    def last_word(clean: bool) -> None:
        calls.append(("b", clean, s.inputs))
        s.step(Command(s.engine.ts, "", "halt", "", "the end", "hook"))

    s.on_end.append(last_word)
    s.run()
    assert calls == [("a", True, 5), ("b", True, 5)]
    assert s.error == "" and s.latest.trading_state == "HALTED"  # the last snapshot shows what the hook logged
    assert isinstance(s.sink, MemorySink) and s.sink.rows[-2][1].action == "halt"  # type: ignore[attr-defined]
    assert s.sink.closed is None  # closing the log is the caller's


def test_a_failing_hook_is_one_line_and_the_rest_still_run() -> None:
    s = session([Tick(1, "AAA", 100.0, 1.0)])
    seen: list[bool] = []

    def bad(clean: bool) -> None:
        raise RuntimeError("venue gone\nwith a second line")

    s.on_end += [bad, seen.append, lambda clean: (_ for _ in ()).throw(ValueError("second"))]
    s.run()
    assert s.error == "session stopped: venue gone\\nwith a second line"  # the first error stays
    assert seen == [False]  # told the session did not end clean


def test_a_session_that_failed_tells_the_hooks() -> None:
    def feed() -> object:
        yield Tick(1, "AAA", 100.0, 1.0)
        raise OSError("disk full")

    s = session(feed())  # type: ignore[arg-type]
    seen: list[bool] = []
    s.on_end.append(seen.append)
    s.run()
    assert seen == [False] and s.error == "session stopped: disk full"


def test_a_venue_order_in_flight_at_the_end_is_logged_before_the_log_closes(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.order_delay_s = 0.4  # the feed's history is done long before the venue answers
    prep = start(tmp_path, spec(url), max_events=110)
    assert prep.session.on_end and not hasattr(prep.writer, "inner")  # the plain log writer: no proxy
    prep.session.run()
    prep.writer.close(clean=not prep.session.error)
    assert prep.session.error == ""
    assert prep.session.venue.thread is not None and not prep.session.venue.thread.is_alive()  # closed
    sid = prep.session.session_id
    con = sqlite3.connect(tmp_path / "v.db")
    rows = con.execute("select seq, kind, payload from events where session = ? order by seq", [sid]).fetchall()
    ended = con.execute("select clean_close from sessions where id = ?", [sid]).fetchone()
    con.close()
    accepted = [seq for seq, kind, _p in rows if kind == "order_accepted"]
    assert accepted, "the strategy sent no order"
    filled = {json.loads(p)["order_id"] for _s, kind, p in rows
              if kind == "venue_report" and json.loads(p)["kind"] == "fill"}
    assert filled == set(accepted)  # the last one too: its fill came after the feed ended
    assert ended == (1,)
    replays(capsys, tmp_path, sid)
