"""Reconciliation: the book the log says we hold against what the venue says.

On start and on ``--resume`` of a venue session, the venue's positions,
open orders and balances are fetched (``ExecutionClient.positions`` /
``open_orders`` / ``balances``) and compared with the logged book. Every
difference is one ``Mismatch`` with a one-line text for the console and the
log; trading stays halted until the operator accepts them or a re-run finds
them resolved (the caller's job: console/venue_session.py).

Holdings the console does not manage (a position that was there before the
session, accepted by the operator) are ``outside``: the venue is expected to
hold the log's book plus them. Balances are expected to be the last logged
balance plus the cash flows of the fills logged after it, within a slack
for fees charged in another asset (``FEE_SLACK`` of the traded volume).

Pure: no I/O, no clock. Positions opened outside the console (a manual
trade in the venue's app) and orders the console did not send show up
here, never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from core.venues.base import BalanceReport, ExecReport, PositionReport

FEE_SLACK = 0.002  # of the traded volume since the last logged balance: fees taken in another asset


class Mismatch(NamedTuple):
    """``what``: position, order_missing (open in the log, not at the venue),
    order_foreign (open at the venue, not sent by this session), order_size,
    balance."""

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
              lots: Mapping[str, float] | None = None, symbols: Iterable[str] = (),
              outside: Mapping[str, float] | None = None,
              traded: Mapping[str, float] | None = None) -> list[Mismatch]:
    """Differences between the logged book and the venue's.

    ``book``: symbol -> signed units the log holds; ``orders``: client order
    id -> (symbol, signed units still open) for this session's open orders;
    ``lots``: symbol -> the smallest tradable size (a difference below half a
    lot is rounding, not a mismatch); ``symbols``: the session's symbols
    (positions elsewhere in the account are not the session's business);
    ``outside``: symbol -> signed units the venue holds beyond the log's book
    that the operator has accepted (the venue should hold book + outside);
    ``traded``: symbol -> units traded since the last reconciliation (a
    venue that takes its fee in the bought asset holds a little less than
    the fills say: ``FEE_SLACK`` of it is allowed)."""
    lots = lots or {}
    outside = outside or {}
    traded = traded or {}
    scope = set(symbols) or set(book)
    theirs_pos: dict[str, float] = {}
    for p in positions:
        if p.symbol in scope or p.symbol in book:
            theirs_pos[p.symbol] = theirs_pos.get(p.symbol, 0.0) + p.qty
    out: list[Mismatch] = []
    for sym in sorted(set(book) | set(theirs_pos) | {s for s, q in outside.items() if q}):
        held, extra, theirs = book.get(sym, 0.0), outside.get(sym, 0.0), theirs_pos.get(sym, 0.0)
        ours = held + extra
        if abs(ours - theirs) > lots.get(sym, 0.0) / 2 + FEE_SLACK * traded.get(sym, 0.0) + 1e-12:
            why = " (opened outside the console?)" if ours == 0.0 else ""
            plus = f" plus {_fmt(extra)} accepted from outside" if extra else ""
            out.append(Mismatch("position", sym, "", ours, theirs,
                                f"{sym}: the log holds {_fmt(held)}{plus}, {venue} holds {_fmt(theirs)}{why}"))
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


def expected_balances(last: Mapping[str, float], fills: Iterable[tuple[str, float, float, float]],
                      quote_of: Mapping[str, str] | None = None) -> dict[str, tuple[float, float]]:
    """asset -> (expected total, tolerance) from the last logged balances
    (asset -> total) and the fills logged after them ((symbol, signed
    units, price, fee in the quote currency)). A ``BASE/QUOTE`` symbol moves
    both assets; another symbol (a stock) moves only its quote currency
    (``quote_of[symbol]``, default USD: the stock itself is a position)."""
    quote_of = quote_of or {}
    want = dict(last)
    volume: dict[str, float] = {}
    for sym, qty, price, fee in fills:
        base, quote = (sym.split("/")[0], sym.split("/")[1].split(":")[0]) if "/" in sym \
            else ("", quote_of.get(sym, "USD"))
        flows = [(quote, -qty * price - fee)] + ([(base, qty)] if base else [])
        for asset, flow in flows:
            want[asset] = want.get(asset, 0.0) + flow
            volume[asset] = volume.get(asset, 0.0) + abs(flow)
    return {a: (v, FEE_SLACK * volume.get(a, 0.0) + 1e-6 * abs(v) + 1e-8) for a, v in want.items()}


def reconcile_balances(venue: str, expected: Mapping[str, tuple[float, float]],
                       balances: Iterable[BalanceReport]) -> list[Mismatch]:
    """Differences between the balances the log implies (``expected_balances``)
    and the venue's. Only assets the log has seen are compared: an asset it
    never logged is the account's business, not this session's."""
    theirs = {b.asset: b.total for b in balances}
    out: list[Mismatch] = []
    for asset, (want, tol) in sorted(expected.items()):
        got = theirs.get(asset, 0.0)
        if abs(got - want) > tol:
            out.append(Mismatch("balance", asset, "", want, got,
                                f"{asset} balance: the log implies {want:.10g}, {venue} reports {got:.10g}"))
    return out
