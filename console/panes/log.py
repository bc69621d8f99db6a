"""Log pane: the snapshot's log lines it has not shown yet, in a capped log
the operator can scroll back in and filter.

The pane keeps the lines it has received (at most ``max_lines``) and writes
into a RichLog the ones that match the filter. It follows the newest line
only while the view is at the bottom: scrolled back (Home, PgUp, the wheel),
new lines are added below without moving the view, until End. ``/`` opens
the filter (case-insensitive text, level included: "alert", "AAPL");
Escape clears it. A theme change rewrites every line in the new colours.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, RichLog

from console.panes.common import theme_colour, when
from core.snapshot import LogLine, Snapshot

# level -> theme variable colouring it; unknown levels use the foreground
LEVEL_COLOURS = {"info": "foreground", "trade": "accent", "warn": "warning", "alert": "error"}
# Lines written per refresh. Each RichLog.write renders its line (~0.4 ms);
# at a full-speed feed a snapshot brings ~200 new lines, and writing them all
# took 90 ms of the UI thread per refresh and delayed key presses by ~1 s.
# Nobody reads 2,000 lines a second: show the newest, say how many were
# skipped (alerts are always shown), and leave the rest to the database.
MAX_LINES_PER_REFRESH = 25
SKIPPED = -1  # the seq of a "... n more lines" note
REFILTER_S = 0.15  # typing pause before the log is refiltered


class LogView(RichLog):
    """A RichLog that remembers whether the operator left the bottom.

    Comparing scroll_y with max_scroll_y at write time is not enough: a write
    grows max_scroll_y at once but scrolls to it only after the next refresh,
    so a busy UI would read "scrolled back" when nobody scrolled. Only a
    change of scroll_y (a key, the wheel, the scrollbar, or the follow scroll
    itself) decides, so lines written in between keep following.
    """

    pinned = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.pinned = new_value >= self.max_scroll_y


class LogPane(Vertical):
    """Appends lines with seq above the last shown; keeps at most ``max_lines``.

    ``snapshot.log`` holds only the newest ~200 lines, so after a long view
    pause (or at very high rates) some lines between two snapshots are never
    shown here; the session log in SQLite has them all.
    """

    BINDINGS = [
        Binding("slash", "filter", "Filter log", id="log.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="log.clear_filter"),
    ]

    def __init__(self, max_lines: int = 1000, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Log"
        self.last_seq = -1
        self.max_lines = max_lines
        self.filter_text = ""
        self._kept: deque[LogLine] = deque(maxlen=max_lines)
        self._unseen = 0  # lines added while scrolled back
        self._refilter: Timer | None = None
        self._view = LogView(max_lines=max_lines, wrap=True, min_width=20, markup=False, id="log-lines")
        self._filter = Input(placeholder="filter the log (Enter keeps it, Esc clears)", id="log-filter")
        # while the box has focus `h` is a letter: say how to halt and leave
        self._filter.border_title = "typing · Esc leaves · ctrl+g halts"
        self._filter.display = False

    def compose(self) -> ComposeResult:
        yield self._view
        yield self._filter

    @property
    def lines(self) -> list[Strip]:
        """The lines shown (as RichLog renders them)."""
        return self._view.lines

    @property
    def kept(self) -> tuple[LogLine, ...]:
        """The lines received (the newest ``max_lines``), filtered or not."""
        return tuple(self._kept)

    @property
    def following(self) -> bool:
        """Whether new lines scroll the view (it is at the bottom)."""
        return self._view.pinned

    def apply(self, snap: Snapshot) -> None:
        fresh = [line for line in snap.log if line.seq > self.last_seq]
        if not fresh:
            return
        self.last_seq = fresh[-1].seq
        shown = fresh[-MAX_LINES_PER_REFRESH:]
        skipped = fresh[:-MAX_LINES_PER_REFRESH]
        alerts = [line for line in skipped if line.level == "alert"]
        lines = alerts + shown
        if len(skipped) > len(alerts):
            note = f"… {len(skipped) - len(alerts)} more lines (all in the session log)"
            lines.insert(0, LogLine(SKIPPED, shown[0].ts, "", note))
        follow = self.following
        for line in lines:
            self._kept.append(line)
            if self._matches(line):
                self._view.write(self._format_line(line), scroll_end=follow)
                self._unseen += not follow
        self._say_where()

    def restyle(self) -> None:
        """Rewrite every kept line in the current theme's colours."""
        self._rewrite()

    # ------------------------------------------------------------ filter

    def action_filter(self) -> None:
        self._filter.display = True
        self._filter.focus()

    def action_clear_filter(self) -> None:
        if self._refilter is not None:
            self._refilter.stop()
        self.filter_text = ""
        self._rewrite()
        self._filter.value = ""
        self._filter.display = False
        self._view.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Refilter once typing pauses: rewriting 1,000 lines takes ~0.4 s, too
        long to do on every key."""
        event.stop()
        if event.value.strip() == self.filter_text:
            return  # cleared by Esc, or a space added: nothing to refilter
        self.filter_text = event.value.strip()
        if self._refilter is not None:
            self._refilter.stop()
        self._refilter = self.set_timer(REFILTER_S, self._rewrite)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._refilter is not None:
            self._refilter.stop()
        self._rewrite()
        if not self.filter_text:
            self._filter.display = False
        self._view.focus()

    def _matches(self, line: LogLine) -> bool:
        if not self.filter_text:
            return True
        return self.filter_text.lower() in f"{line.level} {line.text}".lower()

    def _rewrite(self) -> None:
        self._view.clear()
        for line in self._kept:
            if self._matches(line):
                self._view.write(self._format_line(line), scroll_end=True)
        self._unseen = 0
        self._say_where()

    def _say_where(self) -> None:
        if self.following:
            self._unseen = 0
        parts = []
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}: {len(self._view.lines):,} lines")
        if self._unseen and not self.following:
            parts.append(f"scrolled back, {self._unseen:,} new · End follows")
        subtitle = " · ".join(parts)
        if subtitle != str(self.border_subtitle or ""):
            self.border_subtitle = subtitle

    def _format_line(self, line: LogLine) -> Text:
        if line.seq == SKIPPED:
            return Text(line.text, style="dim italic")
        colour = theme_colour(self.app, LEVEL_COLOURS.get(line.level, "foreground"))
        text = Text(f"{when(line.ts)} #{line.seq:<7} {line.level:<5} ", style="dim")
        text.append(line.text, style=colour)
        return text
