"""What the Trades and Attribution screens show, as plain lines and rows
(no textual: tests and ``console report`` read the same).

Figures: the closed trades and per-symbol realised P&L and fees are the
engine's logged ones (``console.trades``); unrealised P&L, quantities and the
strategy books' attribution come from the snapshot the engine published.
Nothing is re-priced here.
"""

from __future__ import annotations

import math

from console.panes.common import money, signed_money, when
from console.story import driving_models
from console.trades import TradeLog, held, price, stats_line
from core.snapshot import Snapshot

Table = tuple[str, tuple[str, ...], list[tuple[str, ...]]]
MAX_TRADE_ROWS = 500  # the newest; the report and the session log have them all
TRADE_COLUMNS: tuple[str, ...] = ("Symbol", "Side", "Entry", "Exit", "Held", "Qty", "Entry px", "Exit px", "P&L", "Fees",
                 "Why (entry)")
FILL_COLUMNS: tuple[str, ...] = ("Time", "Symbol", "Qty", "Price", "Fee", "Realised", "Order", "Why")
NO_LOG = "no session log to read here (this console has no database)"


def _qty(q: float) -> str:
    return f"{q:,.0f}" if float(q).is_integer() else f"{q:,.4f}"


def trades_view(log: TradeLog | None, snap: Snapshot) -> tuple[list[str], list[Table]]:
    """The closed trades (newest first) with the win rate and friends."""
    if log is None:
        return [NO_LOG], [("Closed trades", TRADE_COLUMNS, []), ("Fills", FILL_COLUMNS, [])]
    log.update(snap.seq)
    st = log.stats()
    lines = [stats_line(st)]
    if log.trips.open:
        running = math.fsum(t.pnl for t in log.trips.open.values())
        lines.append(f"{len(log.trips.open)} trade(s) open: " + ", ".join(sorted(log.trips.open))
                     + f" (realised so far, net of fees: {running:+,.2f}; the rest is in the book)")
    lines.append(f"A trade: from flat back to flat (or through zero), net of every fee on the way; "
                 f"{log.fills:,} fills read, to seq {log.last_seq:,}.")
    newest = log.closed[::-1][:MAX_TRADE_ROWS]
    rows: list[tuple[str, ...]] = [(t.symbol, t.side, when(t.entry_ts), when(t.exit_ts), held(t.held_ms), _qty(t.qty),
             price(t.entry), price(t.exit), signed_money(t.pnl), money(t.fees), t.reason[:48])
            for t in newest]
    more = f" (newest {MAX_TRADE_ROWS} of {len(log.closed):,})" if len(log.closed) > MAX_TRADE_ROWS else ""
    fills: list[tuple[str, ...]] = [
        (when(f.ts), f.symbol, f"{f.qty:+,g}", price(f.price), money(f.commission),
         signed_money(realised) if realised else "", f"#{f.order_id}", log.why(f)[:48])
        for f, realised in reversed(log.recent)]
    return lines, [(f"Closed trades{more}", TRADE_COLUMNS, rows),
                   (f"Fills (newest {len(fills)} of {log.fills:,})", FILL_COLUMNS, fills)]


SYMBOL_COLUMNS: tuple[str, ...] = ("Symbol", "Qty", "Realised", "Fees", "Unrealised", "P&L", "Share", "Driver now")
BOOK_COLUMNS: tuple[str, ...] = ("Book (model)", "Weight", "Realised", "Fees", "Unrealised", "P&L", "Share")


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def _versus(total: float, session: float) -> str:
    if math.isnan(session):
        return ""
    if abs(total - session) < 0.005:
        return " = the session's P&L"
    return f"; the session's P&L is {session:+,.2f} (the difference: the puts, or a snapshot between two reads)"


def attribution_view(log: TradeLog | None, snap: Snapshot) -> tuple[list[str], list[Table]]:
    """P&L by symbol (realised and fees from the log, unrealised from the
    book) and by strategy book, i.e. by model (the engine's own split)."""
    if log is not None:
        log.update(snap.seq)
    unreal = {p.symbol: p.unrealized for p in snap.positions}
    qty = {p.symbol: p.qty for p in snap.positions}
    realised = log.realized if log is not None else {p.symbol: p.realized for p in snap.positions}
    fees = log.fees if log is not None else {}
    drivers = driving_models(snap, log.driver) if log is not None else driving_models(snap)
    symbols = sorted(set(unreal) | set(realised) | set(fees))
    pnl = {s: realised.get(s, 0.0) - fees.get(s, 0.0) + unreal.get(s, 0.0) for s in symbols}
    total = math.fsum(pnl.values())
    gross = math.fsum(abs(v) for v in pnl.values())
    rows: list[tuple[str, ...]] = [(s, _qty(qty.get(s, 0.0)), signed_money(realised.get(s, 0.0)),
             money(fees[s]) if s in fees else ("—" if log is None else money(0.0)),
             signed_money(unreal.get(s, 0.0)), signed_money(pnl[s]), _share(abs(pnl[s]), gross),
             f"{drivers[s][0]} {drivers[s][1]:+.2f}" if s in drivers else "")
            for s in sorted(symbols, key=lambda s: -abs(pnl[s]))]
    start = snap.risk.start_nav
    session = snap.risk.nav - start if start > 0 else math.nan
    if log is None:  # no fees known: no sum to hold against the session's P&L
        lines = [f"By symbol: {total:+,.2f} before fees (realised {math.fsum(realised.values()):+,.2f}, "
                 f"unrealised {math.fsum(unreal.values()):+,.2f})"]
    else:
        lines = [f"By symbol: {total:+,.2f} (realised {math.fsum(realised.values()):+,.2f}, fees "
                 f"{math.fsum(fees.values()):,.2f}, unrealised {math.fsum(unreal.values()):+,.2f})"
                 + _versus(total, session)]
    if log is None:
        lines.append(NO_LOG + ": realised from the book, fees unknown")
    tables: list[Table] = [("P&L by symbol (Share: of the sum of |P&L|; Driver now: the model that sets "
                            "the position, the ensemble's largest part)", SYMBOL_COLUMNS, rows)]
    if snap.books:
        bgross = math.fsum(abs(b.pnl) for b in snap.books)
        brows: list[tuple[str, ...]] = [(b.book, f"{b.weight:.0%}", signed_money(b.realized), money(b.commissions),
                  signed_money(b.unrealized), signed_money(b.pnl), _share(abs(b.pnl), bgross))
                 for b in sorted(snap.books, key=lambda b: -abs(b.pnl))]
        lines.append(f"By book: {math.fsum(b.pnl for b in snap.books):+,.2f} over {len(snap.books)} books "
                     "(each book one model; the engine attributes every fill to the books)")
        tables.append(("P&L by strategy book (model)", BOOK_COLUMNS, brows))
    else:
        lines.append("By model: one book here, driven by the ensemble; its P&L is not split by model "
                     "in the log. [strategy] books = [...] runs one book per model and splits it.")
    return lines, tables
