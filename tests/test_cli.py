"""End-to-end CLI: each command as a user runs it, with real exit codes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def console(*args: str, db: Path, check_rc: int | None = 0, **kw):  # type: ignore[no-untyped-def]
    env = dict(os.environ, CONSOLE_DB=str(db))
    res = subprocess.run([sys.executable, "-m", "console.cli", *args], env=env, capture_output=True,
                         text=True, cwd=ROOT, timeout=120, **kw)
    if check_rc is not None:
        assert res.returncode == check_rc, res.stdout + res.stderr
    return res


def one_line_error(res) -> str:  # type: ignore[no-untyped-def]
    err = res.stderr.strip()
    assert res.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def session_id(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "c.db"
    res = console("run", "--headless", "--events", "20000", "--seed", "5", db=db)
    return db, res.stdout.strip().splitlines()[-1]


def test_headless_run_prints_the_session_id_last(session_id):  # type: ignore[no-untyped-def]
    db, sid = session_id
    row = sqlite3.connect(db).execute("select seed, clean_close, data_source from sessions where id=?", (sid,)).fetchone()
    assert row == (5, 1, "sim:seed=5")


def test_replay_of_a_clean_session_says_verified_and_exits_0(session_id):  # type: ignore[no-untyped-def]
    db, sid = session_id
    res = console("replay", sid, db=db)
    assert "verified" in res.stdout and "max drawdown" in res.stdout and "breaker trips" in res.stdout


def test_replay_catches_an_edited_fill_price_and_exits_1(session_id):  # type: ignore[no-untyped-def]
    db, sid = session_id
    con = sqlite3.connect(db)
    seq = con.execute("select min(seq) from fills where session=?", (sid,)).fetchone()[0]
    con.execute("update fills set price = price + 0.5 where session=? and seq=?", (sid, seq))
    con.commit()
    res = console("replay", sid[:12], db=db, check_rc=1)
    assert "DIVERGED" in res.stdout and f"seq {seq}" in res.stdout


def test_sessions_lists_the_session_with_its_counts(session_id):  # type: ignore[no-untyped-def]
    db, sid = session_id
    res = console("sessions", db=db)
    line = next(ln for ln in res.stdout.splitlines() if sid in ln)
    assert "20,000" in line or "2" in line.split()[4] and " yes " in f" {line} "


def test_unknown_session_is_one_line_and_exit_2(session_id):  # type: ignore[no-untyped-def]
    db, _ = session_id
    err = one_line_error(console("replay", "no-such-id", db=db, check_rc=None))
    assert "no-such-id" in err


def test_corrupt_database_is_one_line_and_exit_2_and_untouched(tmp_path: Path):
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not sqlite" * 100)
    before = db.read_bytes()
    err = one_line_error(console("run", "--headless", "--events", "10", db=db, check_rc=None))
    assert str(db) in err
    one_line_error(console("replay", "last", db=db, check_rc=None))
    assert db.read_bytes() == before


def test_bad_config_lists_every_problem_in_one_line(tmp_path: Path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('bogus = 1\n[limits]\nmax_gross_leverage = -2\n[breakers]\ndaily_loss = "x"\n')
    err = one_line_error(console("config", "show", "--config", str(cfg), db=tmp_path / "x.db", check_rc=None))
    assert "bogus" in err and "max_gross_leverage" in err and "daily_loss" in err


def test_config_show_prints_the_effective_limits(tmp_path: Path):
    res = console("config", "show", db=tmp_path / "x.db")
    assert "[breakers]" in res.stdout and "daily_loss = 0.03" in res.stdout


def test_config_show_is_toml_that_reads_back_as_the_same_config(tmp_path: Path):
    import tomllib

    from core.config import EngineConfig, config_from_dict

    res = console("config", "show", db=tmp_path / "x.db")
    assert config_from_dict(tomllib.loads(res.stdout)) == EngineConfig()  # on_trip is an inline table


def test_broken_csv_is_one_line_naming_the_file(tmp_path: Path):
    bad = tmp_path / "prices.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,-3,10\n")
    err = one_line_error(console("run", "--headless", "--data", str(bad), db=tmp_path / "x.db", check_rc=None))
    assert "prices.csv" in err


def test_doctor_reports_the_database_and_the_hot_path(session_id):  # type: ignore[no-untyped-def]
    db, _ = session_id
    res = console("doctor", db=db)
    from core.build import is_compiled

    mode = "compiled by mypyc" if is_compiled() else "interpreted"
    assert "hot path" in res.stdout and "ok; 1 sessions" in res.stdout and mode in res.stdout


def test_bad_speed_is_a_usage_error(tmp_path: Path):
    res = console("run", "--headless", "--speed", "fast", db=tmp_path / "x.db", check_rc=2)
    assert "Traceback" not in res.stderr


def test_a_session_killed_mid_run_opens_unclean_and_replays_verified(tmp_path: Path):
    db = tmp_path / "k.db"
    env = dict(os.environ, CONSOLE_DB=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "console.cli", "run", "--headless", "--seed", "9"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            n = sqlite3.connect(db).execute("select count(*) from events").fetchone()[0]
        except sqlite3.Error:
            continue
        if n > 30_000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sid, clean = sqlite3.connect(db).execute("select id, clean_close from sessions").fetchone()
    assert clean == 0
    res = console("replay", sid, db=db)
    assert "verified" in res.stdout and "did not close cleanly" in res.stdout
    assert "no" in console("sessions", db=db).stdout
