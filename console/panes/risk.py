"""Risk pane: book-level figures as label/value rows, then ``RiskView.extra``
pairs, each position's Euler contribution to VaR and each sector's gross
exposure; below them, the book under the stress scenarios."""

from __future__ import annotations

import math
import re

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical

from console.panes.common import NA, Cell, KeyedTable, money, num, pct, signed, signed_money, theme_colour
from core.snapshot import RiskView, Snapshot, StressLine

RISK_COLUMNS = (("Figure", "label"), ("Value", "value"))
STRESS_COLUMNS = (("Stress scenario", "name"), ("P&L", "pnl"), ("% NAV", "frac"))
# a NaN or infinite figure inside an engine-formatted string ("nan%", "inf")
_NOT_FINITE = re.compile(r"(?<![\w.])-?(nan|inf)%?(?![\w.])", re.IGNORECASE)
LABEL_MAX = 22  # cells for a figure's label at most
MEASURE = {"historical": "hist", "parametric": "param", "monte_carlo": "MC", "nav_parametric": "NAV"}


def _scenario_label(line: StressLine) -> str:
    """The scenario's name, and the symbols it leaves unshocked because it has
    no view on their class (BTC in 2008): "2008 GFC (n/a: BTC)"."""
    if not line.unshocked:
        return line.name
    return f"{line.name} (n/a: {', '.join(line.unshocked)})"


class RiskPane(Vertical):
    """Figures keyed by label, so an extra that appears or goes is one row."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Risk"

    def compose(self) -> ComposeResult:
        self._table = KeyedTable(RISK_COLUMNS, sort_by=0, id="risk-table")
        yield self._table
        self._stress = KeyedTable(STRESS_COLUMNS, sort_by=0, id="stress-table")
        yield self._stress

    def apply(self, snap: Snapshot) -> None:
        r = snap.risk
        app = self.app
        rows = {label: (label, value) for label, value in self._figures(r)}
        # extras get their own key space: an extra named "NAV" must not replace ours
        rows.update({f"extra:{k}": (k, num(sane(v))) for k, v in r.extra})
        # each position's share of the headline VaR (its measure); they sum to it (currency)
        rows.update({f"contrib:{s}": (f"VaR contrib {s}", signed(app, -v, money(v))) for s, v in r.contributions})
        rows.update({f"sector:{s}": (f"Sector {s}", self._sector(v, r.sector_limit)) for s, v in r.sectors})
        self._table.sync(rows)
        self._stress.sync({line.name: (_scenario_label(line), signed(app, line.pnl, signed_money(line.pnl)),
                                       signed(app, line.pnl_fraction, pct(line.pnl_fraction)
                                              if r.nav > 0 else NA))
                           for line in r.stress})

    def on_resize(self, event: events.Resize) -> None:
        """Keep the values on screen however narrow the pane: the labels get at
        most half of it, the values the rest (a long text is cropped, never a
        number pushed off the right edge)."""
        inner = max(0, event.size.width - 2 - 2)  # less the border and the scrollbar gutter
        label = min(LABEL_MAX, inner // 2)
        self._table.fix_widths({"label": label, "value": max(8, inner - label - 4)})  # 2 x 2 padding
        self._stress.fix_widths({"name": label, "pnl": 0, "frac": 0})

    def _sector(self, exposure: float, limit: float) -> Cell:
        """A sector's gross exposure against the gate's limit, coloured as a
        breaker would be from 80% of it (the gate refuses orders past it)."""
        if not limit > 0:
            return num(pct(exposure))
        use = exposure / limit
        colour = "error" if use >= 1.0 else "warning" if use >= 0.8 else ""
        return num(f"{pct(exposure)} / {pct(limit)}", theme_colour(self.app, colour) if colour else "")

    def restyle(self) -> None:
        self._table.restyle()
        self._stress.restyle()

    def _figures(self, r: RiskView) -> list[tuple[str, Cell]]:
        """Drawdown, max DD and VaR are positive loss fractions shown as percent."""
        app = self.app
        figures: list[tuple[str, Cell]] = [
            ("NAV", signed(app, min(r.nav, 0.0), money(r.nav))), ("Cash", num(money(r.cash))),
            ("Gross", num(money(r.gross))), ("Net", num(money(r.net))),
            ("Leverage", num(leverage(r))),
            ("Day P&L", signed(app, r.day_pnl, signed_money(r.day_pnl))),
            ("Realised", signed(app, r.realized, signed_money(r.realized))),
            ("Unrealised", signed(app, r.unrealized, signed_money(r.unrealized))),
            ("Drawdown", signed(app, -r.drawdown, pct(r.drawdown))),
            ("Max DD", signed(app, -r.max_drawdown, pct(r.max_drawdown))),
            (f"VaR95 1d {MEASURE.get(r.var_measure, r.var_measure)}", num(pct(r.var95) if r.nav > 0 else NA)), ("Peak NAV", num(money(r.peak_nav))),
        ]
        return figures


def leverage(r: RiskView) -> str:
    """Gross / NAV as "0.39x"; with NAV at or below zero there is no leverage to show."""
    if not r.nav > 0:
        return f"{NA} (NAV ≤ 0)"
    return f"{r.leverage:.2f}x" if math.isfinite(r.leverage) else NA


def sane(text: str) -> str:
    """An engine-formatted figure with any "nan%"/"inf" in it shown as n/a / ∞."""
    def word(m: re.Match[str]) -> str:
        if m.group(1).lower() == "nan":
            return NA
        return "-∞" if m.group(0).startswith("-") else "∞"

    return _NOT_FINITE.sub(word, text)
