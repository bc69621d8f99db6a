"""core.market.files on synthetic files: every format, every error, the source order."""

from __future__ import annotations

import gzip
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataError, InputError
from core.events import Bar, Timer
from core.market.files import MarketFile, file_source, load_bars

DAY = 86_400_000


def ms(text: str) -> int:
    """'2020-01-02' or '2020-01-02 09:01[:SS]' (UTC) as epoch milliseconds."""
    dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def load_error(path: Path | str, symbol: str | None = None) -> str:
    with pytest.raises(DataError) as info:
        load_bars(path, symbol)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


OHLCV = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2020-01-02,10,11,9,10.5,10.4,1000\n"
    "2020-01-03,10.5,12,10,11.5,11.4,2000\n"
    "2020-01-06,11.5,12.5,11,12,11.9,1500\n"
)


# ---------------------------------------------------------------- formats


def test_a_yahoo_daily_csv_loads_ohlcv_bars_at_midnight_utc(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "spy.csv", OHLCV))
    assert isinstance(mf, MarketFile)
    assert mf.symbols == ("SPY",)
    assert mf.bars[0] == Bar(ms("2020-01-02"), "SPY", 10.0, 11.0, 9.0, 10.5, 1000.0)
    assert [b.ts for b in mf.bars] == [ms("2020-01-02"), ms("2020-01-03"), ms("2020-01-06")]
    assert mf.bar_ms == DAY
    assert mf.fixups == ()
    assert mf.path == str(tmp_path / "spy.csv")


def test_bars_hold_plain_python_ints_and_floats(tmp_path: Path) -> None:
    bar = load_bars(write(tmp_path, "spy.csv", OHLCV)).bars[0]
    assert type(bar.ts) is int and type(bar.symbol) is str
    assert all(type(v) is float for v in bar[2:])


def test_the_close_column_is_close_not_adj_close(tmp_path: Path) -> None:
    assert load_bars(write(tmp_path, "spy.csv", OHLCV)).bars[1].close == 11.5


def test_us_month_day_year_dates_are_read_month_first(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n1/2/1999,1,2,1,2,5\n12/31/1999,1,2,1,2,5\n"
    mf = load_bars(write(tmp_path, "idx.csv", text))
    assert [b.ts for b in mf.bars] == [ms("1999-01-02"), ms("1999-12-31")]


def test_a_day_over_twelve_in_the_month_place_is_an_error_not_a_swap(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n1/2/1999,1,2,1,2,5\n13/1/1999,1,2,1,2,5\n"
    message = load_error(write(tmp_path, "idx.csv", text))
    assert "line 3:" in message and "'13/1/1999'" in message and "M/D/YYYY" in message


def test_an_unnamed_row_number_column_is_ignored_and_noted(tmp_path: Path) -> None:
    text = ",date,open,high,low,close,volume\n0,2020-01-02,1,2,0.5,1.5,10.0\n1,2020-01-03,1,2,0.5,1.5,10.0\n"
    mf = load_bars(write(tmp_path, "SPY_D.csv", text))
    assert mf.symbols == ("SPY_D",)
    assert mf.bars[0] == Bar(ms("2020-01-02"), "SPY_D", 1.0, 2.0, 0.5, 1.5, 10.0)
    assert any("unnamed column 1" in note for note in mf.fixups)


def test_lowercase_headers_and_extra_zipline_columns_are_fine(tmp_path: Path) -> None:
    text = ("date,open,high,low,close,volume,dividend,split\n"
            "2014-06-06,90,93,89,92.2,100,0.0,1.0\n2014-06-09,92.7,93.9,91.75,93.7,200,0.0,7.0\n")
    mf = load_bars(write(tmp_path, "aapl.csv", text))
    assert mf.symbols == ("AAPL",)
    assert mf.bars[1].close == 93.7  # as written: never re-adjusted for the split


def test_columns_are_matched_by_name_not_position(tmp_path: Path) -> None:
    text = "Date,Open,Close,High,Low,Volume\n2019-11-05 09:30:00,3080.8,3080.49,3081.47,3080.3,2209795\n"
    bar = load_bars(write(tmp_path, "sp.csv", text)).bars[0]
    assert (bar.open, bar.high, bar.low, bar.close) == (3080.8, 3081.47, 3080.3, 3080.49)


def test_a_file_without_volume_gets_zero_volume(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n"
    assert load_bars(write(tmp_path, "x.csv", text)).bars[0].volume == 0.0


def test_an_empty_volume_cell_reads_as_zero_and_is_noted(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,7\n2020-01-03,1,2,0.5,1.5,\n"
    mf = load_bars(write(tmp_path, "x.csv", text))
    assert [b.volume for b in mf.bars] == [7.0, 0.0]
    assert mf.fixups == ("read 1 empty Volume as 0 (first: line 3)",)


def test_a_close_only_file_gives_flat_bars_named_after_the_file(tmp_path: Path) -> None:
    text = "Date,Close\n2020-01-02,5.5\n2020-01-03,6\n"
    mf = load_bars(write(tmp_path, "gold.csv", text))
    assert mf.bars[0] == Bar(ms("2020-01-02"), "GOLD", 5.5, 5.5, 5.5, 5.5, 0.0)


def test_a_symbol_argument_names_a_single_instrument_file(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "spy.csv", OHLCV), symbol="SPX")
    assert mf.symbols == ("SPX",) and {b.symbol for b in mf.bars} == {"SPX"}


def test_a_symbol_column_with_one_value_names_the_instrument(tmp_path: Path) -> None:
    text = "Date,Symbol,Open,High,Low,Close\n2020-01-02,ES,1,2,0.5,1.5\n2020-01-03,ES,1,2,0.5,1.5\n"
    assert load_bars(write(tmp_path, "fut.csv", text)).symbols == ("ES",)


WIDE = (
    "Date,PEP,KO,XOM\n"
    "2020-01-02,136.0,54.0,70.9\n"
    "2020-01-03,135.5,53.8,70.3\n"
)


def test_a_wide_file_makes_close_only_bars_sorted_by_ts_then_symbol(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "closes.csv", WIDE))
    assert mf.symbols == ("KO", "PEP", "XOM")
    assert [(b.ts, b.symbol) for b in mf.bars] == sorted((b.ts, b.symbol) for b in mf.bars)
    assert mf.bars[0] == Bar(ms("2020-01-02"), "KO", 54.0, 54.0, 54.0, 54.0, 0.0)
    assert len(mf.bars) == 6


def test_a_missing_wide_value_skips_only_that_symbols_bar_and_is_noted(tmp_path: Path) -> None:
    text = "Date,PEP,KO\n2020-01-02,136.0,\n2020-01-03,135.5,53.8\n"
    mf = load_bars(write(tmp_path, "closes.csv", text))
    assert [(b.ts, b.symbol) for b in mf.bars] == [
        (ms("2020-01-02"), "PEP"), (ms("2020-01-03"), "KO"), (ms("2020-01-03"), "PEP")]
    assert len(mf.fixups) == 1
    assert "1 missing value" in mf.fixups[0] and "KO" in mf.fixups[0] and "line 2" in mf.fixups[0]


def test_fred_dot_rows_are_dropped_counted_and_never_forward_filled(tmp_path: Path) -> None:
    text = "Date,DCOILWTICO\n1/2/1986,25.56\n1/3/1986,.\n1/6/1986,26.53\n1/7/1986,.\n"
    mf = load_bars(write(tmp_path, "wti.csv", text))
    assert mf.symbols == ("DCOILWTICO",)
    assert [b.ts for b in mf.bars] == [ms("1986-01-02"), ms("1986-01-06")]
    assert mf.fixups == ("dropped 2 rows with missing value '.' in DCOILWTICO (first: line 3)",)


def test_a_symbol_argument_selects_one_column_of_a_wide_file(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "closes.csv", WIDE), symbol="KO")
    assert mf.symbols == ("KO",) and len(mf.bars) == 2


def test_a_symbol_argument_renames_a_one_column_wide_file(tmp_path: Path) -> None:
    text = "Date,DCOILWTICO\n1/2/1986,25.56\n"
    assert load_bars(write(tmp_path, "wti.csv", text), symbol="WTI").symbols == ("WTI",)


def test_an_unknown_symbol_for_a_wide_file_is_an_error(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "closes.csv", WIDE), symbol="MSFT")
    assert "closes.csv" in message and "'MSFT'" in message and "KO" in message


def test_separate_date_and_time_columns_are_combined(tmp_path: Path) -> None:
    text = ("Date,Time,Open,High,Low,Close,Volume,OpenInterest\n"
            "2006-01-02,09:05:00,3578.73,3587.88,3578.73,3582.99,0,0\n"
            "2006-01-02,09:10:00,3583.01,3588.40,3583.01,3588.03,0,0\n")
    mf = load_bars(write(tmp_path, "min5.txt", text))
    assert [b.ts for b in mf.bars] == [ms("2006-01-02 09:05"), ms("2006-01-02 09:10")]
    assert mf.bar_ms == 300_000


def test_a_header_that_lacks_the_time_column_is_repaired_from_the_rows(tmp_path: Path) -> None:
    text = ("Date,Open,High,Low,Close,Volume,OpenInterest\r\n"
            "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\r\n"
            "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0\r\n")
    mf = load_bars(write(tmp_path, "min1.txt", text))
    assert mf.bars[0] == Bar(ms("2006-01-02 09:01"), "MIN1", 3602.0, 3603.0, 3597.0, 3599.0, 5699.0)
    assert mf.bar_ms == 60_000
    assert len(mf.fixups) == 1 and "Time" in mf.fixups[0]


def test_a_row_of_the_wrong_width_after_a_repaired_header_is_an_error(tmp_path: Path) -> None:
    text = ("Date,Open,High,Low,Close,Volume,OpenInterest\n"
            "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\n"
            "2006-01-02,3600.00,3601.00,3598.00,3599.00,894,0\n")
    message = load_error(write(tmp_path, "min1.txt", text))
    assert "min1.txt line 3:" in message and "7 fields" in message and "8" in message


def test_an_unnamed_datetime_first_column_is_the_timestamp(tmp_path: Path) -> None:
    text = ",Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n" \
           "2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1241\n"
    mf = load_bars(write(tmp_path, "EURUSD.csv", text))
    assert mf.bars[0].ts == ms("2017-04-19 09:00") and mf.bar_ms == 3_600_000
    assert mf.fixups == ()


def test_iso_timestamps_keep_milliseconds_and_offsets_convert_to_utc(tmp_path: Path) -> None:
    text = ("Datetime,Open,High,Low,Close,Volume\n"
            "2015-09-23T20:57:42.146,3067,3068,3066,3067,1\n"
            "2015-09-23T22:57:46.151+02:00,3066,3067,3065,3066,2\n"
            "2015-09-23T20:57:50Z,3066,3067,3065,3066,2\n")
    ts = [b.ts for b in load_bars(write(tmp_path, "t.csv", text)).bars]
    assert ts == [ms("2015-09-23 20:57:42") + 146, ms("2015-09-23 20:57:46") + 151,
                  ms("2015-09-23 20:57:50")]


def test_trade_prints_sharing_a_timestamp_merge_into_one_bar(tmp_path: Path) -> None:
    text = ("Datetime,Open,High,Low,Close,Volume,OpenInterest\n"
            "2015-09-23T20:58:22.316,3068.00,3068.00,3068.00,3068.00,60,0\n"
            "2015-09-23T20:58:22.316,3069.00,3069.00,3069.00,3069.00,1,0\n"
            "2015-09-23T20:58:22.316,3067.00,3067.00,3067.00,3067.00,2,0\n"
            "2015-09-23T20:58:23.000,3067.00,3067.00,3067.00,3067.00,5,0\n")
    mf = load_bars(write(tmp_path, "ticks.csv", text))
    assert mf.bars[0] == Bar(ms("2015-09-23 20:58:22") + 316, "TICKS", 3068.0, 3069.0, 3067.0, 3067.0, 63.0)
    assert len(mf.bars) == 2
    assert mf.fixups == ("merged 2 trade prints sharing a timestamp with the previous print "
                         "into one bar (first: line 3)",)


def test_empty_lines_and_all_blank_rows_are_skipped_and_noted(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n\n,,,,\n2020-01-03,1,2,0.5,1.5\n"
    mf = load_bars(write(tmp_path, "x.csv", text))
    assert len(mf.bars) == 2
    assert mf.fixups == ("skipped 2 empty lines (first: line 3)",)


def test_error_line_numbers_count_skipped_blank_lines(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close\n\n2020-01-02,1,2,0.5,1.5\n\n2020-01-03,1,2,0.5,-1.5\n"
    assert "x.csv line 5: Close is negative (-1.5)" in load_error(write(tmp_path, "x.csv", text))


def test_an_open_a_little_below_the_low_widens_the_low_and_is_noted(tmp_path: Path) -> None:
    text = ("Date,Open,High,Low,Close\n2015-03-04,210,211,209,210.5\n"
            "2015-03-05,209.419998,210.800003,209.850006,210.460007\n")
    mf = load_bars(write(tmp_path, "spy.csv", text))
    assert mf.bars[1].low == 209.419998 and mf.bars[1].high == 210.800003
    assert mf.fixups == ("widened Low/High to contain Open and Close on 1 row (first: line 3)",)


def test_a_row_with_every_price_missing_is_dropped_and_noted(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,3\n2020-01-03,null,null,null,null,null\n"
    mf = load_bars(write(tmp_path, "y.csv", text))
    assert len(mf.bars) == 1
    assert mf.fixups == ("dropped 1 row whose prices are all missing (first: line 3)",)


def test_crlf_a_utf8_bom_a_semicolon_delimiter_and_gzip_are_read(tmp_path: Path) -> None:
    plain = load_bars(write(tmp_path, "a.csv", OHLCV)).bars
    bom = ("\ufeff" + OHLCV.replace("\n", "\r\n")).encode("utf-8")
    assert load_bars(write(tmp_path, "a.txt", bom)).bars == [b._replace(symbol="A") for b in plain]
    semi = OHLCV.replace(",", ";")
    assert [b[2:] for b in load_bars(write(tmp_path, "b.csv", semi)).bars] == [b[2:] for b in plain]
    gz = write(tmp_path, "a.csv.gz", gzip.compress(OHLCV.encode()))
    assert load_bars(gz).bars == plain


def test_dates_before_1970_have_negative_timestamps_and_day_timers(tmp_path: Path) -> None:
    text = "Date,X\n1969-12-30,1\n1969-12-31,2\n1970-01-01,3\n"
    mf = load_bars(write(tmp_path, "old.csv", text))
    assert [b.ts for b in mf.bars] == [-2 * DAY, -DAY, 0]
    assert sum(1 for e in file_source(mf) if isinstance(e, Timer) and e.name == "day") == 3


def test_parquet_with_a_datetime_index_matches_the_csv(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "spy.csv", OHLCV)
    df = pd.read_csv(csv_path, index_col="Date", parse_dates=True)
    df.index.name = None
    df.to_parquet(tmp_path / "spy.parquet")
    assert load_bars(tmp_path / "spy.parquet").bars == load_bars(csv_path).bars


def test_parquet_with_a_date_column_and_a_wide_shape_skips_nulls(tmp_path: Path) -> None:
    df = pd.DataFrame({"date": pd.to_datetime(["2020-01-02", "2020-01-03"]),
                       "KO": [54.0, None], "PEP": [136.0, 135.5]})
    df.to_parquet(tmp_path / "wide.parquet", index=False)
    mf = load_bars(tmp_path / "wide.parquet")
    assert [(b.ts, b.symbol, b.close) for b in mf.bars] == [
        (ms("2020-01-02"), "KO", 54.0), (ms("2020-01-02"), "PEP", 136.0),
        (ms("2020-01-03"), "PEP", 135.5)]
    assert len(mf.fixups) == 1 and "data row 2" in mf.fixups[0]


def test_parquet_errors_name_the_data_row_and_field(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(close: list[float | None]) -> pa.Table:
        return pa.table({"Date": ["2020-01-02", "2020-01-03", "2020-01-06"],
                         "Open": [1.0, 1.0, 1.0], "High": [2.0, 2.0, 2.0],
                         "Low": [0.5, 0.5, 0.5], "Close": pa.array(close, pa.float64())})

    pq.write_table(table([1.5, 1.5, float("nan")]), tmp_path / "nan.parquet")
    assert "nan.parquet data row 3: Close is NaN" in load_error(tmp_path / "nan.parquet")
    pq.write_table(table([1.5, None, 1.5]), tmp_path / "null.parquet")
    assert "null.parquet data row 2: Close is empty" in load_error(tmp_path / "null.parquet")
    pq.write_table(table([1.5, 1.5, 1.5]).set_column(0, "Date", pa.array(["2020-01-02", "2020-01-02", "2020-01-03"])),
                   tmp_path / "dup.parquet")
    assert "dup.parquet data row 2: duplicate timestamp" in load_error(tmp_path / "dup.parquet")


def test_bar_ms_is_the_median_spacing_so_weekends_do_not_count(tmp_path: Path) -> None:
    dates = pd.bdate_range("2020-01-01", periods=30)
    text = "Date,X\n" + "".join(f"{d:%Y-%m-%d},1\n" for d in dates)
    assert load_bars(write(tmp_path, "x.csv", text)).bar_ms == DAY


# ---------------------------------------------------------------- errors


GOOD = "Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10.5,100\n"


@pytest.mark.parametrize(
    ("text", "where", "needles"),
    [
        pytest.param(GOOD + "2020-01-03,10,11,9,-3.2,100\n", "line 3", ["Close is negative (-3.2)"],
                     id="negative-close"),
        pytest.param(GOOD + "2020-01-03,0,11,9,10,100\n", "line 3", ["Open is zero"], id="zero-open"),
        pytest.param(GOOD + "2020-01-03,10,11,1e-320,10,100\n", "line 3", ["Low is below 1e-12, no instrument's price"],
                     id="subnormal-low"),  # NAV / price overflowed the sizing to inf (a fuzzed file)
        pytest.param(GOOD + "2020-01-03,10,11,9,abc,100\n", "line 3", ["Close is not a number ('abc')"],
                     id="non-numeric"),
        pytest.param(GOOD + "2020-01-03,10,NaN,9,10,100\n", "line 3", ["High is NaN"], id="nan"),
        pytest.param(GOOD + "2020-01-03,10,inf,9,10,100\n", "line 3", ["High is not finite"], id="inf"),
        pytest.param(GOOD + "2020-01-03,10,1e400,9,10,100\n", "line 3", ["High is not finite"],
                     id="overflow"),
        pytest.param(GOOD + "2020-01-03,10,8,9,8.5,100\n", "line 3", ["High (8) is below Low (9)"],
                     id="high-below-low"),
        pytest.param(GOOD + "2020-01-03,50,11,9,10,100\n", "line 3", ["Open (50) is above High (11)"],
                     id="open-far-above-high"),
        pytest.param(GOOD + "2020-01-03,10,11,9,1,100\n", "line 3", ["Close (1) is below Low (9)"],
                     id="close-far-below-low"),
        pytest.param(GOOD + "2020-01-03,10,11,9,10,-5\n", "line 3", ["Volume is negative"], id="neg-volume"),
        pytest.param(GOOD + "2020-01-03,10,11,9,10,nan\n", "line 3", ["Volume is NaN"], id="nan-volume"),
        pytest.param(GOOD + "2020-01-03,10,,9,10,100\n", "line 3", ["High is empty"], id="partly-empty"),
        pytest.param(GOOD + "2020-01-03,10,.,9,10,100\n", "line 3", ["High is missing ('.')"],
                     id="partly-dot"),
        pytest.param(GOOD + "2020-01-0x,10,11,9,10,100\n", "line 3", ["Date '2020-01-0x'"], id="bad-date"),
        pytest.param(GOOD + "2020-02-30,10,11,9,10,100\n", "line 3", ["Date '2020-02-30'"],
                     id="impossible-date"),
        pytest.param(GOOD + "1/3/2020,10,11,9,10,100\n", "line 3", ["Date '1/3/2020'", "YYYY-MM-DD"],
                     id="mixed-date-formats"),
        pytest.param(GOOD + ",10,11,9,10,100\n", "line 3", ["Date is empty"], id="empty-date"),
        pytest.param("Date,Open,High,Low,Close\nyesterday,1,2,0.5,1\n", "line 2",
                     ["Date 'yesterday' is not a recognisable date"], id="first-date-bad"),
        pytest.param(GOOD + "2020-01-06,10,11,9,10,100\n2020-01-03,10,11,9,10,100\n", "line 4",
                     ["timestamp 2020-01-03 is before 2020-01-06 on line 3"], id="out-of-order"),
        pytest.param(GOOD + "2020-01-02,10,11,9,10,100\n", "line 3",
                     ["duplicate timestamp 2020-01-02 (also on line 2)"], id="duplicate"),
        pytest.param("Date,A,B\n2020-01-02,1,2\n2020-01-02,1,2\n", "line 3",
                     ["duplicate timestamp 2020-01-02"], id="duplicate-wide"),
        pytest.param(GOOD + "2020-01-03,10,11,9,10,100,7\n", "line 3", ["has 7 fields", "has 6"],
                     id="too-many-fields"),
        pytest.param(GOOD + "2020-01-03,10,11,9\n", "line 3", ["has 4 fields"], id="too-few-fields"),
        pytest.param("Date,Open,High,Close\n2020-01-02,1,2,1\n", "line 1", ["no Low column"],
                     id="no-low-column"),
        pytest.param("When,Open,High,Low,Close\nsoon,1,2,0.5,1\n", "line 1",
                     ["no recognisable date column"], id="no-date-column"),
        pytest.param("Date,Close,close\n2020-01-02,1,1\n", "line 1", ["appears twice"], id="dup-column"),
        pytest.param("2020-01-02,1,2,0.5,1.5\n2020-01-03,1,2,0.5,1.5\n", "line 1",
                     ["looks like data", "header"], id="no-header"),
        pytest.param("Date,Symbol,Close\n2020-01-02,AAPL,1\n2020-01-02,MSFT,2\n", "",
                     ["several symbols", "AAPL, MSFT"], id="long-format"),
        pytest.param("Date,A\n2020-01-02,.\n2020-01-03,\n", "", ["no usable rows"], id="no-usable-rows"),
        pytest.param("Date,A,B\n2020-01-02,1,nan\n", "line 2", ["B is NaN"], id="nan-in-wide"),
        pytest.param("Date,Open,High,Low,Close\n", "", ["no data rows"], id="header-only"),
        pytest.param("", "", ["file is empty"], id="empty"),
        pytest.param("\n  \n\n", "", ["file is empty"], id="blank"),
        pytest.param('Date,Close\n2020-01-02,"1\n', "line 2", ["bad CSV"], id="open-quote"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file_line_and_field(
        tmp_path: Path, text: str, where: str, needles: list[str]) -> None:
    message = load_error(write(tmp_path, "prices.csv", text))
    assert message.startswith(str(tmp_path / "prices.csv")), message
    if where:
        assert f"prices.csv {where}:" in message, message
    for needle in needles:
        assert needle in message, message


def test_the_earliest_bad_line_is_reported_across_columns(tmp_path: Path) -> None:
    text = GOOD + "2020-01-03,10,11,9,x,100\n2020-01-06,y,11,9,10,100\n"
    assert "line 3: Close is not a number" in load_error(write(tmp_path, "p.csv", text))


def test_a_newest_first_file_gets_a_sorting_hint(tmp_path: Path) -> None:
    text = "Date,X\n2020-01-06,1\n2020-01-03,1\n2020-01-02,1\n"
    assert "newest-first" in load_error(write(tmp_path, "p.csv", text))


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.csv")
    assert "nope.csv" in message and "not found" in message
    assert issubclass(DataError, InputError)


def test_a_directory_is_a_data_error(tmp_path: Path) -> None:
    assert "directory" in load_error(tmp_path)


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    data = b"Date,Close\n2020-01-02,1\n2020-01-03,\xe9\xff\n"
    message = load_error(write(tmp_path, "latin.csv", data))
    assert "latin.csv line 3:" in message and "UTF-8" in message and "0xe9" in message


def test_a_nul_byte_names_the_line(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "bin.csv", b"Date,Close\n2020-01-02,1\x00\n"))
    assert "bin.csv line 2:" in message and "NUL" in message


def test_a_corrupt_parquet_file_is_a_data_error(tmp_path: Path) -> None:
    assert "Parquet" in load_error(write(tmp_path, "x.parquet", b"PAR1garbagePAR1"))
    assert "Parquet" in load_error(write(tmp_path, "y.parquet", OHLCV))


def test_a_value_with_a_newline_still_gives_a_one_line_message(tmp_path: Path) -> None:
    text = 'Date,Close\n2020-01-02,"1\n2"\n'
    message = load_error(write(tmp_path, "q.csv", text))
    assert "line 2: Close is not a number ('1\\n2')" in message


# ---------------------------------------------------------------- file_source


def test_file_source_puts_the_day_timer_first_then_bars_then_the_bar_timer(tmp_path: Path) -> None:
    text = ("Datetime,A,B\n2020-01-02 23:59,1,2\n2020-01-03 00:00,3,\n2020-01-03 00:01,5,6\n")
    mf = load_bars(write(tmp_path, "w.csv", text))
    t1, t2, t3 = ms("2020-01-02 23:59"), ms("2020-01-03 00:00"), ms("2020-01-03 00:01")
    events = list(file_source(mf))
    shape = [(type(e).__name__, e.ts, e.name if isinstance(e, Timer) else e.symbol) for e in events]
    assert shape == [
        ("Timer", t1, "day"), ("Bar", t1, "A"), ("Bar", t1, "B"), ("Timer", t1, "bar"),
        ("Timer", t2, "day"), ("Bar", t2, "A"), ("Timer", t2, "bar"),
        ("Bar", t3, "A"), ("Bar", t3, "B"), ("Timer", t3, "bar"), ("Timer", t3, "end"),
    ]
    assert all(e.symbol == "" for e in events if isinstance(e, Timer))


def test_file_source_is_deterministic_and_yields_every_bar_once(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "closes.csv", WIDE))
    first, second = list(file_source(mf)), list(file_source(mf))
    assert first == second
    assert [e for e in first if isinstance(e, Bar)] == mf.bars


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5 * DAY, 5 * DAY), st.sampled_from("ABC")),
                min_size=1, max_size=30, unique=True))
def test_file_source_groups_any_sorted_bars_by_timestamp(keys: list[tuple[int, str]]) -> None:
    bars = [Bar(ts, s, 1.0, 1.0, 1.0, 1.0, 0.0) for ts, s in sorted(keys)]
    mf = MarketFile("x", tuple(sorted({b.symbol for b in bars})), bars, 0, ())
    events = list(file_source(mf))
    assert [e for e in events if isinstance(e, Bar)] == bars
    bar_timers = [e.ts for e in events if isinstance(e, Timer) and e.name == "bar"]
    assert bar_timers == sorted({b.ts for b in bars})
    day_timers = [e.ts for e in events if isinstance(e, Timer) and e.name == "day"]
    assert [t // DAY for t in day_timers] == sorted({b.ts // DAY for b in bars})
    last_day = None
    for i, e in enumerate(events):  # a bar's day timer precedes it; its bar timer follows
        if isinstance(e, Timer) and e.name == "day":
            last_day = e.ts // DAY
        if isinstance(e, Bar):
            assert last_day == e.ts // DAY
            nxt = events[i + 1]
            assert isinstance(nxt, Bar) and nxt.ts == e.ts or nxt == Timer(e.ts, "", "bar")


# ---------------------------------------------------------------- fuzz

SEED = (
    "Date,Open,High,Low,Close,Volume\n"
    "2020-01-02,10,11,9,10.5,100\n"
    "2020-01-03,10.5,12,10,11.5,200\n"
    "2020-01-06,11.5,12.5,11,12,150\n"
)
SEED_WIDE = "Date,A,B\n1/2/2020,1.5,.\n1/3/2020,1.6,2.5\n1/6/2020,,2.4\n"
SEED_INTRADAY = ("Date,Open,High,Low,Close,Volume,OpenInterest\n"
                 "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\n"
                 "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0\n")
TOKENS = ["", ".", "null", "nan", "NaN", "inf", "-1", "0", "1e400", "abc", "2020-13-01",
          "2020-01-01", "1/1/2020", ",", "\n", "\r\n", '"', "\ufeff", "09:30", "Date", "Time",
          "High", "Close", ";", "\x00", "é", " ", "Unnamed: 0", "-0.0", "1e-320"]


@st.composite
def mutated_csv(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from([SEED, SEED_WIDE, SEED_INTRADAY]))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace_line", "swap", "dup"]))
        pos = draw(st.integers(0, len(text)))
        lines = text.split("\n")
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        elif op == "replace_line" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            fields = lines[i].split(",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(st.sampled_from(TOKENS))
            lines[i] = ",".join(fields)
            text = "\n".join(lines)
        elif op == "swap" and len(lines) > 2:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "dup" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
    return text.encode("utf-8")


garbage = st.one_of(
    mutated_csv(),
    st.text(alphabet=st.sampled_from(list("0123456789-/:.,;\n \"eE+aDOHLCV")), max_size=200)
    .map(lambda s: ("Date,Open,High,Low,Close\n" + s).encode()),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=garbage)
def test_garbage_either_loads_clean_bars_or_raises_a_one_line_data_error(
        tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.csv"
    path.write_bytes(data)
    try:
        mf = load_bars(path)
    except DataError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message and "\r" not in message
        return
    assert mf.bars
    keys = [(b.ts, b.symbol) for b in mf.bars]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for b in mf.bars:
        assert type(b.ts) is int
        for price in (b.open, b.high, b.low, b.close):
            assert math.isfinite(price) and price > 0
        assert b.low <= min(b.open, b.close) and max(b.open, b.close) <= b.high
        assert math.isfinite(b.volume) and b.volume >= 0
    assert all("\n" not in note for note in mf.fixups)
