"""``console options price|basket``: Black-Scholes-Merton greeks and a Monte Carlo basket call.

Rates, dividend yields and vols are annualised fractions (0.05 = 5%);
expiry is given in calendar days and converted to years by /365. Bad input
becomes one line naming the option (click's ``Invalid value for '--vol'``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from core.options import FieldError, basket_call_mc, bsm, years_from_days

# core field name -> the option that feeds it
PRICE_FLAGS = {"spot": "--spot", "strike": "--strike", "expiry": "--expiry-days", "expiry_days": "--expiry-days",
               "rate": "--rate", "vol": "--vol", "div": "--div"}
BASKET_FLAGS = {"weights": "--weights", "spots": "--spots", "vols": "--vols", "corr": "--corr", "rate": "--rate",
                "divs": "--divs", "strike": "--strike", "expiry": "--expiry-days", "expiry_days": "--expiry-days",
                "n_paths": "--paths", "seed": "--seed"}

# (key, label, unit) in table order
GREEK_ROWS = (
    ("price", "price", "currency per unit of underlying"),
    ("delta", "delta", "per 1.00 of spot"),
    ("gamma", "gamma", "delta per 1.00 of spot"),
    ("vega", "vega", "per 1.00 of vol"),
    ("vega_pt", "vega (pt)", "per vol point (0.01)"),
    ("theta", "theta", "per year"),
    ("theta_day", "theta (day)", "per calendar day (theta / 365)"),
    ("rho", "rho", "per 1.00 of rate"),
)


def _bad(exc: FieldError, flags: dict[str, str]) -> click.BadParameter:
    return click.BadParameter(str(exc), param_hint=f"'{flags.get(exc.field, exc.field)}'")


def _floats(text: str, flag: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=f"'{flag}'") from None
    if any(not math.isfinite(v) for v in values):
        raise click.BadParameter(f"numbers must be finite, got {text!r}", param_hint=f"'{flag}'")
    return values


def parse_corr(text: str, n: int) -> list[list[float]]:
    """One number rho (every pair correlated rho) or a full matrix as rows "1,0.5;0.5,1"."""
    rows = text.split(";")
    if len(rows) == 1 and "," not in text:
        rho = _floats(text, "--corr")[0]
        return [[1.0 if i == j else rho for j in range(n)] for i in range(n)]
    matrix = [_floats(r, "--corr") for r in rows]
    if len(matrix) != n or any(len(r) != n for r in matrix):
        lengths = ",".join(str(len(r)) for r in matrix)
        raise click.BadParameter(f"expected a {n}x{n} matrix (rows split by ';'), got rows of lengths {lengths}",
                                 param_hint="'--corr'")
    return matrix


def _table(title: str, rows: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for row in rows:
        table.add_row(*row)
    return table


@click.group("options")
def options() -> None:
    """European option prices and greeks (Black-Scholes-Merton) and basket calls (Monte Carlo)."""


@options.command("price")
@click.option("--spot", required=True, type=float, help="Underlying price (> 0).")
@click.option("--strike", required=True, type=float, help="Strike price (> 0).")
@click.option("--expiry-days", required=True, type=float, help="Calendar days to expiry (>= 0; years = days / 365).")
@click.option("--rate", required=True, type=float, help="Risk-free rate, annualised fraction, continuous (0.05 = 5%).")
@click.option("--vol", required=True, type=float, help="Volatility, annualised fraction (0.2 = 20%).")
@click.option("--div", default=0.0, show_default=True, type=float, help="Dividend yield, annualised fraction, continuous.")
@click.option("--put", is_flag=True, help="Price a put (default: a call).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def price(spot: float, strike: float, expiry_days: float, rate: float, vol: float, div: float,
          put: bool, as_json: bool) -> None:
    """Price and greeks of one European option.

    \b
    Units (per one unit of underlying):
      delta  per 1.00 of spot;   gamma  delta per 1.00 of spot
      vega   per 1.00 of vol;    vega_pt per vol point (vega / 100)
      theta  per year;           theta_day per calendar day (theta / 365)
      rho    per 1.00 of rate
    """
    try:
        g = bsm(spot, strike, years_from_days(expiry_days), rate, vol, div, put)
    except FieldError as exc:
        raise _bad(exc, PRICE_FLAGS) from None
    d: dict[str, Any] = {"type": "put" if put else "call", "spot": spot, "strike": strike,
                         "expiry_days": expiry_days, "expiry_years": expiry_days / 365.0,
                         "rate": rate, "vol": vol, "div": div}
    d.update({key: getattr(g, key) for key, _, _ in GREEK_ROWS})
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
        return
    title = f"{d['type']} S={spot:g} K={strike:g} T={expiry_days:g}d r={rate:g} vol={vol:g} q={div:g}"
    Console().print(_table(title, [(label, f"{d[key]:.6f}", unit) for key, label, unit in GREEK_ROWS]))


@options.command("basket")
@click.option("--spots", required=True, help="Comma-separated spot prices, e.g. 100,100.")
@click.option("--vols", required=True, help="Comma-separated annualised vols (fractions), e.g. 0.2,0.3.")
@click.option("--weights", required=True, help="Comma-separated basket weights (units of each asset), e.g. 0.5,0.5.")
@click.option("--corr", required=True, help="One correlation for every pair (0.5) or a full matrix '1,0.5;0.5,1'.")
@click.option("--strike", required=True, type=float, help="Strike on the basket value (>= 0).")
@click.option("--expiry-days", required=True, type=float, help="Calendar days to expiry (years = days / 365).")
@click.option("--rate", required=True, type=float, help="Risk-free rate, annualised fraction, continuous.")
@click.option("--divs", default=None, help="Comma-separated dividend yields (annualised fractions); default all 0.")
@click.option("--paths", default=100_000, show_default=True, type=int, help="Monte Carlo paths (antithetic pairs count twice).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same price).")
@click.option("--antithetic/--no-antithetic", default=True, show_default=True, help="Pair each draw with its negative.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def basket(spots: str, vols: str, weights: str, corr: str, strike: float, expiry_days: float, rate: float,
           divs: str | None, paths: int, seed: int, antithetic: bool, as_json: bool) -> None:
    """Price of a European call on sum(weight_i * S_i) at expiry, with its Monte Carlo standard error."""
    s, v, w = _floats(spots, "--spots"), _floats(vols, "--vols"), _floats(weights, "--weights")
    q = _floats(divs, "--divs") if divs is not None else None
    c = parse_corr(corr, len(w))
    try:
        res = basket_call_mc(w, s, v, c, rate, q, strike, years_from_days(expiry_days), paths, seed, antithetic)
    except FieldError as exc:
        raise _bad(exc, BASKET_FLAGS) from None
    d: dict[str, Any] = {"price": res.price, "stderr": res.stderr, "n_paths": res.n_paths, "seed": seed,
                         "antithetic": antithetic, "spots": s, "vols": v, "weights": w, "corr": c,
                         "divs": q if q is not None else [0.0] * len(w), "strike": strike,
                         "expiry_days": expiry_days, "rate": rate}
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
        return
    rows = [("price", f"{res.price:.6f}", "currency"),
            ("standard error", f"{res.stderr:.6f}", "currency (1 sigma)"),
            ("paths", str(res.n_paths), "antithetic" if antithetic else "plain"),
            ("seed", str(seed), "")]
    Console().print(_table(f"basket call K={strike:g} T={expiry_days:g}d on {len(w)} assets", rows))
