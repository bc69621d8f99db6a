"""Venue mode around a session: the execution client on its own thread,
reconciliation at start, at resume and while it keeps the session halted,
and a clean end.

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
until the operator accepts, or until it resolves:

- *Accept*: the operator's ``resume`` (the ``r`` key, or ``console resume
  ID --reason "..."``), logged with who and why. What the venue held beyond
  the log's book at that reconciliation is then taken as outside the console
  (the ``position`` rows' ``remaining``): the next reconciliation expects the
  venue to hold the log's book plus it, and flags only what changed since.
  Until accepted, the reconciliations compare with the log as it stood
  before the one that halted (``Logged.baseline``), also across restarts.
- *Resolve*: while the halt in force is reconciliation's (not the
  operator's, a breaker's or the venue watchdog's: ``Logged.halt_by``, and
  no breaker tripped), the reconciliation re-runs every ``reconcile_s``
  seconds: the venue thread reads the account, the comparison runs on the
  engine's thread at an event boundary (``Reconciler.on_state``). When it
  finds no differences, its rows are logged and then a ``resume`` command
  from ``who="venue reconciliation"`` whose reason says what resolved. A
  resume that finds no differences while reconciliation's halt is in force
  (it resolved while the console was down) resumes the same way.
  *Flooding*: a re-run that still finds differences logs its rows (the
  full set above, no new halt) only when the set of differences changed
  since the last logged reconciliation (their texts, so a balance that
  moves again is news); an unchanged set logs nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.codec import from_row
from core.events import Command, Fill, StateChanged, VenueReport
from core.state import HALTED
from core.venues.base import BalanceReport, VenueSpec, client_order_id
from core.venues.execution import VenueExecution, balance_report
from core.venues.reconcile import Mismatch, expected_balances, reconcile, reconcile_balances

WHO = "venue reconciliation"
REASON_MAX = 900  # characters of differences in the halt's reason; the rest are in the mismatch rows
BREAKER = "engine"  # Logged.halt_by of a halt no command caused (a breaker's trip)


class VenueState:
    """What the venue says now (fetched at the session edge, or by the
    venue thread for a re-run)."""

    def __init__(self, client: Any, symbols: tuple[str, ...]) -> None:
        self.positions = client.positions()
        self.open_orders = client.open_orders(symbols)
        got = client.balances()
        have = {b.asset for b in got}
        # the session's own assets, also at zero: a later change from zero is then a difference
        mine = sorted({a for s in symbols if "/" in s for a in (s.split("/")[0], s.split("/")[1].split(":")[0])})
        self.balances: list[BalanceReport] = sorted(got + [BalanceReport(a, 0.0, 0.0) for a in mine
                                                           if a not in have])


class Baseline:
    """What a reconciliation compares with: the holdings accepted as outside
    the console, the seq of each symbol's last position row, and the last
    balance rows."""

    def __init__(self) -> None:
        self.outside: dict[str, float] = {}
        self.checked: dict[str, int] = {}  # symbol -> seq of its last position row
        self.balances: dict[str, tuple[int, float]] = {}  # asset -> (seq, total)

    def copy(self) -> Baseline:
        b = Baseline()
        b.outside, b.checked, b.balances = dict(self.outside), dict(self.checked), dict(self.balances)
        return b


class Logged:
    """What the log says of the venue, from the log (a resume: ``rdb``) and
    then kept up to date from every step the session logs (``feed``).

    ``now`` is the log as it stands; ``frozen`` the log as it stood before
    the reconciliation whose halt is not yet accepted or resolved (None
    without one); ``baseline()`` the one to compare with. ``halt_by``: who
    halted the session, when it is HALTED (the halt command's ``who``, or
    ``BREAKER``); a halt command from anyone else while halted takes the
    halt over. ``diffs``: the differences the last logged reconciliation
    found (texts)."""

    def __init__(self, rdb: Any = None, sid: str = "") -> None:
        self.now = Baseline()
        self.frozen: Baseline | None = None
        self.block: Baseline | None = None  # the log before the reconciliation being logged
        self.block_diffs: list[str] = []
        self.diffs: tuple[str, ...] = ()
        self.fills: list[tuple[int, str, float, float, float]] = []  # (seq, symbol, qty, price, fee)
        self.state = "ACTIVE"
        self.halt_by = ""
        self.last_command: tuple[int, str, str] = (0, "", "")  # (seq, action, who)
        if rdb is None:
            return
        rows = rdb.execute("select seq, kind, ts, symbol, payload from events where session = ? and kind in "
                           "('venue_report', 'fill', 'command', 'state') order by seq", [sid])
        for seq, kind, ts, sym, payload in rows:
            self.feed(seq, from_row(kind, ts, sym, payload))

    def feed_step(self, base: int, out: list[object]) -> None:
        """One step of the session (its input, then its decisions)."""
        for i, e in enumerate(out):
            if isinstance(e, (Fill, VenueReport, Command, StateChanged)):
                self.feed(base + i, e)

    def feed(self, seq: int, e: object) -> None:
        if isinstance(e, Fill):
            self.fills.append((seq, e.symbol, e.qty, e.price, e.commission))
        elif isinstance(e, VenueReport):
            if e.kind in ("position", "mismatch") and self.block is None:
                self.block = self.now.copy()
                self.block_diffs = []
            if e.kind == "position":
                self.now.outside[e.symbol] = e.remaining
                self.now.checked[e.symbol] = seq
            elif e.kind == "balance":
                self.now.balances[e.symbol] = (seq, e.qty)
            elif e.kind == "mismatch":
                self.block_diffs.append(e.reason)
            elif e.kind == "reconciled":
                if e.qty == 0.0:
                    self.frozen = None  # the venue agrees with the log: the log as it stands is the truth
                elif self.frozen is None:
                    self.frozen = self.block if self.block is not None else self.now.copy()
                self.diffs = tuple(self.block_diffs)
                self.block, self.block_diffs = None, []
        elif isinstance(e, Command):
            self.last_command = (seq, e.action, e.who)
            if e.action == "halt" and self.state == HALTED and e.who != WHO:
                self.halt_by = e.who  # someone else's halt on top: theirs is in force now
        elif isinstance(e, StateChanged):
            cseq, action, who = self.last_command
            by_command = cseq == e.cause_seq
            if e.new == HALTED:
                self.halt_by = who if by_command and action == "halt" else BREAKER
            elif e.prev == HALTED:
                self.halt_by = ""
                if by_command and action == "resume":
                    self.frozen = None  # accepted (or resolved): the log as it stands is the truth
            self.state = e.new

    def baseline(self) -> Baseline:
        return self.frozen if self.frozen is not None else self.now

    @property
    def outside(self) -> dict[str, float]:
        return self.baseline().outside

    def traded(self) -> dict[str, float]:
        """symbol -> units traded since its last reconciliation."""
        checked = self.baseline().checked
        out: dict[str, float] = {}
        for n, s, q, _p, _f in self.fills:
            if n > checked.get(s, 0):
                out[s] = out.get(s, 0.0) + abs(q)
        return out

    def expected(self, quote: str) -> dict[str, tuple[float, float]]:
        """asset -> (expected total, tolerance): each asset's last logged
        balance moved by the fills logged after it."""
        out: dict[str, tuple[float, float]] = {}
        for asset, (seq, total) in self.baseline().balances.items():
            since = [(s, q, p, f) for n, s, q, p, f in self.fills if n > seq]
            out[asset] = expected_balances({asset: total}, since, {s: quote for _n, s, *_ in self.fills})[asset]
        return out


class Reconciler:
    """The session's reconciliations: at its edge (``at_edge``) and the
    re-runs while reconciliation's halt is in force (``wanted``,
    ``on_state``, hooked into the venue execution)."""

    def __init__(self, session: Any, ex: VenueExecution, spec: VenueSpec, lots: dict[str, float],
                 logged: Logged) -> None:
        self.session = session
        self.ex = ex
        self.spec = spec
        self.lots = lots
        self.logged = logged
        ex.on_step = logged.feed_step
        ex.recheck = self.wanted
        ex.state_fetch = lambda: VenueState(ex.client, spec.symbols)
        ex.on_state = self.on_state
        ex.arm_recheck()

    def wanted(self) -> bool:
        """Reconciliation's halt is in force (no one else's, no breaker tripped)."""
        eng = self.session.engine
        return bool(eng.state.state == HALTED and self.logged.halt_by == WHO and not eng.brk.tripped_book())

    def compare(self, state: VenueState, at: str) -> tuple[list[Mismatch], list[VenueReport]]:
        """The differences and the rows that log them (``at``: start, resume, re-run)."""
        eng = self.session.engine
        spec, logged = self.spec, self.logged
        sid = self.session.session_id
        book = {s: eng.portfolio.qty(s) for s in spec.symbols if eng.portfolio.qty(s) != 0.0}
        ours = {client_order_id(sid, oid): (o.symbol, o.qty - o.filled) for oid, o in eng.broker.open.items()}
        diffs = reconcile(spec.name, book, ours, state.positions, state.open_orders, self.lots, spec.symbols,
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
            oid = self.ex.order_id(o.client_id)
            inputs.append(VenueReport(ts, o.symbol, "open_order", oid, 0.0, o.price, 0.0, o.remaining, o.venue_id,
                                      o.client_id))
        for d in diffs:
            inputs.append(VenueReport(ts, d.symbol, "mismatch", 0, d.theirs, 0.0, 0.0, d.ours, d.ref, d.text))
        outcome = f"{len(diffs)} difference(s)" if diffs else "no differences"
        inputs.append(VenueReport(ts, "", "reconciled", 0, float(len(diffs)), 0.0, 0.0, 0.0, "",
                                  f"{spec.name} at {at}: {outcome}"))
        return diffs, inputs

    def resolved(self, at: str) -> Command:
        """The resume that lifts reconciliation's halt once the venue agrees."""
        was = "; ".join(self.logged.diffs) or "the differences logged before"
        head = f"reconciliation with {self.spec.name} at {at} resolved: no differences now (was: "
        if len(head) + len(was) + 1 > REASON_MAX:
            was = was[:REASON_MAX - len(head) - 4] + "..."
        return Command(self.session.engine.ts, "", "resume", "", head + was + ")", WHO)

    def at_edge(self, at: str, state: VenueState) -> list[Mismatch]:
        session = self.session
        diffs, inputs = self.compare(state, at)
        for r in inputs:
            session.step(r)
        self.ex.seed_balances(state.balances)
        if diffs:
            session.step(Command(session.engine.ts, "", "halt", "", halt_reason(self.spec.name, at, diffs), WHO))
        elif self.wanted():  # reconciliation's halt from an earlier life: resolved while we were away
            session.step(self.resolved(at))
        session.sink.flush()
        self.ex.arm_recheck()
        return diffs

    def on_state(self, ts: int, state: VenueState) -> list[object]:
        """A re-run (the engine's thread, at an event boundary, nothing from
        the venue waiting before it): the rows and a resume when resolved;
        nothing when the same differences remain."""
        if not self.wanted():
            return []  # resumed, or someone else's halt, while the venue was being read
        diffs, inputs = self.compare(state, "re-run")
        if diffs and tuple(d.text for d in diffs) == self.logged.diffs:
            return []
        self.ex.seed_balances(state.balances)
        out: list[object] = list(inputs)
        if not diffs:
            out.append(self.resolved("re-run"))
        return out


def execution(spec: VenueSpec, session: Any, client: Any) -> VenueExecution:
    """The session's venue execution (not started)."""
    def halt(reason: str, who: str) -> None:
        session.submit("halt", reason=reason, who=who)

    ex = VenueExecution(client, session.session_id, spec.poll_s, balance_s=spec.balance_s,
                        stale_s=spec.stale_s, symbols=spec.symbols, halt=halt, reconcile_s=spec.reconcile_s)
    session.venue = ex
    return ex


def reconcile_now(session: Any, ex: VenueExecution, spec: VenueSpec, lots: dict[str, float],
                  logged: Logged, at: str, state: VenueState | None = None) -> list[Mismatch]:
    """Compare, log every finding as an input, halt on a difference, resume
    when reconciliation's halt in force has resolved; from then on re-run
    while reconciliation's halt is in force. ``at``: "start" or "resume".
    Raises ``VenueError`` (one line) if the venue cannot answer."""
    eng = session.engine
    client = ex.client
    rec = Reconciler(session, ex, spec, lots, logged)
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
    return rec.at_edge(at, state)


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


def finish(session: Any, ex: VenueExecution, timeout_s: float) -> Callable[[bool], None]:
    """The venue's end (a ``Session.on_end`` hook): what the venue thread
    still has to do (an order accepted in the last step) is done, within
    ``timeout_s`` and not through an outage, and its reports are logged
    before the caller closes the log; then the thread and the client close.
    A venue error here becomes the session's one-line error."""
    def end(clean: bool) -> None:
        ex.recheck = None  # no new re-run of a reconciliation now
        try:
            if ex.drain(timeout_s):
                for r in ex.take_inputs(session.engine.ts):
                    session.step(r)
        finally:
            ex.close()

    return end


def wire(session: Any, ex: VenueExecution, spec: VenueSpec) -> None:
    """Start the venue thread; the session's end finishes it."""
    session.on_end.append(finish(session, ex, 2 * spec.timeout_s))
    ex.start()
