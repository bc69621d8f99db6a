"""Execution: limit orders, partial fills against participation, impact,
expiry, TWAP/POV parent orders and their children, and replay with them on.

A fake clock is just the ``ts`` we pass; every random sequence comes from
hypothesis, so a failure shrinks to a short list of inputs."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.broker import ParentOrder
from core.build import build_engine, engine_from_setup, engine_setup
from core.codec import from_row, to_row
from core.config import BrokerConfig, EngineConfig, ExecutionConfig, LimitsConfig, config_from_dict
from core.errors import ConfigError
from core.events import (
    Command, Fill, OrderAccepted, OrderCancelled, OrderExpired, OrderIntent, OrderRejected,
    ParentDone, ParentOrder as ParentOrderEvent, Tick, Timer,
)
from core.market.spec import InstrumentSpec, MarketSpec
from tests.conftest import make_engine

S = 1_000
INITIAL = 1_000_000.0
LOOSE = LimitsConfig(max_order_notional=1e9, max_position_fraction=1.0, max_gross_leverage=100.0,
                     max_sector_fraction=1.0, var_budget=1.0, max_orders_per_minute=100_000,
                     fat_finger_band=1.0, quarantine_band=1.0)


def of(kind, out):  # type: ignore[no-untyped-def]
    return [e for e in out if isinstance(e, kind)]


def feed(eng, events):  # type: ignore[no-untyped-def]
    out = []
    for ev in events:
        out.extend(eng.process(ev)[1:])
    return out


def engine(broker: BrokerConfig | None = None, execution: ExecutionConfig | None = None,
           limits: LimitsConfig = LOOSE, lot: float = 1.0):  # type: ignore[no-untyped-def]
    spec = MarketSpec((InstrumentSpec("AAA", "equity", lot), InstrumentSpec("BBB", "equity", lot)),
                      bar_ms=60_000, bars_per_day=390.0)
    cfg = EngineConfig(broker=broker or BrokerConfig(), execution=execution or ExecutionConfig(),
                       limits=limits)
    return build_engine(cfg, spec)


def place(eng, qty, price=100.0, origin="operator", limit=0.0):  # type: ignore[no-untyped-def]
    """Submit outside any input (as a test seam) and return the decisions it made."""
    eng.bus.out = out = []
    eng.submit("AAA", qty, price, origin, "test", limit)
    return out


# ------------------------------------------------------------ defaults stay as they were


def test_by_default_a_market_order_fills_whole_at_the_next_price_with_no_remainder():
    eng = engine()
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    place(eng, 500.0)
    fill = of(Fill, feed(eng, [Tick(2, "AAA", 100.0, 1.0)]))[0]
    assert fill.qty == 500.0 and fill.remaining == 0.0 and fill.price == 100.0 * 1.0002
    assert eng.broker.open == {}


# ------------------------------------------------------------ limit orders


def test_a_buy_limit_waits_until_the_all_in_price_is_at_or_below_its_limit():
    eng = engine()  # 2 bps half-spread
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    out = place(eng, 10.0, limit=99.0)
    acc = of(OrderAccepted, out)[0]
    assert acc.order_type == "limit" and acc.limit == 99.0
    # 99.0 prints, but 99.0 plus the half-spread is above the limit: no fill
    assert of(Fill, feed(eng, [Tick(2, "AAA", 99.5, 1.0), Tick(3, "AAA", 99.0, 1.0)])) == []
    fill = of(Fill, feed(eng, [Tick(4, "AAA", 98.9, 1.0)]))[0]
    assert fill.price == 98.9 * 1.0002 and fill.price <= 99.0


def test_a_sell_limit_fills_only_at_or_above_its_limit():
    eng = engine()
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    place(eng, -10.0, limit=101.0)
    assert of(Fill, feed(eng, [Tick(2, "AAA", 101.0, 1.0)])) == []  # 101 less the spread < 101
    fill = of(Fill, feed(eng, [Tick(3, "AAA", 101.1, 1.0)]))[0]
    assert fill.price >= 101.0 and fill.qty == -10.0


@settings(max_examples=60, deadline=None)
@given(limit=st.floats(90.0, 110.0), side=st.sampled_from([1.0, -1.0]),
       prices=st.lists(st.floats(90.0, 110.0), min_size=1, max_size=30),
       impact=st.sampled_from([0.0, 10.0]))
def test_limit_orders_fill_only_at_the_limit_or_better(limit, side, prices, impact):  # type: ignore[no-untyped-def]
    eng = engine(BrokerConfig(impact_bps=impact, participation=0.5))
    feed(eng, [Tick(1, "AAA", 100.0, 10.0)])
    place(eng, side * 10.0, limit=limit)
    out = feed(eng, [Tick(2 + i, "AAA", p, 10.0) for i, p in enumerate(prices)])
    for f in of(Fill, out):
        assert (f.price <= limit) if side > 0 else (f.price >= limit)


# ------------------------------------------------------------ participation, impact


def test_partial_fills_take_at_most_the_participation_share_of_each_print():
    eng = engine(BrokerConfig(participation=0.1))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    placed = place(eng, 25.0)
    acc = of(OrderAccepted, placed)[0]
    order_id = eng.seq  # an order's id is the seq of its acceptance
    out = feed(eng, [Tick(2, "AAA", 100.0, 100.0), Tick(3, "AAA", 100.0, 55.0),
                     Tick(4, "AAA", 100.0, 9.0), Tick(5, "AAA", 100.0, 200.0)])
    fills = of(Fill, out)
    # 10 of 100, 5 of 55 (5.5 floored to the lot), nothing of 9, the last 10 of 200's 20
    assert [f.qty for f in fills] == [10.0, 5.0, 10.0]
    assert [f.remaining for f in fills] == [15.0, 10.0, 0.0]
    assert {f.order_id for f in fills} == {order_id}
    assert acc.qty == 25.0 and eng.portfolio.qty("AAA") == 25.0 and eng.broker.open == {}


def test_orders_on_one_symbol_share_the_participation_cap_oldest_first():
    eng = engine(BrokerConfig(participation=0.1))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    place(eng, 8.0)
    place(eng, 8.0)
    fills = of(Fill, feed(eng, [Tick(2, "AAA", 100.0, 100.0)]))
    assert [f.qty for f in fills] == [8.0, 2.0] and fills[1].remaining == 6.0


def test_impact_grows_with_the_square_root_of_size_over_volume():
    eng = engine(BrokerConfig(impact_bps=50.0, slippage_bps=2.0))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    place(eng, 25.0)
    small = of(Fill, feed(eng, [Tick(2, "AAA", 100.0, 100.0)]))[0]
    place(eng, -100.0)
    big = of(Fill, feed(eng, [Tick(3, "AAA", 100.0, 100.0)]))[0]
    assert math.isclose(small.price, 100.0 * (1 + 0.0002 + 0.005 * math.sqrt(0.25)))
    assert math.isclose(big.price, 100.0 * (1 - 0.0002 - 0.005 * 1.0))


def test_a_quarantined_print_never_fills_a_resting_order():
    eng = engine(BrokerConfig(participation=0.1),
                 limits=LimitsConfig(quarantine_band=0.25, max_order_notional=1e9, max_position_fraction=1.0,
                                     var_budget=1.0, max_sector_fraction=1.0))
    feed(eng, [Tick(1, "AAA", 100.0, 1.0)])
    place(eng, 20.0)
    out = feed(eng, [Tick(2, "AAA", 300.0, 1000.0), Tick(3, "AAA", math.nan, 1000.0)])
    assert of(Fill, out) == [] and eng.broker.open
    assert of(Fill, feed(eng, [Tick(4, "AAA", 100.0, 1000.0)]))[0].price == 100.0 * 1.0002


# ------------------------------------------------------------ expiry


def test_an_order_expires_after_its_time_in_force_in_market_time():
    eng = engine(BrokerConfig(order_ttl_s=30.0, participation=0.1))
    feed(eng, [Tick(1 * S, "AAA", 100.0, 1.0)])
    acc = of(OrderAccepted, place(eng, 20.0))[0]
    assert acc.expire_ts == eng.ts + 30 * S
    out = feed(eng, [Tick(10 * S, "AAA", 100.0, 50.0), Tick(31 * S - 1, "AAA", 100.0, 50.0)])
    assert [f.remaining for f in of(Fill, out)] == [15.0, 10.0]
    out = feed(eng, [Tick(31 * S, "AAA", 100.0, 50.0)])
    exp = of(OrderExpired, out)[0]
    assert exp.remaining == 10.0 and of(Fill, out) == [] and eng.broker.open == {}
    assert eng.portfolio.qty("AAA") == 10.0


def test_an_order_expires_on_a_timer_even_when_its_symbol_is_silent():
    eng = engine(BrokerConfig(order_ttl_s=30.0))
    feed(eng, [Tick(1 * S, "AAA", 100.0, 1.0)])
    place(eng, 5.0, limit=50.0)
    out = feed(eng, [Timer(60 * S, "", "bar")])
    assert of(OrderExpired, out)[0].remaining == 5.0


# ------------------------------------------------------------ lifecycle property


actions = st.lists(st.one_of(
    st.tuples(st.just("order"), st.integers(-60, 60).filter(bool), st.sampled_from([0.0, 0.0, 1.0, -1.0])),
    st.tuples(st.just("tick"), st.floats(95.0, 105.0), st.sampled_from([0.0, 1.0, 7.0, 50.0, 400.0])),
    st.tuples(st.just("bad"), st.sampled_from([math.nan, -1.0, 1e9]), st.just(10.0)),
    st.tuples(st.just("timer"), st.just(0), st.just(0)),
    st.tuples(st.just("cancel_all"), st.just(0), st.just(0)),
), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=actions, participation=st.sampled_from([0.0, 0.1, 0.5]),
       ttl=st.sampled_from([0.0, 20.0]), impact=st.sampled_from([0.0, 25.0]),
       twap=st.sampled_from([0.0, 2_000.0]))
def test_fills_never_exceed_an_order_and_the_book_reconciles_with_the_fills(  # type: ignore[no-untyped-def]
        steps, participation, ttl, impact, twap):
    eng = engine(BrokerConfig(participation=participation, order_ttl_s=ttl, impact_bps=impact),
                 ExecutionConfig(twap_above_notional=twap, slices=3, slice_s=15.0))
    cash, commissions = INITIAL, 0.0
    pos = 0.0
    ordered: dict[int, float] = {}
    filled: dict[int, float] = {}
    ended: set[int] = set()
    ts = 1 * S
    out = feed(eng, [Tick(ts, "AAA", 100.0, 1.0)])
    for kind, a, b in steps:
        ts += 5 * S
        if kind == "order":
            eng.bus.ts = ts
            eng.bus.out = out = []
            last = eng.portfolio.last["AAA"]
            eng.submit("AAA", float(a), last, "strategy" if abs(a) > 30 else "operator", "p",
                       last * (1 + 0.001 * b) if b else 0.0)
        elif kind == "tick":
            out = feed(eng, [Tick(ts, "AAA", a, b)])
        elif kind == "bad":
            out = feed(eng, [Tick(ts, "AAA", a, b)])
        elif kind == "timer":
            out = feed(eng, [Timer(ts, "", "bar")])
        else:
            out = feed(eng, [Command(ts, "", "cancel_all", "", "t")])
        for e in out:
            if isinstance(e, OrderAccepted):
                ordered[eng.seq - len(out) + out.index(e) + 1] = e.qty
            elif isinstance(e, Fill):
                assert e.order_id in ordered and e.order_id not in ended
                filled[e.order_id] = filled.get(e.order_id, 0.0) + e.qty
                done = filled[e.order_id]
                assert abs(done) <= abs(ordered[e.order_id]) + 1e-9
                assert done * ordered[e.order_id] > 0  # same side
                assert math.isclose(e.remaining, ordered[e.order_id] - done, abs_tol=1e-9)
                if e.remaining == 0.0:
                    ended.add(e.order_id)
                cash -= e.qty * e.price + e.commission
                commissions += e.commission
                pos += e.qty
            elif isinstance(e, (OrderCancelled, OrderExpired)) and e.order_id in ordered:
                assert e.order_id not in ended
                assert math.isclose(e.remaining, ordered[e.order_id] - filled.get(e.order_id, 0.0),
                                    abs_tol=1e-9)
                ended.add(e.order_id)
        # the book is exactly what the fills say, after every step
        assert math.isclose(eng.portfolio.cash, cash, rel_tol=0, abs_tol=1e-6)
        assert math.isclose(eng.portfolio.commissions, commissions, abs_tol=1e-9)
        assert eng.portfolio.qty("AAA") == pytest.approx(pos, abs=1e-9)
        assert set(eng.broker.open) == set(ordered) - ended


# ------------------------------------------------------------ TWAP / POV


def twap_engine(slices=4, lot=1.0, participation=0.0, ttl=0.0, algo="twap"):  # type: ignore[no-untyped-def]
    return engine(BrokerConfig(participation=participation, order_ttl_s=ttl),
                  ExecutionConfig(algo=algo, twap_above_notional=10_000.0, slices=slices, slice_s=60.0),
                  lot=lot)


def run_twap(eng, qty, minutes=12, size=1e6):  # type: ignore[no-untyped-def]
    feed(eng, [Tick(1 * S, "AAA", 100.0, 1.0)])
    eng.bus.ts = 1 * S
    eng.bus.out = out = []
    assert eng.submit("AAA", qty, 100.0, "strategy", "big")
    for m in range(1, minutes + 1):
        out += feed(eng, [Tick(m * 30 * S, "AAA", 100.0, size), Tick(m * 30 * S + 1, "BBB", 50.0, 1.0)])
    return out


def test_a_large_strategy_order_becomes_a_parent_sliced_over_market_time():
    eng = twap_engine(slices=4)
    out = run_twap(eng, 1001.0)
    parent = of(ParentOrderEvent, out)[0]
    kids = of(OrderAccepted, out)
    assert parent.qty == 1001.0 and parent.algo == "twap" and parent.slices == 4
    assert [k.qty for k in kids] == [250.0, 250.0, 250.0, 251.0]  # the remainder on the last
    assert len({k.parent_id for k in kids}) == 1 and kids[0].parent_id > 0
    # slice k is due at start + k minutes; it goes at the first input at or after that
    assert [k.ts for k in kids] == [1 * S, 90 * S, 150 * S, 210 * S]
    done = of(ParentDone, out)
    assert [(d.status, d.filled, d.remaining) for d in done] == [("filled", 1001.0, 0.0)]
    assert eng.portfolio.qty("AAA") == 1001.0
    # every child went through the gate: one intent per child after the parent's
    assert len(of(OrderIntent, out)) == 1 + len(kids)


def test_small_strategy_orders_and_operator_orders_are_not_sliced():
    eng = twap_engine()
    feed(eng, [Tick(1 * S, "AAA", 100.0, 1.0)])
    assert of(ParentOrderEvent, place(eng, 50.0, origin="strategy")) == []
    assert of(ParentOrderEvent, place(eng, 5000.0, origin="operator")) == []


@settings(max_examples=80, deadline=None)
@given(lots=st.integers(1, 5000), slices=st.integers(1, 12),
       lot=st.sampled_from([1.0, 10.0, 100.0, 0.5, 0.25]), side=st.sampled_from([1.0, -1.0]))
def test_twap_slices_sum_exactly_to_the_parent_in_whole_lots(lots, slices, lot, side):  # type: ignore[no-untyped-def]
    qty = side * lots * lot
    p = ParentOrder(1, "AAA", qty, 100.0, "strategy", "twap", slices, 60_000, 0, lot, 0.1, 0.0)
    kids = []
    for k in range(slices):
        q = p.child_qty(k)
        kids.append(q)
        p.filled += q  # each child fills whole
    assert sum(kids) == qty and p.done()
    assert all(q * side >= 0 and (q / lot).is_integer() for q in kids)
    sizes = sorted(abs(q) for q in kids)
    assert sizes[-1] - sizes[0] <= lot  # even slices: they differ by a lot at most


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lots=st.integers(20, 3000), slices=st.integers(2, 6), lot=st.sampled_from([1.0, 10.0, 0.5]))
def test_twap_children_through_the_engine_sum_to_the_parent(lots, slices, lot):  # type: ignore[no-untyped-def]
    eng = twap_engine(slices=slices, lot=lot)
    qty = lots * lot
    assume(10_000.0 < qty * 100.0 <= 500_000.0)  # sliced, and inside the position limit
    out = run_twap(eng, qty, minutes=2 * slices + 2)
    kids = of(OrderAccepted, out)
    assert sum(k.qty for k in kids) == qty and eng.portfolio.qty("AAA") == qty
    assert of(ParentDone, out)[0].status == "filled"


def test_a_partly_filled_child_is_cancelled_and_its_rest_carried_to_the_next_slice():
    eng = twap_engine(slices=2, participation=0.1)
    out = run_twap(eng, 300.0, minutes=8, size=400.0)  # 40 a print, a print every 30 s
    kids = of(OrderAccepted, out)
    cancels = of(OrderCancelled, out)
    # slice 1 at 90 s: 120 of the first 150 filled; the 30 left is cancelled and carried
    assert [k.qty for k in kids] == [150.0, 180.0]
    assert cancels[0].remaining == 30.0 and "carried" in cancels[0].reason
    # the horizon (2 slices of 60 s) ends at 121 s: the print at 150 s is the last fill
    done = of(ParentDone, out)[0]
    assert (done.status, done.filled, done.remaining) == ("expired", 200.0, 100.0)
    assert cancels[1].remaining == 100.0 and "horizon" in cancels[1].reason
    assert eng.portfolio.qty("AAA") == 200.0


def test_a_parent_whose_horizon_passes_unfilled_expires_with_its_rest():
    eng = twap_engine(slices=2, participation=0.01)
    out = run_twap(eng, 300.0, minutes=6, size=100.0)  # 1 unit a print
    done = of(ParentDone, out)[0]
    assert done.status == "expired" and done.filled + done.remaining == 300.0 and done.remaining > 0
    assert eng.broker.open == {} and eng.broker.parents == {}


def test_pov_children_take_their_rate_of_each_print():
    eng = twap_engine(slices=4, algo="pov")
    out = run_twap(eng, 500.0, minutes=4, size=1000.0)
    kids = of(OrderAccepted, out)
    fills = of(Fill, out)
    assert len(kids) == 1 and kids[0].qty == 500.0  # one child works the rest
    assert [f.qty for f in fills] == [100.0] * 4 and fills[-1].remaining == 100.0


def test_halt_cancels_the_children_and_ends_the_parent_and_no_slice_follows():
    eng = twap_engine(slices=4, participation=0.1)
    out = run_twap(eng, 1000.0, minutes=2, size=100.0)
    child = of(OrderAccepted, out)[-1]
    out = feed(eng, [Command(70 * S, "", "halt", "", "kill")])
    cancelled = of(OrderCancelled, out)
    assert cancelled and cancelled[0].remaining != 0.0
    assert of(ParentDone, out)[0].status == "cancelled" and eng.broker.parents == {}
    later = []
    for m in range(3, 12):
        later += feed(eng, [Tick(m * 30 * S, "AAA", 100.0, 100.0)])
    assert of(OrderAccepted, later) == [] and of(Fill, later) == [] and child.parent_id


@pytest.mark.parametrize("action", ["cancel_all", "flatten"])
def test_cancel_all_and_flatten_end_the_parent(action):  # type: ignore[no-untyped-def]
    eng = twap_engine(slices=4, participation=0.1)
    run_twap(eng, 1000.0, minutes=2, size=100.0)
    out = feed(eng, [Command(70 * S, "", action, "", "op")])
    assert of(ParentDone, out)[0].status == "cancelled" and not eng.broker.parents
    assert not [o for o in eng.broker.open.values() if o.parent_id]


def test_a_child_the_gate_refuses_ends_its_parent_as_rejected():
    eng = twap_engine(slices=4)
    run_twap(eng, 1000.0, minutes=1)
    feed(eng, [Command(40 * S, "", "reduce", "", "x")])  # REDUCING: no child may add exposure
    out = feed(eng, [Tick(61 * S, "AAA", 100.0, 10.0)])
    assert of(OrderRejected, out)[0].rule == "reduce_only"
    done = of(ParentDone, out)[0]
    assert done.status == "rejected" and "reduce_only" in done.reason


def test_a_parent_blocks_new_strategy_orders_on_its_symbol_until_it_ends():
    eng = twap_engine(slices=4, participation=0.1)
    run_twap(eng, 1000.0, minutes=1, size=100.0)
    assert eng.broker.has_pending("AAA") and eng.broker.pending_qty("AAA") > 0
    eng.bus.out = []
    eng.rebalance("AAA", -1.0, 1.0, 1.0, eng.portfolio.nav(), "flip")
    assert of(OrderIntent, eng.bus.out) == []


# ------------------------------------------------------------ log, codec, config, replay


def test_new_fields_round_trip_and_older_payloads_still_decode():
    for ev in [Fill(1, "X", 2, 1.0, 2.0, 0.1, 3.0), Fill(1, "X", 2, 1.0, 2.0, 0.1),
               OrderAccepted(1, "X", 0, 1.0, 2.0, "s", "limit", 1.5, 99, 7),
               OrderExpired(1, "X", 3, -2.0, "ttl"), ParentDone(1, "X", 4, 1.0, 2.0, "expired", "h"),
               ParentOrderEvent(1, "X", 3, 10.0, 2.0, "twap", 5, 60_000, "strategy")]:
        assert from_row(*to_row(ev)) == ev
    # a payload written before remaining/order_type existed
    assert from_row("fill", 1, "X", '{"commission":0.1,"order_id":2,"price":2.0,"qty":1.0}') == \
        Fill(1, "X", 2, 1.0, 2.0, 0.1, 0.0)
    assert to_row(Fill(1, "X", 2, 1.0, 2.0, 0.1))[3] == '{"commission":0.1,"order_id":2,"price":2.0,"qty":1.0}'


def test_execution_config_lists_every_problem():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"broker": {"participation": 1.5, "impact_bps": -1, "order_ttl_s": -2},
                          "execution": {"algo": "vwop", "slices": 0, "slice_s": 0, "pov_rate": 0,
                                        "twap_above_notional": -5, "bogus": 1}})
    msg = str(err.value)
    for bit in ("broker.participation", "broker.impact_bps", "broker.order_ttl_s", "execution.algo",
                "execution.slices", "execution.slice_s", "execution.pov_rate",
                "execution.twap_above_notional", "execution.bogus"):
        assert bit in msg


def test_a_session_with_twap_and_partial_fills_replays_decision_for_decision():
    from core.events import Command as Cmd
    from core.market.sim import Simulator
    from core.replay import verify
    from core.session import MemorySink, Session

    sim = Simulator(3)
    cfg = EngineConfig(broker=BrokerConfig(participation=0.2, impact_bps=20.0, order_ttl_s=90.0),
                       execution=ExecutionConfig(twap_above_notional=20_000.0, slices=4, slice_s=30.0))
    setup = engine_setup(cfg, sim.spec)
    sink = MemorySink()
    session = Session(engine_from_setup(setup), sim, sink, "s", max_events=30_000)
    it = iter(sim)

    def source():  # type: ignore[no-untyped-def]
        for n, ev in enumerate(it):
            if n == 15_000:
                session.submit("halt", reason="mid-parent")
            if n == 15_500:
                session.submit("resume", reason="back")
            yield ev

    session.source = source()
    session.run()
    assert not session.error
    events = [ev for _, ev in sink.rows]
    assert of(ParentOrderEvent, events) and of(ParentDone, events)
    assert [f for f in of(Fill, events) if f.remaining != 0.0]  # partial fills happened
    rows = []
    for seq, ev in sink.rows:
        kind, ts, symbol, payload = to_row(ev)
        rows.append((seq, kind, ts, symbol, payload,
                     isinstance(ev, Cmd) or kind in ("tick", "bar", "headline", "timer")))
    report = verify(engine_from_setup(setup), rows, None)
    assert report.verified, report.divergence
    assert report.events == len(rows)


def test_the_default_config_leaves_strategy_orders_unsliced():
    eng = make_engine()
    assert eng.p.algo_above_notional == 0.0 and eng.p.participation == 0.0 and eng.p.order_ttl_ms == 0


@pytest.mark.asyncio
async def test_the_positions_pane_shows_parents_and_children_with_type_limit_filled_and_parent(
        tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from rich.text import Text

    from console.app import build_app
    from console.panes.common import KeyedTable
    from core.snapshot import OrderRow
    from tests.test_ui_fakes import T0, FakeSession, snapshot

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    orders = (OrderRow(2000, "MSFT", -600.0, 401.2, "strategy", T0, "twap", 0.0, -400.0, 0),
              OrderRow(2007, "MSFT", -150.0, 401.0, "strategy", T0, "limit", 400.5, -50.0, 2000),
              OrderRow(2010, "BTC", 0.25, 64_000.0, "operator", T0))
    app = build_app(FakeSession(snapshot(open_orders=orders)), start_engine=False)
    async with app.run_test(size=(180, 48)) as pilot:
        await pilot.pause()
        table = app.query_one("#orders-table", KeyedTable)

        def cell(row: str, col: str) -> str:
            v = table.get_cell(row, col)
            return v.plain if isinstance(v, Text) else str(v)

        assert [cell("2000", c) for c in ("type", "qty", "filled", "limit", "parent")] == \
            ["twap", "-600", "-400", "—", "—"]
        assert [cell("2007", c) for c in ("type", "qty", "filled", "limit", "parent")] == \
            ["limit", "-150", "-50", "400.50", "#2000"]
        assert [cell("2010", c) for c in ("type", "qty", "filled")] == ["market", "+0.2500", "—"]
