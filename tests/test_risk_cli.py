"""`console risk FILE`: JSON keys and values, column choice, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from console.commands.risk import risk
from core.errors import DataError, InputError
from core.risk import metrics as m

SP500 = Path("/work/shared/data/skfolio/sp500_index.csv")
REQUIRED = {
    "n", "max_drawdown", "sharpe", "vol",
    "var_hist_95", "var_hist_99", "cvar_hist_95", "cvar_hist_99",
    "var_param_95", "var_param_99", "var_mc_95", "var_mc_99",
    "cvar_param_95", "cvar_param_99", "cvar_mc_95", "cvar_mc_99",
    "max_drawdown_peak", "max_drawdown_trough",
}  # fmt: skip
PRICES = [100.0, 102.0, 99.0, 104.0, 101.0, 97.0, 103.0, 108.0, 105.0, 110.0, 107.0]
DATES = pd.bdate_range("2024-01-01", periods=len(PRICES))


def _csv(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _frame_csv(tmp_path: Path, **columns: list[float]) -> Path:
    frame = pd.DataFrame({"Date": DATES.strftime("%Y-%m-%d"), **columns})
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    return path


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(risk, [*args, "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.output)


def _fails(args: list[str]) -> str:
    result = CliRunner().invoke(risk, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError), repr(result.exception)
    message = str(result.exception)
    assert "\n" not in message
    return message


# ------------------------------------------------------------ JSON


def test_json_has_every_key_and_the_core_functions_values(tmp_path):
    d = _json([str(_frame_csv(tmp_path, Close=PRICES))])
    assert REQUIRED <= d.keys()
    r = m.simple_returns(PRICES)
    assert d["n"] == 10
    assert d["var_hist_95"] == pytest.approx(m.var_historical(r, 0.95))
    assert d["cvar_hist_99"] == pytest.approx(m.cvar_historical(r, 0.99))
    assert d["var_param_99"] == pytest.approx(m.var_parametric(r, 0.99))
    assert d["var_mc_95"] == pytest.approx(m.var_monte_carlo(r, 0.95, seed=7))
    assert d["sharpe"] == pytest.approx(m.sharpe_ratio(r))
    assert d["vol"] == pytest.approx(m.annualised_vol(r))


def test_json_drawdown_names_the_peak_and_trough_dates(tmp_path):
    d = _json([str(_frame_csv(tmp_path, Close=PRICES))])
    # 104 (4th day) -> 97 (6th day) is the deepest fall.
    assert d["max_drawdown"] == pytest.approx(1 - 97 / 104)
    assert d["max_drawdown_peak"] == "2024-01-04"
    assert d["max_drawdown_trough"] == "2024-01-08"
    assert d["first"] == "2024-01-01"


def test_seed_makes_monte_carlo_reproducible_and_defaults_to_7(tmp_path):
    path = str(_frame_csv(tmp_path, Close=PRICES))
    default, seven, eight = _json([path]), _json([path, "--seed", "7"]), _json([path, "--seed", "8"])
    assert default["var_mc_99"] == seven["var_mc_99"]
    assert eight["var_mc_99"] != seven["var_mc_99"]
    assert eight["var_hist_99"] == seven["var_hist_99"]


def test_the_table_shows_var_rows_as_percentages(tmp_path):
    result = CliRunner().invoke(risk, [str(_frame_csv(tmp_path, Close=PRICES))])
    assert result.exit_code == 0, result.output
    var95 = m.var_historical(m.simple_returns(PRICES), 0.95)
    assert "VaR historical" in result.output
    assert f"{var95:.2%}" in result.output
    assert "max drawdown" in result.output


# ------------------------------------------------------------ choosing the column


def test_column_option_picks_the_named_column(tmp_path):
    path = _frame_csv(tmp_path, Close=PRICES, Other=list(reversed(PRICES)))
    d = _json([str(path), "--column", "Other"])
    assert d["column"] == "Other"
    assert d["var_hist_95"] == pytest.approx(m.var_historical(m.simple_returns(list(reversed(PRICES)))))


def test_adj_close_is_preferred_over_close(tmp_path):
    path = _frame_csv(tmp_path, Close=PRICES, **{"Adj Close": [p / 2 for p in PRICES[::-1]]})
    assert _json([str(path)])["column"] == "Adj Close"


def test_the_only_numeric_column_is_used_when_no_close_column_exists(tmp_path):
    path = _frame_csv(tmp_path, SP500=PRICES)
    assert _json([str(path)])["column"] == "SP500"


def test_several_numeric_columns_without_a_close_is_an_error_listing_them(tmp_path):
    path = _frame_csv(tmp_path, AAPL=PRICES, MSFT=PRICES)
    message = _fails([str(path)])
    assert "--column" in message and "columns: AAPL, MSFT" in message


def test_an_unknown_column_is_an_error_listing_the_columns(tmp_path):
    message = _fails([str(_frame_csv(tmp_path, Close=PRICES)), "--column", "Price"])
    assert "no column 'Price'" in message and "(columns: Close)" in message


def test_parquet_files_are_read_too(tmp_path):
    path = tmp_path / "prices.parquet"
    pd.DataFrame({"Close": PRICES}, index=pd.DatetimeIndex(DATES, name="Date")).to_parquet(path)
    d = _json([str(path)])
    assert d["n"] == 10 and d["max_drawdown_peak"] == "2024-01-04"


# ------------------------------------------------------------ bad files


def test_a_missing_file_is_an_input_error_naming_it(tmp_path):
    message = _fails([str(tmp_path / "nope.csv")])
    assert "nope.csv" in message and "file not found" in message


def test_a_missing_price_is_left_out_as_run_leaves_it_out_and_said_so(tmp_path):
    path = _csv(tmp_path, "Date,Close\n2024-01-01,100\n2024-01-02,101\n2024-01-03,\n2024-01-04,99\n")
    d = _json([str(path)])
    assert d["n"] == 2 and d["fixups"] == ["dropped 1 row with missing value '' in Close (first: line 4)"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("2024-01-01,100\n2024-01-02,-3\n2024-01-03,99\n", "line 3"),
        ("2024-01-01,100\n2024-01-02,0\n2024-01-03,99\n", "line 3: Close is zero"),
        ("2024-01-01,100\n2024-01-02,abc\n2024-01-03,99\n", "line 3: Close is not a number ('abc')"),
        ("2024-01-02,100\n2024-01-01,101\n2024-01-03,99\n", "line 3: timestamp 2024-01-01 is before"),
        ("2024-01-01,100\nnot-a-date,101\n2024-01-03,99\n", "line 3: Date 'not-a-date' is not a valid date"),
        ("2024-01-01,100\n2024-01-02,101\n", "need at least 3"),
    ],
    ids=["negative", "zero", "text", "out-of-order", "bad-date", "too-short"],
)
def test_bad_rows_give_a_one_line_data_error(tmp_path, body, expected):
    message = _fails([str(_csv(tmp_path, "Date,Close\n" + body))])
    assert expected in message


def test_an_unreadable_file_is_a_data_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    result = CliRunner().invoke(risk, [str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError)
    assert "broken.parquet" in str(result.exception)


# ------------------------------------------------------------ real data


def test_sp500_index_file_gives_the_known_drawdown_and_sensible_var():
    if not SP500.exists():
        pytest.skip(f"{SP500} not present")
    d = _json([str(SP500)])
    assert d["n"] == 8312
    assert d["max_drawdown"] == pytest.approx(0.568, abs=5e-4)
    assert (d["max_drawdown_peak"], d["max_drawdown_trough"]) == ("2007-10-09", "2009-03-09")
    assert 0.01 < d["var_hist_95"] < d["var_hist_99"] < d["cvar_hist_99"] < 0.11984
    assert np.isclose(d["var_mc_99"], d["var_param_99"], rtol=0.02)


# ------------------------------------------------------------ bar interval and the one loader (issue 13, item 11)

FIXTURES = Path(__file__).parent / "fixtures"
SP500_1MIN = Path("/work/shared/data/mplfinance/SP500_NOV2019_IDayRVol.csv")


def _stamps(start: str, periods: int, freq: str) -> list[int]:
    return [int(t.value // 1_000_000) for t in pd.date_range(start, periods=periods, freq=freq)]


def test_one_minute_bars_are_annualised_by_bars_a_day_times_252_and_say_so():
    path = FIXTURES / "mplfinance_SP500_NOV2019_IDayRVol_head.csv"  # 60 one-minute bars, O,C,H,L order
    d = _json([str(path)])
    closes = pd.read_csv(path)["Close"].to_numpy()
    r = m.simple_returns(closes)
    assert (d["interval"], d["bars_per_day"], d["bars_per_year"]) == ("1 minute", 60.0, 60.0 * 252)
    assert d["vol"] == pytest.approx(np.std(r, ddof=1) * np.sqrt(60 * 252))
    assert d["sharpe"] == pytest.approx(m.sharpe_ratio(r, periods_per_year=60 * 252))
    assert "one day" in d["interval_note"]  # a partial session: the estimate says it undercounts
    table = CliRunner().invoke(risk, [str(path)]).output
    assert "loss over one bar (1 minute)" in table and "1 minute bars (60 a day)" in table


def test_the_sp500_one_minute_file_is_391_bars_a_day_and_about_7_percent_a_year():
    if not SP500_1MIN.exists():
        pytest.skip(f"{SP500_1MIN} not present")
    d = _json([str(SP500_1MIN)])
    assert (d["interval"], d["bars_per_day"], d["interval_note"]) == ("1 minute", 391.0, "")
    assert 0.05 < d["vol"] < 0.09  # was 0.34% when one-minute returns were annualised as daily
    assert d["vol"] == pytest.approx(0.003407 * math.sqrt(391), rel=1e-3)


def test_freds_dot_marker_is_a_missing_value_for_risk_and_models_evaluate_as_for_run():
    from console.cli import cli
    from core.market.files import load_bars

    path = FIXTURES / "arch_wti_1986.csv"  # 79 rows, two of them '.'
    d = _json([str(path)])
    assert d["n"] == 76 and d["interval"] == "daily" and d["bars_per_year"] == 252
    assert d["fixups"] == ["dropped 2 rows with missing value '.' in DCOILWTICO (first: line 34)"]
    assert len(load_bars(path).bars) == 77  # run reads the same 77 prices
    res = CliRunner().invoke(cli, ["models", "evaluate", str(path), "--models", "forest",
                                   "--train", "50", "--test", "10", "--json"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert json.loads(res.output)["bars"] == 77


@pytest.mark.parametrize(("freq", "periods", "name", "per_year"), [
    ("B", 30, "daily", 252.0),          # business days: weekends do not move the spacing
    ("D", 30, "daily", 365.0),          # every day of the week: a crypto file
    ("W-FRI", 20, "weekly", 52.0),
    ("MS", 24, "monthly", 12.0),
    ("QS", 12, "quarterly", 4.0),
    ("YS", 5, "yearly", 1.0),
    ("5min", 200, "5 minutes", 200 * 252.0),  # one day's 200 bars (a partial session)
    ("h", 24 * 21, "1 hour", 24 * 365.0),     # around the clock, weekends too (three weeks)
])
def test_bar_interval_is_the_median_spacing_and_the_bars_a_year_follow(freq, periods, name, per_year):
    from core.market.files import bar_interval

    iv = bar_interval(_stamps("2024-01-01", periods, freq))
    assert (iv.name, iv.per_year) == (name, per_year)


def test_a_file_with_one_timestamp_has_no_interval():
    from core.market.files import bar_interval

    with pytest.raises(DataError, match="two distinct timestamps"):
        bar_interval([1_000, 1_000])
