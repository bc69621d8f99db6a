"""Header: the trading-state badge, market clock, feed and book headline figures.

Colours come from TCSS classes (``-halted``, ``-up``...) so the theme decides
them; this widget only picks classes and text.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from console.panes.common import clock, money, not_finite, signed_money
from core.snapshot import Snapshot

STATES = ("ACTIVE", "REDUCING", "HALTED")
PACE_WINDOW_S = 2.0  # wall seconds over which the market's pace is measured
QUIET_S = 5.0  # wall seconds without a new market time before the header says so


def pct_signed(fraction: float) -> str:
    return not_finite(fraction) or f"{fraction * 100:+.2f}%"


def pace(market_ms_per_s: float) -> str:
    """How fast market time passes on screen: "1.4 days/s" on daily bars,
    "3.2 h/s", or "60x" (market seconds per wall second)."""
    if market_ms_per_s >= 86_400_000:
        return f"{market_ms_per_s / 86_400_000:,.1f} days/s"
    if market_ms_per_s >= 3_600_000:
        return f"{market_ms_per_s / 3_600_000:,.1f} h/s"
    return f"{market_ms_per_s / 1000:,.0f}x"


class StatusHeader(Horizontal):
    """Three lines tall; the badge fills its height so HALTED cannot be missed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._texts: dict[str, str] = {}
        self._clock = clock
        self._mark: tuple[float, int] | None = None  # (wall s, market ms) the pace is measured from
        self._pace = ""
        self._moved: tuple[float, int] = (clock(), -1)  # (wall s, market ms) of the last new market time
        self._shown: tuple[Snapshot, int | None] | None = None
        # held by reference, not queried: cheaper at 10 Hz, and a late timer
        # tick during shutdown updates a detached widget instead of raising
        self._lines = {name: Static("", id=name, markup=False)
                       for name in ("badge", "feed-line", "nav", "pnl", "total", "flags")}

    def compose(self) -> ComposeResult:
        yield self._lines["badge"]
        with Vertical(id="status-lines"):
            yield self._lines["feed-line"]
            with Horizontal(id="book-line"):
                yield self._lines["nav"]
                yield self._lines["pnl"]
                yield self._lines["total"]
            yield self._lines["flags"]

    def apply(self, snap: Snapshot, paused: int | None) -> None:
        """``snap`` is the live snapshot (never frozen); ``paused`` the seq the
        paused tables show, or None while the view follows the engine."""
        self._badge(snap.trading_state)
        compiled = "compiled" if snap.compiled else "interpreted"
        self._set("feed-line", (
            f"session {snap.session_id}  │  {clock(snap.market_ts)} UTC  │  "
            f"speed {snap.speed}{self._measure_pace(snap)}  │  {snap.events_per_s:,.0f} ev/s  │  "
            f"{snap.source}  │  seq {snap.seq:,}  │  {compiled}"
        ))
        self._set("nav", f"NAV {money(snap.risk.nav)}")
        pnl = snap.risk.day_pnl
        self._set("pnl", f"Day P&L {signed_money(pnl)}")
        pnl_widget = self._lines["pnl"]
        pnl_widget.set_class(pnl > 0, "-up")
        pnl_widget.set_class(pnl < 0, "-down")
        self._total(snap)
        self._flags(snap, paused)

    def _total(self, snap: Snapshot) -> None:
        """P&L and return since the session started (from its initial cash)."""
        start = snap.risk.start_nav
        if not start > 0:
            self._set("total", "")
            return
        total = snap.risk.nav - start
        self._set("total", f"Total P&L {signed_money(total)} ({pct_signed(total / start)})")
        widget = self._lines["total"]
        widget.set_class(total > 0, "-up")
        widget.set_class(total < 0, "-down")

    def _measure_pace(self, snap: Snapshot) -> str:
        """The market time passing per wall second, measured: on daily bars a
        "60x" setting moves days a second (gaps are capped when pacing)."""
        now = self._clock()
        if self._mark is None or snap.market_ts < self._mark[1] or snap.finished:
            self._mark, self._pace = (now, snap.market_ts), ""
        elif now - self._mark[0] >= PACE_WINDOW_S:
            rate = (snap.market_ts - self._mark[1]) / (now - self._mark[0])
            self._pace = f" = {pace(rate)}" if rate > 0 else ""
            self._mark = (now, snap.market_ts)
        return self._pace

    def _badge(self, state: str) -> None:
        self._set("badge", state)
        badge = self._lines["badge"]
        for known in STATES:
            badge.set_class(state == known, f"-{known.lower()}")
        self.set_class(state == "HALTED", "-halted")

    def tick(self) -> None:
        """Every view refresh, new snapshot or not: a feed that went quiet
        publishes nothing, so the time since the last price is measured here."""
        if self._shown is not None:
            self._flags(*self._shown)

    def _quiet_s(self, snap: Snapshot) -> float:
        now = self._clock()
        if snap.market_ts != self._moved[1]:
            self._moved = (now, snap.market_ts)
        return now - self._moved[0]

    def _flags(self, snap: Snapshot, paused: int | None) -> None:
        self._shown = (snap, paused)
        flags = [] if paused is None else [f"VIEW PAUSED: tables frozen at seq {paused:,} (p resumes)"]
        flags += ["FEED ENDED"] * snap.finished
        quiet = self._quiet_s(snap)
        if quiet >= QUIET_S and not snap.finished and not snap.error:
            flags.append(f"NO NEW PRICE FOR {quiet:,.0f} s")
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
