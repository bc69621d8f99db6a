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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.breakers import TRIPPED
from core.codec import DecodeError, encode_payload, from_row, is_input_kind, kind_of
from core.engine import Engine
from core.events import BreakerChanged, Fill

Row = tuple[int, str, int, str, str, bool]  # seq, kind, ts, symbol, payload json, is input


@dataclass(frozen=True)
class Divergence:
    seq: int
    reason: str
    expected: str  # what the log holds
    actual: str  # what the engine made on replay


@dataclass(frozen=True)
class ReplayReport:
    verified: bool
    events: int  # rows checked
    inputs: int
    last_seq: int
    trades: int
    pnl: float  # NAV change, currency
    max_drawdown: float  # positive fraction of peak NAV
    halts: int
    breaker_trips: int
    truncated: bool  # log ended mid-step (crash); verified up to last_seq
    divergence: Divergence | None
    unlogged: tuple[tuple[int, Any], ...] = ()  # (seq, decision) the engine made past the log's end


def _show(kind: str, ts: int, symbol: str, payload: str) -> str:
    return f"{kind} ts={ts} symbol={symbol or '-'} {payload}"


def verify(engine: Engine, rows: Iterable[Row],
           fills_table: Mapping[int, Mapping[str, Any]] | None = None) -> ReplayReport:
    """Replay ``rows`` (in seq order) through ``engine``; see the module doc."""
    pending: list[tuple[int, Any]] = []  # decisions made now, not yet matched
    checked = inputs = trades = trips = 0
    last_seq = 0
    div: Divergence | None = None
    for seq, kind, ts, symbol, payload, is_input in rows:
        div = _check_order(seq, kind, ts, symbol, payload, is_input, engine, pending)
        if div is None and is_input:
            div, made = _feed(seq, kind, ts, symbol, payload, engine)
            pending = made
            inputs += 1
        elif div is None:
            want_seq, ev = pending.pop(0)
            div = _compare(seq, kind, ts, symbol, payload, ev, fills_table)
            trades += isinstance(ev, Fill)
            trips += isinstance(ev, BreakerChanged) and ev.new == TRIPPED
        if div is not None:
            break
        checked += 1
        last_seq = seq
    if div is None and fills_table is not None and len(fills_table) != trades and not pending:
        extra = sorted(set(fills_table) - set(range(0, last_seq + 1)))[:1] or [last_seq]
        div = Divergence(extra[0], "fills table has rows the event log does not",
                         f"{len(fills_table)} fills", f"{trades} fills")
    pf = engine.portfolio
    return ReplayReport(div is None, checked, inputs, last_seq, trades,
                        pf.nav() - engine.p.initial_cash, engine.max_drawdown, engine.halts,
                        trips, bool(pending) and div is None, div,
                        tuple(pending) if div is None else ())


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
