"""The online model (sgd): fit, per-bar updates from labels as they become
known, serialise/restore mid-stream, explain (SHAP of a linear model)."""

from __future__ import annotations

import numpy as np
import pytest

from core.signals.base import load_all
from core.signals.features import WINDOW, make_features
from core.signals.labels import triple_barrier_labels
from core.signals.online import SGDModel
from tests.signal_data import feed, lead_lag

DAY = 86_400 * 1_000_000_000


def test_fit_finds_the_planted_lead_and_every_bar_is_an_update() -> None:
    closes = lead_lag(400)
    m = load_all()["sgd"]({"train_bars": 300})
    assert isinstance(m, SGDModel)
    r = m.fit(closes.iloc[:360]).metrics
    assert r["val_hit_rate"] > 0.6 and r["val_sharpe"] > 1.0, r  # prequential: predicted before learned
    before, coef0 = m.updates, m.coef().copy()
    outs = feed(m, closes.iloc[360:])
    assert len(outs) == 40 * 3 and all(-1 <= o.value <= 1 and 0 <= o.confidence <= 1 for o in outs)
    assert m.updates == before + 40  # one partial_fit per completed bar
    assert not np.array_equal(m.coef(), coef0)
    assert [o.detail["updates"] for o in outs[::3]] == list(range(before + 1, before + 41))
    assert m.explain("A")[0][0] == "xret_B"  # B's return now is what predicts A next


def test_updates_learn_exactly_the_labels_known_at_each_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    closes = lead_lag(300, seed=4)
    for labels in ("return", "triple_barrier"):
        m = SGDModel({"labels": labels, "h": 4, "train_bars": 200})
        m.fit(closes.iloc[:260])
        seen: list[np.ndarray] = []
        real = m._learn
        monkeypatch.setattr(m, "_learn", lambda x, y: (seen.append(np.asarray(y)), real(x, y)))
        feed(m, closes.iloc[260:])
        if labels == "return":
            _, y = make_features(closes)
            want = y.to_numpy().reshape(-1, 3)[259 - WINDOW:299 - WINDOW]  # labels of bars 259..298
        else:
            lab = triple_barrier_labels(closes, 1.0, 4, 20).to_numpy()
            want = lab[256:296]  # bar t's label is learned at bar t + h
        assert len(seen) == 40
        np.testing.assert_allclose(np.stack(seen), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("labels", ["return", "triple_barrier"])
def test_restored_mid_stream_it_continues_bit_for_bit(labels: str) -> None:
    closes = lead_lag(320, seed=2)
    a, b, other = (SGDModel({"labels": labels, "train_bars": 200, **kw}) for kw in ({}, {}, {"alpha": 0.01}))
    for m in (a, b, other):
        m.fit(closes.iloc[:260])
    feed(a, closes.iloc[260:290])
    restored = SGDModel.from_bytes(a.to_bytes())
    assert restored.updates == a.updates and restored.explain("C") == a.explain("C")
    va, vr = feed(a, closes.iloc[290:]), feed(restored, closes.iloc[290:])
    assert va == vr and len(va) == 30 * 3
    vb = feed(b, closes.iloc[260:])[-len(va):]
    assert vb == va  # same params, same bars: same weights and views
    assert [o.value for o in feed(other, closes.iloc[260:])][-len(va):] != [o.value for o in va]


def test_explain_is_the_shap_library_linear_explanation() -> None:
    import shap

    closes = lead_lag(300, seed=3)
    m = SGDModel({"train_bars": 200})
    m.fit(closes.iloc[:280])
    feed(m, closes.iloc[280:])
    assert m._xlatest is not None
    coef = m.coef()
    bg = np.zeros((1, len(coef)))  # standardised training features: mean 0
    lin = shap.LinearExplainer((coef, 0.0), shap.maskers.Independent(bg))
    want = lin.shap_values(m._xlatest)
    got = dict(m.explain("B"))
    for j, name in enumerate(m.names):
        if name in got:
            assert got[name] == pytest.approx(float(want[1, j]), rel=1e-9, abs=1e-12)


def test_bad_params_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="signals.sgd.loss must be one of squared_error, huber"):
        SGDModel({"loss": "log_loss"})
    with pytest.raises(ValueError, match=r"signals\.sgd\.alpha must be a number >= 0"):
        SGDModel({"alpha": -1})


def test_importing_the_new_signal_modules_loads_no_ui_or_console() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, core.signals.nets, core.signals.online, core.signals.robustness, core.signals.params,"
            " core.signals.fracdiff, core.signals.leakage, core.signals.labels\nprint(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    loaded = {m.split(".")[0] for m in out.split()}
    assert not loaded & {"rich", "click", "textual", "console", "storage"}
    assert "shap" not in loaded  # imported when a fit or an explanation needs it (about 3 s)
