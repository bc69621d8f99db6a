"""A position's story, from the snapshot on screen and the log lines the
console holds: why it is held (each model's view of the symbol), what it
did (orders, fills, rejections, with their reasons), what it made and its
share of the book's VaR. The UI computes nothing here: it gathers figures
the engine published."""

from __future__ import annotations

from collections.abc import Iterable

from console.panes.common import money, pct, signed_money, when
from core.snapshot import LogLine, Snapshot

MAX_EVENTS = 30  # the newest lines about the symbol; the session log has them all
TRADE_WORDS = ("ORDER ", "FILL ", "REJECT ", "CANCEL ", "EXPIRED ", "PARENT ", "CROSS ", "HEDGE ", "QUARANTINE ")


def position_story(snap: Snapshot, symbol: str, log: Iterable[LogLine]) -> str:
    lines: list[str] = []
    pos = next((p for p in snap.positions if p.symbol == symbol), None)
    if pos is None:
        return f"{symbol}: no position"
    lines.append(f"{symbol}: {pos.qty:+,g} @ avg {money(pos.avg_price)}, last {money(pos.last)}, "
                 f"value {money(pos.market_value)} ({pct(pos.weight)} of NAV)")
    lines.append(f"P&L: unrealised {signed_money(pos.unrealized)}, realised {signed_money(pos.realized)}")
    contrib = dict(snap.risk.contributions).get(symbol)
    book_var = snap.risk.var95 * snap.risk.nav
    if contrib is not None and book_var > 0:
        lines.append(f"VaR contribution {money(contrib)} of the book's {money(book_var)} "
                     f"({pct(contrib / book_var)}, {snap.risk.var_measure})")
    views = [s for s in snap.signals if s.symbol == symbol]
    lines.append("")
    lines.append("Why (each model's latest view):" if views else "Why: no model view of this symbol")
    for s in views:
        extra = f" {s.regime}" if s.regime else ""
        status = f" [{s.status}]" if s.status else ""
        lines.append(f"  {s.model:<12} {s.value:+.2f}  conf {s.confidence:.0%}{extra}{status}  at {when(s.ts)}")
    orders = [o for o in snap.open_orders if o.symbol == symbol]
    if orders:
        lines.append("")
        lines.append("Open orders:")
        lines += [f"  #{o.order_id} {o.order_type} {o.qty:+,g} ~{money(o.ref_price)} [{o.origin}]" for o in orders]
    events = [line for line in log if f" {symbol} " in f" {line.text} " and line.text.startswith(TRADE_WORDS)]
    lines.append("")
    lines.append(f"Orders and fills (newest {min(len(events), MAX_EVENTS)} in view; all in the session log):"
                 if events else "Orders and fills: none in the console's log (see the session log)")
    lines += [f"  {when(e.ts)} #{e.seq} {e.text}" for e in events[-MAX_EVENTS:]]
    return "\n".join(lines)


ENSEMBLE = "ensemble"


def driving_models(snap: Snapshot) -> dict[str, tuple[str, float]]:
    """symbol -> (model, contribution): the ensemble's largest contributor
    (weight x value) to its latest view of the symbol, the model that drives
    the position; symbols without an ensemble view are absent."""
    found: dict[str, tuple[str, float]] = {}
    for s in snap.signals:
        if s.model == ENSEMBLE and s.explain:
            model, part = max(s.explain, key=lambda kv: abs(kv[1]))
            found[s.symbol] = (model, part)
    return found
