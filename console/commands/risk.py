"""``console risk FILE``: risk figures of one daily price series from a CSV or Parquet file.

All figures are one-day, on simple returns of daily closes: VaR and CVaR as
positive loss fractions (historical, parametric, Monte Carlo, at 95% and
99%), drawdowns as positive fractions, volatility and Sharpe annualised by
sqrt(252). Bad input raises ``InputError``/``DataError`` with one line naming
the file, column and line; the CLI wrapper prints it as ``error: ...``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from rich.console import Console
from rich.table import Table

from core.errors import DataError, InputError
from core.risk.metrics import Drawdown, RiskSummary, summarize

# Adj Close first: Close drops on every ex-dividend day, which reads as a loss.
PRICE_COLUMNS = ("Adj Close", "adj_close", "adj close", "Close", "close")
DATE_COLUMNS = ("date", "datetime", "timestamp", "time")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class PriceSeries:
    """One price column of a file, in file order, with its dates (None when the file has none)."""

    path: Path
    column: str
    prices: npt.NDArray[np.float64]
    dates: list[pd.Timestamp] | None


# ------------------------------------------------------------ loading


def _where(path: Path, i: int) -> str:
    """Where data row ``i`` (0-based) is: a line for CSV (header is line 1), a row for Parquet."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return f"row {i + 1}"
    return f"line {i + 2}"


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"cannot read {path}: no such file")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index()
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read {path}: {first}") from None
    if frame.empty:
        raise DataError(f"{path} has no data rows")
    return frame


def _pick_column(frame: pd.DataFrame, path: Path, column: str | None, date_col: str | None) -> str:
    names = [str(c) for c in frame.columns]
    listing = ", ".join(names)
    if column is not None:
        if column not in names:
            raise InputError(f"{path} has no column {column!r}; columns: {listing}")
        return column
    for name in PRICE_COLUMNS:
        if name in names:
            return name
    others = [n for n in names if n != date_col and not n.startswith("Unnamed:")]
    numeric = [n for n in others if pd.api.types.is_numeric_dtype(frame[n])]
    if len(numeric) == 1:
        return numeric[0]
    if not numeric and len(others) == 1:
        return others[0]  # one column with a bad cell: _prices names the row
    raise InputError(f"{path}: choose a price column with --column; columns: {listing}")


def _date_column(frame: pd.DataFrame) -> str | None:
    for c in frame.columns:
        if str(c).strip().lower() in DATE_COLUMNS:
            return str(c)
    first = frame.columns[0]
    if pd.api.types.is_numeric_dtype(frame[first]):
        return None
    parsed = pd.to_datetime(frame[first], errors="coerce")
    return str(first) if parsed.notna().all() else None


def _prices(frame: pd.DataFrame, path: Path, column: str) -> npt.NDArray[np.float64]:
    raw = frame[column]
    values: npt.NDArray[np.float64] = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size == 0:
        return values
    i = int(bad[0])
    x = float(values[i])
    if not math.isnan(x):
        what = f"price {x} is not positive and finite"
    elif pd.isna(raw.iloc[i]):
        what = "missing price"
    else:
        what = f"not a number {raw.iloc[i]!r}"
    raise DataError(f"{path}: {what} in column {column!r} at {_where(path, i)}")


def _dates(frame: pd.DataFrame, path: Path, date_col: str) -> list[pd.Timestamp]:
    raw = frame[date_col]
    parsed = pd.to_datetime(raw, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: bad date {raw.iloc[i]!r} in column {date_col!r} at {_where(path, i)}")
    stamps = list(parsed)
    for i in range(1, len(stamps)):
        if stamps[i] <= stamps[i - 1]:
            raise DataError(
                f"{path}: dates not increasing in column {date_col!r} at {_where(path, i)}"
                f" ({stamps[i].date()} after {stamps[i - 1].date()})"
            )
    return stamps


def load_price_series(path: Path, column: str | None = None) -> PriceSeries:
    """Read one price column of a CSV or Parquet file, checked row by row."""
    frame = _read_frame(path)
    date_col = _date_column(frame)
    col = _pick_column(frame, path, column, date_col)
    prices = _prices(frame, path, col)
    if prices.size < 3:
        raise DataError(f"{path}: column {col!r} has {prices.size} prices; need at least 3 (2 returns)")
    dates = _dates(frame, path, date_col) if date_col is not None else None
    return PriceSeries(path, col, prices, dates)


# ------------------------------------------------------------ output


def _stamp(x: pd.Timestamp) -> str:
    return str(x.date().isoformat() if x == x.normalize() else x.isoformat())


def _dd_end(dd: Drawdown, peak: bool) -> str | int | None:
    """A drawdown end as an ISO date, or its 0-based position in the series when the file has no dates."""
    label = dd.peak_at if peak else dd.trough_at
    if label is None:
        return dd.peak if peak else dd.trough
    return _stamp(pd.Timestamp(label))


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summary_dict(series: PriceSeries, s: RiskSummary, seed: int) -> dict[str, Any]:
    """The JSON object: fractions, one-day VaR/CVaR at 95 and 99, dates as ISO strings."""
    out: dict[str, Any] = {
        "file": str(series.path),
        "column": series.column,
        "n": s.n,
        "first": _stamp(series.dates[0]) if series.dates else None,
        "last": _stamp(series.dates[-1]) if series.dates else None,
        "seed": seed,
        "mean": _num(s.mean),
        "vol": _num(s.vol),
        "sharpe": _num(s.sharpe),
        "max_drawdown": _num(s.max_drawdown.depth),
        "max_drawdown_peak": _dd_end(s.max_drawdown, True),
        "max_drawdown_trough": _dd_end(s.max_drawdown, False),
        "current_drawdown": _num(s.current_drawdown.depth),
        "current_drawdown_peak": _dd_end(s.current_drawdown, True),
    }
    pairs = {
        "var_hist": s.var_hist, "cvar_hist": s.cvar_hist,
        "var_param": s.var_param, "cvar_param": s.cvar_param,
        "var_mc": s.var_mc, "cvar_mc": s.cvar_mc,
    }  # fmt: skip
    for key, (v95, v99) in pairs.items():
        out[f"{key}_95"], out[f"{key}_99"] = _num(v95), _num(v99)
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def render_table(d: dict[str, Any]) -> Table:
    """A rich table of ``summary_dict``'s figures, as percentages."""
    span = f", {d['first']} .. {d['last']}" if d["first"] is not None else ""
    table = Table(title=f"{d['file']} [{d['column']}]: {d['n']} daily returns{span}")
    table.add_column("one-day loss")
    table.add_column("95%", justify="right")
    table.add_column("99%", justify="right")
    for label, key in (
        ("VaR historical", "var_hist"), ("VaR parametric", "var_param"),
        ("VaR Monte Carlo", "var_mc"), ("CVaR historical", "cvar_hist"),
        ("CVaR parametric", "cvar_param"), ("CVaR Monte Carlo", "cvar_mc"),
    ):  # fmt: skip
        table.add_row(label, _pct(d[f"{key}_95"]), _pct(d[f"{key}_99"]))
    table.add_section()
    dd = f"{_pct(d['max_drawdown'])} ({d['max_drawdown_peak']} -> {d['max_drawdown_trough']})"
    table.add_row("max drawdown", dd, "")
    table.add_row("current drawdown", _pct(d["current_drawdown"]), "")
    table.add_row("volatility (annual)", _pct(d["vol"]), "")
    sharpe = "n/a" if d["sharpe"] is None else f"{d['sharpe']:.2f}"
    table.add_row("Sharpe (annual, rf 0)", sharpe, "")
    return table


@click.command("risk")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--column", default=None, metavar="NAME", help="Price column (default: Adj Close, Close or close, else the only numeric column).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the Monte Carlo simulation.")
def risk(file: Path, column: str | None, as_json: bool, seed: int) -> None:
    """One-day VaR, CVaR, drawdown, volatility and Sharpe of a daily price series in FILE (CSV or Parquet)."""
    series = load_price_series(file, column)
    summary = summarize(series.prices, series.dates, seed=seed)
    d = summary_dict(series, summary, seed)
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
    else:
        Console().print(render_table(d))
