"""VWAP beside TWAP and POV (core/broker.py, core/router.py): a parent's
slices follow the volume seen on the days before today in each slice's
time of day; no such volume yet: TWAP's equal slices."""

from __future__ import annotations

import pytest

from core.broker import VWAP, PaperBroker, ParentOrder
from core.build import build_engine
from core.bus import Bus
from core.config import config_from_dict
from core.errors import ConfigError
from core.events import Bar, OrderAccepted
from core.market.spec import InstrumentSpec, MarketSpec

DAY = 86_400_000
MIN = 60_000
T0 = 3 * DAY + 14 * 60 * MIN  # 14:00 UTC on day 3 (a Sunday does not matter here)


def parent(algo: str, qty: float = 100.0, slices: int = 4) -> ParentOrder:
    return ParentOrder(1, "AAA", qty, 100.0, "strategy", algo, slices, MIN, T0, 1.0, 0.1, 0.0)


def test_vwap_targets_follow_the_profile_and_twap_stays_equal() -> None:
    p = parent(VWAP)
    p.set_profile([100.0, 300.0, 0.0, 600.0])
    assert [p.target(k) for k in range(4)] == [10.0, 40.0, 40.0, 100.0]  # nothing due in the quiet slice
    short = parent(VWAP, qty=-7.0)
    short.set_profile([1.0, 1.0, 1.0, 1.0])
    assert [short.target(k) for k in range(4)] == [-1.0, -3.0, -5.0, -7.0]  # floor in lots, rest last
    none = parent(VWAP)
    none.set_profile([0.0, 0.0, 0.0, 0.0])  # no volume seen yet: TWAP's schedule
    assert [none.target(k) for k in range(4)] == [parent("twap").target(k) for k in range(4)] \
        == [25.0, 50.0, 75.0, 100.0]


def test_the_broker_profile_counts_only_days_before_today() -> None:
    b, bus = PaperBroker(0.0, 0.0, 0.0), Bus()
    b.profile_ms, b.clock = MIN, bus
    for day in (1, 2):
        for m, v in enumerate((10.0, 30.0, 0.0, 60.0)):
            bus.ts = day * DAY + 14 * 60 * MIN + m * MIN
            b.on_price("AAA", 100.0, v)
    bus.ts = T0  # day 3's first print closes day 2
    b.on_price("AAA", 100.0, 1000.0)
    assert b.profile("AAA", T0, 4, MIN) == [20.0, 60.0, 0.0, 120.0]  # not today's 1,000
    assert b.profile("BBB", T0, 4, MIN) == [0.0] * 4
    off = PaperBroker(0.0, 0.0, 0.0)  # twap/pov: no profile kept
    off.on_price("AAA", 100.0, 5.0)
    assert off.volume_today == {} and off.volume_by_bucket == {}


def test_an_engine_parent_sends_its_first_child_by_the_profile() -> None:
    spec = MarketSpec((InstrumentSpec("AAA", "equity", 1.0),), MIN, 390.0)
    cfg = config_from_dict({"execution": {"algo": "vwap", "slices": 4, "slice_s": 60.0,
                                          "twap_above_notional": 1.0}})
    eng = build_engine(cfg, spec)
    assert eng.router.broker.profile_ms == MIN
    for day in (1, 2, 3):
        for m, v in enumerate((100.0, 300.0, 0.0, 600.0)):
            if day == 3 and m:
                break
            eng.process(Bar(day * DAY + 14 * 60 * MIN + m * MIN, "AAA", 100.0, 100.0, 100.0, 100.0, v))
    eng.bus.ts = T0
    eng.bus.out = []
    eng.router.start_parent("AAA", 100.0, 100.0, "strategy", 0)
    got = [e for e in eng.bus.out if isinstance(e, OrderAccepted)]
    assert len(got) == 1 and got[0].qty == 10.0  # 200 of 2,000 units of volume: 10%
    pid = next(iter(eng.router.broker.parents))
    assert [round(c, 6) for c in eng.router.broker.parents[pid].cum_share] == [0.1, 0.4, 0.4, 1.0]


def test_execution_algo_must_be_known() -> None:
    with pytest.raises(ConfigError, match="execution.algo must be twap, vwap or pov, got 'vwop'"):
        config_from_dict({"execution": {"algo": "vwop"}})
