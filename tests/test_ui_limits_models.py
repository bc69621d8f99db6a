"""Issue 18: set a limit from the console (key l, the palette) and the live vs
validation heatmap per model (key v), with Pilot; and the snapshot figures
they read, from a real engine."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from console.app import build_app
from console.model_heat import HIGH, LOW, heat, model_rows
from core.build import build_engine
from core.config import BreakersConfig, EngineConfig
from core.events import ModelActivated, ModelSignal, Timer
from core.market.sim import Simulator
from core.session import MemorySink, Session
from core.snapshot import ModelRow
from core.view import View
from tests.test_ui_fakes import FakeSession, snapshot

SIZE = (160, 48)
LIMITS = (("max_order_notional", 250_000.0, 250_000.0), ("var_budget", 0.08, 0.08),
          ("daily_loss", 0.05, 0.03), ("consecutive_losses", 20.0, 20.0))
MODELS = (ModelRow("forest", 3, 1.40, 1.55, 100, 100, "ARMED", 0.98, (("AAPL", 2.5), ("MSFT", -0.8))),
          ModelRow("lstm", 2, 2.00, 0.40, 100, 100, "TRIPPED", 1.40),
          ModelRow("sgd", 1, 0.90, math.nan, 37, 100, "ARMED", 0.63))


def snap(**kw: object):  # type: ignore[no-untyped-def]
    return replace(snapshot(), limits=LIMITS, models=MODELS, **kw)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_l_sets_a_limit_with_a_checked_value_and_a_typed_reason():
    session = FakeSession(snap())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "SetLimitScreen"
        await pilot.press(*"2", "enter")  # max_order_notional is preselected; no reason yet: nothing sent
        await pilot.pause()
        assert session.submits == [] and pilot.app.screen.focused.id == "limit-reason"
        await pilot.press(*"halt desk asked", "enter")  # h is a letter here
        await pilot.pause()
    assert session.submits == [("set_limit", "max_order_notional=2", "operator key l: halt desk asked")]


@pytest.mark.asyncio
async def test_a_value_the_engine_would_refuse_is_answered_at_once_and_not_sent():
    session = FakeSession(snap())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        pilot.app.set_limit_for("daily_loss", "palette")
        await pilot.pause()
        assert pilot.app.screen.query_one("#limit-name").value == "daily_loss"
        await pilot.press(*"150%", "tab", *"why", "enter")  # 1.5: over (0, 1]
        await pilot.pause()
        assert session.submits == [] and type(pilot.app.screen).__name__ == "SetLimitScreen"
        value = pilot.app.screen.query_one("#limit-value")
        value.value = "4%"
        await pilot.pause()
        await pilot.press("tab", "enter")
        await pilot.pause()
    assert session.submits == [("set_limit", "daily_loss=4%", "operator palette: why")]


@pytest.mark.asyncio
async def test_the_palette_offers_each_limit_with_its_value_and_the_configs():
    session = FakeSession(snap())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.pause()
        got = {t: h for t, _, h in pilot.app.limit_commands()}
        assert got["Set limit daily_loss"].startswith("now 5.00% (config 3.00%)")
        assert got["Set limit var_budget"].startswith("now 8.00%;")
        finished = FakeSession(snap(finished=True))
        pilot.app.session = finished
        assert pilot.app.limit_commands() == []


@pytest.mark.asyncio
async def test_an_engine_without_limits_in_its_snapshot_gets_nothing():
    session = FakeSession(snapshot())  # limits=()
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ != "SetLimitScreen"
    assert session.submits == []


def test_the_console_sends_who_and_the_engine_logs_old_to_new() -> None:
    """The real Session: the app's send_limit reaches the engine with who."""
    sim = Simulator(1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "x", speed=None, max_events=50)
    app = build_app(s, start_engine=False)
    app.notify = lambda *a, **k: None  # type: ignore[method-assign]
    app.send_limit("var_limit", "0.07", "operator key l: test")
    s.run()
    assert s.engine.brk.var.limit == 0.07
    line = next(l.text for l in s.latest.log if l.text.startswith("LIMIT"))
    assert line.startswith("LIMIT var_limit 6.00% -> 7.00%: operator key l: test (by ") and "via console" in line
    assert ("var_limit", 0.07, 0.06) in s.latest.limits


def test_heat_runs_red_to_green_and_rows_sort_worst_first() -> None:
    assert heat(-1.0).bgcolor.triplet == LOW and heat(1.0).bgcolor.triplet == HIGH  # type: ignore[union-attr]
    assert heat(-5.0) == heat(-1.0)  # clamped
    rows = [[str(c) for c in r] for r in model_rows(MODELS)]
    assert [r[0] for r in rows] == ["lstm", "forest", "sgd"]  # 20%, 111%, not yet measured
    assert rows[0][2:6] == ["+2.00", "+0.40", "-1.60", "20%"] and rows[0][7] == "TRIPPED"
    assert rows[2][3] == "n/a (37/100)" and rows[2][5] == "n/a"
    lstm = model_rows(MODELS)[0]
    assert lstm[5].style.bgcolor.triplet == LOW  # type: ignore[union-attr]  # under the trip ratio


@pytest.mark.asyncio
async def test_v_opens_the_heatmap_and_it_follows_the_engine():
    session = FakeSession(snap())
    async with build_app(session, start_engine=False).run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await pilot.pause()
        screen = pilot.app.screen
        assert type(screen).__name__ == "ModelHeatScreen"
        assert [r[0] for r in screen.rows()] == ["lstm", "forest", "sgd"]
        columns, rows = screen.symbol_rows()
        assert columns == ("Model", "Validation", "AAPL", "MSFT")
        assert rows[0] == ("forest", "+1.40", "+2.50", "-0.80") and rows[1] == ("lstm", "+2.00", "n/a", "n/a")
        per = screen.query_one("#heat-symbols")
        assert per.row_count == 3 and len(per.columns) == 4
        assert str(per.get_cell("forest", "c2")) == "+2.50"
        session.latest = replace(session.latest, models=MODELS[:1])
        await screen._rebuild()
        await pilot.pause()
        assert [r[0] for r in screen.rows()] == ["forest"]
        session.latest = replace(session.latest, models=())
        await screen._rebuild()
        await pilot.pause()
        assert "No model with a validation Sharpe" in str(screen.query_one("#heat-note").content)
        per = screen.query("#heat-symbols")
        assert len(per) == 1 and per.first().row_count == 0 and len(per.first().columns) == 2
        await pilot.press("v")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ != "ModelHeatScreen"


@pytest.mark.asyncio
async def test_the_heatmap_fits_at_100x30():
    session = FakeSession(snap())
    async with build_app(session, start_engine=False).run_test(size=(100, 30)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        table = pilot.app.screen.query_one("#heat-table")
        assert table.virtual_size.width <= table.size.width, "columns cut at 100 columns"
        assert table.row_count == 3


def test_the_snapshot_carries_each_models_live_and_validation_sharpe() -> None:
    """A real engine: the live figure is the one the breaker judges
    (value = validation - live), and it is NaN until the window is full."""
    cfg = EngineConfig(breakers=BreakersConfig(live_sharpe_min_bars=20))
    sim = Simulator(3)
    eng = build_engine(cfg, sim.spec, 3)
    syms = [i.symbol for i in sim.spec.instruments]
    eng.process(ModelActivated(0, "", "m1", 2, "sha", 1.5, "test"))
    view = View(eng)

    def models():  # type: ignore[no-untyped-def]
        return view.build(session_id="t", speed="max", events_per_s=0.0, source="sim", finished=False,
                          error="", compiled=False).models

    first = models()
    assert len(first) == 1 and first[0].model == "m1" and first[0].version == 2 and first[0].val_sharpe == 1.5
    assert math.isnan(first[0].live_sharpe) and first[0].window == 20
    bars = 0
    for ev in sim:
        eng.process(ev)
        if isinstance(ev, Timer) and ev.name == "bar":
            bars += 1
            for i, s in enumerate(syms):
                eng.process(ModelSignal(ev.ts, s, "m1", 0.5 if (bars + i) % 3 else -0.5, 1.0, 1.0, 2))
        if bars >= 40:
            break
    m = models()[0]
    b = eng.brk.model("m1")
    assert m.bars == 20 and math.isfinite(m.live_sharpe)
    assert m.val_sharpe - m.live_sharpe == pytest.approx(b.value) and m.state == b.state
    assert m.trip_below == pytest.approx(0.7 * 1.5)
    per = dict(m.symbols)
    assert sorted(per) == sorted(syms) and all(math.isfinite(x) for x in per.values())
    # each symbol's figure is the Sharpe of its own part of the model's live P&L
    w = eng.views.symbol_returns["m1"][syms[0]]
    vals = [w.values[i] for i in range(w.count)]
    mean = sum(vals) / len(vals)
    sd = (sum((x - mean) ** 2 for x in vals) / (len(vals) - 1)) ** 0.5
    assert per[syms[0]] == pytest.approx(mean / sd * math.sqrt(252.0 * eng.p.bars_per_day))


def test_models_and_limits_cross_the_control_socket() -> None:
    """An attached console gets the same figures (snapshot JSON both ways)."""
    import json

    from console.control import snapshot_from_dict, snapshot_to_dict

    s = snap()
    back = snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(s))))
    assert back.limits == LIMITS and back.models[0] == MODELS[0]
    assert math.isnan(back.models[2].live_sharpe)


def test_heatmap_at_100x30(snap_compare, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The heatmap's colours and layout, as an SVG (update with --snapshot-update)."""
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    app = build_app(FakeSession(snap()), start_engine=False)
    assert snap_compare(app, press=["v"], terminal_size=(100, 30))
