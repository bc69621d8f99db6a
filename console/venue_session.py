"""Venue mode around a session: the execution client on its own thread,
reconciliation at start and at resume, and a clean end.

Reconciliation (``reconcile_now``) runs before the feed's first event, on
the engine's thread (nothing trades yet, so the wait is harmless). At a
resume it first asks the venue what became of every order the log holds
open (fills while we were away are booked), and cancels any order of this
session the log has ended but the venue still holds open (a cancel a crash
kept from being sent). Then it fetches the venue's
positions, open orders and balances and compares them with the log
(``core.venues.reconcile``). Everything it learns enters as logged
``venue_report`` inputs, so ``console replay`` sees it:

``position``  per session symbol: ``qty`` what the venue holds, ``price``
              its average price, ``remaining`` the part outside the log's
              book (accepted at the next resume, see below)
``balance``   per asset: ``qty`` total, ``remaining`` free
``open_order`` per order open at the venue: ``remaining``, ``venue_id``,
              ``reason`` its client order id
``mismatch``  per difference: ``qty`` the venue's figure, ``remaining`` the
              log's, ``reason`` the one-line text
``reconciled`` the outcome: ``qty`` the number of differences

Any difference halts the session: an operator-style ``halt`` command
(``who="venue reconciliation"``) whose reason names each one, logged, shown
in the log pane and alerted like every state change. Trading stays HALTED
until the operator accepts: ``resume`` (the ``r`` key, or ``console resume
ID --reason "..."``), logged with who and why. What the venue held beyond
the log's book at that reconciliation is then taken as outside the console
(the ``position`` rows' ``remaining``): the next reconciliation expects the
venue to hold the log's book plus it, and flags only what changed since.
"""

from __future__ import annotations

import json
from typing import Any

from core.events import Command, VenueReport
from core.venues.base import BalanceReport, VenueSpec, client_order_id
from core.venues.execution import VenueExecution, balance_report
from core.venues.reconcile import Mismatch, expected_balances, reconcile, reconcile_balances

WHO = "venue reconciliation"
REASON_MAX = 900  # characters of differences in the halt's reason; the rest are in the mismatch rows


class VenueState:
    """What the venue says now (fetched at the session edge)."""

    def __init__(self, client: Any, symbols: tuple[str, ...]) -> None:
        self.positions = client.positions()
        self.open_orders = client.open_orders(symbols)
        got = client.balances()
        have = {b.asset for b in got}
        # the session's own assets, also at zero: a later change from zero is then a difference
        mine = sorted({a for s in symbols if "/" in s for a in (s.split("/")[0], s.split("/")[1].split(":")[0])})
        self.balances: list[BalanceReport] = sorted(got + [BalanceReport(a, 0.0, 0.0) for a in mine
                                                           if a not in have])


class Logged:
    """What the log says of the venue (a resume): the holdings accepted as
    outside the console, the last balances and the fills after them."""

    def __init__(self, rdb: Any = None, sid: str = "") -> None:
        self.outside: dict[str, float] = {}
        self.checked: dict[str, int] = {}  # symbol -> seq of its last position row
        self.balances: dict[str, tuple[int, float]] = {}  # asset -> (seq, total)
        self.fills: list[tuple[int, str, float, float, float]] = []  # (seq, symbol, qty, price, fee)
        if rdb is None:
            return
        rows = rdb.execute("select seq, kind, symbol, payload from events where session = ? and kind in "
                           "('venue_report', 'fill') order by seq", [sid])
        for seq, kind, sym, payload in rows:
            p = json.loads(payload)  # ts and symbol are columns, not in the payload
            if kind == "fill":
                self.fills.append((seq, str(sym), float(p["qty"]), float(p["price"]), float(p["commission"])))
            elif p.get("kind") == "position":
                self.outside[str(sym)] = float(p["remaining"])
                self.checked[str(sym)] = seq
            elif p.get("kind") == "balance":
                self.balances[str(sym)] = (seq, float(p["qty"]))

    def traded(self) -> dict[str, float]:
        """symbol -> units traded since its last reconciliation."""
        out: dict[str, float] = {}
        for n, s, q, _p, _f in self.fills:
            if n > self.checked.get(s, 0):
                out[s] = out.get(s, 0.0) + abs(q)
        return out

    def expected(self, quote: str) -> dict[str, tuple[float, float]]:
        """asset -> (expected total, tolerance): each asset's last logged
        balance moved by the fills logged after it."""
        out: dict[str, tuple[float, float]] = {}
        for asset, (seq, total) in self.balances.items():
            since = [(s, q, p, f) for n, s, q, p, f in self.fills if n > seq]
            out[asset] = expected_balances({asset: total}, since, {s: quote for _n, s, *_ in self.fills})[asset]
        return out


def execution(spec: VenueSpec, session: Any, client: Any) -> VenueExecution:
    """The session's venue execution (not started)."""
    def halt(reason: str, who: str) -> None:
        session.submit("halt", reason=reason, who=who)

    ex = VenueExecution(client, session.session_id, spec.poll_s, balance_s=spec.balance_s,
                        stale_s=spec.stale_s, symbols=spec.symbols, halt=halt)
    session.venue = ex
    return ex


def reconcile_now(session: Any, ex: VenueExecution, spec: VenueSpec, lots: dict[str, float],
                  logged: Logged, at: str, state: VenueState | None = None) -> list[Mismatch]:
    """Compare, log every finding as an input, halt on a difference.
    ``at``: "start" or "resume". Raises ``VenueError`` (one line) if the
    venue cannot answer."""
    eng = session.engine
    client = ex.client
    if at == "resume":  # what became of the orders the log holds open
        ex.adopt(eng.broker.open, watch=False)
        for oid, (cid, sym) in sorted(ex.open.items()):
            for r in client.order_status(cid, sym):
                ex.results.put(("report", r))
        # an order the log ended (a halt's cancel, an expiry) that a crash kept from the venue: cancel it now
        for o in client.open_orders(spec.symbols):
            oid = ex.order_id(o.client_id)
            if oid and oid not in eng.broker.open:
                ex.by_client.setdefault(o.client_id, oid)
                for r in client.cancel(o.client_id, o.symbol):
                    ex.results.put(("report", r))
        for r in ex.take_inputs(eng.ts):
            session.step(r)
        ex.adopt(eng.broker.open)  # the ones still open: polled from here on, never re-sent
    if state is None:
        state = VenueState(client, spec.symbols)
    sid = session.session_id
    book = {s: eng.portfolio.qty(s) for s in spec.symbols if eng.portfolio.qty(s) != 0.0}
    ours = {client_order_id(sid, oid): (o.symbol, o.qty - o.filled) for oid, o in eng.broker.open.items()}
    diffs = reconcile(spec.name, book, ours, state.positions, state.open_orders, lots, spec.symbols,
                      logged.outside, logged.traded())
    diffs += reconcile_balances(spec.name, logged.expected(_quote(spec)), state.balances)
    ts = eng.ts
    held = {p.symbol: p for p in state.positions}
    inputs: list[VenueReport] = []
    for s in spec.symbols:
        p = held.get(s)
        qty = p.qty if p is not None else 0.0
        inputs.append(VenueReport(ts, s, "position", 0, qty, p.avg_price if p is not None else 0.0, 0.0,
                                  qty - book.get(s, 0.0), "", f"{spec.name} at {at}"))
    inputs += [balance_report(ts, b, f"{spec.name} at {at}") for b in state.balances]
    for o in state.open_orders:
        oid = ex.order_id(o.client_id)
        inputs.append(VenueReport(ts, o.symbol, "open_order", oid, 0.0, o.price, 0.0, o.remaining, o.venue_id,
                                  o.client_id))
    for d in diffs:
        inputs.append(VenueReport(ts, d.symbol, "mismatch", 0, d.theirs, 0.0, 0.0, d.ours, d.ref, d.text))
    outcome = f"{len(diffs)} difference(s)" if diffs else "no differences"
    inputs.append(VenueReport(ts, "", "reconciled", 0, float(len(diffs)), 0.0, 0.0, 0.0, "",
                              f"{spec.name} at {at}: {outcome}"))
    for r in inputs:
        session.step(r)
    ex.seed_balances(state.balances)
    if diffs:
        session.step(Command(ts, "", "halt", "", halt_reason(spec.name, at, diffs), WHO))
    session.sink.flush()
    return diffs


def halt_reason(venue: str, at: str, diffs: list[Mismatch]) -> str:
    head = f"reconciliation with {venue} at {at}: {len(diffs)} difference(s): "
    tail = "; resume to accept them"
    parts: list[str] = []
    used = len(head) + len(tail)
    for i, d in enumerate(diffs):
        if used + len(d.text) + 2 > REASON_MAX:
            parts.append(f"and {len(diffs) - i} more (the mismatch rows)")
            break
        parts.append(d.text)
        used += len(d.text) + 2
    return head + "; ".join(parts) + tail


def _quote(spec: VenueSpec) -> str:
    """The account currency of a symbol without a quote (a stock)."""
    return "USD"


class VenueWriter:
    """The session's log writer, with the venue's end first: on close, what
    the venue thread still has to do (an order accepted in the last step)
    is done, within a bound, and its reports are logged before the log
    closes. (A ``Session.run`` hook would be the cleaner home; the lead's.)"""

    def __init__(self, inner: Any, session: Any, ex: VenueExecution, timeout_s: float) -> None:
        self.inner = inner
        self.session = session
        self.ex = ex
        self.timeout_s = timeout_s
        self.write = inner.write
        self.flush = inner.flush

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self, clean: bool) -> None:
        try:
            if self.ex.drain(self.timeout_s):
                for r in self.ex.take_inputs(self.session.engine.ts):
                    self.session.step(r)
        except Exception as exc:  # the venue's last word is lost, the log still closes
            self.session.error = self.session.error or f"session stopped: {exc}"
            clean = False
        finally:
            self.ex.close()
            self.inner.close(clean)


def wire(session: Any, writer: Any, ex: VenueExecution, spec: VenueSpec) -> VenueWriter:
    """Start the venue thread; the returned writer finishes it at close."""
    vw = VenueWriter(writer, session, ex, 2 * spec.timeout_s)
    if session.sink is writer:
        session.sink = vw
    ex.start()
    return vw
