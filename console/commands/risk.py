"""``console risk FILE``: risk figures of one price series from a CSV or Parquet file.

The file is read by ``core.market.files.load_closes``, the loader ``console
run`` uses (same formats, the same missing-value markers such as FRED's
``.``, the same one-line errors), and its bar interval is inferred from the
timestamps (``bar_interval``: the median spacing; intraday bars a year = bars
a day x 252, daily 252, weekly 52, ...) and printed. Figures are on simple
returns of the closes: VaR and CVaR over one bar of the file's interval, as
positive loss fractions (historical, parametric, Monte Carlo, at 95% and
99%), drawdowns as positive fractions, volatility and Sharpe annualised by
the square root of the bars a year. Bad input raises ``InputError``/
``DataError`` with one line naming the file, column and line; the CLI wrapper
prints it as ``error: ...``.
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
from core.market.files import BarInterval, load_closes
from core.risk.metrics import Drawdown, RiskSummary, summarize


@dataclass(frozen=True)
class PriceSeries:
    """One price column of a file, in time order, with its UTC timestamps and
    bar interval, and the loader's fix-ups (one line each)."""

    path: Path
    column: str
    prices: npt.NDArray[np.float64]
    dates: list[pd.Timestamp]
    interval: BarInterval
    fixups: tuple[str, ...] = ()


# ------------------------------------------------------------ loading


def load_price_series(path: Path, column: str | None = None) -> PriceSeries:
    """One price column of a CSV or Parquet file, read by ``run``'s loader:
    ``column``, else Adj Close, Close or the file's only series."""
    closes = load_closes(path, [column] if column is not None else None)
    frame = closes.frame
    if frame.shape[1] != 1:
        listing = ", ".join(str(c) for c in frame.columns)
        raise InputError(f"{path}: choose a price column with --column; columns: {listing}")
    prices = frame.iloc[:, 0].to_numpy(dtype=np.float64)
    if prices.size < 3:
        raise DataError(f"{path}: column {frame.columns[0]!r} has {prices.size} prices; "
                        "need at least 3 (2 returns)")
    dates = [pd.Timestamp(int(ts), unit="ms") for ts in frame.index]
    return PriceSeries(path, str(frame.columns[0]), prices, dates, closes.interval, closes.fixups)


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
    """The JSON object: fractions, VaR/CVaR over one bar at 95 and 99, dates as
    ISO strings, the inferred bar interval and the bars a year that annualise."""
    out: dict[str, Any] = {
        "file": str(series.path),
        "column": series.column,
        "n": s.n,
        "first": _stamp(series.dates[0]) if series.dates else None,
        "last": _stamp(series.dates[-1]) if series.dates else None,
        "interval": series.interval.name,
        "bars_per_day": series.interval.bars_per_day,
        "bars_per_year": series.interval.per_year,
        "interval_note": series.interval.note,
        "fixups": list(series.fixups),
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


def _bars(d: dict[str, Any]) -> str:
    name = d["interval"]
    if name in ("daily", "weekly", "monthly", "quarterly", "yearly"):
        return f"{name} bars"
    return f"{name} bars ({d['bars_per_day']:,.0f} a day)"


def render_table(d: dict[str, Any]) -> Table:
    """A rich table of ``summary_dict``'s figures, as percentages."""
    span = f", {d['first']} .. {d['last']}" if d["first"] is not None else ""
    table = Table(title=f"{d['file']} [{d['column']}]: {d['n']} returns of {_bars(d)}{span}",
                  caption=f"bar interval {d['interval']} (inferred from the timestamps); annualised "
                          f"by sqrt({d['bars_per_year']:,.0f} bars a year)"
                          + (f"; {d['interval_note']}" if d["interval_note"] else ""))
    table.add_column(f"loss over one bar ({d['interval']})")
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
    """VaR, CVaR, drawdown, volatility and Sharpe of a price series in FILE (CSV or Parquet),
    at the bar interval inferred from its timestamps."""
    series = load_price_series(file, column)
    summary = summarize(series.prices, series.dates, seed=seed, periods_per_year=series.interval.per_year)
    d = summary_dict(series, summary, seed)
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
    else:
        for note in series.fixups:
            click.echo(f"data: {note}", err=True)
        Console().print(render_table(d))
