"""A position's story, from the snapshot on screen and the log lines the
console holds: why it is held (each model's view of the symbol), what it
did (orders, fills, rejections, with their reasons), what it made and its
share of the book's VaR. The UI computes nothing here: it gathers figures
the engine published."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from console.panes.common import money, pct, signed_money, when
from core.snapshot import LogLine, Snapshot

MAX_EVENTS = 30  # the newest lines about the symbol; the session log has them all
TRADE_WORDS = ("ORDER ", "FILL ", "REJECT ", "CANCEL ", "EXPIRED ", "PARENT ", "CROSS ", "HEDGE ", "QUARANTINE ")


def position_story(snap: Snapshot, symbol: str, log: Iterable[LogLine], trades: Any = None) -> str:
    """The story of ``symbol``'s position. ``trades`` (a ``console.trades.TradeLog``
    over the session's database, or None) adds what the log says: realised
    P&L and fees, its closed trades, its share of the VaR over the logged risk
    snapshots, and its orders and fills with their reasons."""
    lines: list[str] = []
    pos = next((p for p in snap.positions if p.symbol == symbol), None)
    if pos is None:
        return f"{symbol}: no position"
    lines.append(f"{symbol}: {pos.qty:+,g} @ avg {money(pos.avg_price)}, last {money(pos.last)}, "
                 f"value {money(pos.market_value)} ({pct(pos.weight)} of NAV)")
    history = _history(trades, snap, symbol)
    lines += _pnl_lines(pos, trades, symbol, snap.seq)
    contrib = dict(snap.risk.contributions).get(symbol)
    book_var = snap.risk.var95 * snap.risk.nav
    if contrib is not None and book_var > 0:
        lines.append(f"VaR contribution {money(contrib)} of the book's {money(book_var)} "
                     f"({pct(contrib / book_var)}, {snap.risk.var_measure})")
    if history is not None and history[0] is not None:
        v = history[0]
        if v.held:
            lines.append(f"VaR share in the logged risk snapshots: now {_share(v.now)}, mean {_share(v.mean)}, "
                         f"peak {_share(v.peak)} at {when(v.peak_ts)} (held in {v.held:,} of the last "
                         f"{v.snapshots:,})" + ("; over 100%: other positions offset it" if v.peak > 1 else ""))
        elif v.snapshots:
            lines.append(f"VaR share: not in any of the last {v.snapshots:,} logged risk snapshots")
    views = [s for s in snap.signals if s.symbol == symbol]
    strategy = trades.driver if trades is not None else DEFAULT_DRIVER
    driver = driving_models(snap, strategy).get(symbol)
    lines.append("")
    lines.append("Why (each model's latest view):" if views else "Why: no model view of this symbol")
    if driver is not None:
        part = "the strategy's signal" if driver[0] == strategy[0] else "of the ensemble's view, its largest part"
        lines.append(f"  drives it: {driver[0]} ({driver[1]:+.2f}, {part})")
    for s in views:
        extra = f" {s.regime}" if s.regime else ""
        status = f" [{s.status}]" if s.status else ""
        mark = "▶" if driver is not None and s.model == driver[0] else " "
        lines.append(f" {mark}{s.model:<12} {s.value:+.2f}  conf {s.confidence:.0%}{extra}{status}  at {when(s.ts)}")
    orders = [o for o in snap.open_orders if o.symbol == symbol]
    if orders:
        lines.append("")
        lines.append("Open orders:")
        lines += [f"  #{o.order_id} {o.order_type} {o.qty:+,g} ~{money(o.ref_price)} [{o.origin}]" for o in orders]
    lines.append("")
    if history is not None and history[1] is not None:
        count, events = history[1]
        lines.append(f"Orders and fills (session log, newest first; {len(events)} of {count:,}):" if events
                     else "Orders and fills: none in the session log yet")
        lines += [f"  {when(ts)} #{seq} {text}" for seq, ts, text in events]
        return "\n".join(lines)
    kept = [line for line in log if f" {symbol} " in f" {line.text} " and line.text.startswith(TRADE_WORDS)]
    lines.append(f"Orders and fills (newest {min(len(kept), MAX_EVENTS)} in view; all in the session log):"
                 if kept else "Orders and fills: none in the console's log (see the session log)")
    lines += [f"  {when(e.ts)} #{e.seq} {e.text}" for e in kept[-MAX_EVENTS:]]
    return "\n".join(lines)


def _share(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.1%}"


def _history(trades: Any, snap: Snapshot, symbol: str) -> tuple[Any, Any] | None:
    """(VaR share, (count, events)) from the session log; None without one."""
    if trades is None:
        return None
    from console.trades import symbol_events, var_share

    try:
        return (var_share(trades.db, trades.sid, symbol, snap.seq),
                symbol_events(trades.db, trades.sid, symbol, snap.seq, MAX_EVENTS))
    except Exception:  # noqa: BLE001 - a log that cannot be read: the snapshot's story still shows
        return None


def _pnl_lines(pos: Any, trades: Any, symbol: str, upto: int) -> list[str]:
    if trades is None:
        return [f"P&L: unrealised {signed_money(pos.unrealized)}, realised {signed_money(pos.realized)}"]
    from core.pnl import trade_stats

    try:
        trades.update(upto)
    except Exception:  # noqa: BLE001
        return [f"P&L: unrealised {signed_money(pos.unrealized)}, realised {signed_money(pos.realized)}"]
    realised, fees = trades.realized.get(symbol, 0.0), trades.fees.get(symbol, 0.0)
    lines = [f"P&L: {signed_money(realised - fees + pos.unrealized)} = realised {signed_money(realised)} "
             f"- fees {money(fees)} (log) + unrealised {signed_money(pos.unrealized)} (book)"]
    mine = [t for t in trades.closed if t.symbol == symbol]
    if mine:
        st = trade_stats(mine)
        lines.append(f"Trades: {st.trades} closed, {st.wins} won ({st.win_rate:.0%}), net {st.net:+,.2f}")
    trip = trades.trips.open.get(symbol)
    if trip is not None:
        lines.append(f"Open trade since {when(trip.entry_ts)} ({trip.fills} fills; realised so far "
                     f"{trip.pnl:+,.2f} net of fees)" + (f", opened on: {trip.reason}" if trip.reason else ""))
    return lines


ENSEMBLE = "ensemble"
Driver = tuple[str, tuple[str, ...]]  # the strategy's signal and its books (the logged config)
DEFAULT_DRIVER: Driver = (ENSEMBLE, ())  # what a session without a readable config is taken to run


def driving_models(snap: Snapshot, driver: Driver = DEFAULT_DRIVER) -> dict[str, tuple[str, float]]:
    """symbol -> (model, contribution) of the model that drives its position.

    With the ensemble as the strategy's signal: its largest contributor
    (weight x value) to its latest view of the symbol. With one model as the
    signal: that model, with its value. With strategy books there is no one
    driver (each book holds its own part): none. Symbols without a view are
    absent."""
    signal, books = driver
    found: dict[str, tuple[str, float]] = {}
    if books:
        return found
    for s in snap.signals:
        if s.model != signal:
            continue
        if signal != ENSEMBLE:
            found[s.symbol] = (s.model, s.value)
        elif s.explain:
            model, part = max(s.explain, key=lambda kv: abs(kv[1]))
            found[s.symbol] = (model, part)
    return found
