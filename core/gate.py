"""Pre-trade gate: every order passes every rule, no bypass (compiled by mypyc).

Each rule is its own small method that returns a Rejection or None; ``check``
runs them in a fixed order and the first refusal wins. ``venue_funds`` (the
venue account's free balances) runs last, and only once a venue has reported
a balance: simulated and paper sessions never see it. Rules that limit size
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


DAY_MS = 86_400_000


def business_day(ts: int) -> int:
    """Monday-Friday days since the Monday before the epoch, of market ms ``ts``
    (UTC dates; no holiday calendar). A Saturday or Sunday counts as the
    Monday after it."""
    d = ts // DAY_MS + 3  # 1970-01-01 was a Thursday: day 3 of its week
    return (d // 7) * 5 + min(d % 7, 5)


class WashSale:
    """A loss realised on ``symbol`` (``loss_ts``, ``loss`` < 0 currency) and
    the symbol bought back (a position reopened or added to in the same
    direction, ``rebuy_ts``) within the window after it."""

    def __init__(self, symbol: str, loss_ts: int, loss: float, rebuy_ts: int, rebuy_order: int) -> None:
        self.symbol = symbol
        self.loss_ts = loss_ts
        self.loss = loss
        self.rebuy_ts = rebuy_ts
        self.rebuy_order = rebuy_order


class UsAccountRules:
    """Seed 002's rules for US individual accounts, fed by every fill
    (``on_fill``, from Engine.book_fill). Both off by default.

    Pattern day trader (``pdt``): a day trade is opening or adding to a
    position in a symbol and then closing or reducing it on the same market
    day (the UTC date of the market ts); closes after it count again only
    after another opening fill (FINRA's sequence rule: buy, sell, sell is one
    day trade; buy, sell, buy, sell two). The gate
    refuses, rule "pdt", an order that would be a day trade when the account
    already made ``pdt_max_day_trades`` of them within the last five business
    days (today and the four before) and its equity (NAV) is under
    ``pdt_min_equity``: the fifth of five is refused by default.

    Wash sales (``wash_sale``): a fill that realises a loss, then a fill that
    reopens or adds to the symbol in the same direction within
    ``wash_sale_days`` calendar days after it, is recorded in ``wash_sales``
    (a flag, never a refusal: the trade is legal, only the loss's tax
    treatment changes). Only the 30 days after the loss are checked."""

    def __init__(self) -> None:
        self.pdt = False
        self.pdt_min_equity = 25_000.0
        self.pdt_max_day_trades = 4
        self.wash_sale = False
        self.wash_sale_days = 30
        self.opened_day: dict[str, int] = {}  # symbol -> UTC day of its last opening fill
        self.day_trades: list[tuple[int, str, int]] = []  # (business day, symbol, closing order id)
        # orders the gate let through as day trades, not yet filled: they count at once, so two
        # closing orders in flight cannot both pass as the last one allowed (one never filled
        # keeps counting until it leaves the window: the rule errs on the safe side)
        self.reserved: list[tuple[int, str]] = []  # (business day, symbol)
        self.losses: dict[str, tuple[int, float, float]] = {}  # symbol -> (ts, loss, side of the closed position)
        self.wash_sales: list[WashSale] = []

    def on_fill(self, ts: int, symbol: str, order_id: int, before: float, qty: float, realized: float) -> None:
        if not (self.pdt or self.wash_sale):
            return
        after = before + qty
        opens = abs(after) > abs(before) or (before != 0.0 and after != 0.0 and (before > 0.0) != (after > 0.0))
        closes = before != 0.0 and (qty > 0.0) != (before > 0.0)
        day = ts // DAY_MS
        if closes and self.opened_day.get(symbol, -1) == day:
            # one day trade per open-then-close today: later closes count again only
            # after another opening fill (buy, sell 50, sell 50 is one; buy, sell, buy, sell two)
            bd = business_day(ts)
            self.day_trades.append((bd, symbol, order_id))
            self.opened_day[symbol] = -1
            if (bd, symbol) in self.reserved:
                self.reserved.remove((bd, symbol))
        if closes and realized < 0.0:
            self.losses[symbol] = (ts, realized, 1.0 if before > 0.0 else -1.0)
        if opens:
            self.opened_day[symbol] = day
            loss = self.losses.get(symbol)
            side = 1.0 if after > 0.0 else -1.0
            if loss is not None and loss[2] == side and ts - loss[0] <= self.wash_sale_days * DAY_MS \
                    and self.wash_sale:
                self.wash_sales.append(WashSale(symbol, loss[0], loss[1], ts, order_id))
                del self.losses[symbol]  # one flag per loss
        horizon = business_day(ts) - 4
        while self.day_trades and self.day_trades[0][0] < horizon:
            self.day_trades.pop(0)
        while self.reserved and self.reserved[0][0] < horizon:
            self.reserved.pop(0)

    def day_trades_in_window(self, ts: int) -> int:
        """Day trades made, and let through but not yet filled, in the last five business days."""
        horizon = business_day(ts) - 4
        n = 0
        for bd, _, _ in self.day_trades:
            if bd >= horizon:
                n += 1
        for rd, _ in self.reserved:
            if rd >= horizon:
                n += 1
        return n

    def reserve(self, symbol: str, ts: int) -> None:
        """One pending day trade per symbol and day (a parent and its children are one)."""
        key = (business_day(ts), symbol)
        if key not in self.reserved:
            self.reserved.append(key)

    def would_day_trade(self, symbol: str, exposure: float, qty: float, ts: int) -> bool:
        return exposure != 0.0 and (qty > 0.0) != (exposure > 0.0) \
            and self.opened_day.get(symbol, -1) == ts // DAY_MS


class WashSaleLog:
    """Wash sales from a logged session (``console report``): its Fill events,
    each with the PositionChanged that follows it (the realised P&L), through
    the same UsAccountRules the engine feeds live."""

    def __init__(self, days: int) -> None:
        self.rules = UsAccountRules()
        self.rules.wash_sale, self.rules.wash_sale_days = True, days
        self.qty: dict[str, float] = {}
        self.fill: tuple[int, str, int, float] | None = None  # (ts, symbol, order id, qty) awaiting its position

    def add(self, kind: str, ts: int, symbol: str, order_id: int, qty: float, realized: float) -> None:
        """``kind`` "fill" (``qty`` the fill's) or "position" (``qty`` the new position)."""
        if kind == "fill":
            self.fill = (ts, symbol, order_id, qty)
        elif kind == "position":
            f = self.fill
            if f is not None and f[1] == symbol:
                self.rules.on_fill(f[0], symbol, f[2], qty - f[3], f[3], realized)
            self.fill = None
            self.qty[symbol] = qty


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
        self.us = UsAccountRules()  # pattern day trader, wash sales: off unless a config turns them on
        # venue mode: the account's free balances, asset -> free, from the logged balance reports
        # (Engine.on_venue_report); the venue_funds rule bites once one has been seen
        self.funds: dict[str, float] = {}
        self.funds_seen: bool = False
        self.fee_bps: float = 0.0  # the commission estimate added to a buy's cost (the router sets it)

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
        if r is None and self.us.pdt:
            r = self.pattern_day_trader(o)
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
        if r is None and self.funds_seen:
            r = self.venue_funds(o)
        if r is not None:
            self.counts[r.rule] = self.counts.get(r.rule, 0) + 1
        elif self.us.pdt and self.us.would_day_trade(o.symbol, o.exposure_before(), o.qty, o.ts):
            self.us.reserve(o.symbol, o.ts)  # passed every rule: it counts from now
        return r

    def set_funds(self, asset: str, free: float) -> None:
        """A logged balance report: ``free`` units of ``asset`` (not finite: 0, fail closed)."""
        self.funds[asset] = free if math.isfinite(free) else 0.0
        self.funds_seen = True

    def venue_funds(self, o: OrderContext) -> Rejection | None:
        """Venue mode: what the account can pay for, by its free balances as
        last reported (polled every ``balance_s``; orders sent since are not
        yet in them: the venue's own refusal stays the backstop). A buy that
        adds exposure must fit in the free quote balance with its commission
        estimate (the quote: QUOTE of a "BASE/QUOTE" symbol, USD for a stock).
        A spot sell ("BASE/QUOTE") beyond the free base balance is refused
        unless it only reduces the long the book holds, open orders counted
        (the reports may lag a fill: exits always pass). A derivative ("BASE/QUOTE:SETTLE") trades
        on margin and is not checked here."""
        sym = o.symbol
        if ":" in sym:
            return None
        slash = sym.find("/")
        base = sym[:slash] if slash >= 0 else ""
        quote = sym[slash + 1:] if slash >= 0 else "USD"
        if o.qty > 0.0 and o.increases():
            notional = o.qty * o.ref_price
            need = notional + notional * self.fee_bps / 10_000.0
            free = self.funds.get(quote, 0.0)
            if need > free:
                return Rejection("venue_funds", need, free, f"{quote}: buying {o.qty:g} {sym} needs "
                                 f"{need:,.2f} {quote}, {free:,.2f} {quote} free at the venue")
        elif o.qty < 0.0 and base != "":
            sell = -o.qty
            free = self.funds.get(base, 0.0)
            held = o.exposure_before()
            if sell > free and not (held > 0.0 and sell <= held):
                return Rejection("venue_funds", sell, free, f"{base}: selling {sell:g} {sym} needs {sell:g} "
                                 f"{base}, {free:g} {base} free at the venue and the book holds {held:g}")
        return None

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

    def pattern_day_trader(self, o: OrderContext) -> Rejection | None:
        """A day trade past the limit, equity under the minimum (UsAccountRules)."""
        us = self.us
        if o.nav >= us.pdt_min_equity or not us.would_day_trade(o.symbol, o.exposure_before(), o.qty, o.ts):
            return None
        if (business_day(o.ts), o.symbol) in us.reserved:
            return None  # the day trade already let through (a parent's child, a retry): no new one
        n = us.day_trades_in_window(o.ts)
        if n >= us.pdt_max_day_trades:
            return Rejection("pdt", float(n + 1), float(us.pdt_max_day_trades),
                             f"pattern day trader: day trade {n + 1} in five business days with equity "
                             f"{o.nav:,.0f} under {us.pdt_min_equity:,.0f}")
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
