"""Venue mode at the session's edge: accepted orders out to the venue, its
reports back in as logged ``VenueReport`` inputs.

The engine decides; this only carries. ``after_step`` runs after the
session has written (and, for a new order, flushed) the engine's decisions,
so an order is durable in the log before the venue sees it. It sends each
``OrderAccepted`` with a client order id made from the session and the
order's seq (a resumed session asks the venue for that id before sending,
so nothing is sent twice), and a cancel for each order the engine
cancelled or expired. What the venue answers, now or at a later poll of
the orders still open, is queued; ``take_inputs`` hands it to the session
as ``VenueReport`` inputs at the engine's current market time, the next
event boundary, where they are logged and replay feeds them back. The
polls are paced by the wall clock: that is I/O at the edge, never inside
the engine. A venue that fails (network, keys) raises ``VenueError``; the
session stops with its one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.events import OrderAccepted, OrderCancelled, OrderExpired, VenueReport
from core.venues.base import ExecReport, OrderRequest, client_order_id


class VenueExecution:
    def __init__(self, client: Any, session_id: str, poll_s: float = 2.0, resumed: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.session_id = session_id
        self.poll_s = poll_s
        self.resumed = resumed  # look each order up at the venue before sending it
        self.clock = clock
        self.open: dict[int, tuple[str, str]] = {}  # order id -> (client id, symbol)
        self.by_client: dict[str, int] = {}
        self.queue: list[ExecReport] = []
        self.next_poll = 0.0
        self.sent = 0

    def adopt(self, open_orders: dict[int, Any]) -> None:
        """A resumed session's open orders (the engine's broker, rebuilt from
        the log): their reports are polled; nothing is sent again."""
        for oid, o in open_orders.items():
            cid = client_order_id(self.session_id, oid)
            self.open[oid] = (cid, o.symbol)
            self.by_client[cid] = oid

    def after_step(self, base: int, out: list[object]) -> None:
        for i, e in enumerate(out):
            if isinstance(e, OrderAccepted):
                self.send(base + i, e)
            elif isinstance(e, (OrderCancelled, OrderExpired)) and e.order_id in self.open \
                    and not e.reason.startswith("venue "):
                cid, sym = self.open[e.order_id]
                self.queue.extend(self.client.cancel(cid, sym))

    def send(self, order_id: int, e: OrderAccepted) -> None:
        cid = client_order_id(self.session_id, order_id)
        self.open[order_id] = (cid, e.symbol)
        self.by_client[cid] = order_id
        req = OrderRequest(cid, e.symbol, e.qty, "limit" if e.order_type == "limit" else "market", e.limit)
        self.queue.extend(self.client.submit(req, look_up_first=self.resumed))
        self.sent += 1

    def take_inputs(self, ts: int) -> list[VenueReport]:
        """The venue's news as inputs at market time ``ts`` (polling the open
        orders when ``poll_s`` has passed)."""
        now = self.clock()
        if self.open and now >= self.next_poll:
            self.next_poll = now + self.poll_s
            for cid, sym in list(self.open.values()):
                self.queue.extend(self.client.order_status(cid, sym))
        if not self.queue:
            return []
        out: list[VenueReport] = []
        for r in self.queue:
            oid = self.by_client.get(r.client_id)
            if oid is None:
                continue  # not one of ours (reconciliation reports those)
            out.append(VenueReport(ts, r.symbol or self.open.get(oid, ("", ""))[1], r.kind, oid, r.qty, r.price,
                                   r.commission, r.remaining, r.venue_id, r.reason))
            if r.kind in ("cancel", "expire", "reject") or r.kind == "fill" and r.remaining == 0.0:
                self.open.pop(oid, None)
        self.queue = []
        return out
