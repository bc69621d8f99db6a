"""Shared pieces for the panes: a row-keyed table, number formats, theme colours.

Cells are Rich ``Text`` whose colour is read from the app's current theme
variables, so no widget hard-codes a colour; a theme change re-styles the
cells through ``KeyedTable.restyle`` (the caller re-applies its snapshot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from rich.text import Text
from textual.app import App
from textual.widgets import DataTable

from core.snapshot import PositionRow, Snapshot

Cell = str | Text


def theme_colour(app: App[object], name: str, fallback: str = "foreground") -> str:
    """A colour from the current theme's variables (``pnl-up``, ``error``...)."""
    variables = app.theme_variables
    return variables.get(name) or variables.get(fallback, "")


def num(text: str, style: str = "") -> Text:
    """A right-aligned cell (numbers line up on their last digit)."""
    return Text(text, style=style, justify="right")


def signed(app: App[object], value: float, text: str) -> Text:
    """``text`` right-aligned, coloured by the sign of ``value`` (pnl-up / pnl-down)."""
    if value > 0:
        return num(text, theme_colour(app, "pnl-up"))
    if value < 0:
        return num(text, theme_colour(app, "pnl-down"))
    return num(text)


NA = "n/a"  # a figure that cannot be computed (NaN), never "nan"


def not_finite(value: float) -> str:
    """"" for a finite ``value``; else how to show it: "n/a" (NaN) or "±∞"."""
    if math.isfinite(value):
        return ""
    return NA if math.isnan(value) else ("∞" if value > 0 else "-∞")


def money(value: float) -> str:
    return not_finite(value) or f"{value:,.2f}"


def signed_money(value: float) -> str:
    return not_finite(value) or f"{value:+,.2f}"


def figure(value: float) -> str:
    """A figure of unknown unit with sensible precision (2,345 / 12.50 / 0.0131)."""
    if not math.isfinite(value):
        return not_finite(value)
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if size >= 1 or size == 0 else f"{value:.4f}"


def pct(fraction: float) -> str:
    """A fraction shown as percent (0.05 -> "5.00%")."""
    return not_finite(fraction) or f"{fraction * 100:.2f}%"


def open_positions(snap: Snapshot) -> tuple[PositionRow, ...]:
    """The positions held: the snapshot also lists closed ones (qty 0) for
    their realised P&L, which are not open and never counted as such."""
    return tuple(p for p in snap.positions if p.qty != 0.0)


DAY_MS = 86_400_000


def clock(ts_ms: int) -> str:
    """Market time in ms since the epoch (UTC) -> "2026-01-05 09:31:00"."""
    if ts_ms <= 0:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def when(ts_ms: int, full: bool = False) -> str:
    """Market time for a row or a line, with its date: daily bars (stamped at
    midnight UTC) show the date alone ("2020-03-16"); intraday times show
    "01-05 09:31:00", or "2026-01-05 09:31:00" when ``full``."""
    if ts_ms <= 0:
        return "—"
    if ts_ms % DAY_MS == 0:
        return clock(ts_ms)[:10]
    return clock(ts_ms) if full else clock(ts_ms)[5:]


def bar(fraction: float, width: int = 10) -> str:
    """A left-filled bar for ``fraction`` in 0..1 (clipped)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def centred_bar(value: float, half: int = 5) -> str:
    """A bar for ``value`` in -1..1 growing left (short) or right (long) of a centre mark."""
    n = round(min(1.0, abs(value)) * half)
    left = " " * (half - n) + "█" * n if value < 0 else " " * half
    right = "█" * n + " " * (half - n) if value > 0 else " " * half
    return f"{left}│{right}"


def _width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def _sig(cell: Cell) -> tuple[str, str]:
    # Text has no value equality on its base style; compare plain text + style.
    if isinstance(cell, Text):
        return cell.plain, str(cell.style)
    return cell, ""


def _order_key(cell: Cell) -> tuple[int, float, str]:
    plain = _sig(cell)[0]
    try:
        return 0, float(plain.replace(",", "")), ""
    except ValueError:
        return 1, 0.0, plain


class KeyedTable(DataTable[Cell]):
    """A DataTable kept in step with a mapping {row key: cells} by row key.

    New keys are added, changed cells updated, vanished keys removed; the table
    is never cleared, so the cursor and scroll position survive refreshes.
    ``sort_by`` leading columns order the rows (numbers numerically) whenever a
    row is added; 0 keeps arrival order.
    """

    def __init__(
        self, columns: Sequence[tuple[str, str]], sort_by: int = 1, **kwargs: object
    ) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._columns = columns
        self._sort_by = sort_by
        self._shown: dict[str, tuple[Cell, ...]] = {}
        for label, key in columns:
            self.add_column(label, key=key)

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        for key in [k for k in self._shown if k not in rows]:
            self.remove_row(key)
            del self._shown[key]
        added = [key for key in rows if key not in self._shown]
        for key, cells in rows.items():
            self._sync_row(key, tuple(cells))
            self._shown[key] = tuple(cells)
        if added and self._sort_by:
            self.sort(key=self._row_order)

    def _row_order(self, row: tuple[Cell, ...]) -> tuple[tuple[int, float, str], ...]:
        return tuple(_order_key(cell) for cell in row[: self._sort_by])

    def _sync_row(self, key: str, cells: tuple[Cell, ...]) -> None:
        old = self._shown.get(key)
        if old is None:
            self.add_row(*cells, key=key)
            return
        for (_, column), was, now in zip(self._columns, old, cells):
            if _sig(was) != _sig(now):
                # Re-measuring widths on every update forces a layout pass of
                # the whole screen (measured: 70% of a core at a full-speed
                # feed). Widen only when a value outgrows its column.
                grow = _width(now) > self.columns[column].content_width  # type: ignore[index]
                self.update_cell(key, column, now, update_width=grow)

    def fix_widths(self, widths: Mapping[str, int]) -> None:
        """Give columns a fixed width in cells (content is cropped); 0 = fit content."""
        for key, width in widths.items():
            column = self.columns[key]  # type: ignore[index]
            column.width, column.auto_width = width, width <= 0
        self._require_update_dimensions = True
        self.refresh()

    def arrange(self, keys: Sequence[str]) -> None:
        """Put the rows in ``keys`` order, when the shown order differs. The
        first column must hold the row key (as a plain string)."""
        if [k for k in sorted(self._shown, key=self.get_row_index)] == list(keys):
            return
        rank = {k: i for i, k in enumerate(keys)}
        self.sort(self._columns[0][1], key=lambda cell: rank.get(_sig(cell)[0], len(rank)))

    @property
    def shown_keys(self) -> list[str]:
        return list(self._shown)

    def restyle(self) -> None:
        """Forget the shown cells so the next sync rewrites every cell (theme change)."""
        self._shown = {k: tuple(Text("\0") for _ in v) for k, v in self._shown.items()}
