"""Replay: feed a session's logged inputs back through a fresh engine and
compare every decision with the logged one.

The first difference stops the run and is reported with its seq, what the log
holds and what the engine made now. A log that ends part-way through the
decisions of its last input (a crash before the batch committed) verifies up
to its last row: that is what "verified up to the last committed event" means.
Logged fills are also checked against the typed ``fills`` table, so an edit
to either copy is caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.codec import DecodeError, encode_payload, from_row, is_input_kind, kind_of
from core.engine import Engine
from core.events import Fill
from core.pnl import session_pnl
from core.verify_loop import RowCheck

Row = tuple[int, str, int, str, str, bool]  # seq, kind, ts, symbol, payload json, is input


@dataclass(frozen=True)
class Divergence:
    seq: int
    reason: str
    expected: str  # what the log holds
    actual: str  # what the engine made on replay
    inputs_before: tuple[str, ...] = ()  # the last inputs fed before it, oldest first
    state: tuple[tuple[str, str], ...] = ()  # engine state at the divergence (positions, breakers, models)


@dataclass(frozen=True)
class ReplayReport:
    verified: bool
    events: int  # rows checked
    inputs: int
    last_seq: int
    trades: int
    pnl: float  # core.pnl.session_pnl: last risk snapshot's NAV - initial cash (currency)
    max_drawdown: float  # positive fraction of peak NAV
    halts: int
    breaker_trips: int
    truncated: bool  # log ended mid-step (crash); verified up to last_seq
    divergence: Divergence | None
    unlogged: tuple[tuple[int, Any], ...] = ()  # (seq, decision) the engine made past the log's end


def _show(kind: str, ts: int, symbol: str, payload: str) -> str:
    return f"{kind} ts={ts} symbol={symbol or '-'} {payload}"


class Verifier:
    """A session's rows checked one at a time, in seq order: an input is fed
    to the engine, each decision row is compared with the next decision the
    engine made. The one verifier behind ``verify`` (``console replay``) and
    the stepped playback of ``console watch`` / ``--tui``.

    ``row`` returns False at the first difference (``divergence``, with the
    fields that differ in ``detail`` when it is a decision); ``end`` runs the
    checks that need the whole log; ``truncated`` is True when the log ends
    part-way through its last input's decisions (a crash before the batch
    committed: verified up to its last row). The common rows are taken by
    the compiled ``core.verify_loop.RowCheck``, which also holds the state
    between rows; ``row_checked`` is every check, with the messages."""

    def __init__(self, engine: Engine, fills_table: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        self.engine = engine
        self.fills_table = fills_table
        self.core = RowCheck(engine, fills_table)
        self.divergence: Divergence | None = None
        self.detail = ""

    @property
    def pending(self) -> list[tuple[int, Any]]:
        """Decisions made now, not yet matched: ``(seq, decision)``."""
        return self.core.pending()

    @property
    def made(self) -> list[object]:
        """The last input fed, then the decisions it led to."""
        return self.core.made

    @property
    def checked(self) -> int:
        return int(self.core.checked)

    @property
    def inputs(self) -> int:
        return int(self.core.inputs)

    @property
    def trades(self) -> int:
        return int(self.core.trades)

    @property
    def trips(self) -> int:
        return int(self.core.trips)

    @property
    def last_seq(self) -> int:
        return self.core.last_seq  # type: ignore[no-any-return]

    @property
    def last_nav(self) -> float | None:
        """The last verified risk snapshot's NAV."""
        return self.core.last_nav

    @property
    def truncated(self) -> bool:
        return self.core.has_pending() and self.divergence is None

    def row(self, seq: int, kind: str, ts: int, symbol: str, payload: str, is_input: bool) -> bool:
        if self.core.take((seq, kind, ts, symbol, payload, is_input)):
            return True
        return self.row_checked(seq, kind, ts, symbol, payload, is_input)

    def run(self, rows: Iterable[Row], progress: Callable[[int], None] | None = None) -> bool:
        """``row`` over ``rows`` until the first difference (False). Rows
        that offer ``feed(consume)`` (storage's ``EventStream``) are read
        through it: ``consume`` gets their cursor, with no layer per row."""
        feed = getattr(rows, "feed", None)
        if feed is not None:
            return bool(feed(lambda cursor: self.core.run(cursor, self._row_checked, progress)))
        return self.core.run(iter(rows), self._row_checked, progress)

    def _row_checked(self, row: Any) -> bool:
        seq, kind, ts, symbol, payload, is_input = row
        return self.row_checked(seq, kind, ts, symbol, payload, bool(is_input))

    def row_checked(self, seq: int, kind: str, ts: int, symbol: str, payload: str, is_input: bool) -> bool:
        c = self.core
        div = _check_order(seq, kind, ts, symbol, payload, is_input, self.engine, c.pending())
        if div is None and is_input:
            div, made = _feed(seq, kind, ts, symbol, payload, self.engine)
            c.fed((seq, kind, ts, symbol, payload, is_input), made)
        elif div is None:
            ev = c.pop()
            div = _compare(seq, kind, ts, symbol, payload, ev, self.fills_table)
            if div is not None and div.reason == "decision differs":
                self.detail = differences((kind, ts, symbol, payload), ev)
            c.counted(ev, div is None)
        if div is not None:
            self.divergence = Divergence(div.seq, div.reason, div.expected, div.actual,
                                         tuple(f"seq {r[0]}: " + _show(*r[1:5]) for r in c.recent()),  # type: ignore[arg-type]
                                         state_of(self.engine))
            return False
        c.passed(seq)
        return True

    def end(self) -> bool:
        """At the end of the log: its fills table must hold exactly the fills matched."""
        ft = self.fills_table
        if self.divergence is None and ft is not None and len(ft) != self.trades and not self.core.has_pending():
            extra = sorted(set(ft) - set(range(0, self.last_seq + 1)))[:1] or [self.last_seq]
            self.divergence = Divergence(extra[0], "fills table has rows the event log does not",
                                         f"{len(ft)} fills", f"{self.trades} fills")
        return self.divergence is None

    def report(self) -> ReplayReport:
        div = self.divergence
        return ReplayReport(div is None, self.checked, self.inputs, self.last_seq, self.trades,
                            session_pnl(self.last_nav, self.engine.p.initial_cash), self.engine.risk.max_drawdown,
                            self.engine.halts, self.trips, self.truncated, div,
                            tuple(self.pending) if div is None else ())


def verify(engine: Engine, rows: Iterable[Row],
           fills_table: Mapping[int, Mapping[str, Any]] | None = None,
           progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Replay ``rows`` (in seq order) through ``engine``; see the module doc.
    ``progress(seq)`` is called every 65,536 rows."""
    v = Verifier(engine, fills_table)
    if v.run(rows, progress):
        v.end()
    return v.report()


def differences(logged: tuple[str, int, str, str], made: Any) -> str:
    """``field: log X, now Y`` for each field of a decision that differs."""
    try:
        have = {"kind": logged[0], "ts": logged[1], "symbol": logged[2], **json.loads(logged[3])}
    except (ValueError, TypeError):
        return ""
    got = {"kind": kind_of(made), "ts": made.ts, "symbol": made.symbol, **json.loads(encode_payload(made))}
    return "; ".join(f"{k}: log {have.get(k)!r}, now {got.get(k)!r}"
                     for k in dict.fromkeys([*have, *got]) if have.get(k) != got.get(k))


def state_of(engine: Engine) -> tuple[tuple[str, str], ...]:
    """What an operator needs to see why a decision differed: trading state,
    positions, open orders, breaker states and active model versions."""
    pf = engine.portfolio
    pos = ", ".join(f"{s} {pf.qty(s):+g}@{pf.positions[s].avg_price:,.4f}" for s in pf.open_symbols()) or "flat"
    orders = ", ".join(f"#{o.order_id} {o.symbol} {o.remaining():+g} of {o.qty:+g}"
                       for o in engine.broker.open.values()) or "none"
    brk = ", ".join(f"{b.name}={b.state}" for b in engine.breakers if b.state != "ARMED") or "all ARMED"
    models = ", ".join(f"{m} v{v}" for m, v in sorted(engine.model_versions.items())) or "none"
    return (("trading", engine.state.state), ("positions", pos), ("open orders", orders),
            ("breakers", brk), ("models", models), ("nav", f"{pf.nav():,.2f}"))


def _check_order(seq: int, kind: str, ts: int, symbol: str, payload: str, is_input: bool,
                 engine: Engine, pending: list[tuple[int, Any]]) -> Divergence | None:
    if is_input != is_input_kind(kind):
        return Divergence(seq, f"row marked {'input' if is_input else 'decision'} has kind {kind}",
                          kind, "")
    if is_input and pending:
        want_seq, ev = pending[0]
        return Divergence(seq, "the engine made a decision the log does not have",
                          _show(kind, ts, symbol, payload),
                          f"seq {want_seq}: " + _show(kind_of(ev), ev.ts, ev.symbol, encode_payload(ev)))
    if is_input and seq != engine.seq + 1:
        return Divergence(seq, f"input at seq {seq}, expected seq {engine.seq + 1} (rows missing)",
                          _show(kind, ts, symbol, payload), "")
    if not is_input and not pending:
        return Divergence(seq, "the log has a decision the engine did not make",
                          _show(kind, ts, symbol, payload), "nothing")
    return None


def _feed(seq: int, kind: str, ts: int, symbol: str, payload: str,
          engine: Engine) -> tuple[Divergence | None, list[object]]:
    """Decode the logged input and feed it: (None, [input, *decisions])."""
    try:
        ev = from_row(kind, ts, symbol, payload)
    except DecodeError as exc:
        return Divergence(seq, f"logged input cannot be read: {exc}", payload, ""), []
    return None, engine.process(ev)


def _compare(seq: int, kind: str, ts: int, symbol: str, payload: str, ev: Any,
             fills_table: Mapping[int, Mapping[str, Any]] | None) -> Divergence | None:
    got = (kind_of(ev), ev.ts, ev.symbol, encode_payload(ev))
    if (kind, ts, symbol, payload) != got:
        return Divergence(seq, "decision differs", _show(kind, ts, symbol, payload), _show(*got))
    if isinstance(ev, Fill) and fills_table is not None:
        row = fills_table.get(seq)
        want = {"order_id": ev.order_id, "symbol": ev.symbol, "qty": ev.qty, "price": ev.price,
                "commission": ev.commission, "ts": ev.ts}
        have = None if row is None else {k: row.get(k) for k in want}
        if have != want:
            return Divergence(seq, "fills table differs from the fill the engine made",
                              f"fills row: {json.dumps(have)}", f"fill: {json.dumps(want)}")
    return None
