"""The risk monitor's incremental pieces give what a fresh computation gives."""

from __future__ import annotations

import math
import random

from core.engine_params import EngineParams
from core.kernels import Lowest, sorted_returns
from core.portfolio import Portfolio
from core.risk_monitor import RiskMonitor
from core.strategy import Momentum


def monitor() -> tuple[RiskMonitor, Portfolio]:
    p = EngineParams()
    pf = Portfolio(p.initial_cash)
    return RiskMonitor(p, pf, Momentum(5, 20, 2.0), None, 1), pf


def test_the_sorted_nav_returns_follow_the_window_through_eviction_and_ties() -> None:
    mon, pf = monitor()
    rng = random.Random(4)
    for i in range(1300):  # past the 500-bar window more than twice
        pf.cash *= 1.0 + (0.0 if i % 7 == 0 else rng.gauss(0.0, 0.001))  # ties: zero returns
        mon.update_nav()
        if i % 97 == 0 or i > 1290:
            assert mon.sorted_nav_returns() == sorted_returns(mon.nav_returns)
    assert mon.sorted_ok and len(mon.nav_sorted) == 500


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
