"""Several strategies side by side (``strategy.books``): each book's target,
one net order per symbol, fills attributed to the books pro rata, capital
weights on a schedule (logged), snapshot attribution, and replay."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.build import engine_from_setup, engine_setup
from core.codec import encode_payload, is_input_kind, kind_of
from core.config import (
    BrokerConfig, EngineConfig, ExecutionConfig, LimitsConfig, StrategyConfig, config_from_dict,
)
from core.errors import ConfigError
from core.events import (
    AllocationChanged, BookCross, Command, Fill, ModelSignal, OrderAccepted, OrderIntent, Tick, Timer,
)
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from tests.conftest import make_engine

MIN = 60_000
BOOKS = ("pairs", "forest", "sentiment")
# limits wide enough that the gate does not get in the way of the arithmetic
WIDE = LimitsConfig(max_order_notional=1e9, max_position_fraction=1.0, max_sector_fraction=1.0,
                    var_budget=1.0, max_orders_per_minute=100_000)


def books_cfg(books: tuple[str, ...] = BOOKS, **kw: object) -> EngineConfig:
    kw.setdefault("rebalance_band", 0.01)  # small trades too: the tests follow each book's ask
    return EngineConfig(strategy=StrategyConfig(books=books, **kw), limits=WIDE)  # type: ignore[arg-type]


def feed(engine, events):  # type: ignore[no-untyped-def]
    out = []
    for ev in events:
        out.extend(engine.process(ev)[1:])
    return out


def of(kind, out):  # type: ignore[no-untyped-def]
    return [e for e in out if isinstance(e, kind)]


def check_invariants(eng) -> None:  # type: ignore[no-untyped-def]
    pf = eng.portfolio
    syms = set(pf.positions) | {s for b in eng.book_set.pf for s in b.positions}
    for s in syms:
        assert sum(b.qty(s) for b in eng.book_set.pf) == pytest.approx(pf.qty(s), abs=1e-6)
    pnl = pf.nav() - eng.p.initial_cash
    assert sum(eng.book_set.value(i) for i in range(len(eng.books))) == pytest.approx(pnl, abs=1e-6)
    assert sum(b.commissions for b in eng.book_set.pf) == pytest.approx(pf.commissions, abs=1e-9)


# ------------------------------------------------------------ config


def test_books_default_to_none_and_validate() -> None:
    assert EngineConfig().strategy.books == ()
    assert make_engine().books == []
    cfg = config_from_dict({"strategy": {"books": ["pairs", "momentum"], "allocation": "inverse_vol",
                                         "rebalance_every": 10}})
    assert cfg.strategy.books == ("pairs", "momentum") and cfg.strategy.allocation == "inverse_vol"
    with pytest.raises(ConfigError, match="strategy.books"):
        config_from_dict({"strategy": {"books": ["pairs", "nonsense"]}})
    with pytest.raises(ConfigError, match="twice"):
        config_from_dict({"strategy": {"books": ["pairs", "pairs"]}})
    with pytest.raises(ConfigError, match="strategy.allocation"):
        config_from_dict({"strategy": {"allocation": "kelly"}})
    with pytest.raises(ConfigError, match="rebalance_every"):
        config_from_dict({"strategy": {"rebalance_every": 0}})


# ------------------------------------------------------------ targets, netting, attribution


def warm(eng, price: float = 100.0) -> None:  # type: ignore[no-untyped-def]
    feed(eng, [Tick(1, "AAA", price, 1e6), Timer(MIN, "", "bar")])


def test_each_book_sizes_its_own_target_and_one_net_order_goes_out() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    nav = eng.portfolio.nav()
    full = 0.10 * nav / 100.0
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1)])
    orders = of(OrderAccepted, out)
    assert len(orders) == 1 and orders[0].qty == math.floor(0.5 * full)  # half the capital, full signal
    out = feed(eng, [Tick(MIN + 2, "AAA", 100.0, 1e6)])
    assert len(of(Fill, out)) == 1
    assert eng.book_set.pf[0].qty("AAA") == math.floor(0.5 * full) and eng.book_set.pf[1].qty("AAA") == 0.0
    # forest goes half short; pairs' target moved a little with NAV (the fees):
    # one net order, each book getting what it asked for
    full = 0.10 * eng.portfolio.nav() / 100.0
    pairs, forest = math.floor(0.5 * full), -math.floor(0.25 * full)
    out = feed(eng, [ModelSignal(MIN + 3, "AAA", "forest", -1.0, 1.0, 0.5, 1)])
    assert [o.qty for o in of(OrderAccepted, out)] == [pairs + forest - eng.portfolio.qty("AAA")]
    assert "books: forest" in of(OrderIntent, out)[0].reason
    feed(eng, [Tick(MIN + 4, "AAA", 101.0, 1e6)])
    assert eng.book_set.pf[1].qty("AAA") == pytest.approx(forest)
    assert eng.book_set.pf[0].qty("AAA") == pytest.approx(pairs)
    check_invariants(eng)


def test_books_that_cancel_out_send_no_order() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 0.8, 1.0, 1.0, 1),
                     ModelSignal(MIN + 1, "AAA", "forest", -0.8, 1.0, 1.0, 1)])
    assert len(of(OrderAccepted, out)) == 1  # pairs' order; forest's rests while it is pending
    feed(eng, [Tick(MIN + 2, "AAA", 100.0, 1e6)])
    check_invariants(eng)


def test_a_book_exiting_while_another_enters_crosses_inside_and_only_the_rest_is_sold() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1), Tick(MIN + 2, "AAA", 100.0, 1e6)])
    a = eng.book_set.pf[0].qty("AAA")
    # pairs exits while forest goes long 60%: forest takes its part from pairs
    # at the last price (no order, no fee); one order sells pairs' rest
    out = feed(eng, [Timer(2 * MIN, "", "bar")])
    eng.model_values["pairs"]["AAA"] = 0.0
    out = feed(eng, [ModelSignal(2 * MIN + 1, "AAA", "forest", 0.6, 1.0, 1.0, 1),
                     ModelSignal(2 * MIN + 1, "AAA", "pairs", 0.0, 1.0, 1.0, 1)])
    forest = math.floor(0.5 * 0.6 * 0.10 * eng.portfolio.nav() / 100.0)
    assert [(c.qty, c.price) for c in of(BookCross, out)] == [(forest, 100.0)]
    assert [o.qty for o in of(OrderAccepted, out)] == [forest - a]
    fees = eng.book_set.pf[1].commissions
    out += feed(eng, [Tick(2 * MIN + 2, "AAA", 102.0, 1e6)])
    assert of(Fill, out)
    check_invariants(eng)
    assert eng.book_set.pf[0].qty("AAA") == 0.0 and eng.book_set.pf[1].qty("AAA") == forest
    assert eng.book_set.pf[1].commissions == fees  # the sale's fee is pairs' alone
    assert eng.book_set.pf[0].realized != 0.0  # pairs realised its P&L, at the cross and the fill


def test_operator_flatten_is_attributed_by_the_books_positions() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    feed(eng, [ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1), Tick(MIN + 2, "AAA", 100.0, 1e6),
               ModelSignal(MIN + 3, "AAA", "forest", 0.5, 1.0, 1.0, 1), Tick(MIN + 4, "AAA", 100.0, 1e6)])
    assert eng.book_set.pf[0].qty("AAA") > eng.book_set.pf[1].qty("AAA") > 0
    feed(eng, [Command(MIN + 5, "", "flatten", "", "test"), Tick(MIN + 6, "AAA", 99.0, 1e6)])
    assert eng.portfolio.qty("AAA") == 0.0
    assert eng.book_set.pf[0].qty("AAA") == pytest.approx(0.0, abs=1e-9)
    assert eng.book_set.pf[1].qty("AAA") == pytest.approx(0.0, abs=1e-9)
    check_invariants(eng)


def test_a_disabled_or_halted_book_does_not_trade() -> None:
    eng = make_engine(books_cfg(("pairs", "forest")))
    warm(eng)
    out = feed(eng, [Command(MIN, "", "halt", "", "t"), ModelSignal(MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1)])
    assert of(OrderAccepted, out) == []
    out = feed(eng, [ModelSignal(MIN + 1, "AAA", "hmm", 1.0, 1.0, 1.0, 1)])  # not a book
    assert of(OrderAccepted, out) == []


def test_the_momentum_book_trades_at_bar_close() -> None:
    eng = make_engine(books_cfg(("momentum", "pairs"), rebalance_every=1000))
    price = 100.0
    out = []
    for i in range(30):
        price *= 1.002 + (0.001 if i % 2 else -0.001)
        out += feed(eng, [Tick(i * MIN + 1, "AAA", price, 1e6), Timer((i + 1) * MIN, "", "bar")])
    assert of(OrderAccepted, out) and all("momentum" in o.reason for o in of(OrderIntent, out))
    assert eng.book_set.pf[0].qty("AAA") > 0 and eng.book_set.pf[1].qty("AAA") == 0.0
    check_invariants(eng)


# ------------------------------------------------------------ capital weights


def run_bars(eng, bars: int, seed: int = 1, vols: dict[str, float] | None = None):  # type: ignore[no-untyped-def]
    """Random walks for AAA and BBB; after each bar every book publishes a view
    on its own symbol (pairs: AAA, forest: BBB) at full strength."""
    rng = random.Random(seed)
    px = {"AAA": 100.0, "BBB": 100.0}
    vols = vols or {"AAA": 0.001, "BBB": 0.001}
    out = []
    for i in range(bars):
        for s in px:
            px[s] *= 1.0 + rng.gauss(0.0, vols[s])
            out += feed(eng, [Tick(i * MIN + 1, s, px[s], 1e6)])
        out += feed(eng, [Timer((i + 1) * MIN, "", "bar")])
        out += feed(eng, [ModelSignal((i + 1) * MIN + 1, "AAA", "pairs", 1.0, 1.0, 1.0, 1),
                          ModelSignal((i + 1) * MIN + 1, "BBB", "forest", 1.0, 1.0, 1.0, 1)])
        check_invariants(eng)
    return out


def test_equal_weights_never_change() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), rebalance_every=5))
    out = run_bars(eng, 30)
    assert of(AllocationChanged, out) == [] and eng.book_set.weights == [0.5, 0.5]


def test_inverse_vol_weights_the_calmer_book_up_on_the_schedule_only() -> None:
    eng = make_engine(books_cfg(("pairs", "forest"), allocation="inverse_vol", rebalance_every=10))
    out = run_bars(eng, 40, vols={"AAA": 0.004, "BBB": 0.001})
    changes = of(AllocationChanged, out)
    assert changes and {c.ts // MIN for c in changes} <= {10, 20, 30, 40}
    assert all(abs(sum(c.weight for c in changes if c.ts == t) - 1.0) < 1e-9
               for t in {c.ts for c in changes} if len([c for c in changes if c.ts == t]) == 2)
    w = dict(zip(eng.books, eng.book_set.weights))
    assert w["forest"] > w["pairs"] and sum(w.values()) == pytest.approx(1.0)
    last = {c.book: c for c in changes}
    assert last["pairs"].vol > last["forest"].vol > 0.0


# ------------------------------------------------------------ the invariant, over random inputs

VARIANTS = [
    {},
    {"broker": BrokerConfig(participation=0.3)},  # partial fills
    {"execution": ExecutionConfig(twap_above_notional=5_000.0, slices=3, slice_s=60.0)},  # parents
    {"execution": ExecutionConfig(limit_offset_bps=5.0), "broker": BrokerConfig(order_ttl_s=90.0)},
]

step = st.one_of(
    st.tuples(st.just("px"), st.sampled_from(["AAA", "BBB"]), st.floats(-0.03, 0.03), st.floats(0.0, 5e3)),
    st.tuples(st.just("sig"), st.sampled_from(["AAA", "BBB"]), st.sampled_from(["momentum", *BOOKS]),
              st.floats(-1.5, 1.5), st.floats(0.0, 1.0)),
    st.tuples(st.just("bar")),
    st.tuples(st.just("cmd"), st.sampled_from(["flatten", "reduce", "resume", "halt", "cancel_all"])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(VARIANTS))), st.sampled_from(["equal", "inverse_vol", "mean_variance"]),
       st.sampled_from([(0.0, 1.0), (0.1, 0.4)]), st.lists(step, min_size=30, max_size=80))
def test_books_always_add_up_to_the_portfolio(variant: int, allocation: str, bounds: tuple[float, float],
                                              steps: list) -> None:  # type: ignore[type-arg]
    """The books' units, P&L and fees add up to the real ones after every
    input, through fills, crosses between the books and re-weights; and a
    cross never happens while HALTED, nor grows a book while REDUCING."""
    cfg = replace(books_cfg(("momentum", *BOOKS), allocation=allocation, rebalance_every=3,
                            allocation_window=6, allocation_min_w=bounds[0], allocation_max_w=bounds[1],
                            fast=2, slow=4), **VARIANTS[variant])
    eng = make_engine(cfg)
    px = {"AAA": 100.0, "BBB": 40.0}
    ts = 1
    feed(eng, [Tick(ts, s, p, 1e4) for s, p in px.items()])
    for st_ in steps:
        ts += 7_000
        if st_[0] == "px":
            px[st_[1]] *= 1.0 + st_[2]
            ev: object = Tick(ts, st_[1], px[st_[1]], st_[3])
        elif st_[0] == "sig":
            ev = ModelSignal(ts, st_[1], st_[2], st_[3], 1.0, st_[4], 1)
        elif st_[0] == "bar":
            ev = Timer(ts, "", "bar")
        else:
            ev = Command(ts, "", st_[1], "", "test")
        state = eng.state.state
        before = {s: [b.qty(s) for b in eng.book_set.pf] for s in px}
        crosses = [e for e in eng.process(ev) if isinstance(e, BookCross)]
        check_invariants(eng)
        assert not (crosses and state == "HALTED")
        if state == "REDUCING" and eng.state.state == "REDUCING":
            for c in crosses:  # no fill in the same input: a sig or bar step
                for q0, q1 in zip(before[c.symbol], (b.qty(c.symbol) for b in eng.book_set.pf)):
                    assert abs(q1) <= abs(q0) + 1e-9 and q0 * q1 >= 0.0
        weights = eng.book_set.weights
        assert sum(weights) == pytest.approx(1.0, abs=1e-6)
        assert all(bounds[0] - 1e-6 <= w <= bounds[1] + 1e-6 for w in weights), weights


# ------------------------------------------------------------ snapshot and replay


def hand_fed(sim: Simulator, seed: int):  # type: ignore[no-untyped-def]
    """The simulator's feed with every book's view after each bar close."""
    rng = random.Random(seed)
    syms = [i.symbol for i in sim.spec.instruments]
    for ev in sim:
        yield ev
        if isinstance(ev, Timer) and ev.name == "bar":
            for s in syms:
                for b in BOOKS:
                    yield ModelSignal(ev.ts, s, b, rng.uniform(-1.0, 1.0), rng.random(), rng.uniform(0.5, 1.0), 1)


def test_a_books_session_snapshots_attribution_and_replays_decision_for_decision() -> None:
    sim = Simulator(7)
    cfg = EngineConfig(strategy=StrategyConfig(books=("momentum", *BOOKS), allocation="inverse_vol",
                                               rebalance_every=20))
    setup = engine_setup(cfg, sim.spec)
    sink = MemorySink()
    s = Session(engine_from_setup(setup), hand_fed(sim, 3), sink, "books", speed=None, max_events=12_000)
    s.run()
    assert s.error == ""
    kinds = {type(e).__name__ for _, e in sink.rows}
    assert {"AllocationChanged", "Fill", "ModelSignal"} <= kinds
    snap = s.snapshot()
    assert [b.book for b in snap.books] == ["momentum", *BOOKS]
    assert sum(b.weight for b in snap.books) == pytest.approx(1.0)
    pnl = snap.risk.nav - cfg.initial_cash
    assert sum(b.pnl for b in snap.books) == pytest.approx(pnl, abs=1e-4)
    assert sum(b.market_value for b in snap.books) == pytest.approx(snap.risk.net, abs=1e-4)
    by_symbol: dict[str, float] = {}
    for b in snap.books:
        for sym, qty, _mv, _pnl in b.symbols:
            by_symbol[sym] = by_symbol.get(sym, 0.0) + qty
    for p in snap.positions:
        assert by_symbol.get(p.symbol, 0.0) == pytest.approx(p.qty, abs=1e-6)
    rows = []
    for seq, ev in sink.rows:
        kind = kind_of(ev)  # type: ignore[arg-type]
        rows.append((seq, kind, ev.ts, ev.symbol, encode_payload(ev), is_input_kind(kind)))  # type: ignore[attr-defined, arg-type]
    report = verify(engine_from_setup(setup), rows, None)
    assert report.verified, report.divergence
    assert report.events == len(rows) and report.trades > 0


def test_a_session_without_books_has_no_book_rows() -> None:
    sim = Simulator(2)
    s = Session(make_engine(EngineConfig(), sim.spec), sim, MemorySink(), "plain", speed=None, max_events=3_000)
    s.run()
    assert s.snapshot().books == ()


# ------------------------------------------------------------ the Positions pane


@pytest.mark.asyncio
async def test_the_positions_pane_shows_the_by_strategy_table_only_with_books(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rich.text import Text

    from console.app import build_app
    from console.panes.common import KeyedTable
    from core.snapshot import BookRow
    from tests.test_ui_fakes import FakeSession, snapshot

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one("#books-table", KeyedTable)
        assert not table.display and not app.query_one("#books-title").display
        books = (BookRow("pairs", 0.6, 12_000.0, 150.0, -20.0, 3.0, 127.0, (("AAPL", 60.0, 12_000.0, 127.0),)),
                 BookRow("forest", 0.4, -5_000.0, 0.0, 10.0, 1.0, 9.0, ()))
        session.latest = snapshot(seq=2000, books=books)
        await pilot.pause(0.25)
        assert table.display and [str(k.value) for k in table.rows] == ["pairs", "forest"]
        assert table.region.height >= 3  # header and both books visible at 160x48
        cell = table.get_cell("pairs", "top")
        assert (cell.plain if isinstance(cell, Text) else cell) == "AAPL +127"
        assert "2 books" in str(app.query_one("#positions").border_subtitle)
        session.latest = snapshot(seq=3000)
        await pilot.pause(0.25)
        assert not table.display


@pytest.mark.asyncio
async def test_e_on_a_book_shows_its_pnl_by_symbol(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from console.app import build_app
    from console.panes.common import KeyedTable
    from core.snapshot import BookRow
    from tests.test_ui_fakes import FakeSession, snapshot

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    books = (BookRow("pairs", 0.6, 12_000.0, 150.0, -20.0, 3.0, 127.0,
                     (("AAPL", 60.0, 12_000.0, 27.0), ("MSFT", -10.0, -4_000.0, 100.0))),
             BookRow("forest", 0.4, -5_000.0, 0.0, 10.0, 1.0, 9.0, ()))
    session = FakeSession(snapshot(books=books))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.25)
        table = app.query_one("#books-table", KeyedTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("e")
        await pilot.pause()
        text = app.screen.text  # an InfoScreen (a toast overflowed)
        first, *rows = text.splitlines()
        assert first.startswith("pairs: weight 60.00%, P&L +127.00")
        assert rows[1].split() == ["MSFT", "-10", "-4,000.00", "+100.00"]  # largest P&L first
        assert rows[2].split() == ["AAPL", "60", "12,000.00", "+27.00"]
        await pilot.press("escape")
        table.move_cursor(row=1)
        await pilot.press("e")
        await pilot.pause()
        assert "no positions or realised P&L yet" in app.screen.text


@pytest.mark.asyncio
async def test_the_book_key_is_offered_only_with_books(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from console.app import build_app
    from console.panes.positions import PositionsPane
    from core.snapshot import BookRow
    from tests.test_ui_fakes import FakeSession, snapshot

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.25)
        pane = app.query_one(PositionsPane)
        assert pane.check_action("explain", ()) is False
        session.latest = snapshot(seq=2000, books=(BookRow("pairs", 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, ()),))
        await pilot.pause(0.25)
        assert pane.check_action("explain", ()) is True
