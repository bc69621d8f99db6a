"""Seed 000's overlay rule as written: the forest's probability of a fall past
``drop`` within ``drop_h`` bars (a side view, model "forest_drop", logged as a
ModelSignal) above ``hedge.drop_above`` flags a long for puts
(``[hedge] flag_rule = "drop_probability"``; the default "view" is unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.build import build_engine
from core.codec import encode_payload, is_input_kind, kind_of
from core.config import config_from_dict
from core.errors import ConfigError
from core.events import ModelSignal, ProtectivePut
from core.market.sim import Simulator
from core.replay import verify
from core.session import MemorySink, Session
from core.signals.forest import DROP_MODEL, ForestModel
from core.signals.hub import SignalHub, recheck

DAY = 86_400_000_000_000
SMALL = {"n_estimators": 20, "train_bars": 150, "val_bars": 40, "folds": 2}


def walk(n: int, symbols: list[str], seed: int = 0, sd: float = 0.02) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, sd, (n, len(symbols))), axis=0))
    return pd.DataFrame(c, index=np.arange(1, n + 1, dtype=np.int64) * DAY, columns=symbols)


def feed(model: ForestModel, closes: pd.DataFrame) -> list:  # type: ignore[type-arg]
    out = []
    for ts, row in zip(closes.index, closes.to_numpy()):
        for sym, c in zip(closes.columns, row):
            out.extend(model.on_bar(int(ts), str(sym), float(c)))
    return out


def test_the_forest_adds_a_drop_probability_view_that_round_trips() -> None:
    closes = walk(300, ["A", "B"], seed=3)
    model = ForestModel({**SMALL, "drop": 0.05, "drop_h": 5})
    m = model.fit(closes.iloc[:260]).metrics
    r5 = closes.iloc[:260].shift(-5) / closes.iloc[:260] - 1
    assert 0 < m["drop_events"] < (r5 < -0.05).sum().sum() + 1  # counted on the live rows only
    twin = ForestModel.from_bytes(model.to_bytes())
    outs, again = feed(model, closes.iloc[260:]), feed(twin, closes.iloc[260:])
    drops = [o for o in outs if o.model == DROP_MODEL]
    own = [o for o in outs if o.model == "forest"]
    assert len(drops) == len(own) > 0 and all(0.0 <= o.value <= 1.0 for o in drops)
    assert len({round(o.value, 6) for o in drops}) > 3  # a probability that moves, not a constant
    assert [o.value for o in drops] == [o.detail["p_drop"] for o in own]
    assert [(o.model, o.value, o.confidence) for o in outs] == [(o.model, o.value, o.confidence) for o in again]
    assert outs.index(drops[0]) < outs.index(own[0])  # the side view comes first


def test_off_by_default_and_no_drop_in_the_window_means_p_zero() -> None:
    closes = walk(300, ["A", "B"], seed=3, sd=0.001)
    plain = ForestModel(SMALL)
    plain.fit(closes.iloc[:260])
    assert all(o.model == "forest" and "p_drop" not in o.detail for o in feed(plain, closes.iloc[260:]))
    calm = ForestModel({**SMALL, "drop": 0.05})
    assert calm.fit(closes.iloc[:260]).metrics["drop_events"] == 0.0
    assert {o.value for o in feed(calm, closes.iloc[260:]) if o.model == DROP_MODEL} == {0.0}


HEDGE = {"protect": True, "flag_rule": "drop_probability", "drop_above": 0.6}


def test_hedge_flag_at_below_and_above_drop_above() -> None:
    sim = Simulator(1)
    sym = sim.spec.instruments[0].symbol
    cfg = config_from_dict({"signals": {"models": ["forest"], "forest": {"drop": 0.05}},
                            "strategy": {"signal": "forest"}, "hedge": HEDGE})
    eng = build_engine(cfg, sim.spec, 1)
    h = eng.hedger
    assert h is not None and h.flag_rule == "drop_probability"
    assert h.hedge_flag(sym) == ""  # no view yet
    for p, want in ((0.59, ""), (0.6, ""), (0.61, "forest p(drop) 0.61")):
        eng.views.values.setdefault(DROP_MODEL, {})[sym] = p
        assert h.hedge_flag(sym) == want
    eng.views.values["forest"] = {sym: -0.9}
    eng.views.values[DROP_MODEL][sym] = 0.1
    assert h.hedge_flag(sym) == ""  # the view rule is not consulted
    view = build_engine(config_from_dict({"signals": {"models": ["forest"]}, "strategy": {"signal": "forest"},
                                          "hedge": {"protect": True, "flag_models": ["forest"]}}), sim.spec, 1)
    assert view.hedger is not None and view.hedger.flag_rule == "view"
    view.views.values["forest"] = {sym: -0.5}
    view.views.values[DROP_MODEL] = {sym: 0.99}
    assert view.hedger.hedge_flag(sym) == "forest -0.50"


@pytest.mark.parametrize("hedge, signals, needle", [
    ({"flag_rule": "drawdown"}, {}, "hedge.flag_rule must be view or drop_probability"),
    ({"drop_above": 1.0}, {}, "hedge.drop_above must be in (0, 1)"),
    (HEDGE, {"models": ["forest"]}, "needs 'forest' in signals.models and [signals.forest] drop > 0"),
    (HEDGE, {"models": ["hmm"], "forest": {"drop": 0.05}}, "needs 'forest' in signals.models"),
])
def test_config_errors_are_one_line(hedge: dict, signals: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as e:
        config_from_dict({"hedge": hedge, "signals": signals})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_session_logs_the_drop_views_replays_and_the_models_reproduce_them() -> None:
    cfg = config_from_dict({
        "signals": {"models": ["forest"], "fit_bars": 100, "retrain_every": 0, "drift_check_every": 0,
                    "min_psr": 0.0, "min_val_bars": 2,
                    "forest": {"drop": 0.001, "drop_h": 3, "n_estimators": 10, "train_bars": 60,
                               "val_bars": 10, "folds": 1, "leak_check": False}},
        "strategy": {"signal": "forest"},
        "hedge": {**HEDGE, "drop_above": 0.3, "multiplier": 1.0, "min_bars": 10, "recheck_bars": 5},
    })
    sim = Simulator(4, bar_ms=20_000)
    eng = build_engine(cfg, sim.spec, 4)
    store: dict[str, bytes] = {}
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=4,
                    bars_per_day=sim.spec.bars_per_day, background=False,
                    artifact_sink=lambda sha, m, v, blob: store.__setitem__(sha, blob))
    sink = MemorySink()
    s = Session(eng, sim, sink, "t", speed=None, max_events=25_000, hub=hub)
    s.run()
    assert s.error == ""
    drops = [e for _, e in sink.rows if isinstance(e, ModelSignal) and e.model == DROP_MODEL]
    assert drops and all(0.0 <= d.value <= 1.0 and d.version >= 1 for d in drops)
    assert max(d.value for d in drops) > 0.3
    puts = [e for _, e in sink.rows if isinstance(e, ProtectivePut) and e.action in ("buy", "decline")]
    assert puts and all("forest p(drop)" in p.reason for p in puts)
    rows = [(seq, ev, is_input_kind(kind_of(ev))) for seq, ev in sink.rows]
    assert verify(build_engine(cfg, sim.spec, 4), ((seq, kind_of(ev), ev.ts, ev.symbol, encode_payload(ev), inp)
                                                   for seq, ev, inp in rows)).verified
    check = recheck(rows, store.__getitem__, cfg.signals, [i.symbol for i in sim.spec.instruments],
                    seed=4, bars_per_day=sim.spec.bars_per_day)
    assert check.mismatch == "" and check.views == sum(isinstance(e, ModelSignal) for _, e in sink.rows)
