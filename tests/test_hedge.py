"""The options overlay (``[hedge]``): protective puts on flagged longs, bought
from the paper desk when the ask is at most a multiple of fair value; expiry,
sale, flatten, halt, budget; the puts in NAV, Monte Carlo VaR, the stress
table, the Risk pane's greeks; replay reproduces every decision."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from core.build import engine_from_setup, engine_setup
from core.codec import to_row
from core.config import ConfigError, config_from_dict
from core.events import Bar, Command, ModelSignal, ProtectivePut, Timer
from core.market.sim import Simulator
from core.options import bsm_price
from core.overlay import MS_PER_YEAR
from core.replay import verify
from core.session import MemorySink, Session
from core.view import describe
from tests.conftest import SPEC, make_engine

BAR_MS = 60_000
T0 = 1_700_000_000_000


def hedge_cfg(**hedge: Any) -> Any:
    base: dict[str, Any] = {"protect": True, "flag_models": ["sentiment"], "min_bars": 5, "recheck_bars": 3}
    base.update(hedge)
    return config_from_dict({"hedge": base, "breakers": {"stale_data_s": 1e9}})


class Feed:
    """Bars for AAA (and a flat BBB) into an engine, one bar-close timer each."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng
        self.ts = T0
        self.out: list[Any] = []

    def bar(self, price: float, sym: str = "AAA") -> None:
        self.ts += BAR_MS
        for s, px in ((sym, price), ("BBB", 50.0)):
            self.out += self.eng.process(Bar(self.ts, s, px, px * 1.001, px * 0.999, px, 1e9))
        self.out += self.eng.process(Timer(self.ts, "", "bar"))

    def signal(self, value: float, sym: str = "AAA", model: str = "sentiment") -> None:
        self.out += self.eng.process(ModelSignal(self.ts, sym, model, value, 0.9, 1.0, 1))

    def puts(self, action: str | None = None) -> list[ProtectivePut]:
        return [e for e in self.out if isinstance(e, ProtectivePut) and (action is None or e.action == action)]


def uptrend(feed: Feed, n: int = 40, start: float = 100.0, wiggle: float = 0.004) -> float:
    """A rising, slightly noisy path: momentum goes long AAA."""
    px = start
    for i in range(n):
        px *= 1.0 + 0.002 + (wiggle if i % 2 else -wiggle)
        feed.bar(px)
    assert feed.eng.portfolio.qty("AAA") > 100.0
    return px


def with_views(sim: Any, eng: Any, value: Any, stop: Any = None) -> Any:
    """The simulator's inputs, plus a sentiment view of ``value(bars)`` on
    every position every 25 bars; ends at the first bar where ``stop(bars)``."""
    bars = 0
    for ev in sim:
        yield ev
        if isinstance(ev, Timer) and ev.name == "bar":
            bars += 1
            if stop is not None and stop(bars):
                return
            if bars % 25 == 0:
                for sym in list(eng.portfolio.positions):
                    yield ModelSignal(ev.ts, sym, "sentiment", value(bars), 0.9, 1.0, 1)


def nav_parts(eng: Any) -> float:
    pf = eng.portfolio
    stock = sum(p.qty * pf.last[s] for s, p in pf.positions.items() if p.qty)
    return pf.cash + stock + sum(h.mark * h.units() for h in eng.overlay.holdings.values())


# ------------------------------------------------------------ config


def test_the_overlay_is_off_by_default_and_its_fields_are_checked() -> None:
    assert make_engine().overlay is None
    with pytest.raises(ConfigError) as err:
        config_from_dict({"hedge": {"moneyness": 0, "half_spread": 1.5, "flag_below": -3,
                                    "max_premium_fraction": 0}})
    msg = str(err.value)
    for field in ("hedge.moneyness", "hedge.half_spread", "hedge.flag_below", "hedge.max_premium_fraction"):
        assert field in msg
    with pytest.raises(ConfigError, match=r"hedge.flag_models names \['lstm'\]"):
        config_from_dict({"hedge": {"protect": True, "flag_models": ["lstm"]}})


# ------------------------------------------------------------ buying


def test_a_flagged_long_gets_puts_at_the_ask_and_cash_pays_for_them() -> None:
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    uptrend(feed)
    held = eng.portfolio.qty("AAA")
    cash0 = eng.portfolio.cash
    feed.signal(-0.8)
    assert feed.puts() == []  # a view alone trades nothing: the overlay acts at bar close
    feed.bar(eng.portfolio.last["AAA"])
    buys = feed.puts("buy")
    assert len(buys) == 1
    b = buys[0]
    contracts = math.floor(eng.portfolio.qty("AAA") / 100.0)
    assert b.contracts == contracts >= 1 and held >= 100
    spot = eng.portfolio.last["AAA"]
    assert b.strike == round(0.95 * spot, 2)
    assert b.expiry_ts == feed.ts + 30 * 86_400_000
    years = 30 / 365
    mid = bsm_price(spot, b.strike, years, 0.0, b.quote_vol, 0.0, put=True)
    assert b.price == pytest.approx(mid * 1.02, rel=1e-12)
    assert b.fair == pytest.approx(bsm_price(spot, b.strike, years, 0.0, b.fair_vol, 0.0, put=True), rel=1e-12)
    assert b.price <= 1.25 * b.fair
    assert b.cash == pytest.approx(-(b.price * b.contracts * 100 + 0.65 * b.contracts), rel=1e-12)
    assert "sentiment -0.80" in b.reason and "<=" in b.reason
    # the stock leg did not trade on this bar (same position), so cash moved by the premium alone
    assert eng.portfolio.cash == pytest.approx(cash0 + b.cash, rel=1e-12)
    # NAV counts the puts at the desk's mid: cash + stock + marks
    assert eng.portfolio.nav() == pytest.approx(nav_parts(eng), rel=1e-12)
    assert eng.portfolio.option_value == pytest.approx(mid * b.contracts * 100, rel=1e-9)
    # no second purchase while that long is covered
    for _ in range(5):
        feed.bar(eng.portfolio.last["AAA"] * 1.001)
    assert len(feed.puts("buy")) == 1


def test_an_unflagged_or_mildly_flagged_long_gets_no_puts() -> None:
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.49)  # above flag_below -0.5
    feed.bar(eng.portfolio.last["AAA"])
    feed.signal(0.9, model="hmm")  # not a flag model
    feed.bar(eng.portfolio.last["AAA"])
    assert feed.puts() == []
    feed.signal(-0.5)  # at the threshold: flagged
    feed.bar(eng.portfolio.last["AAA"])
    assert len(feed.puts("buy")) == 1


def test_after_a_vol_spike_the_ask_is_too_dear_and_the_decline_is_logged_with_the_numbers() -> None:
    eng = make_engine(hedge_cfg(fast_halflife=1.0, slow_halflife=200.0, recheck_bars=4))
    feed = Feed(eng)
    px = uptrend(feed)
    for move in (1.05, 0.96):  # violent swings: the desk's recent vol runs far above the fair vol
        px *= move
        feed.bar(px)
    assert eng.portfolio.qty("AAA") > 100.0
    feed.signal(-0.9)
    feed.bar(px)
    declines = feed.puts("decline")
    assert feed.puts("buy") == [] and len(declines) == 1
    d = declines[0]
    assert d.price > 1.25 * d.fair and d.quote_vol > d.fair_vol
    assert ">" in d.reason and "implied vol" in d.reason and d.cash == 0.0
    # logged once per recheck_bars, not every bar
    feed.bar(px)
    feed.bar(px)
    assert len(feed.puts("decline")) == 1


def test_the_premium_budget_caps_the_puts_bought() -> None:
    eng = make_engine(hedge_cfg(max_premium_fraction=1e-6))
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.8)
    feed.bar(eng.portfolio.last["AAA"])
    assert feed.puts("buy") == []
    (d,) = feed.puts("decline")
    assert "premium budget" in d.reason


def test_halted_or_reducing_books_buy_no_puts_and_a_halt_keeps_the_puts_held() -> None:
    for action in ("halt", "reduce"):
        eng = make_engine(hedge_cfg())
        feed = Feed(eng)
        uptrend(feed)
        feed.out += eng.process(Command(feed.ts, "", action, "", "test"))
        feed.signal(-0.8)
        feed.bar(eng.portfolio.last["AAA"])
        assert feed.puts() == [], action
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.8)
    feed.bar(eng.portfolio.last["AAA"])
    assert len(eng.overlay.holdings) == 1
    feed.out += eng.process(Command(feed.ts, "", "halt", "", "test"))
    feed.bar(eng.portfolio.last["AAA"] * 0.99)
    assert len(eng.overlay.holdings) == 1 and feed.puts("sell") == []


# ------------------------------------------------------------ selling, expiry, flatten


def test_puts_are_sold_back_at_the_bid_when_the_long_they_protect_is_gone() -> None:
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    px = uptrend(feed)
    feed.signal(-0.8)
    feed.bar(px)
    (buy,) = feed.puts("buy")
    for _ in range(30):  # a downtrend: momentum sells the long
        px *= 0.994
        feed.bar(px)
        if eng.portfolio.qty("AAA") <= 0.0:
            break
    feed.bar(px)
    sells = feed.puts("sell")
    assert sum(s.contracts for s in sells) == buy.contracts
    for s in sells:
        assert s.price == pytest.approx(s.fair * 0.98, rel=1e-12)  # fair holds the mark (mid) on a sale
        assert s.cash == pytest.approx(s.price * s.contracts * 100 - 0.65 * s.contracts, rel=1e-12)
    assert eng.overlay.holdings == {} and eng.portfolio.option_value == 0.0


def test_a_put_that_expires_in_the_money_pays_its_intrinsic_value() -> None:
    eng = make_engine(hedge_cfg(expiry_days=0.01, moneyness=1.0))  # 14.4 market minutes
    feed = Feed(eng)
    px = uptrend(feed)
    feed.signal(-0.8)
    feed.bar(px)
    (buy,) = feed.puts("buy")
    feed.out += eng.process(Command(feed.ts, "", "halt", "", "keep the long"))
    for _ in range(15):
        px *= 0.995
        feed.bar(px)
    (exp,) = feed.puts("expire")
    spot = eng.portfolio.last["AAA"]
    assert exp.price == pytest.approx(buy.strike - spot) and exp.price > 0
    assert exp.cash == pytest.approx((buy.strike - spot) * buy.contracts * 100)
    assert eng.overlay.holdings == {} and eng.portfolio.option_value == 0.0
    assert eng.overlay.proceeds == pytest.approx(exp.cash)


def test_flatten_sells_the_puts_too() -> None:
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.8)
    feed.bar(eng.portfolio.last["AAA"])
    assert eng.overlay.holdings
    feed.out += eng.process(Command(feed.ts, "", "halt", "", "test"))
    feed.out += eng.process(Command(feed.ts, "", "flatten", "", "test"))
    assert eng.overlay.holdings == {}
    (sell,) = feed.puts("sell")
    assert sell.reason.startswith("flatten")


# ------------------------------------------------------------ risk


def test_puts_lower_the_monte_carlo_var_and_the_stress_loss() -> None:
    eng = make_engine(hedge_cfg(moneyness=1.0))
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.8)
    feed.bar(eng.portfolio.last["AAA"])
    assert eng.overlay.holdings
    nav = eng.portfolio.nav()
    eng.risk.run_monte_carlo(nav)
    eng.risk.book_var(nav)  # contributions to the breaker's measure (historical by default)
    with_puts = (eng.risk.mc95, eng.risk.mc99, eng.risk.var_contrib["AAA"])
    held = dict(eng.overlay.holdings)
    eng.overlay.holdings.clear()
    eng.risk.run_monte_carlo(nav)
    eng.risk.book_var(nav)
    without = (eng.risk.mc95, eng.risk.mc99, eng.risk.var_contrib["AAA"])
    assert with_puts[0] < without[0] and with_puts[1] < without[1] and with_puts[2] < without[2]
    eng.overlay.holdings.update(held)

    session = Session(eng, iter(()), MemorySink(), "t", asset_classes={"AAA": "equity", "BBB": "equity"})
    snap = session.snapshot()
    down = {line.name: line.pnl for line in snap.risk.stress}
    eng.overlay.holdings.clear()
    session._stress_cache = (((), ()), ())
    bare = {line.name: line.pnl for line in session.snapshot().risk.stress}
    name = next(n for n in down if "-10%" in n)
    assert down[name] > bare[name]  # the puts pay in the drop
    eng.overlay.holdings.update(held)


def test_the_risk_pane_figures_carry_the_portfolio_greeks() -> None:
    eng = make_engine(hedge_cfg())
    feed = Feed(eng)
    uptrend(feed)
    feed.signal(-0.8)
    feed.bar(eng.portfolio.last["AAA"])
    snap = Session(eng, iter(()), MemorySink(), "t").snapshot()
    extra = dict(snap.risk.extra)
    (h,) = eng.overlay.holdings.values()
    spot = eng.portfolio.last["AAA"]
    assert h.delta < 0 and h.gamma > 0 and h.vega > 0
    assert extra["delta $ puts"] == f"{h.delta * h.units() * spot:,.0f}"
    assert extra["delta $ stock + puts"] == f"{eng.portfolio.net() + h.delta * h.units() * spot:,.0f}"
    assert extra["gamma $ per 1%"] == f"{h.gamma * h.units() * spot * spot / 100:,.0f}"
    assert extra["vega $ per vol pt"] == f"{h.vega * h.units() / 100:,.0f}"
    assert extra["theta $ per day"] == f"{h.theta * h.units() / 365:,.0f}"
    (row,) = snap.options
    assert row.symbol == "AAA" and row.contracts == h.contracts and row.delta == pytest.approx(h.delta * h.units())
    years = (h.expiry_ms - eng.ts) / MS_PER_YEAR
    assert h.mark == pytest.approx(bsm_price(spot, h.strike, years, 0.0, h.vol, 0.0, put=True), rel=1e-12)
    off = Session(make_engine(), iter(()), MemorySink(), "t").snapshot()
    assert dict(off.risk.extra)["options overlay"].startswith("off")


def test_every_overlay_action_has_a_log_line() -> None:
    base = ProtectivePut(T0, "AAA", "buy", 1, 3.0, 95.0, T0 + 86_400_000, 1.5, 1.4, 0.3, 0.28, -450.0, "why")
    for action, word in (("buy", "HEDGE BUY"), ("sell", "HEDGE SELL"), ("expire", "HEDGE EXPIRED"),
                         ("decline", "HEDGE DECLINED")):
        line = describe(base._replace(action=action))
        assert line is not None and word in line[1] and "why" in line[1]


# ------------------------------------------------------------ replay


def test_a_hedged_session_replays_decision_for_decision() -> None:
    sim = Simulator(5)
    cfg = config_from_dict({"hedge": {"protect": True, "flag_models": ["sentiment"], "min_bars": 20}})
    setup = engine_setup(cfg, sim.spec)
    eng = engine_from_setup(setup)
    sink = MemorySink()
    session = Session(eng, sim, sink, "h", max_events=60_000)

    session.source = with_views(sim, eng, lambda bars: -0.8 if bars % 50 else 0.3)
    session.run()
    rows = []
    fills = {}
    for seq, ev in sink.rows:
        kind, ts, symbol, payload = to_row(ev)
        rows.append((seq, kind, ts, symbol, payload, kind in ("tick", "bar", "headline", "timer",
                                                               "command", "model_signal")))
        if kind == "fill":
            p = json.loads(payload)
            fills[seq] = {"ts": ts, "symbol": symbol, **{k: p[k] for k in ("order_id", "qty", "price", "commission")}}
    kinds = [json.loads(r[4])["action"] for r in rows if r[1] == "protective_put"]
    assert "buy" in kinds and "sell" in kinds
    report = verify(engine_from_setup(setup), rows, fills)
    assert report.verified, report
    # and the payloads replay exactly: one edited put price is caught
    i = next(i for i, r in enumerate(rows) if r[1] == "protective_put")
    p = json.loads(rows[i][4])
    p["price"] *= 1.0001
    rows[i] = (*rows[i][:4], json.dumps(p), rows[i][5])
    assert not verify(engine_from_setup(setup), rows, fills).verified


# ------------------------------------------------------------ the panes


@pytest.mark.asyncio
async def test_the_positions_pane_lists_the_puts_and_the_risk_pane_their_greeks(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rich.text import Text

    from console.app import build_app
    from console.panes.common import KeyedTable
    from core.snapshot import OptionRow
    from tests.test_ui_fakes import FakeSession, snapshot

    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    session = FakeSession(snapshot())
    app = build_app(session, start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one("#puts-table", KeyedTable)
        assert not table.display and not app.query_one("#puts-title").display
        put = OptionRow(7, "AAPL", 3.0, 300.0, 180.5, T0 + 30 * 86_400_000, 2.10, 2.35, 0.31, -96.0, 75.0)
        snap = snapshot(seq=2000, options=(put,))
        snap = replace(snap, risk=replace(snap.risk, extra=(("delta $ puts", "-17,280"),)))
        session.latest = snap
        await pilot.pause(0.25)
        assert table.display and [str(k.value) for k in table.rows] == ["7"]
        assert table.region.height >= 2

        def cell(t: KeyedTable, row: str, col: str) -> str:
            v = t.get_cell(row, col)
            return v.plain if isinstance(v, Text) else str(v)

        assert cell(table, "7", "strike") == "180.50" and cell(table, "7", "delta") == "-96"
        assert cell(table, "7", "pnl") == "75.00" and cell(table, "7", "vol") == "31.00%"
        assert "1 puts" in str(app.query_one("#positions").border_subtitle)
        assert cell(app.query_one("#risk-table", KeyedTable), "extra:delta $ puts", "value") == "-17,280"
        session.latest = snapshot(seq=3000)
        await pilot.pause(0.25)
        assert not table.display


def test_with_books_the_puts_get_their_own_row_and_the_rows_add_up_to_the_nav_change() -> None:
    sim = Simulator(5)
    cfg = config_from_dict({"strategy": {"books": ["momentum", "sentiment"]},
                            "hedge": {"protect": True, "flag_models": ["hmm"], "min_bars": 20}})
    eng = make_engine(cfg, sim.spec)
    session = Session(eng, iter(()), MemorySink(), "b")
    bars = 0
    buys = 0
    for n, ev in enumerate(sim):
        if n > 60_000:
            break
        out = eng.process(ev)
        buys += sum(1 for e in out if isinstance(e, ProtectivePut) and e.action == "buy")
        if isinstance(ev, Timer) and ev.name == "bar":
            bars += 1
            if bars % 25 == 0:
                for sym in list(eng.portfolio.positions):
                    for m in (ModelSignal(ev.ts, sym, "hmm", -0.8 if bars % 50 else 0.2, 0.9, 1.0, 1),
                              ModelSignal(ev.ts, sym, "sentiment", 0.6, 0.9, 1.0, 1)):
                        out = eng.process(m)
                        buys += sum(1 for e in out if isinstance(e, ProtectivePut) and e.action == "buy")
    assert buys > 0
    rows = session.snapshot().books
    assert [r.book for r in rows] == ["momentum", "sentiment", "puts (hedge)"]
    puts = rows[-1]
    assert puts.pnl == pytest.approx(eng.overlay.pnl()) and puts.commissions > 0
    assert puts.pnl == pytest.approx(puts.realized + puts.unrealized - puts.commissions)
    assert sum(r.pnl for r in rows) == pytest.approx(eng.portfolio.nav() - 1_000_000.0, abs=1e-6)


def test_under_a_model_signal_puts_follow_its_view_and_a_long_it_sells_is_not_insured() -> None:
    cfg = config_from_dict({"strategy": {"signal": "ensemble"}, "breakers": {"stale_data_s": 1e9},
                            "hedge": {"protect": True, "flag_models": ["sentiment"], "min_bars": 5}})
    eng = make_engine(cfg)
    assert eng.hedger is not None and eng.hedger.hedge_on_views
    feed = Feed(eng)
    px = 100.0
    for i in range(10):
        px *= 1.0 + (0.004 if i % 2 else -0.003)
        feed.bar(px)
    feed.signal(0.9, model="ensemble")  # go long: the order fills at the next bar
    feed.bar(px)
    assert eng.portfolio.qty("AAA") > 100.0
    feed.signal(-0.8)  # the flag: not acted on until the position-setting view arrives
    feed.bar(px)
    assert feed.puts() == []  # bar close does not buy when a model sets positions
    feed.signal(-0.6, model="ensemble")  # the view turns: the long is being sold
    assert feed.puts() == [] and eng.broker.pending_qty("AAA") < 0
    feed.bar(px)
    feed.signal(0.9, model="ensemble")  # long again (pending), then held
    feed.bar(px)
    feed.signal(0.9, model="ensemble")
    (buy,) = feed.puts("buy")
    assert buy.contracts == math.floor(eng.portfolio.qty("AAA") / 100)


# ------------------------------------------------------------ resume


def test_puts_held_at_a_crash_are_held_after_resume_and_the_whole_log_replays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A session logged to a database stops (as at a crash) while puts are
    held; `console run --resume` rebuilds the overlay from the log, and the
    log, before and after, replays as one run."""
    import os
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from storage import LogWriter

    root = Path(__file__).resolve().parents[1]
    db = tmp_path / "r.db"
    sim = Simulator(5)
    cfg = config_from_dict({"hedge": {"protect": True, "flag_models": ["sentiment"], "min_bars": 20}})
    setup = engine_setup(cfg, sim.spec, {"kind": "sim", "seed": 5})
    writer = LogWriter(db, {"id": "hedged", "config": json.dumps(setup), "seed": 5})
    eng = engine_from_setup(setup)
    session = Session(eng, sim, writer, "hedged", max_events=200_000)

    # stop with puts held, the log as a crash leaves it
    session.source = with_views(sim, eng, lambda bars: -0.8,
                                stop=lambda bars: bool(eng.overlay.holdings) and bars > 100 and bars % 25 == 3)
    session.run()
    writer.close(clean=False)
    held = {h.option_id for h in eng.overlay.holdings.values()}
    assert held
    env = dict(os.environ, CONSOLE_DB=str(db))
    res = subprocess.run([sys.executable, "-m", "console.cli", "run", "--headless", "--resume", "hedged",
                          "--events", "30000"], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    con = sqlite3.connect(db)
    later = {json.loads(p)["option_id"] for (p,) in con.execute(
        "select payload from events where kind = 'protective_put' and seq > ?", (eng.seq,))}
    assert held & later  # a put bought before the stop is sold or expires after the resume
    rep = subprocess.run([sys.executable, "-m", "console.cli", "replay", "hedged"], env=env, cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0 and "verified" in rep.stdout, rep.stdout
