"""core.risk.stress: scenario figures, signs and sizes, the two VaR shocks."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError, InputError
from core.risk import stress as s
from core.risk.metrics import portfolio_var_parametric

DATA = Path("/work/shared/data")

# NAV 100k: 80k equities (one given as a sector), 10k oil, 10k cash.
BOOK = {"SPY": 60_000.0, "XOM": 20_000.0, "CL": 10_000.0, "USD": 10_000.0}
CLASSES = {"SPY": "equity", "XOM": "Energy", "CL": "commodity", "USD": "cash"}


def _closes(path: Path, column: str, date_format: str | None = None) -> pd.Series:
    if not path.exists():
        pytest.skip(f"{path} not present")
    frame = pd.read_csv(path, na_values=".")
    frame["Date"] = pd.to_datetime(frame["Date"], format=date_format)
    return frame.set_index("Date")[column].dropna()


# ------------------------------------------------------------ scenario figures against the data


def test_gfc_and_covid_equity_shocks_are_the_sp500_peak_to_trough_falls_in_the_data():
    sp = _closes(DATA / "skfolio/sp500_index.csv", "SP500")
    for scenario, start, end in (
        (s.GFC_2008, "2007-01-01", "2009-12-31"),
        (s.COVID_2020, "2020-01-01", "2020-06-30"),
    ):
        window = sp[start:end]
        fall = float((window / window.cummax() - 1).min())
        assert scenario.shock("equity") == pytest.approx(fall, abs=1e-6)
    assert s.GFC_2008.shock("equity") == pytest.approx(-0.5678, abs=1e-4)
    assert s.COVID_2020.shock("equity") == pytest.approx(-0.3392, abs=1e-4)


def test_flash_crash_equity_shock_is_the_intraday_low_against_the_prior_close():
    path = DATA / "arch/sp500.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    frame = pd.read_csv(path)
    frame["Date"] = pd.to_datetime(frame["Date"], format="%m/%d/%Y")
    bars = frame.set_index("Date")
    low = bars.loc["2010-05-06", "Low"] / bars.loc["2010-05-05", "Close"] - 1
    assert s.FLASH_CRASH_2010.shock("equity") == pytest.approx(low, abs=1e-6)


def test_commodity_shocks_are_wti_moves_over_the_same_dates():
    wti = _closes(DATA / "arch/wti.csv", "DCOILWTICO", "%m/%d/%Y")
    assert s.GFC_2008.shock("commodity") == pytest.approx(
        wti["2009-03-09"] / wti["2007-10-09"] - 1, abs=1e-9
    )
    assert s.FLASH_CRASH_2010.shock("commodity") == pytest.approx(
        wti["2010-05-06"] / wti["2010-05-05"] - 1, abs=1e-9
    )
    assert s.BLACK_MONDAY_1987.shock("commodity") == pytest.approx(
        wti["1987-10-19"] / wti["1987-10-16"] - 1, abs=1e-9
    )


def test_black_monday_equity_shock_is_the_20_47_percent_one_day_fall():
    assert s.BLACK_MONDAY_1987.shock("equity") == pytest.approx(-0.2047, abs=5e-5)


# ------------------------------------------------------------ re-pricing a book


def test_gfc_loss_on_the_book_is_the_sum_of_class_shocks_times_market_values():
    row = s.shock_book(BOOK, s.GFC_2008, CLASSES)
    expected = 80_000 * (676.53 / 1565.15 - 1) + 10_000 * (47.01 / 80.23 - 1)
    assert row.pnl == pytest.approx(expected, rel=1e-12)
    assert row.pnl == pytest.approx(-49_561, abs=1)
    assert row.pnl_fraction == pytest.approx(expected / 100_000, rel=1e-12)
    assert row.unshocked == ()


def test_every_historical_scenario_loses_money_on_a_long_book_and_makes_it_on_a_short_one():
    short = {sym: -v for sym, v in BOOK.items() if sym != "USD"} | {"USD": 200_000.0}
    for scenario in s.HISTORICAL_SCENARIOS:
        long_row = s.shock_book(BOOK, scenario, CLASSES)
        short_row = s.shock_book(short, scenario, CLASSES)
        assert long_row.pnl < 0 < short_row.pnl
        assert -1 < long_row.pnl_fraction < 0


def test_historical_scenarios_rank_by_severity_on_an_all_equity_book():
    fractions = {sc.name: s.shock_book({"SPY": 1000.0}, sc).pnl_fraction for sc in s.PRICE_SCENARIOS}
    assert fractions["2008 GFC"] < fractions["2020 COVID crash"] < fractions["1987 Black Monday"]
    assert fractions["1987 Black Monday"] < fractions["equities -10%"] < fractions["2010 flash crash"] < 0
    assert fractions["equities -10%"] == pytest.approx(-0.10)


def test_a_class_the_scenario_does_not_cover_is_listed_as_unshocked():
    row = s.shock_book(BOOK, s.COVID_2020, CLASSES)
    assert row.unshocked == ("CL",)
    assert row.pnl == pytest.approx(80_000 * (2237.40 / 3386.15 - 1), rel=1e-12)


def test_a_symbol_missing_from_the_class_map_is_listed_as_unshocked():
    row = s.shock_book(BOOK, s.EQUITIES_DOWN_10, {"SPY": "equity"})
    assert row.pnl == pytest.approx(-6_000)
    assert row.unshocked == ("XOM", "CL", "USD")


def test_without_a_class_map_every_symbol_is_an_equity():
    row = s.shock_book({"A": 30_000.0, "B": 20_000.0}, s.EQUITIES_DOWN_10, nav=100_000.0)
    assert row.pnl == pytest.approx(-5_000)
    assert row.pnl_fraction == pytest.approx(-0.05)


def test_an_unknown_asset_class_is_refused_by_name():
    with pytest.raises(InputError, match="'paintings' for ART"):
        s.shock_book({"ART": 1.0}, s.GFC_2008, {"ART": "paintings"})


def test_a_book_that_nets_to_zero_needs_an_explicit_nav():
    with pytest.raises(InputError, match="NAV"):
        s.shock_book({"A": 100.0, "B": -100.0}, s.GFC_2008)
    assert s.shock_book({"A": 100.0, "B": -100.0}, s.GFC_2008, nav=50.0).pnl == pytest.approx(0.0)


def test_a_nan_market_value_is_refused():
    with pytest.raises(DataError, match="market value of A"):
        s.shock_book({"A": math.nan}, s.GFC_2008)


# ------------------------------------------------------------ VaR shocks


def _returns() -> dict[str, list[float]]:
    rng = np.random.default_rng(17)
    cov = np.array([[2.0, 0.8, 0.1], [0.8, 1.5, 0.0], [0.1, 0.0, 0.5]]) * 1e-4
    r = rng.multivariate_normal([0.0004, 0.0002, 0.0001], cov, size=750)
    return {"SPY": list(r[:, 0]), "XOM": list(r[:, 1]), "CL": list(r[:, 2]), "USD": [0.0] * 750}


def test_volatility_x3_triples_the_sd_part_of_the_99_percent_var():
    returns = _returns()
    row = s.volatility_shock(BOOK, returns)
    syms = ["SPY", "XOM", "CL"]
    v = np.array([BOOK[k] for k in syms])
    base = portfolio_var_parametric(np.column_stack([returns[k] for k in syms]), v, 0.99)
    assert row.name == "volatility x3"
    assert row.pnl == pytest.approx(base.mean - 3 * sum(base.components), rel=1e-9)
    assert row.pnl < -2.5 * base.var
    assert row.pnl_fraction == pytest.approx(row.pnl / 100_000)


def test_correlations_to_one_match_a_rank_one_covariance_and_exceed_todays_var():
    returns = _returns()
    syms = ["SPY", "XOM", "CL"]
    v = np.array([BOOK[k] for k in syms])
    r = np.column_stack([returns[k] for k in syms])
    sd = r.std(axis=0, ddof=1)
    ones_cov = np.outer(sd, sd)  # correlation matrix of ones
    expected = float(r.mean(axis=0) @ v) + NormalDist().inv_cdf(0.01) * math.sqrt(v @ ones_cov @ v)
    row = s.correlation_shock(BOOK, returns)
    assert row.pnl == pytest.approx(expected, rel=1e-9)
    assert -row.pnl > portfolio_var_parametric(r, v, 0.99).var


def test_var_shocks_need_returns_for_every_position():
    returns = _returns()
    del returns["CL"]
    with pytest.raises(DataError, match="no returns for CL"):
        s.volatility_shock(BOOK, returns)


def test_stress_test_returns_frozen_rows_for_every_scenario():
    rows = s.stress_test(BOOK, CLASSES, returns=_returns())
    assert [r.name for r in rows] == [
        "2008 GFC", "2020 COVID crash", "2010 flash crash", "1987 Black Monday",
        "equities -10%", "volatility x3", "correlations to 1",
    ]  # fmt: skip
    assert all(r.pnl < 0 for r in rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].pnl = 0.0  # type: ignore[misc]
    assert len(s.stress_test(BOOK, CLASSES)) == 5


# ------------------------------------------------------------ per asset class (issue 13, item 10)

# the simulator's book: an equity, gold (commodity, metals sector), EURUSD (fx), BTC (crypto)
SIM_BOOK = {"IDX": 40_000.0, "GOLD": 20_000.0, "EURUSD": 20_000.0, "BTC": 20_000.0}


def _sim_classes() -> dict[str, str]:
    from console.setup_run import asset_classes
    from core.market.sim import Simulator

    return asset_classes(Simulator(1).spec)


def test_every_scenario_states_a_figure_or_na_for_every_asset_class():
    for scenario in s.PRICE_SCENARIOS:
        assert [c for c, _ in scenario.describe()] == list(s.ASSET_CLASSES)
        assert scenario.shock("cash") == 0.0
    assert dict(s.GFC_2008.describe())["crypto"] == "n/a"  # BTC did not trade in 2008
    assert dict(s.BLACK_MONDAY_1987.describe())["fx"] == "n/a"  # nor did the euro in 1987
    with pytest.raises(ValueError, match="every class"):
        s.Scenario("half", (("equity", -0.1),), "test")


def test_the_simulators_fx_crypto_and_gold_get_their_own_class_not_equity():
    classes = _sim_classes()
    assert {k: classes[k] for k in SIM_BOOK} == {
        "IDX": "equity", "GOLD": "metals", "EURUSD": "fx", "BTC": "crypto"}
    assert set(classes.values()) <= set(s.ASSET_CLASSES)


def test_2008_shocks_each_class_by_its_own_move_and_leaves_btc_unshocked():
    row = s.shock_book(SIM_BOOK, s.GFC_2008, _sim_classes())
    assert row.unshocked == ("BTC",)
    expected = (40_000 * s.GFC_2008.shock("equity") + 20_000 * s.GFC_2008.shock("metals")
                + 20_000 * s.GFC_2008.shock("fx"))
    assert row.pnl == pytest.approx(expected, rel=1e-12)
    # equities -57%, gold up about a quarter, EURUSD down about a tenth: not -57% on all four
    assert s.GFC_2008.shock("metals") > 0.15 and -0.15 < s.GFC_2008.shock("fx") < -0.05
    assert row.pnl > 40_000 * s.GFC_2008.shock("equity") > 100_000 * s.GFC_2008.shock("equity")


def test_2020_moves_btc_but_leaves_oil_unshocked_and_the_hypothetical_moves_equities_only():
    book = SIM_BOOK | {"CL": 10_000.0}
    classes = _sim_classes() | {"CL": "commodity"}
    covid = s.shock_book(book, s.COVID_2020, classes)
    assert covid.unshocked == ("CL",)
    assert -0.5 < s.COVID_2020.shock("crypto") < -0.2
    only_equities = s.shock_book(book, s.EQUITIES_DOWN_10, classes)
    assert only_equities.pnl == pytest.approx(-4_000.0) and only_equities.unshocked == ()


def test_a_price_files_unknown_class_stresses_as_equity_and_labels_normalise():
    assert s.stress_class("unknown") == "equity"
    assert s.stress_class("commodity", "energy") == "commodity"
    assert s.stress_class("commodity", "Precious Metals") == "metals"
    assert s.asset_class_of("X", "Currency") == "fx" and s.asset_class_of("X", "bonds") == "rates"


def test_the_risk_pane_names_the_symbols_a_scenario_leaves_unshocked():
    from console.panes.risk import _scenario_label
    from core.snapshot import StressLine

    assert _scenario_label(StressLine("2008 GFC", -1.0, -0.1, ("BTC",))) == "2008 GFC (n/a: BTC)"
    assert _scenario_label(StressLine("equities -10%", -1.0, -0.1)) == "equities -10%"
