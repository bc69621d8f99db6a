"""Reconciliation: the book the log says we hold against what the venue says.

On start and on ``--resume`` of a venue session, the venue's positions and
open orders are fetched (``ExecutionClient.positions`` / ``open_orders``)
and compared with the logged book. Every difference is one ``Mismatch``
with a one-line text for the console and the log; trading stays halted
until the operator accepts them or they resolve (the caller's job).

Pure: no I/O, no clock. Positions opened outside the console (a manual
trade in the venue's app) and orders the console did not send show up
here, never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from core.venues.base import ExecReport, PositionReport


class Mismatch(NamedTuple):
    """``what``: position, order_missing (open in the log, not at the venue),
    order_foreign (open at the venue, not sent by this session), order_size."""

    what: str
    symbol: str
    ref: str  # the client order id, for orders
    ours: float
    theirs: float
    text: str


def _fmt(x: float) -> str:
    return f"{x:+.10g}"


def reconcile(venue: str, book: Mapping[str, float], orders: Mapping[str, tuple[str, float]],
              positions: Iterable[PositionReport], open_orders: Iterable[ExecReport],
              lots: Mapping[str, float] | None = None, symbols: Iterable[str] = ()) -> list[Mismatch]:
    """Differences between the logged book and the venue's.

    ``book``: symbol -> signed units the log holds; ``orders``: client order
    id -> (symbol, signed units still open) for this session's open orders;
    ``lots``: symbol -> the smallest tradable size (a difference below half a
    lot is rounding, not a mismatch); ``symbols``: the session's symbols
    (positions elsewhere in the account are not the session's business)."""
    lots = lots or {}
    scope = set(symbols) or set(book)
    theirs_pos: dict[str, float] = {}
    for p in positions:
        if p.symbol in scope or p.symbol in book:
            theirs_pos[p.symbol] = theirs_pos.get(p.symbol, 0.0) + p.qty
    out: list[Mismatch] = []
    for sym in sorted(set(book) | set(theirs_pos)):
        ours, theirs = book.get(sym, 0.0), theirs_pos.get(sym, 0.0)
        if abs(ours - theirs) > lots.get(sym, 0.0) / 2 + 1e-12:
            why = " (opened outside the console?)" if ours == 0.0 else ""
            out.append(Mismatch("position", sym, "", ours, theirs,
                                f"{sym}: the log holds {_fmt(ours)}, {venue} holds {_fmt(theirs)}{why}"))
    at_venue = {o.client_id: o for o in open_orders}
    for cid, (sym, rem) in sorted(orders.items()):
        o = at_venue.get(cid)
        if o is None:
            out.append(Mismatch("order_missing", sym, cid, rem, 0.0,
                                f"order {cid} ({sym} {_fmt(rem)}) is open in the log but not at {venue}"))
        elif abs(o.remaining - rem) > lots.get(sym, 0.0) / 2 + 1e-12:
            out.append(Mismatch("order_size", sym, cid, rem, o.remaining,
                                f"order {cid} ({sym}): {_fmt(rem)} open in the log, {_fmt(o.remaining)} at {venue}"))
    for cid, o in sorted(at_venue.items()):
        if cid not in orders and (o.symbol in scope or not scope):
            out.append(Mismatch("order_foreign", o.symbol, cid or o.venue_id, 0.0, o.remaining,
                                f"an open {o.symbol} order at {venue} ({_fmt(o.remaining)}, id "
                                f"{cid or o.venue_id}) that this session did not send"))
    return out
