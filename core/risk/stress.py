"""Stress tests: re-price a book under historical and hypothetical shocks.

A book is ``symbol -> market value`` in currency (negative for a short). Each
symbol has an asset class (``ASSET_CLASSES``: equity, commodity (oil-led),
metals (gold), fx, crypto, rates, cash); an equity sector name such as
``"Energy"`` or ``"Information Technology"`` counts as ``equity``, and
``stress_class`` maps an instrument's spec (class and sector) to one. With no
class map every symbol is an equity.

Every scenario gives one frozen ``StressRow``: the book's P&L in currency
(NEGATIVE = loss, unlike VaR which is reported as a positive loss) and the same
P&L as a fraction of NAV. NAV defaults to the sum of the book's market values.

* Price-shock scenarios move each position by its class's fractional shock:
  ``pnl = sum(v_i * shock[class_i])``. Each scenario states a figure or n/a for
  every class (see the scenario table below and its sources). A symbol whose
  class is n/a in the scenario (BTC in 2008, oil in 2020, which our data does
  not cover), or a symbol missing from the class map, is left unchanged and
  listed in ``unshocked``.
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

ASSET_CLASSES: Final = ("equity", "commodity", "metals", "fx", "crypto", "rates", "cash")
NA: Final = None  # a scenario's "no view" on a class: not shocked, shown as n/a

# Sector names (GICS and common variants) are equities for stress purposes.
_EQUITY_SECTORS: Final = frozenset(
    {
        "communication services", "consumer discretionary", "consumer staples",
        "energy", "financials", "health care", "healthcare", "industrials",
        "information technology", "technology", "materials", "real estate",
        "utilities", "equities", "stock", "stocks",
    }
)  # fmt: skip
_ALIASES: Final = {
    "commodities": "commodity", "gold": "metals", "precious metals": "metals",
    "currency": "fx", "currencies": "fx", "forex": "fx", "cryptocurrency": "crypto",
    "bonds": "rates", "bond": "rates",
}  # fmt: skip
# A commodity instrument whose sector names one of these is a precious metal:
# gold rose through 2008 while oil fell 41%, so one "commodity" figure for both
# would be wrong in sign.
_METAL_SECTORS: Final = frozenset({"metals", "precious metals", "gold", "silver"})


def stress_class(asset_class: str, sector: str = "") -> str:
    """The stress class of an instrument from its spec's asset class and
    sector: a commodity in a metals sector is ``metals``; an ``unknown`` class
    (a price file's symbols carry none) is stressed as an equity, the common
    case for a single price file; other labels as ``asset_class_of``."""
    key = str(asset_class).strip().lower()
    if key in ("commodity", "commodities") and str(sector).strip().lower() in _METAL_SECTORS:
        return "metals"
    if key in ("", "unknown"):
        return "equity"
    return key


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of fractional price shocks per asset class (-0.2 = prices
    fall 20%). Every class in ``ASSET_CLASSES`` has an entry: a number, or
    ``NA`` (None) where the scenario has no view (BTC did not trade in 2008),
    so a position of that class is left unshocked and shown as n/a."""

    name: str
    shocks: tuple[tuple[str, float | None], ...]
    source: str

    def __post_init__(self) -> None:
        given = [c for c, _ in self.shocks]
        if sorted(given) != sorted(ASSET_CLASSES):
            raise ValueError(f"scenario {self.name!r} must give every class once "
                             f"({', '.join(ASSET_CLASSES)}); got {', '.join(given)}")

    def shock(self, asset_class: str) -> float | None:
        """The class's shock, or None (n/a) when the scenario has no view on it."""
        return dict(self.shocks).get(asset_class)

    def describe(self) -> tuple[tuple[str, str], ...]:
        """``(class, "-56.78%" or "n/a")`` for every class, in ``ASSET_CLASSES`` order."""
        table = dict(self.shocks)
        return tuple((c, "n/a" if table[c] is None else f"{table[c]:+.2%}") for c in ASSET_CLASSES)


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


# Historical shocks, one figure per class over the equity move's dates.
#
# * equity: S&P 500 moves computed from /work/shared/data/skfolio/sp500_index.csv
#   (daily closes, 1990-2022) or, for the intraday low, arch/sp500.csv; 1987
#   from published closes.
# * commodity (oil-led): WTI spot from arch/wti.csv (FRED DCOILWTICO, 1986-2019).
# * metals (gold), fx (EURUSD, USD per EUR; a long EURUSD position) and crypto
#   (BTC in USD): not in our data. Published daily figures, rounded to the
#   precision shown: gold from the LBMA PM fix (FRED GOLDPMGBD228NLBM), EURUSD
#   from the Fed's noon rate (FRED DEXUSEU), BTC from exchange closes
#   (CoinMarketCap). They are approximate: enough to give the sign and size of
#   a class's move in a scenario, not a price history.
# * n/a (NA): BTC had no market before mid-2010; the euro began in 1999; no
#   gold series to hand for 1987; "rates" instruments may be quoted as a yield
#   or as a bond price (opposite signs), and we hold no series for either, so
#   every historical scenario leaves them unshocked and says so.
# * cash: 0 in every scenario.
GFC_2008: Final = Scenario(
    "2008 GFC",
    (
        # S&P 500 peak 1565.15 (2007-10-09) to trough 676.53 (2009-03-09): -56.78%.
        ("equity", 676.53 / 1565.15 - 1.0),
        # WTI over the same dates, 80.23 -> 47.01: -41.41%.
        ("commodity", 47.01 / 80.23 - 1.0),
        # Gold rose: about 740 -> 920 USD/oz (+24%).
        ("metals", 920.0 / 740.0 - 1.0),
        # The dollar rallied: EURUSD about 1.41 -> 1.26 (-10.6%).
        ("fx", 1.26 / 1.41 - 1.0),
        ("crypto", NA),  # BTC's first block was 2009-01-03; no market until 2010
        ("rates", NA),
        ("cash", 0.0),
    ),
    "S&P 500 and WTI 2007-10-09 to 2009-03-09 (skfolio sp500_index, arch wti); "
    "gold (LBMA), EURUSD (FRED DEXUSEU) published, rounded; BTC n/a",
)
COVID_2020: Final = Scenario(
    "2020 COVID crash",
    (
        # S&P 500 peak 3386.15 (2020-02-19) to trough 2237.40 (2020-03-23): -33.92%.
        # The worst single day in it was -11.98% (2020-03-16).
        ("equity", 2237.40 / 3386.15 - 1.0),
        # No oil figure: arch/wti.csv ends 2019-01-03.
        ("commodity", NA),
        # Gold fell with everything in the dash for cash: about 1,609 -> 1,525 (-5.2%).
        ("metals", 1525.0 / 1609.0 - 1.0),
        # EURUSD about 1.079 -> 1.072 (-0.6%): the dollar squeeze, mostly undone by the 23rd.
        ("fx", 1.072 / 1.079 - 1.0),
        # BTC about 9,630 -> 6,730 (-30%); it was down 50% at the 2020-03-12 close.
        ("crypto", 6730.0 / 9630.0 - 1.0),
        ("rates", NA),
        ("cash", 0.0),
    ),
    "S&P 500 2020-02-19 to 2020-03-23 (skfolio sp500_index); gold (LBMA), "
    "EURUSD (FRED DEXUSEU), BTC (exchange closes) published, rounded; oil n/a",
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
        # Gold was bid as a haven: about 1,176 -> 1,204 (+2.4%), closes.
        ("metals", 1204.0 / 1176.0 - 1.0),
        # The euro was in its own (Greek) crisis: EURUSD about 1.282 -> 1.263 (-1.5%), closes.
        ("fx", 1.263 / 1.282 - 1.0),
        ("crypto", NA),  # no BTC exchange until July 2010
        ("rates", NA),
        ("cash", 0.0),
    ),
    "S&P 500 intraday low and WTI close 2010-05-06 (arch sp500, wti); gold (LBMA), "
    "EURUSD (FRED DEXUSEU) published closes, rounded; BTC n/a",
)
BLACK_MONDAY_1987: Final = Scenario(
    "1987 Black Monday",
    (
        # Before our S&P file starts: the S&P 500's one-day fall on 1987-10-19,
        # 282.70 -> 224.84, -20.47% (published closes).
        ("equity", 224.84 / 282.70 - 1.0),
        # WTI 20.23 -> 19.79 on 1987-10-19: -2.18% (arch/wti.csv).
        ("commodity", 19.79 / 20.23 - 1.0),
        ("metals", NA),  # no gold series to hand for 1987
        ("fx", NA),  # the euro did not exist until 1999
        ("crypto", NA),
        ("rates", NA),
        ("cash", 0.0),
    ),
    "S&P 500 one-day close 1987-10-19 (published); WTI (arch wti); gold, EURUSD, BTC n/a",
)
EQUITIES_DOWN_10: Final = Scenario(
    "equities -10%",
    # hypothetical: equities fall 10% and, by definition, nothing else moves
    (("equity", -0.10), ("commodity", 0.0), ("metals", 0.0), ("fx", 0.0), ("crypto", 0.0),
     ("rates", 0.0), ("cash", 0.0)),
    "hypothetical: equities only",
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
