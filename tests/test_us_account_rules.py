"""Seed 002's US-account rules (core/gate.py UsAccountRules): the pattern-day-
trader refusal at, below and above its limits, and wash-sale flags inside and
outside their window; both off by default, turned on by [limits]."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.broker import BrokerFill, OpenOrder
from core.build import build_engine
from core.config import config_from_dict
from core.errors import ConfigError
from core.gate import Gate, OrderContext, UsAccountRules, business_day
from core.market.spec import InstrumentSpec, MarketSpec

DAY = 86_400_000
MON = 4 * DAY + 14 * 3_600_000  # 1970-01-05 14:00 UTC, a Monday
BIG = 1e18


def gate(**us: object) -> Gate:
    g = Gate(BIG, BIG, BIG, BIG, BIG, BIG, 10**9, [], -1, -1)
    g.us.pdt = True
    for k, v in us.items():
        setattr(g.us, k, v)
    return g


def order(qty: float, position: float, ts: int, nav: float = 20_000.0, symbol: str = "AAA") -> OrderContext:
    return OrderContext("ACTIVE", symbol, qty, 100.0, 100.0, position, 0.0, False, "strategy", nav, 0.0,
                        ts, 0.0, 0.0, 0.0)


def day_trade(us: UsAccountRules, ts: int, oid: int, symbol: str = "AAA") -> None:
    """Buy 10 and sell them back at ``ts`` (two orders, the second a day trade)."""
    us.on_fill(ts, symbol, oid, 0.0, 10.0, 0.0)
    us.on_fill(ts + 1, symbol, oid + 1, 10.0, -10.0, 5.0)


def rule(g: Gate, o: OrderContext) -> str:
    r = g.check(o)
    return "" if r is None else r.rule


def test_business_days_skip_weekends() -> None:
    assert business_day(MON + DAY) - business_day(MON) == 1
    assert business_day(MON + 7 * DAY) - business_day(MON) == 5
    assert business_day(MON + 5 * DAY) == business_day(MON + 7 * DAY)  # Saturday counts as the Monday after


def test_the_fifth_day_trade_in_five_business_days_is_refused_the_fourth_is_not() -> None:
    g = gate()
    for k in range(3):
        day_trade(g.us, MON + k * DAY, 10 * k)
    g.us.on_fill(MON + 3 * DAY, "AAA", 100, 0.0, 10.0, 0.0)  # Thursday: opened, not yet closed
    assert rule(g, order(-10.0, 10.0, MON + 3 * DAY + 5)) == ""  # below the limit: the 4th passes
    g.us.on_fill(MON + 3 * DAY + 5, "AAA", 101, 10.0, -10.0, 0.0)
    assert g.us.day_trades_in_window(MON + 3 * DAY + 9) == 4
    g.us.on_fill(MON + 4 * DAY, "AAA", 200, 0.0, 10.0, 0.0)  # Friday
    r = g.check(order(-10.0, 10.0, MON + 4 * DAY + 5))
    assert r is not None and r.rule == "pdt" and (r.value, r.limit) == (5.0, 4.0)  # at the limit: refused
    assert "pattern day trader" in r.reason
    assert rule(g, order(-10.0, 10.0, MON + 4 * DAY + 5, nav=24_999.99)) == "pdt"  # just under $25k
    assert rule(g, order(5.0, 10.0, MON + 4 * DAY + 5)) == ""  # adding is not a day trade
    assert rule(g, order(-10.0, 10.0, MON + 4 * DAY + 5, symbol="BBB")) == ""  # BBB not opened today
    assert g.us.day_trades_in_window(MON + 4 * DAY + 5) == 4
    assert rule(g, order(-10.0, 10.0, MON + 4 * DAY + 5, nav=25_000.0)) == ""  # equity at $25k: allowed,
    assert g.us.day_trades_in_window(MON + 4 * DAY + 5) == 5  # and it counts from the moment it passed
    g.us.on_fill(MON + 4 * DAY + 6, "AAA", 201, 10.0, -10.0, 0.0)  # its fill: counted once, not twice
    assert g.us.day_trades_in_window(MON + 4 * DAY + 6) == 5 and g.us.reserved == []
    # the next Monday: Monday's day trade has left the window (4 left: Tuesday..Friday)
    g.us.on_fill(MON + 7 * DAY, "AAA", 300, 0.0, 10.0, 0.0)
    assert g.us.day_trades_in_window(MON + 7 * DAY) == 4
    assert rule(g, order(-10.0, 10.0, MON + 7 * DAY + 5)) == "pdt"
    g.us.on_fill(MON + 8 * DAY, "AAA", 400, 0.0, 10.0, 0.0)  # Tuesday: Tuesday's has left too
    assert g.us.day_trades_in_window(MON + 8 * DAY) == 3
    assert rule(g, order(-10.0, 10.0, MON + 8 * DAY + 5)) == ""


def test_a_position_held_overnight_is_not_a_day_trade_and_partial_fills_count_once() -> None:
    g = gate(pdt_max_day_trades=1)
    g.us.on_fill(MON, "AAA", 1, 0.0, 10.0, 0.0)
    assert rule(g, order(-10.0, 10.0, MON + DAY)) == ""  # opened yesterday
    g.us.on_fill(MON + DAY, "AAA", 2, 10.0, -4.0, 0.0)
    g.us.on_fill(MON + DAY + 1, "AAA", 2, 6.0, -6.0, 0.0)
    assert g.us.day_trades_in_window(MON + DAY) == 0
    g.us.on_fill(MON + DAY + 2, "AAA", 3, 0.0, -10.0, 0.0)  # a short opened and covered in two fills
    g.us.on_fill(MON + DAY + 3, "AAA", 4, -10.0, 4.0, 0.0)
    g.us.on_fill(MON + DAY + 4, "AAA", 4, -6.0, 6.0, 0.0)
    assert g.us.day_trades_in_window(MON + DAY) == 1
    g.us.on_fill(MON + DAY + 5, "AAA", 5, 0.0, 10.0, 0.0)
    assert rule(g, order(-10.0, 10.0, MON + DAY + 6)) == "pdt"  # limit 1: the second is refused


def test_day_trades_follow_the_sequence_rule_and_a_parent_s_children_reserve_once() -> None:
    g = gate()
    us = g.us
    us.on_fill(MON, "AAA", 1, 0.0, 100.0, 0.0)  # buy 100, sell 50, sell 50: one day trade
    us.on_fill(MON + 1, "AAA", 2, 100.0, -50.0, 0.0)
    us.on_fill(MON + 2, "AAA", 3, 50.0, -50.0, 0.0)
    assert us.day_trades_in_window(MON) == 1
    us.on_fill(MON + 3, "BBB", 4, 0.0, 10.0, 0.0)  # buy, sell, buy, sell: two
    us.on_fill(MON + 4, "BBB", 5, 10.0, -10.0, 0.0)
    us.on_fill(MON + 5, "BBB", 6, 0.0, 10.0, 0.0)
    us.on_fill(MON + 6, "BBB", 7, 10.0, -10.0, 0.0)
    assert us.day_trades_in_window(MON) == 3
    us.on_fill(MON + 7, "CCC", 8, 0.0, 100.0, 0.0)
    for _ in range(3):  # a closing parent, then its children, each through the gate
        assert rule(g, order(-25.0, 100.0, MON + 8, symbol="CCC")) == ""
    assert us.day_trades_in_window(MON) == 4 and len(us.reserved) == 1
    us.on_fill(MON + 9, "CCC", 9, 100.0, -25.0, 0.0)
    assert us.day_trades_in_window(MON) == 4 and us.reserved == []


def test_pdt_off_refuses_nothing_and_records_nothing() -> None:
    g = Gate(BIG, BIG, BIG, BIG, BIG, BIG, 10**9, [], -1, -1)
    for k in range(6):
        day_trade(g.us, MON + k, 10 * k)
    g.us.on_fill(MON, "AAA", 99, 0.0, 10.0, 0.0)
    assert g.us.day_trades == [] and rule(g, order(-10.0, 10.0, MON + 10)) == ""


def test_a_loss_rebought_within_30_days_is_flagged_not_on_day_31_nor_after_a_gain() -> None:
    us = UsAccountRules()
    us.wash_sale = True
    us.on_fill(MON, "AAA", 1, 0.0, 10.0, 0.0)
    us.on_fill(MON + DAY, "AAA", 2, 10.0, -10.0, -50.0)  # a loss
    us.on_fill(MON + 32 * DAY, "AAA", 3, 0.0, 10.0, 0.0)  # 31 days later: above the window
    us.on_fill(MON + 33 * DAY, "AAA", 4, 10.0, -10.0, -20.0)  # another loss
    us.on_fill(MON + 63 * DAY, "AAA", 5, 0.0, 10.0, 0.0)  # at the window: 30 days to the ms
    us.on_fill(MON + 64 * DAY, "AAA", 6, 10.0, -10.0, 30.0)  # a gain
    us.on_fill(MON + 65 * DAY, "AAA", 7, 0.0, 10.0, 0.0)  # not a wash sale
    us.on_fill(MON + 66 * DAY, "AAA", 8, 10.0, -10.0, -5.0)  # a loss on a long, then a short opened:
    us.on_fill(MON + 67 * DAY, "AAA", 9, 0.0, -10.0, 0.0)  # not a repurchase
    assert [(w.loss, w.rebuy_ts - w.loss_ts, w.rebuy_order) for w in us.wash_sales] == [(-20.0, 30 * DAY, 5)]
    assert rule(gate(), order(10.0, 0.0, MON)) == ""  # never a refusal


def test_config_turns_the_rules_on_and_checks_them_in_one_line() -> None:
    spec = MarketSpec((InstrumentSpec("AAA", "equity", 1.0),), 60_000, 390.0)
    off = build_engine(config_from_dict({}), spec).router.gate.us
    assert (off.pdt, off.wash_sale) == (False, False)
    cfg = config_from_dict({"initial_cash": 20_000.0, "limits": {"pdt": True, "pdt_max_day_trades": 2,
                                                                  "wash_sale": True, "wash_sale_days": 10}})
    eng = build_engine(cfg, spec)
    us = eng.router.gate.us
    assert (us.pdt, us.pdt_max_day_trades, us.wash_sale, us.wash_sale_days) == (True, 2, True, 10)
    eng.bus.ts = MON  # fills land through Engine.book_fill's hook
    eng.book_fill(BrokerFill(OpenOrder(1, "AAA", 10.0, 100.0, "strategy", MON), 10.0, 100.0, 0.0, 0.0))
    eng.bus.ts = MON + 60_000
    eng.book_fill(BrokerFill(OpenOrder(2, "AAA", -10.0, 99.0, "strategy", MON), -10.0, 99.0, 0.0, 0.0))
    eng.bus.ts = MON + 120_000
    eng.book_fill(BrokerFill(OpenOrder(3, "AAA", 10.0, 99.0, "strategy", MON), 10.0, 99.0, 0.0, 0.0))
    assert us.day_trades_in_window(MON) == 1 and [w.rebuy_order for w in us.wash_sales] == [3]
    with pytest.raises(ConfigError) as e:
        config_from_dict({"limits": {"pdt_max_day_trades": -1, "wash_sale_days": 0, "pdt_min_equity": -5.0}})
    msg = str(e.value)
    assert "\n" not in msg and "limits.pdt_max_day_trades" in msg and "limits.wash_sale_days" in msg
    assert "limits.pdt_min_equity" in msg


def test_on_the_simulator_pdt_refuses_past_the_limit_and_the_report_s_wash_sales_match_the_engine_s() -> None:
    from core.events import Fill, OrderRejected, PositionChanged
    from core.gate import WashSaleLog
    from core.market.sim import Simulator

    cfg = config_from_dict({"initial_cash": 20_000.0, "limits": {"pdt": True, "wash_sale": True}})
    sim = Simulator(5, bar_ms=2000)
    eng = build_engine(cfg, sim.spec, 5)
    log, rejected, n = WashSaleLog(30), 0, 0
    for ev in sim:
        n += 1
        if n > 30_000:
            break
        for o in eng.process(ev):
            if isinstance(o, Fill):
                log.add("fill", o.ts, o.symbol, o.order_id, o.qty, 0.0)
            elif isinstance(o, PositionChanged):
                log.add("position", o.ts, o.symbol, 0, o.qty, o.realized)
            elif isinstance(o, OrderRejected) and o.rule == "pdt":
                rejected += 1
    us = eng.router.gate.us
    assert len(us.day_trades) == 4 and rejected > 0  # the fifth never happened
    live = [(w.symbol, w.loss_ts, w.loss, w.rebuy_ts, w.rebuy_order) for w in us.wash_sales]
    assert live and live == [(w.symbol, w.loss_ts, w.loss, w.rebuy_ts, w.rebuy_order) for w in log.rules.wash_sales]


def test_console_report_lists_wash_sales_when_the_config_turns_them_on(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    db, cfg = tmp_path / "c.db", tmp_path / "us.toml"
    cfg.write_text("initial_cash = 20000.0\n[limits]\nwash_sale = true\n")
    res = run_cli("run", "--headless", "--seed", "5", "--events", "20000", "--config", str(cfg), db=db)
    assert res.returncode == 0, res.stderr
    sid = res.stdout.strip().splitlines()[-1]
    out = run_cli("report", sid, "--out", str(tmp_path / "r.html"), db=db, COLUMNS="200")
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "wash sales (flagged)" in ln)
    assert int(line.split()[-3].rstrip(",")) >= 1 and "bought back UTC" in out.stdout
    plain = tmp_path / "p.db"
    res = run_cli("run", "--headless", "--seed", "5", "--events", "2000", db=plain)
    out = run_cli("report", res.stdout.strip().splitlines()[-1], "--out", str(tmp_path / "p.html"), db=plain)
    assert out.returncode == 0 and "wash sales" not in out.stdout  # off: no line
