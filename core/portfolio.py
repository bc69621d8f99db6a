"""Cash, positions, marking and P&L (compiled by mypyc; the per-tick path).

Quantities are signed units, prices and money in the book's currency.
NAV = cash + sum(qty * last price); commissions come out of cash, so NAV is
net of costs. Realised P&L is gross of commission (commissions are tracked
apart).
"""

import math


class Position:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.qty: float = 0.0
        self.avg_price: float = 0.0
        self.realized: float = 0.0


class Portfolio:
    def __init__(self, cash: float) -> None:
        self.cash: float = cash
        self.positions: dict[str, Position] = {}
        self.last: dict[str, float] = {}
        self.commissions: float = 0.0
        self.realized: float = 0.0
        # mark-to-model value of options held (core.overlay), set by the engine at
        # bar close; part of NAV, not of gross or net (their delta is in the risk figures)
        self.option_value: float = 0.0

    def mark(self, symbol: str, price: float) -> None:
        self.last[symbol] = price

    def qty(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.qty

    def apply_fill(self, symbol: str, qty: float, price: float, commission: float) -> float:
        """Book a fill; returns the realised P&L of the part that closed."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = Position(symbol)
            self.positions[symbol] = pos
        realized = 0.0
        old = pos.qty
        if old != 0.0 and (old > 0.0) != (qty > 0.0):
            closed = min(abs(qty), abs(old))
            realized = closed * (price - pos.avg_price) * (1.0 if old > 0.0 else -1.0)
        new = old + qty
        if abs(new) < 1e-12:
            new = 0.0
        if new == 0.0:
            pos.avg_price = 0.0
        elif old == 0.0 or (old > 0.0) != (new > 0.0):
            pos.avg_price = price  # opened, or flipped through zero
        elif abs(new) > abs(old):
            pos.avg_price = (pos.avg_price * abs(old) + price * abs(qty)) / abs(new)
        pos.qty = new
        pos.realized += realized
        self.realized += realized
        self.cash -= qty * price + commission
        self.commissions += commission
        if symbol not in self.last:
            self.last[symbol] = price
        return realized

    def market_value(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        if pos is None or pos.qty == 0.0:
            return 0.0
        return pos.qty * self.last.get(symbol, pos.avg_price)

    def price(self, sym: str, pos: Position) -> float:
        """The last mark of ``sym``, else the position's average price (as
        ``last.get(sym, avg_price)``, without boxing the default)."""
        px = self.last.get(sym)
        return pos.avg_price if px is None else px

    def nav(self) -> float:
        total = self.cash + self.option_value
        for sym, pos in self.positions.items():
            if pos.qty != 0.0:
                total += pos.qty * self.price(sym, pos)
        return total

    def gross(self) -> float:
        total = 0.0
        for sym, pos in self.positions.items():
            if pos.qty != 0.0:
                total += abs(pos.qty * self.price(sym, pos))
        return total

    def net(self) -> float:
        total = 0.0
        for sym, pos in self.positions.items():
            if pos.qty != 0.0:
                total += pos.qty * self.price(sym, pos)
        return total

    def gross_net(self) -> tuple[float, float]:
        """``(gross(), net())`` in one pass over the positions (the same sums)."""
        gross = 0.0
        net = 0.0
        for sym, pos in self.positions.items():
            if pos.qty != 0.0:
                v = pos.qty * self.price(sym, pos)
                gross += abs(v)
                net += v
        return gross, net

    def unrealized(self) -> float:
        total = 0.0
        for sym, pos in self.positions.items():
            if pos.qty != 0.0:
                total += pos.qty * (self.last.get(sym, pos.avg_price) - pos.avg_price)
        return total

    def has_open(self) -> bool:
        """Any position open (``open_symbols()`` without making the list)."""
        for pos in self.positions.values():
            if pos.qty != 0.0:
                return True
        return False

    def open_symbols(self) -> list[str]:
        return [s for s, p in self.positions.items() if p.qty != 0.0]


def finite_positive(x: float) -> bool:
    return x > 0.0 and not math.isinf(x)
