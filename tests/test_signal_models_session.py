"""cnn, transformer and sgd in a session: configured from [signals.<model>]
tables, fitted and activated by the hub, their views logged as inputs; the
session replays decision for decision and the models reproduce every view
from their stored weights (what ``console replay`` checks)."""

from __future__ import annotations

import tomllib

import pytest

from core.build import build_engine
from core.codec import encode_payload, is_input_kind, kind_of
from core.config import EngineConfig, config_from_dict
from core.errors import ConfigError
from core.events import ModelActivated, ModelSignal
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from core.signals.hub import SignalHub, recheck

CONFIG = """
[signals]
models = ["cnn", "transformer", "sgd"]
fit_bars = 150
retrain_every = 0
drift_check_every = 0
min_psr = 0.0
min_val_bars = 10

[signals.cnn]
window = 8
channels = 8
max_epochs = 4
train_bars = 200

[signals.transformer]
window = 8
d_model = 8
ff = 16
max_epochs = 4
train_bars = 200

[signals.sgd]
train_bars = 200
alpha = 0.001
"""


@pytest.fixture(scope="module")
def session():  # type: ignore[no-untyped-def]
    cfg = config_from_dict(tomllib.loads(CONFIG), "models.toml")
    sim = Simulator(7)
    eng = build_engine(cfg, sim.spec, 7)
    store: dict[str, bytes] = {}
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=7,
                    bars_per_day=sim.spec.bars_per_day, background=False,
                    artifact_sink=lambda sha, m, v, blob: store.__setitem__(sha, blob))
    sink = MemorySink()
    s = Session(eng, sim, sink, "t", speed=None, max_events=40_000, hub=hub)
    s.run()
    assert s.error == ""
    return cfg, sim, hub, sink, store, s.snapshot().signals


def test_config_tables_reach_the_models(session) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, hub, sink, store, pane = session
    assert cfg.signals.params["cnn"]["channels"] == 8
    assert hub.active["cnn"].p["channels"] == 8 and hub.active["cnn"].p["seed"] == 7
    assert hub.active["transformer"].p["d_model"] == 8
    assert hub.active["sgd"].p["alpha"] == 0.001
    assert EngineConfig(signals=cfg.signals).to_dict()["signals"]["params"]["sgd"]["alpha"] == 0.001  # logged with the config
    assert config_from_dict(cfg.to_dict()) == cfg  # and read back from the log alike


def test_each_model_is_activated_and_its_views_logged(session) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, hub, sink, store, pane = session
    acts = {e.model for _, e in sink.rows if isinstance(e, ModelActivated)}
    assert acts == {"cnn", "transformer", "sgd"}, [hub.status[m].note for m in hub.status]
    views = [e for _, e in sink.rows if isinstance(e, ModelSignal)]
    assert {v.model for v in views} == {"cnn", "transformer", "sgd"}
    assert all(-1.0 <= v.value <= 1.0 for v in views)
    for name in ("cnn", "transformer", "sgd"):  # the Signals pane's `e`: SHAP values
        sym = next(v.symbol for v in views if v.model == name)
        ex = hub.active[name].explain(sym)
        assert ex and all(isinstance(n, str) for n, _ in ex)
        rows = [r for r in pane if r.model == name and r.symbol == sym]
        assert rows and rows[0].explain and len(rows[0].explain) <= 6  # what `e` shows for the row


def test_the_session_replays_and_the_models_reproduce_every_view(session) -> None:  # type: ignore[no-untyped-def]
    cfg, sim, hub, sink, store, pane = session
    rows = ((seq, kind_of(ev), ev.ts, ev.symbol, encode_payload(ev), is_input_kind(kind_of(ev)))  # type: ignore[attr-defined]
            for seq, ev in sink.rows)
    rep = verify(build_engine(cfg, sim.spec, 7), rows)
    assert rep.verified, rep.divergence
    logged = [(seq, ev, is_input_kind(kind_of(ev))) for seq, ev in sink.rows]
    check = recheck(logged, store.__getitem__, cfg.signals, [i.symbol for i in sim.spec.instruments],
                    seed=7, bars_per_day=sim.spec.bars_per_day)
    assert check.mismatch == "" and check.activations == 3
    assert check.views == sum(isinstance(e, ModelSignal) for _, e in sink.rows) > 0


def test_bad_model_tables_are_one_line_errors_naming_the_key() -> None:
    bad = CONFIG.replace("channels = 8", "channels = 0").replace("alpha = 0.001", "alpha = 'x'") + "\n[signals.forest]\ntrees = 3\n"
    with pytest.raises(ConfigError) as err:
        config_from_dict(tomllib.loads(bad), "models.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("models.toml: ")
    assert "signals.cnn.channels must be an integer >= 1" in msg
    assert "signals.sgd.alpha must be a number, got 'x'" in msg
    assert "unknown key signals.forest.trees" in msg
    with pytest.raises(ConfigError, match="signals.models names unknown model"):
        config_from_dict({"signals": {"models": ["cnn", "rnn"]}})
