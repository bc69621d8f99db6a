"""Stress tests: re-price a book under historical and hypothetical shocks.

A book is ``symbol -> market value`` in currency (negative for a short). Each
symbol has an asset class (``equity``, ``commodity``, ``cash``); an equity
sector name such as ``"Energy"`` or ``"Information Technology"`` counts as
``equity``. With no class map every symbol is an equity.

Every scenario gives one frozen ``StressRow``: the book's P&L in currency
(NEGATIVE = loss, unlike VaR which is reported as a positive loss) and the same
P&L as a fraction of NAV. NAV defaults to the sum of the book's market values.

* Price-shock scenarios move each position by its class's fractional shock:
  ``pnl = sum(v_i * shock[class_i])``. A symbol whose class the scenario has no
  figure for (commodities in 2020, which our data does not cover), or a symbol
  missing from the class map, is left unchanged and listed in ``unshocked``.
* "volatility x3" and "correlations to 1" need each symbol's daily returns and
  report ``-VaR``: the parametric one-day VaR (99% unless told) with every
  sd tripled, and with every pairwise correlation set to 1
  (``sd_p = |sum_i v_i * sd_i|``). With shorts in the book, correlations of 1
  let a short offset a long exactly, so that row can be smaller than today's VaR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from core.errors import DataError, InputError
from core.risk.metrics import as_return_matrix, covariance, z_score

ASSET_CLASSES: Final = ("equity", "commodity", "cash")

# Sector names (GICS and common variants) are equities for stress purposes.
_EQUITY_SECTORS: Final = frozenset(
    {
        "communication services", "consumer discretionary", "consumer staples",
        "energy", "financials", "health care", "healthcare", "industrials",
        "information technology", "technology", "materials", "real estate",
        "utilities", "equities", "stock", "stocks",
    }
)  # fmt: skip
_ALIASES: Final = {"commodities": "commodity"}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of fractional price shocks per asset class (-0.2 = prices fall 20%)."""

    name: str
    shocks: tuple[tuple[str, float], ...]
    source: str

    def shock(self, asset_class: str) -> float | None:
        """The class's shock, or None when the scenario has no figure for it."""
        return dict(self.shocks).get(asset_class)


@dataclass(frozen=True, slots=True)
class StressRow:
    """One scenario's result: P&L in currency (negative = loss) and as a fraction of NAV.

    ``unshocked`` lists symbols the scenario could not move (no figure for
    their class, or no class given), largest first; their P&L counts as 0.
    """

    name: str
    pnl: float
    pnl_fraction: float
    unshocked: tuple[str, ...] = ()


# Historical shocks. Equity figures are S&P 500 moves computed from
# /work/shared/data/skfolio/sp500_index.csv (daily closes, 1990-2022) or, for
# the intraday low, arch/sp500.csv; commodity figures are WTI spot moves from
# arch/wti.csv (FRED DCOILWTICO, 1986-2019) over the same dates. Cash is 0.
GFC_2008: Final = Scenario(
    "2008 GFC",
    (
        # S&P 500 peak 1565.15 (2007-10-09) to trough 676.53 (2009-03-09): -56.78%.
        ("equity", 676.53 / 1565.15 - 1.0),
        # WTI over the same dates, 80.23 -> 47.01: -41.41%.
        ("commodity", 47.01 / 80.23 - 1.0),
        ("cash", 0.0),
    ),
    "S&P 500 and WTI, 2007-10-09 to 2009-03-09 (skfolio sp500_index, arch wti)",
)
COVID_2020: Final = Scenario(
    "2020 COVID crash",
    (
        # S&P 500 peak 3386.15 (2020-02-19) to trough 2237.40 (2020-03-23): -33.92%.
        # The worst single day in it was -11.98% (2020-03-16).
        ("equity", 2237.40 / 3386.15 - 1.0),
        # No commodity figure: arch/wti.csv ends 2019-01-03.
        ("cash", 0.0),
    ),
    "S&P 500, 2020-02-19 to 2020-03-23 (skfolio sp500_index)",
)
FLASH_CRASH_2010: Final = Scenario(
    "2010 flash crash",
    (
        # S&P 500 intraday low 1065.79 on 2010-05-06 vs the 2010-05-05 close
        # 1165.87: -8.58% (arch/sp500.csv). The close-to-close fall was only
        # -3.24% (1128.15): the flash crash was an intraday event.
        ("equity", 1065.79 / 1165.87 - 1.0),
        # WTI close 80.00 -> 77.18 on 2010-05-06: -3.53% (daily closes only).
        ("commodity", 77.18 / 80.00 - 1.0),
        ("cash", 0.0),
    ),
    "S&P 500 intraday low and WTI close, 2010-05-06 (arch sp500, wti)",
)
BLACK_MONDAY_1987: Final = Scenario(
    "1987 Black Monday",
    (
        # Before our S&P file starts: the S&P 500's one-day fall on 1987-10-19,
        # 282.70 -> 224.84, -20.47% (published closes).
        ("equity", 224.84 / 282.70 - 1.0),
        # WTI 20.23 -> 19.79 on 1987-10-19: -2.18% (arch/wti.csv).
        ("commodity", 19.79 / 20.23 - 1.0),
        ("cash", 0.0),
    ),
    "S&P 500 one-day close 1987-10-19 (published); WTI (arch wti)",
)
EQUITIES_DOWN_10: Final = Scenario(
    "equities -10%",
    (("equity", -0.10), ("commodity", 0.0), ("cash", 0.0)),
    "hypothetical",
)
HISTORICAL_SCENARIOS: Final = (GFC_2008, COVID_2020, FLASH_CRASH_2010, BLACK_MONDAY_1987)
PRICE_SCENARIOS: Final = (*HISTORICAL_SCENARIOS, EQUITIES_DOWN_10)

VOL_FACTOR: Final = 3.0
VAR_CONFIDENCE: Final = 0.99


# ------------------------------------------------------------ inputs


def _book(book: Mapping[str, float]) -> dict[str, float]:
    values = {str(s): float(v) for s, v in book.items()}
    for sym, v in values.items():
        if not math.isfinite(v):
            raise DataError(f"market value of {sym} is {v}")
    return values


def _nav(values: Mapping[str, float], nav: float | None) -> float:
    n = math.fsum(values.values()) if nav is None else float(nav)
    if not (math.isfinite(n) and n > 0.0):
        raise InputError(f"NAV must be positive, got {n} (pass nav= for a book that nets to <= 0)")
    return n


def asset_class_of(symbol: str, label: str) -> str:
    """Normalise a class or sector label to one of ``ASSET_CLASSES``."""
    key = str(label).strip().lower()
    key = _ALIASES.get(key, "equity" if key in _EQUITY_SECTORS else key)
    if key not in ASSET_CLASSES:
        known = ", ".join(ASSET_CLASSES)
        raise InputError(f"unknown asset class {label!r} for {symbol} (known: {known}, or a sector)")
    return key


def _classes(values: Mapping[str, float], labels: Mapping[str, str] | None) -> dict[str, str]:
    if labels is None:
        return {s: "equity" for s in values}
    return {s: asset_class_of(s, labels[s]) for s in values if s in labels}


def _row(name: str, pnl: float, nav: float, unshocked: Sequence[str] = ()) -> StressRow:
    return StressRow(name, pnl, pnl / nav, tuple(unshocked))


# ------------------------------------------------------------ price shocks


def shock_book(
    book: Mapping[str, float],
    scenario: Scenario,
    asset_classes: Mapping[str, str] | None = None,
    nav: float | None = None,
) -> StressRow:
    """Re-price ``book`` (symbol -> market value) under ``scenario``'s class shocks."""
    values = _book(book)
    n = _nav(values, nav)
    classes = _classes(values, asset_classes)
    pnl, missed = [], []
    for sym, v in values.items():
        shock = scenario.shock(classes[sym]) if sym in classes else None
        if shock is None:
            missed.append(sym)
        else:
            pnl.append(v * shock)
    missed.sort(key=lambda s: -abs(values[s]))
    return _row(scenario.name, math.fsum(pnl), n, missed)


# ------------------------------------------------------------ VaR shocks


def _aligned(
    book: Mapping[str, float], returns: Mapping[str, Sequence[float]]
) -> tuple[np.ndarray, np.ndarray]:
    values = _book(book)
    missing = [s for s, v in values.items() if v != 0.0 and s not in returns]
    if missing:
        raise DataError(f"no returns for {', '.join(missing)}")
    syms = [s for s, v in values.items() if v != 0.0]
    lengths = {len(returns[s]) for s in syms}
    if len(lengths) > 1:
        raise DataError(f"return series differ in length: {sorted(lengths)}")
    cols = [np.asarray(returns[s], dtype=np.float64) for s in syms]
    matrix = np.column_stack(cols) if cols else np.zeros((2, 0))
    return as_return_matrix(matrix, len(syms)), np.array([values[s] for s in syms])


def _var_row(name: str, mean: float, sd: float, confidence: float, nav: float) -> StressRow:
    return _row(name, mean + z_score(confidence) * sd, nav)


def volatility_shock(
    book: Mapping[str, float],
    returns: Mapping[str, Sequence[float]],
    factor: float = VOL_FACTOR,
    confidence: float = VAR_CONFIDENCE,
    nav: float | None = None,
) -> StressRow:
    """``-VaR`` of the book (parametric, one day) with every volatility times ``factor``.

    ``pnl = v . mu + z_alpha * factor * sqrt(v' Sigma v)`` in currency; the
    correlations stay as estimated. ``returns`` maps each symbol to its daily
    simple returns (same length for all).
    """
    n = _nav(_book(book), nav)
    m, v = _aligned(book, returns)
    sd = math.sqrt(max(float(v @ covariance(m) @ v), 0.0)) if v.size else 0.0
    mean = float(np.mean(m, axis=0) @ v) if v.size else 0.0
    return _var_row(f"volatility x{factor:g}", mean, float(factor) * sd, confidence, n)


def correlation_shock(
    book: Mapping[str, float],
    returns: Mapping[str, Sequence[float]],
    confidence: float = VAR_CONFIDENCE,
    nav: float | None = None,
) -> StressRow:
    """``-VaR`` of the book (parametric, one day) with every correlation set to 1.

    With correlations of 1 the covariance is ``sd sd'`` and the book's sd is
    ``|sum_i v_i * sd_i|`` (sample sds, ddof=1).
    """
    n = _nav(_book(book), nav)
    m, v = _aligned(book, returns)
    sd = abs(float(np.std(m, axis=0, ddof=1) @ v)) if v.size else 0.0
    mean = float(np.mean(m, axis=0) @ v) if v.size else 0.0
    return _var_row("correlations to 1", mean, sd, confidence, n)


# ------------------------------------------------------------ all of it


def stress_test(
    book: Mapping[str, float],
    asset_classes: Mapping[str, str] | None = None,
    *,
    returns: Mapping[str, Sequence[float]] | None = None,
    nav: float | None = None,
    confidence: float = VAR_CONFIDENCE,
    scenarios: Sequence[Scenario] = PRICE_SCENARIOS,
) -> list[StressRow]:
    """Every price-shock scenario, then (when ``returns`` are given) the two VaR shocks."""
    rows = [shock_book(book, s, asset_classes, nav) for s in scenarios]
    if returns is not None:
        rows.append(volatility_shock(book, returns, VOL_FACTOR, confidence, nav))
        rows.append(correlation_shock(book, returns, confidence, nav))
    return rows
