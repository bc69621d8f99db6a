"""Venue mode against the fake Binance server: a reconciliation that halted
is re-run every ``reconcile_s`` while its halt is in force, and the session
resumes by itself (a logged ``resume`` from ``venue reconciliation``) once
the venue agrees with the log; a difference that persists keeps it halted
(rows logged only when the differences change); an operator's halt is never
lifted; a restart compares with the log as it stood before the halt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import console
from tests.test_venues_recon import (  # noqa: F401  (keys, live: fixtures)
    CONFIG, commands, keys, replays, reports, resume, run, run_live, spec, start, stop, until,
)
from tests.venue_fakes import FakeBinance, live  # noqa: F401

WHO = "venue reconciliation"
ETH_DIFF = "ETH/USDT: the log holds +0, binance holds +1.25 (opened outside the console?)"


def account_reads(f: FakeBinance) -> int:
    with f.lock:
        return sum(1 for m, path, _p in f.requests if m == "GET" and path == "/api/v3/account")


def test_a_difference_the_venue_corrects_resumes_by_itself_logged(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25  # bought in the venue's app before the start
    prep = start(tmp_path, spec(url, reconcile_s=0.2, history=20), keep_alive=True)
    assert prep.session.engine.state.state == "HALTED"
    sid = prep.session.session_id
    t = run_live(prep)
    try:
        reads = account_reads(f)
        assert until(lambda: account_reads(f) >= reads + 3)  # re-runs: the account read again and again
        assert prep.session.engine.state.state == "HALTED"
        assert len(reports(tmp_path, sid, "reconciled")) == 1  # the same difference: nothing more logged
        with f.lock:
            f.balances["ETH"] = 0.0  # the manual position is closed at the venue
        assert until(lambda: prep.session.engine.state.state == "ACTIVE")
    finally:
        stop(prep, t)
    assert prep.session.error == ""
    done = reports(tmp_path, sid, "reconciled")
    assert [d["reason"] for d in done] == ["binance at start: 1 difference(s)", "binance at re-run: no differences"]
    assert [p["qty"] for p in reports(tmp_path, sid, "position") if p["symbol"] == "ETH/USDT"] == [1.25, 0.0]
    halt, back = commands(tmp_path, sid)
    assert (halt["action"], halt["who"]) == ("halt", WHO)
    assert (back["action"], back["who"]) == ("resume", WHO)
    assert back["reason"] == f"reconciliation with binance at re-run resolved: no differences now (was: {ETH_DIFF})"
    replays(capsys, tmp_path, sid)


def test_a_difference_that_persists_stays_halted_and_logs_only_changes(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25
    prep = start(tmp_path, spec(url, reconcile_s=0.2, history=20), keep_alive=True)
    sid = prep.session.session_id
    t = run_live(prep)
    try:
        reads = account_reads(f)
        assert until(lambda: account_reads(f) >= reads + 3)
        with f.lock:
            f.balances["ETH"] = 2.0  # a different difference: logged once
        assert until(lambda: len(reports(tmp_path, sid, "reconciled")) == 2)
        reads = account_reads(f)
        assert until(lambda: account_reads(f) >= reads + 3)
        assert prep.session.engine.state.state == "HALTED"
    finally:
        stop(prep, t)
    done = reports(tmp_path, sid, "reconciled")
    assert [d["reason"] for d in done] == ["binance at start: 1 difference(s)", "binance at re-run: 1 difference(s)"]
    assert [d["reason"] for d in reports(tmp_path, sid, "mismatch")] == [
        ETH_DIFF, "ETH/USDT: the log holds +0, binance holds +2 (opened outside the console?)"]
    assert [(c["action"], c["who"]) for c in commands(tmp_path, sid)] == [("halt", WHO)]  # no second halt
    replays(capsys, tmp_path, sid)


def test_an_operators_halt_is_never_lifted_by_reconciliation(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25
    prep = start(tmp_path, spec(url, reconcile_s=0.2, history=20), keep_alive=True)
    sid = prep.session.session_id
    t = run_live(prep)
    try:
        confirmed: list[int] = []
        prep.session.submit("halt", reason="looking into it myself", who="test",
                            done=lambda seq, _r: confirmed.append(seq))  # on top of reconciliation's halt
        assert until(lambda: bool(confirmed))
        with f.lock:
            f.balances["ETH"] = 0.0  # resolved at the venue: still the operator's halt
        time.sleep(0.3)  # a re-run queued before the operator's halt may still be answered
        reads = account_reads(f)
        time.sleep(1.0)  # five re-run periods
        assert account_reads(f) == reads  # not even asked
        assert prep.session.engine.state.state == "HALTED"
    finally:
        stop(prep, t)
    assert [(c["action"], c["who"]) for c in commands(tmp_path, sid)] == [("halt", WHO), ("halt", "test")]
    assert len(reports(tmp_path, sid, "reconciled")) == 1
    replays(capsys, tmp_path, sid)


def test_a_clean_session_halted_by_the_operator_is_not_reconciled(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path) -> None:
    f, url = live
    prep = start(tmp_path, spec(url, reconcile_s=0.1, history=20), keep_alive=True)
    t = run_live(prep)
    try:
        prep.session.submit("halt", reason="lunch", who="test")
        assert until(lambda: prep.session.engine.state.state == "HALTED")
        time.sleep(0.2)
        reads = account_reads(f)
        time.sleep(0.6)
        assert account_reads(f) == reads
    finally:
        stop(prep, t)
    assert len(reports(tmp_path, prep.session.session_id, "reconciled")) == 1


def halted_start(tmp_path: Path, url: str) -> str:
    prep = start(tmp_path, spec(url), max_events=5)  # reconcile_s 30: no re-run in this life
    assert prep.session.engine.state.state == "HALTED"
    run(prep)
    return str(prep.session.session_id)


def test_a_restart_resumes_by_itself_when_it_resolved_while_down(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25
    sid = halted_start(tmp_path, url)
    f.balances["ETH"] = 0.0
    again = resume(tmp_path, sid, max_events=2)
    assert again.session.engine.state.state == "ACTIVE"
    run(again)
    assert [(c["action"], c["who"]) for c in commands(tmp_path, sid)] == [("halt", WHO), ("resume", WHO)]
    assert commands(tmp_path, sid)[1]["reason"].startswith("reconciliation with binance at resume resolved")
    replays(capsys, tmp_path, sid)


def test_a_restart_still_flags_a_difference_never_accepted(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.balances["ETH"] = 1.25
    sid = halted_start(tmp_path, url)
    again = resume(tmp_path, sid, max_events=2)  # compared with the log before the halt, not the rows it logged
    assert again.session.engine.state.state == "HALTED"
    run(again)
    assert reports(tmp_path, sid, "reconciled")[-1]["reason"] == "binance at resume: 1 difference(s)"
    assert [d["reason"] for d in reports(tmp_path, sid, "mismatch")] == [ETH_DIFF, ETH_DIFF]
    replays(capsys, tmp_path, sid)


@pytest.mark.parametrize("args, table, want", [
    (("--reconcile-s", "0"), "", "venue.reconcile_s (--reconcile-s) must be a number of seconds > 0, got 0.0"),
    (("--reconcile-s", "nan"), "", "venue.reconcile_s (--reconcile-s) must be a number of seconds > 0, got nan"),
    ((), "[venue]\nreconcile_s = -5\n", "venue.reconcile_s (--reconcile-s) must be a number of seconds > 0, got -5.0"),
    ((), '[venue]\nreconcile_s = "often"\n', "venue.reconcile_s has the wrong type ('often')"),
])
def test_reconcile_s_is_checked_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            args: tuple[str, ...], table: str, want: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG + table)
    rc, _out, err = console(capsys, "run", "--headless", "--venue", "binance", "--mode", "venue", "--symbols",
                            "BTC/USDT", "--venue-url", "http://127.0.0.1:9", "--config", str(cfg), *args,
                            "--db", str(tmp_path / "v.db"))
    assert rc == 2 and want in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_reconcile_s_needs_a_venue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _out, err = console(capsys, "run", "--headless", "--reconcile-s", "5", "--db", str(tmp_path / "v.db"))
    assert rc == 2 and "--reconcile-s need --venue NAME" in err, err


def test_reconcile_s_is_logged_with_the_session(live: tuple[FakeBinance, str], keys: None, tmp_path: Path) -> None:
    _f, url = live
    prep: Any = start(tmp_path, spec(url, reconcile_s=7.5), max_events=2)
    run(prep)
    from core.venues.base import VenueSpec

    assert prep.session.venue.reconcile_s == 7.5
    assert VenueSpec.from_dict({"venue": "binance"}).reconcile_s == 30.0  # logs from before the key
