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
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.breakers import TRIPPED
from core.codec import DecodeError, encode_payload, from_row, is_input_kind, kind_of
from core.engine import Engine
from core.events import BreakerChanged, Fill, RiskSnapshot
from core.pnl import session_pnl

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


def verify(engine: Engine, rows: Iterable[Row],
           fills_table: Mapping[int, Mapping[str, Any]] | None = None,
           progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Replay ``rows`` (in seq order) through ``engine``; see the module doc.
    ``progress(seq)`` is called every 65,536 rows."""
    pending: list[tuple[int, Any]] = []  # decisions made now, not yet matched
    checked = inputs = trades = trips = 0
    last_seq = 0
    last_nav: float | None = None  # the last verified risk snapshot's NAV
    div: Divergence | None = None
    recent: deque[str] = deque(maxlen=5)
    for seq, kind, ts, symbol, payload, is_input in rows:
        if progress is not None and seq & 0xFFFF == 0:
            progress(seq)
        div = _check_order(seq, kind, ts, symbol, payload, is_input, engine, pending)
        if div is None and is_input:
            div, made = _feed(seq, kind, ts, symbol, payload, engine)
            pending = made
            inputs += 1
            recent.append(f"seq {seq}: " + _show(kind, ts, symbol, payload))
        elif div is None:
            want_seq, ev = pending.pop(0)
            div = _compare(seq, kind, ts, symbol, payload, ev, fills_table)
            trades += isinstance(ev, Fill)
            trips += isinstance(ev, BreakerChanged) and ev.new == TRIPPED
            if div is None and isinstance(ev, RiskSnapshot):
                last_nav = ev.nav
        if div is not None:
            div = Divergence(div.seq, div.reason, div.expected, div.actual, tuple(recent), state_of(engine))
            break
        checked += 1
        last_seq = seq
    if div is None and fills_table is not None and len(fills_table) != trades and not pending:
        extra = sorted(set(fills_table) - set(range(0, last_seq + 1)))[:1] or [last_seq]
        div = Divergence(extra[0], "fills table has rows the event log does not",
                         f"{len(fills_table)} fills", f"{trades} fills")
    return ReplayReport(div is None, checked, inputs, last_seq, trades,
                        session_pnl(last_nav, engine.p.initial_cash), engine.risk.max_drawdown, engine.halts,
                        trips, bool(pending) and div is None, div,
                        tuple(pending) if div is None else ())


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
          engine: Engine) -> tuple[Divergence | None, list[tuple[int, Any]]]:
    try:
        ev = from_row(kind, ts, symbol, payload)
    except DecodeError as exc:
        return Divergence(seq, f"logged input cannot be read: {exc}", payload, ""), []
    out = engine.process(ev)
    return None, [(seq + i, e) for i, e in enumerate(out[1:], 1)]


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
