"""The risk monitor's incremental pieces give what a fresh computation gives."""

from __future__ import annotations

import math
import random

from core.engine_params import EngineParams
from core.kernels import Lowest, LowTail, hist_cvar, hist_var, sorted_returns
from core.portfolio import Portfolio
from core.risk_monitor import RiskMonitor
from core.strategy import Momentum, RollingWindow, SymbolState, std_and_means


def monitor() -> tuple[RiskMonitor, Portfolio]:
    p = EngineParams()
    pf = Portfolio(p.initial_cash)
    return RiskMonitor(p, pf, Momentum(5, 20, 2.0), None, 1), pf


def _figures_by_sort(mon: RiskMonitor, h: float) -> list[str]:
    tail = sorted_returns(mon.nav_returns)
    return [repr(v) for v in (hist_var(tail, 0.95, h), hist_var(tail, 0.99, h),
                              hist_cvar(tail, 0.95, h), hist_cvar(tail, 0.99, h))]


def test_the_nav_tail_figures_are_those_of_a_sorted_window_through_evictions_ties_and_flat_spells() -> None:
    """tail_figures reads the kept smallest returns; read every 1 to 700 bars
    (past the 500-bar window), through flat spells (every return 0.0: the
    ties-past-the-buffer path) and rounded returns (ties), each figure is
    the sorted window's, bit for bit."""
    mon, pf = monitor()
    rng = random.Random(5)
    due = 1
    reselected = 0
    for i in range(6000):
        flat = (i // 700) % 3 == 1
        pf.cash *= 1.0 + (0.0 if flat or i % 5 == 0 else round(rng.gauss(0.0, 0.001), 5))
        mon.update_nav()
        due -= 1
        if due == 0:
            n_before = mon.nav_low.n
            mon.tail_figures(390.0)
            reselected += mon.nav_low.n > n_before
            got = [repr(v) for v in (mon.fig_hist95, mon.fig_hist99, mon.fig_cvar95, mon.fig_cvar99)]
            assert got == _figures_by_sort(mon, 390.0), i
            due = rng.choice([1, 2, 3, 10, 57, 499, 500, 501, 700])
    assert mon.sorted_ok and reselected < 40


def test_a_low_tail_holds_the_windows_smallest_or_largest_in_order() -> None:
    rng = random.Random(9)
    for negate in (False, True):
        win = RollingWindow(40)
        tail = LowTail(12, negate)
        for step in range(20_000):
            x = rng.choice([0.0, 1.0, -1.0, rng.random(), -rng.random(), rng.randint(-3, 3) * 0.5, math.inf])
            full = win.full()
            tail.push(x, win.values[win.pos] if full else 0.0, full)
            win.push(x)
            need = rng.randint(1, min(12, win.count))
            tail.ready(need, win)
            want = sorted(win.values[i] for i in range(win.count))
            if negate:
                want.reverse()
            assert [repr(tail.get(i)) for i in range(min(tail.n, win.count))] == \
                [repr(v) for v in want[:min(tail.n, win.count)]], step
            assert tail.n >= need and (not tail.complete or tail.n == win.count)


def test_a_nan_return_falls_back_to_sorting_afresh() -> None:
    mon, pf = monitor()
    for _ in range(10):
        pf.cash *= 1.001
        mon.update_nav()
    pf.cash = math.nan
    mon.update_nav()
    assert not mon.sorted_ok
    got = mon.sorted_nav_returns()
    assert len(got) == mon.nav_returns.count and any(x != x for x in got)
    mon.tail_figures(390.0)  # from a sort: the NaN sorts where it falls
    assert [repr(v) for v in (mon.fig_hist95, mon.fig_hist99, mon.fig_cvar95, mon.fig_cvar99)] == \
        _figures_by_sort(mon, 390.0)


def _lowest(xs: list[float], m: int) -> "Lowest":
    low = Lowest(m)
    for t, x in enumerate(xs):
        if not (x >= low.cut):  # the hot loops' test
            low.add(x, t)
    return low


def test_lowest_keeps_what_a_full_sort_gives_with_ties_and_infinities() -> None:
    rng = random.Random(3)
    for trial in range(300):
        n = rng.randint(1, 400)
        pool = [rng.gauss(0.0, 1.0) for _ in range(rng.randint(1, 30))] + [math.inf, -math.inf]
        xs = [rng.choice(pool) if rng.random() < 0.5 else rng.gauss(0.0, 1.0) for _ in range(n)]
        m = rng.randint(1, n + 3)
        low = _lowest(xs, m)
        assert not low.bad
        assert low.vals == sorted(xs)[:m], trial
        for v in low.vals:
            assert low.first_at(v) == xs.index(v), trial  # the earliest arrival of a tied value


def test_lowest_flags_a_nan() -> None:
    low = _lowest([1.0, math.nan, -2.0, 3.0], 2)
    assert low.bad


def test_historical_book_var_is_the_same_as_sorting_every_scenario() -> None:
    """hist_book_var (the lowest scenarios kept as they come) against the
    sort-everything path it falls back to, on a three-symbol book."""
    mon, pf = monitor()
    rng = random.Random(11)
    for sym in ("A", "B", "C"):
        px = 100.0
        for _ in range(300):
            px *= 1.0 + rng.gauss(0.0, 0.01)
            mon.track_risk_return(sym, round(px, 2))  # rounding makes ties
    syms = ["A", "B", "C"]
    expo = [1_000.0, -2_500.0, 700.0]
    wins = [mon.risk_rets[s] for s in syms]
    gam = [0.0, 0.0, 0.0]
    n = min(w.count for w in wins)
    fast = mon.hist_book_var(syms, expo, n, math.sqrt(390.0), 1e6)
    parts = dict(mon.var_contrib)
    mon.var_contrib = {}
    slow = mon.hist_book_var_sorted(wins, syms, expo, gam, n, math.sqrt(390.0), 1e6)
    assert fast > 0.0
    assert fast == slow
    assert parts == mon.var_contrib


def test_a_one_position_book_reads_its_tail_from_its_returns_in_order() -> None:
    """hist_book_var of one position (no options) reads the quantile from the
    symbol's returns kept in order; bar after bar, through the window's
    evictions, ties (rounded prices) and a change of the one position, long,
    short and flat, it equals scanning and sorting every scenario."""
    mon, _ = monitor()
    rng = random.Random(5)
    px = {"A": 100.0, "B": 40.0}
    sq = math.sqrt(390.0)
    checked = 0
    for bar in range(700):
        for s in px:
            px[s] = round(px[s] * (1.0 + rng.gauss(0.0, 0.01)), 2)  # rounding makes equal returns
            mon.track_risk_return(s, px[s])
        sym = "A" if bar < 400 else "B"  # the one position moves to another symbol
        win = mon.risk_rets.get(sym)
        if win is None or win.count < 20:
            continue
        for e in (12_000.0, -7_500.0, 0.0):
            mon.var_contrib = {}
            fast = mon.hist_book_var([sym], [e], win.count, sq, 1e6)
            parts = dict(mon.var_contrib)
            mon.var_contrib = {}
            slow = mon.hist_book_var_sorted([win], [sym], [e], [0.0], win.count, sq, 1e6)
            assert (fast, parts) == (slow, mon.var_contrib), (bar, e)
            checked += fast > 0.0
        want = sorted_returns(win)
        assert mon.one_sym == sym
        assert [mon.one_low.get(i) for i in range(mon.one_low.n)] == want[:mon.one_low.n]
        assert [mon.one_high.get(i) for i in range(mon.one_high.n)] == want[::-1][:mon.one_high.n]
    assert checked > 1000


def test_a_one_position_book_reads_its_monte_carlo_tail_from_the_draws_in_order() -> None:
    """A book of one position takes the lowest (for a short, the highest)
    draws in order instead of computing every scenario: long, short, flat,
    old rules (a loss drift) and new, the same figures as scanning them all."""
    for version in (1, 2):
        p = EngineParams()
        p.breaker_version = version
        pf = Portfolio(p.initial_cash)
        mon = RiskMonitor(p, pf, Momentum(5, 20, 2.0), None, 1)
        st = SymbolState(50)
        mon.strategy.states["AAA"] = st
        rng = random.Random(version)
        px = 100.0
        seen = 0
        for bar in range(120):
            new = px * (1.0 + rng.gauss(-0.0005, 0.01))
            st.returns.push(new / px - 1.0)
            px = new
            pf.mark("AAA", px)
            if bar == 10:
                pf.apply_fill("AAA", 900.0, px, 0.0)
            if bar == 60:
                pf.apply_fill("AAA", -2000.0, px, 0.0)  # now short
            nav = pf.nav()
            mon.run_monte_carlo(nav)
            got = (mon.mc95, mon.mc99, mon.mc_cvar95, mon.mc_cvar99)
            mon.run_monte_carlo(nav, True)
            assert (mon.mc95, mon.mc99, mon.mc_cvar95, mon.mc_cvar99) == got, (version, bar)
            seen += got[0] > 0.0
        assert seen > 100


def test_window_moments_are_sample_moments_of_the_windows_newest_values_bit_for_bit() -> None:
    from core.kernels import sample_moments, window_moments
    from core.strategy import RollingWindow

    rng = random.Random(17)
    for trial in range(200):
        k = rng.randint(1, 4)
        wins = []
        for _ in range(k):
            w = RollingWindow(rng.randint(2, 60))
            for _ in range(rng.randint(2, 150)):
                w.push(rng.gauss(0.0, 0.02))
            wins.append(w)
        n = rng.randint(2, min(w.count for w in wins))
        lists = [[w.values[(w.pos - 1 - j) % w.capacity] for j in range(n)] for w in wins]
        assert window_moments(wins, n) == sample_moments(lists), trial


def test_monte_carlo_scenarios_column_by_column_are_the_draw_by_draw_ones() -> None:
    """mc_linear (a book without options) sums each draw's terms column by
    column over all draws; mc_scenario sums one draw's: the same bits."""
    mon, _ = monitor()
    mon.ensure_draws(3)
    rng = random.Random(23)
    for _ in range(20):
        wv = [rng.gauss(0.0, 5e4) for _ in range(3)]
        m = min(rng.gauss(0.0, 100.0), 0.0)
        pnl = mon.mc_linear(mon.p.mc_draws, 3, m, math.sqrt(390.0), wv, None, math.inf)
        assert pnl == [mon.mc_scenario(d, 3, m, math.sqrt(390.0), wv, [], [], []) for d in range(mon.p.mc_draws)]


def test_the_seeded_generator_draws_what_the_big_integer_formula_draws() -> None:
    """DetRandom multiplies through 16-bit limbs (mul64: no big-integer
    product, where a Ctrl-C could abort compiled code); every draw is the
    xorshift64* of the plain formula, so logged Monte Carlo figures replay."""
    from core.kernels import DetRandom, mul64

    mask = 0xFFFFFFFFFFFFFFFF
    rng = random.Random(29)
    for _ in range(2000):
        a, b = rng.getrandbits(64), rng.getrandbits(64)
        assert mul64(a, b) == (a * b) & mask
    for seed in (0, 1, 7, 2**63 + 5, -3, 10**30, 1_000_003 * 123_456 + 17):
        gen = DetRandom(seed)
        x = (seed * 0x9E3779B97F4A7C15 + 1) & mask or 1
        assert gen.state == x
        for _ in range(300):
            x ^= x >> 12
            x ^= (x << 25) & mask
            x ^= x >> 27
            assert gen.uniform() == (((x * 0x2545F4914F6CDD1D) & mask) >> 11) * (1.0 / 9007199254740992.0)


def test_std_and_means_are_the_bits_of_the_three_sums_made_apart() -> None:
    """The strategy's fused walk (two chains side by side, the shorter mean a
    partial sum) against std_about and mean_last, at every fill and wrap."""
    rng = random.Random(21)
    for fast, slow in ((20, 50), (5, 5), (7, 3), (1, 9)):
        cap = max(fast, slow)
        r = RollingWindow(cap)
        c = RollingWindow(cap)
        for i in range(3 * cap + 7):
            c.push(100.0 + rng.gauss(0.0, 3.0))
            if i > 0:
                r.push(rng.gauss(0.0, 0.01))
            if c.count >= cap and r.count >= 2:
                m = r.mean_last(r.count)
                got = std_and_means(r, m, c, fast, slow)
                want = (r.std_about(m), c.mean_last(fast), c.mean_last(slow))
                assert [repr(v) for v in got] == [repr(v) for v in want], (fast, slow, i)


def test_a_snapshots_standing_figures_are_shared_while_they_stand_and_a_signed_zero_is_not_lost() -> None:
    mon, pf = monitor()
    mon.update_nav()
    a = mon.snapshot(1, pf.nav(), 0.0)
    b = mon.snapshot(2, pf.nav(), 0.0)
    assert a.cash is b.cash and a == b._replace(ts=1)  # boxed once while it stands
    pf.cash = 1.5e6
    c = mon.snapshot(3, pf.nav(), -0.0)
    assert c.cash == 1.5e6 and repr(c.var95) == "-0.0" and repr(b.var95) == "0.0"
    mon.mc95 = 0.25
    assert mon.snapshot(4, pf.nav(), -0.0).var_mc95 == 0.25
