"""The pre-trade gate, rule by rule at, just below and just above each limit,
and properties: nothing passes a HALTED gate; nothing REDUCING adds exposure."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.gate import Gate, OrderContext

BIG = 1e18
EPS = 1e-9


def gate(**limits: float) -> Gate:
    """A gate where only the named limits bite."""
    g = dict(max_order_notional=BIG, max_position_fraction=BIG, max_gross_leverage=BIG,
             fat_finger_band=BIG, max_sector_fraction=BIG, var_budget=BIG, max_orders_per_minute=10**9)
    g.update(limits)
    return Gate(g["max_order_notional"], g["max_position_fraction"], g["max_gross_leverage"],
                g["fat_finger_band"], g["max_sector_fraction"], g["var_budget"],
                int(g["max_orders_per_minute"]), [], -1, -1)


def order(qty: float = 10.0, *, state: str = "ACTIVE", symbol: str = "AAA", ref: float = 100.0,
          last: float = 100.0, position: float = 0.0, pending: float = 0.0, has_pending: bool = False,
          origin: str = "strategy", nav: float = 1_000_000.0, gross: float = 0.0, ts: int = 0,
          sector_other: float = 0.0, var_other: float = 0.0, unit_var: float = 0.0) -> OrderContext:
    return OrderContext(state, symbol, qty, ref, last, position, pending, has_pending, origin, nav, gross,
                        ts, sector_other, var_other, unit_var)


def rule(g: Gate, o: OrderContext) -> str:
    r = g.check(o)
    return "" if r is None else r.rule


# ------------------------------------------------------------ each rule at its limit


@pytest.mark.parametrize(("qty", "want"), [(1000.0, ""), (1000.0 - EPS, ""), (1000.0 + 1e-6, "max_order_notional")])
def test_order_notional(qty: float, want: str) -> None:
    assert rule(gate(max_order_notional=100_000.0), order(qty)) == want  # 1000 x 100 = the limit


@pytest.mark.parametrize(("qty", "want"), [(2000.0, ""), (1999.0, ""), (2000.001, "max_position")])
def test_position_size(qty: float, want: str) -> None:
    assert rule(gate(max_position_fraction=0.2), order(qty)) == want  # 2000 x 100 / 1M = 20%


@pytest.mark.parametrize(("qty", "want"), [(5000.0, ""), (4999.0, ""), (5000.01, "max_gross_leverage")])
def test_gross_leverage(qty: float, want: str) -> None:
    # 1.5M already out + 500k new = 2.0x of 1M
    assert rule(gate(max_gross_leverage=2.0), order(qty, gross=1_500_000.0)) == want


@pytest.mark.parametrize(("ref", "want"), [(112.5, ""), (112.499, ""), (112.501, "fat_finger"),
                                           (87.5, ""), (87.499, "fat_finger")])
def test_fat_finger(ref: float, want: str) -> None:
    assert rule(gate(fat_finger_band=0.125), order(1.0, ref=ref)) == want  # exact in binary


@pytest.mark.parametrize(("qty", "want"), [(1000.0, ""), (999.0, ""), (1000.01, "max_sector")])
def test_sector_exposure(qty: float, want: str) -> None:
    # 500k in the sector elsewhere + 100k here = 60% of 1M
    assert rule(gate(max_sector_fraction=0.6), order(qty, sector_other=500_000.0)) == want


@pytest.mark.parametrize(("qty", "want"), [(1000.0, ""), (999.0, ""), (1000.01, "var_budget")])
def test_var_budget_after(qty: float, want: str) -> None:
    # 30k of VaR elsewhere + 1000 units x 50 = 80k = 8% of 1M
    assert rule(gate(var_budget=0.08), order(qty, var_other=30_000.0, unit_var=50.0)) == want


@pytest.mark.parametrize(("accepted", "want"), [(4, ""), (5, "order_rate"), (6, "order_rate")])
def test_order_rate(accepted: int, want: str) -> None:
    g = gate(max_orders_per_minute=5)
    for i in range(accepted):
        g.record_accepted(1_000 + i)
    assert rule(g, order(ts=2_000)) == want


def test_order_rate_forgets_orders_older_than_a_minute() -> None:
    g = gate(max_orders_per_minute=1)
    g.record_accepted(0)
    assert rule(g, order(ts=59_999)) == "order_rate"
    assert rule(g, order(ts=60_000)) == ""


@pytest.mark.parametrize(("minute", "want"), [(569, "market_closed"), (570, ""), (959, ""), (960, "market_closed")])
def test_market_hours_open_at_open_closed_at_close(minute: int, want: str) -> None:
    g = Gate(BIG, BIG, BIG, BIG, BIG, BIG, 10**9, [], 570, 960)
    monday = 4 * 86_400_000  # 1970-01-05 was a Monday
    assert rule(g, order(ts=monday + minute * 60_000)) == want


def test_market_hours_closed_at_the_weekend() -> None:
    g = Gate(BIG, BIG, BIG, BIG, BIG, BIG, 10**9, [], 570, 960)
    saturday = 9 * 86_400_000 + 600 * 60_000
    assert rule(g, order(ts=saturday)) == "market_closed"


def test_do_not_trade_refuses_new_exposure_but_lets_a_position_shrink() -> None:
    g = Gate(BIG, BIG, BIG, BIG, BIG, BIG, 10**9, ["AAA"], -1, -1)
    assert rule(g, order(10.0)) == "do_not_trade"
    assert rule(g, order(-10.0, position=50.0)) == ""
    assert rule(g, order(10.0, symbol="BBB")) == ""


def test_duplicate_strategy_order_is_refused_while_one_is_open_operator_is_not() -> None:
    assert rule(gate(), order(has_pending=True, pending=10.0)) == "duplicate_order"
    assert rule(gate(), order(has_pending=True, pending=10.0, origin="operator")) == ""


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_an_order_it_cannot_price_is_refused(bad: float) -> None:
    for field in ("qty", "ref", "last", "nav"):
        assert rule(gate(), order(**{field: bad})) == "invalid_order"  # type: ignore[arg-type]


def test_size_limits_never_block_an_exit() -> None:
    g = gate(max_order_notional=1.0, max_position_fraction=0.001, max_gross_leverage=0.001,
             max_sector_fraction=0.001, var_budget=1e-9)
    assert rule(g, order(-5000.0, position=5000.0, gross=500_000.0, unit_var=50.0)) == ""


def test_a_rejection_carries_rule_value_limit_and_is_counted() -> None:
    g = gate(max_position_fraction=0.2)
    r = g.check(order(3000.0))
    assert r is not None and (r.rule, r.limit) == ("max_position", 0.2) and r.value == pytest.approx(0.3)
    assert g.counts == {"max_position": 1}


# ------------------------------------------------------------ properties

finite = st.floats(-1e7, 1e7, allow_nan=False, allow_infinity=False)
prices = st.floats(1e-4, 1e6, allow_nan=False, allow_infinity=False)
anything = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def contexts(draw: st.DrawFn, state: str) -> OrderContext:
    return order(draw(st.one_of(finite, anything)), state=state, ref=draw(st.one_of(prices, anything)),
                 last=draw(prices), position=draw(finite), pending=draw(finite),
                 has_pending=draw(st.booleans()), origin=draw(st.sampled_from(["strategy", "operator", "risk"])),
                 nav=draw(st.one_of(finite, anything)), gross=abs(draw(finite)), ts=draw(st.integers(0, 2**40)),
                 sector_other=abs(draw(finite)), var_other=abs(draw(finite)), unit_var=abs(draw(finite)))


@settings(max_examples=500, deadline=None)
@given(contexts("HALTED"))
def test_no_order_passes_a_halted_gate(o: OrderContext) -> None:
    r = gate().check(o)
    assert r is not None and r.rule == "halted"


@settings(max_examples=1000, deadline=None)
@given(contexts("REDUCING"))
def test_no_order_passes_in_reducing_that_increases_exposure(o: OrderContext) -> None:
    if gate().check(o) is None:
        before, after = o.position + o.pending, o.position + o.pending + o.qty
        assert abs(after) <= abs(before)
        assert before == 0.0 or after == 0.0 or (after > 0) == (before > 0)  # never flips through zero


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tick", "halt", "resume", "reduce", "flatten", "bar"]),
                          st.floats(-0.05, 0.05)), min_size=5, max_size=120))
def test_the_engine_accepts_no_order_while_halted_whatever_happens(steps: list[tuple[str, float]]) -> None:
    from core.events import Command, OrderAccepted, Tick, Timer
    from tests.conftest import make_engine

    eng = make_engine()
    price, ts = 100.0, 0
    for action, move in steps:
        ts += 1_000
        if action == "tick":
            price *= 1 + move
            ev: object = Tick(ts, "AAA" if move > 0 else "BBB", price, 1.0)
        elif action == "bar":
            ev = Timer(ts, "", "bar")
        else:
            ev = Command(ts, "", action, "", "property")
        halted_before = eng.state.state == "HALTED"
        out = eng.process(ev)[1:]
        if halted_before and not (isinstance(ev, Command) and ev.action in ("resume", "flatten")):
            assert not any(isinstance(e, OrderAccepted) for e in out), (ev, out)
        if eng.state.state == "REDUCING":
            for e in out:
                if isinstance(e, OrderAccepted):
                    pos = eng.portfolio.qty(e.symbol) + eng.broker.pending_qty(e.symbol) - e.qty
                    assert abs(pos + e.qty) <= abs(pos)
