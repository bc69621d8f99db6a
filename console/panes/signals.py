"""Signals pane: each model's latest view of each symbol."""

from __future__ import annotations

from textual.containers import Vertical
from textual.app import ComposeResult

from console.panes.common import Cell, KeyedTable, centred_bar, clock, money, num, signed
from core.snapshot import SignalRow, Snapshot

SIGNAL_COLUMNS = (
    ("Symbol", "symbol"), ("Model", "model"), ("Value", "value"), ("", "bar"),
    ("Conf", "confidence"), ("Last", "last"), ("At", "ts"),
)


class SignalsPane(Vertical):
    """One row per (symbol, model): value in -1..1 with a centred bar."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Signals"

    def compose(self) -> ComposeResult:
        self._table = KeyedTable(SIGNAL_COLUMNS, sort_by=2, id="signals-table")
        yield self._table

    def apply(self, snap: Snapshot) -> None:
        rows = {f"{s.symbol}/{s.model}": self._cells(s) for s in snap.signals}
        self._table.sync(rows)

    def restyle(self) -> None:
        self._table.restyle()

    def _cells(self, s: SignalRow) -> tuple[Cell, ...]:
        app = self.app
        return (
            s.symbol, s.model, signed(app, s.value, f"{s.value:+.2f}"),
            signed(app, s.value, centred_bar(s.value)), num(f"{s.confidence:.0%}"),
            num(money(s.last)), clock(s.ts)[11:],
        )
