"""Every breaker at, just below and just above its limit, on the engine's own
computation of its value: a scenario is run once with the limit out of reach
to read the value, then again with the limit at the value (trips), a hair
above it (does not) and a hair below it (trips)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from core.breakers import Breaker
from core.config import BreakersConfig, EngineConfig, LimitsConfig, StrategyConfig
from core.events import BreakerChanged, Command, StateChanged, Tick, Timer
from tests.conftest import make_engine

MIN = 60_000
OFF = {"daily_loss": 1.0, "max_drawdown": 1.0, "trailing_loss": 1.0, "var_limit": 1.0,
       "stale_data_s": 1e9, "reject_storm": 10**6, "consecutive_losses": 10**6, "bad_data": 10**6}


PEAK: dict[int, dict[str, float]] = {}  # id(engine) -> breaker -> highest value seen


def engine(**limits: object):  # type: ignore[no-untyped-def]
    """The strategy is driven by a model that never speaks, so only the
    scenario's own orders trade."""
    cfg = {**OFF, **limits}
    return make_engine(EngineConfig(strategy=StrategyConfig(signal="ensemble"),
                                    breakers=BreakersConfig(**cfg),  # type: ignore[arg-type]
                                    limits=LimitsConfig(quarantine_band=0.9)))


def feed(eng, events):  # type: ignore[no-untyped-def]
    out = []
    peak = PEAK.setdefault(id(eng), {})
    for ev in events:
        out.extend(eng.process(ev)[1:])
        for b in eng.breakers:
            peak[b.name] = max(peak.get(b.name, -math.inf), b.value)
    return out


def peak_value(eng, name: str) -> float:  # type: ignore[no-untyped-def]
    b = next(b for b in eng.breakers if b.name == name)
    return max(PEAK.get(id(eng), {}).get(name, -math.inf), b.value)


def loss_scenario(eng) -> list:  # type: ignore[no-untyped-def]
    """Buy 1,000 AAA at 100, rally to 104 (the day's P&L peak), fall to 97."""
    out = feed(eng, [Timer(0, "", "day"), Tick(1, "AAA", 100.0, 1.0)])
    eng.submit("AAA", 1000.0, 100.0, "operator", "test buy")
    out += feed(eng, [Tick(2, "AAA", 100.0, 1.0)])
    for i, p in enumerate([101.0, 102.5, 104.0, 101.0, 99.0, 97.0], 1):
        out += feed(eng, [Tick(i * MIN - 1, "AAA", p, 1.0), Timer(i * MIN, "", "bar")])
    return out


def stale_scenario(eng) -> list:  # type: ignore[no-untyped-def]
    out = feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    eng.submit("AAA", 10.0, 100.0, "operator", "test buy")
    out += feed(eng, [Tick(2, "AAA", 100.0, 1.0), Timer(MIN, "", "bar")])
    return out + feed(eng, [Timer(MIN + 437_000, "", "bar")])  # 437 s without a price


def storm_scenario(eng) -> list:  # type: ignore[no-untyped-def]
    out = feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    for _ in range(7):  # seven fat-fingered orders in one bar
        eng.submit("AAA", 1.0, 150.0, "operator", "fat finger")
        feed(eng, [])
    return out


def losses_scenario(eng) -> list:  # type: ignore[no-untyped-def]
    """Four losing round trips in a row."""
    out = []
    ts = 1
    for _ in range(4):
        out += feed(eng, [Tick(ts, "AAA", 100.0, 1.0)])
        eng.submit("AAA", 10.0, 100.0, "operator", "in")
        out += feed(eng, [Tick(ts + 1, "AAA", 100.0, 1.0)])
        eng.submit("AAA", -10.0, 100.0, "operator", "out")
        out += feed(eng, [Tick(ts + 2, "AAA", 99.0, 1.0)])
        ts += 10
    return out


CASES: list[tuple[str, str, Callable[..., list], bool]] = [
    ("daily_loss", "daily_loss", loss_scenario, False),
    ("max_drawdown", "max_drawdown", loss_scenario, False),
    ("trailing_loss", "trailing_loss", loss_scenario, False),
    ("var_limit", "var_limit", loss_scenario, False),
    ("stale_data", "stale_data_s", stale_scenario, False),
    ("reject_storm", "reject_storm", storm_scenario, True),
    ("consecutive_losses", "consecutive_losses", losses_scenario, True),
]


def tripped(name: str, key: str, scenario: Callable[..., list], limit: float, count: bool) -> bool:
    eng = engine(**{key: int(limit) if count else limit})
    scenario(eng)
    return next(b for b in eng.breakers if b.name == name).trips > 0


@pytest.mark.parametrize(("name", "key", "scenario", "count"), CASES, ids=[c[0] for c in CASES])
def test_breaker_trips_at_and_below_its_value_not_above(name: str, key: str,
                                                        scenario: Callable[..., list], count: bool) -> None:
    eng = engine()
    scenario(eng)
    v = peak_value(eng, name)
    if name in ("daily_loss", "max_drawdown", "trailing_loss", "var_limit"):
        # the value at the last bar is the scenario's worst: measured, then checked against a hand figure
        assert v > 0
    if count:
        v = float(round(v))
        assert tripped(name, key, scenario, v, True)  # at
        assert tripped(name, key, scenario, v - 1, True)  # limit just below the value
        assert not tripped(name, key, scenario, v + 1, True)  # limit just above
    else:
        assert tripped(name, key, scenario, v, False)
        assert tripped(name, key, scenario, v * (1 - 1e-9), False)
        assert not tripped(name, key, scenario, v * (1 + 1e-9), False)


def test_the_loss_values_match_a_hand_computation() -> None:
    eng = engine()
    loss_scenario(eng)
    nav = eng.portfolio.nav()
    by = {b.name: b.value for b in eng.breakers}
    day_open = 1_000_000.0
    assert by["daily_loss"] == pytest.approx((day_open - nav) / day_open, rel=1e-12)
    peak_nav = max(eng.risk.peak_nav, day_open)
    assert by["max_drawdown"] == pytest.approx(1 - nav / peak_nav, rel=1e-12)
    # trailing: give-back from the day's P&L peak (the 104 close), as a fraction of the day's open
    assert by["trailing_loss"] == pytest.approx((eng.risk.day_pnl_peak - (nav - day_open)) / day_open, rel=1e-12)
    assert by["trailing_loss"] > by["daily_loss"]  # measured from the peak, not the start


def test_stale_data_counts_market_seconds_while_exposed_only() -> None:
    eng = engine()
    stale_scenario(eng)
    # market clock, one bar's granularity: the tick at 2 ms is fresh as of the bar close at 1 min
    assert next(b for b in eng.breakers if b.name == "stale_data").value == pytest.approx(437.0)
    old = engine(stale_bars=0)  # sessions logged before: seconds since any print
    stale_scenario(old)
    assert next(b for b in old.breakers if b.name == "stale_data").value == pytest.approx(437.0 + 60 - 0.002)
    flat = engine()
    feed(flat, [Tick(1, "AAA", 100.0, 1.0), Timer(MIN, "", "bar"), Timer(MIN + 900_000, "", "bar")])
    assert next(b for b in flat.breakers if b.name == "stale_data").value == 0.0


def test_a_trip_halts_cancels_and_a_reduce_on_breaker_reduces() -> None:
    eng = engine(daily_loss=0.002, on_trip={"daily_loss": "halt"})
    out = loss_scenario(eng)
    assert [s.new for s in out if isinstance(s, StateChanged)] == ["HALTED"]
    eng2 = engine(daily_loss=0.002, on_trip={}, reduce_on=("daily_loss",))
    out2 = loss_scenario(eng2)
    assert [s.new for s in out2 if isinstance(s, StateChanged)] == ["REDUCING"]


@pytest.mark.parametrize(("confirm", "breaches", "trips"), [(3, 2, False), (3, 3, True), (3, 4, True), (1, 1, True)])
def test_confirmation_needs_n_breaches_in_a_row(confirm: int, breaches: int, trips: bool) -> None:
    b = Breaker("x", 1.0, 0.8, "frac", confirm)
    states = [b.evaluate(1.5, t) for t in range(breaches)]
    assert (b.state == "TRIPPED") is trips
    if not trips:
        b.evaluate(0.5, 99)  # a value back under the limit starts the count again
        for t in range(confirm - 1):
            b.evaluate(1.5, 100 + t)
        assert b.state != "TRIPPED"
    assert states[0] in ("", "WARNING", "TRIPPED")


@pytest.mark.parametrize(("value", "state"), [(0.79, "ARMED"), (0.8, "WARNING"), (0.99, "WARNING"),
                                              (1.0, "TRIPPED"), (math.nan, "TRIPPED")])
def test_breaker_states_around_warning_and_limit(value: float, state: str) -> None:
    b = Breaker("x", 1.0, 0.8, "frac")
    b.evaluate(value, 1)
    assert b.state == state


def test_reset_needs_a_reason_in_the_log_and_measures_from_now() -> None:
    eng = engine(max_drawdown=0.002)
    loss_scenario(eng)
    assert next(b for b in eng.breakers if b.name == "max_drawdown").state == "TRIPPED"
    out = feed(eng, [Command(10 * MIN, "", "reset_breaker", "max_drawdown", "checked the book")])
    ch = [e for e in out if isinstance(e, BreakerChanged)]
    assert ch and ch[0].new == "ARMED" and "checked the book" in ch[0].reason
    assert eng.risk.breaker_peak_nav == pytest.approx(eng.portfolio.nav())
