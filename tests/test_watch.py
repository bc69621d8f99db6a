"""``console replay ID --tui``: the playback steps, seeks and paces a logged
session through a fresh engine, checks every decision, and never writes."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.watch import SEEK_INPUTS, Playback, Watch, open_watch

ROOT = Path(__file__).resolve().parents[1]
NO_MODELS = "[signals]\nmodels = []\n"  # trades sooner, and no fitting thread


def _logged(db: Path, cfg: Path, events: int, commands: dict[int, str]) -> str:
    """A session logged through the real path (console.setup_run), with
    operator ``commands`` submitted at the given input counts."""
    from console.setup_run import prepare

    prep = prepare(db=db, seed=3, speed=None, data=None, symbol=None, config_path=str(cfg),
                   max_events=events, keep_alive=False)
    session, source = prep.session, iter(prep.session.source)

    def with_commands():  # type: ignore[no-untyped-def]
        for n, ev in enumerate(source):
            if n in commands:
                session.submit(commands[n], reason=f"test at input {n}")
            yield ev

    session.source = with_commands()
    session.run()
    prep.writer.close(clean=True)
    return session.session_id


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("watch")
    cfg = tmp / "cfg.toml"
    cfg.write_text(NO_MODELS)
    db = tmp / "w.db"
    return db, _logged(db, cfg, 6_000, {2_500: "halt", 3_000: "resume"})


def _playback(logged: tuple[Path, str]) -> Playback:
    return open_watch(*logged, speed=None).playback


def _events(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("select count(*) from events").fetchone()[0])


def test_playback_ends_on_the_same_book_as_a_straight_replay(logged):  # type: ignore[no-untyped-def]
    from core.build import engine_from_setup
    from core.replay import verify
    from core.session import MemorySink, Session
    from storage import iter_events, open_db

    pb = _playback(logged)
    pb.step(10**9)
    assert pb.at_end and pb.problem == "" and pb.inputs == pb.total_inputs == 6_002  # two operator commands
    db = open_db(logged[0], create=False, readonly=True)
    engine = engine_from_setup(pb.setup)
    report = verify(engine, iter_events(db, logged[1]))
    assert report.verified and report.halts == 1
    want = Session(engine, (), MemorySink(), logged[1]).snapshot()
    got = pb.snapshot()
    assert got.seq == want.seq == report.last_seq == pb.last_seq
    assert got.risk == want.risk and got.positions and got.positions == want.positions
    assert got.trading_state == want.trading_state and got.breakers == want.breakers
    assert got.finished and not got.error
    assert any("OPERATOR halt" in line.text for line in got.log)


def test_step_advances_exactly_one_input(logged):  # type: ignore[no-untyped-def]
    db, sid = logged
    with sqlite3.connect(db) as con:
        inputs = [r[0] for r in con.execute(
            "select seq from events where session = ? and input = 1 order by seq limit 3", [sid])]
    pb = _playback(logged)
    assert (pb.inputs, pb.input_seq, pb.engine.seq) == (0, 0, 0)
    for n, seq in enumerate(inputs, 1):
        assert pb.step() == 1
        assert (pb.inputs, pb.input_seq) == (n, seq)
        assert pb.snapshot().seq == pb.engine.seq
        assert pb.engine.seq == pb.next_input_seq() - 1  # its decisions, checked, and no further


def test_seek_back_then_forward_lands_on_the_same_state(logged):  # type: ignore[no-untyped-def]
    pb = _playback(logged)
    pb.seek_inputs(3_200)  # past the halt and the resume
    before = pb.snapshot()
    pb.seek_inputs(-2_000)
    assert pb.inputs == 1_200 and pb.snapshot().seq < before.seq
    pb.seek_inputs(2_000)
    assert pb.snapshot() == before
    pb.seek(before.seq - 500)
    assert pb.input_seq <= before.seq - 500 < pb.next_input_seq()
    pb.seek(before.seq)
    assert pb.snapshot() == before


def test_an_edited_decision_stops_playback_at_its_seq(logged, tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "edited.db"
    shutil.copy(logged[0], db)
    with sqlite3.connect(db) as con:
        seq = con.execute("select seq from events where kind = 'fill' order by seq limit 1 offset 3").fetchone()[0]
        con.execute("update events set payload = replace(payload, '\"price\":', '\"price\":9') where seq = ?", [seq])
    pb = open_watch(db, logged[1], speed=None).playback
    pb.step(10**9)
    assert pb.divergence is not None and pb.divergence.seq == seq
    assert pb.problem.startswith(f"DIVERGED at seq {seq}: decision differs (price: log 9")
    assert pb.snapshot().error == pb.problem and pb.stopped and pb.step() == 0
    assert any(line.text.startswith("DIVERGED") for line in pb.snapshot().log)


def test_the_watch_paces_by_market_time(logged):  # type: ignore[no-untyped-def]
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    watch = Watch(_playback(logged), speed=60.0, clock=lambda: now[0], sleep=sleep)
    watch.step(1)  # the clock starts at the first input
    watch.toggle_pause()
    start = watch.playback.engine.ts
    while now[0] < 2.0:
        watch.tick()
    moved = watch.playback.engine.ts - start
    assert 100_000 <= moved <= 122_000  # 2 s at 60x is 120 market seconds (gaps up to one input)
    assert watch.latest.extra["status"] == "PLAYING" and watch.latest.speed == "60x"


def test_the_watch_pauses_itself_at_the_end_and_takes_requests(logged):  # type: ignore[no-untyped-def]
    watch = Watch(_playback(logged), speed=None)
    while not watch.playback.at_end:
        watch.tick()
    watch.tick()
    assert watch.paused and watch.latest.extra["status"] == "END"
    watch.toggle_pause()
    assert watch.paused  # nothing left to play
    watch.request("seek_inputs", -SEEK_INPUTS)
    watch.request("step", 1)
    watch.tick()
    assert watch.playback.inputs == 6_002 - SEEK_INPUTS + 1 and watch.latest.extra["status"] == "PAUSED"
    with pytest.raises(ValueError):
        watch.request("halt")


def test_tui_with_what_if_is_a_one_line_error(logged, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = dict(os.environ, CONSOLE_DB=str(logged[0]))
    for extra in (["--tui", "--what-if", str(tmp_path / "x.toml")], ["--speed", "10"]):
        res = subprocess.run([sys.executable, "-m", "console.cli", "replay", "last", *extra], env=env,
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
        err = res.stderr.strip()
        assert res.returncode == 2 and len(err.splitlines()) == 1 and "--" in err, err


# ---------------------------------------------------------------- the console


async def _until(pilot, condition, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


@pytest.fixture(scope="module")
def cli_logged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session the brief's user makes: default config, models and all."""
    from console.cli import cli

    db = tmp_path_factory.mktemp("watch-cli") / "w.db"
    res = CliRunner().invoke(cli, ["run", "--headless", "--events", "3000", "--seed", "3", "--db", str(db)])
    assert res.exit_code == 0, res.output
    return db


@pytest.mark.asyncio
async def test_the_console_plays_pauses_steps_seeks_and_never_writes(cli_logged, monkeypatch):  # type: ignore[no-untyped-def]
    from console.watch_app import READ_ONLY, WatchApp

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(cli_logged.parent))
    before = _events(cli_logged)
    with sqlite3.connect(cli_logged) as con:
        assert con.execute("select count(*) from events where kind = 'model_signal'").fetchone()[0] > 0
    watch = open_watch(cli_logged, "last", speed=60.0)
    app = WatchApp(watch)
    async with app.run_test(size=(160, 48)) as pilot:
        header = app.query_one("#feed-line")
        await _until(pilot, lambda: watch.playback.inputs > 0)
        await pilot.press("space")
        await _until(pilot, lambda: watch.paused and "PAUSED" in str(header.content))
        text = str(header.content)
        assert text.startswith("REPLAY (read-only)") and f"seq {watch.playback.engine.seq:,}/" in text
        assert "UTC" in text and watch.session_id in text
        at = watch.playback.inputs
        await pilot.pause(0.3)
        assert watch.playback.inputs == at  # paused stays put
        await pilot.press("n")
        await _until(pilot, lambda: watch.playback.inputs == at + 1)
        await pilot.press("right_square_bracket")
        await _until(pilot, lambda: watch.playback.inputs == at + 1 + SEEK_INPUTS)
        await _until(pilot, lambda: f"input {at + 1 + SEEK_INPUTS:,}/" in str(header.content))
        notes: list[str] = []
        app.notify = lambda message, **_: notes.append(message)  # type: ignore[method-assign]
        await pilot.press("h", "f", "r", "x", "c", "l")
        await pilot.pause(0.2)
        assert not app.screen.is_modal and watch.playback.inputs == at + 1 + SEEK_INPUTS
        assert notes == [READ_ONLY] * 6
        await pilot.press("g", *"500", "enter")
        await _until(pilot, lambda: watch.playback.input_seq <= 500 < watch.playback.next_input_seq())
        await pilot.press("q")
    assert app.return_code == 0 and watch.stopping
    assert _events(cli_logged) == before
    with sqlite3.connect(cli_logged) as con:
        assert con.execute("select count(*) from events where kind = 'command'").fetchone()[0] == 0
