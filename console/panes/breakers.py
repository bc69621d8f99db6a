"""Breakers pane: each circuit breaker's use of its limit, and rejections by rule."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.panes.common import Cell, KeyedTable, bar, clock, figure, num, theme_colour
from core.snapshot import BreakerRow, Snapshot

BREAKER_COLUMNS = (
    ("Breaker", "name"), ("State", "state"), ("Use", "use"), ("Value / limit", "value"),
    ("Last trip", "trip"), ("Reason", "reason"),
)
REJECTION_COLUMNS = (("Rule", "rule"), ("Rejected", "count"))
# state -> the theme variable that colours it (and its fallback)
STATE_COLOURS = {
    "ARMED": ("breaker-armed", "success"),
    "WARNING": ("breaker-warning", "warning"),
    "TRIPPED": ("breaker-tripped", "error"),
}


class BreakersPane(Vertical):
    """Breakers in the engine's order; rejection counts keyed by rule."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Breakers"

    def compose(self) -> ComposeResult:
        self._breakers = KeyedTable(BREAKER_COLUMNS, sort_by=0, id="breakers-table")
        self._rejections = KeyedTable(REJECTION_COLUMNS, id="rejections-table")
        yield self._breakers
        yield Static("Rejections by rule", classes="subtitle")
        yield self._rejections

    def apply(self, snap: Snapshot) -> None:
        self._breakers.sync({b.name: self._cells(b) for b in snap.breakers})
        self._rejections.sync({rule: (rule, num(f"{n:,}")) for rule, n in snap.rejections})
        tripped = sum(b.state == "TRIPPED" for b in snap.breakers)
        self.border_subtitle = f"{tripped} tripped" if tripped else ""

    def restyle(self) -> None:
        self._breakers.restyle()
        self._rejections.restyle()

    def _cells(self, b: BreakerRow) -> tuple[Cell, ...]:
        colour = self._state_colour(b.state)
        use = Text(f"{bar(b.utilisation, 8)} {b.utilisation:4.0%}", style=colour)
        state = Text(b.state, style=f"bold {colour}".strip())
        # the date is in the header; a trip shows its market time of day
        trip = clock(b.last_trip_ts)[11:] if b.last_trip_ts else "never"
        return b.name, state, use, num(f"{figure(b.value)} / {figure(b.limit)}"), trip, b.reason

    def _state_colour(self, state: str) -> str:
        variable, fallback = STATE_COLOURS.get(state, ("foreground", "foreground"))
        return theme_colour(self.app, variable, fallback)
