"""Paper broker: market orders fill at the next price of their symbol
(compiled by mypyc).

A buy pays ``slippage_bps`` above that price, a sell receives as much below;
commission is ``commission_bps`` of notional with a floor of
``min_commission`` (currency). Orders are filled whole (partial fills come
with the execution issue).
"""


class OpenOrder:
    def __init__(self, order_id: int, symbol: str, qty: float, ref_price: float,
                 origin: str, ts: int) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.qty = qty
        self.ref_price = ref_price
        self.origin = origin
        self.ts = ts


class BrokerFill:
    def __init__(self, order: OpenOrder, price: float, commission: float) -> None:
        self.order = order
        self.price = price
        self.commission = commission


class PaperBroker:
    def __init__(self, commission_bps: float, min_commission: float, slippage_bps: float) -> None:
        self.commission_rate: float = commission_bps / 10_000.0
        self.min_commission: float = min_commission
        self.slip: float = slippage_bps / 10_000.0
        self.open: dict[int, OpenOrder] = {}
        self.pending_by_symbol: dict[str, int] = {}

    def submit(self, order: OpenOrder) -> None:
        self.open[order.order_id] = order
        self.pending_by_symbol[order.symbol] = self.pending_by_symbol.get(order.symbol, 0) + 1

    def has_pending(self, symbol: str) -> bool:
        return self.pending_by_symbol.get(symbol, 0) > 0

    def pending_qty(self, symbol: str) -> float:
        total = 0.0
        if self.pending_by_symbol.get(symbol, 0) > 0:
            for o in self.open.values():
                if o.symbol == symbol:
                    total += o.qty
        return total

    def on_price(self, symbol: str, price: float) -> list[BrokerFill]:
        """Fill every open order of ``symbol`` at ``price`` (with slippage)."""
        if self.pending_by_symbol.get(symbol, 0) == 0:
            return []
        fills: list[BrokerFill] = []
        for oid in [o.order_id for o in self.open.values() if o.symbol == symbol]:
            order = self.open.pop(oid)
            px = price * (1.0 + self.slip) if order.qty > 0.0 else price * (1.0 - self.slip)
            fee = max(self.min_commission, abs(order.qty * px) * self.commission_rate)
            fills.append(BrokerFill(order, px, fee))
        self.pending_by_symbol[symbol] = 0
        return fills

    def cancel_all(self) -> list[OpenOrder]:
        cancelled = list(self.open.values())
        self.open.clear()
        self.pending_by_symbol.clear()
        return cancelled
