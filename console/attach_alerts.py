"""Alerts in a console attached to an engine: the bell and a notice for each
alert the engine broadcasts, and ``A`` (shift+a) to acknowledge them.

The engine sends every alert it raises to each attached console (an
``{"alert": ...}`` line on the subscription, console.control). The reader
thread only queues it; the app's own refresh tick (its thread) shows it, so
nothing here blocks the reader or reaches into the UI from another thread.
Trips, halts and state changes already ring from the snapshot's alert lines
(console/alerts.py), so for those the bell is not rung twice; the rest (a
stale feed, a venue burst, an unclean stop, a re-sent unacknowledged alert)
ring here. ``A`` acknowledges every open alert of the engine (logged with who
and when; a read-only console cannot, ``console ack`` can).
"""

from __future__ import annotations

import collections
import threading
from typing import Any

ACK_KEY = "A"  # shift+a: `a` shows the alert history, `A` acknowledges (k blocks a symbol)
RUNG_BY_SNAPSHOT = ("trip", "warning", "halt", "state")
SEVERITY = {"info": "information", "warning": "warning", "critical": "error"}


class AlertFeed:
    """Between the reader thread (``arrived``) and the app's tick (``drain``)."""

    def __init__(self) -> None:
        self.pending: collections.deque[tuple[str, Any]] = collections.deque(maxlen=200)
        self.shown: list[dict[str, Any]] = []
        self.rung = 0

    def arrived(self, alert: dict[str, Any]) -> None:
        self.pending.append(("alert", alert))

    def said(self, text: str, error: bool = False) -> None:
        self.pending.append(("note", (text, error)))

    def drain(self, app: Any) -> None:
        while self.pending:
            what, item = self.pending.popleft()
            if what == "note":
                text, error = item
                app.notify(text, title="Alerts", severity="error" if error else "information", timeout=10)
                continue
            self.shown.append(item)
            if item.get("kind") not in RUNG_BY_SNAPSHOT or item.get("escalation"):
                self.rung += 1
                app.bell()
            again = f" (not acknowledged, sent again {item['escalation']}x)" if item.get("escalation") else ""
            app.notify(f"{item.get('text', '')}{again}\nack: {ACK_KEY}, or console ack {item.get('id')}",
                       title=f"Alert {item.get('id')}: {item.get('kind')}",
                       severity=SEVERITY.get(str(item.get("severity")), "warning"), timeout=30)


def wire(app: Any, remote: Any) -> AlertFeed:
    """Before ``app.run()``: alerts from ``remote`` (console.control.AttachedSession) show in ``app``,
    and ``A`` acknowledges them."""
    feed = AlertFeed()
    remote.on_alert = feed.arrived
    tick = app.refresh_view  # the app's refresh timer is set on mount from this attribute

    def refresh_view() -> None:
        tick()
        feed.drain(app)

    def action_ack_alerts() -> None:
        def send() -> None:
            reply = remote.ack(None)
            if reply.get("ok"):
                acked = reply.get("acked") or []
                feed.said(f"acknowledged alert(s) {', '.join(map(str, acked))}" if acked else "no open alert")
            else:
                feed.said(f"not acknowledged: {reply.get('error')}", error=True)

        threading.Thread(target=send, name="ack", daemon=True).start()

    app.refresh_view = refresh_view
    app.action_ack_alerts = action_ack_alerts
    app._bindings.bind(ACK_KEY, "ack_alerts", "Ack alerts", show=False)
    return feed
