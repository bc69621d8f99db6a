"""The engine in its own process (console.remote), as `console run` uses it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from console.remote import RemoteSession
from core.errors import InputError


def options(db: Path, **changes: object) -> dict[str, object]:
    base: dict[str, object] = dict(db=db, seed=3, speed=None, data=None, symbol=None, config_path=None,
                                   max_events=None, keep_alive=True)
    base.update(changes)
    return base


def test_remote_session_halts_on_command_and_closes_its_log_cleanly(tmp_path: Path):
    db = tmp_path / "r.db"
    remote = RemoteSession("new", options(db))
    worker = threading.Thread(target=remote.run)
    worker.start()
    deadline = time.time() + 30
    while remote.latest.seq < 20_000 and time.time() < deadline:
        time.sleep(0.05)
    remote.submit("halt", reason="operator test")
    while remote.latest.trading_state != "HALTED" and time.time() < deadline:
        time.sleep(0.005)
    assert remote.latest.trading_state == "HALTED"
    remote.stop()
    worker.join(30)
    remote.join()
    assert remote.process.exitcode == 0 and remote.error == ""
    con = sqlite3.connect(db)
    assert con.execute("select clean_close from sessions").fetchone() == (1,)
    reasons = [r for (r,) in con.execute("select json_extract(payload, '$.reason') from events where kind='command'")]
    assert reasons == ["operator test"]
    from console.replay_cmd import run_replay

    assert run_replay(db, remote.session_id) == 0


def test_a_bad_input_in_the_engine_process_is_one_input_error(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Close\n2020-01-02,-1\n")
    with pytest.raises(InputError, match="bad.csv"):
        RemoteSession("new", options(tmp_path / "x.db", data=str(bad)))
