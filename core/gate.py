"""Pre-trade gate: every order passes every rule, no bypass (compiled by mypyc).

Each rule is its own small method that returns a Rejection or None; ``check``
runs them in a fixed order and the first refusal wins. Rules that limit size
only bite on orders that *increase* exposure, so exits always get through
unless trading is HALTED.
"""

import math

from core.state import HALTED, REDUCING


class Rejection:
    def __init__(self, rule: str, value: float, limit: float, reason: str) -> None:
        self.rule = rule
        self.value = value
        self.limit = limit
        self.reason = reason


class OrderContext:
    """What the gate needs to know about one order and the book around it."""

    def __init__(self, state: str, symbol: str, qty: float, ref_price: float,
                 last_price: float, position: float, pending: float,
                 has_pending: bool, origin: str, nav: float, gross: float,
                 ts: int, sector_gross_other: float, var_other: float, unit_var: float) -> None:
        self.state = state
        self.symbol = symbol
        self.qty = qty
        self.ref_price = ref_price
        self.last_price = last_price
        self.position = position
        self.pending = pending
        self.has_pending = has_pending
        self.origin = origin
        self.nav = nav
        self.gross = gross
        self.ts = ts  # market ms
        self.sector_gross_other = sector_gross_other  # the sector's gross, other symbols
        self.var_other = var_other  # VaR contribution (currency) of the other positions
        self.unit_var = unit_var  # one-day 95% VaR of one unit of this symbol (currency)

    def exposure_before(self) -> float:
        return self.position + self.pending

    def exposure_after(self) -> float:
        return self.position + self.pending + self.qty

    def increases(self) -> bool:
        before = self.exposure_before()
        after = self.exposure_after()
        if before != 0.0 and after != 0.0 and (before > 0.0) != (after > 0.0):
            return True  # flipping through zero opens new exposure
        return abs(after) > abs(before)


class Gate:
    def __init__(self, max_order_notional: float, max_position_fraction: float,
                 max_gross_leverage: float, fat_finger_band: float,
                 max_sector_fraction: float, var_budget: float, max_orders_per_minute: int,
                 do_not_trade: list[str], open_minute: int, close_minute: int) -> None:
        self.max_order_notional = max_order_notional
        self.max_position_fraction = max_position_fraction
        self.max_gross_leverage = max_gross_leverage
        self.fat_finger_band = fat_finger_band
        self.max_sector_fraction = max_sector_fraction
        self.var_budget = var_budget
        self.max_orders_per_minute = max_orders_per_minute
        self.do_not_trade: set[str] = set(do_not_trade)
        self.blocked: set[str] = set()  # blocked by the operator (block_symbol): a logged command
        self.open_minute = open_minute  # -1: no calendar, always open
        self.close_minute = close_minute
        self.accepted_ts: list[int] = []  # market ms of recent accepted orders
        self.counts: dict[str, int] = {}

    def set_limit(self, name: str, value: float) -> float:
        """Set one of the limits above for this session (the operator's
        ``set_limit``, checked by the engine); returns the old value."""
        if name == "max_order_notional":
            old, self.max_order_notional = self.max_order_notional, value
        elif name == "max_position_fraction":
            old, self.max_position_fraction = self.max_position_fraction, value
        elif name == "max_gross_leverage":
            old, self.max_gross_leverage = self.max_gross_leverage, value
        elif name == "fat_finger_band":
            old, self.fat_finger_band = self.fat_finger_band, value
        elif name == "max_sector_fraction":
            old, self.max_sector_fraction = self.max_sector_fraction, value
        elif name == "var_budget":
            old, self.var_budget = self.var_budget, value
        elif name == "max_orders_per_minute":
            old, self.max_orders_per_minute = float(self.max_orders_per_minute), int(value)
        else:
            raise KeyError(name)
        return old

    def check(self, o: OrderContext) -> Rejection | None:
        r = self.halted(o)
        if r is None:
            r = self.sane(o)
        if r is None:
            r = self.reduce_only(o)
        if r is None:
            r = self.market_hours(o)
        if r is None:
            r = self.restricted(o)
        if r is None:
            r = self.duplicate(o)
        if r is None:
            r = self.order_rate(o)
        if r is None:
            r = self.fat_finger(o)
        if r is None:
            r = self.order_notional(o)
        if r is None:
            r = self.position_size(o)
        if r is None:
            r = self.gross_leverage(o)
        if r is None:
            r = self.sector_exposure(o)
        if r is None:
            r = self.var_budget_after(o)
        if r is not None:
            self.counts[r.rule] = self.counts.get(r.rule, 0) + 1
        return r

    def halted(self, o: OrderContext) -> Rejection | None:
        if o.state == HALTED:
            return Rejection("halted", 1.0, 0.0, "trading is HALTED: no new orders")
        return None

    def sane(self, o: OrderContext) -> Rejection | None:
        """Fail closed on anything we cannot price."""
        for name, x in (("qty", o.qty), ("ref_price", o.ref_price), ("last_price", o.last_price),
                        ("nav", o.nav)):
            if math.isnan(x) or math.isinf(x):
                return Rejection("invalid_order", x, 0.0, f"{name} is not finite")
        if o.qty == 0.0:
            return Rejection("invalid_order", 0.0, 0.0, "zero quantity")
        if o.ref_price <= 0.0 or o.last_price <= 0.0:
            return Rejection("invalid_order", o.ref_price, 0.0, "no positive price")
        if o.nav <= 0.0 and o.increases():
            return Rejection("invalid_order", o.nav, 0.0, "NAV is not positive")
        return None

    def reduce_only(self, o: OrderContext) -> Rejection | None:
        if o.state == REDUCING and o.increases():
            return Rejection("reduce_only", abs(o.exposure_after()), abs(o.exposure_before()),
                             "REDUCING: only orders that shrink a position")
        return None

    def duplicate(self, o: OrderContext) -> Rejection | None:
        if o.has_pending and o.origin == "strategy":
            return Rejection("duplicate_order", 1.0, 0.0, f"an order for {o.symbol} is still open")
        return None

    def record_accepted(self, ts: int) -> None:
        self.accepted_ts.append(ts)
        cutoff = ts - 60_000
        while self.accepted_ts and self.accepted_ts[0] <= cutoff:
            self.accepted_ts.pop(0)

    def market_hours(self, o: OrderContext) -> Rejection | None:
        """Orders only inside the session calendar (Monday-Friday, open-close UTC)."""
        if self.open_minute < 0:
            return None
        day = o.ts // 86_400_000
        minute = (o.ts // 60_000) % 1440
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        if weekday >= 5 or minute < self.open_minute or minute >= self.close_minute:
            return Rejection("market_closed", float(minute), float(self.open_minute),
                             "outside trading hours")
        return None

    def restricted(self, o: OrderContext) -> Rejection | None:
        if o.symbol in self.do_not_trade and o.increases():
            return Rejection("do_not_trade", 1.0, 0.0, f"{o.symbol} is on the do-not-trade list")
        if o.symbol in self.blocked and o.increases():
            return Rejection("blocked", 1.0, 0.0, f"{o.symbol} is blocked by the operator")
        return None

    def order_rate(self, o: OrderContext) -> Rejection | None:
        recent = 0
        cutoff = o.ts - 60_000
        for t in self.accepted_ts:
            if t > cutoff:
                recent += 1
        if recent >= self.max_orders_per_minute:
            return Rejection("order_rate", float(recent + 1), float(self.max_orders_per_minute),
                             "too many orders in the last minute")
        return None

    def sector_exposure(self, o: OrderContext) -> Rejection | None:
        if not o.increases():
            return None  # exits always pass (and NAV > 0 is checked by sane for the rest)
        frac = (o.sector_gross_other + abs(o.exposure_after() * o.ref_price)) / o.nav
        if frac > self.max_sector_fraction and o.increases():
            return Rejection("max_sector", frac, self.max_sector_fraction,
                             "sector exposure would exceed its share of NAV")
        return None

    def var_budget_after(self, o: OrderContext) -> Rejection | None:
        """Portfolio one-day 95% VaR after the order, as if every position were
        perfectly correlated (an upper bound: sum of stand-alone VaRs)."""
        if not o.increases():
            return None
        after = (o.var_other + abs(o.exposure_after()) * o.unit_var) / o.nav
        if after > self.var_budget and o.increases():
            return Rejection("var_budget", after, self.var_budget, "portfolio VaR would exceed its budget")
        return None

    def fat_finger(self, o: OrderContext) -> Rejection | None:
        dev = abs(o.ref_price / o.last_price - 1.0)
        if dev > self.fat_finger_band:
            return Rejection("fat_finger", dev, self.fat_finger_band, "price far from the last price")
        return None

    def order_notional(self, o: OrderContext) -> Rejection | None:
        notional = abs(o.qty * o.ref_price)
        if notional > self.max_order_notional and o.increases():
            return Rejection("max_order_notional", notional, self.max_order_notional,
                             "order notional above the limit")
        return None

    def position_size(self, o: OrderContext) -> Rejection | None:
        if not o.increases():
            return None
        frac = abs(o.exposure_after() * o.ref_price) / o.nav
        if frac > self.max_position_fraction and o.increases():
            return Rejection("max_position", frac, self.max_position_fraction,
                             "position would exceed its share of NAV")
        return None

    def gross_leverage(self, o: OrderContext) -> Rejection | None:
        if not o.increases():
            return None
        after = o.gross - abs(o.exposure_before() * o.last_price) + abs(o.exposure_after() * o.ref_price)
        lev = after / o.nav
        if lev > self.max_gross_leverage and o.increases():
            return Rejection("max_gross_leverage", lev, self.max_gross_leverage,
                             "gross leverage would exceed the limit")
        return None
