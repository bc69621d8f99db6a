"""The options overlay's intraday delta chart (issue 18: seed 000's monitoring)."""

from __future__ import annotations

from core.build import build_engine
from core.config import EngineConfig, HedgeConfig
from core.market.sim import Simulator
from core.session import MemorySink, Session
from core.view import CHART_BLOCKS, delta_chart


def test_the_chart_scales_the_day_from_its_low_to_its_high() -> None:
    assert delta_chart([]) == "-"
    assert delta_chart([10.0, 20.0, 30.0]) == f"{CHART_BLOCKS[0]}{CHART_BLOCKS[4]}{CHART_BLOCKS[7]} 10..30"
    flat = delta_chart([5.0, 5.0])
    assert flat.startswith(CHART_BLOCKS[3] * 2) and flat.endswith("5..5")
    assert len(delta_chart([float(i) for i in range(100)], width=24).split(" ")[0]) == 24  # the newest 24


def test_the_risk_pane_carries_the_books_delta_over_the_day_when_the_overlay_is_on() -> None:
    sim = Simulator(6)
    s = Session(build_engine(EngineConfig(hedge=HedgeConfig(protect=True)), sim.spec, 6), sim, MemorySink(),
                "delta", speed=None, max_events=4000)
    s.run()
    extra = dict(s.snapshot().risk.extra)
    chart = extra["delta $ today"]
    bars, span = chart.split(" ")
    assert set(bars) <= set(CHART_BLOCKS) and len(bars) >= 2 and ".." in span
    assert len(s.view._deltas) >= 2  # one figure per bar close of the day
    off = Session(build_engine(EngineConfig(), sim.spec, 6), Simulator(6), MemorySink(), "off", speed=None,
                  max_events=500)
    off.run()
    assert "delta $ today" not in dict(off.snapshot().risk.extra)
