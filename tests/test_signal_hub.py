"""The signal hub beside the engine: model views and activations are logged
inputs, replay verifies decision for decision, and the models themselves
reproduce from their stored weights at the logged seq."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from core.build import build_engine
from core.codec import encode_payload, is_input_kind, kind_of
from core.config import EngineConfig, SignalsConfig, StrategyConfig
from core.events import Command, ModelActivated, ModelFit, ModelSignal
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from core.signals.hub import SignalHub, recheck

SIGNALS = SignalsConfig(models=("hmm", "sentiment", "ensemble"), fit_bars=100, retrain_every=150,
                        drift_check_every=0)


def run_session(cfg: EngineConfig, events: int = 60_000, seed: int = 7):  # type: ignore[no-untyped-def]
    sim = Simulator(seed)
    eng = build_engine(cfg, sim.spec, seed)
    store: dict[str, bytes] = {}
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=seed,
                    bars_per_day=sim.spec.bars_per_day, background=False,
                    artifact_sink=lambda sha, m, v, blob: store.__setitem__(sha, blob))
    sink = MemorySink()
    s = Session(eng, sim, sink, "t", speed=None, max_events=events, hub=hub)
    s.run()
    assert s.error == ""
    return sim, s, sink, store


def rows_of(sink: MemorySink):  # type: ignore[no-untyped-def]
    for seq, ev in sink.rows:
        kind = kind_of(ev)
        yield seq, kind, ev.ts, ev.symbol, encode_payload(ev), is_input_kind(kind)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def driven():  # type: ignore[no-untyped-def]
    cfg = EngineConfig(strategy=StrategyConfig(signal="ensemble"), signals=SIGNALS)
    return cfg, *run_session(cfg)


def test_models_are_fitted_activated_and_their_views_logged_as_inputs(driven) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, s, sink, store = driven
    acts = [e for _, e in sink.rows if isinstance(e, ModelActivated)]
    assert [a.model for a in acts][:1] == ["hmm"] and {a.version for a in acts} >= {1, 2}
    for a in acts:  # every activation names stored weights by their hash
        assert hashlib.sha256(store[a.artifact]).hexdigest() == a.artifact
    views = [e for _, e in sink.rows if isinstance(e, ModelSignal)]
    assert {v.model for v in views} >= {"hmm", "ensemble"}
    assert all(-1.0 <= v.value <= 1.0 and 0.0 <= v.scale <= 1.0 for v in views)
    hmm_after = [v for v in views if v.model == "hmm"]
    assert hmm_after and hmm_after[-1].version == max(a.version for a in acts if a.model == "hmm")


def test_the_ensemble_drives_positions(driven) -> None:  # type: ignore[no-untyped-def]
    from core.events import OrderIntent
    cfg, sim, s, sink, store = driven
    intents = [e for _, e in sink.rows if isinstance(e, OrderIntent) and e.origin == "strategy"]
    assert intents and all(i.reason.startswith("ensemble") for i in intents)


def test_a_session_with_models_replays_decision_for_decision(driven) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, s, sink, store = driven
    rep = verify(build_engine(cfg, sim.spec, 7), rows_of(sink))
    assert rep.verified, rep.divergence
    assert rep.events == len(sink.rows)


def test_the_models_reproduce_every_view_from_their_stored_weights(driven) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, s, sink, store = driven
    rows = [(seq, ev, is_input_kind(kind_of(ev))) for seq, ev in sink.rows]
    check = recheck(rows, store.__getitem__, cfg.signals, [i.symbol for i in sim.spec.instruments],
                    seed=7, bars_per_day=sim.spec.bars_per_day)
    assert check.mismatch == "" and check.activations >= 2
    assert check.views == sum(isinstance(e, ModelSignal) for _, e in sink.rows)


def test_a_tampered_view_is_caught_by_the_model_check(driven) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, s, sink, store = driven
    rows = [(seq, ev, is_input_kind(kind_of(ev))) for seq, ev in sink.rows]
    i = max(n for n, (_, ev, _) in enumerate(rows) if isinstance(ev, ModelSignal) and ev.model == "hmm")
    seq, ev, inp = rows[i]
    rows[i] = (seq, replace(ev, value=ev.value + 1e-9) if hasattr(ev, "__dataclass_fields__")
               else ev._replace(value=ev.value + 1e-9), inp)
    check = recheck(rows, store.__getitem__, cfg.signals, [i.symbol for i in sim.spec.instruments],
                    seed=7, bars_per_day=sim.spec.bars_per_day)
    assert f"seq {seq}" in check.mismatch


def test_a_model_that_raises_is_switched_off_and_trading_goes_on() -> None:
    sim = Simulator(3)
    cfg = EngineConfig(signals=SIGNALS)
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=3,
                    bars_per_day=sim.spec.bars_per_day, background=False)

    class Broken:
        def on_bar(self, *a: object) -> list[object]:
            raise RuntimeError("weights corrupt")

    hub.active["hmm"] = Broken()
    hub.status["hmm"].state = "active"
    hub.fit_enabled = False
    s = Session(build_engine(cfg, sim.spec, 3), sim, MemorySink(), "t", speed=None, max_events=5_000, hub=hub)
    s.run()
    assert s.error == "" and hub.status["hmm"].state == "error" and "weights corrupt" in hub.status["hmm"].note
    assert s.engine.seq > 5_000


def test_operator_halt_stops_the_driving_model_from_trading() -> None:
    from core.events import OrderAccepted
    sim = Simulator(5)
    cfg = EngineConfig(strategy=StrategyConfig(signal="ensemble"),
                       signals=replace(SIGNALS, models=("sentiment", "ensemble")))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=5,
                    bars_per_day=sim.spec.bars_per_day, background=False)
    sink = MemorySink()
    s = Session(build_engine(cfg, sim.spec, 5), sim, sink, "t", speed=None, max_events=20_000, hub=hub)
    s.step(Command(0, "", "halt", "", "test"))
    s.run()
    assert not any(isinstance(e, OrderAccepted) for _, e in sink.rows)
    assert any(isinstance(e, ModelSignal) and e.model == "ensemble" for _, e in sink.rows)


def test_a_refit_that_does_not_validate_is_not_activated() -> None:
    from core.signals.base import FitReport, SignalModel

    class Loser(SignalModel):
        def fit(self, closes):  # type: ignore[no-untyped-def]
            return FitReport("forest", 1, 0, 0, {"val_sharpe": -1.5})

        def on_bar(self, ts, symbol, close):  # type: ignore[no-untyped-def]
            return []

        def to_bytes(self) -> bytes:
            return b"x"

        @classmethod
        def from_bytes(cls, blob):  # type: ignore[no-untyped-def]
            return cls()

    sim = Simulator(3)
    cfg = EngineConfig(signals=replace(SIGNALS, models=("forest", "ensemble")))
    store: dict[str, bytes] = {}
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=3,
                    bars_per_day=sim.spec.bars_per_day, background=False,
                    artifact_sink=lambda sha, m, v, blob: store.__setitem__(sha, blob))
    hub.registry = {**hub.registry, "forest": lambda params: Loser(params)}
    sink = MemorySink()
    Session(build_engine(cfg, sim.spec, 3), sim, sink, "t", speed=None, max_events=30_000, hub=hub).run()
    assert not any(isinstance(e, ModelActivated) for _, e in sink.rows) and store == {}
    # the figure as logged: -1.5 re-annualised for the simulator's 30 s bars (x sqrt(780))
    assert "validation Sharpe -41.89 <= 0" in hub.status["forest"].note
    fits = [e for _, e in sink.rows if isinstance(e, ModelFit) and e.model == "forest"]
    assert fits and all(f.outcome == "rejected" and f.version == 0 and "<= 0" in f.detail for f in fits)


def test_a_fit_reports_its_progress_to_the_status_line() -> None:
    import pandas as pd

    from core.signals.forest import ForestModel

    seen: list[tuple[float, str]] = []
    m = ForestModel({"seed": 0, "n_estimators": 10, "train_bars": 80, "val_bars": 20, "folds": 2})
    m.progress = lambda done, what: seen.append((done, what))
    frame = pd.DataFrame({"A": [100 * 1.001 ** i for i in range(200)],
                          "B": [50 * 0.999 ** i + (i % 7) * 0.01 for i in range(200)]},
                         index=pd.Index([i * 60_000_000_000 for i in range(200)], dtype="int64"))
    m.fit(frame)
    assert [w for _, w in seen][:2] == ["validation fold 1/2", "validation fold 2/2"]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][1] == "live forest"
