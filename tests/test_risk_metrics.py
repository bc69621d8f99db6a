"""core.risk.metrics: hand computations, a second implementation, real data."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from core.errors import DataError, InputError
from core.risk import metrics as m

SP500 = Path("/work/shared/data/skfolio/sp500_index.csv")

# Ten returns small enough to check by hand. Sorted:
# -0.04 -0.02 -0.01 -0.005 0 0.005 0.01 0.015 0.02 0.03; sum 0.005.
TEN = [0.01, -0.02, 0.015, -0.005, 0.03, -0.04, 0.0, 0.02, -0.01, 0.005]
TEN_MEAN = 0.0005
TEN_VAR = (0.003775 - 10 * TEN_MEAN**2) / 9  # sum of squares minus n*mean^2, ddof=1
TEN_SD = math.sqrt(TEN_VAR)


def sorted_quantile(values: list[float], p: float) -> float:
    """Second implementation of numpy's default (linear) quantile, by sorting."""
    s = sorted(values)
    h = (len(s) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


# ------------------------------------------------------------ hand computations


def test_historical_var_of_ten_returns_interpolates_between_the_two_worst():
    # 95%: position 9 * 0.05 = 0.45 between -0.04 and -0.02 -> -0.031.
    assert m.var_historical(TEN, 0.95) == pytest.approx(0.031, abs=1e-12)
    # 99%: position 0.09 -> -0.04 + 0.09 * 0.02 = -0.0382.
    assert m.var_historical(TEN, 0.99) == pytest.approx(0.0382, abs=1e-12)


def test_historical_cvar_of_ten_returns_averages_returns_at_or_below_the_quantile():
    # Only -0.04 is <= -0.031.
    assert m.cvar_historical(TEN, 0.95) == pytest.approx(0.04, abs=1e-12)
    # 1-c = 0.25: position 2.25 -> -0.01 + 0.25 * 0.005 = -0.00875; tail -0.04, -0.02, -0.01.
    assert m.cvar_historical(TEN, 0.75) == pytest.approx(0.07 / 3, abs=1e-12)


def test_historical_cvar_includes_a_return_equal_to_the_quantile():
    # 1-c = 1/3 of 4 points -> position exactly 1: q = -0.02, tail {-0.03, -0.02}.
    assert m.cvar_historical([-0.03, -0.02, 0.01, 0.04], 2 / 3) == pytest.approx(0.025)


def test_parametric_var_and_cvar_of_ten_returns_match_the_hand_formula():
    nd = NormalDist()
    for c in (0.95, 0.99):
        z = nd.inv_cdf(1 - c)
        assert m.var_parametric(TEN, c) == pytest.approx(-(TEN_MEAN + z * TEN_SD), rel=1e-9)
        es = -(TEN_MEAN - TEN_SD * nd.pdf(z) / (1 - c))
        assert m.cvar_parametric(TEN, c) == pytest.approx(es, rel=1e-9)
    assert m.var_parametric(TEN, 0.95) == pytest.approx(0.0331757, abs=1e-6)


def test_value_turns_fractions_into_currency():
    assert m.var_historical(TEN, 0.95, value=2_000_000) == pytest.approx(62_000)
    assert m.cvar_parametric(TEN, 0.99, value=10.0) == pytest.approx(10 * m.cvar_parametric(TEN, 0.99))


def test_sharpe_and_vol_of_four_returns_use_sample_sd_and_sqrt_252():
    r = [0.01, -0.01, 0.02, 0.0]  # mean 0.005, squared deviations sum 5e-4
    sd = math.sqrt(5e-4 / 3)
    assert m.annualised_vol(r) == pytest.approx(sd * math.sqrt(252), rel=1e-12)
    assert m.sharpe_ratio(r) == pytest.approx(0.005 / sd * math.sqrt(252), rel=1e-12)
    # 2.52% a year is 0.01% a day.
    assert m.sharpe_ratio(r, risk_free=0.0252) == pytest.approx(0.0049 / sd * math.sqrt(252), rel=1e-12)


def test_sharpe_of_constant_returns_is_nan_not_an_error():
    assert math.isnan(m.sharpe_ratio([0.001, 0.001, 0.001]))


def test_simple_returns_are_fractions():
    np.testing.assert_allclose(m.simple_returns([100, 110, 99]), [0.1, -0.1])


def test_var_grows_with_confidence_and_cvar_is_at_least_var():
    rng = np.random.default_rng(3)
    r = rng.standard_t(4, 500) * 0.01
    for var, cvar in (
        (m.var_historical, m.cvar_historical),
        (m.var_parametric, m.cvar_parametric),
    ):
        assert var(r, 0.99) > var(r, 0.95)
        assert cvar(r, 0.95) >= var(r, 0.95)
        assert cvar(r, 0.99) >= var(r, 0.99)


# ------------------------------------------------------------ second implementation


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=300),
    st.sampled_from([0.9, 0.95, 0.975, 0.99]),
)
def test_historical_var_and_cvar_agree_with_a_sorting_implementation(r, c):
    q = sorted_quantile(r, 1 - c)
    assert m.var_historical(r, c) == pytest.approx(-q, abs=1e-12)
    # A return within rounding of q may fall either side of numpy's q; the
    # exact-boundary convention (<=) is pinned by a hand test above.
    tails = ([x for x in r if x <= q - 1e-12] or [min(r)], [x for x in r if x <= q],
             [x for x in r if x <= q + 1e-12])
    got = m.cvar_historical(r, c)
    assert any(got == pytest.approx(-statistics.fmean(t), abs=1e-12) for t in tails)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=2, max_size=100).filter(
        lambda r: statistics.stdev(r) > 1e-6
    ),
    st.sampled_from([0.95, 0.99]),
)
def test_parametric_var_agrees_with_the_standard_library_normal(r, c):
    dist = NormalDist(statistics.fmean(r), statistics.stdev(r))
    assert m.var_parametric(r, c) == pytest.approx(-dist.inv_cdf(1 - c), rel=1e-9, abs=1e-12)


def test_parametric_cvar_equals_the_integrated_normal_tail():
    mu, sd = TEN_MEAN, TEN_SD
    nd = NormalDist(mu, sd)
    for c in (0.95, 0.99):
        area, _ = integrate.quad(lambda u: nd.inv_cdf(u), 1e-12, 1 - c, limit=200)
        assert m.cvar_parametric(TEN, c) == pytest.approx(-area / (1 - c), rel=1e-6)


# ------------------------------------------------------------ Monte Carlo


def _normal_returns(n: int = 2000, seed: int = 11) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0004, 0.012, n)


def test_monte_carlo_var_is_within_sampling_error_of_parametric_for_normal_data():
    r = _normal_returns()
    n_sims = 200_000
    sd = float(np.std(r, ddof=1))
    for c in (0.95, 0.99):
        # Standard error of an empirical quantile: sqrt(p(1-p)/n) / density at it.
        p = 1 - c
        se = math.sqrt(p * (1 - p) / n_sims) / (NormalDist().pdf(NormalDist().inv_cdf(p)) / sd)
        mc = m.var_monte_carlo(r, c, seed=5, n_sims=n_sims)
        assert abs(mc - m.var_parametric(r, c)) < 5 * se
        cvar_mc = m.cvar_monte_carlo(r, c, seed=5, n_sims=n_sims)
        assert cvar_mc == pytest.approx(m.cvar_parametric(r, c), rel=0.02)


def test_monte_carlo_var_is_reproducible_for_a_seed_and_changes_with_it():
    r = _normal_returns()
    a = m.var_monte_carlo(r, 0.99, seed=7, n_sims=10_000)
    assert m.var_monte_carlo(r, 0.99, seed=7, n_sims=10_000) == a
    assert m.var_monte_carlo(r, 0.99, seed=8, n_sims=10_000) != a


def test_portfolio_monte_carlo_var_is_within_sampling_error_of_parametric():
    rng = np.random.default_rng(21)
    cov = np.array([[1.0, 0.6, -0.2], [0.6, 1.5, 0.1], [-0.2, 0.1, 0.8]]) * 1e-4
    r = rng.multivariate_normal([0.0003, 0.0001, 0.0002], cov, size=1500)
    v = [50_000.0, 30_000.0, -20_000.0]
    param = m.portfolio_var_parametric(r, v, 0.99)
    var, cvar = m.portfolio_var_monte_carlo(r, v, 0.99, seed=1, n_sims=200_000)
    se = math.sqrt(0.01 * 0.99 / 200_000) / (NormalDist().pdf(NormalDist().inv_cdf(0.01)) / param.sd)
    assert abs(var - param.var) < 5 * se
    assert cvar > var
    again = m.portfolio_var_monte_carlo(r, v, 0.99, seed=1, n_sims=200_000)
    assert again == (var, cvar)


def test_portfolio_simulation_reproduces_the_covariance_even_when_it_is_singular():
    rng = np.random.default_rng(4)
    a = rng.normal(0, 0.01, 300)
    r = np.column_stack([a, a, rng.normal(0, 0.02, 300)])  # two identical assets
    pnl = m.simulate_portfolio(r, [1.0, 1.0, 1.0], 100_000, seed=2)
    expected_sd = math.sqrt(float(np.ones(3) @ np.cov(r, rowvar=False) @ np.ones(3)))
    assert float(np.std(pnl)) == pytest.approx(expected_sd, rel=0.01)


# ------------------------------------------------------------ drawdown

CURVE = [100, 110, 99, 120, 90, 95, 130, 125]


def test_max_drawdown_of_a_known_curve_finds_peak_and_trough():
    dd = m.max_drawdown(CURVE)
    assert dd.depth == pytest.approx(0.25)  # 120 -> 90
    assert (dd.peak, dd.trough) == (3, 4)
    assert dd.peak_at is None


def test_drawdown_reports_timestamps_when_given():
    days = [f"d{i}" for i in range(len(CURVE))]
    dd = m.max_drawdown(CURVE, days)
    assert (dd.peak_at, dd.trough_at) == ("d3", "d4")
    cur = m.current_drawdown(CURVE, days)
    assert cur.depth == pytest.approx(5 / 130)
    assert (cur.peak, cur.trough, cur.peak_at, cur.trough_at) == (6, 7, "d6", "d7")


def test_a_rising_curve_has_no_drawdown():
    assert m.max_drawdown([1, 2, 3]).depth == 0.0
    assert m.current_drawdown([1, 2, 3]).depth == 0.0


# ------------------------------------------------------------ exposure, concentration, Euler

BOOK = {"A": 600.0, "B": -300.0, "C": 200.0}


def test_exposure_of_a_long_short_book():
    e = m.exposure(BOOK, nav=1000.0)
    assert (e.gross, e.net, e.long, e.short) == (1100.0, 500.0, 800.0, -300.0)
    assert e.leverage == pytest.approx(1.1)
    assert e.net_fraction == pytest.approx(0.5)


def test_concentration_is_share_of_gross_by_position_and_by_sector():
    pos = m.position_concentration(BOOK)
    assert list(pos) == ["A", "B", "C"]
    assert pos["B"] == pytest.approx(300 / 1100)
    sec = m.sector_concentration(BOOK, {"A": "Tech", "B": "Tech"})
    assert sec == pytest.approx({"Tech": 900 / 1100, "(unmapped)": 200 / 1100})


def _three_assets() -> np.ndarray:
    rng = np.random.default_rng(9)
    cov = np.array([[4.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 1.0]]) * 1e-4
    return rng.multivariate_normal([0.001, 0.0, -0.0005], cov, size=400)


def test_euler_contributions_sum_to_the_sd_part_of_portfolio_var():
    r = _three_assets()
    v = np.array([40_000.0, 25_000.0, -10_000.0])
    res = m.portfolio_var_parametric(r, v, 0.99)
    z = NormalDist().inv_cdf(0.01)
    sd = math.sqrt(float(v @ np.cov(r, rowvar=False) @ v))
    assert res.sd == pytest.approx(sd, rel=1e-12)
    assert sum(res.components) == pytest.approx(-z * sd, rel=1e-12)
    assert res.var == pytest.approx(-res.mean + sum(res.components), rel=1e-12)
    assert res.mean == pytest.approx(float(r.mean(axis=0) @ v), rel=1e-12)


def test_each_euler_contribution_is_the_position_times_its_marginal_var():
    r = _three_assets()
    v = np.array([40_000.0, 25_000.0, -10_000.0])
    cov = np.cov(r, rowvar=False)
    z = NormalDist().inv_cdf(0.05)

    def sd_part(x: np.ndarray) -> float:
        return -z * math.sqrt(float(x @ cov @ x))

    res = m.portfolio_var_parametric(r, v, 0.95)
    for i in range(3):
        h = np.zeros(3)
        h[i] = 1e-3
        marginal = (sd_part(v + h) - sd_part(v - h)) / 2e-3
        assert res.components[i] == pytest.approx(v[i] * marginal, rel=1e-6)


def test_single_asset_portfolio_var_equals_the_series_var_in_currency():
    res = m.portfolio_var_parametric(np.array(TEN).reshape(-1, 1), [1000.0], 0.95)
    assert res.var == pytest.approx(m.var_parametric(TEN, 0.95, value=1000.0), rel=1e-12)
    assert res.components[0] == pytest.approx(-NormalDist().inv_cdf(0.05) * 1000 * TEN_SD, rel=1e-9)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda: m.var_historical([0.01]),
        lambda: m.var_parametric([]),
        lambda: m.cvar_historical([0.01, float("nan"), 0.02]),
        lambda: m.sharpe_ratio([0.01, float("inf")]),
        lambda: m.simple_returns([100, 0, 101]),
        lambda: m.max_drawdown([100, -5, 101]),
        lambda: m.summarize([100, 101], seed=1),
        lambda: m.portfolio_var_parametric([[0.01, 0.02]], [1.0, 1.0]),
        lambda: m.portfolio_var_parametric([[0.01, 0.02], [0.0, 0.01]], [1.0]),
    ],
    ids=["one-return", "empty", "nan", "inf", "zero-price", "negative-curve", "two-prices",
         "one-row-matrix", "shape-mismatch"],
)
def test_bad_series_raise_data_error_with_one_line(call):
    with pytest.raises(DataError) as info:
        call()
    assert "\n" not in str(info.value) and str(info.value)


def test_nan_error_names_its_index():
    with pytest.raises(DataError, match="index 1"):
        m.var_historical([0.01, float("nan"), 0.02])


@pytest.mark.parametrize("c", [0.0, 1.0, 95, -0.5])
def test_confidence_outside_zero_one_is_refused(c):
    with pytest.raises(InputError, match="confidence"):
        m.var_parametric(TEN, c)


def test_non_positive_nav_is_refused():
    with pytest.raises(InputError, match="NAV"):
        m.exposure(BOOK, nav=0.0)


# ------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def sp500():
    if not SP500.exists():
        pytest.skip(f"{SP500} not present")
    import pandas as pd

    frame = pd.read_csv(SP500, parse_dates=["Date"])
    return list(frame["Date"]), frame["SP500"].to_numpy()


def test_sp500_maximum_drawdown_is_56_8_percent_from_october_2007_to_march_2009(sp500):
    dates, prices = sp500
    dd = m.max_drawdown(prices, dates)
    assert dd.depth == pytest.approx(0.568, abs=5e-4)
    assert str(dd.peak_at.date()) == "2007-10-09"
    assert str(dd.trough_at.date()) == "2009-03-09"


def test_sp500_worst_day_is_minus_11_98_percent_on_2020_03_16(sp500):
    dates, prices = sp500
    r = m.simple_returns(prices)
    worst = int(np.argmin(r))
    assert r[worst] == pytest.approx(-0.1198, abs=5e-5)
    assert str(dates[worst + 1].date()) == "2020-03-16"
    # Fat tails: the historical 99% VaR is beyond the Gaussian one.
    assert m.var_historical(r, 0.99) > m.var_parametric(r, 0.99)


# ------------------------------------------------------------ import hygiene


def test_core_risk_imports_no_ui_cli_or_storage_module():
    code = (
        "import sys, core.risk.metrics, core.risk.stress\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in "
        "{'textual', 'rich', 'click', 'sqlite_utils', 'console', 'storage'}]\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
