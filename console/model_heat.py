"""Live vs backtest performance per model, as a heatmap (key ``v``).

Each signal model with a validation Sharpe (logged in ModelActivated.val_sharpe
when the version went live) against its live Sharpe: the figure its
live-Sharpe breaker watches (core/views.py), annualised over the last
``window`` bars of the model's live signal P&L. The Sharpe cells share one
diverging colour scale (red below zero, yellow near it, green above); the
live/validation cell is coloured from the breaker's trip ratio (red: at or
under it, the model is disabled) to 1 (green: live as good as the backtest).
Below it, each model's live Sharpe on each symbol alone (its view on that
symbol times the symbol's next bar return, over the same window), on the same
scale beside its validation Sharpe: validation is fitted across all symbols,
so there is no per-symbol backtest figure to set against these.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from console.panes.common import NA, KeyedTable
from core.snapshot import ModelRow, Snapshot

SHARPE_SPAN = 3.0  # the scale saturates at +-3 (annualised Sharpe)
# RdYlGn end and middle points (ColorBrewer): readable on dark and light themes
LOW, MID, HIGH = (215, 48, 39), (254, 224, 139), (26, 152, 80)
COLUMNS = (("Model", "model"), ("Ver", "ver"), ("Validation", "val"), ("Live", "live"), ("Live - val", "diff"),
           ("Live / val", "ratio"), ("Bars", "bars"), ("Breaker", "state"))


def heat(t: float) -> Style:
    """A cell style for ``t`` in [-1, 1] (clamped): red, yellow, green; the
    text black or white, whichever reads on that background."""
    t = max(-1.0, min(1.0, t))
    a, b, f = (MID, HIGH, t) if t >= 0 else (MID, LOW, -t)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * f) for i in range(3))
    light = 0.299 * r + 0.587 * g + 0.114 * bl > 140
    return Style(bgcolor=f"rgb({r},{g},{bl})", color="black" if light else "white", bold=True)


def sharpe_cell(x: float) -> Text:
    if not math.isfinite(x):
        return Text(NA, justify="right")
    return Text(f"{x:+.2f}", style=heat(x / SHARPE_SPAN), justify="right")


def trip_ratio(m: ModelRow) -> float:
    """The breaker's ratio (breakers.live_sharpe_ratio), from its trip level."""
    return m.trip_below / m.val_sharpe if m.val_sharpe and math.isfinite(m.trip_below / m.val_sharpe) else 0.7


def ratio_cell(m: ModelRow) -> Text:
    """live / validation, coloured from the trip ratio (red) to 1 (green).
    With a validation Sharpe at or below zero a ratio says nothing: n/a."""
    if not (math.isfinite(m.live_sharpe) and math.isfinite(m.val_sharpe)) or m.val_sharpe <= 0:
        return Text(NA, justify="right")
    ratio = m.live_sharpe / m.val_sharpe
    lo = trip_ratio(m)
    t = (ratio - lo) / (1.0 - lo) * 2.0 - 1.0 if lo < 1.0 else (1.0 if ratio >= lo else -1.0)
    return Text(f"{ratio:.0%}", style=heat(t), justify="right")


def model_rows(models: tuple[ModelRow, ...]) -> list[tuple[str | Text, ...]]:
    """The heatmap's rows, worst live / validation first (the model to look at)."""
    def key(m: ModelRow) -> float:
        if math.isfinite(m.live_sharpe) and math.isfinite(m.val_sharpe) and m.val_sharpe > 0:
            return m.live_sharpe / m.val_sharpe
        return math.inf

    out: list[tuple[str | Text, ...]] = []
    for m in sorted(models, key=key):
        live_ok = math.isfinite(m.live_sharpe)
        diff = m.live_sharpe - m.val_sharpe
        state = Text(m.state, style="bold red" if m.state == "TRIPPED" else "")
        out.append((m.model, f"v{m.version}", sharpe_cell(m.val_sharpe),
                    sharpe_cell(m.live_sharpe) if live_ok else Text(f"{NA} ({m.bars}/{m.window})", justify="right"),
                    Text(f"{diff:+.2f}" if math.isfinite(diff) else NA, justify="right"),
                    ratio_cell(m), Text(f"{m.bars}/{m.window}", justify="right"), state))
    return out


def symbol_table(models: tuple[ModelRow, ...]) -> tuple[tuple[str, ...], list[tuple[str | Text, ...]]]:
    """(columns, rows) of the per-symbol heatmap: a row per model, its
    validation Sharpe, then its live Sharpe on each symbol."""
    symbols = sorted({sym for m in models for sym, _ in m.symbols})
    rows: list[tuple[str | Text, ...]] = []
    for m in sorted(models, key=lambda m: m.model):
        live = dict(m.symbols)
        rows.append((m.model, sharpe_cell(m.val_sharpe),
                     *(sharpe_cell(live.get(sym, math.nan)) for sym in symbols)))
    return ("Model", "Validation", *symbols), rows


def legend() -> Text:
    """The scale: Sharpe -3 .. +3, and what the ratio colours mean."""
    t = Text("Sharpe ")
    t.append(f"-{SHARPE_SPAN:g} ")
    for i in range(13):
        t.append("  ", style=heat(-1.0 + i / 6.0))
    t.append(f" +{SHARPE_SPAN:g}")
    t.append(" · live/val: red at the trip ratio, green at 100%")
    return t


class ModelHeatScreen(ModalScreen[None]):
    """The heatmap, rebuilt every second from the newest snapshot while open."""

    DEFAULT_CSS = """
    ModelHeatScreen { align: center middle; background: $background 60%; }
    #heat-dialog { width: 96%; height: 90%; padding: 0 1; background: $surface; border: thick $primary;
                   border-title-style: bold; }
    #heat-table { height: auto; max-height: 45%; }
    #heat-symbols { height: 1fr; }
    #heat-legend, #heat-note { height: auto; }
    #heat-subtitle { height: auto; margin-top: 1; text-style: bold; }
    """
    BINDINGS = [
        Binding("escape,q,v", "close", "Close", id="heat.close"),
        Binding("h", "halt_now", "Halt", id="heat.halt"),
    ]

    def __init__(self, latest: Callable[[], Snapshot]) -> None:
        super().__init__()
        self._latest = latest
        self._shown: tuple[ModelRow, ...] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="heat-dialog") as dialog:
            dialog.border_title = "Models: live vs validation (backtest) Sharpe"
            yield Static(legend(), id="heat-legend")
            yield KeyedTable(COLUMNS, sort_by=0, id="heat-table")
            yield Static("", id="heat-note", markup=False)
            yield Static("Live Sharpe by symbol (the model's view on it alone; validation is across all symbols)",
                         id="heat-subtitle", markup=False)
            yield KeyedTable((("Model", "model"), ("Validation", "val")), sort_by=0, id="heat-symbols")
            yield Static("Live: annualised, over the last Bars of each model's signal P&L · "
                         "Esc closes · h halts", classes="help-hint")

    async def on_mount(self) -> None:
        await self._rebuild()
        self.set_interval(1.0, self._rebuild)

    async def _rebuild(self) -> None:
        """Rows diffed by model (the cursor stays put); the per-symbol table is
        made anew only when the symbols change."""
        models = self._latest().models
        if models == self._shown:
            return
        self._shown = models
        rows = model_rows(models)
        table = self.query_one("#heat-table", KeyedTable)
        table.sync({str(r[0]): r for r in rows})
        table.arrange([str(r[0]) for r in rows])
        columns, per_rows = symbol_table(models)
        per = self.query_one("#heat-symbols", KeyedTable)
        if tuple(label for label, _ in per._columns) != columns:
            await per.remove()
            per = KeyedTable(tuple((c, f"c{i}") for i, c in enumerate(columns)), sort_by=0, id="heat-symbols")
            await self.query_one("#heat-dialog").mount(per, after="#heat-subtitle")
        per.sync({str(r[0]): r for r in per_rows})
        note = "" if models else ("No model with a validation Sharpe yet: run with the signal layer "
                                  "(strategy.signal = ensemble or a model) and wait for its first fit.")
        self.query_one("#heat-note", Static).update(note)

    def rows(self) -> list[tuple[str, ...]]:
        """What the table shows, as text (tests)."""
        return [tuple(str(c) for c in r) for r in model_rows(self._shown or ())]

    def symbol_rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        columns, rows = symbol_table(self._shown or ())
        return columns, [tuple(str(c) for c in r) for r in rows]

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_halt_now(self) -> None:
        self.dismiss(None)
        await self.app.run_action("halt")
