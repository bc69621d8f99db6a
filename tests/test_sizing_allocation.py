"""core.sizing (vol target, ATR, Kelly, regime, whole lots) and core.allocation (weights, Euler risk, schedule)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.allocation import (
    due, equal_weight, fit_to_bounds, inverse_vol, mean_variance, portfolio_vol, risk_contributions,
)
from core.options import FieldError
from core.sizing import (
    atr, atr_vol, fractional_kelly, kelly_binary, kelly_continuous, realised_vol, regime_scale,
    size_position, vol_target_weight,
)

# std(ddof=1) of these is exactly 0.01: mean 0, squares sum to 4e-4 over n-1 = 4
RETURNS = [0.01, -0.01, 0.01, -0.01, 0.0]
RETURNS_VOL = math.sqrt(4e-4 / 4 * 252)


# ------------------------------------------------------------ volatility


def test_realised_vol_is_sample_std_times_sqrt_252():
    assert realised_vol(RETURNS) == pytest.approx(0.01 * math.sqrt(252), rel=1e-12)
    assert realised_vol(RETURNS) == pytest.approx(RETURNS_VOL, rel=1e-12)
    assert math.isnan(realised_vol([0.01]))
    assert math.isnan(realised_vol([0.01, math.nan, 0.02]))


def test_vol_target_weight_hand_computed_and_capped():
    w = vol_target_weight(RETURNS, 0.10, max_leverage=2.0)
    assert w.value == pytest.approx(0.10 / (0.01 * math.sqrt(252)), rel=1e-12)  # 0.6299
    assert w.reason == "ok"
    capped = vol_target_weight(RETURNS, 0.30, max_leverage=1.0)  # uncapped 1.89
    assert capped.value == 1.0 and "capped" in capped.reason


@pytest.mark.parametrize("returns", [[0.0, 0.0, 0.0], [0.01, math.nan, 0.0], [0.01, math.inf], [], [0.02]])
def test_vol_target_on_zero_or_bad_vol_is_zero_with_a_reason(returns):
    w = vol_target_weight(returns, 0.10)
    assert w.value == 0.0 and w.reason != "ok"


def test_atr_hand_computed():
    high = [11.0, 12.0, 12.5, 13.0]
    low = [9.0, 10.5, 11.0, 10.0]
    close = [10.0, 11.0, 12.0, 11.0]
    # true ranges of bars 1..3: max(1.5, 2, .5)=2, max(1.5, 1.5, 0)=1.5, max(3, 1, 2)=3
    assert atr(high, low, close, n=3) == pytest.approx((2 + 1.5 + 3) / 3)
    assert atr(high, low, close, n=2) == pytest.approx((1.5 + 3) / 2)
    assert atr_vol(high, low, close, n=3) == pytest.approx(6.5 / 3 / 11 * math.sqrt(252))
    assert math.isnan(atr(high, low, close, n=4))  # needs n + 1 bars
    assert math.isnan(atr([1, math.nan, 2], [1, 1, 1], [1, 1, 1], n=2))
    with pytest.raises(FieldError, match="^n "):
        atr(high, low, close, n=0)
    with pytest.raises(FieldError, match="^high/low/close "):
        atr(high, low[:-1], close)


# ------------------------------------------------------------ Kelly and regime


def test_kelly_hand_computed():
    assert kelly_continuous(0.08, 0.2) == pytest.approx(2.0)
    assert kelly_binary(0.6, 1.0) == pytest.approx(0.2)
    assert kelly_binary(0.5, 2.0) == pytest.approx(0.25)
    assert kelly_binary(0.4, 1.0) == pytest.approx(-0.2)
    assert fractional_kelly(2.0, 0.25).value == pytest.approx(0.5)
    half = fractional_kelly(2.0, 0.5, cap=0.6)
    assert half.value == 0.6 and "capped" in half.reason
    assert fractional_kelly(-4.0, 0.5, cap=1.0).value == -1.0


def test_kelly_with_zero_or_nan_sigma_gives_zero_not_inf():
    assert math.isnan(kelly_continuous(0.08, 0.0))
    for f in (kelly_continuous(0.08, 0.0), kelly_continuous(math.nan, 0.2), math.inf):
        s = fractional_kelly(f)
        assert s.value == 0.0 and s.reason != "ok"


@pytest.mark.parametrize("field,call", [
    ("p", lambda: kelly_binary(1.2, 1.0)), ("b", lambda: kelly_binary(0.5, 0.0)),
    ("fraction", lambda: fractional_kelly(1.0, 1.5)), ("cap", lambda: fractional_kelly(1.0, 0.5, -1)),
    ("risk_scale", lambda: regime_scale(1.0, 1.5)), ("risk_scale", lambda: regime_scale(1.0, -0.1)),
    ("target_vol", lambda: vol_target_weight(RETURNS, -0.1)),
])
def test_bad_parameters_raise_naming_the_field(field, call):
    with pytest.raises(ValueError, match=f"^{field} "):
        call()


def test_regime_scale():
    assert regime_scale(0.8, 0.5).value == pytest.approx(0.4)
    assert regime_scale(0.8, 0.0) .value == 0.0
    nan = regime_scale(0.8, math.nan)
    assert nan.value == 0.0 and "NaN" in nan.reason


# ------------------------------------------------------------ size_position


def test_size_position_hand_computed():
    # weight = 0.10 / (0.01 sqrt 252) = 0.62994; 1.0 signal, NAV 1e6 at 50 -> 12598.8 shares
    s = size_position(1_000_000, 50.0, 1.0, returns=RETURNS, target_vol=0.10)
    assert s.weight == pytest.approx(0.10 / RETURNS_VOL)
    assert s.quantity == 12598
    lots = size_position(1_000_000, 50.0, -0.5, returns=RETURNS, target_vol=0.10, lot_size=100, risk_scale=0.5)
    # -0.5 * 0.5 * 0.62994 * 20000 = -3149.6 -> truncated toward zero to -31 lots
    assert lots.quantity == -3100 and lots.weight < 0


def test_size_position_kelly_only_shrinks_and_cap_holds():
    # vol weight 0.63; Kelly 0.5 * 0.02 / 0.2^2 = 0.25 wins
    s = size_position(100_000, 10.0, 1.0, returns=RETURNS, kelly_mu=0.02, kelly_sigma=0.2)
    assert s.kelly_weight == pytest.approx(0.25) and s.weight == pytest.approx(0.25)
    assert s.quantity == 2500 and "Kelly" in s.reason
    big = size_position(100_000, 10.0, 1.0, kelly_mu=0.5, kelly_sigma=0.1, max_leverage=1.5)
    assert big.weight == 1.5 and big.quantity == 15_000
    no_edge = size_position(100_000, 10.0, 1.0, kelly_mu=-0.05, kelly_sigma=0.2)
    assert no_edge.quantity == 0 and "no edge" in no_edge.reason


@pytest.mark.parametrize("kwargs", [
    {"nav": math.nan}, {"nav": 0.0}, {"nav": -5.0}, {"price": math.nan}, {"price": 0.0},
    {"price": math.inf}, {"signal": math.nan}, {"signal": 0.0},
    {"returns": [0.0] * 10}, {"returns": [0.01, math.nan, 0.02]}, {"returns": []},
    {"kelly_mu": 0.05, "kelly_sigma": 0.0}, {"kelly_mu": math.nan, "kelly_sigma": 0.2},
    {"risk_scale": math.nan}, {"risk_scale": 0.0}, {"price": 1e9},
])
def test_size_position_degenerate_data_gives_zero_with_a_reason(kwargs):
    args = {"nav": 1e6, "price": 50.0, "signal": 1.0, "returns": RETURNS} | kwargs
    s = size_position(**args)
    assert s.quantity == 0 and isinstance(s.quantity, int)
    assert math.isfinite(s.weight) and s.reason and s.reason != "ok"


def test_size_position_bad_parameters_raise():
    with pytest.raises(FieldError, match="^signal "):
        size_position(1e6, 50.0, 1.5)
    with pytest.raises(FieldError, match="^lot_size "):
        size_position(1e6, 50.0, 1.0, lot_size=0)


# ------------------------------------------------------------ allocation


def test_equal_and_inverse_vol_hand_checks():
    assert equal_weight(4).weights.tolist() == [0.25] * 4
    iv = inverse_vol([0.1, 0.2, 0.4])  # 1/vol = 10, 5, 2.5 over 17.5
    assert iv.weights == pytest.approx([4 / 7, 2 / 7, 1 / 7], abs=1e-12)
    capped = inverse_vol([0.1, 0.2, 0.4], min_w=0.1, max_w=0.5)  # first capped, others keep 2:1
    assert capped.weights == pytest.approx([0.5, 1 / 3, 1 / 6], abs=1e-12)
    floored = inverse_vol([0.1, 0.1, 10.0], min_w=0.2)
    assert floored.weights == pytest.approx([0.4, 0.4, 0.2], abs=1e-12)
    with pytest.raises(FieldError, match=r"^vols \[2\]"):
        inverse_vol([0.1, 0.2, 0.0])
    with pytest.raises(FieldError, match="^min_w "):
        inverse_vol([0.1, 0.2], max_w=0.4)  # two weights of at most 0.4 cannot sum to 1


def test_mean_variance_matches_the_closed_form_when_no_bound_binds():
    mu = np.array([0.06, 0.08, 0.10])
    cov = np.array([[0.04, 0.006, 0.004], [0.006, 0.05, 0.01], [0.004, 0.01, 0.06]])
    lam = 4.0
    # max mu'w - lam/2 w'Cw s.t. 1'w = 1: w = C^-1 (mu - g 1) / lam with g chosen so the sum is 1
    ci = np.linalg.inv(cov)
    ones = np.ones(3)
    g = (ones @ ci @ mu - lam) / (ones @ ci @ ones)
    expected = ci @ (mu - g * ones) / lam
    assert (expected > 0).all()
    got = mean_variance(mu, cov, risk_aversion=lam)
    assert got.method == "mean_variance" and got.weights == pytest.approx(expected, abs=1e-6)


def test_mean_variance_target_vol_is_met_and_infeasible_target_falls_back():
    mu = [0.05, 0.08, 0.12]
    cov = np.array([[0.04, 0.006, 0.0], [0.006, 0.09, 0.01], [0.0, 0.01, 0.16]])
    a = mean_variance(mu, cov, target_vol=0.2, max_w=0.6)
    assert a.method == "mean_variance"
    assert portfolio_vol(a.weights, cov) == pytest.approx(0.2, abs=1e-6)
    low = mean_variance(mu, cov, target_vol=0.01)  # below the minimum-variance portfolio's vol
    assert low.method == "inverse_vol_fallback" and low.note
    assert low.weights == pytest.approx(inverse_vol(np.sqrt(np.diag(cov))).weights)


def test_euler_contributions_hand_check():
    cov = np.diag([0.04, 0.09])
    rc = risk_contributions([0.5, 0.5], cov)
    sigma = math.sqrt(0.25 * 0.04 + 0.25 * 0.09)
    assert rc == pytest.approx([0.25 * 0.04 / sigma, 0.25 * 0.09 / sigma])
    assert risk_contributions([0.5, 0.5], np.zeros((2, 2))).tolist() == [0.0, 0.0]


@st.composite
def problems(draw):
    n = draw(st.integers(2, 6))
    a = np.array(draw(st.lists(st.floats(-0.5, 0.5), min_size=n * n, max_size=n * n))).reshape(n, n)
    cov = a @ a.T + 1e-4 * np.eye(n)
    mu = np.array(draw(st.lists(st.floats(-0.2, 0.3), min_size=n, max_size=n)))
    min_w = draw(st.sampled_from([0.0, 0.02, -0.1]))
    max_w = draw(st.floats(1.0 / n + 0.01, 1.0))
    target = draw(st.none() | st.floats(0.02, 0.6))
    return mu, cov, min_w, max_w, target


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_mean_variance_weights_sum_to_one_within_bounds_and_euler_sums_to_vol(problem):
    mu, cov, min_w, max_w, target = problem
    a = mean_variance(mu, cov, min_w=min_w, max_w=max_w, target_vol=target)
    w = a.weights
    assert np.isfinite(w).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert (w >= min_w - 1e-9).all() and (w <= max_w + 1e-9).all()
    if a.method == "mean_variance" and target is not None:
        assert portfolio_vol(w, cov) <= target * (1 + 1e-5) + 1e-5
    assert risk_contributions(w, cov).sum() == pytest.approx(portfolio_vol(w, cov), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.01, 2.0), min_size=2, max_size=8), st.floats(0.0, 0.1), st.floats(0.3, 1.0))
def test_fit_to_bounds_sums_to_one_within_bounds(vols, min_w, max_w):
    n = len(vols)
    if n * min_w > 1 or n * max_w < 1:
        return
    w = inverse_vol(vols, min_w, max_w).weights
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert (w >= min_w - 1e-12).all() and (w <= max_w + 1e-12).all()


def test_bad_covariances_are_named():
    with pytest.raises(FieldError, match="^cov .*symmetric"):
        mean_variance([0.1, 0.1], [[0.04, 0.01], [0.0, 0.04]])
    with pytest.raises(FieldError, match="^cov .*semi-definite"):
        mean_variance([0.1, 0.1], [[0.04, 0.1], [0.1, 0.04]])
    with pytest.raises(FieldError, match="^cov "):
        mean_variance([0.1, 0.1, 0.1], np.eye(2))
    with pytest.raises(FieldError, match=r"^mu \[1\]"):
        mean_variance([0.1, math.nan], np.eye(2))
    with pytest.raises(FieldError, match="^weights "):
        fit_to_bounds([1.0, -1.0])


# ------------------------------------------------------------ schedule


def test_rebalance_due_in_market_nanoseconds():
    day = 86_400 * 1_000_000_000
    assert due(None, 0, 86_400)
    assert not due(0, day - 1, 86_400)
    assert due(0, day, 86_400)
    assert due(5, 5 + 1_500_000_000, 1.5)
    assert not due(5, 5 + 1_499_999_999, 1.5)
    assert due(0, np.int64(day), 86_400)
    with pytest.raises(FieldError, match="^ts .*before"):
        due(10, 9, 1)
    with pytest.raises(FieldError, match="^every_s "):
        due(0, 10, 0)
    with pytest.raises(FieldError, match="^ts "):
        due(0, 1.5, 1)  # type: ignore[arg-type]


def test_optimiser_failure_falls_back_to_inverse_vol_and_says_why(monkeypatch):
    import types

    import core.allocation as alloc

    def broken(fun, x0, **kwargs):
        return types.SimpleNamespace(x=np.full(len(x0), np.nan), success=False, status=9,
                                     message="Iteration limit reached")

    monkeypatch.setattr(alloc, "minimize", broken)
    cov = np.diag([0.01, 0.04, 0.16])
    a = mean_variance([0.1, 0.1, 0.1], cov, max_w=0.5)
    assert a.method == "inverse_vol_fallback" and "Iteration limit" in a.note
    assert a.weights == pytest.approx(inverse_vol([0.1, 0.2, 0.4], max_w=0.5).weights)
    low = mean_variance([0.1, 0.2], np.diag([0.04, 0.04]), target_vol=0.05)
    assert low.method == "inverse_vol_fallback"
