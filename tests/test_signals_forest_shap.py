"""The forest's SHAP explanations (exact TreeExplainer), its triple-barrier
labels and its fracdiff feature; sgd's fracdiff feature."""

from __future__ import annotations

import numpy as np
import pytest

from core.signals.forest import ForestModel
from core.signals.labels import triple_barrier_labels
from core.signals.online import SGDModel
from tests.signal_data import feed, lead_lag

DAY = 86_400 * 1_000_000_000
SMALL = {"n_estimators": 20, "train_bars": 150, "val_bars": 40, "folds": 2}


@pytest.mark.parametrize("params", [{}, {"target": "big_move", "k": 1.0}, {"labels": "triple_barrier", "h": 3}])
def test_shap_values_are_exact_and_kept_with_the_weights(params: dict[str, object]) -> None:
    closes = lead_lag(330)
    m = ForestModel({**SMALL, **params})
    m.fit(closes.iloc[:300])
    outs = feed(m, closes.iloc[300:])
    assert m.features is not None and m.features.block is not None
    block = m.features.block
    vals = m.shap_values(block)
    pred = m.predict_block(block)[0]
    base = np.asarray(m._explainer.expected_value, dtype=np.float64).ravel()
    if len(base) == 1:
        base = base[0]
    else:  # a classifier: the same class weights as the view
        cls = [float(c) for c in m.forest.classes_]
        w = np.array([1.0 if c == 1.0 else -1.0 if c == -1.0 and m.barrier else 0.0 for c in cls])
        base = base @ w
    np.testing.assert_allclose(base + vals.sum(axis=1), pred, rtol=1e-6, atol=1e-9)  # SHAP efficiency
    ex = m.explain("A")
    assert ex and len(ex) <= 12 and abs(ex[0][1]) >= abs(ex[-1][1])
    assert dict(ex)[ex[0][0]] == pytest.approx(vals[0, m.names.index(ex[0][0])])
    if not params:
        assert ex[0][0] in ("xret_B", "mkt_ret", "rel_ret")  # the planted lead
        assert m.shap_global[0][0] in ("xret_B", "mkt_ret", "rel_ret")
    back = ForestModel.from_bytes(m.to_bytes())
    assert back.shap_global == m.shap_global and back.explain("A") == ex
    if m.barrier:
        prob = m.forest.predict_proba(block)
        cls = list(m.forest.classes_)
        np.testing.assert_allclose(pred, prob[:, cls.index(1.0)] - prob[:, cls.index(-1.0)], atol=1e-12)
        assert all(-1 <= o.value <= 1 and o.detail["p_up_minus_down"] == o.value for o in outs)


def test_triple_barrier_training_rows_are_purged_before_each_validation_block(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    closes = lead_lag(300, seed=2)
    m = ForestModel({**SMALL, "labels": "triple_barrier", "h": 4})
    seen: list[int] = []
    real = m._new_forest

    def spy(rows: int):  # type: ignore[no-untyped-def]
        seen.append(rows)
        return real(rows)

    monkeypatch.setattr(m, "_new_forest", spy)
    m.fit(closes)
    plain = ForestModel({**SMALL, "labels": "return"})
    seen_plain: list[int] = []
    real_p = plain._new_forest
    monkeypatch.setattr(plain, "_new_forest", lambda rows: (seen_plain.append(rows), real_p(rows))[1])
    plain.fit(closes)
    # the validation folds train on 3 bars (x 3 symbols) fewer: h - 1 purged before each block
    assert [p - b for p, b in zip(seen_plain[:2], seen[:2])] == [9, 9]
    lab = triple_barrier_labels(closes, 2.0, 4, 20)
    assert set(np.unique(lab.dropna().to_numpy())) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("cls, params", [(ForestModel, SMALL), (SGDModel, {"train_bars": 200})])
def test_fracdiff_feature_live_equals_batch_and_round_trips(cls: type, params: dict[str, object]) -> None:
    closes = lead_lag(330, seed=3)
    m = cls({**params, "features": "fracdiff"})
    r = m.fit(closes.iloc[:300]).metrics
    assert 0 < r["fracdiff_d"] <= 1 and "fracdiff" in m.names
    back = cls.from_bytes(m.to_bytes())
    a, b = feed(m, closes.iloc[300:]), feed(back, closes.iloc[300:])
    assert a == b and len(a) == 30 * 3
    x, _ = m._features(closes)
    live = m.features.block if cls is ForestModel else m._xlatest * m.x_sd + m.x_mean
    np.testing.assert_allclose(live, x.to_numpy()[-3:], rtol=1e-9, atol=1e-12)
