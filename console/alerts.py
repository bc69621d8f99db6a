"""Alerts: what the operator must not miss, from the *live* snapshot.

The app feeds every new snapshot here whether or not the view is paused
(pausing freezes tables, never the trading state or the alerts). A trip or a
halt becomes an ``Alert`` in a history the operator can scroll (``a``), rings
the terminal bell, and keeps a banner up until trading is ACTIVE again and no
breaker is tripped. Alerts come from the snapshot's "alert" log lines; a trip
whose line scrolled out of the capped snapshot log between two reads is still
caught from the breaker rows (``last_trip_ts`` changes on every trip).
"""

from __future__ import annotations

from dataclasses import dataclass

from console.panes.common import when
from core.snapshot import Snapshot

MAX_HISTORY = 500


@dataclass(frozen=True, slots=True)
class Alert:
    seq: int
    ts: int  # market ms
    text: str  # "BREAKER daily_loss ARMED -> TRIPPED: ...", "STATE ACTIVE -> HALTED: operator key h"

    @property
    def rings(self) -> bool:
        """Whether it should ring the bell: a trip, a halt, a move to reduce-only,
        a fault; not a return to ACTIVE."""
        return not self.text.endswith("-> ACTIVE") and "-> ACTIVE:" not in self.text


class AlertTracker:
    """History of alerts and the banner text, fed one live snapshot at a time."""

    def __init__(self) -> None:
        self.history: list[Alert] = []
        self._last_seq = -1
        self._trips: dict[str, int] = {}  # breaker -> last_trip_ts already alerted

    def update(self, snap: Snapshot) -> list[Alert]:
        """The alerts that are new in ``snap`` (oldest first), also added to the history."""
        new = [Alert(line.seq, line.ts, line.text) for line in snap.log
               if line.seq > self._last_seq and line.level == "alert"]
        if snap.log:
            self._last_seq = max(self._last_seq, snap.log[-1].seq)
        for b in snap.breakers:
            if b.state != "TRIPPED" or self._trips.get(b.name) == b.last_trip_ts:
                continue
            self._trips[b.name] = b.last_trip_ts
            if not any(f"BREAKER {b.name} " in a.text for a in new):
                new.append(Alert(snap.seq, b.last_trip_ts, f"BREAKER {b.name} -> TRIPPED: {b.reason}"))
        self.history.extend(new)
        del self.history[:-MAX_HISTORY]
        return new

    def banner(self, snap: Snapshot) -> str:
        """The sticky banner (what, since when, why and who, the key to act),
        or "" when there is nothing to act on."""
        tripped = [b for b in snap.breakers if b.state == "TRIPPED"]
        if snap.trading_state == "ACTIVE" and not tripped:
            return ""
        keys = "r resume (resets tripped) · b reset one" if snap.trading_state != "ACTIVE" else "b reset breaker"
        text = f"{snap.trading_state}  {keys} · a alerts  │"
        cause = self._last_state_change(snap.trading_state)
        if cause is not None:
            text += f"  since {when(cause.ts, full=True)}: {cause.text.split(': ', 1)[-1]}"
        others = [b for b in tripped if cause is None or f"breaker {b.name} " not in cause.text]
        if others:
            text += "  tripped: " + "; ".join(
                f"{b.name} {when(b.last_trip_ts, full=True)}: {b.reason}" for b in others)
        return text

    def _last_state_change(self, state: str) -> Alert | None:
        for a in reversed(self.history):
            if a.text.startswith("STATE ") and f"-> {state}" in a.text:
                return a
        return None
