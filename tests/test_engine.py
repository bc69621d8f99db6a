"""Engine behaviour on hand-made inputs: a fake clock is just the ``ts`` we pass."""

from __future__ import annotations

import math

from core.config import BreakersConfig, EngineConfig, LimitsConfig, StrategyConfig
from core.events import (
    Bar, BreakerChanged, Command, CommandRejected, Fill, OrderAccepted, OrderCancelled,
    OrderIntent, OrderRejected, RiskSnapshot, Signal, StateChanged, Tick, Timer,
)
from tests.conftest import make_engine

MIN = 60_000


def feed(engine, events):  # type: ignore[no-untyped-def]
    out = []
    for ev in events:
        out.extend(engine.process(ev)[1:])
    return out


def trend(engine, symbol="AAA", start=100.0, step=0.01, bars=30, t0=0):  # type: ignore[no-untyped-def]
    """Rising bars with a bar timer after each; returns the decisions."""
    out = []
    price = start
    for i in range(bars):
        ts = t0 + (i + 1) * MIN
        price *= 1.0 + step * (1.0 if i % 3 else -0.3)
        out += feed(engine, [Tick(ts - 1, symbol, price, 10.0), Timer(ts, "", "bar")])
    return out


def of(kind, out):  # type: ignore[no-untyped-def]
    return [e for e in out if isinstance(e, kind)]


def test_process_numbers_the_input_and_each_decision_consecutively():
    eng = make_engine()
    out = eng.process(Tick(1, "AAA", 100.0, 1.0))
    assert out[0] == Tick(1, "AAA", 100.0, 1.0) and eng.seq == 1
    out = eng.process(Timer(2, "", "bar"))
    assert eng.seq == 1 + len(out)


def test_ticks_aggregate_into_one_bar_with_open_high_low_close_volume():
    eng = make_engine()
    out = feed(eng, [Tick(1, "AAA", 10.0, 1.0), Tick(2, "AAA", 12.0, 2.0), Tick(3, "AAA", 9.0, 3.0),
                     Tick(4, "AAA", 11.0, 4.0), Timer(5, "", "bar")])
    bar = out[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (10.0, 12.0, 9.0, 11.0, 10.0)


def test_a_steady_uptrend_makes_a_long_signal_and_a_filled_buy():
    eng = make_engine()
    out = trend(eng)
    sig = of(Signal, out)[-1]
    assert sig.value > 0 and sig.confidence == 1.0
    buys = [o for o in of(OrderAccepted, out) if o.qty > 0]
    fills = of(Fill, out)
    assert buys and fills and fills[0].order_id in {seq for seq in range(1, eng.seq + 1)}
    assert eng.portfolio.qty("AAA") > 0


def test_fill_pays_slippage_and_commission_and_cash_is_net_of_both():
    eng = make_engine()  # slippage 2 bps, commission 1 bp with a floor of 1.0
    feed(eng, [Tick(1, "AAA", 199.0, 1.0)])
    eng.bus.out = []
    assert eng.submit("AAA", 50.0, 199.0, "operator", "buy")
    fill = of(Fill, feed(eng, [Tick(2, "AAA", 200.0, 1.0)]))[0]
    assert fill.price == 200.0 * 1.0002
    assert fill.commission == 50 * 200.04 * 1e-4  # 1.0002: just above the 1.0 floor
    assert math.isclose(fill.commission, max(1.0, 50 * 200.04 * 1e-4))
    assert math.isclose(eng.portfolio.cash, 1_000_000.0 - 50 * 200.04 - fill.commission)
    assert math.isclose(eng.portfolio.nav(), eng.portfolio.cash + 50 * 200.0)


def test_a_sell_receives_the_price_less_slippage():
    eng = make_engine()
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    eng.bus.out = []
    eng.submit("AAA", -10.0, 100.0, "operator", "sell")
    fill = of(Fill, feed(eng, [Tick(2, "AAA", 100.0, 1.0)]))[0]
    assert fill.price == 100.0 * (1 - 0.0002) and fill.qty == -10.0


def test_halt_denies_new_orders_but_allows_cancels():
    eng = make_engine()
    trend(eng, bars=25)
    out = feed(eng, [Command(26 * MIN, "", "halt", "", "test")])
    assert of(StateChanged, out)[0].new == "HALTED"
    later = trend(eng, bars=20, t0=26 * MIN, step=0.03)
    assert of(OrderAccepted, later) == []
    out = feed(eng, [Command(47 * MIN, "", "cancel_all", "", "test")])
    assert of(CommandRejected, out) == []


def test_halt_cancels_open_orders_and_logs_each_cancel():
    eng = make_engine(EngineConfig(strategy=StrategyConfig(fast=2, slow=3)))
    out = trend(eng, bars=5)
    # the last bar's order is still open: the next tick would fill it
    open_ids = set(eng.broker.open)
    out = feed(eng, [Command(10 * MIN, "", "halt", "", "kill")])
    assert {c.order_id for c in of(OrderCancelled, out)} == open_ids
    assert not eng.broker.open


def test_halting_twice_is_a_no_op_without_a_second_event():
    eng = make_engine()
    first = feed(eng, [Command(1, "", "halt", "", "a")])
    second = feed(eng, [Command(2, "", "halt", "", "b")])
    assert len(of(StateChanged, first)) == 1 and of(StateChanged, second) == []


def test_state_change_records_the_seq_of_the_command_that_caused_it():
    eng = make_engine()
    feed(eng, [Tick(1, "AAA", 10.0, 1.0)])
    out = eng.process(Command(2, "", "halt", "", "key h"))
    change = of(StateChanged, out)[0]
    assert change.cause_seq == 2 and change.reason == "key h"


def test_reducing_accepts_exits_and_refuses_new_exposure():
    eng = make_engine()
    trend(eng, bars=25)
    held = eng.portfolio.qty("AAA")
    assert held > 0
    feed(eng, [Command(26 * MIN, "", "reduce", "", "x")])
    ctx_out = []
    eng.bus.ts = 26 * MIN
    eng.bus.out = ctx_out
    assert eng.submit("AAA", 10.0, eng.portfolio.last["AAA"], "operator", "more") is False
    assert of(OrderRejected, ctx_out)[0].rule == "reduce_only"
    assert eng.submit("AAA", -1.0, eng.portfolio.last["AAA"], "operator", "less") is True


def test_flatten_from_halted_moves_to_reducing_and_closes_every_position():
    eng = make_engine()
    trend(eng, bars=25)
    assert eng.portfolio.open_symbols()
    feed(eng, [Command(26 * MIN, "", "halt", "", "h")])
    out = feed(eng, [Command(26 * MIN, "", "flatten", "", "f")])
    assert [s.new for s in of(StateChanged, out)] == ["REDUCING"]
    assert of(OrderAccepted, out) and all(o.origin == "operator" for o in of(OrderAccepted, out))
    feed(eng, [Tick(27 * MIN, "AAA", eng.portfolio.last["AAA"], 1.0)])
    assert eng.portfolio.open_symbols() == []


def test_resume_is_refused_while_a_breaker_is_tripped_and_allowed_after_reset():
    eng = make_engine(EngineConfig(breakers=BreakersConfig(max_drawdown=0.0001, on_trip={"max_drawdown": "halt"})))
    trend(eng, bars=25)
    feed(eng, [Tick(26 * MIN - 1, "AAA", 80.0, 1.0), Timer(26 * MIN, "", "bar")])
    assert eng.state.state == "HALTED"
    out = feed(eng, [Command(27 * MIN, "", "resume", "", "r")])
    assert "max_drawdown" in of(CommandRejected, out)[0].reason
    tripped = [b.name for b in eng.breakers if b.state == "TRIPPED"]
    resets = [Command(27 * MIN, "", "reset_breaker", name, "checked") for name in tripped]
    out = feed(eng, resets + [Command(27 * MIN, "", "resume", "", "r")])
    assert [b.new for b in of(BreakerChanged, out)] == ["ARMED"] * len(tripped)
    assert of(StateChanged, out)[0].new == "ACTIVE"


def test_drawdown_breaker_trips_at_its_limit_flattens_and_says_why():
    eng = make_engine(EngineConfig(breakers=BreakersConfig(max_drawdown=0.001, daily_loss=1.0)))
    trend(eng, bars=25)
    held = eng.portfolio.qty("AAA")
    assert held != 0
    out = feed(eng, [Tick(26 * MIN - 1, "AAA", eng.portfolio.last["AAA"] * 0.8, 1.0),
                     Timer(26 * MIN, "", "bar")])
    trips = {b.name: b for b in of(BreakerChanged, out) if b.new == "TRIPPED"}
    assert trips["max_drawdown"].value >= 0.001 and trips["max_drawdown"].limit == 0.001
    assert of(StateChanged, out)[0].new == "REDUCING" and "max_drawdown" in of(StateChanged, out)[0].reason
    exits = [o for o in of(OrderIntent, out) if o.origin == "risk" and "max_drawdown" in o.reason]
    assert [(o.symbol, o.qty) for o in exits] == [("AAA", -held)]


def test_drawdown_breaker_set_to_halt_keeps_the_position():
    eng = make_engine(EngineConfig(breakers=BreakersConfig(max_drawdown=0.001, daily_loss=1.0,
                                                           on_trip={"max_drawdown": "halt"})))
    trend(eng, bars=25)
    out = feed(eng, [Tick(26 * MIN - 1, "AAA", eng.portfolio.last["AAA"] * 0.8, 1.0),
                     Timer(26 * MIN, "", "bar")])
    assert of(StateChanged, out)[0].new == "HALTED" and not of(OrderIntent, out)


def test_breaker_warns_at_eighty_percent_of_its_limit_and_not_below():
    from core.breakers import Breaker

    b = Breaker("x", 1.0, 0.8, "frac")
    assert b.evaluate(0.79, 1) == "" and b.state == "ARMED"
    assert b.evaluate(0.80, 2) == "WARNING"
    assert b.evaluate(0.99, 3) == ""
    assert b.evaluate(1.0, 4) == "TRIPPED" and b.last_trip_ts == 4


def test_breaker_that_sees_nan_trips_fail_closed():
    from core.breakers import Breaker

    b = Breaker("x", 1.0, 0.8, "frac")
    assert b.evaluate(math.nan, 7) == "TRIPPED" and "NaN" in b.reason


def test_tripped_breaker_latches_until_reset():
    from core.breakers import Breaker

    b = Breaker("x", 1.0, 0.8, "frac")
    b.evaluate(2.0, 1)
    assert b.evaluate(0.0, 2) == "" and b.state == "TRIPPED"
    b.reset("operator checked")
    assert b.state == "ARMED"


def test_nan_or_negative_tick_is_never_marked_nor_a_fill_price():
    eng = make_engine(EngineConfig(strategy=StrategyConfig(fast=2, slow=3)))
    trend(eng, bars=5)
    last = eng.portfolio.last["AAA"]
    out = feed(eng, [Tick(10 * MIN, "AAA", math.nan, 1.0), Tick(10 * MIN, "AAA", -5.0, 1.0),
                     Tick(10 * MIN, "AAA", 0.0, 1.0)])
    assert eng.portfolio.last["AAA"] == last and of(Fill, out) == [] and eng.bad_prices == 3


def test_unknown_command_is_rejected_and_logged():
    eng = make_engine()
    out = feed(eng, [Command(1, "", "explode", "", "")])
    assert of(CommandRejected, out)[0].action == "explode"


def test_file_bars_fill_pending_orders_at_the_next_bar_open():
    eng = make_engine()
    feed(eng, [Bar(MIN, "AAA", 100.0, 101.0, 99.0, 100.5, 10.0), Timer(MIN, "", "bar")])
    eng.bus.out = []
    eng.submit("AAA", 5.0, 100.5, "operator", "buy")
    out = feed(eng, [Bar(2 * MIN, "AAA", 102.0, 103.0, 101.0, 102.5, 10.0)])
    assert of(Fill, out)[0].price == 102.0 * 1.0002
    assert eng.portfolio.last["AAA"] == 102.5


def test_position_limit_rejects_an_order_above_its_share_of_nav():
    eng = make_engine(EngineConfig(limits=LimitsConfig(max_position_fraction=0.01)))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    eng.bus.out = out = []
    assert eng.submit("AAA", 200.0, 100.0, "operator", "big") is False
    rej = of(OrderRejected, out)[0]
    assert rej.rule == "max_position" and math.isclose(rej.value, 0.02) and rej.limit == 0.01
    assert eng.submit("AAA", 100.0, 100.0, "operator", "at limit") is True


def test_fat_finger_band_rejects_an_order_priced_far_from_the_last_trade():
    eng = make_engine()
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    eng.bus.out = out = []
    assert eng.submit("AAA", 1.0, 111.0, "operator", "typo") is False
    assert of(OrderRejected, out)[0].rule == "fat_finger"
    assert of(OrderIntent, out)[0].qty == 1.0


def test_round_trip_losses_trip_the_losing_streak_breaker():
    eng = make_engine(EngineConfig(breakers=BreakersConfig(consecutive_losses=2)))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    for i in range(2):
        eng.bus.out = []
        eng.submit("AAA", 10.0, 100.0, "operator", "in")
        feed(eng, [Tick(2 + 2 * i, "AAA", 100.0, 1.0)])
        eng.bus.out = []
        eng.submit("AAA", -10.0, 100.0, "operator", "out")
        out = feed(eng, [Tick(3 + 2 * i, "AAA", 100.0, 1.0)])
    assert eng.brk.losses.state == "TRIPPED" and eng.state.state == "HALTED"
    assert of(StateChanged, out)[0].new == "HALTED"


def test_the_compiled_event_factories_make_the_namedtuples_constructors_make() -> None:
    from core.events import (
        Bar, BarClosed, RiskSnapshot, Signal, bar_closed_of, new_bar_closed, new_signal,
        risk_snapshot_with,
    )

    src = Bar(3, "A", 1.0, 2.0, 0.5, -0.0, 10.0)
    shared = bar_closed_of(5, src)
    assert all(shared[i] is src[i] for i in range(1, 7))  # the input's floats, not boxed again
    pairs = [
        (new_bar_closed(5, "A", 1.0, 2.0, 0.5, 1.5, 10.0), BarClosed(5, "A", 1.0, 2.0, 0.5, 1.5, 10.0)),
        (shared, BarClosed(5, "A", 1.0, 2.0, 0.5, -0.0, 10.0)),
        (new_signal(5, "A", "momentum", -0.25, 1.0), Signal(5, "A", "momentum", -0.25, 1.0)),
        (risk_snapshot_with(5, 0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 16.0, "A=1.0", (1.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
                                                                          13.0, 14.0, 15.0)),
         RiskSnapshot(5, "", *[float(i) for i in range(17)], "A=1.0")),  # type: ignore[arg-type]
    ]
    for made, want in pairs:
        assert type(made) is type(want)
        assert made == want and hash(made) == hash(want)
        assert made._asdict() == want._asdict()
        assert repr(made) == repr(want)


def test_a_price_too_small_to_size_against_makes_no_order_and_no_crash() -> None:
    """A fuzzed file's 1e-320 (positive, finite) passed as a price; NAV /
    price overflowed to inf, and a flat view times it made a NaN target that
    stopped the session. Files now refuse such a price at load; the engine
    makes no order it cannot size, whatever the source."""
    from core.config import SignalsConfig
    from core.events import ModelActivated, ModelSignal, OrderIntent

    eng = make_engine(EngineConfig(strategy=StrategyConfig(signal="forest"), signals=SignalsConfig(models=("forest",))))
    out: list[object] = []
    out += eng.process(Tick(1, "AAA", 1e-320, 1.0))
    out += eng.process(ModelActivated(1, "", "forest", 1, "a1", 1.5, "fit"))
    for value in (0.0, 0.7, -0.7):
        out += eng.process(ModelSignal(2, "AAA", "forest", value, 0.9, 1.0, 1))
    assert not [e for e in out if isinstance(e, OrderIntent)]
    assert eng.orders_accepted == 0
