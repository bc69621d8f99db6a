"""``console sweep``: what-if trials over a grid, serial and on Ray; rows in the
database, resume, statistics, Parquet, the file source and the command line.

One local Ray (2 CPUs) is started for the whole test session (``ray_local`` in conftest)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from console import sweep as sw
from console.whatif import what_if
from core.build import engine_from_setup, engine_setup
from core.config import EngineConfig
from core.market.sim import Simulator
from core.session import Session

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GRID = "[strategy]\nfast = [3, 5]\nslow = {range = [15, 25, 10]}\n"
RANDOM_GRID = GRID + "[limits]\nmax_position_fraction = {uniform = [0.02, 0.2]}\n"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A simulated momentum session (15000 inputs, seed 5)."""
    from storage import LogWriter

    db = tmp_path_factory.mktemp("sweep") / "s.db"
    sim = Simulator(5)
    cfg = EngineConfig()
    cfg = replace(cfg, strategy=replace(cfg.strategy, signal="momentum"))
    setup = engine_setup(cfg, sim.spec, {"seed": 5})
    writer = LogWriter(db, {"id": "sw-1", "config": json.dumps(setup), "seed": 5})
    Session(engine_from_setup(setup), sim, writer, "sw-1", max_events=15000).run()
    writer.close(clean=True)
    return db, "sw-1"


def quiet() -> Console:
    return Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115


def grid_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return p


def numbers(trials: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    return [(t["idx"], t["params"], t["status"], t["pnl"], t["sharpe"], t["max_drawdown"], t["trades"],
             t["fees"], t["halts"], t["trips"], list(t["returns"])) for t in trials]


def test_a_serial_sweep_stores_every_trial_and_matches_what_if(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    res = sw.run_sweep(db, sid, grid_file(tmp_path, GRID), serial=True, out=tmp_path / "r.parquet",
                       con=quiet(), progress=False)
    assert res.ran == 5 and res.skipped == 0 and len(res.trials) == 5
    assert [t["params"] for t in res.trials] == [
        {}, {"strategy.fast": 3, "strategy.slow": 15}, {"strategy.fast": 3, "strategy.slow": 25},
        {"strategy.fast": 5, "strategy.slow": 15}, {"strategy.fast": 5, "strategy.slow": 25}]
    assert all(t["status"] == "done" for t in res.trials)
    assert len({t["pnl"] for t in res.trials}) > 2  # the keys change the runs
    # trial 3 is `console replay --what-if` with the same keys: the same B
    (tmp_path / "b.toml").write_text("[strategy]\nfast = 5\nslow = 15\n")
    w = what_if(db, sid, tmp_path / "b.toml")
    t3 = res.trials[3]
    assert (t3["pnl"], t3["trades"], t3["fees"], len(t3["returns"])) == (
        w.b.pnl, w.b.trades, w.b.commission, w.b.returns.values.size)
    # the base trial is the logged run (P&L of the log's own definition)
    assert res.trials[0]["pnl"] == w.a.pnl
    # statistics: N counted, Holm over the 4 non-base trials, one DSR each
    assert all(t["n_counted"] == 5 for t in res.trials) and math.isnan(res.trials[0]["p"])
    assert all(0.0 <= t["p_holm"] <= 1.0 and t["p_holm"] >= t["p"] for t in res.trials[1:])
    df = pd.read_parquet(tmp_path / "r.parquet")
    assert list(df["trial"]) == [0, 1, 2, 3, 4] and list(df["strategy.fast"][1:]) == [3, 3, 5, 5]
    assert {"pnl", "sharpe", "max_drawdown", "trades", "fees", "halts", "trips", "dsr", "p_holm",
            "survives"} <= set(df.columns)
    assert df["pnl"].tolist() == [t["pnl"] for t in res.trials]


def test_a_sweep_resumes_without_rerunning_finished_trials(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    g = grid_file(tmp_path, RANDOM_GRID)
    first = sw.run_sweep(db, sid, g, trials=2, seed=4, serial=True, out=tmp_path / "a.parquet",
                         con=quiet(), progress=False)
    assert first.ran == 9
    from storage import open_db

    rdb = open_db(db)
    rdb.execute("DELETE FROM trials WHERE sweep = ? AND idx IN (2, 7)", [first.id])  # a sweep stopped halfway
    rdb.execute("UPDATE trials SET pnl = 12345.0 WHERE sweep = ? AND idx = 1", [first.id])  # marks a kept row
    rdb.conn.commit()
    rdb.conn.close()
    again = sw.run_sweep(db, sid, g, trials=2, seed=4, serial=True, out=tmp_path / "b.parquet",
                         con=quiet(), progress=False)
    assert again.id == first.id and again.ran == 2 and again.skipped == 7
    assert again.trials[1]["pnl"] == 12345.0  # trial 1 was not run again
    restored = [t for t in numbers(again.trials) if t[0] != 1]
    assert restored == [t for t in numbers(first.trials) if t[0] != 1]  # the re-run ones are the same
    # another seed is another sweep
    other = sw.run_sweep(db, sid, g, trials=2, seed=5, serial=True, out=tmp_path / "c.parquet",
                         con=quiet(), progress=False)
    assert other.id != first.id and other.ran == 9


def test_a_trial_that_raises_is_recorded_and_the_sweep_goes_on(logged, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    db, sid = logged
    import core.build

    real = core.build.build_engine

    def flaky(cfg, spec, seed=0):  # type: ignore[no-untyped-def]
        if cfg.strategy.fast == 5 and cfg.strategy.slow == 25:
            raise RuntimeError("model exploded\nsecond line")
        return real(cfg, spec, seed)

    monkeypatch.setattr(core.build, "build_engine", flaky)
    g = grid_file(tmp_path, GRID + "[broker]\ncommission_bps = {value = 1.0}\n")  # not the sweep of the test above
    res = sw.run_sweep(db, sid, g, serial=True, out=tmp_path / "r.parquet",
                       con=quiet(), progress=False)
    bad = res.trials[4]
    assert bad["status"] == "error" and bad["error"] == "RuntimeError: model exploded"
    assert [t["status"] for t in res.trials[:4]] == ["done"] * 4
    assert res.trials[0]["n_counted"] == 4  # a failed trial has no Sharpe to count


def test_ray_gives_the_serial_numbers_and_retries_a_dead_worker(logged, tmp_path, ray_local, monkeypatch):  # type: ignore[no-untyped-def]
    db, sid = logged
    g = grid_file(tmp_path, RANDOM_GRID)
    serial = sw.run_sweep(db, sid, g, trials=2, seed=9, serial=True, out=tmp_path / "s.parquet",
                          con=quiet(), progress=False)
    from storage import open_db

    rdb = open_db(db)  # the same sweep id: clear it so that Ray runs every trial
    rdb.execute("DELETE FROM trials WHERE sweep = ?", [serial.id])
    rdb.conn.commit()
    rdb.conn.close()
    marker = tmp_path / "crashed"
    put = []
    real_put = ray_local.put
    monkeypatch.setattr(ray_local, "put", lambda v: put.append(1) or real_put(v))
    monkeypatch.setattr(sw, "_task", _crash_once_task(str(marker)))
    on_ray = sw.run_sweep(db, sid, g, trials=2, seed=9, out=tmp_path / "r.parquet",
                          con=quiet(), progress=False)
    assert on_ray.ran == 9 and put == [1]  # the inputs went into the object store once
    assert marker.exists()  # trial 1's worker died once and was retried
    assert numbers(on_ray.trials) == numbers(serial.trials)
    assert ray_local.is_initialized()  # a Ray it did not start is left running


def _crash_once_task(marker: str):  # type: ignore[no-untyped-def]
    def task(inputs, idx, overrides):  # type: ignore[no-untyped-def]
        if idx == 1 and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write("x")
            os._exit(1)  # the worker process dies
        return idx, sw.run_trial(inputs, overrides)
    return task


def test_a_price_file_sweep_is_deterministic(tmp_path):  # type: ignore[no-untyped-def]
    g = grid_file(tmp_path, "[strategy]\nsignal = {value = \"momentum\"}\nfast = [2, 3]\nslow = [5]\n")
    f = str(FIXTURES / "mplfinance_SP500_NOV2019_IDayRVol_head.csv")
    a = sw.run_sweep(tmp_path / "f.db", f, g, serial=True, out=tmp_path / "a.parquet", con=quiet(), progress=False)
    b = sw.run_sweep(tmp_path / "g.db", f, g, serial=True, out=tmp_path / "b.parquet", con=quiet(), progress=False)
    assert a.id == b.id and numbers(a.trials) == numbers(b.trials) and len(a.trials) == 3
    assert all(t["status"] == "done" for t in a.trials) and any(t["trades"] > 0 for t in a.trials)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "console.cli", *args], env=env, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_the_command_prints_the_table_lists_and_shows(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    g = grid_file(tmp_path, GRID)
    res = run_cli("sweep", sid, "--grid", str(g), "--serial", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "5 trials (4 + base)" in out and "deflated Sharpe over N = 5 trials" in out
    assert "Sharpe by strategy.fast (across) and strategy.slow (down)" in out and "████" in out
    sweep_id = out.split("sweep ")[1].split(":")[0]
    assert (tmp_path / f"sweep-{sweep_id}.parquet").exists()
    listed = run_cli("sweep", "--list", "--db", str(db), cwd=tmp_path)
    assert sweep_id in listed.stdout and "done" in listed.stdout
    shown = run_cli("sweep", "--show", sweep_id[:6], "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 0 and f"sweep {sweep_id} (done): 5 of 5 trials" in shown.stdout
    again = run_cli("sweep", sid, "--grid", str(g), "--serial", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert "5 already done, 0 to run" in again.stdout


@pytest.mark.parametrize(("grid", "args", "needle"), [
    ("[strategy]\nfastt = [1]\n", (), "unknown key strategy.fastt"),
    ("[strategy]\nfast = [3]\n", ("--trials", "3"), "this grid has none"),
    ("[strategy]\nfast = [3]\n", ("--serial", "--cpus", "2"), "--serial runs without Ray"),
    ("[strategy]\nfast = [3]\n", ("--show", "nope"), "no sweep 'nope'"),
    ("[strategy]\nfast = [3]\n", ("--address", "127.0.0.1:9"), "cannot reach a Ray cluster at 127.0.0.1:9"),
    ("[strategy]\nfast = [3]\n", ("--address", "nowhere"), "expected HOST:PORT"),
])
def test_bad_input_is_one_line_and_exit_2(logged, tmp_path, grid, args, needle):  # type: ignore[no-untyped-def]
    db, sid = logged
    res = run_cli("sweep", sid, "--grid", str(grid_file(tmp_path, grid)), "--db", str(db), *args, cwd=tmp_path)
    assert res.returncode == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_console_run_and_help_do_not_import_ray() -> None:
    code = ("import sys\nfrom console.cli import cli\n"
            "for argv in (['--help'], ['sweep', '--help']):\n"
            "    try:\n        cli.main(argv, standalone_mode=False)\n    except SystemExit:\n        pass\n"
            "import console.setup_run, console.sweep\n"
            "print('RAY', 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True).stdout
    assert out.strip().splitlines()[-1] == "RAY False"


def test_ctrl_c_stops_the_sweep_and_the_same_command_resumes_it(logged, tmp_path):  # type: ignore[no-untyped-def]
    import signal
    import time

    from storage import open_db

    db, sid = logged
    g = grid_file(tmp_path, "[strategy]\nfast = [2, 3, 4, 5, 6, 7, 8, 9]\nslow = [25, 35]\n")
    args = [sys.executable, "-m", "console.cli", "sweep", sid, "--grid", str(g), "--serial", "--db", str(db),
            "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    done = 0
    while done < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        try:
            rdb = open_db(db, create=False, readonly=True)
            done = rdb.execute("SELECT count(*) FROM trials t JOIN sweeps s ON s.id = t.sweep "
                               "WHERE s.grid LIKE '%[2, 3, 4, 5, 6, 7, 8, 9]%'").fetchone()[0]
            rdb.conn.close()
        except Exception:  # noqa: BLE001 - the tables may not exist yet
            pass
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    stored = int(out.split("stopped: ")[1].split(" of 17")[0])
    assert 3 <= stored < 17
    again = run_cli("sweep", sid, "--grid", str(g), "--serial", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and f"{stored} already done, {17 - stored} to run" in again.stdout


@pytest.mark.slow
def test_address_runs_the_trials_on_an_existing_cluster(logged, tmp_path):  # type: ignore[no-untyped-def]
    """A one-node cluster from ``ray start --head --block`` (token auth, as Ray 2.60 starts it),
    stopped by its pid afterwards."""
    import signal
    import socket
    import time

    db, sid = logged
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
    ray_bin = str(Path(sys.executable).parent / "ray")
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--num-cpus", "1", "--port", str(port),
                             "--include-dashboard=false", "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)
        g = grid_file(tmp_path, GRID + "[broker]\ncommission_bps = {value = 2.0}\n")
        res = subprocess.run([sys.executable, "-m", "console.cli", "sweep", sid, "--grid", str(g), "--db", str(db),
                              "--address", f"127.0.0.1:{port}", "--no-progress", "--out", str(tmp_path / "c.parquet")],
                             env=dict(env, COLUMNS="200"), capture_output=True, text=True, cwd=tmp_path, timeout=180)
        assert res.returncode == 0, res.stderr
        assert "Ray connected" in res.stdout and "5 trials run" in res.stdout
        from storage import open_db

        rdb = open_db(db, create=False, readonly=True)
        src = sw.session_source(rdb, sid)
        rdb.conn.close()
        inputs = (src.logged, src.spec, src.seed, src.rows)
        df = pd.read_parquet(tmp_path / "c.parquet")
        params = [{}, *sw.read_grid(g).trials()]
        for row, p in zip(df.itertuples(), params, strict=True):  # the cluster's numbers are this process's
            mine = sw.run_trial(inputs, sw.nested(p))
            assert (row.pnl, row.trades, row.fees, row.halts) == (mine["pnl"], mine["trades"], mine["fees"], mine["halts"])
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
