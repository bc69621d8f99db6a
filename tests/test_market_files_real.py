"""core.market.files on real third-party data.

The ``*_fixture`` tests use verbatim slices of the permissively licensed files
copied into tests/fixtures (see its README) and always run.  The others read
the full files from ``../shared/data`` (described in its README.md, including
the GPL/AGPL files that are never copied here) and skip when it is absent."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.events import Bar, Timer
from core.market.files import MarketFile, file_source, load_bars

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "README.md").exists(),
                                reason="../shared/data is not present")
DAY = 86_400_000


def ms(text: str) -> int:
    dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def day_of(bar: Bar) -> str:
    return datetime.fromtimestamp(bar.ts / 1000, timezone.utc).strftime("%Y-%m-%d")


def assert_clean(mf: MarketFile) -> None:
    keys = [(b.ts, b.symbol) for b in mf.bars]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for b in mf.bars:
        assert 0 < b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.volume >= 0


def worst_day(mf: MarketFile) -> tuple[float, str]:
    closes = np.array([b.close for b in mf.bars])
    returns = closes[1:] / closes[:-1] - 1
    i = int(returns.argmin())
    return float(returns[i]), day_of(mf.bars[i + 1])


# ------------------------------------------------------------ fixtures (always run)


def test_the_skfolio_index_fixture_has_the_worst_day_on_2020_03_16() -> None:
    mf = load_bars(FIXTURES / "skfolio_sp500_index_2020Q1.csv")
    assert mf.symbols == ("SP500",) and len(mf.bars) == 62 and mf.fixups == ()
    change, day = worst_day(mf)
    assert day == "2020-03-16" and round(change * 100, 2) == -11.98


def test_the_skfolio_wide_fixture_gives_twenty_symbols_a_day() -> None:
    mf = load_bars(FIXTURES / "skfolio_sp500_dataset_2020-03.csv")
    assert len(mf.symbols) == 20 and {"KO", "PEP", "XOM", "CVX"} <= set(mf.symbols)
    assert len(mf.bars) == 22 * 20
    assert Counter(b.ts for b in mf.bars) == {ts: 20 for ts in {b.ts for b in mf.bars}}
    assert_clean(mf)


def test_the_wti_fixture_drops_exactly_its_two_fred_dot_rows() -> None:
    mf = load_bars(FIXTURES / "arch_wti_1986.csv")
    assert len(mf.bars) == 79 - 2
    assert mf.fixups == ("dropped 2 rows with missing value '.' in DCOILWTICO (first: line 34)",)
    days = {day_of(b) for b in mf.bars}
    assert "1986-02-17" not in days and "1986-03-28" not in days  # the '.' rows
    assert mf.bars[0] == Bar(ms("1986-01-02"), "DCOILWTICO", 25.56, 25.56, 25.56, 25.56, 0.0)


def test_the_arch_fixture_reads_month_first_dates() -> None:
    mf = load_bars(FIXTURES / "arch_sp500_1999-01.csv")
    assert len(mf.bars) == 30 and mf.bar_ms == DAY
    assert mf.bars[0] == Bar(ms("1999-01-04"), "ARCH_SP500_1999-01", 1229.22998, 1248.810059,
                             1219.099976, 1228.099976, 877000000.0)


def test_the_pandas_ta_fixture_ignores_the_row_number_column() -> None:
    mf = load_bars(FIXTURES / "pandas_ta_SPY_D_2020-03.csv", symbol="SPY")
    assert len(mf.bars) == 22 and mf.symbols == ("SPY",)
    assert mf.fixups == ("ignored unnamed column 1 (row numbers)",)
    assert mf.bars[0] == Bar(ms("2020-03-02"), "SPY", 298.21, 309.16, 294.46, 309.09, 237377617.0)


def test_the_mplfinance_ocHL_fixture_maps_columns_by_name() -> None:
    mf = load_bars(FIXTURES / "mplfinance_SP500_NOV2019_IDayRVol_head.csv")
    assert mf.fixups == ()  # no range widening needed: the mapping is right
    assert mf.bars[0] == Bar(ms("2019-11-05 09:30"), "MPLFINANCE_SP500_NOV2019_IDAYRVOL_HEAD",
                             3080.8, 3081.47, 3080.3, 3080.49, 2209795.0)
    assert all(b.high >= max(b.open, b.close) and b.low <= min(b.open, b.close) for b in mf.bars)
    assert mf.bar_ms == 60_000 and len(mf.bars) == 60


def test_the_yahoo_spy_fixture_widens_its_two_open_below_low_rows() -> None:
    mf = load_bars(FIXTURES / "mplfinance_yahoofinance-SPY-2015-03.csv")
    assert mf.fixups == ("widened Low/High to contain Open and Close on 2 rows (first: line 10)",)
    bar = next(b for b in mf.bars if day_of(b) == "2015-03-05")
    assert (bar.open, bar.low, bar.high, bar.close) == (209.419998, 209.419998, 210.800003, 210.460007)
    assert_clean(mf)


def test_the_zipline_fixture_keeps_prices_as_written_on_the_split_day() -> None:
    mf = load_bars(FIXTURES / "zipline_AAPL_2014-06.csv", symbol="AAPL")
    split_day = next(b for b in mf.bars if day_of(b) == "2014-06-09")
    prior = mf.bars[mf.bars.index(split_day) - 1]
    assert split_day.close == 93.699997
    assert abs(split_day.close / prior.close - 1) < 0.05  # not re-adjusted by 7:1


def test_every_fixture_round_trips_through_parquet(tmp_path: Path) -> None:
    for csv_path in sorted(FIXTURES.glob("*.csv")):
        from_csv = load_bars(csv_path)
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        frame.to_parquet(tmp_path / (csv_path.stem + ".parquet"), index=False)
        from_parquet = load_bars(tmp_path / (csv_path.stem + ".parquet"))
        assert from_parquet.bars == from_csv.bars, csv_path.name
        assert from_parquet.symbols == from_csv.symbols


def test_a_fixture_feeds_file_source_day_timer_bars_bar_timer() -> None:
    mf = load_bars(FIXTURES / "skfolio_sp500_dataset_2020-03.csv")
    events = list(file_source(mf))
    assert events[0] == Timer(mf.bars[0].ts, "", "day")
    assert events[1:21] == mf.bars[:20]
    assert events[21] == Timer(mf.bars[0].ts, "", "bar")
    assert len(events) == len(mf.bars) + 2 * 22 + 1
    assert events[-1] == Timer(mf.bars[-1].ts, "", "end")  # the feed has ended


# ------------------------------------------------------------ the full files

# file, rows in the README, bars expected (rows minus documented fix-ups), first day
FILES = [
    ("skfolio/sp500_index.csv", 8313, 8313, "1990-01-02"),
    ("skfolio/sp500_dataset.csv", 8313, 8313 * 20, "1990-01-02"),
    ("skfolio/factors_dataset.csv", 2264, 2264 * 5, "2014-01-02"),
    ("pandas_ta/SPY_D.csv", 5241, 5241, "1999-11-01"),
    ("backtrader/orcl-1995-2014.txt", 5036, 5036, "1995-01-03"),
    ("backtrader/nvda-1999-2014.txt", 4012, 4012, "1999-01-22"),
    ("backtrader/yhoo-1996-2015.txt", 4965, 4965, "1996-04-12"),
    ("backtrader/2006-day-001.txt", 255, 255, "2006-01-02"),
    ("mplfinance/yahoofinance-SPY-20080101-20180101.csv", 2519, 2519, "2007-12-31"),
    ("mplfinance/yahoofinance-SPY-20200901-20210113.csv", 92, 92, "2020-09-01"),
    ("arch/sp500.csv", 5031, 5031, "1999-01-04"),
    ("arch/nasdaq.csv", 5031, 5031, "1999-01-04"),
    ("arch/wti.csv", 8611, 8611 - 290, "1986-01-02"),
    ("backtesting_py/GOOG.csv", 2148, 2148, "2004-08-19"),
    ("zipline/AAPL.csv", 754, 754, "2012-01-03"),
    ("zipline/IBM.csv", 754, 754, "2012-01-03"),
    ("zipline/KO.csv", 754, 754, "2012-01-03"),
    ("zipline/MSFT.csv", 754, 754, "2012-01-03"),
    ("backtrader/2006-01-02-volume-min-001.txt", 30889, 30889, "2006-01-02"),
    ("backtrader/2006-min-005.txt", 2142, 2142, "2006-01-02"),
    ("backtrader/ticksample.csv", 135, 135 - 1, "2015-09-23"),
    ("mplfinance/SP500_NOV2019_IDayRVol.csv", 1563, 1563, "2019-11-05"),
    ("backtesting_py/EURUSD.csv", 5000, 5000, "2017-04-19"),
]


@needs_data
def test_the_table_covers_every_file_in_the_data_readme() -> None:
    listed = set()
    for line in (DATA / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            first, *more = re.findall(r"`([^`]+)`", line.split("|")[1])
            folder = first.split("/")[0]
            listed |= {first} | {f"{folder}/{name}" for name in more}
    assert listed == {f for f, *_ in FILES}


@needs_data
@pytest.mark.parametrize(("name", "rows", "bars", "first_day"), FILES, ids=[f for f, *_ in FILES])
def test_every_real_file_loads_with_the_readme_row_count(
        name: str, rows: int, bars: int, first_day: str) -> None:
    path = DATA / name
    with open(path, "rb") as fh:
        assert sum(1 for line in fh if line.strip()) - 1 == rows  # the README is right
    mf = load_bars(path)
    assert len(mf.bars) == bars
    assert day_of(mf.bars[0]) == first_day
    assert_clean(mf)


@needs_data
def test_the_skfolio_index_worst_day_and_the_2008_drawdown_match_the_readme() -> None:
    mf = load_bars(DATA / "skfolio/sp500_index.csv")
    change, day = worst_day(mf)
    assert day == "2020-03-16" and round(change * 100, 2) == -11.98
    closes = np.array([b.close for b in mf.bars])
    drawdown = closes / np.maximum.accumulate(closes) - 1
    trough = int(drawdown.argmin())
    peak = int(closes[: trough + 1].argmax())
    assert round(drawdown[trough] * 100, 1) == -56.8
    assert (day_of(mf.bars[peak]), day_of(mf.bars[trough])) == ("2007-10-09", "2009-03-09")


@needs_data
def test_the_wti_file_drops_exactly_the_290_dot_rows() -> None:
    mf = load_bars(DATA / "arch/wti.csv")
    assert mf.fixups == ("dropped 290 rows with missing value '.' in DCOILWTICO (first: line 34)",)
    low = min(mf.bars, key=lambda b: b.close)
    assert (low.close, day_of(low)) == (10.25, "1986-03-31")


@needs_data
def test_the_backtrader_minute_file_has_its_time_column_parsed() -> None:
    mf = load_bars(DATA / "backtrader/2006-01-02-volume-min-001.txt")
    assert len(mf.bars) == 30889 and mf.bar_ms == 60_000
    assert mf.bars[0].ts == ms("2006-01-02 09:01") and mf.bars[0].volume == 5699.0
    assert mf.bars[-1].ts == ms("2006-02-27 22:00")
    assert len({b.ts // DAY for b in mf.bars}) == 41
    assert (min(b.low for b in mf.bars), max(b.high for b in mf.bars)) == (3521.0, 3849.0)
    assert len(mf.fixups) == 1 and "Time" in mf.fixups[0]


@needs_data
def test_the_minute_file_loads_with_one_bar_a_minute() -> None:
    """Its load time is a benchmark figure, not a test: on this shared 2-core
    machine a wall-clock bound failed under load (issue 13 work)."""
    mf = load_bars(DATA / "backtrader/2006-01-02-volume-min-001.txt")
    assert mf.bar_ms == 60_000 and len(mf.bars) > 100


@needs_data
def test_the_five_minute_and_daily_backtrader_files_match_the_readme() -> None:
    five = load_bars(DATA / "backtrader/2006-min-005.txt")
    assert five.bar_ms == 300_000 and five.bars[0].ts == ms("2006-01-02 09:05")
    assert five.bars[-1].ts == ms("2006-01-30 17:30") and five.fixups == ()
    daily = load_bars(DATA / "backtrader/2006-day-001.txt")
    assert daily.bars[-1].close == 4119.94
    assert (min(b.low for b in daily.bars), max(b.high for b in daily.bars)) == (3379.66, 4147.38)


@needs_data
def test_the_tick_sample_keeps_milliseconds_and_merges_its_one_shared_timestamp() -> None:
    mf = load_bars(DATA / "backtrader/ticksample.csv")
    assert mf.bars[0].ts == ms("2015-09-23 20:57:42.146")
    assert mf.bars[-1].ts == ms("2015-09-23 21:00:00.238")
    merged = next(b for b in mf.bars if b.ts == ms("2015-09-23 20:58:22.316"))
    assert (merged.open, merged.high, merged.low, merged.close, merged.volume) == (
        3068.0, 3069.0, 3068.0, 3069.0, 61.0)
    assert mf.fixups == ("merged 1 trade print sharing a timestamp with the previous print "
                         "into one bar (first: line 24)",)


@needs_data
def test_the_mplfinance_intraday_file_maps_o_c_h_l_by_name() -> None:
    mf = load_bars(DATA / "mplfinance/SP500_NOV2019_IDayRVol.csv")
    assert mf.fixups == ()
    assert all(b.high >= max(b.open, b.close) and b.low <= min(b.open, b.close) for b in mf.bars)
    assert sorted(Counter(day_of(b) for b in mf.bars).values()) == [390, 391, 391, 391]


@needs_data
def test_the_two_spy_vendors_differ_on_2008_10_10_as_the_readme_says() -> None:
    pandas_ta = load_bars(DATA / "pandas_ta/SPY_D.csv")
    yahoo = load_bars(DATA / "mplfinance/yahoofinance-SPY-20080101-20180101.csv")
    assert [b.close for b in pandas_ta.bars if day_of(b) == "2008-10-10"] == [88.82]
    assert [b.close for b in yahoo.bars if day_of(b) == "2008-10-10"] == [88.50]
    assert yahoo.fixups == ("widened Low/High to contain Open and Close on 2 rows (first: line 1808)",)


@needs_data
def test_known_values_in_the_other_files() -> None:
    goog = load_bars(DATA / "backtesting_py/GOOG.csv")
    assert (day_of(goog.bars[-1]), goog.bars[-1].close) == ("2013-03-01", 806.19)
    aapl = load_bars(DATA / "zipline/AAPL.csv")
    assert aapl.bars[0].close == 58.747143  # already split-adjusted: 411.23 / 7
    eurusd = load_bars(DATA / "backtesting_py/EURUSD.csv")
    assert eurusd.bar_ms == 3_600_000 and eurusd.bars[-1].ts == ms("2018-02-07 15:00")
    sp, nasdaq = load_bars(DATA / "arch/sp500.csv"), load_bars(DATA / "arch/nasdaq.csv")
    assert [b.ts for b in sp.bars] == [b.ts for b in nasdaq.bars]
    pairs = load_bars(DATA / "skfolio/sp500_dataset.csv", symbol="KO")
    assert pairs.symbols == ("KO",) and len(pairs.bars) == 8313
