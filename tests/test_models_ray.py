"""``console models evaluate --parallel``: the walk-forward folds (and the
symbols of a per-symbol model) as Ray tasks give the serial run's numbers.

Uses the session's one local 2-CPU Ray (``ray_local`` in conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.commands.models import ModelSpec, evaluate_models, load_closes
from core.errors import DataError
from core.signals.walkforward import (Costs, assemble, check_walk_forward, evaluate, plan_folds,
                                      run_fold)

FIX = Path(__file__).resolve().parent / "fixtures"
FILE = FIX / "skfolio_sp500_dataset_1990.csv"


@pytest.fixture(scope="module")
def closes():  # type: ignore[no-untyped-def]
    return load_closes(FILE, "KO,PEP,XOM")


def flat_from_120(closes):  # type: ignore[no-untyped-def]
    """PEP and XOM flat from bar 120: the HMM cannot fit them from the third fold
    (PEP is named: the serial run fits the columns in order); the forest can."""
    bad = closes.copy()
    bad.iloc[120:, 1] = bad.iloc[120, 1]
    bad.iloc[120:, 2] = bad.iloc[120, 2]
    return bad


def same(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    """Equal figures, NaN (None in JSON) equal to itself; exact, not approximate."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_folds_run_apart_and_assembled_in_any_order_equal_the_serial_evaluate(closes):  # type: ignore[no-untyped-def]
    """The core split: run_fold per fold (and per symbol for the HMM), assembled out of
    order, gives evaluate's positions and metrics exactly; a fit that fails in a
    later fold is raised as the serial run raises it."""
    spec = ModelSpec("hmm", {"seed": 0})
    serial = evaluate(spec.build, closes, 100, 60, Costs())
    folds = plan_folds(len(closes), 100, 60)
    assert [(f.start, f.end, f.stop) for f in folds] == [(0, 100, 160), (60, 160, 220), (120, 220, 280),
                                                          (180, 280, 299)]
    parts = [run_fold(spec.build, closes[[s]], f) for f in folds for s in closes.columns][::-1]
    split = assemble(closes, 100, parts, Costs())
    assert split.positions.equals(serial.positions) and same(split.metrics, serial.metrics)
    assert split.folds[0]["by_symbol"].keys() == {"KO", "PEP", "XOM"}
    whole = assemble(closes, 100, [run_fold(spec.build, closes, f) for f in reversed(folds)], Costs())
    assert same(whole.metrics, serial.metrics) and whole.folds == serial.folds

    bad = flat_from_120(closes)
    with pytest.raises(DataError) as serial_err:
        evaluate(spec.build, bad, 100, 60)
    parts = [run_fold(spec.build, bad[[s]], f, catch=(ValueError, DataError))
             for f in folds for s in bad.columns][::-1]
    with pytest.raises(DataError) as split_err:
        assemble(bad, 100, parts)
    assert str(split_err.value) == str(serial_err.value) == "hmm: PEP prices do not vary in the training window"
    with pytest.raises(ValueError, match="train_bars must be >= 2"):
        check_walk_forward(closes, 1, 5)



def test_a_feed_reaches_every_fold_and_every_per_symbol_part(closes):  # type: ignore[no-untyped-def]
    """evaluate(feed=...) (the robustness test's perturbed inputs) goes through
    run_fold: per-symbol parts cut the whole-file feed to their column and,
    assembled, give the serial run's perturbed figures exactly."""
    from core.signals.robustness import gaussian, return_sd

    spec = ModelSpec("hmm", {"seed": 0})
    feed = gaussian(closes, 2.0, return_sd(closes, 100), 0, 0)
    serial = evaluate(spec.build, closes, 100, 60, Costs(), feed=feed)
    assert not serial.positions.equals(evaluate(spec.build, closes, 100, 60, Costs()).positions)
    folds = plan_folds(len(closes), 100, 60)
    parts = [run_fold(spec.build, closes[[s]], f, feed=feed) for f in folds for s in closes.columns]
    split = assemble(closes, 100, parts, Costs())
    assert split.positions.equals(serial.positions) and same(split.metrics, serial.metrics)
    with pytest.raises(ValueError, match="feed: shape"):
        evaluate(spec.build, closes, 100, 60, feed=feed.iloc[:-1])

def test_parallel_gives_the_serial_numbers(closes, ray_local):  # type: ignore[no-untyped-def]
    from console.models_ray import parts_of, ray_runner

    wanted = ["hmm", "pairs", "sentiment", "ensemble"]  # the forest: in the next test
    costs = Costs()
    serial = evaluate_models(closes, wanted, 100, 60, 0, costs)
    with ray_runner(closes, 100, 60, costs, None, None) as run:
        parallel = evaluate_models(closes, wanted, 100, 60, 0, costs, run, eager=True)
    assert ray_local.is_initialized()  # a Ray it did not start is left running
    assert same(parallel, serial)
    assert list(parallel) == wanted and parallel["ensemble"]["members"] == ["hmm", "pairs"]
    assert parallel["hmm"]["n_folds"] == 4 and parallel["pairs"]["pairs"] == ["KO/PEP", "KO/XOM", "PEP/XOM"]
    assert parallel["sentiment"] == {"skipped": "needs headlines; the file has prices only"}
    folds = plan_folds(len(closes), 100, 60)
    assert len(parts_of(ModelSpec("hmm", {"seed": 0}), closes, folds)) == 12  # 4 folds x 3 symbols
    assert len(parts_of(ModelSpec("forest", {"seed": 0, "train_bars": 100}), closes, folds)) == 4


def test_parallel_reruns_the_ensemble_without_a_member_that_failed(closes, ray_local):  # type: ignore[no-untyped-def]
    """The ensemble goes out with every planned member at once; when one fails,
    it is evaluated again without it, as the serial run evaluates it."""
    from console.models_ray import ray_runner

    bad = flat_from_120(closes)
    wanted = ["hmm", "forest", "ensemble"]
    serial = evaluate_models(bad, wanted, 100, 60, 0, None)
    assert "failed" in serial["hmm"] and serial["ensemble"]["members"] == ["forest"]
    calls: list[list[str]] = []
    with ray_runner(bad, 100, 60, None, None, None) as run:
        parallel = evaluate_models(bad, wanted, 100, 60, 0, None,
                                   lambda batch: calls.append(list(batch)) or run(batch), eager=True)
    assert same(parallel, serial) and parallel["forest"]["n_folds"] == 4
    assert calls == [["hmm", "forest", "ensemble"], ["ensemble"]]


def test_the_command_line_checks_its_ray_options() -> None:
    def err(*args: str) -> str:
        res = CliRunner().invoke(cli, ["models", "evaluate", str(FILE), "--column", "KO", *args])
        assert res.exit_code != 0
        return str(res.exception)

    assert "--address and --cpus apply to --parallel" in err("--cpus", "2")
    assert "--cpus sizes a local Ray" in err("--parallel", "--cpus", "2", "--address", "127.0.0.1:9")
    # in a fresh process (this one may hold the session's Ray, which start_ray would reuse)
    res = subprocess.run([sys.executable, "-m", "console.cli", "models", "evaluate", str(FILE), "--column", "KO",
                          "--train", "100", "--parallel", "--address", "127.0.0.1:9"], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(FIX.parents[1])))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "cannot reach a Ray cluster at 127.0.0.1:9" in res.stderr


def test_parallel_with_config_params_and_noise_gives_the_serial_json(tmp_path, ray_local):  # type: ignore[no-untyped-def]
    """--config's [signals.forest] table travels in the ModelSpec: the Ray
    workers build the forest the serial run builds (the same JSON, byte for
    byte), and the table matters (without it the figures differ). --noise
    after a parallel evaluation (its re-runs serial) gives the serial figures too."""
    cfg = tmp_path / "forest.toml"
    cfg.write_text("[signals.forest]\nn_estimators = 15\nmax_depth = 2\nmin_samples_leaf = 20\n")
    base = ["models", "evaluate", str(FILE), "--column", "KO,PEP", "--models", "forest", "--train", "100",
            "--test", "60", "--noise", "0.5", "--json"]

    def out(*args: str) -> str:
        res = CliRunner().invoke(cli, [*base, *args])
        assert res.exit_code == 0, res.output
        return res.output

    serial = out("--config", str(cfg))
    parallel = out("--config", str(cfg), "--parallel")
    assert parallel == serial
    d = json.loads(serial)
    assert d["noise"] == [0.5] and d["models"]["forest"]["n_folds"] == 4
    assert [r["kind"] for r in d["models"]["forest"]["robustness"]["rows"]] == ["gaussian", "adversarial"]
    assert json.loads(out())["models"]["forest"] != d["models"]["forest"]  # the table changed the forest
