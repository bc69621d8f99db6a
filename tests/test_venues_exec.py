"""Venue mode: accepted orders go to the venue (the fake Binance server on
127.0.0.1) after they are durable in the log, and only the venue's reports,
logged as ``venue_report`` inputs, fill them; replay proves the session
without the venue. Engine-level tests feed VenueReport inputs directly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.build import build_engine
from core.config import EngineConfig, LimitsConfig, StrategyConfig
from core.events import Fill, OrderCancelled, OrderRejected, Tick, VenueReport
from tests.conftest import SPEC, console
from tests.venue_fakes import KEY_ENV, FakeBinance, live  # noqa: F401  (live: a fixture)
QUIET = EngineConfig(strategy=StrategyConfig(signal="ensemble"),
                     limits=LimitsConfig(max_order_notional=1e9, fat_finger_band=0.5))


def venue_engine():  # type: ignore[no-untyped-def]
    eng = build_engine(QUIET, SPEC, venue_exec=True)
    eng.process(Tick(1, "AAA", 100.0, 1.0))
    eng.submit("AAA", 10.0, 100.0, "operator", "buy")
    return eng, next(iter(eng.broker.open))


def of(kind, out):  # type: ignore[no-untyped-def]
    return [e for e in out if isinstance(e, kind)]


def test_in_venue_mode_prints_never_fill_an_order() -> None:
    eng, oid = venue_engine()
    out = eng.process(Tick(2, "AAA", 100.0, 1.0))
    assert not of(Fill, out) and oid in eng.broker.open
    paper = build_engine(QUIET, SPEC)
    paper.process(Tick(1, "AAA", 100.0, 1.0))
    paper.submit("AAA", 10.0, 100.0, "operator", "buy")
    assert of(Fill, paper.process(Tick(2, "AAA", 100.0, 1.0)))


def test_venue_fills_book_at_the_venue_price_and_fee_partial_then_whole() -> None:
    eng, oid = venue_engine()
    out = eng.process(VenueReport(3, "AAA", "fill", oid, 4.0, 100.5, 0.4, 6.0, "v1", "PARTIALLY_FILLED"))
    (f,) = of(Fill, out)
    assert (f.qty, f.price, f.commission, f.remaining) == (4.0, 100.5, 0.4, 6.0)
    assert eng.portfolio.qty("AAA") == 4.0 and oid in eng.broker.open
    out = eng.process(VenueReport(4, "AAA", "fill", oid, 6.0, 100.7, 0.6, 0.0, "v1", "FILLED"))
    assert of(Fill, out)[0].remaining == 0.0 and oid not in eng.broker.open
    assert eng.portfolio.qty("AAA") == 10.0 and eng.portfolio.commissions == pytest.approx(1.0)


def test_a_venue_reject_ends_the_order_and_a_late_fill_is_still_booked() -> None:
    eng, oid = venue_engine()
    out = eng.process(VenueReport(3, "AAA", "reject", oid, 0.0, 0.0, 0.0, 0.0, "", "insufficient balance"))
    (r,) = of(OrderRejected, out)
    assert r.rule == "venue" and "insufficient balance" in r.reason and oid not in eng.broker.open
    eng2, oid2 = venue_engine()
    eng2.process(VenueReport(3, "AAA", "cancel", oid2, 0.0, 0.0, 0.0, 0.0, "v", "CANCELED"))
    out = eng2.process(VenueReport(4, "AAA", "fill", oid2, 10.0, 99.0, 0.1, 0.0, "v", "FILLED"))
    assert of(Fill, out) and eng2.portfolio.qty("AAA") == 10.0  # the position is real: booked


def test_a_venue_session_sends_durable_orders_logs_the_venue_fills_and_replays(
        live: tuple[FakeBinance, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    f, url = live
    for k, v in KEY_ENV.items():
        monkeypatch.setenv(k, v)
    cfg = tmp_path / "c.toml"
    cfg.write_text("initial_cash = 100000.0\n[signals]\nmodels = []\n[strategy]\nvol_scale = 0.000001\n"
                   "[limits]\nmax_position_fraction = 0.5\nmax_order_notional = 1e9\n")
    db = tmp_path / "v.db"
    rc, out, err = console(capsys, "run", "--headless", "--venue", "binance", "--mode", "venue",
                           "--symbols", "BTC/USDT,ETH/USDT", "--venue-url", url, "--events", "110",
                           "--config", str(cfg), "--db", str(db))
    assert rc == 0, err
    sid = out.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    rows = con.execute("select seq, kind, payload from events where session = ? order by seq", [sid]).fetchall()
    accepted = {seq: json.loads(p) for seq, kind, p in rows if kind == "order_accepted"}
    assert accepted, "the strategy sent no order"
    sent = {o["clientOrderId"]: o for o in f.orders.values()}
    from core.venues.base import client_order_id

    assert set(sent) == {client_order_id(sid, seq) for seq in accepted}  # each order once, by its seq
    reports = [json.loads(p) for _, kind, p in rows if kind == "venue_report"]
    fills = [json.loads(p) for _, kind, p in rows if kind == "fill"]
    assert {r["kind"] for r in reports} >= {"ack", "fill"} and fills
    venue_fills = [r for r in reports if r["kind"] == "fill"]
    assert [(x["order_id"], x["qty"], x["price"]) for x in fills] == \
        [(r["order_id"], r["qty"], r["price"]) for r in venue_fills]
    # every order was in the log before the venue saw it: its acceptance precedes its report
    first_report = {}
    for seq, kind, p in rows:
        if kind == "venue_report":
            first_report.setdefault(json.loads(p)["order_id"], seq)
    assert all(first_report[oid] > oid for oid in first_report)
    con.close()
    f.stop()  # replay needs no venue
    rc, out, err = console(capsys, "replay", sid, "--db", str(db))
    assert rc == 0 and "verified" in out, out + err
