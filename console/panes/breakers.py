"""Breakers pane: each circuit breaker's use of its limit, and rejections by rule.

Tripped breakers are listed first, then warnings, then armed ones (engine
order within each), so "1 tripped" in the border never names a row that is
off-screen. Figures are in the breaker's own unit, as the log says them:
percent of NAV, counts, market seconds, Sharpe.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.panes.common import NA, Cell, KeyedTable, bar, num, pct, theme_colour, when
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
STATE_RANK = {"TRIPPED": 0, "WARNING": 1}  # the rest (ARMED) after these
# measures of a loss: a gain is no use of the limit, shown as 0
LOSS_UNITS = {"frac"}
USE_BAR = 5  # cells: name, state and use fit a compact (45-column) pane


class BreakersPane(Vertical):
    """Breakers tripped first; rejection counts keyed by rule."""

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
        order = sorted(snap.breakers, key=lambda b: STATE_RANK.get(b.state, 2))  # stable: engine order
        self._breakers.sync({b.name: self._cells(b) for b in order})
        self._breakers.arrange([b.name for b in order])
        self._rejections.sync({rule: (rule, num(f"{n:,}")) for rule, n in snap.rejections})
        tripped = sum(b.state == "TRIPPED" for b in snap.breakers)
        self.border_subtitle = f"{tripped} tripped" if tripped else ""

    def restyle(self) -> None:
        self._breakers.restyle()
        self._rejections.restyle()

    def _cells(self, b: BreakerRow) -> tuple[Cell, ...]:
        colour = self._state_colour(b.state)
        use = Text(use_text(b), style=colour)
        state = Text(b.state, style=f"bold {colour}".strip())
        trip = when(b.last_trip_ts) if b.last_trip_ts else "never"
        return b.name, state, use, num(f"{in_unit(b.value, b.unit)} / {in_unit(b.limit, b.unit)}"), trip, b.reason

    def _state_colour(self, state: str) -> str:
        variable, fallback = STATE_COLOURS.get(state, ("foreground", "foreground"))
        return theme_colour(self.app, variable, fallback)


def use_text(b: BreakerRow) -> str:
    """How much of its limit a breaker uses, as a bar and percent, never
    negative (a day in profit uses none of the daily-loss limit)."""
    u = b.utilisation
    if not math.isfinite(u):
        return f"{bar(0.0, USE_BAR)}  {NA}"
    u = max(0.0, u)
    return f"{bar(u, USE_BAR)} {min(u, 9.99):4.0%}"


def in_unit(value: float, unit: str) -> str:
    """A breaker figure in its unit: 2.31% (of NAV), 12 (count), 300 s, 0.45 (Sharpe)."""
    if not math.isfinite(value):
        return NA
    if unit in LOSS_UNITS:
        return pct(max(0.0, value))
    if unit == "s":
        return f"{value:,.0f} s"
    if unit == "sharpe":
        return f"{value:.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.4g}"
