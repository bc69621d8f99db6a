"""The risk monitor's incremental pieces give what a fresh computation gives."""

from __future__ import annotations

import math
import random

from core.engine_params import EngineParams
from core.kernels import sorted_returns
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
