"""Venue mode at the session's edge: accepted orders out to the venue, its
reports back in as logged ``VenueReport`` inputs.

The engine decides; this only carries, and never on the engine's thread.
``after_step`` runs after the session has written (and, for a new order,
flushed) the engine's decisions, so an order is durable in the log before
the venue sees it; it only puts jobs on a queue. One venue thread (the
*worker*) does every request, in order: it sends each ``OrderAccepted``
with a client order id made from the session and the order's seq, a cancel
for each order the engine cancelled or expired, and on a halt, a
cancel-all or a flatten a *sweep* that cancels every order of this session
still open at the venue (also one this session's earlier life left there).
Between jobs it polls the open orders every ``poll_s`` and the balances
every ``balance_s``. What the venue answers is put on a result queue;
``take_inputs`` (the engine's thread, at the next event boundary) turns it
into ``VenueReport`` inputs at the engine's market time, where they are
logged and replay feeds them back. A slow venue therefore slows nothing but
its own thread.

Faults: a ``VenueUnreachable`` (network, timeout, venue down, rate limit)
is retried with doubling waits (``poll_s`` up to 60 s); a submit that failed
that way is retried as a look-up first (the venue may have taken it), so
nothing is sent twice. The first failure is logged as a ``disconnect``
input, the recovery as ``reconnect``; an outage longer than ``stale_s``
is logged as ``stale`` and halts the session (an operator-style ``halt``
command from ``who="venue watchdog"``: logged, alerted as every state
change is, and cancels sent once the venue is back). Any other
``VenueError`` (a refused key) stops the session with its one line.

``VenueReport`` kinds this module logs besides the engine's order kinds
(ack, fill, cancel, expire, reject): ``balance`` (``symbol`` the asset,
``qty`` its total, ``remaining`` the free part; one per change),
``disconnect``, ``reconnect`` and ``stale`` (``reason`` the venue's one-line
error). They are in the log for the operator, reconciliation and replay;
the engine acts only on the balances (the gate's ``venue_funds`` rule).

Re-running a reconciliation (console/venue_session.py decides when and what
it means): while ``recheck()`` says so (the engine's thread, asked at most
every ``reconcile_s`` seconds at an event boundary), a ``state`` job asks
the venue for the account (``state_fetch``, on the venue thread, retried
like any request; the orders still live are polled first, so their fills
come in before the account is read). ``take_inputs`` hands the answer to
``on_state`` at the next boundary where nothing before it is waiting, so the
engine's book is then exactly what the venue's answer followed; what it
returns (reconciliation rows, a ``resume`` command) is logged like any input.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from core.events import Command, OrderAccepted, OrderCancelled, OrderExpired, StateChanged, VenueReport
from core.venues.base import (
    BalanceReport, ExecReport, OrderRequest, VenueError, VenueUnreachable, client_order_id, scrub,
)

MAX_BACKOFF_S = 60.0
WATCHDOG = "venue watchdog"
ENDED = ("cancel", "expire", "reject")


def session_prefix(session_id: str) -> str:
    """The start every client order id of ``session_id`` shares."""
    return client_order_id(session_id, 0)[:-1]


def balance_report(ts: int, b: BalanceReport, why: str) -> VenueReport:
    return VenueReport(ts, b.asset, "balance", 0, b.total, 0.0, 0.0, b.free, "", why)


def note_report(ts: int, kind: str, text: str) -> VenueReport:
    return VenueReport(ts, "", kind, 0, 0.0, 0.0, 0.0, 0.0, "", text)


class VenueExecution:
    def __init__(self, client: Any, session_id: str, poll_s: float = 2.0, *, balance_s: float = 60.0,
                 stale_s: float = 60.0, symbols: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic,
                 halt: Callable[[str, str], None] | None = None, reconcile_s: float = 30.0) -> None:
        self.client = client
        self.session_id = session_id
        self.poll_s = poll_s
        self.balance_s = balance_s
        self.stale_s = stale_s
        self.symbols = symbols or tuple(getattr(getattr(client, "spec", None), "symbols", ()) or ())
        self.clock = clock
        self.halt = halt  # (reason, who): an operator-style halt command (Session.submit)
        # re-running a reconciliation (all three set by console/venue_session.py, or None: never)
        self.reconcile_s = reconcile_s
        self.recheck: Callable[[], bool] | None = None  # engine thread: is a re-run wanted now?
        self.state_fetch: Callable[[], Any] | None = None  # venue thread: the account, read at the venue
        self.on_state: Callable[[int, Any], list[object]] | None = None  # engine thread: inputs from it
        self.next_recheck = 0.0
        self.rechecking = False  # a state job is queued or its answer not yet taken
        self.held: tuple[Any, ...] | None = None  # a state answer waiting for the reports before it
        self.on_step: Callable[[int, list[object]], None] | None = None  # engine thread: every logged step
        self.prefix = session_prefix(session_id)
        # the engine's thread
        self.open: dict[int, tuple[str, str]] = {}  # order id -> (client id, symbol)
        self.by_client: dict[str, int] = {}
        self.balances: dict[str, tuple[float, float]] = {}  # asset -> (total, free) last logged
        self.sent = 0
        # between the threads
        self.jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.pending = 0  # jobs put and not yet done (the worker's count; read for a drain)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        # the worker's own
        self.live: dict[str, str] = {}  # client id -> symbol, open at the venue as far as we know
        self.down_since = 0.0
        self.stale_told = False
        self.next_poll = 0.0
        self.next_balance = 0.0

    # ------------------------------------------------------------ engine thread

    def adopt(self, open_orders: dict[int, Any], watch: bool = True) -> None:
        """A resumed session's open orders (the engine's broker, rebuilt from
        the log): known by their client ids, and with ``watch`` polled by
        the venue thread; nothing is sent again."""
        for oid, o in open_orders.items():
            cid = client_order_id(self.session_id, oid)
            self.open[oid] = (cid, o.symbol)
            self.by_client[cid] = oid
            if watch:
                self._put(("watch", cid, o.symbol))

    def order_id(self, cid: str) -> int:
        """The engine's id of an order by its client id; 0 when it is not
        this session's. An id from this session's earlier life (a sweep
        finds it) is read back from the id itself."""
        oid = self.by_client.get(cid)
        if oid is not None:
            return oid
        tail = cid[len(self.prefix):] if cid.startswith(self.prefix) else ""
        return int(tail) if tail.isdigit() else 0

    def seed_balances(self, rows: list[BalanceReport]) -> None:
        """The balances already logged (reconciliation): later polls log changes only."""
        for b in rows:
            self.balances[b.asset] = (b.total, b.free)

    def after_step(self, base: int, out: list[object]) -> None:
        """Jobs for the venue thread from one engine step (no I/O here)."""
        if self.on_step is not None:
            self.on_step(base, out)
        ev = out[0] if out else None
        sweep = isinstance(ev, Command) and ev.action in ("cancel_all", "flatten")
        cancelled: set[str] = set()
        for i, e in enumerate(out):
            if isinstance(e, StateChanged) and e.new == "HALTED":
                sweep = True
            elif isinstance(e, OrderAccepted):
                if sweep:  # the sweep goes before a flatten's closing orders, after the cancels
                    self._put(("sweep", frozenset(cancelled)))
                    sweep = False
                self.send(base + i, e)
            elif isinstance(e, (OrderCancelled, OrderExpired)) and e.order_id in self.open \
                    and not e.reason.startswith("venue "):
                cid, sym = self.open[e.order_id]
                cancelled.add(cid)
                self._put(("cancel", cid, sym))
        if sweep:
            self._put(("sweep", frozenset(cancelled)))

    def send(self, order_id: int, e: OrderAccepted) -> None:
        cid = client_order_id(self.session_id, order_id)
        self.open[order_id] = (cid, e.symbol)
        self.by_client[cid] = order_id
        req = OrderRequest(cid, e.symbol, e.qty, "limit" if e.order_type == "limit" else "market", e.limit)
        self._put(("submit", req))
        self.sent += 1

    def arm_recheck(self) -> None:
        """The next re-run is due ``reconcile_s`` from now."""
        self.next_recheck = self.clock() + self.reconcile_s

    def _recheck_if_due(self) -> None:
        if self.recheck is None or self.state_fetch is None or self.rechecking:
            return
        if self.clock() < self.next_recheck:
            return
        self.arm_recheck()
        if self.recheck():
            self.rechecking = True
            self._put(("state",))

    def take_inputs(self, ts: int) -> list[object]:
        """What the venue thread has learnt since the last call, as inputs at
        market time ``ts`` (``VenueReport``s, and what ``on_state`` makes of
        a re-read account). A fatal venue error is raised here (the session
        stops with its one line)."""
        out: list[object] = []
        while True:
            if self.held is not None and not out:
                item, self.held = self.held, None
            else:
                try:
                    item = self.results.get_nowait()
                except queue.Empty:
                    self._recheck_if_due()
                    return out
            kind = item[0]
            if kind == "state":
                if out:  # the reports before it go into the engine first: then it is compared
                    self.held = item
                    return out
                self.rechecking = False
                self.arm_recheck()
                if self.on_state is not None:
                    out.extend(self.on_state(ts, item[1]))
                continue
            if kind == "report":
                r: ExecReport = item[1]
                oid = self.order_id(r.client_id)
                if oid == 0:
                    continue  # not one of ours (reconciliation reports those)
                out.append(VenueReport(ts, r.symbol or self.open.get(oid, ("", ""))[1], r.kind, oid, r.qty,
                                       r.price, r.commission, r.remaining, r.venue_id, r.reason))
                if r.kind in ENDED or r.kind == "fill" and r.remaining == 0.0:
                    self.open.pop(oid, None)
            elif kind == "balances":
                now = {b.asset: b for b in item[1]}
                gone = [BalanceReport(a, 0.0, 0.0) for a in self.balances if a not in now]  # venues omit zeros
                for b in sorted([*now.values(), *gone]):
                    if self.balances.get(b.asset) != (b.total, b.free):
                        self.balances[b.asset] = (b.total, b.free)
                        out.append(balance_report(ts, b, "venue balance"))
            elif kind == "note":
                out.append(note_report(ts, item[1], item[2]))
                if item[1] == "stale" and self.halt is not None:
                    self.halt(f"venue: {item[2]}", WATCHDOG)
            elif kind == "fatal":
                if out:  # what came before it is logged first; the next call stops the session
                    self.results.put(item)
                    return out
                raise VenueError(item[1])

    # ------------------------------------------------------------ life

    def start(self) -> None:
        if self.thread is None:
            self.next_poll = self.clock() + self.poll_s
            self.next_balance = self.clock() + self.balance_s
            self.thread = threading.Thread(target=self._work, name="venue-exec", daemon=True)
            self.thread.start()

    def drain(self, timeout_s: float, through_outage: bool = False) -> bool:
        """Wait (at most ``timeout_s``) until the venue thread has done every
        job put so far. True when it has; False at once while the venue is
        unreachable unless ``through_outage`` (a stop must not wait out an
        outage: the jobs left are an order's send, looked up at the resume,
        or a cancel that the resume's reconciliation sends)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                if self.pending == 0:
                    return True
            if self.thread is None or not self.thread.is_alive() or self.down_since and not through_outage:
                return False
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.stopped.set()
        self.jobs.put(("stop",))
        if self.thread is not None:
            self.thread.join(5.0)
        try:
            self.client.close()
        except Exception:  # closing never fails a run
            pass

    def _put(self, job: tuple[Any, ...]) -> None:
        with self.lock:
            self.pending += 1
        self.jobs.put(job)

    # ------------------------------------------------------------ venue thread

    def _work(self) -> None:
        try:
            while not self.stopped.is_set():
                wait = max(0.0, min(self.next_poll, self.next_balance) - self.clock())
                try:
                    job = self.jobs.get(timeout=min(wait, 1.0))
                except queue.Empty:
                    self._periodic()
                    continue
                if job[0] == "stop":
                    return
                try:
                    self._do(job)
                finally:
                    with self.lock:
                        self.pending -= 1
                if self.clock() >= min(self.next_poll, self.next_balance):
                    self._periodic()
        except VenueError as exc:  # not a passing fault: the session stops with this line
            self.results.put(("fatal", str(exc)))
        except Exception as exc:  # a bug here must still stop the session in one line
            creds = getattr(self.client, "creds", None)
            secrets = creds.values() if creds else ()
            self.results.put(("fatal", f"{self.client.name}: {type(exc).__name__} in the venue thread: "
                                       f"{scrub(str(exc), secrets)}"))
        finally:
            with self.lock:
                self.pending = 0

    def _do(self, job: tuple[Any, ...]) -> None:
        kind = job[0]
        if kind == "submit":
            req: OrderRequest = job[1]
            self.live[req.client_id] = req.symbol
            self._reports(self._io(self.client.submit, req, look_up=True))
        elif kind == "cancel":
            cid, sym = job[1], job[2]
            self._reports(self._io(self.client.cancel, cid, sym))
        elif kind == "watch":
            self.live[job[1]] = job[2]
        elif kind == "sweep":
            self._sweep(job[1])
        elif kind == "state" and self.state_fetch is not None:
            self._poll_orders()
            self.results.put(("state", self._io(self.state_fetch)))

    def _sweep(self, done: frozenset[str]) -> None:
        """Cancel every order of this session still open at the venue."""
        rows = self._io(self.client.open_orders, self.symbols)
        for o in rows:
            if o.client_id.startswith(self.prefix) and o.client_id not in done:
                self.live.setdefault(o.client_id, o.symbol)
                self._reports(self._io(self.client.cancel, o.client_id, o.symbol))

    def _periodic(self) -> None:
        now = self.clock()
        if now >= self.next_poll:
            self._poll_orders()
        if now >= self.next_balance:
            self.next_balance = now + self.balance_s
            self.results.put(("balances", self._io(self.client.balances)))

    def _poll_orders(self) -> None:
        self.next_poll = self.clock() + self.poll_s
        for cid, sym in list(self.live.items()):
            self._reports(self._io(self.client.order_status, cid, sym))

    def _reports(self, reports: list[ExecReport]) -> None:
        for r in reports:
            if r.kind in ENDED or r.kind == "fill" and r.remaining == 0.0:
                self.live.pop(r.client_id, None)
            self.results.put(("report", r))

    def _io(self, fn: Callable[..., Any], *args: Any, look_up: bool = False) -> Any:
        """``fn(*args)`` until it answers. With ``look_up`` (a submit), a
        retry after a passing fault asks the venue for the order first
        (``look_up_first=True``): the lost answer may have been an order taken."""
        again = False
        failures = 0
        while True:
            try:
                got = fn(*args, look_up_first=again) if look_up else fn(*args)
            except VenueUnreachable as exc:
                failures += 1
                again = True
                now = self.clock()
                if self.down_since == 0.0:
                    self.down_since = now
                    self.results.put(("note", "disconnect", str(exc)))
                if not self.stale_told and now - self.down_since >= self.stale_s:
                    self.stale_told = True
                    self.results.put(("note", "stale", f"{self.client.name} unreachable for "
                                                       f"{now - self.down_since:.0f}s: {exc}"))
                if self.stopped.wait(min(self.poll_s * 2 ** (failures - 1), MAX_BACKOFF_S)):
                    raise VenueError(f"{self.client.name}: stopped while the venue was unreachable") from None
                continue
            if self.down_since:
                self.results.put(("note", "reconnect", f"{self.client.name} back after "
                                                       f"{self.clock() - self.down_since:.0f}s"))
                self.down_since = 0.0
                self.stale_told = False
            return got
