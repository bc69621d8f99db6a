"""The gate's ``venue_funds`` rule: in venue mode, once the venue has
reported a balance, a buy must fit in the free quote balance (with the
commission estimate) and a spot sell beyond the free base balance must be a
reduction of the long the book holds. Free balances come only from the
logged balance reports, so replay rebuilds the same refusals; sessions
without balance reports (sim, paper) never meet the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.build import build_engine
from core.config import EngineConfig, LimitsConfig, StrategyConfig
from core.events import OrderAccepted, OrderRejected, Tick, VenueReport
from core.market.spec import InstrumentSpec, MarketSpec
from tests.conftest import console
from tests.test_venues_recon import keys, replays  # noqa: F401  (keys: a fixture)
from tests.venue_fakes import FakeBinance, live  # noqa: F401  (live: a fixture)

QUIET = EngineConfig(strategy=StrategyConfig(signal="ensemble"),
                     limits=LimitsConfig(max_order_notional=1e9, fat_finger_band=0.5))
CRYPTO = MarketSpec((InstrumentSpec("BTC/USDT", "crypto", 1e-5), InstrumentSpec("AAA", "equity", 1.0),
                     InstrumentSpec("ETH/USDT:USDT", "crypto", 1e-3)), bar_ms=60_000, bars_per_day=1440.0)


def engine(venue: bool = True) -> Any:
    eng = build_engine(QUIET, CRYPTO, venue_exec=venue)
    for sym, px in (("BTC/USDT", 60_000.0), ("AAA", 100.0), ("ETH/USDT:USDT", 3_000.0)):
        eng.process(Tick(1, sym, px, 1.0))
    return eng


def balance(eng: Any, asset: str, free: float, total: float | None = None) -> None:
    eng.process(VenueReport(2, asset, "balance", 0, free if total is None else total, 0.0, 0.0, free, "",
                            "venue balance"))


def order(eng: Any, sym: str, qty: float, px: float) -> OrderRejected | None:
    """None if accepted, else the refusal."""
    before = eng.seq
    eng.submit(sym, qty, px, "operator", "test")
    out = eng.bus.out[-(eng.seq - before):]
    rej = [e for e in out if isinstance(e, OrderRejected)]
    if rej:
        return rej[0]
    assert [e for e in out if isinstance(e, OrderAccepted)]
    return None


def test_no_balance_report_no_rule() -> None:
    for venue in (False, True):
        eng = engine(venue)
        assert order(eng, "BTC/USDT", 0.5, 60_000.0) is None  # no account reported: the paper NAV's say
        assert order(eng, "AAA", -10.0, 100.0) is None
        assert "venue_funds" not in eng.gate.counts


def test_a_buy_must_fit_in_the_free_quote_balance_with_its_commission() -> None:
    eng = engine()
    balance(eng, "USDT", 1_000.0, 1_500.0)  # 500 locked by a resting order: only the free part counts
    rej = order(eng, "BTC/USDT", 0.1, 60_000.0)
    assert rej is not None and rej.rule == "venue_funds"
    assert rej.reason == "USDT: buying 0.1 BTC/USDT needs 6,000.60 USDT, 1,000.00 USDT free at the venue"
    assert rej.value == pytest.approx(6_000.6) and rej.limit == 1_000.0
    assert order(eng, "BTC/USDT", 0.0166, 60_000.0) is None  # 996 + 0.0996 commission
    assert order(eng, "BTC/USDT", 0.0167, 60_000.0) is not None  # 1,002: one cent too many
    balance(eng, "USDT", 50_000.0)  # the next report: the rule follows it
    assert order(eng, "BTC/USDT", 0.1, 60_000.0) is None
    assert eng.gate.counts["venue_funds"] == 2


def test_a_spot_sell_needs_the_base_or_must_reduce_the_long_held() -> None:
    eng = engine()
    balance(eng, "USDT", 10_000.0)
    balance(eng, "BTC", 0.0)
    rej = order(eng, "BTC/USDT", -0.01, 60_000.0)  # spot: nothing to sell
    assert rej is not None and rej.rule == "venue_funds"
    assert rej.reason == "BTC: selling 0.01 BTC/USDT needs 0.01 BTC, 0 BTC free at the venue and the book holds 0"
    assert order(eng, "BTC/USDT", 0.05, 60_000.0) is None
    oid = max(eng.broker.open)
    eng.process(VenueReport(3, "BTC/USDT", "fill", oid, 0.05, 60_000.0, 3.0, 0.0, "v", "FILLED"))
    # the BTC balance is not reported yet (polled later): an exit of the long held still passes
    assert order(eng, "BTC/USDT", -0.05, 60_000.0) is None
    eng2 = engine()
    balance(eng2, "USDT", 10_000.0)
    balance(eng2, "BTC", 0.02)
    assert order(eng2, "BTC/USDT", -0.02, 60_000.0) is None  # the free base covers it
    assert order(eng2, "BTC/USDT", -0.03, 60_000.0) is not None  # beyond both


def test_a_stock_buy_needs_usd_and_a_derivative_is_margin() -> None:
    eng = engine()
    balance(eng, "USD", 500.0)
    rej = order(eng, "AAA", 10.0, 100.0)
    assert rej is not None and rej.reason.startswith("USD: buying 10 AAA needs 1,000.10 USD, 500.00 USD free")
    assert order(eng, "AAA", -5.0, 100.0) is None  # a short of a stock: the venue's margin rules, not ours
    assert order(eng, "ETH/USDT:USDT", 1.0, 3_000.0) is None  # no USDT reported at all: margin, not checked


def test_a_not_finite_free_balance_fails_closed() -> None:
    eng = engine()
    balance(eng, "USDT", float("nan"))
    assert order(eng, "BTC/USDT", 0.0001, 60_000.0) is not None


def test_a_venue_session_with_a_small_account_is_refused_before_the_venue_and_replays(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_venues_recon import rows, run, spec, start

    f, url = live
    f.balances["USDT"] = 50.0  # the engine's paper NAV is 1,000,000: the account is not
    prep = start(tmp_path, spec(url), max_events=110)
    run(prep)
    sid = prep.session.session_id
    got = rows(tmp_path, sid)
    refused = [p for _s, k, p in got if k == "order_rejected" and p["rule"] == "venue_funds"]
    assert refused, "the strategy tried no buy"
    buys = [p["reason"] for p in refused if p["qty"] > 0]
    sells = [p["reason"] for p in refused if p["qty"] < 0]
    assert buys and all(r.startswith("USDT: buying ") and r.endswith(" 50.00 USDT free at the venue") for r in buys)
    assert all(r.startswith("ETH: selling ") and ", 0 ETH free at the venue and the book holds 0" in r
               for r in sells)  # spot: no ETH to sell short
    assert not [k for _s, k, _p in got if k == "order_accepted"]
    assert not any(m == "POST" for m, _p, _q in f.requests)  # nothing the account cannot pay reached the venue
    replays(capsys, tmp_path, sid)


def test_a_venue_session_with_enough_money_buys_and_cannot_sell_short(
        live: tuple[FakeBinance, str], keys: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_venues_recon import rows, run, spec, start

    _f, url = live
    prep = start(tmp_path, spec(url), max_events=110)
    run(prep)
    got = rows(tmp_path, prep.session.session_id)
    assert [p for _s, k, p in got if k == "order_accepted" and p["symbol"] == "BTC/USDT"]
    refused = [p for _s, k, p in got if k == "order_rejected" and p["rule"] == "venue_funds"]
    assert not [p for p in refused if p["qty"] > 0]  # every buy fits in the account
    assert all(p["symbol"] == "ETH/USDT" and p["qty"] < 0 for p in refused)  # spot: no short sale of ETH
    # from the start's logged balance rows (the next poll is balance_s away): replay rebuilds them
    assert prep.session.engine.gate.funds == {"BTC": 0.0, "ETH": 0.0, "USDT": 100_000.0}
    replays(capsys, tmp_path, prep.session.session_id)
