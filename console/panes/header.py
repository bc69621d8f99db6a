"""Header: the trading-state badge, market clock, feed and book headline figures.

Colours come from TCSS classes (``-halted``, ``-up``...) so the theme decides
them; this widget only picks classes and text.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from console.panes.common import clock, money, signed_money
from core.snapshot import Snapshot

STATES = ("ACTIVE", "REDUCING", "HALTED")


class StatusHeader(Horizontal):
    """Three lines tall; the badge fills its height so HALTED cannot be missed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._texts: dict[str, str] = {}
        # held by reference, not queried: cheaper at 10 Hz, and a late timer
        # tick during shutdown updates a detached widget instead of raising
        self._lines = {name: Static("", id=name, markup=False)
                       for name in ("badge", "feed-line", "nav", "pnl", "flags")}

    def compose(self) -> ComposeResult:
        yield self._lines["badge"]
        with Vertical(id="status-lines"):
            yield self._lines["feed-line"]
            with Horizontal(id="book-line"):
                yield self._lines["nav"]
                yield self._lines["pnl"]
            yield self._lines["flags"]

    def apply(self, snap: Snapshot, paused: int | None) -> None:
        """``snap`` is the live snapshot (never frozen); ``paused`` the seq the
        paused tables show, or None while the view follows the engine."""
        self._badge(snap.trading_state)
        compiled = "compiled" if snap.compiled else "interpreted"
        self._set("feed-line", (
            f"session {snap.session_id}  │  {clock(snap.market_ts)} UTC  │  "
            f"speed {snap.speed}  │  {snap.events_per_s:,.0f} ev/s  │  "
            f"{snap.source}  │  seq {snap.seq:,}  │  {compiled}"
        ))
        self._set("nav", f"NAV {money(snap.risk.nav)}")
        pnl = snap.risk.day_pnl
        self._set("pnl", f"Day P&L {signed_money(pnl)}")
        pnl_widget = self._lines["pnl"]
        pnl_widget.set_class(pnl > 0, "-up")
        pnl_widget.set_class(pnl < 0, "-down")
        self._flags(snap, paused)

    def _badge(self, state: str) -> None:
        self._set("badge", state)
        badge = self._lines["badge"]
        for known in STATES:
            badge.set_class(state == known, f"-{known.lower()}")
        self.set_class(state == "HALTED", "-halted")

    def _flags(self, snap: Snapshot, paused: int | None) -> None:
        flags = [] if paused is None else [f"VIEW PAUSED: tables frozen at seq {paused:,} (p resumes)"]
        flags += ["FEED ENDED"] * snap.finished
        if snap.error:
            flags.append(f"ERROR: {snap.error}")
        self._set("flags", "  ·  ".join(flags))
        flag_widget = self._lines["flags"]
        flag_widget.set_class(bool(snap.error), "-error")
        flag_widget.set_class(bool(flags) and not snap.error, "-notice")

    def _set(self, name: str, text: str) -> None:
        # Static.update re-lays out; skip it when the text has not changed
        if self._texts.get(name) != text:
            self._lines[name].update(text)
            self._texts[name] = text
