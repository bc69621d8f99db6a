"""The risk monitor (compiled by mypyc, in the engine's unit): NAV and its
bar returns, peaks and drawdown, the day's opening NAV, and the book's
one-day VaR three ways (historical, parametric, Monte Carlo) with each
position's contribution to it (Euler / the quantile scenario's P&L).

It reads the portfolio, the momentum windows and the options overlay, and
decides nothing: the engine turns its figures into breaker values, trips
and risk snapshots.
"""

import math

from librt.vecs import vec
from mypy_extensions import i64

from core.engine_params import EngineParams
from core.events import RiskSnapshot, risk_snapshot_with
from core.kernels import (
    TAIL_SLACK, Z95, Z99, DetRandom, Lowest, cholesky, seed_cut, zeroed, contrib_text, cov_times, hist_cvar, hist_var,
    LowTail, draws_quantile, draws_tail_loss, low_hist_cvar, low_hist_var, one_draw, quantile, quantile_need,
    same_bits, window_moments, quantile_of, smallest, sorted_returns, tail_loss_of,
)
from core.overlay import OptionsOverlay
from core.portfolio import Portfolio
from core.strategy import Momentum, RollingWindow


class RiskTrack:
    """One symbol's last close and its window in ``risk_rets``."""

    def __init__(self) -> None:
        self.close: float = 0.0
        self.rets: RollingWindow | None = None


class RiskMonitor:
    def __init__(self, p: EngineParams, portfolio: Portfolio, strategy: Momentum,
                 overlay: OptionsOverlay | None, n_instruments: int) -> None:
        self.p = p
        self.portfolio = portfolio
        self.strategy = strategy
        self.overlay = overlay
        self.n_instruments = n_instruments
        self.new_rules: bool = p.breaker_version >= 2
        self.day_pnl_peak: float = 0.0
        self.day_open_nav: float = p.initial_cash
        self.peak_nav: float = p.initial_cash
        self.breaker_peak_nav: float = p.initial_cash
        self.drawdown: float = 0.0
        self.max_drawdown: float = 0.0
        self.last_nav: float = p.initial_cash
        self.nav_returns = RollingWindow(500)
        self.nav_mean: float = 0.0  # of nav_returns, refreshed on a figures bar after it changed
        self.nav_sd: float = 0.0
        self.moments_stale: bool = False
        # a snapshot's display figures (risk.figures_every; 1 under breaker rules 1,
        # whose VaR breaker judges var95): the NAV's parametric and historical VaR and
        # CVaR and the var_contrib text, made on a figures bar (the first bar close and
        # every fig_every-th after it) and standing in between. Each is the figure
        # figures_every = 1 gives at that bar (a test holds them equal), and no
        # decision reads one: the VaR breaker judges var_book, every bar.
        self.fig_every: int = max(1, p.figures_every) if self.new_rules else 1
        self.fig_bars: int = 0  # bar closes seen
        self.fig_due: bool = True
        self.fig_var95: float = 0.0
        self.fig_var99: float = 0.0
        self.fig_hist95: float = 0.0
        self.fig_hist99: float = 0.0
        self.fig_cvar95: float = 0.0
        self.fig_cvar99: float = 0.0
        self.fig_contrib: str = ""
        self.fig_keys: list[str] = []  # the symbols fig_contrib names
        self.last_risk: RiskSnapshot | None = None
        # the snapshot's floats that stand for many bars (see events.risk_snapshot_with),
        # boxed once while they stand, and their values (NaN: none yet)
        self.stand: tuple[object, ...] = ()
        self.stand_vals: vec[float] = vec[float]([math.nan] * 10)
        # nav_returns' smallest, kept in order as the window moves (kernels.LowTail):
        # historical VaR/CVaR read them. A NaN return has no place in an order:
        # from then on the window is sorted afresh for each figure.
        self.nav_low = LowTail(quantile_need(self.nav_returns.capacity, 0.05) + TAIL_SLACK, False)
        self.sorted_ok: bool = True
        # the book's VaR (var_measure): each symbol's bar returns, and the figure
        self.risk_rets: dict[str, RollingWindow] = {}
        self.tracks: dict[str, RiskTrack] = {}  # each symbol's last close and window
        self.var_book: float = 0.0  # 95% one-day VaR of the book now / NAV, by var_measure
        self.unit_var: dict[str, float] = {}  # one unit's stand-alone one-day 95% VaR, per symbol
        self.var_contrib: dict[str, float] = {}  # each position's share of the VaR (currency)
        self.mc95: float = 0.0
        self.mc_cvar95: float = 0.0  # mean loss beyond the MC VaR (positive fraction of NAV)
        self.mc_cvar99: float = 0.0
        self.mc99: float = 0.0
        self.z: vec[float] = vec[float]()  # standard normal draws, mc_draws x z_cols, drawn once
        self.draw_acc: vec[float] = vec[float]()  # mc_linear's per-draw sums (reused)
        self.z_cols: int = 0
        # where the last tails were (scenario positions): they seed the next
        # selection's bound, so that most scenarios cost one comparison
        self.hist_tail: list[int] = []
        self.mc_tail: list[int] = []
        self.scenarios: vec[float] = vec[float]()  # hist_book_var's scenario P&Ls (reused)
        # a book of one position (no options): its historical tail is read from
        # its returns' tails kept in order (one_low and one_high, for one_sym),
        # and its Monte Carlo tail the first draws' tail (z_sorted: column 0 in order)
        self.one_sym: str = ""
        keep = quantile_need(max(2, p.var_window), 0.05) + TAIL_SLACK
        self.one_low = LowTail(keep, False)  # one_sym's returns' smallest, in order
        self.one_high = LowTail(keep, True)  # and its largest
        self.z_sorted: vec[float] = vec[float]()

    def risk_symbols(self) -> list[str]:
        """Symbols whose moves change the book's value: positions, and the
        underlyings of the options overlay's puts."""
        held = self.portfolio.open_symbols()
        ov = self.overlay
        if ov is not None:
            for sym in ov.symbols():
                if sym not in held:
                    held.append(sym)
        return held


    def one_open(self) -> str:
        """The symbol of the only open position; "" for none or several."""
        one = ""
        for sym, pos in self.portfolio.positions.items():
            if pos.qty != 0.0:
                if one != "":
                    return ""
                one = sym
        return one

    def update_nav(self) -> float:
        """A bar close: NAV, its return into the window, peaks and drawdown;
        whether this bar makes the display figures (``fig_due``)."""
        self.fig_due = self.fig_bars % self.fig_every == 0
        self.fig_bars += 1
        nav = self.portfolio.nav()
        r = self.nav_returns
        if self.last_nav > 0.0:
            x = nav / self.last_nav - 1.0
            evicts = r.full()
            old = r.values[r.pos] if evicts else 0.0  # the return the push evicts
            r.push(x)
            self.keep_sorted(x, old, evicts)
            self.moments_stale = True
        if self.moments_stale and self.fig_due:
            # the window changes only above: its mean and sd serve the parametric figures until the next
            self.nav_mean = r.mean_last(r.count)
            self.nav_sd = r.std_about(self.nav_mean) if r.count >= 2 else 0.0
            self.moments_stale = False
        self.last_nav = nav
        if nav > self.peak_nav:
            self.peak_nav = nav
        if nav > self.breaker_peak_nav:
            self.breaker_peak_nav = nav
        self.drawdown = 1.0 - nav / self.peak_nav if self.peak_nav > 0.0 else 1.0
        if self.drawdown > self.max_drawdown:
            self.max_drawdown = self.drawdown
        return nav

    def keep_sorted(self, x: float, old: float, evicted: bool) -> None:
        """Move ``nav_low`` with the window: ``x`` in, ``old`` out (if ``evicted``)."""
        if not self.sorted_ok:
            return
        if x != x or old != old:
            self.sorted_ok = False
            return
        self.nav_low.push(x, old, evicted)

    def sorted_nav_returns(self) -> list[float]:
        """``nav_returns`` in ascending order (sorted now)."""
        return sorted_returns(self.nav_returns)

    def tail_figures(self, h: float) -> None:
        """The historical VaR and CVaR of NAV returns (95% and 99%), read from
        ``nav_low``, the window's smallest returns kept in order; from a sort
        of the window where that cannot say (a NaN, or ties past the kept
        ones below the quantile). The same figures either way."""
        r = self.nav_returns
        if self.sorted_ok:
            low = self.nav_low
            c95 = low_hist_cvar(low, r, 0.95, h)
            c99 = low_hist_cvar(low, r, 0.99, h)
            if c95 == c95 and c99 == c99:
                self.fig_hist95 = low_hist_var(low, r, 0.95, h)
                self.fig_hist99 = low_hist_var(low, r, 0.99, h)
                self.fig_cvar95, self.fig_cvar99 = c95, c99
                return
        tail = self.sorted_nav_returns()
        self.fig_hist95, self.fig_hist99 = hist_var(tail, 0.95, h), hist_var(tail, 0.99, h)
        self.fig_cvar95, self.fig_cvar99 = hist_cvar(tail, 0.95, h), hist_cvar(tail, 0.99, h)

    def snapshot(self, ts: int, nav: float, var: float) -> RiskSnapshot:
        pf = self.portfolio
        gross, net = pf.gross_net()
        h = self.p.bars_per_day
        if self.fig_due:
            self.fig_var99 = self.var_parametric(Z99)
            self.tail_figures(h)
        if self.new_rules and (self.fig_due or self.contrib_moved()):  # a position in or out: at once
            self.fig_contrib = contrib_text(self.var_contrib)
            self.fig_keys = list(self.var_contrib)
        sv = self.stand_vals
        cash = pf.cash
        if not (same_bits(cash, sv[0]) and same_bits(self.max_drawdown, sv[1]) and same_bits(var, sv[2])
                and same_bits(self.fig_var99, sv[3]) and same_bits(self.fig_hist95, sv[4])
                and same_bits(self.fig_hist99, sv[5]) and same_bits(self.fig_cvar95, sv[6])
                and same_bits(self.fig_cvar99, sv[7]) and same_bits(self.mc95, sv[8])
                and same_bits(self.mc99, sv[9])):
            # one changed (a fill, a figures bar, a Monte Carlo run): box them again
            self.stand = (cash, self.max_drawdown, var, self.fig_var99, self.fig_hist95, self.fig_hist99,
                          self.fig_cvar95, self.fig_cvar99, self.mc95, self.mc99)
            self.stand_vals = vec[float]([cash, self.max_drawdown, var, self.fig_var99, self.fig_hist95,
                                          self.fig_hist99, self.fig_cvar95, self.fig_cvar99, self.mc95,
                                          self.mc99])
        snap = risk_snapshot_with(ts, nav, gross, net, gross / nav if nav > 0.0 else math.inf,
                                  nav - self.day_open_nav, self.drawdown, self.var_book,
                                  self.fig_contrib if self.new_rules else "", self.stand)
        self.last_risk = snap
        return snap

    def contrib_moved(self) -> bool:
        """The positions in ``var_contrib`` are not those ``fig_contrib`` names."""
        c = self.var_contrib
        if len(c) != len(self.fig_keys):
            return True
        for k in self.fig_keys:
            if k not in c:
                return True
        return False

    def var95(self) -> float:
        """The parametric 95% figure of this bar's snapshot (made on a figures bar)."""
        if self.fig_due:
            self.fig_var95 = self.var_parametric(Z95)
        return self.fig_var95

    def var_parametric(self, z: float) -> float:
        """One-day parametric VaR of NAV from bar returns (positive fraction):
        z * sd * sqrt(h) - min(mean, 0) * h, with h bars a day. A drift may add
        to the loss but never offsets it: scaled by h (390 one-minute bars a
        day) the sample mean of a short window is mostly noise and, taken at
        face value, would read a lucky streak as "no risk" (it did, in tests).
        Under the breaker rules of version 2 there is no drift term at all: h x
        the mean of a short losing streak read as a 6% "VaR" at 0.4x leverage
        (issue 13); sessions logged before keep it so that they replay."""
        r = self.nav_returns
        if r.count < 2:
            return 0.0
        h = self.p.bars_per_day
        v = z * self.nav_sd * math.sqrt(h)
        if not self.new_rules:
            v -= min(self.nav_mean, 0.0) * h  # the old loss drift: h x a short window's mean
        return v if v > 0.0 else 0.0

    def run_monte_carlo(self, nav: float, scan: bool = False) -> None:
        """One-day 95%/99% VaR of the current book (positive fractions of NAV) by
        a seeded correlated simulation: bar returns of the open positions give a
        mean vector and a sample covariance (ddof=1, over their common newest
        bars); each scenario draws correlated returns through the Cholesky factor,
        scales them to a day (mean x h, sd x sqrt(h)) and reprices the book. As
        in ``var_parametric`` the book's drift counts only when it is a loss.
        The standard normal draws are made once from the session seed (common
        random numbers), so replay draws the same. Also refreshes each position's
        Euler contribution to the 95% parametric VaR, which sums to it.
        ``scan``: every scenario computed even for a book of one position (a
        test's check of one_draw_tail)."""
        syms: list[str] = []
        n = 0
        held = self.risk_symbols()
        ov = self.overlay
        for sym in held:
            st = self.strategy.states.get(sym)
            if st is None or st.returns.count < 2:
                continue
            syms.append(sym)
            n = st.returns.count if n == 0 else min(n, st.returns.count)
        mc_contrib = self.new_rules and self.p.var_measure == "monte_carlo"
        if not self.new_rules or mc_contrib:
            self.var_contrib = {}
        k = len(syms)
        if k == 0 or nav <= 0.0:
            self.mc95 = 0.0
            self.mc99 = 0.0
            self.mc_cvar95 = 0.0
            self.mc_cvar99 = 0.0
            return
        wins: list[RollingWindow] = []
        expo: list[float] = []
        for sym in syms:
            wins.append(self.strategy.states[sym].returns)
            # options count by their delta (units of underlying) and, below, their gamma
            units = self.portfolio.qty(sym) + (ov.delta_units(sym) if ov is not None else 0.0)
            expo.append(units * self.portfolio.last.get(sym, 0.0))
        mus, cov = window_moments(wins, n)
        h = self.p.bars_per_day
        sq = math.sqrt(h)
        # Euler contributions: e_i (C e)_i / sigma_p, times z95 sqrt(h)
        ce, var_p = cov_times(cov, expo)
        sig = math.sqrt(var_p) if var_p > 0.0 else 0.0
        if not self.new_rules:
            for i in range(k):
                self.var_contrib[syms[i]] = Z95 * sq * expo[i] * ce[i] / sig if sig > 0.0 else 0.0
        chol = cholesky(cov)
        # scenario P&L = m + sqrt(h) * sum_c wv[c] z_c, wv[c] = sum_{i>=c} e_i L[i][c]
        wv: list[float] = []
        for c in range(k):
            acc = 0.0
            for i in range(c, k):
                acc += expo[i] * chol[i][c]
            wv.append(acc)
        m = 0.0
        if not self.new_rules:  # drift: losses only, as var_parametric
            drift = 0.0
            for i in range(k):
                drift += expo[i] * mus[i]
            m = min(drift * h, 0.0)
        self.ensure_draws(k)
        # options' convexity: 0.5 x gamma x (S r)^2 per symbol, r its scenario return
        gam: list[float] = []
        gam_i: list[int] = []
        if ov is not None:
            for i in range(k):
                g = ov.gamma_units(syms[i])
                if g != 0.0:
                    px = self.portfolio.last.get(syms[i], 0.0)
                    gam.append(0.5 * g * px * px)
                    gam_i.append(i)
        # the quantiles and tails below read only the lowest 5% of the draws:
        # kept as they come (kernels.Lowest) instead of sorting all; the figures
        # are the same. The whole list only for the quantile's scenarios'
        # shares (mc_contrib), a NaN, or ties at the quantile past the selection.
        nd = self.p.mc_draws
        lo = int(math.floor(0.05 * (nd - 1)))
        keep = min(lo + 2, nd)
        bad = False
        if k == 1 and not gam_i and not mc_contrib and not scan:
            if self.one_draw_figures(wv[0], m, sq, keep, nav):
                return
            srt = self.one_draw_tail(wv[0], m, sq, keep)
        else:
            low = Lowest(keep)
            # the last run's tail draws: real scenarios, whose largest P&L bounds this tail (see seed_cut)
            cut0 = seed_cut([self.mc_scenario(d, k, m, sq, wv, chol, gam, gam_i) for d in self.mc_tail if d < nd],
                            keep)
            self.mc_scenarios(nd, k, m, sq, wv, chol, gam, gam_i, low, cut0)
            self.mc_tail = low.at
            srt = low.vals
            bad = low.bad
        full = mc_contrib or bad or (len(srt) < nd and srt[len(srt) - 1] <= quantile_of(srt, nd, 0.05))
        if full:
            pnl = self.mc_scenarios(nd, k, m, sq, wv, chol, gam, gam_i, None, math.inf)
            if mc_contrib:
                self.mc_contributions(pnl, syms, chol, expo, gam, gam_i, nav)
            srt = smallest(pnl, keep)
            if len(srt) < nd and srt[len(srt) - 1] <= quantile_of(srt, nd, 0.05):
                srt = sorted(pnl)  # ties at the quantile reach past the selection: take them all
        v95 = -quantile_of(srt, nd, 0.05) / nav
        v99 = -quantile_of(srt, nd, 0.01) / nav
        self.mc95 = v95 if v95 > 0.0 else 0.0
        self.mc99 = v99 if v99 > 0.0 else 0.0
        self.mc_cvar95 = tail_loss_of(srt, nd, 0.05, nav)
        self.mc_cvar99 = tail_loss_of(srt, nd, 0.01, nav)

    def one_draw_figures(self, w0: float, m: float, sq: float, keep: int, nav: float) -> bool:
        """run_monte_carlo's figures for a book of one position (no options),
        each P&L of one_draw_tail's list made where it is read instead of
        listed (the same arithmetic, so the same figures); False, and nothing
        set, where ties at the quantile reach past the ``keep`` lowest (the
        caller then takes every scenario, as before)."""
        zs = self.sorted_draws()
        nd: i64 = len(zs)
        q95 = draws_quantile(zs, w0, m, sq, nd, 0.05)
        if keep < nd and one_draw(zs, keep - 1, w0, m, sq) <= q95:
            return False
        q99 = draws_quantile(zs, w0, m, sq, nd, 0.01)
        v95 = -q95 / nav
        v99 = -q99 / nav
        self.mc95 = v95 if v95 > 0.0 else 0.0
        self.mc99 = v99 if v99 > 0.0 else 0.0
        self.mc_cvar95 = draws_tail_loss(zs, w0, m, sq, keep, q95, nav)
        self.mc_cvar99 = draws_tail_loss(zs, w0, m, sq, keep, q99, nav)
        return True

    def sorted_draws(self) -> vec[float]:
        """The first column of draws in order (sorted once per set of draws)."""
        zs = self.z_sorted
        if len(zs) == 0:
            cols = self.z_cols
            zs = vec[float](sorted([self.z[d * cols] for d in range(self.p.mc_draws)]))
            self.z_sorted = zs
        return zs

    def one_draw_tail(self, w0: float, m: float, sq: float, keep: int) -> list[float]:
        """The ``keep`` lowest Monte Carlo P&Ls of a book of one position (no
        options): scenario d is m + sqrt(h) (0 + w0 z_d), monotone in the draw
        z_d, so they are the lowest draws mapped (the highest, for a short),
        read from the first column of draws kept in order (sorted once per
        set of draws). The same list selecting from every scenario gives."""
        zs = self.sorted_draws()
        out: list[float] = []
        for i in range(keep):
            out.append(one_draw(zs, i, w0, m, sq))
        return out

    def mc_scenarios(self, nd: int, k: int, m: float, sq: float, wv: list[float], chol: list[list[float]],
                     gam: list[float], gam_i: list[int], low: Lowest | None, cut0: float) -> list[float]:
        """Every Monte Carlo scenario's P&L, in draw order: into ``low`` (its
        lowest ones kept, none above ``cut0``) when given, else returned as a
        list."""
        if not gam_i:  # no options: draw by draw, summed column by column (the same order per draw)
            return self.mc_linear(nd, k, m, sq, wv, low, cut0)
        pnl: list[float] = []
        for d in range(nd):  # with options' gamma terms: a call a draw costs little beside them
            x = self.mc_scenario(d, k, m, sq, wv, chol, gam, gam_i)
            if low is None:
                pnl.append(x)
            elif not (x > cut0) and not (x >= low.cut):
                low.add(x, d)
        return pnl

    def mc_linear(self, nd: int, k: int, m: float, sq: float, wv: list[float], low: Lowest | None,
                  cut0: float) -> list[float]:
        """mc_scenarios of a book without options: scenario d is
        m + sqrt(h) (0 + wv_0 z_d0 + wv_1 z_d1 + ...), the terms added in that
        order per draw, but column by column over all draws (native loops
        over the draws in place: the same bits as draw by draw)."""
        z = self.z
        cols: i64 = self.z_cols
        acc = zeroed(self.draw_acc, nd)
        self.draw_acc = acc
        d: i64 = 0
        for c in range(k):
            w = wv[c]
            at: i64 = c
            d = 0
            while d < nd:
                acc[d] = acc[d] + w * z[at]
                at += cols
                d += 1
        pnl: list[float] = []
        d = 0
        while d < nd:
            x = m + sq * acc[d]
            if low is None:
                pnl.append(x)
            elif not (x > cut0) and not (x >= low.cut):
                low.add(x, d)
            d += 1
        return pnl

    def mc_scenario(self, d: int, k: int, m: float, sq: float, wv: list[float], chol: list[list[float]],
                    gam: list[float], gam_i: list[int]) -> float:
        """Monte Carlo scenario ``d``'s P&L."""
        z = self.z
        base = d * self.z_cols
        acc = 0.0
        for c in range(k):
            acc += wv[c] * z[base + c]
        x = m + sq * acc
        for j in range(len(gam_i)):
            i = gam_i[j]
            r = 0.0
            for c in range(i + 1):
                r += chol[i][c] * z[base + c]
            r *= sq
            x += gam[j] * r * r
        return x

    def mc_contributions(self, pnl: list[float], syms: list[str], chol: list[list[float]],
                         expo: list[float], gam: list[float], gam_i: list[int], nav: float) -> None:
        """Each position's share of the Monte Carlo 95% VaR: its P&L in the
        scenario(s) at the 5% quantile, interpolated as the quantile is, so the
        shares add up to the VaR (currency)."""
        srt = sorted(pnl)
        pos = 0.05 * (len(srt) - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(srt) - 1)
        w = pos - lo
        if -(srt[lo] + (srt[hi] - srt[lo]) * w) <= 0.0:
            return  # no loss at the quantile: nothing to share
        d_lo = pnl.index(srt[lo])
        d_hi = pnl.index(srt[hi])
        a = self.mc_parts(d_lo, chol, expo, gam, gam_i)
        b = self.mc_parts(d_hi, chol, expo, gam, gam_i)
        for i in range(len(syms)):
            self.var_contrib[syms[i]] = -(a[i] * (1.0 - w) + b[i] * w)

    def mc_parts(self, d: int, chol: list[list[float]], expo: list[float], gam: list[float],
                 gam_i: list[int]) -> list[float]:
        """Scenario ``d``'s P&L per position (currency), as run_monte_carlo sums it."""
        k = len(expo)
        sq = math.sqrt(self.p.bars_per_day)
        base = d * self.z_cols
        out: list[float] = []
        for i in range(k):
            r = 0.0
            for c in range(i + 1):
                r += chol[i][c] * self.z[base + c]
            out.append(expo[i] * sq * r)
        for j in range(len(gam_i)):
            i = gam_i[j]
            r = 0.0
            for c in range(i + 1):
                r += chol[i][c] * self.z[base + c]
            r *= sq
            out[i] += gam[j] * r * r
        return out

    def track(self, sym: str) -> RiskTrack:
        t = self.tracks.get(sym)
        if t is None:
            t = RiskTrack()
            self.tracks[sym] = t
        return t

    def track_risk_return(self, sym: str, close: float) -> None:
        """The symbol's bar return into its VaR window (risk.var_window bars)."""
        self.track_return(self.track(sym), sym, close)

    def track_return(self, t: RiskTrack, sym: str, close: float) -> None:
        """``track_risk_return`` on the symbol's track."""
        prev = t.close
        t.close = close
        if prev <= 0.0:
            return
        w = t.rets
        if w is None:
            w = RollingWindow(max(2, self.p.var_window))
            self.risk_rets[sym] = w
            t.rets = w
        x = close / prev - 1.0
        if sym == self.one_sym:  # the one position's window, kept in order as it moves
            if x != x:
                self.one_sym = ""
            else:
                full = w.full()
                old = w.values[w.pos] if full else 0.0
                self.one_low.push(x, old, full)
                self.one_high.push(x, old, full)
        w.push(x)

    def book_var(self, nav: float) -> float:
        """One-day 95% VaR of the book as it stands (positive fraction of NAV)
        by ``var_measure``, and each position's contribution to it in
        ``var_contrib`` (currency; they add up to VaR x NAV):

        - historical: the book's P&L under each of the last n bars' returns of
          its symbols (n = the shortest of their windows, up to var_window),
          scaled to a day by sqrt(bars a day); the 5% quantile (interpolated).
          A position's contribution is its P&L in the quantile's scenarios.
          Below 20 common bars it is the parametric figure.
        - parametric: z95 x sqrt(bars a day) x sqrt(e'Ce), C the sample
          covariance of those returns; Euler contributions e_i (Ce)_i / sigma.
        - monte_carlo: the seeded simulation (run_monte_carlo, every mc_every
          bars; the last figure stands in between).
        No drift term in any: the book's mean return over a short window is
        noise, and a losing streak is not a forecast.
        Options count by their delta, and under historical by their gamma too."""
        if self.p.var_measure == "monte_carlo":
            return self.mc95
        if nav <= 0.0:
            self.var_contrib = {}
            return 0.0
        if self.overlay is None and self.p.var_measure == "historical":
            # the common book of one position, straight to one_position_var:
            # the figures the general path below reaches for it, without its lists
            one = self.one_open()
            w1 = self.risk_rets.get(one) if one != "" else None
            if w1 is not None and w1.count >= 20 and self.one_returns(one, w1):
                n1 = w1.count
                pos1 = 0.05 * (n1 - 1)
                lo1 = int(math.floor(pos1))
                e1 = (self.portfolio.qty(one) + 0.0) * self.portfolio.last.get(one, 0.0)
                vc = self.var_contrib
                if not (len(vc) == 1 and one in vc):  # else its one entry is written over
                    self.var_contrib = {}
                v1 = self.one_position_var(e1, one, w1, n1, lo1, min(lo1 + 1, n1 - 1), pos1 - lo1,
                                           math.sqrt(self.p.bars_per_day), nav)
                if v1 == 0.0 and len(self.var_contrib) > 0:  # no share written this bar: none stands
                    self.var_contrib = {}
                return v1
        self.var_contrib = {}
        syms: list[str] = []
        n = 0
        held = self.risk_symbols()
        ov = self.overlay
        for sym in held:
            w = self.risk_rets.get(sym)
            if w is None or w.count < 2:
                continue
            syms.append(sym)
            n = w.count if n == 0 else min(n, w.count)
        k = len(syms)
        if k == 0:
            return 0.0
        expo: list[float] = []
        for sym in syms:
            units = self.portfolio.qty(sym) + (ov.delta_units(sym) if ov is not None else 0.0)
            expo.append(units * self.portfolio.last.get(sym, 0.0))
        sq = math.sqrt(self.p.bars_per_day)
        if self.p.var_measure == "historical" and n >= 20:
            return self.hist_book_var(syms, expo, n, sq, nav)
        _, cov = window_moments([self.risk_rets[sym] for sym in syms], n)
        ce, var_p = cov_times(cov, expo)
        sig = math.sqrt(var_p) if var_p > 0.0 else 0.0
        if sig <= 0.0:
            return 0.0
        for i in range(k):
            self.var_contrib[syms[i]] = Z95 * sq * expo[i] * ce[i] / sig
        return Z95 * sq * sig / nav

    def hist_book_var(self, syms: list[str], expo: list[float], n: int, sq: float, nav: float) -> float:
        """book_var's historical figure: scenario t is every symbol's t-th
        newest bar return, read in place from its window (no copies)."""
        k = len(syms)
        ov = self.overlay
        wins: list[RollingWindow] = [self.risk_rets[sym] for sym in syms]
        gam: list[float] = []
        for i in range(k):
            g = ov.gamma_units(syms[i]) if ov is not None else 0.0
            px = self.portfolio.last.get(syms[i], 0.0)
            gam.append(0.5 * g * px * px)
        convex = ov is not None
        pos = 0.05 * (n - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        if k == 1 and not convex and self.one_returns(syms[0], wins[0]):
            return self.one_position_var(expo[0], syms[0], wins[0], n, lo, hi, pos - lo, sq, nav)
        # the tail only: the hi + 1 smallest scenario P&Ls, kept as they come
        # (kernels.Lowest; the same list and first positions a sort of all gives)
        low = Lowest(hi + 1)
        # last bar's tail scenarios, one bar older now: hi + 1 real scenarios,
        # so their largest P&L bounds this tail from above (see seed_cut)
        cut0 = seed_cut([self.hist_scenario(wins, expo, gam, convex, sq, t + 1)
                         for t in self.hist_tail if t + 1 < n], hi + 1)
        # every scenario's P&L, symbol by symbol: scenario t adds its symbols in
        # the order hist_scenario does (so the same bits), each symbol's returns
        # walked newest first with native indices (at most one wrap)
        acc = zeroed(self.scenarios, n)
        self.scenarios = acc
        t: i64 = 0
        for i in range(k):
            wi = wins[i]
            vals = wi.values
            cap: i64 = wi.capacity
            e = expo[i]
            g = gam[i]
            j: i64 = wi.pos - 1
            t = 0
            while t < n:
                if j < 0:
                    j += cap
                r = sq * vals[j]
                x = acc[t] + e * r
                if convex:
                    x += g * r * r
                acc[t] = x
                j -= 1
                t += 1
        t = 0
        while t < n:
            x = acc[t]
            if not (x > cut0) and not (x >= low.cut):
                low.add(x, t)
            t += 1
        self.hist_tail = low.at
        if low.bad:  # a NaN scenario: sort them all, as before
            return self.hist_book_var_sorted(wins, syms, expo, gam, n, sq, nav)
        srt = low.vals
        w = pos - lo
        v = -(srt[lo] + (srt[hi] - srt[lo]) * w)
        if v <= 0.0:
            return 0.0
        self.book_contrib(wins, syms, expo, gam, low.first_at(srt[lo]), low.first_at(srt[hi]), w, sq)
        return v / nav

    def one_returns(self, sym: str, win: RollingWindow) -> bool:
        """Make ``one_low`` and ``one_high`` the tails of the returns of ``sym``
        (selected once when the one position changes, then kept by
        track_risk_return); False if a NaN among them leaves them without an order."""
        if self.one_sym == sym:
            return True
        vals = win.values
        for i in range(win.count):
            x = vals[i]
            if x != x:
                self.one_sym = ""
                return False
        self.one_sym = sym
        self.one_low.reset(win)
        self.one_high.reset(win)
        return True

    def one_position_var(self, e: float, sym: str, win: RollingWindow, n: int, lo: int, hi: int, w: float,
                         sq: float, nav: float) -> float:
        """hist_book_var of a book of one position (e its exposure, no options):
        scenario P&L 0 + e (sqrt(h) r) is monotone in the return r (each step
        rounds monotonically), so the sorted scenarios are the sorted returns
        mapped, ascending for a long and reversed for a short: the quantile's
        two scenarios are read, not searched. Each one's P&L is its
        contribution (one position), so no scenario index is needed. The same
        figures as scanning every scenario (a test holds them equal)."""
        tail = self.one_low if e >= 0.0 else self.one_high  # the i-th lowest, or highest: sorted[n - 1 - i]
        tail.ready(hi + 1, win)
        a = 0.0 + e * (sq * tail.get(lo))
        b = 0.0 + e * (sq * tail.get(hi))
        v = -(a + (b - a) * w)
        if v <= 0.0:
            return 0.0
        self.var_contrib[sym] = -(a * (1.0 - w) + b * w)
        return v / nav

    def hist_scenario(self, wins: list[RollingWindow], expo: list[float], gam: list[float], convex: bool,
                      sq: float, t: int) -> float:
        """The book's P&L under scenario ``t`` (every symbol's t-th newest return)."""
        x = 0.0
        for i in range(len(wins)):
            wi = wins[i]
            j = wi.pos - 1 - t
            if j < 0:
                j += wi.capacity
            r = sq * wi.values[j]
            x += expo[i] * r
            if convex:
                x += gam[i] * r * r
        return x

    def hist_book_var_sorted(self, wins: list[RollingWindow], syms: list[str], expo: list[float],
                             gam: list[float], n: int, sq: float, nav: float) -> float:
        """hist_book_var by sorting every scenario (a NaN among them)."""
        k = len(syms)
        convex = self.overlay is not None
        pnl: list[float] = []
        for t in range(n):
            x = 0.0
            for i in range(k):
                wi = wins[i]
                r = sq * wi.values[(wi.pos - 1 - t) % wi.capacity]
                x += expo[i] * r
                if convex:
                    x += gam[i] * r * r
            pnl.append(x)
        pos = 0.05 * (n - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        srt = smallest(pnl, hi + 1)
        w = pos - lo
        v = -(srt[lo] + (srt[hi] - srt[lo]) * w)
        if v <= 0.0:
            return 0.0
        self.book_contrib(wins, syms, expo, gam, pnl.index(srt[lo]), pnl.index(srt[hi]), w, sq)
        return v / nav

    def book_contrib(self, wins: list[RollingWindow], syms: list[str], expo: list[float], gam: list[float],
                     t_lo: int, t_hi: int, w: float, sq: float) -> None:
        """Each position's P&L in the quantile's scenarios (t_lo, t_hi), interpolated by w."""
        for i in range(len(syms)):
            win = wins[i]
            r_lo = sq * win.values[(win.pos - 1 - t_lo) % win.capacity]
            r_hi = sq * win.values[(win.pos - 1 - t_hi) % win.capacity]
            a = expo[i] * r_lo + gam[i] * r_lo * r_lo
            b = expo[i] * r_hi + gam[i] * r_hi * r_hi
            self.var_contrib[syms[i]] = -(a * (1.0 - w) + b * w)

    def ensure_draws(self, k: int) -> None:
        if self.z_cols >= k and len(self.z) > 0:
            return
        cols = max(k, self.n_instruments)
        rng = DetRandom(self.p.seed * 1_000_003 + 17)
        self.z = vec[float]([rng.gauss() for _ in range(self.p.mc_draws * cols)])
        self.z_cols = cols
        self.z_sorted = vec[float]()

    def symbol_unit_var(self, sym: str) -> float:
        """One-day 95% VaR of one unit of ``sym`` (currency), from its bar
        returns and price at the last bar close (cached there)."""
        return self.unit_var.get(sym, 0.0)

    def var_other(self, sym: str) -> float:
        """Sum of the other positions' stand-alone one-day 95% VaR (currency)."""
        total = 0.0
        for other in self.portfolio.open_symbols():
            if other != sym:
                total += abs(self.portfolio.qty(other)) * self.symbol_unit_var(other)
        return total

