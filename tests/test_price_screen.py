"""The price screen: garbage never becomes a price, real gaps do (issue 19, item 4)."""

from __future__ import annotations

import math

from core.build import build_engine
from core.config import EngineConfig
from core.events import Quarantined, RiskSnapshot, Tick, Timer
from core.market.spec import InstrumentSpec, MarketSpec
from core.price_screen import MAX_GAP, PriceScreen

SPEC = MarketSpec((InstrumentSpec("AAA", "equity", 1.0, "tech"),), 60_000, 390.0)


def test_a_repeated_absurd_print_is_never_confirmed_as_a_gap() -> None:
    eng = build_engine(EngineConfig(), SPEC, 1)
    out: list[object] = []
    ts = 0
    for i in range(30):
        ts += 1000
        out += eng.process(Tick(ts, "AAA", 100.0 + 0.01 * i, 10.0))
    for _ in range(10):  # ten 1e308 prints in a row (the hostile-input reproduction)
        ts += 1000
        out += eng.process(Tick(ts, "AAA", 1e308, 10.0))
    ts += 1000
    out += eng.process(Timer(ts, "", "bar"))
    q = [e for e in out if isinstance(e, Quarantined)]
    assert len(q) == 10 and all(e.price == 1e308 for e in q)
    assert "never taken as a real gap" in q[-1].reason
    assert eng.portfolio.last["AAA"] < 101.0
    snap = [e for e in out if isinstance(e, RiskSnapshot)][-1]
    assert math.isfinite(snap.nav) and math.isfinite(snap.drawdown) and snap.max_drawdown < 0.01


def test_a_real_gap_within_the_bound_is_still_taken_after_confirmation() -> None:
    s = PriceScreen(0.25, 3)
    assert s.check("X", 10.0) == ""
    assert s.check("X", 30.0) != "" and s.check("X", 30.1) != ""
    assert s.check("X", 30.2) == "" and s.last_good("X") == 30.2  # a 3x gap, confirmed
    assert s.check("X", 30.2 * MAX_GAP * 1.01) != ""  # past the bound: held back every time
    for _ in range(5):
        assert "never taken" in s.check("X", 30.2 * MAX_GAP * 1.01)
    assert s.check("X", 30.2 / (MAX_GAP * 1.01)) != "" and s.last_good("X") == 30.2
    assert "not positive and finite" in s.check("X", float("inf"))
