"""Strategy books, issue 5: mean-variance capital weights (within bounds, from
aligned per-bar book returns, logged with the method used, replayed exactly)
and books crossing with each other inside the engine when their asks offset."""

from __future__ import annotations

import math
import random

import pytest

import core.allocation
from core.build import engine_from_setup, engine_setup
from core.codec import encode_payload, is_input_kind, kind_of
from core.config import EngineConfig, StrategyConfig, config_from_dict
from core.errors import ConfigError
from core.events import AllocationChanged, BookCross, Command, Fill, ModelSignal, OrderIntent, Tick, Timer
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from core.view import describe
from tests.conftest import make_engine
from tests.test_books import BOOKS, MIN, books_cfg, check_invariants, feed, hand_fed, of, warm

# ------------------------------------------------------------ config


def test_mean_variance_and_weight_bounds_are_validated_with_one_line_each() -> None:
    cfg = config_from_dict({"strategy": {"books": ["pairs", "forest"], "allocation": "mean_variance",
                                         "allocation_min_w": 0.2, "allocation_max_w": 0.7,
                                         "risk_aversion": 4.0}})
    st = cfg.strategy
    assert (st.allocation, st.allocation_min_w, st.allocation_max_w, st.risk_aversion) == \
        ("mean_variance", 0.2, 0.7, 4.0)
    assert (EngineConfig().strategy.allocation_min_w, EngineConfig().strategy.allocation_max_w) == (0.0, 1.0)
    bad = [({"allocation": "kelly"}, "strategy.allocation must be equal, inverse_vol or mean_variance"),
           ({"allocation_min_w": -0.1}, "strategy.allocation_min_w must be in [0, 1)"),
           ({"allocation_max_w": 0.0}, "strategy.allocation_max_w must be in (0, 1]"),
           ({"allocation_min_w": 0.5, "allocation_max_w": 0.4}, "must be <= strategy.allocation_max_w"),
           ({"books": ["pairs", "forest", "sentiment"], "allocation_min_w": 0.4}, "cannot sum to 1 over 3 books"),
           ({"books": ["pairs", "forest"], "allocation_max_w": 0.4}, "cannot sum to 1 over 2 books"),
           ({"risk_aversion": -1.0}, "strategy.risk_aversion must be >= 0")]
    for strategy, message in bad:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[")):
            config_from_dict({"strategy": strategy})


# ------------------------------------------------------------ mean-variance in the engine


def drifting_bars(eng, bars: int, drift: dict[str, float], vol: dict[str, float],  # type: ignore[no-untyped-def]
                  seed: int = 1):
    """AAA and BBB as random walks with a drift per bar; after each bar pairs
    is long AAA and forest long BBB, both at full strength."""
    rng = random.Random(seed)
    px = {"AAA": 100.0, "BBB": 100.0}
    out = []
    for i in range(bars):
        for s in px:
            px[s] *= 1.0 + drift[s] + rng.gauss(0.0, vol[s])
            out += feed(eng, [Tick(i * MIN + 1, s, px[s], 1e6)])
        out += feed(eng, [Timer((i + 1) * MIN, "", "bar")])
        out += feed(eng, [ModelSignal((i + 1) * MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1),
                          ModelSignal((i + 1) * MIN + 1, "BBB", "forest", 1.0, 1.0, 1.0, 1)])
        check_invariants(eng)
    return out


BETTER_AAA = ({"AAA": 0.0005, "BBB": 0.0}, {"AAA": 0.001, "BBB": 0.002})


def by_bar(changes: list[AllocationChanged]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for c in changes:
        out.setdefault(c.ts // MIN, {})[c.book] = c.weight
    return out


def test_mean_variance_weights_sum_to_one_within_bounds_and_favour_the_better_book() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), allocation="mean_variance", allocation_window=20,
                                rebalance_every=10, allocation_min_w=0.2, allocation_max_w=0.7))
    out = drifting_bars(eng, 40, *BETTER_AAA)
    changes = of(AllocationChanged, out)
    assert changes and all(c.reason.startswith("mean_variance at bar ") for c in changes)
    assert set(by_bar(changes)) <= {10, 20, 30, 40}
    for bar, weights in by_bar(changes).items():
        assert len(weights) == 2 and sum(weights.values()) == pytest.approx(1.0, abs=1e-9), bar
        assert all(0.2 - 1e-9 <= w <= 0.7 + 1e-9 for w in weights.values()), (bar, weights)
    w = dict(zip(eng.books, eng.book_set.weights))
    # pairs earns 5e-5 a bar per unit of capital at half forest's volatility
    assert w["pairs"] == pytest.approx(0.7) and w["forest"] == pytest.approx(0.3)
    assert sum(eng.book_set.weights) == pytest.approx(1.0)
    last = {c.book: c for c in changes}
    assert last["forest"].vol > last["pairs"].vol > 0.0  # per-bar sd of each book's returns


def test_mean_variance_keeps_equal_weights_until_half_the_window_is_in() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), allocation="mean_variance", allocation_window=40,
                                rebalance_every=10))
    out = drifting_bars(eng, 20, *BETTER_AAA)
    changes = of(AllocationChanged, out)
    assert {c.ts // MIN for c in changes} == {20}  # bar 10: 10 returns < 40 // 2
    assert eng.book_set.weights[0] > 0.5 > eng.book_set.weights[1]


def test_every_book_records_a_return_every_bar_even_without_capital() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), rebalance_every=1000))
    eng.book_set.weights = [1.0, 0.0]
    drifting_bars(eng, 12, *BETTER_AAA)
    pairs, forest = eng.book_set.returns
    assert pairs.count == forest.count == 12 and pairs.pos == forest.pos
    assert list(forest.values[:12]) == [0.0] * 12 and any(v != 0.0 for v in pairs.values[:12])


def test_the_optimisers_failure_falls_back_to_inverse_vol_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(core.allocation, "minimize", broken)
    eng = make_engine(books_cfg(("pairs", "forest"), allocation="mean_variance", allocation_window=20,
                                rebalance_every=10))
    out = drifting_bars(eng, 10, *BETTER_AAA)
    changes = of(AllocationChanged, out)
    assert [c.reason for c in changes] == ["inverse_vol_fallback at bar 10: optimiser failed: boom"] * 2
    w = {c.book: c for c in changes}
    # inverse to each book's volatility: forest's is about twice pairs'
    ratio = w["forest"].vol / w["pairs"].vol
    assert w["pairs"].weight == pytest.approx(ratio / (1.0 + ratio), rel=1e-6)
    assert w["pairs"].weight + w["forest"].weight == pytest.approx(1.0)
    assert "ALLOCATION pairs 50.0% ->" in describe(changes[0])[1]  # type: ignore[index]


def test_inverse_vol_respects_the_weight_bounds_and_is_unchanged_without_them() -> None:
    plain = make_engine(books_cfg(("pairs", "forest"), allocation="inverse_vol", rebalance_every=10))
    bounded = make_engine(books_cfg(("pairs", "forest"), allocation="inverse_vol", rebalance_every=10,
                                    allocation_max_w=0.6))
    drifting_bars(plain, 10, *BETTER_AAA)
    drifting_bars(bounded, 10, *BETTER_AAA)
    vols = [w.std() for w in plain.book_set.returns]
    assert plain.book_set.weights == [(1.0 / vols[0]) / (1.0 / vols[0] + 1.0 / vols[1]),
                                  (1.0 / vols[1]) / (1.0 / vols[0] + 1.0 / vols[1])]  # exactly, as before
    assert plain.book_set.weights[0] > 0.6
    assert bounded.book_set.weights == pytest.approx([0.6, 0.4])


def session_rows(sink: MemorySink) -> list[tuple[int, str, int, str, str, bool]]:
    rows = []
    for seq, ev in sink.rows:
        kind = kind_of(ev)  # type: ignore[arg-type]
        rows.append((seq, kind, ev.ts, ev.symbol, encode_payload(ev), is_input_kind(kind)))  # type: ignore[attr-defined, arg-type]
    return rows


def test_a_mean_variance_session_replays_decision_for_decision() -> None:
    sim = Simulator(7)
    cfg = EngineConfig(strategy=StrategyConfig(books=("momentum", *BOOKS), allocation="mean_variance",
                                               allocation_window=20, rebalance_every=10,
                                               allocation_min_w=0.05, allocation_max_w=0.6))
    setup = engine_setup(cfg, sim.spec)
    sink = MemorySink()
    s = Session(engine_from_setup(setup), hand_fed(sim, 3), sink, "mv", speed=None, max_events=12_000)
    s.run()
    assert s.error == ""
    changes = [e for _, e in sink.rows if isinstance(e, AllocationChanged)]
    assert any(c.reason.startswith("mean_variance at bar") for c in changes)
    assert sum(s.engine.book_set.weights) == pytest.approx(1.0)
    rows = session_rows(sink)
    report = verify(engine_from_setup(setup), rows, None)
    assert report.verified, report.divergence
    assert report.events == len(rows) and report.trades > 0
    # and a weight off in its last bit is caught
    at = next(i for i, r in enumerate(rows) if r[1] == "allocation")
    ev = sink.rows[at][1]
    bent = ev._replace(weight=math.nextafter(ev.weight, 2.0))  # type: ignore[attr-defined]
    rows[at] = rows[at][:4] + (encode_payload(bent),) + rows[at][5:]
    report = verify(engine_from_setup(setup), rows, None)
    assert not report.verified and report.divergence.seq == rows[at][0]  # type: ignore[union-attr]


# ------------------------------------------------------------ books crossing inside the engine


def set_views(eng, **views: float) -> None:  # type: ignore[no-untyped-def]
    for book, value in views.items():
        eng.model_values.setdefault(book, {})["AAA"] = value


def test_books_wanting_opposite_positions_cross_inside_and_send_no_order() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    full = 0.10 * eng.portfolio.nav() / 100.0
    set_views(eng, pairs=1.0)
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "forest", -1.0, 1.0, 1.0, 1)])
    assert of(OrderIntent, out) == []
    crosses = of(BookCross, out)
    half = math.floor(0.5 * full)
    assert crosses == [BookCross(MIN + 1, "AAA", half, 100.0, f"pairs:+{half}", f"forest:-{half}",
                                 "books: forest v1 -1.00")]
    assert eng.book_set.pf[0].qty("AAA") == half and eng.book_set.pf[1].qty("AAA") == -half
    assert eng.portfolio.qty("AAA") == 0.0 and eng.broker.pending_qty("AAA") == 0.0
    assert eng.book_set.pf[0].commissions == eng.book_set.pf[1].commissions == 0.0
    check_invariants(eng)
    feed(eng, [Tick(MIN + 2, "AAA", 103.0, 1e6)])  # the books' P&L is equal and opposite
    assert eng.book_set.value(0) == pytest.approx(3.0 * half) and eng.book_set.value(1) == pytest.approx(-3.0 * half)
    check_invariants(eng)
    assert describe(crosses[0])[1].startswith(f"CROSS AAA {half} @ 100.0000 between books")  # type: ignore[index]


def test_a_partial_offset_crosses_and_only_the_net_rest_is_ordered_with_its_fee() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    full = 0.10 * eng.portfolio.nav() / 100.0
    set_views(eng, pairs=1.0)
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "forest", -0.6, 1.0, 1.0, 1)])
    long_, short = math.floor(0.5 * full), -math.floor(0.3 * full)
    assert [c.qty for c in of(BookCross, out)] == [-short]
    assert [o.qty for o in of(OrderIntent, out)] == [long_ + short]
    assert eng.router.order_shares[max(eng.router.order_shares)] == [1.0, 0.0]  # the rest is pairs' alone
    out = feed(eng, [Tick(MIN + 2, "AAA", 100.0, 1e6)])
    assert len(of(Fill, out)) == 1
    assert eng.book_set.pf[0].qty("AAA") == long_ and eng.book_set.pf[1].qty("AAA") == short
    assert eng.book_set.pf[1].commissions == 0.0 and eng.book_set.pf[0].commissions == eng.portfolio.commissions > 0.0
    check_invariants(eng)


def test_three_books_split_the_larger_side_pro_rata() -> None:
    eng = make_engine(books_cfg(BOOKS))
    warm(eng)
    full = 0.10 * eng.portfolio.nav() / 100.0
    views = {"pairs": 1.0, "forest": 0.5, "sentiment": -0.9}
    want = [math.copysign(math.floor(abs(w * views[b] * full)), views[b])
            for b, w in zip(eng.books, eng.book_set.weights)]
    set_views(eng, pairs=1.0, forest=0.5)
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "sentiment", -0.9, 1.0, 1.0, 1)])
    (cross,) = of(BookCross, out)
    # two buyers, one smaller seller: the seller moves in full, the buyers in
    # proportion to their asks, and the rest goes out as one order
    assert cross.qty == -want[2] and cross.sellers == f"sentiment:{want[2]:+.10g}"
    assert cross.buyers.startswith("pairs:+") and ",forest:+" in cross.buyers
    pairs, forest, sentiment = (b.qty("AAA") for b in eng.book_set.pf)
    assert sentiment == want[2] and pairs + forest == pytest.approx(-want[2], abs=1e-9)
    assert pairs / forest == pytest.approx(want[0] / want[1])
    assert [o.qty for o in of(OrderIntent, out)] == [sum(want)]
    assert eng.router.order_shares[max(eng.router.order_shares)] == pytest.approx(
        [want[0] / (want[0] + want[1]), want[1] / (want[0] + want[1]), 0.0])
    check_invariants(eng)


def test_a_cross_below_the_band_is_left_to_the_orders_split_at_the_fill_price() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), rebalance_band=0.25))
    warm(eng)
    feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1), Tick(MIN + 2, "AAA", 100.0, 1e6)])
    held = eng.book_set.pf[0].qty("AAA")
    # pairs gives back a little (under the band of a book's full position), forest goes long
    set_views(eng, pairs=0.8)
    out = feed(eng, [ModelSignal(MIN + 3, "AAA", "forest", 1.0, 1.0, 1.0, 1)])
    assert of(BookCross, out) == [] and len(of(OrderIntent, out)) == 1
    assert min(eng.router.order_shares[max(eng.router.order_shares)]) < 0.0  # pairs' part is a sale
    feed(eng, [Tick(MIN + 4, "AAA", 101.0, 1e6)])
    assert eng.book_set.pf[0].qty("AAA") < held
    assert eng.book_set.pf[0].realized != 0.0  # pairs sold at the fill price
    check_invariants(eng)


def crossed_pair(eng) -> float:  # type: ignore[no-untyped-def]
    """pairs long and forest short the same size, the real book flat."""
    warm(eng)
    set_views(eng, pairs=1.0)
    feed(eng, [ModelSignal(MIN + 1, "AAA", "forest", -1.0, 1.0, 1.0, 1)])
    assert eng.portfolio.qty("AAA") == 0.0
    return float(eng.book_set.pf[0].qty("AAA"))


def test_no_cross_while_halted_and_after_resume_the_books_cross() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    out = feed(eng, [Command(MIN, "", "halt", "", "t"),
                     ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1),
                     ModelSignal(MIN + 1, "AAA", "forest", -1.0, 1.0, 1.0, 1)])
    eng.book_set.rebalance("AAA", eng.portfolio.nav(), "direct")  # even called directly
    out += feed(eng, [Timer(2 * MIN, "", "bar")])
    assert of(BookCross, out) == [] and [b.qty("AAA") for b in eng.book_set.pf] == [0.0, 0.0]
    out = feed(eng, [Command(2 * MIN + 1, "", "resume", "", "t"),
                     ModelSignal(2 * MIN + 2, "AAA", "pairs", 1.0, 1.0, 1.0, 1)])
    assert len(of(BookCross, out)) == 1 and of(OrderIntent, out) == []
    check_invariants(eng)


def test_reducing_lets_books_cross_toward_flat_only() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    held = crossed_pair(eng)
    feed(eng, [Command(MIN + 2, "", "reduce", "", "t")])
    # pairs flips short and forest long: each may only go flat, and both do, by a cross
    set_views(eng, pairs=-1.0)
    out = feed(eng, [ModelSignal(MIN + 3, "AAA", "forest", 1.0, 1.0, 1.0, 1)])
    assert [c.qty for c in of(BookCross, out)] == [held] and of(OrderIntent, out) == []
    assert [b.qty("AAA") for b in eng.book_set.pf] == [0.0, 0.0]
    check_invariants(eng)


def test_reducing_refuses_a_cross_that_would_grow_a_book() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1), Tick(MIN + 2, "AAA", 100.0, 1e6),
               Command(MIN + 3, "", "reduce", "", "t")])
    held = eng.book_set.pf[0].qty("AAA")
    # pairs exits, forest wants the same long: outside REDUCING that is one cross
    set_views(eng, pairs=0.0)
    out = feed(eng, [ModelSignal(MIN + 4, "AAA", "forest", 1.0, 1.0, 1.0, 1)])
    assert of(BookCross, out) == [] and of(OrderIntent, out) == []
    assert [b.qty("AAA") for b in eng.book_set.pf] == [held, 0.0]
    feed(eng, [Command(MIN + 5, "", "resume", "", "t")])
    out = feed(eng, [ModelSignal(MIN + 6, "AAA", "forest", 1.0, 1.0, 1.0, 1)])
    forest = math.floor(0.5 * 0.10 * eng.portfolio.nav() / 100.0)  # a lot less than held: the fees
    assert [c.qty for c in of(BookCross, out)] == [forest] and of(OrderIntent, out) == []
    assert [b.qty("AAA") for b in eng.book_set.pf] == [held - forest, forest]
    check_invariants(eng)
