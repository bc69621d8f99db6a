"""Log pane: a capped RichLog fed the snapshot's log lines it has not shown yet."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from console.panes.common import clock, theme_colour
from core.snapshot import LogLine, Snapshot

# level -> theme variable colouring it; unknown levels use the foreground
LEVEL_COLOURS = {"info": "foreground", "trade": "accent", "warn": "warning", "alert": "error"}
# Lines written per refresh. Each RichLog.write renders its line (~0.4 ms);
# at a full-speed feed a snapshot brings ~200 new lines, and writing them all
# took 90 ms of the UI thread per refresh and delayed key presses by ~1 s.
# Nobody reads 2,000 lines a second: show the newest, say how many were
# skipped (alerts are always shown), and leave the rest to the database.
MAX_LINES_PER_REFRESH = 25


class LogPane(RichLog):
    """Appends lines with seq above the last shown; keeps at most ``max_lines``.

    ``snapshot.log`` holds only the newest ~200 lines, so after a long view
    pause (or at very high rates) some lines between two snapshots are never
    shown here; the session log in SQLite has them all.
    """

    def __init__(self, max_lines: int = 1000, **kwargs: object) -> None:
        super().__init__(max_lines=max_lines, wrap=False, markup=False, **kwargs)  # type: ignore[arg-type]
        self.border_title = "Log"
        self.last_seq = -1

    def apply(self, snap: Snapshot) -> None:
        fresh = [line for line in snap.log if line.seq > self.last_seq]
        if not fresh:
            return
        self.last_seq = fresh[-1].seq
        shown = fresh[-MAX_LINES_PER_REFRESH:]
        skipped = fresh[:-MAX_LINES_PER_REFRESH]
        alerts = [line for line in skipped if line.level == "alert"]
        if len(skipped) > len(alerts):
            note = Text(f"… {len(skipped) - len(alerts)} more lines (all in the session log)", style="dim italic")
            self.write(note)
        for line in alerts + shown:
            self.write(self._format_line(line))

    def restyle(self) -> None:
        """Lines already written keep their colours; new ones use the new theme."""

    def _format_line(self, line: LogLine) -> Text:
        colour = theme_colour(self.app, LEVEL_COLOURS.get(line.level, "foreground"))
        text = Text(f"{clock(line.ts)[11:]} #{line.seq:<7} {line.level:<5} ", style="dim")
        text.append(line.text, style=colour)
        return text
