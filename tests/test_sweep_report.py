"""``console report SWEEP_ID``: the trial table with DSR and Holm p-values, and
the grid as a heatmap of a chosen metric (terminal blocks and HTML); more
than two swept keys: two picked, the rest aggregated, and said how."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from console import sweep as sw
from console.cli import cli
from console.sweep_report import BINS, heat_grid, print_heatmap
from core.errors import InputError


def trial(idx: int, params: dict, sharpe: float, status: str = "done", **more: float) -> dict:  # type: ignore[type-arg]
    return {"idx": idx, "params": params, "status": status, "sharpe": sharpe, "pnl": sharpe * 100,
            "max_drawdown": more.get("dd", 0.1), "trades": 5, "dsr": more.get("dsr", 0.5)}


def grid3() -> list[dict]:  # type: ignore[type-arg]
    """Base + a 2 x 2 x 2 grid over a, b, c with sharpe = a + b / 10 + c / 100."""
    out = [trial(0, {}, 99.0)]
    i = 1
    for a in (1, 2):
        for b in (10, 20):
            for c in (5, 7):
                out.append(trial(i, {"s.a": a, "s.b": b, "s.c": c}, a + b / 10 + c / 100))
                i += 1
    return out


def test_two_keys_give_a_2d_map_of_the_chosen_metric_without_the_base_or_failures() -> None:
    trials = [t for t in grid3() if t["params"].get("s.c", 5) == 5]
    trials.append(trial(99, {"s.a": 1, "s.b": 10, "s.c": 5}, math.nan, status="error"))
    g = heat_grid(trials, ["s.a", "s.b"], "pnl")
    assert not isinstance(g, str)
    assert (g.x.key, g.y.key, g.x.labels, g.y.labels) == ("s.a", "s.b", ["1", "2"], ["10", "20"])
    assert g.values == pytest.approx(np.array([[205.0, 305.0], [305.0, 405.0]]))  # rows: b; cols: a
    assert g.counts.tolist() == [[1, 1], [1, 1]] and g.how() == "each cell: one trial"
    con = Console(record=True, width=120)
    print_heatmap(con, g)
    text = con.export_text()
    assert "P&L by s.a (across) and s.b (down)" in text and text.count("████") == 4
    assert "best cell: s.a=2, s.b=20: 405 (1 trial(s))" in text
    dd = heat_grid([replace_dd(t) for t in trials], ["s.a", "s.b"], "max_drawdown")
    assert not isinstance(dd, str) and "lower is better" in _text(dd)
    assert "best cell: s.a=1, s.b=10" in _text(dd)  # the smallest drawdown is the best


def replace_dd(t: dict) -> dict:  # type: ignore[type-arg]
    return {**t, "max_drawdown": t["sharpe"] / 100 if t["status"] == "done" else math.nan}


def _text(g) -> str:  # type: ignore[no-untyped-def]
    con = Console(record=True, width=120)
    print_heatmap(con, g)
    return con.export_text()


def test_more_keys_pick_two_and_aggregate_the_rest_and_say_how() -> None:
    trials = grid3()
    g = heat_grid(trials, ["s.a", "s.b", "s.c"])  # default: the first two, mean over c
    assert not isinstance(g, str) and g.others == ["s.c"]
    assert g.values[0, 0] == pytest.approx(np.mean([1 + 1 + 0.05, 1 + 1 + 0.07]))
    assert g.how() == "each cell: the mean of 2 trials, over the other swept keys (s.c)"
    picked = heat_grid(trials, ["s.a", "s.b", "s.c"], x="c", y="s.a", agg="max")  # a name or a full key
    assert not isinstance(picked, str) and (picked.x.key, picked.y.key, picked.others) == ("s.c", "s.a", ["s.b"])
    assert picked.values == pytest.approx(np.array([[1 + 2 + 0.05, 1 + 2 + 0.07], [2 + 2 + 0.05, 2 + 2 + 0.07]]))
    assert "the max of 2 trials, over the other swept keys (s.b)" in _text(picked)
    one = heat_grid(trials, ["s.a", "s.b", "s.c"], x="b", y=None, agg="min")
    assert not isinstance(one, str) and one.y is not None and one.y.key == "s.a"  # y defaults to the next key


def test_a_single_key_is_one_row_and_random_draws_are_binned() -> None:
    rng = np.random.default_rng(1)
    draws = [float(x) for x in rng.uniform(0.05, 0.2, 30)]
    trials = [trial(0, {}, 0.0)] + [trial(i + 1, {"s.f": f, "s.k": 3}, f * 10) for i, f in enumerate(draws)]
    g = heat_grid(trials, ["s.f", "s.k"])
    assert not isinstance(g, str) and g.y is None and g.values.shape == (1, BINS)
    assert int(g.counts.sum()) == 30 and g.notes and "30 distinct values cut into 6 equal-width bins" in g.notes[0]
    assert heat_grid([trial(0, {}, 0.0), trial(1, {"s.k": 3}, 1.0)], ["s.k"]).startswith("no heatmap")


@pytest.mark.parametrize(("kw", "needle"), [
    ({"metric": "alpha"}, "--metric 'alpha': one of sharpe"),
    ({"agg": "sum"}, "--agg 'sum'"),
    ({"x": "nope"}, "--x 'nope': not a swept key"),
    ({"x": "a", "y": "s.a"}, "--x and --y are both s.a"),
])
def test_bad_heatmap_options_are_one_line(kw, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=re.escape(needle)):
        heat_grid(grid3(), ["s.a", "s.b", "s.c"], **kw)


# ------------------------------------------------------------ a stored sweep, end to end


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A momentum session (8000 inputs) and a serial sweep over three keys stored in its database."""
    from core.build import engine_from_setup, engine_setup
    from core.config import EngineConfig
    from core.market.sim import Simulator
    from core.session import Session
    from storage import LogWriter

    d = tmp_path_factory.mktemp("sweeprep")
    db = d / "s.db"
    sim = Simulator(5)
    cfg = EngineConfig()
    cfg = replace(cfg, strategy=replace(cfg.strategy, signal="momentum"))
    setup = engine_setup(cfg, sim.spec, {"seed": 5})
    writer = LogWriter(db, {"id": "rep-1", "config": json.dumps(setup), "seed": 5})
    Session(engine_from_setup(setup), sim, writer, "rep-1", max_events=8000).run()
    writer.close(clean=True)
    g = d / "g.toml"
    g.write_text("[strategy]\nfast = [3, 5]\nslow = [20, 30]\n[limits]\nmax_position_fraction = [0.05, 0.2]\n")
    res = sw.run_sweep(db, "rep-1", g, serial=True, out=d / "s.parquet",
                       con=Console(file=open(os.devnull, "w")), progress=False)  # noqa: SIM115
    return db, res.id, d


def run(*args: str) -> tuple[int, str, BaseException | None]:
    res = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return res.exit_code, res.output, res.exception


def test_report_of_a_sweep_prints_the_table_and_heatmap_and_writes_the_html(swept, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, sid, _ = swept
    out = tmp_path / "r.html"
    code, text, exc = run("report", sid[:6], "--db", str(db), "--out", str(out), "--y", "max_position_fraction")
    assert code == 0, (text, exc)
    assert f"sweep {sid} (done): 9 of 9 trials" in text and "DSR" in text and "p (Holm)" in text
    assert "Sharpe by strategy.fast (across) and limits.max_position_fraction (down)" in text
    assert "each cell: the mean of 2 trials, over the other swept keys (strategy.slow)" in text
    assert text.count("████") == 4 and f"report written to {out}" in text
    page = out.read_text()
    assert '<table class="heat">' in page and "<script" in page and "src=" not in page
    blob = json.loads(page.split('id="sweep">')[1].split("</script>")[0].replace("<\\/", "</"))
    from storage import open_db

    rdb = open_db(db, create=False, readonly=True)
    trials = sw.load_trials(rdb, sid)
    rdb.conn.close()
    sw.add_stats(trials, 0)
    hm = blob["heatmap"]
    assert hm["x"] == "strategy.fast" and hm["y"] == "limits.max_position_fraction" and hm["counts"] == [[2, 2], [2, 2]]
    for i, mpf in enumerate((0.05, 0.2)):
        for j, fast in enumerate((3, 5)):
            cell = [t["sharpe"] for t in trials if t["idx"] and t["params"]["strategy.fast"] == fast
                    and t["params"]["limits.max_position_fraction"] == mpf]
            assert hm["values"][i][j] == pytest.approx(float(np.mean(cell)), rel=1e-12)
    assert [t["p_holm"] for t in blob["trials"][1:]] == pytest.approx([t["p_holm"] for t in trials[1:]])
    assert blob["trials"][0]["p_holm"] is None and len(blob["trials"]) == 9
    # the same sweep shown by `sweep --show`, on another metric
    code, text, _ = run("sweep", "--show", sid, "--db", str(db), "--metric", "pnl", "--agg", "max")
    assert code == 0 and "P&L by strategy.fast (across) and strategy.slow (down)" in text
    assert "the max of 2 trials" in text


def test_a_sweep_id_that_also_begins_a_session_is_refused_unless_sweep(swept, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from storage import LogWriter

    db, sid, _ = swept
    w = LogWriter(db, {"id": sid[:3] + "-session", "config": "{}", "seed": 1})
    w.close(clean=True)
    code, _text, exc = run("report", sid[:3], "--db", str(db), "--out", str(tmp_path / "a.html"))
    assert code != 0 and isinstance(exc, InputError)
    assert f"begins session {sid[:3]}-session and sweep {sid}: give more of the id, or --sweep" in str(exc)
    code, text, exc = run("report", sid[:3], "--sweep", "--db", str(db), "--out", str(tmp_path / "b.html"))
    assert code == 0, exc
    assert (tmp_path / "b.html").exists()
    code, _text, exc = run("report", "rep-1", "--db", str(db), "--metric", "pnl")
    assert code != 0 and "shape a sweep's heatmap; 'rep-1' is a session" in str(exc)
    code, _text, exc = run("report", "ffffff", "--sweep", "--db", str(db))
    assert code != 0 and "no sweep 'ffffff'" in str(exc)


def test_the_results_file_is_never_written_through_a_link_or_over_a_kept_file(swept, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 1 for sweeps: --out keeps an existing file unless --force, and
    neither --out nor the default sweep-ID.parquet is written through a symlink; the
    refusal comes before any trial runs."""
    from storage import open_db

    db, sid, d = swept
    g = d / "g.toml"
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    kept = tmp_path / "kept.parquet"
    kept.write_text("mine")
    with pytest.raises(InputError, match="exists; use --force"):
        sw.run_sweep(db, "rep-1", g, serial=True, out=kept, con=quiet, progress=False)
    assert kept.read_text() == "mine"
    res = sw.run_sweep(db, "rep-1", g, serial=True, out=kept, force=True, con=quiet, progress=False)
    assert res.ran == 0 and len(pd_read(kept)) == 9  # resumed: nothing to run, the file rewritten
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "link.parquet").symlink_to(target)
    with pytest.raises(InputError, match="is a symbolic link, not a regular file"):
        sw.run_sweep(db, "rep-1", g, serial=True, out=tmp_path / "link.parquet", force=True, con=quiet,
                     progress=False)
    other = tmp_path / "other.toml"
    other.write_text("[strategy]\nfast = [3, 4]\n")
    monkeypatch.chdir(tmp_path)
    new_id = sw.sweep_id(_source(db), sw.read_grid(other))
    (tmp_path / f"sweep-{new_id}.parquet").symlink_to(target)
    with pytest.raises(InputError, match="is a symbolic link"):
        sw.run_sweep(db, "rep-1", other, serial=True, con=quiet, progress=False)
    assert target.read_text() == "keep"
    rdb = open_db(db, create=False, readonly=True)
    assert rdb.execute("SELECT count(*) FROM trials WHERE sweep = ?", [new_id]).fetchone()[0] == 0
    rdb.conn.close()


def pd_read(path: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.read_parquet(path)


def _source(db: Path):  # type: ignore[no-untyped-def]
    from storage import open_db

    rdb = open_db(db, create=False, readonly=True)
    try:
        return sw.session_source(rdb, "rep-1")
    finally:
        rdb.conn.close()
