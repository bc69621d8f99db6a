"""Strategy books (compiled by mypyc, in the engine's unit): several
signals trading one real book. Each book is a virtual sub-portfolio (cash
from 0, so its value is its P&L) with a capital weight; at each view a book
asks for its target, books on opposite sides cross with each other first,
and one order goes for the net rest, split between the books by what each
asked; fills are attributed back by those shares. Weights are re-fitted on a
schedule: equal, inverse volatility, or mean-variance (core/allocation.py,
numpy/scipy, loaded only when used).
"""

import math

from core.breaker_set import BreakerSet
from core.broker import BrokerFill, OpenOrder, PaperBroker
from core.bus import Bus
from core.engine_params import EngineParams
from core.events import AllocationChanged, BookCross
from core.kernels import good_price, shrink, toward_zero, window_moments
from core.portfolio import Portfolio
from core.router import Router
from core.sizer import Sizer
from core.state import HALTED, REDUCING, TradingState
from core.strategy import Momentum, RollingWindow


class Books:
    def __init__(self, p: EngineParams, bus: Bus, portfolio: Portfolio, broker: PaperBroker,
                 state: TradingState, strategy: Momentum, model_values: dict[str, dict[str, float]],
                 model_scales: dict[str, dict[str, float]], brk: BreakerSet, sizer: Sizer,
                 router: Router) -> None:
        self.p = p
        self.bus = bus
        self.portfolio = portfolio
        self.broker = broker
        self.state = state
        self.strategy = strategy
        self.model_values = model_values
        self.model_scales = model_scales
        self.brk = brk
        self.sizer = sizer
        self.router = router
        self.names: list[str] = list(p.books)  # [] = one driving signal, no books
        nb = len(self.names)
        self.weights: list[float] = [1.0 / nb for _ in range(nb)]
        self.pf: list[Portfolio] = [Portfolio(0.0) for _ in range(nb)]
        self.returns: list[RollingWindow] = [RollingWindow(max(2, p.allocation_window)) for _ in range(nb)]
        self.last_value: list[float] = [0.0 for _ in range(nb)]
        self.last_nav: float = p.initial_cash

    def view(self, i: int, sym: str) -> float:
        """Book ``i``'s signed strength on ``sym``: its signal value in [-1, 1]
        times its risk scale; 0 while warming up or disabled by its breaker."""
        name = self.names[i]
        if name == "momentum":
            st = self.strategy.states.get(sym)
            if st is None or st.confidence < 1.0:
                return 0.0
            return max(-1.0, min(1.0, st.value))
        values = self.model_values.get(name)
        if values is None:
            return 0.0
        if self.brk.disabled(name):
            return 0.0
        scales = self.model_scales.get(name)
        scale = 1.0 if scales is None else scales.get(sym, 1.0)
        return max(-1.0, min(1.0, values.get(sym, 0.0))) * scale

    def rebalance(self, sym: str, nav: float, why: str) -> None:
        """Each book's target (its weight x view x full size, in lots). Books
        asking on opposite sides first trade with each other (``cross_books``);
        then one order for the net difference, split between the books by what
        each still asks. In REDUCING a book's ask only moves it toward flat,
        so a cross there never grows or flips a book (the real book, which a
        cross does not touch, stays reduce-only through the gate)."""
        if self.state.state == HALTED:
            return  # no order, and no cross either
        price = self.portfolio.last.get(sym, 0.0)
        if not good_price(price) or nav <= 0.0:
            return
        if self.broker.parent_of(sym) != 0 or self.p.participation > 0.0 and self.broker.has_open_orders(sym):
            return  # an order is working this symbol: it runs first
        lot = self.router.lot_of(sym)
        full = self.p.target_fraction * nav / price
        vs = 1.0
        if self.p.vol_target > 0.0:
            vs = self.sizer.vol_scaling(sym)
            full *= vs
        if not full < math.inf:
            return  # a price so small that NAV / price overflows (or a NaN scale): no size, no order
        n = len(self.names)
        ks: list[float] = []  # each book's Kelly scale (empty: Kelly is off)
        kelly = ""
        if self.sizer.kelly_sources:
            kelly = " kelly"
            for name in self.names:
                ks.append(self.sizer.kelly_scaling(name, sym))
                kelly += f" {name} {ks[-1]:.2f}"
        reducing = self.state.state == REDUCING
        asks: list[float] = []
        target = 0.0
        for i in range(n):
            want = self.weights[i] * self.view(i, sym) * full
            if ks:
                want *= ks[i]
            t = math.floor(abs(want) / lot) * lot * (1.0 if want >= 0.0 else -1.0)
            q = self.pf[i].qty(sym)
            held = q + self.pending(i, sym)
            # REDUCING: toward the target without passing flat, counting what
            # is pending, and shrinking what the book holds now (a cross fills now)
            asks.append(shrink(q, toward_zero(held, t) - held) if reducing else t - held)
            target += t
        self.cross(sym, price, asks, max(lot, self.p.rebalance_band * full / n), why)
        ask_total = 0.0
        for a in asks:
            ask_total += a
        have = self.portfolio.qty(sym) + self.broker.pending_qty(sym)
        if reducing:
            target = toward_zero(have, target)
        diff = target - have
        if abs(diff) < lot:
            return
        if target != 0.0 and abs(diff) < self.p.rebalance_band * full:
            return
        shares: list[float] = []
        if not reducing and abs(ask_total) > 0.0:
            shares = [a / ask_total for a in asks]
        self.router.next_shares = shares  # reducing: split by the books' positions at the fill
        self.router.submit(sym, diff, price, "strategy", "books: " + why + self.sizer.sizing_note(vs, kelly),
                    self.router.limit_for(diff, price))
        self.router.next_shares = []

    def cross(self, sym: str, price: float, asks: list[float], least: float, why: str) -> None:
        """Books asking to buy ``sym`` take units from books asking to sell, at
        ``price`` (the last price), with no commission and no order: the real
        position does not move, each book gets nearer its target, and only the
        net rest goes to the broker. The smaller side fills its asks in full,
        the larger side pro rata (its largest ask takes the rounding rest, so
        the units add up). A cross smaller than ``least`` (a lot, or the
        rebalance band of an equal-weight book's full position) is left to the
        net order's split, as before. Measured once by hand (a script not
        kept in the repo) on simulator seeds 7-9 (four books): a one-lot floor logged 1.4 crosses per symbol bar; the band
        of the whole book's full position 0.06, leaving the books' mean lag
        behind their targets near what it was without crosses (0.066 vs 0.071
        of a full position); this floor 0.63 (about one per order sent) for a
        lag of 0.042, near the one-lot floor's 0.040. ``asks`` is reduced by
        what crossed. Logged as one ``BookCross``."""
        buy = 0.0
        sell = 0.0
        for a in asks:
            if a > 0.0:
                buy += a
            else:
                sell -= a
        crossed = min(buy, sell)
        if crossed <= 0.0 or crossed < least:
            return
        n = len(asks)
        moves = [0.0 for _ in range(n)]
        # the larger side (its asks scaled by crossed / total) takes the rest
        big_side = 1.0 if buy > sell else -1.0
        big = -1
        rest = crossed * big_side
        for i in range(n):
            a = asks[i]
            if a == 0.0:
                continue
            if (a > 0.0) != (big_side > 0.0):
                moves[i] = a  # the smaller side moves in full
                continue
            moves[i] = a * (crossed / (buy if a > 0.0 else sell))
            if big < 0 or abs(a) > abs(asks[big]):
                big = i
        for i in range(n):
            if i != big and moves[i] != 0.0 and (moves[i] > 0.0) == (big_side > 0.0):
                rest -= moves[i]
        if big >= 0:
            moves[big] = rest
        buyers: list[str] = []
        sellers: list[str] = []
        for i in range(n):
            q = moves[i]
            if q == 0.0:
                continue
            self.pf[i].apply_fill(sym, q, price, 0.0)
            asks[i] -= q
            if q > 0.0:
                buyers.append(f"{self.names[i]}:{q:+.10g}")
            else:
                sellers.append(f"{self.names[i]}:{q:+.10g}")
        self.bus.emit(BookCross(self.bus.ts, sym, crossed, price, ",".join(buyers), ",".join(sellers),
                            "books: " + why))

    def shares_of(self, order_id: int, sym: str, qty: float) -> list[float]:
        """An order's split between the books: as recorded when a book order was
        sent, else (operator, risk, reducing) in proportion to the books'
        positions in ``sym`` (which sum to ``qty``), else equal."""
        shares = self.router.order_shares.get(order_id)
        if shares is not None:
            return shares
        n = len(self.names)
        if qty != 0.0:
            return [self.pf[i].qty(sym) / qty for i in range(n)]
        return [1.0 / n for _ in range(n)]

    def pending(self, i: int, sym: str) -> float:
        """Book ``i``'s part of the units still pending on ``sym``."""
        total = 0.0
        broker = self.broker
        q = self.portfolio.qty(sym)
        if broker.has_open_orders(sym):
            for o in broker.open.values():
                if o.symbol == sym and o.parent_id == 0:
                    total += (o.qty - o.filled) * self.shares_of(o.order_id, sym, q)[i]
        pid = broker.parent_of(sym)
        if pid != 0:
            parent = broker.parents[pid]
            total += (parent.qty - parent.filled) * self.shares_of(pid, sym, q)[i]
        return total

    def attribute(self, o: OpenOrder, f: BrokerFill, before: float) -> None:
        """Split a fill between the books: units by each book's share of the
        order (a share may be negative: books crossing each other), the
        commission by each book's gross share; the largest share takes the
        rounding rest, so the books' units and cash add up to the real ones."""
        sym = o.symbol
        key = o.parent_id if o.parent_id != 0 else o.order_id
        shares = self.shares_of(key, sym, before)
        n = len(shares)
        gross = 0.0
        big = 0
        for i in range(n):
            gross += abs(shares[i])
            if abs(shares[i]) > abs(shares[big]):
                big = i
        qs: list[float] = []
        cs: list[float] = []
        q_rest = f.qty
        c_rest = f.commission
        for i in range(n):
            q = f.qty * shares[i]
            c = f.commission * abs(shares[i]) / gross if gross > 0.0 else f.commission / n
            qs.append(q)
            cs.append(c)
            if i != big:
                q_rest -= q
                c_rest -= c
        qs[big] = q_rest
        cs[big] = c_rest
        for i in range(n):
            if qs[i] != 0.0 or cs[i] != 0.0:
                self.pf[i].apply_fill(sym, qs[i], f.price, cs[i])
        if o.parent_id == 0 and f.remaining == 0.0:
            self.router.order_shares.pop(o.order_id, None)

    def value(self, i: int) -> float:
        """Book ``i``'s P&L to date: its cash (from 0) plus its positions marked
        at the book's last prices; the books' values add up to NAV - initial cash."""
        bp = self.pf[i]
        total = bp.cash
        last = self.portfolio.last
        for sym, pos in bp.positions.items():
            if pos.qty != 0.0:
                total += pos.qty * last.get(sym, pos.avg_price)
        return total

    def track(self) -> None:
        """Each book's P&L this bar per unit of its capital (weight x NAV).
        Every book pushes a return every bar, 0.0 while it has no capital (a
        zero weight, or NAV <= 0), so the windows stay aligned bar for bar:
        mean-variance reads them as one sample of joint returns."""
        nav0 = self.last_nav
        for i in range(len(self.names)):
            v = self.value(i)
            cap = self.weights[i] * nav0
            self.returns[i].push((v - self.last_value[i]) / cap if cap > 0.0 else 0.0)
            self.last_value[i] = v
        self.last_nav = self.portfolio.nav()

    def reallocate(self) -> bool:
        """New capital weights (on the rebalance schedule): equal, inverse to
        each book's return volatility (``inverse_vol_weights``), or
        mean-variance (``mean_variance_weights``). Each change is logged with
        the method actually used (and why, for a fallback); True if any."""
        n = len(self.names)
        new = [1.0 / n for _ in range(n)]
        vols = [0.0 for _ in range(n)]
        method = self.p.allocation
        note = ""
        if method == "inverse_vol":
            new = self.inverse_vol_weights(vols)
        elif method == "mean_variance":
            new, method, note = self.mean_variance_weights(vols)
        why = f"{method} at bar {self.bus.bars}" + (": " + note if note != "" else "")
        changed = False
        for i in range(n):
            old = self.weights[i]
            if abs(new[i] - old) > 1e-9:
                changed = True
                self.bus.emit(AllocationChanged(self.bus.ts, "", self.names[i], new[i], old, vols[i], why))
                self.weights[i] = new[i]
        return changed

    def inverse_vol_weights(self, vols: list[float]) -> list[float]:
        """Weights inverse to each book's bar-return sd (ddof=1; a book with no
        estimate yet counts as the mean of the others), fitted to
        [allocation_min_w, allocation_max_w] when those are not 0 and 1 (so
        the default stays exactly 1/sd over the sum). Equal weights while no
        book has an estimate. Fills ``vols`` with the sds."""
        n = len(self.names)
        inv: list[float] = []
        known = 0.0
        k = 0
        for i in range(n):
            w = self.returns[i]
            sd = w.std() if w.count >= 2 else 0.0
            vols[i] = sd
            x = 1.0 / sd if sd > 0.0 and math.isfinite(sd) else 0.0
            inv.append(x)
            if x > 0.0:
                known += x
                k += 1
        if k == 0:
            return [1.0 / n for _ in range(n)]
        fill = known / k
        total = 0.0
        for i in range(n):
            if inv[i] <= 0.0:
                inv[i] = fill
            total += inv[i]
        lo, hi = self.p.allocation_min_w, self.p.allocation_max_w
        if lo > 0.0 or hi < 1.0:
            from core.allocation import fit_to_bounds_floats  # numpy/scipy: loaded only when used

            fitted: list[float] = fit_to_bounds_floats(inv, lo, hi)
            return fitted
        return [x / total for x in inv]

    def mean_variance_weights(self, vols: list[float]) -> tuple[list[float], str, str]:
        """Mean-variance weights (core.allocation.mean_variance, within
        [allocation_min_w, allocation_max_w], ``risk_aversion``) from the
        books' bar-return windows, which ``track_books`` keeps aligned: mu the
        sample mean, cov the sample covariance (ddof=1), both annualised
        (x 252 x bars a day: the same factor, so the optimum is that of the
        per-bar figures, but SLSQP's absolute tolerance of 1e-12 meets
        numbers of a sensible size), plus a ridge of 1e-9 x the mean variance
        so that cov is positive definite (a book that never traded has a zero
        row) and the optimum unique. Equal weights until the windows hold
        max(2, allocation_window // 2) bars. Fills ``vols`` with each book's
        per-bar sd. Returns (weights, method, note): "mean_variance", or
        "inverse_vol_fallback" / "equal_fallback" with why in ``note``."""
        n = len(self.names)
        k = self.returns[0].count if n > 0 else 0
        for w in self.returns:
            k = min(k, w.count)
        if n < 2 or k < max(2, self.p.allocation_window // 2):
            return [1.0 / n for _ in range(n)], "equal", ""
        mus, cov = window_moments(self.returns, k)
        trace = 0.0
        for i in range(n):
            vols[i] = math.sqrt(cov[i][i]) if cov[i][i] > 0.0 else 0.0
            trace += cov[i][i]
        a = 252.0 * self.p.bars_per_day
        ridge = 1e-9 * trace / n if trace > 0.0 else 1e-18
        mu_a = [m * a for m in mus]
        cov_a: list[list[float]] = []
        for i in range(n):
            row = [c * a for c in cov[i]]
            row[i] += ridge * a
            cov_a.append(row)
        from core.allocation import mean_variance_floats  # numpy/scipy: loaded only when used

        got: tuple[list[float], str, str] = mean_variance_floats(
            mu_a, cov_a, self.p.allocation_min_w, self.p.allocation_max_w, self.p.risk_aversion)
        return got

