"""Paper broker and execution algorithms (compiled by mypyc: plain typed code).

Orders rest here until a price of their symbol arrives (a tick, or a file
bar's fill price) that the engine has already screened: a quarantined print
never reaches the broker, so it is never a fill price.

- Price: a buy pays the print plus ``slippage_bps`` (the half-spread) plus an
  impact of ``impact_bps * sqrt(fill qty / print volume)``; a sell receives
  as much below. A limit order fills only when that all-in price is at its
  limit or better, and then at that price.
- Size: with ``participation`` > 0 the orders of a symbol together take at
  most that fraction of each print's volume (tick size, or bar volume),
  rounded down to the instrument's lot; the rest stays open (a partial
  fill). A print with no volume (0) is not capped. 0 fills orders whole.
- Commission: ``commission_bps`` of each fill's notional, with a floor of
  ``min_commission`` per order: the first fill of an order pays at least the
  minimum, later partial fills pay only what takes the order's total past
  it. A child of a parent order counts toward its parent (one order to the
  trader). With ``min_per_order`` off the floor applies to every fill (how
  sessions logged before this rule were charged).
- Time in force: an order with ``expire_ts`` > 0 expires at that market ms.

A ``ParentOrder`` is a large order worked as child orders over market time
(TWAP: equal slices in lots, the remainder on the last; VWAP: slices in
proportion to the volume profile, the remainder on the last; POV: the whole
remainder each slice, capped at ``pov_rate`` of each print). The engine
sends the children through the pre-trade gate and logs everything; this
module only keeps the books.
"""

import math

from core.bus import Bus

MARKET = "market"
LIMIT = "limit"
TWAP = "twap"
POV = "pov"
VWAP = "vwap"
DAY_MS = 86_400_000


class OpenOrder:
    """An order at the broker. ``qty`` is the signed original size, ``filled``
    the signed part done; ``limit`` 0 means a market order; ``participation``
    an own cap on the share of a print's volume (0 = only the broker's)."""

    def __init__(self, order_id: int, symbol: str, qty: float, ref_price: float,
                 origin: str, ts: int, limit: float = 0.0, expire_ts: int = 0,
                 parent_id: int = 0, lot: float = 0.0, participation: float = 0.0) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.qty = qty
        self.ref_price = ref_price
        self.origin = origin
        self.ts = ts
        self.limit = limit
        self.expire_ts = expire_ts
        self.parent_id = parent_id
        self.lot = lot
        self.participation = participation
        self.filled: float = 0.0
        self.notional: float = 0.0  # traded so far, currency (fees: what it was charged)
        self.fees: float = 0.0

    def remaining(self) -> float:
        return self.qty - self.filled

    def order_type(self) -> str:
        return LIMIT if self.limit > 0.0 else MARKET


class BrokerFill:
    """One execution of ``order``: ``qty`` signed units (part or all of what
    remained), ``remaining`` what is still open after it."""

    def __init__(self, order: OpenOrder, qty: float, price: float, commission: float,
                 remaining: float) -> None:
        self.order = order
        self.qty = qty
        self.price = price
        self.commission = commission
        self.remaining = remaining


class ParentOrder:
    """A parent order's schedule and progress. Slice ``k`` (0-based) is due at
    ``start_ts + k * slice_ms``; the parent's horizon ends at slice ``slices``."""

    def __init__(self, parent_id: int, symbol: str, qty: float, ref_price: float, origin: str,
                 algo: str, slices: int, slice_ms: int, start_ts: int, lot: float,
                 pov_rate: float, limit_offset: float) -> None:
        self.parent_id = parent_id
        self.symbol = symbol
        self.qty = qty
        self.ref_price = ref_price
        self.origin = origin
        self.algo = algo
        self.slices = slices
        self.slice_ms = slice_ms
        self.start_ts = start_ts
        self.lot = lot
        self.pov_rate = pov_rate
        self.limit_offset = limit_offset  # fraction; 0 = market children
        self.filled: float = 0.0
        # VWAP: cumulative share of the parent due by the end of each slice (set_profile)
        self.cum_share: list[float] = []
        self.sent: int = 0  # slices done (a slice that rounds to nothing counts)
        self.child_id: int = 0  # the open child, 0 = none
        self.next_ts: int = start_ts
        self.notional: float = 0.0  # traded by its children so far, and what they were charged
        self.fees: float = 0.0

    def target(self, k: int) -> float:
        """Signed cumulative quantity due by the end of slice ``k``: TWAP in
        whole lots (floor), the exact total on the last slice; POV always the
        total (the participation cap paces it)."""
        if self.algo == POV or k >= self.slices - 1:
            return self.qty
        lot = self.lot if self.lot > 0.0 else 1.0
        lots = math.floor(abs(self.qty) / lot + 1e-9)
        if self.algo == VWAP and len(self.cum_share) == self.slices:
            due = float(math.floor(lots * self.cum_share[k] + 1e-9)) * lot
        else:
            due = float((lots * (k + 1)) // self.slices) * lot
        return due if self.qty > 0.0 else -due

    def set_profile(self, weights: list[float]) -> None:
        """VWAP: each slice's expected volume (``PaperBroker.profile``); all
        zero (no volume seen yet) leaves the equal TWAP schedule."""
        total = 0.0
        for w in weights:
            total += w
        if total <= 0.0 or len(weights) != self.slices:
            self.cum_share = []
            return
        acc = 0.0
        out: list[float] = []
        for w in weights:
            acc += w
            out.append(acc / total)
        self.cum_share = out

    def child_qty(self, k: int) -> float:
        """Signed size of slice ``k``'s child: what is due by then, less what
        has filled (an unfilled earlier child is cancelled first and its rest
        carried here)."""
        return self.target(k) - self.filled

    def done(self) -> bool:
        return abs(self.qty - self.filled) <= 1e-9 * abs(self.qty)


class PaperBroker:
    def __init__(self, commission_bps: float, min_commission: float, slippage_bps: float,
                 participation: float = 0.0, impact_bps: float = 0.0,
                 min_per_order: bool = True) -> None:
        self.commission_rate: float = commission_bps / 10_000.0
        self.min_commission: float = min_commission
        self.min_per_order: bool = min_per_order
        self.slip: float = slippage_bps / 10_000.0
        self.participation: float = participation
        self.impact: float = impact_bps / 10_000.0
        self.open: dict[int, OpenOrder] = {}
        self.pending_by_symbol: dict[str, int] = {}
        self.parents: dict[int, ParentOrder] = {}
        self.parent_by_symbol: dict[str, int] = {}
        self.next_expiry: int = 0  # earliest expire_ts of an open order (0 = none); may be stale-early
        # VWAP's volume profile: volume of every print seen on the days before today (UTC
        # dates), per symbol and time-of-day bucket of profile_ms; today's prints join at the
        # next day's first print (a part-day would read as no volume later today).
        # profile_ms 0 = not kept (no VWAP); ``clock`` gives the print's time
        self.profile_ms: int = 0
        self.clock: Bus | None = None
        self.volume_by_bucket: dict[str, dict[int, float]] = {}
        self.volume_today: dict[str, dict[int, float]] = {}
        self.profile_day: int = -1

    # ------------------------------------------------------------ orders

    def submit(self, order: OpenOrder) -> None:
        self.open[order.order_id] = order
        self.pending_by_symbol[order.symbol] = self.pending_by_symbol.get(order.symbol, 0) + 1
        if order.expire_ts > 0 and (self.next_expiry == 0 or order.expire_ts < self.next_expiry):
            self.next_expiry = order.expire_ts

    def remove(self, order_id: int) -> OpenOrder | None:
        o = self.open.pop(order_id, None)
        if o is not None:
            self.pending_by_symbol[o.symbol] = self.pending_by_symbol.get(o.symbol, 1) - 1
        return o

    def has_open_orders(self, symbol: str) -> bool:
        return self.pending_by_symbol.get(symbol, 0) > 0

    def has_pending(self, symbol: str) -> bool:
        """An open order, or a parent order still being worked, on ``symbol``."""
        return self.pending_by_symbol.get(symbol, 0) > 0 or symbol in self.parent_by_symbol

    def pending_qty(self, symbol: str) -> float:
        """Signed units not yet filled: open orders' remainders plus the
        unsent part of a parent order."""
        total = 0.0
        if self.pending_by_symbol.get(symbol, 0) > 0:
            for o in self.open.values():
                if o.symbol == symbol and o.parent_id == 0:
                    total += o.qty - o.filled
        pid = self.parent_by_symbol.get(symbol, 0)
        if pid != 0:
            p = self.parents[pid]
            total += p.qty - p.filled  # its open child is part of this
        return total

    def on_price(self, symbol: str, price: float, volume: float) -> list[BrokerFill]:
        """Fill the open orders of ``symbol`` against a print at ``price`` of
        ``volume`` units, oldest order first (see the module doc)."""
        if self.profile_ms > 0 and volume > 0.0:
            self.observe(symbol, volume)
        if self.pending_by_symbol.get(symbol, 0) == 0:
            return []
        fills: list[BrokerFill] = []
        has_volume = volume > 0.0
        avail = volume * self.participation if self.participation > 0.0 and has_volume else -1.0
        done: list[int] = []
        for o in self.open.values():
            if o.symbol != symbol:
                continue
            rem = o.qty - o.filled
            want = abs(rem)
            cap = avail
            if o.participation > 0.0 and has_volume:
                own = o.participation * volume
                if cap < 0.0 or own < cap:
                    cap = own
            q = want if cap < 0.0 or want <= cap else cap
            if q < want and o.lot > 0.0:
                q = math.floor(q / o.lot + 1e-9) * o.lot
            if q <= 0.0:
                continue
            slip = self.slip
            if self.impact > 0.0 and has_volume:
                slip += self.impact * math.sqrt(q / volume)
            buy = rem > 0.0
            px = price * (1.0 + slip) if buy else price * (1.0 - slip)
            if o.limit > 0.0 and (px > o.limit if buy else px < o.limit):
                continue
            whole = q >= want
            fq = rem if whole else (q if buy else -q)
            if whole:
                o.filled = o.qty
                done.append(o.order_id)
            else:
                o.filled += fq
            if avail >= 0.0:
                avail -= q
            fee = self.fee(o, abs(fq * px))
            fills.append(BrokerFill(o, fq, px, fee, 0.0 if whole else o.qty - o.filled))
        for oid in done:
            self.remove(oid)
        return fills

    def fee(self, o: OpenOrder, notional: float) -> float:
        """Commission on a fill of ``notional`` (see the module doc)."""
        if not self.min_per_order:
            return max(self.min_commission, notional * self.commission_rate)
        parent = self.parents.get(o.parent_id) if o.parent_id != 0 else None
        done = (parent.notional if parent is not None else o.notional) + notional
        due = max(self.min_commission, done * self.commission_rate)
        paid = parent.fees if parent is not None else o.fees
        fee = due - paid if due > paid else 0.0
        if parent is not None:
            parent.notional = done
            parent.fees = paid + fee
        o.notional += notional
        o.fees += fee
        return fee

    def expire(self, ts: int) -> list[OpenOrder]:
        """Remove and return the orders whose time in force ended by ``ts``."""
        gone: list[OpenOrder] = []
        nxt = 0
        for o in self.open.values():
            if o.expire_ts > 0:
                if o.expire_ts <= ts:
                    gone.append(o)
                elif nxt == 0 or o.expire_ts < nxt:
                    nxt = o.expire_ts
        for o in gone:
            self.remove(o.order_id)
        self.next_expiry = nxt
        return gone

    def cancel(self, order_id: int) -> OpenOrder | None:
        return self.remove(order_id)

    def cancel_all(self) -> list[OpenOrder]:
        cancelled = list(self.open.values())
        self.open.clear()
        self.pending_by_symbol.clear()
        self.next_expiry = 0
        return cancelled

    # ------------------------------------------------------------ parents

    def observe(self, symbol: str, volume: float) -> None:
        clock = self.clock
        if clock is None:
            return
        day = clock.ts // DAY_MS
        if day != self.profile_day:
            for sym, today in self.volume_today.items():
                done = self.volume_by_bucket.get(sym)
                if done is None:
                    done = {}
                    self.volume_by_bucket[sym] = done
                for bucket_, v in today.items():
                    done[bucket_] = done.get(bucket_, 0.0) + v
            self.volume_today = {}
            self.profile_day = day
        bucket = (clock.ts % DAY_MS) // self.profile_ms
        by = self.volume_today.get(symbol)
        if by is None:
            by = {}
            self.volume_today[symbol] = by
        by[bucket] = by.get(bucket, 0.0) + volume

    def profile(self, symbol: str, start_ts: int, slices: int, slice_ms: int) -> list[float]:
        """The volume seen on the days before today in the time-of-day bucket
        of each slice of a parent starting at ``start_ts``: VWAP's weights
        (all zero on the first day: the parent keeps TWAP's equal slices)."""
        by = self.volume_by_bucket.get(symbol)
        out: list[float] = []
        for k in range(slices):
            ts = start_ts + k * slice_ms
            out.append(0.0 if by is None or self.profile_ms <= 0
                       else by.get((ts % DAY_MS) // self.profile_ms, 0.0))
        return out

    def add_parent(self, p: ParentOrder) -> None:
        self.parents[p.parent_id] = p
        self.parent_by_symbol[p.symbol] = p.parent_id

    def end_parent(self, parent_id: int) -> ParentOrder | None:
        p = self.parents.pop(parent_id, None)
        if p is not None and self.parent_by_symbol.get(p.symbol, 0) == parent_id:
            del self.parent_by_symbol[p.symbol]
        return p

    def parent_of(self, symbol: str) -> int:
        return self.parent_by_symbol.get(symbol, 0)

    def next_slice_ts(self) -> int:
        """The earliest market ms at which a parent has a slice due (0 = none)."""
        nxt = 0
        for p in self.parents.values():
            if nxt == 0 or p.next_ts < nxt:
                nxt = p.next_ts
        return nxt
