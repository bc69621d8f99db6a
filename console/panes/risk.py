"""Risk pane: book-level figures as label/value rows, then ``RiskView.extra`` pairs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from console.panes.common import Cell, KeyedTable, money, num, pct, signed, signed_money
from core.snapshot import RiskView, Snapshot

RISK_COLUMNS = (("Figure", "label"), ("Value", "value"))


class RiskPane(Vertical):
    """Figures keyed by label, so an extra that appears or goes is one row."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Risk"

    def compose(self) -> ComposeResult:
        self._table = KeyedTable(RISK_COLUMNS, sort_by=0, id="risk-table")
        yield self._table

    def apply(self, snap: Snapshot) -> None:
        rows = {label: (label, value) for label, value in self._figures(snap.risk)}
        # extras get their own key space: an extra named "NAV" must not replace ours
        rows.update({f"extra:{k}": (k, num(v)) for k, v in snap.risk.extra})
        self._table.sync(rows)

    def restyle(self) -> None:
        self._table.restyle()

    def _figures(self, r: RiskView) -> list[tuple[str, Cell]]:
        """Drawdown, max DD and VaR are positive loss fractions shown as percent."""
        app = self.app
        figures: list[tuple[str, Cell]] = [
            ("NAV", num(money(r.nav))), ("Cash", num(money(r.cash))),
            ("Gross", num(money(r.gross))), ("Net", num(money(r.net))),
            ("Leverage", num(f"{r.leverage:.2f}x")),
            ("Day P&L", signed(app, r.day_pnl, signed_money(r.day_pnl))),
            ("Realised", signed(app, r.realized, signed_money(r.realized))),
            ("Unrealised", signed(app, r.unrealized, signed_money(r.unrealized))),
            ("Drawdown", signed(app, -r.drawdown, pct(r.drawdown))),
            ("Max DD", signed(app, -r.max_drawdown, pct(r.max_drawdown))),
            ("VaR95 (1d)", num(pct(r.var95))), ("Peak NAV", num(money(r.peak_nav))),
        ]
        return figures
