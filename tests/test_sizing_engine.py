"""Sizing inside the engine: ATR volatility targeting (``strategy.vol_estimator
= "atr"``), fractional Kelly with a cap (``strategy.kelly_fraction``), and
the defaults reproducing sessions logged before either existed.

The numbers are cross-checked against ``core.sizing`` (numpy, the research
library). ``fixtures/sizing_sessions.json.xz`` holds sessions on ``market()``
logged by the engine of commit f8b837e (before this change, interpreted);
re-record with ``python -m tests.test_sizing_engine`` from such a checkout.
"""

from __future__ import annotations

import json
import lzma
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.build import engine_from_setup, engine_setup
from core.codec import encode_payload, is_input_kind, kind_of
from dataclasses import replace

from core.config import LEGACY, EngineConfig, LimitsConfig, StrategyConfig, config_from_dict, logged_config
from core.errors import ConfigError
from core.events import Bar, ModelSignal, OrderAccepted, OrderIntent, Tick, Timer
from core.market.spec import InstrumentSpec, MarketSpec
from core.replay import verify
from core.sizing import atr, atr_vol, fractional_kelly, kelly_continuous
from tests.conftest import SPEC, make_engine

MIN = 60_000
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sizing_sessions.json.xz"
# limits wide enough that the gate does not get in the way of the arithmetic
WIDE = LimitsConfig(max_order_notional=1e9, max_position_fraction=1.0, max_sector_fraction=1.0,
                    var_budget=1.0, max_orders_per_minute=100_000)
MARKET = MarketSpec((InstrumentSpec("AAA", "equity", 1.0, "tech"), InstrumentSpec("BBB", "equity", 1.0, "banks"),
                     InstrumentSpec("CCC", "fx", 1000.0)), bar_ms=MIN, bars_per_day=390.0)
ANNUAL = math.sqrt(252.0 * 390.0)


def feed(engine, events):  # type: ignore[no-untyped-def]
    out = []
    for ev in events:
        out.extend(engine.process(ev)[1:])
    return out


def of(kind, out):  # type: ignore[no-untyped-def]
    return [e for e in out if isinstance(e, kind)]


def ohlc(rng: random.Random, prev: float, ret: float) -> tuple[float, float, float, float]:
    """A bar from ``prev`` that closes about ``ret`` away, with a small gap and
    wicks; prices to 4 decimals (a compact fixture)."""
    o = round(prev * (1.0 + rng.gauss(0.0, 0.0003)), 4)
    c = round(prev * (1.0 + ret), 4)
    h = round(max(o, c) * (1.0 + abs(rng.gauss(0.0, 0.001))), 4)
    lo = round(min(o, c) * (1.0 - abs(rng.gauss(0.0, 0.001))), 4)
    return o, h, lo, c


def market(seed: int, bars: int, models: tuple[str, ...] = ()) -> Iterator[object]:
    """Bars on MARKET's three symbols: AAA trends (returns autocorrelated
    +0.3), BBB mean-reverts (-0.3), CCC drifts; each bar closes with a
    ``bar`` timer, then each model in ``models`` gives a view per symbol."""
    rng = random.Random(seed)
    phi = {"AAA": 0.3, "BBB": -0.3, "CCC": 0.0}
    px = {"AAA": 100.0, "BBB": 50.0, "CCC": 11.0}
    last = {s: 0.0 for s in px}
    for i in range(1, bars + 1):
        ts = i * MIN
        for s in px:
            ret = phi[s] * last[s] + rng.gauss(0.0002 if s == "CCC" else 0.0, 0.002)
            o, h, lo, c = ohlc(rng, px[s], ret)
            yield Bar(ts - 1, s, o, h, lo, c, 1e6)
            px[s], last[s] = c, ret
        yield Timer(ts, "", "bar")
        for m in models:
            for s in px:
                yield ModelSignal(ts, s, m, max(-1.0, min(1.0, rng.gauss(0.0, 0.6))), 1.0,
                                  rng.choice((1.0, 1.0, 0.5)), 1)


def logged(cfg: EngineConfig, events: Iterator[object]) -> tuple[dict, list[tuple]]:  # type: ignore[type-arg]
    """(setup, rows) of a session on ``events``, as the session log holds them."""
    setup = engine_setup(cfg, MARKET)
    eng = engine_from_setup(setup)
    rows: list[tuple] = []  # type: ignore[type-arg]
    for ev in events:
        for e in eng.process(ev):
            kind = kind_of(e)  # type: ignore[arg-type]
            rows.append((len(rows) + 1, kind, e.ts, e.symbol, encode_payload(e), is_input_kind(kind)))  # type: ignore[attr-defined, arg-type]
    return setup, rows


def old_sessions() -> dict[str, tuple[EngineConfig, Iterator[object]]]:
    """The sessions in FIXTURE: default config; realised vol targeting on a
    regime-scaled model; two books. None sets a key this change added."""
    return {
        "default": (EngineConfig(), market(5, 90)),
        "vol_realised": (EngineConfig(strategy=StrategyConfig(signal="ensemble", vol_target=0.10)),
                         market(6, 60, ("ensemble",))),
        "books": (EngineConfig(strategy=StrategyConfig(books=("momentum", "forest"), vol_target=0.10)),
                  market(7, 60, ("forest",))),
    }


def record_fixture(path: Path = FIXTURE) -> None:
    out = {}
    for name, (cfg, events) in old_sessions().items():
        setup, rows = logged(cfg, events)
        out[name] = {"setup": setup, "rows": rows}
    path.write_bytes(lzma.compress(json.dumps(out, separators=(",", ":")).encode(), preset=9 | lzma.PRESET_EXTREME))


def bar_series(eng, sym: str, bars: list[tuple[float, float, float, float]], t0: int = 0) -> None:  # type: ignore[no-untyped-def]
    for i, (o, h, lo, c) in enumerate(bars, 1):
        feed(eng, [Bar(t0 + i * MIN - 1, sym, o, h, lo, c, 1e6), Timer(t0 + i * MIN, "", "bar")])


def random_bars(seed: int, n: int, sd: float, start: float = 100.0) -> list[tuple[float, float, float, float]]:
    rng = random.Random(seed)
    out = []
    px = start
    for _ in range(n):
        o, h, lo, c = ohlc(rng, px, rng.gauss(0.0, sd))
        out.append((o, h, lo, c))
        px = c
    return out


def atr_cfg(**kw: object) -> EngineConfig:
    return EngineConfig(strategy=StrategyConfig(signal="ensemble", vol_target=0.10, vol_estimator="atr",
                                                **kw), limits=WIDE)  # type: ignore[arg-type]


# ------------------------------------------------------------ ATR


def test_engine_atr_equals_core_sizing_atr_on_the_same_bars() -> None:
    eng = make_engine(atr_cfg(atr_bars=14))
    bars = random_bars(1, 40, 0.004)
    hs: list[float] = []
    ls: list[float] = []
    cs: list[float] = []
    for i, (o, h, lo, c) in enumerate(bars, 1):
        feed(eng, [Bar(i * MIN - 1, "AAA", o, h, lo, c, 1e6), Timer(i * MIN, "", "bar")])
        hs.append(h)
        ls.append(lo)
        cs.append(c)
        want = atr(hs, ls, cs, 14)
        got = eng.sizer.true_ranges["AAA"].atr()
        if i <= 14:  # 14 ranges need 15 bars
            assert math.isnan(want) and got == 0.0 and eng.sizer.vol_scaling("AAA") == 0.0
            continue
        assert got == pytest.approx(want, rel=0, abs=1e-12)
        assert eng.sizer.atr_vol("AAA") == pytest.approx(atr_vol(hs, ls, cs, 14) * math.sqrt(390.0), rel=1e-12)


def test_engine_atr_from_ticks_uses_each_bars_high_low_and_the_previous_close() -> None:
    """Ticks build the bar: its high and low are the extreme prints, and a gap
    from the previous close counts toward the true range."""
    eng = make_engine(atr_cfg(atr_bars=3))
    rng = random.Random(2)
    hs: list[float] = []
    ls: list[float] = []
    cs: list[float] = []
    px = 100.0
    for i in range(1, 12):
        prints = [px * (1.0 + rng.gauss(0.002 if i % 3 == 0 else 0.0, 0.003)) for _ in range(6)]
        feed(eng, [Tick((i - 1) * MIN + k + 1, "AAA", p, 10.0) for k, p in enumerate(prints)])
        feed(eng, [Timer(i * MIN, "", "bar")])
        hs.append(max(prints))
        ls.append(min(prints))
        cs.append(prints[-1])
        px = prints[-1]
    assert eng.sizer.true_ranges["AAA"].atr() == pytest.approx(atr(hs, ls, cs, 3), rel=0, abs=1e-12)


@pytest.mark.parametrize("sd", [0.001, 0.004])
def test_with_the_atr_estimator_a_position_is_target_over_atr_vol(sd: float) -> None:
    eng = make_engine(atr_cfg(atr_bars=14))
    bars = random_bars(3, 25, sd)
    bar_series(eng, "AAA", bars)
    hs, ls, cs = ([b[k] for b in bars] for k in (1, 2, 3))
    vol = atr_vol(hs, ls, cs, 14) * math.sqrt(390.0)
    out = feed(eng, [ModelSignal(26 * MIN, "AAA", "ensemble", 1.0, 1.0, 1.0, 1)])
    price = cs[-1]
    scale = min(3.0, 0.10 / vol)
    assert eng.sizer.vol_scaling("AAA") == pytest.approx(scale, rel=1e-12)
    assert of(OrderAccepted, out)[0].qty == math.floor(0.10 * 1_000_000.0 / price * eng.sizer.vol_scaling("AAA"))
    st = eng.strategy.states["AAA"]
    realised = st.returns.std() * ANNUAL
    assert abs(0.10 / realised - scale) > 0.01  # the other estimator would size differently
    assert of(OrderIntent, out)[0].reason == f"ensemble v1 +1.00 vol(atr) {scale:.2f}x"


def test_the_atr_estimator_takes_no_position_until_atr_bars_ranges_are_in() -> None:
    eng = make_engine(atr_cfg(atr_bars=14))
    bar_series(eng, "AAA", random_bars(4, 14, 0.002))  # 13 ranges
    assert of(OrderIntent, feed(eng, [ModelSignal(15 * MIN, "AAA", "ensemble", 1.0, 1.0, 1.0, 1)])) == []
    bar_series(eng, "AAA", random_bars(5, 1, 0.002, eng.portfolio.last["AAA"]), t0=15 * MIN)
    assert of(OrderAccepted, feed(eng, [ModelSignal(17 * MIN, "AAA", "ensemble", 1.0, 1.0, 1.0, 1)]))


def test_the_realised_estimator_reads_as_before_with_no_sizing_note() -> None:
    eng = make_engine(EngineConfig(strategy=StrategyConfig(signal="ensemble", vol_target=0.10), limits=WIDE))
    bar_series(eng, "AAA", random_bars(3, 25, 0.002))
    assert eng.sizer.true_ranges == {}  # no ATR kept when it is not used
    out = feed(eng, [ModelSignal(26 * MIN, "AAA", "ensemble", 1.0, 1.0, 0.5, 1)])
    assert of(OrderIntent, out)[0].reason == "ensemble v1 +1.00 x0.50"


# ------------------------------------------------------------ Kelly


def kelly_cfg(**kw: object) -> EngineConfig:
    kw.setdefault("kelly_fraction", 0.5)
    kw.setdefault("kelly_bars", 30)
    return EngineConfig(strategy=StrategyConfig(signal="ensemble", rebalance_band=0.01, **kw),  # type: ignore[arg-type]
                        limits=WIDE)


def drive(eng, rets: list[float], view: float = 1.0, t0: int = 0, px: float = 100.0) -> list[object]:  # type: ignore[no-untyped-def]
    """A bar per return (close = previous close x (1 + r)), each followed by
    the model's ``view``; returns the decisions."""
    out = []
    for i, r in enumerate(rets, 1):
        ts = t0 + i * MIN
        c = px * (1.0 + r)
        out += feed(eng, [Bar(ts - 1, "AAA", px, max(px, c), min(px, c), c, 1e6), Timer(ts, "", "bar"),
                          ModelSignal(ts, "AAA", "ensemble", view, 1.0, 1.0, 1)])
        px = c
    return out


def kelly_of(rets: list[float], fraction: float, cap: float) -> float:
    """core.sizing's fractional Kelly on annualised mu and sigma of ``rets``."""
    r = np.asarray(rets)
    mu, sigma = float(r.mean()) * ANNUAL ** 2, float(r.std(ddof=1)) * ANNUAL
    return fractional_kelly(kelly_continuous(mu, sigma), fraction, cap).value


def edge(n: int, mean: float, seed: int = 9) -> list[float]:
    rng = random.Random(seed)
    return [mean + (0.01 if i % 2 else -0.01) + rng.gauss(0.0, 0.0001) for i in range(n)]


@pytest.mark.parametrize(("cap", "capped"), [(1.0, False), (0.3, True)])
def test_a_signal_with_an_edge_gets_kelly_fraction_times_f_star_capped(cap: float, capped: bool) -> None:
    eng = make_engine(kelly_cfg(kelly_cap=cap))
    rets = edge(31, 0.0001)  # the first bar has no return; 30 follow
    out = drive(eng, rets)
    k = kelly_of(rets[1:], 0.5, cap)
    assert (k == cap) is capped and 0.0 < k <= cap
    got = eng.sizer.kelly_scaling("ensemble", "AAA")
    assert got == pytest.approx(k, rel=1e-9)
    intents = of(OrderIntent, out)
    assert len(intents) == 1  # only once the 30th return is in
    full = 0.10 * 1_000_000.0 / eng.portfolio.last["AAA"]
    assert intents[0].qty == math.floor(full * got) and intents[0].qty < full * (cap if capped else 0.6)
    assert intents[0].reason == f"ensemble v1 +1.00 kelly {k:.2f}"


def test_kelly_warm_up_takes_no_exposure_until_kelly_bars_returns_are_in() -> None:
    eng = make_engine(kelly_cfg())
    rets = edge(40, 0.0001)
    out = drive(eng, rets[:30])  # 29 returns
    assert of(OrderIntent, out) == [] and eng.sizer.kelly_scaling("ensemble", "AAA") == 0.0
    out = drive(eng, rets[30:31], t0=30 * MIN, px=eng.portfolio.last["AAA"])
    assert len(of(OrderAccepted, out)) == 1


def test_a_signal_with_no_edge_gets_no_exposure_and_its_exits_go_through() -> None:
    eng = make_engine(kelly_cfg())
    drive(eng, edge(31, 0.0001))
    # the same view on a market that now goes against it: the mean over the
    # window turns negative, so f* < 0: the long is sold, and none is bought again
    out = drive(eng, edge(40, -0.003, seed=10), t0=31 * MIN, px=eng.portfolio.last["AAA"])
    intents = of(OrderIntent, out)
    first_fill = next(e for e in out if type(e).__name__ == "Fill")
    assert first_fill.qty > 0  # the long from the edge was taken
    exits = [i for i, x in enumerate(intents) if x.reason.endswith("kelly 0.00")]
    assert exits and intents[exits[0]].qty < 0
    assert all(x.qty < 0 for x in intents[exits[0]:]) and eng.portfolio.qty("AAA") == 0.0
    assert eng.sizer.kelly_scaling("ensemble", "AAA") == 0.0


def test_a_short_view_on_a_falling_market_has_an_edge() -> None:
    """The returns Kelly sees are those of holding the view's sign (not its
    size: the view scales the position once, not f* too)."""
    eng = make_engine(kelly_cfg())
    rets = edge(31, -0.0001)
    out = drive(eng, rets, view=-0.5)
    k = eng.sizer.kelly_scaling("ensemble", "AAA")
    assert k == pytest.approx(kelly_of([-r for r in rets[1:]], 0.5, 1.0), rel=1e-9) and k > 0.0
    full = 0.10 * 1_000_000.0 / eng.portfolio.last["AAA"]
    assert of(OrderIntent, out)[0].qty == -math.floor(0.5 * 1.0 * (full * k))


def test_momentum_kelly_returns_hold_last_bars_view_over_this_bars_return() -> None:
    """No look-ahead: the return of bar t is credited to the sign of the
    view logged at bar t - 1; bars after a flat view add nothing."""
    eng = make_engine(EngineConfig(strategy=StrategyConfig(kelly_fraction=0.5, kelly_bars=500)), MARKET)
    views: dict[str, float] = {}
    closes: dict[str, float] = {}
    want: dict[str, list[float]] = {"AAA": [], "BBB": [], "CCC": []}
    for ev in market(3, 80):
        for e in eng.process(ev)[1:]:
            if type(e).__name__ == "BarClosed":
                prev = closes.get(e.symbol)
                if prev is not None and views.get(e.symbol, 0.0) != 0.0:
                    want[e.symbol].append((e.close / prev - 1.0) * (1.0 if views[e.symbol] > 0 else -1.0))
                closes[e.symbol] = e.close
            elif type(e).__name__ == "Signal":
                views[e.symbol] = e.value
    for sym, rets in want.items():
        w = eng.sizer.kelly_returns["momentum"][sym]
        assert len(rets) > 30 and list(w.values[:w.count]) == pytest.approx(rets, rel=0, abs=1e-15)


def test_kelly_sizes_each_book_by_its_own_edge() -> None:
    """Two books with opposite views on a rising market: without Kelly they
    cancel; with it the book with the edge keeps its half, the other gets none."""
    cfg = EngineConfig(strategy=StrategyConfig(books=("forest", "pairs"), rebalance_band=0.01, kelly_fraction=0.5,
                                               kelly_bars=30), limits=WIDE)
    eng = make_engine(cfg)
    rets = edge(31, 0.0001)
    px = 100.0
    out = []
    for i, r in enumerate(rets, 1):
        c = px * (1.0 + r)
        out += feed(eng, [Bar(i * MIN - 1, "AAA", px, max(px, c), min(px, c), c, 1e6), Timer(i * MIN, "", "bar"),
                          ModelSignal(i * MIN, "AAA", "forest", 1.0, 1.0, 1.0, 1),
                          ModelSignal(i * MIN, "AAA", "pairs", -1.0, 1.0, 1.0, 1)])
        px = c
    k = eng.sizer.kelly_scaling("forest", "AAA")
    assert k == pytest.approx(kelly_of(rets[1:], 0.5, 1.0), rel=1e-9) and eng.sizer.kelly_scaling("pairs", "AAA") == 0.0
    intents = of(OrderIntent, out)
    assert len(intents) == 1 and intents[0].qty == math.floor(0.5 * 1.0 * (0.10 * 1_000_000.0 / px) * k)
    assert intents[0].reason.endswith(f"kelly forest {k:.2f} pairs 0.00")


# ------------------------------------------------------------ replay


def fixture_sessions() -> dict[str, dict]:  # type: ignore[type-arg]
    data: dict[str, dict] = json.loads(lzma.decompress(FIXTURE.read_bytes()))  # type: ignore[type-arg]
    return data


@pytest.mark.parametrize("name", ["default", "vol_realised", "books"])
def test_sessions_logged_before_this_change_replay_exactly(name: str) -> None:
    s = fixture_sessions()[name]
    rows = [tuple(r) for r in s["rows"]]
    report = verify(engine_from_setup(s["setup"]), rows, None)  # type: ignore[arg-type]
    assert report.verified, report.divergence
    assert report.events == len(rows) and report.trades > 0


def test_the_fixture_was_logged_from_these_inputs_and_configs() -> None:
    """The fixture's inputs and configs are what old_sessions() makes now,
    so the replay above checks today's defaults, not a stale setup."""
    stored = fixture_sessions()
    for name, (cfg, events) in old_sessions().items():
        setup = engine_setup(cfg, MARKET)
        old = stored[name]["setup"]
        # keys added since (see core.config.LEGACY) read as what that session ran under;
        # reduce_on's default changed from ("var_limit",) when on_trip took over
        then = logged_config(old["engine"])
        now = replace(cfg, breakers=replace(cfg.breakers, reduce_on=("var_limit",), **LEGACY["breakers"]),
                      broker=replace(cfg.broker, **LEGACY["broker"]), risk=replace(cfg.risk, **LEGACY["risk"]))
        assert then == now
        assert old["market"] == setup["market"]
        inputs = [tuple(r[1:5]) for r in stored[name]["rows"] if r[5]]
        assert inputs == [(kind_of(e), e.ts, e.symbol, encode_payload(e)) for e in events]  # type: ignore[attr-defined, arg-type]


@pytest.mark.parametrize(("kw", "models"), [
    ({"kelly_cap": 2.0}, ()),
    ({"books": ("momentum", "forest")}, ("forest",)),
], ids=["momentum", "books"])
def test_a_session_with_atr_and_kelly_replays_decision_for_decision(kw: dict[str, object],
                                                                     models: tuple[str, ...]) -> None:
    cfg = StrategyConfig(vol_target=0.10, vol_estimator="atr", kelly_fraction=0.5, kelly_bars=30, **kw)  # type: ignore[arg-type]
    setup, rows = logged(EngineConfig(strategy=cfg), market(8, 200, models))
    reasons = [json.loads(r[4])["reason"] for r in rows if r[1] == "order_intent"]
    assert any("vol(atr)" in x and "kelly" in x for x in reasons)
    report = verify(engine_from_setup(setup), rows, None)  # type: ignore[arg-type]
    assert report.verified, report.divergence
    assert report.trades > 0


# ------------------------------------------------------------ config


@pytest.mark.parametrize(("key", "value", "words"), [
    ("vol_estimator", "garch", "strategy.vol_estimator must be realised or atr"),
    ("atr_bars", 0, "strategy.atr_bars must be >= 1"),
    ("kelly_fraction", 1.5, "strategy.kelly_fraction must be in [0, 1]"),
    ("kelly_fraction", -0.1, "strategy.kelly_fraction must be in [0, 1]"),
    ("kelly_cap", 0.0, "strategy.kelly_cap must be in (0, 10]"),
    ("kelly_bars", 1, "strategy.kelly_bars must be >= 2"),
])
def test_bad_sizing_settings_are_one_line_errors_naming_the_field(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"strategy": {"vol_target": 0.1, key: value}})
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_the_atr_estimator_without_a_vol_target_is_refused() -> None:
    with pytest.raises(ConfigError, match="strategy.vol_estimator = 'atr' needs strategy.vol_target > 0"):
        config_from_dict({"strategy": {"vol_estimator": "atr"}})


def test_defaults_leave_sizing_off() -> None:
    eng = make_engine(EngineConfig(), SPEC)
    assert not eng.sizer.atr_on and eng.sizer.kelly_sources == [] and eng.p.atr_bars == 14 and eng.p.kelly_cap == 1.0


if __name__ == "__main__":
    record_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
