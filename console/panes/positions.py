"""Positions pane: the book by symbol, the open orders below it by order id
(parent orders first, each child naming its parent), and with several strategy
books (``strategy.books``) their P&L attribution at the bottom; with the
options overlay (``[hedge]``) the protective puts held, last."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from console.panes.common import NA, Cell, KeyedTable, money, num, open_positions, pct, signed
from console.screens import InfoScreen
from core.snapshot import BookRow, OptionRow, OrderRow, PositionRow, Snapshot

POSITION_COLUMNS = (
    ("Symbol", "symbol"), ("Qty", "qty"), ("Avg", "avg"), ("Last", "last"),
    ("Mkt value", "mv"), ("Unrealised", "unrealised"), ("Realised", "realised"),
    ("Weight", "weight"),
)
BOOK_COLUMNS = (
    ("Book", "book"), ("Weight", "weight"), ("Pos value", "mv"), ("Realised", "realised"),
    ("Unrealised", "unrealised"), ("Fees", "fees"), ("P&L", "pnl"), ("Top symbol", "top"),
)
PUT_COLUMNS = (
    ("Put", "id"), ("Symbol", "symbol"), ("Contracts", "contracts"), ("Strike", "strike"),
    ("Expiry", "expiry"), ("Cost", "cost"), ("Mark", "mark"), ("Vol", "vol"), ("Delta units", "delta"),
    ("P&L", "pnl"),
)
ORDER_COLUMNS = (
    ("Order", "id"), ("Symbol", "symbol"), ("Type", "type"), ("Remaining", "qty"),
    ("Filled", "filled"), ("Limit", "limit"), ("Ref", "ref"), ("Parent", "parent"), ("Origin", "origin"),
)


class PositionsPane(Vertical):
    """Positions keyed by symbol; open orders keyed by order id. ``e`` shows
    the selected strategy book's P&L by symbol."""

    BINDINGS = [Binding("e", "explain", "Book by symbol")]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Positions"
        self._book_rows: dict[str, BookRow] = {}
        self._nav_ok = True
        self._snap: Snapshot | None = None

    def compose(self) -> ComposeResult:
        self._positions = KeyedTable(POSITION_COLUMNS, id="positions-table")
        self._orders = KeyedTable(ORDER_COLUMNS, id="orders-table")
        yield self._positions
        yield Static("Open orders", classes="subtitle")
        yield self._orders
        self._books_title = Static("By strategy", classes="subtitle", id="books-title")
        self._books = KeyedTable(BOOK_COLUMNS, sort_by=0, id="books-table")
        self._books_title.display = False
        self._books.display = False
        yield self._books_title
        yield self._books
        self._puts_title = Static("Protective puts", classes="subtitle", id="puts-title")
        self._puts = KeyedTable(PUT_COLUMNS, id="puts-table")
        self._puts_title.display = False
        self._puts.display = False
        yield self._puts_title
        yield self._puts

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        """Enter on a position: its story (why, orders and fills, P&L, VaR share)."""
        if event.data_table is not self._positions or self._snap is None:
            return
        event.stop()
        from console.panes.log import LogPane
        from console.story import position_story

        symbol = str(event.row_key.value)
        log = self.app.query_one(LogPane).kept
        trades = getattr(self.app, "trade_log", lambda: None)()  # the session's database, when there is one
        self.app.push_screen(InfoScreen(f"{symbol}: its story", position_story(self._snap, symbol, log, trades)))

    def apply(self, snap: Snapshot) -> None:
        self._snap = snap
        held = open_positions(snap)
        self._nav_ok = snap.risk.nav > 0  # a weight of a NAV at or below zero means nothing
        self._positions.sync({p.symbol: self._position_cells(p) for p in held})
        self._orders.sync({str(o.order_id): self._order_cells(o) for o in snap.open_orders})
        self.border_subtitle = f"{len(held)} pos · {len(snap.open_orders)} orders"
        if snap.blocked:
            self.border_subtitle += " · blocked: " + ", ".join(snap.blocked)
        if snap.books or self._books.display:
            self._books_title.display = self._books.display = bool(snap.books)
            self._books.sync({b.book: self._book_cells(b) for b in snap.books})
            had = bool(self._book_rows)
            self._book_rows = {b.book: b for b in snap.books}
            if had != bool(snap.books):
                self.refresh_bindings()  # ``e`` is offered only with books
            if snap.books:
                self.border_subtitle += f" · {len(snap.books)} books"
        if snap.options or self._puts.display:
            self._puts_title.display = self._puts.display = bool(snap.options)
            self._puts.sync({str(o.option_id): self._put_cells(o) for o in snap.options})
            if snap.options:
                self.border_subtitle += f" · {len(snap.options)} puts"

    def breakdown(self, book: str) -> str:
        """A book's attribution by symbol: units, value at last and P&L, largest P&L first."""
        b = self._book_rows.get(book)
        if b is None:
            return "no strategy book selected"
        head = (f"{b.book}: weight {pct(b.weight)}, P&L {b.pnl:+,.2f} (realised {b.realized:+,.2f}, "
                f"unrealised {b.unrealized:+,.2f}, fees {b.commissions:,.2f})")
        if not b.symbols:
            return head + "\nno positions or realised P&L yet"
        lines = [f"{sym:<8} {qty:>12,.{_places(qty)}f} {value:>14,.2f} {pnl:>+12,.2f}"
                 for sym, qty, value, pnl in sorted(b.symbols, key=lambda r: -abs(r[3]))]
        return head + "\n" + f"{'symbol':<8} {'units':>12} {'value':>14} {'P&L':>12}\n" + "\n".join(lines)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self._book_rows) if action == "explain" else True

    def action_explain(self) -> None:
        table = self._books
        if not table.display or table.row_count == 0:
            self.app.notify("no strategy books in this session ([strategy] books)", timeout=5)
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        self.app.push_screen(InfoScreen("Book by symbol", self.breakdown(key)))

    def restyle(self) -> None:
        self._positions.restyle()
        self._orders.restyle()
        self._books.restyle()
        self._puts.restyle()

    def _position_cells(self, p: PositionRow) -> tuple[Cell, ...]:
        app = self.app
        return (
            p.symbol, num(f"{p.qty:,.{_places(p.qty)}f}"), num(money(p.avg_price)), num(money(p.last)),
            num(money(p.market_value)), signed(app, p.unrealized, money(p.unrealized)),
            signed(app, p.realized, money(p.realized)), num(pct(p.weight) if self._nav_ok else NA),
        )

    def _book_cells(self, b: BookRow) -> tuple[Cell, ...]:
        app = self.app
        top = max(b.symbols, key=lambda r: abs(r[3]), default=None)
        top_text = f"{top[0]} {top[3]:+,.0f}" if top is not None else "—"
        return (
            b.book, num(pct(b.weight)), num(money(b.market_value)),
            signed(app, b.realized, money(b.realized)), signed(app, b.unrealized, money(b.unrealized)),
            num(money(b.commissions)), signed(app, b.pnl, money(b.pnl)), top_text,
        )

    def _put_cells(self, o: OptionRow) -> tuple[Cell, ...]:
        expiry = time.strftime("%Y-%m-%d", time.gmtime(o.expiry_ts / 1000)) if o.expiry_ts > 0 else "—"
        return (num(f"#{o.option_id}"), o.symbol, num(f"{o.contracts:g}"), num(money(o.strike)), expiry,
                num(money(o.cost)), num(money(o.mark)), num(pct(o.vol)), num(f"{o.delta:+,.0f}"),
                signed(self.app, o.pnl, money(o.pnl)))

    def _order_cells(self, o: OrderRow) -> tuple[Cell, ...]:
        side = signed(self.app, o.qty, f"{o.qty:+,.{_places(o.qty)}f}")
        filled = num(f"{o.filled:+,.{_places(o.filled)}f}" if o.filled else "—")
        limit = num(money(o.limit) if o.limit > 0 else "—")
        parent = num(f"#{o.parent_id}" if o.parent_id else "—")
        return (num(str(o.order_id)), o.symbol, o.order_type, side, filled, limit,
                num(money(o.ref_price)), parent, o.origin)


def _places(qty: float) -> int:
    """Decimals that show a quantity exactly enough: whole units as integers,
    fractional lots (crypto 0.01) with up to four places."""
    return 0 if float(qty).is_integer() else 4
