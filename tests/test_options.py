"""core.options (BSM, greeks, implied vol, basket Monte Carlo, protective put, book greeks) and `console options`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from console.cli import cli
from core.errors import InputError
from core.options import (
    FieldError, OptionPosition, basket_call_mc, bsm, bsm_price, check_correlation, implied_vol,
    portfolio_greeks, protective_put, years_from_days,
)

# spot, strike, expiry (years), rate, vol, div
CASES = [
    (100.0, 100.0, 1.0, 0.05, 0.2, 0.02),
    (42.0, 40.0, 0.5, 0.10, 0.2, 0.0),
    (80.0, 120.0, 2.0, 0.01, 0.35, 0.04),
    (150.0, 90.0, 0.1, -0.005, 0.5, 0.07),
]


# ------------------------------------------------------------ prices


def test_hull_textbook_values():
    # Hull, Options Futures and Other Derivatives, example 15.6: c = 4.76, p = 0.81.
    assert bsm_price(42, 40, 0.5, 0.10, 0.2) == pytest.approx(4.7594, abs=5e-5)
    assert bsm_price(42, 40, 0.5, 0.10, 0.2, put=True) == pytest.approx(0.8086, abs=5e-5)


@pytest.mark.parametrize("s,k,t,r,v,q", CASES)
def test_put_call_parity_with_dividends(s, k, t, r, v, q):
    call, put = bsm_price(s, k, t, r, v, q), bsm_price(s, k, t, r, v, q, put=True)
    assert call - put == pytest.approx(s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-10)


@pytest.mark.parametrize("s,k,t,r,v,q", CASES)
@pytest.mark.parametrize("put", [False, True])
def test_greeks_match_central_differences(s, k, t, r, v, q, put):
    g = bsm(s, k, t, r, v, q, put)

    def p(**kw: float) -> float:
        args = {"spot": s, "strike": k, "expiry": t, "rate": r, "vol": v, "div": q} | kw
        return bsm_price(put=put, **args)

    hs, hv, ht, hr = 1e-5 * s, 1e-5, 1e-6, 1e-6
    assert g.delta == pytest.approx((p(spot=s + hs) - p(spot=s - hs)) / (2 * hs), abs=1e-8)
    assert g.gamma == pytest.approx((p(spot=s + hs) - 2 * g.price + p(spot=s - hs)) / hs**2, abs=1e-6)
    assert g.vega == pytest.approx((p(vol=v + hv) - p(vol=v - hv)) / (2 * hv), abs=1e-5)
    # theta is minus the derivative in expiry: time passing shortens the option
    assert g.theta == pytest.approx(-(p(expiry=t + ht) - p(expiry=t - ht)) / (2 * ht), abs=1e-5)
    assert g.rho == pytest.approx((p(rate=r + hr) - p(rate=r - hr)) / (2 * hr), abs=1e-5)


def test_per_point_and_per_day_units():
    g = bsm(100, 100, 1.0, 0.05, 0.2, 0.02)
    assert g.vega_pt == pytest.approx(g.vega / 100, rel=1e-15)
    assert g.theta_day == pytest.approx(g.theta / 365, rel=1e-15)
    # one vol point moves the price by about vega_pt
    assert bsm_price(100, 100, 1.0, 0.05, 0.21, 0.02) - g.price == pytest.approx(g.vega_pt, rel=1e-2)
    assert years_from_days(73) == pytest.approx(0.2)


def test_expiry_zero_is_intrinsic_with_a_delta_step():
    assert bsm(105, 100, 0, 0.05, 0.2) == bsm(105, 100, 0, 0.05, 0.2)  # frozen, comparable
    itm, otm, atm = bsm(105, 100, 0, 0.05, 0.2), bsm(95, 100, 0, 0.05, 0.2), bsm(100, 100, 0, 0.05, 0.2)
    assert (itm.price, itm.delta, otm.price, otm.delta, atm.delta) == (5.0, 1.0, 0.0, 0.0, 0.5)
    put = bsm(95, 100, 0, 0.05, 0.2, put=True)
    assert (put.price, put.delta, put.gamma, put.vega, put.theta) == (5.0, -1.0, 0.0, 0.0, 0.0)
    # continuity: a second before expiry is close to intrinsic
    assert bsm_price(105, 100, 1 / (365 * 86400), 0.05, 0.2) == pytest.approx(5.0, abs=1e-3)


def test_zero_vol_is_the_discounted_forward_payoff():
    s, k, t, r, q = 100.0, 90.0, 1.0, 0.05, 0.02
    g = bsm(s, k, t, r, 0.0, q)
    assert g.price == pytest.approx(s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-12)
    assert g.delta == pytest.approx(math.exp(-q * t))
    assert g.price == pytest.approx(bsm_price(s, k, t, r, 1e-6, q), abs=1e-9)
    assert bsm_price(s, k, t, r, 0.0, q, put=True) == 0.0


@pytest.mark.parametrize("field,kwargs", [
    ("spot", {"spot": 0.0}), ("spot", {"spot": -1.0}), ("strike", {"strike": 0.0}),
    ("strike", {"strike": -5.0}), ("vol", {"vol": -0.1}), ("expiry", {"expiry": -0.1}),
    ("spot", {"spot": math.nan}), ("rate", {"rate": math.inf}), ("div", {"div": math.nan}),
    ("rate", {"rate": -1e5}),
])
def test_bad_inputs_raise_one_line_naming_the_field(field, kwargs):
    args = {"spot": 100.0, "strike": 100.0, "expiry": 1.0, "rate": 0.05, "vol": 0.2} | kwargs
    with pytest.raises(ValueError) as info:
        bsm(**args)
    assert isinstance(info.value, InputError) and info.value.field == field  # type: ignore[attr-defined]
    assert str(info.value).startswith(field + " ") and "\n" not in str(info.value)


def test_huge_magnitudes_raise_instead_of_returning_inf():
    with pytest.raises(FieldError):
        bsm(1e300, 1e300, 100.0, 0.0, 0.2, div=-5.0)


# ------------------------------------------------------------ implied vol


@pytest.mark.parametrize("s,k,t,r,v,q", CASES)
@pytest.mark.parametrize("put", [False, True])
def test_implied_vol_round_trip(s, k, t, r, v, q, put):
    price = bsm_price(s, k, t, r, v, q, put)
    assert implied_vol(price, s, k, t, r, q, put) == pytest.approx(v, abs=1e-8)


def test_implied_vol_of_a_very_high_vol():
    price = bsm_price(100, 100, 0.1, 0.0, 4.0)
    assert implied_vol(price, 100, 100, 0.1, 0.0) == pytest.approx(4.0, abs=1e-8)


@pytest.mark.parametrize("price", [-1.0, 0.0, 100.0, 150.0, math.nan])
def test_implied_vol_rejects_prices_outside_the_arbitrage_band(price):
    with pytest.raises(FieldError, match="^price "):
        implied_vol(price, 100, 100, 1.0, 0.0)


# ------------------------------------------------------------ basket Monte Carlo


def test_one_asset_basket_converges_to_bsm_within_three_standard_errors():
    s, k, t, r, v, q = 100.0, 105.0, 0.75, 0.03, 0.25, 0.01
    exact = bsm_price(s, k, t, r, v, q)
    for antithetic in (True, False):
        mc = basket_call_mc([1.0], [s], [v], [[1.0]], r, [q], k, t, 200_000, seed=3, antithetic=antithetic)
        assert abs(mc.price - exact) < 3 * mc.stderr, (antithetic, mc, exact)
        assert 0 < mc.stderr < 0.05


def test_perfectly_correlated_identical_assets_price_like_one():
    # corr 1 is singular (no Cholesky) yet valid; two identical assets, weights 0.5, are one asset.
    mc = basket_call_mc([0.5, 0.5], [100, 100], [0.2, 0.2], [[1, 1], [1, 1]], 0.05, None, 100, 1.0, 200_000, seed=1)
    assert abs(mc.price - bsm_price(100, 100, 1.0, 0.05, 0.2)) < 3 * mc.stderr


def test_same_seed_same_price_other_seed_other_price():
    args = ([0.5, 0.5], [100, 100], [0.2, 0.3], [[1, 0.5], [0.5, 1]], 0.05, [0.0, 0.01], 100, 1.0, 20_000)
    a, b, c = basket_call_mc(*args, seed=7), basket_call_mc(*args, seed=7), basket_call_mc(*args, seed=8)
    assert a == b
    assert a.price != c.price
    assert abs(a.price - c.price) < 4 * math.hypot(a.stderr, c.stderr)


def test_antithetic_halves_count_as_paths_and_reduce_error():
    args = ([1.0], [100], [0.2], [[1.0]], 0.0, None, 100, 1.0)
    anti = basket_call_mc(*args, n_paths=20_001, seed=0, antithetic=True)
    plain = basket_call_mc(*args, n_paths=20_000, seed=0, antithetic=False)
    assert anti.n_paths == plain.n_paths == 20_000
    assert anti.stderr < plain.stderr


@pytest.mark.parametrize("corr,match", [
    ([[1, 0.5], [0.4, 1]], "not symmetric"),
    ([[1, 0.5], [0.5, 0.9]], "diagonal must be 1"),
    ([[1, 1.2], [1.2, 1]], r"\[-1, 1\]"),
    ([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], "not positive semi-definite"),
    ([[1, 0.5]], "shape"),
])
def test_bad_correlation_matrices_are_named(corr, match):
    n = 3 if len(corr) == 3 else 2
    with pytest.raises(FieldError, match="^corr .*" + match):
        check_correlation(corr, n)


@pytest.mark.parametrize("field,kw", [
    ("spots", {"spots": [100, -1]}), ("vols", {"vols": [0.2, -0.3]}), ("spots", {"spots": [100]}),
    ("weights", {"weights": []}), ("n_paths", {"n_paths": 1}), ("seed", {"seed": -1}),
    ("divs", {"divs": [0.0, math.nan]}), ("expiry", {"expiry": -1.0}),
])
def test_basket_bad_inputs(field, kw):
    args = {"weights": [0.5, 0.5], "spots": [100, 100], "vols": [0.2, 0.3], "corr": [[1, 0], [0, 1]],
            "rate": 0.0, "divs": None, "strike": 100, "expiry": 1.0, "n_paths": 1000, "seed": 0} | kw
    with pytest.raises(FieldError) as info:
        basket_call_mc(**args)
    assert info.value.field == field


# ------------------------------------------------------------ protective put and book greeks


def test_protective_put_buys_only_up_to_the_multiple_of_fair_value():
    fair = bsm_price(100, 95, 0.25, 0.02, 0.3, put=True)
    yes = protective_put(100, 0.3, fair * 1.19, 1.2, expiry=0.25, strike=95, rate=0.02)
    no = protective_put(100, 0.3, fair * 1.21, 1.2, expiry=0.25, strike=95, rate=0.02)
    assert yes.buy and not no.buy
    assert yes.fair == pytest.approx(fair) and yes.limit == pytest.approx(1.2 * fair)
    assert no.ratio == pytest.approx(1.21) and ">" in no.reason
    atm = protective_put(100, 0.3, 1.0, 1.0, expiry=0.25)
    assert atm.strike == 100 and atm.buy
    with pytest.raises(FieldError, match="^max_multiple"):
        protective_put(100, 0.3, 1.0, 0.0, expiry=0.25)
    with pytest.raises(FieldError, match="^premium"):
        protective_put(100, 0.3, -1.0, 1.2, expiry=0.25)


def test_portfolio_greeks_sum_qty_times_multiplier():
    long_call = OptionPosition(qty=3, spot=100, strike=100, expiry=0.5, vol=0.2, rate=0.01)
    short_put = OptionPosition(qty=-2, spot=100, strike=95, expiry=0.5, vol=0.25, rate=0.01, put=True, multiplier=10)
    book = portfolio_greeks([long_call, short_put])
    c, p = bsm(100, 100, 0.5, 0.01, 0.2), bsm(100, 95, 0.5, 0.01, 0.25, put=True)
    assert book.delta == pytest.approx(300 * c.delta - 20 * p.delta)
    assert book.gamma == pytest.approx(300 * c.gamma - 20 * p.gamma)
    assert book.vega == pytest.approx(300 * c.vega - 20 * p.vega)
    assert book.vega_pt == pytest.approx(book.vega / 100)
    assert book.value == pytest.approx(300 * c.price - 20 * p.price)
    assert portfolio_greeks([]).delta == 0.0
    with pytest.raises(FieldError, match=r"^positions\[1\]\.vol "):
        portfolio_greeks([long_call, OptionPosition(1, 100, 100, 0.5, -0.2)])


# ------------------------------------------------------------ CLI


PRICE = ["options", "price", "--spot", "42", "--strike", "40", "--expiry-days", "182.5", "--rate", "0.1", "--vol", "0.2"]
BASKET = ["options", "basket", "--spots", "100,100", "--vols", "0.2,0.3", "--weights", "0.5,0.5",
          "--strike", "100", "--expiry-days", "365", "--rate", "0.05", "--paths", "20000"]


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _bad(args: list[str], option: str) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and f"'{option}'" in error[0], result.output
    return error[0]


def test_cli_price_json_has_every_key():
    d = json.loads(_ok([*PRICE, "--json"]))
    keys = {"price", "delta", "gamma", "vega", "vega_pt", "theta", "theta_day", "rho",
            "spot", "strike", "expiry_days", "rate", "vol", "div", "type"}
    assert keys <= set(d)
    assert d["price"] == pytest.approx(4.7594, abs=5e-5) and d["type"] == "call"
    put = json.loads(_ok([*PRICE, "--put", "--div", "0.01", "--json"]))
    assert put["price"] == pytest.approx(bsm_price(42, 40, 0.5, 0.1, 0.2, 0.01, put=True))


def test_cli_price_table_and_help_state_units():
    out = _ok(PRICE)
    for text in ("4.759422", "per vol point", "per calendar day", "per 1.00 of rate", "per year"):
        assert text in out
    help_text = _ok(["options", "price", "--help"])
    for text in ("per vol point", "per calendar day", "days / 365", "annualised"):
        assert text in help_text


@pytest.mark.parametrize("args,option", [
    (["--vol", "-0.2"], "--vol"), (["--spot", "0"], "--spot"), (["--strike", "-1"], "--strike"),
    (["--expiry-days", "-3"], "--expiry-days"), (["--rate", "nan"], "--rate"), (["--div", "inf"], "--div"),
    (["--vol", "abc"], "--vol"),
])
def test_cli_price_bad_input_is_one_line_naming_the_option(args, option):
    _bad([*PRICE, *args], option)


def test_cli_basket_json_matches_the_core_and_accepts_a_full_matrix():
    scalar = json.loads(_ok([*BASKET, "--corr", "0.5", "--json"]))
    matrix = json.loads(_ok([*BASKET, "--corr", "1,0.5;0.5,1", "--json"]))
    assert scalar == matrix
    core = basket_call_mc([0.5, 0.5], [100, 100], [0.2, 0.3], [[1, 0.5], [0.5, 1]], 0.05, None, 100, 1.0, 20_000, 0)
    assert (scalar["price"], scalar["stderr"]) == (core.price, core.stderr)
    assert "standard error" in _ok([*BASKET, "--corr", "0.5"])


@pytest.mark.parametrize("args,option", [
    (["--corr", "1,0.5;0.4,1"], "--corr"), (["--corr", "1.5"], "--corr"), (["--corr", "1,0.5"], "--corr"),
    (["--corr", "1,0.5;0.5"], "--corr"), (["--corr", ""], "--corr"),
    (["--corr", "0.5", "--spots", "100,x"], "--spots"), (["--corr", "0.5", "--vols", "0.2"], "--vols"),
    (["--corr", "0.5", "--paths", "1"], "--paths"), (["--corr", "0.5", "--divs", "0,nan"], "--divs"),
    (["--corr", "0.5", "--expiry-days", "-1"], "--expiry-days"),
])
def test_cli_basket_bad_input_is_one_line_naming_the_option(args, option):
    _bad([*BASKET, *args], option)


def test_mc_chunking_does_not_change_the_stream(monkeypatch):
    import core.options as o
    args = ([0.3, 0.7], [90, 110], [0.25, 0.15], np.array([[1, -0.3], [-0.3, 1]]), 0.02, None, 100, 0.5, 3000)
    whole = basket_call_mc(*args, seed=5)
    monkeypatch.setattr(o, "PATH_CHUNK", 7)
    assert basket_call_mc(*args, seed=5).price == pytest.approx(whole.price, rel=1e-12)
