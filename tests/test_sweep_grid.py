"""``console sweep``: the grid file and the sweep statistics (no Ray, no engine runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from console.sweep import check_trials, nested, parse_grid
from console.sweep_stats import (deflated_sharpe, expected_max_sharpe, holm_adjust, per_period_sharpe,
                                 survives)
from core.config import EngineConfig
from core.errors import ConfigError

LOGGED = EngineConfig().to_dict()


def test_lists_ranges_and_fixed_values_make_the_cartesian_product() -> None:
    g = parse_grid("[strategy]\nfast = [3, 5]\nslow = {range = [10, 30, 10]}\n"
                   "[limits]\nmax_position_fraction = {value = 0.2}\n", "g.toml")
    trials = g.trials()
    assert [(t["strategy.fast"], t["strategy.slow"]) for t in trials] == [
        (3, 10), (3, 20), (3, 30), (5, 10), (5, 20), (5, 30)]
    assert all(t["limits.max_position_fraction"] == 0.2 for t in trials)
    assert nested(trials[0]) == {"strategy": {"fast": 3, "slow": 10}, "limits": {"max_position_fraction": 0.2}}


def test_a_float_range_includes_its_stop() -> None:
    g = parse_grid("[strategy]\ntarget_fraction = {range = [0.05, 0.2, 0.05]}\n", "g.toml")
    assert [t["strategy.target_fraction"] for t in g.trials()] == [0.05, 0.1, 0.15, 0.2]


def test_random_draws_are_seeded_and_counted_by_trials() -> None:
    text = ("[strategy]\nfast = [3, 5]\ntarget_fraction = {uniform = [0.05, 0.2]}\n"
            "slow = {randint = [10, 40]}\nvol_estimator = {choice = [\"realised\", \"atr\"]}\n")
    a = parse_grid(text, "g.toml", trials=4, seed=7).trials()
    b = parse_grid(text, "g.toml", trials=4, seed=7).trials()
    c = parse_grid(text, "g.toml", trials=4, seed=8).trials()
    assert len(a) == 8 and a == b and a != c
    for t in a:
        assert 0.05 <= t["strategy.target_fraction"] <= 0.2 and isinstance(t["strategy.slow"], int)
        assert 10 <= t["strategy.slow"] <= 40 and t["strategy.vol_estimator"] in ("realised", "atr")
    # each draw is shared by the grid points of its sample
    assert a[0]["strategy.target_fraction"] == a[1]["strategy.target_fraction"] != a[2]["strategy.target_fraction"]
    # [sweep] sets the seed and the samples; the command line wins
    g = parse_grid("[sweep]\nseed = 7\ntrials = 4\n" + text, "g.toml")
    assert g.trials() == a and parse_grid("[sweep]\nseed = 1\n" + text, "g.toml", seed=7, trials=4).trials() == a


@pytest.mark.parametrize(("text", "needle"), [
    ("", "empty grid"),
    ("[strategy]\nfast = 3\n", "empty grid"),
    ("[strategy]\nfastt = [3, 5]\n", "unknown key strategy.fastt"),
    ("[nope]\nx = [1]\n", "unknown key 'nope'"),
    ("venue = [\"binance\"]\n", "venue: would change the data source"),
    ("[strategy]\nfast = []\n", "strategy.fast: an empty list"),
    ("[strategy]\nslow = {range = [40, 10]}\n", "strategy.slow: range stop 10 is below its start 40"),
    ("[strategy]\nslow = {range = [10, 40, 0]}\n", "strategy.slow: range step must be > 0"),
    ("[strategy]\ntarget_fraction = {uniform = [0.2]}\n", "strategy.target_fraction: uniform needs"),
    ("[strategy]\nslow = {randint = [1.5, 4]}\n", "strategy.slow: randint needs integer bounds"),
    ("[strategy]\nslow = {gauss = [1, 2]}\n", "strategy.slow: unknown kind 'gauss'"),
    ("[sweep]\nseeds = 1\n[strategy]\nfast = [3]\n", "unknown key sweep.seeds"),
    ("[strategy]\nfast = [3\n", "not valid TOML"),
])
def test_a_bad_grid_is_one_line_naming_the_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_grid(text, "g.toml")
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith("g.toml: ")


def test_trials_without_random_draws_is_an_error() -> None:
    with pytest.raises(ConfigError, match="this grid has none"):
        parse_grid("[strategy]\nfast = [3, 5]\n", "g.toml", trials=3)


def test_a_value_of_the_wrong_type_or_range_is_caught_before_anything_runs() -> None:
    g = parse_grid("[strategy]\nfast = [3, \"five\"]\n", "g.toml")
    with pytest.raises(ConfigError) as exc:
        check_trials(LOGGED, g, g.trials())
    msg = str(exc.value)
    assert msg.startswith("g.toml: trial 2 (fast=five): ") and "strategy.fast" in msg and "\n" not in msg
    g = parse_grid("[strategy]\nfast = [30]\nslow = [40, 10]\n", "g.toml")  # fast >= slow only as a pair
    with pytest.raises(ConfigError, match=r"^g\.toml: trial 2 \(fast=30 slow=10\): .*strategy\.fast"):
        check_trials(LOGGED, g, g.trials())


# ------------------------------------------------------------- statistics


def test_holm_adjusted_p_values_match_the_step_down_formula() -> None:
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    adj = holm_adjust(p)
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 0.02, 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert adj[3] == pytest.approx(0.02) and adj[0] == pytest.approx(0.03)
    assert adj[2] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06) and math.isnan(adj[4])
    assert holm_adjust([0.9, 0.8]) == [1.0, 1.0]


def test_expected_max_sharpe_grows_with_the_number_of_trials() -> None:
    rng = np.random.default_rng(0)
    few, many = list(rng.normal(0, 0.1, 5)), list(rng.normal(0, 0.1, 500))
    assert expected_max_sharpe([0.3]) == 0.0
    assert 0 < expected_max_sharpe(few) < expected_max_sharpe(many)
    # Bailey & Lopez de Prado: with N = 1000 and unit variance, E[max] is about 3.26
    s = list(rng.normal(0, 1, 1000))
    s = list((np.array(s) - np.mean(s)) / np.std(s, ddof=1))
    assert expected_max_sharpe(s) == pytest.approx(3.26, abs=0.01)


def test_deflated_sharpe_penalises_more_trials_and_rewards_length() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0.001, 0.01, 250)
    sr = per_period_sharpe(r)
    assert deflated_sharpe(r, 0.0) > deflated_sharpe(r, sr / 2) > deflated_sharpe(r, sr) == pytest.approx(0.5)
    assert deflated_sharpe(np.tile(r, 4), sr / 2) > deflated_sharpe(r, sr / 2)
    assert math.isnan(deflated_sharpe(np.zeros(10), 0.0))


def test_a_trial_survives_only_with_holm_a_better_sharpe_and_a_high_dsr() -> None:
    assert survives(0.01, 0.5, 0.97)
    assert not survives(0.01, -0.5, 0.97) and not survives(0.2, 0.5, 0.97)
    assert not survives(0.01, 0.5, 0.9) and not survives(math.nan, 0.5, 0.99)


def test_sweep_statistics_use_the_one_sharpe_and_the_one_deflated_threshold() -> None:
    """The sweep's per-period Sharpe is console.curves.sharpe at one period a year and its SR0
    the fit gate's deflated_threshold (one formula each), equal to the textbook expression."""
    from scipy.stats import norm

    from console.curves import sharpe
    from core.signals.walkforward import EULER_GAMMA

    r = np.random.default_rng(3).normal(0.001, 0.01, 300)
    assert per_period_sharpe(r) == sharpe(r, 1.0) == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert per_period_sharpe(np.zeros(5)) == 0.0 and math.isnan(per_period_sharpe(np.ones(1)))
    s = list(np.random.default_rng(4).normal(0.05, 0.02, 40))
    n, sd = len(s), float(np.std(s, ddof=1))
    textbook = sd * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n) + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e)))
    assert expected_max_sharpe(s) == pytest.approx(textbook, rel=1e-9)
    assert expected_max_sharpe(s + [math.nan]) == expected_max_sharpe(s)
