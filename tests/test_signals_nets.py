"""Window nets (cnn, transformer, and the LSTM they share code with): fit,
update, serialise/restore, explain (SHAP), regularisation, fracdiff inputs
and the leakage check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import DataError
from core.signals.base import SignalModel, SignalOut, load_all
from core.signals.fracdiff import choose_d, ffd_weights, frac_diff
from core.signals.leakage import LeakageError, assert_no_lookahead
from core.signals.lstm import LSTMModel
from core.signals.nets import CNNModel, TransformerModel
from tests.signal_data import feed, lead_lag

DAY = 86_400 * 1_000_000_000
SMALL = {"window": 8, "max_epochs": 4, "patience": 2, "train_bars": 200, "batch": 64, "shap_samples": 16}
SIZES = {"cnn": {"channels": 8}, "transformer": {"d_model": 8, "ff": 16}, "lstm": {"hidden": 8}}
CLASSES = {"cnn": CNNModel, "transformer": TransformerModel, "lstm": LSTMModel}


def make(name: str, **extra: object) -> SignalModel:
    return CLASSES[name]({**SMALL, **SIZES[name], **extra})


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[SignalModel, object, list[SignalOut]]]:
    closes = lead_lag(300)
    out = {}
    for name in ("cnn", "transformer"):
        m = make(name, max_epochs=8, patience=3)
        report = m.fit(closes.iloc[:260])
        out[name] = (m, report, feed(m, closes.iloc[260:]))
    return out


def test_the_models_are_registered() -> None:
    reg = load_all()
    assert isinstance(reg["cnn"]({}), CNNModel) and isinstance(reg["transformer"]({}), TransformerModel)


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_fit_learns_a_planted_lead_and_updates_every_bar(fitted, name: str) -> None:  # type: ignore[no-untyped-def]
    model, report, outs = fitted[name]
    m = report.metrics
    assert m["val_hit_rate"] > 0.55 and m["val_ic"] > 0.1 and m["val_sharpe"] > 1.0, m
    assert 1 <= m["epochs"] <= 8 and m["val_loss"] > 0
    assert len(outs) == 40 * 3 and {o.symbol for o in outs} == {"A", "B", "C"}
    assert all(-1 <= o.value <= 1 and 0 <= o.confidence <= 1 and o.model == name for o in outs)
    assert model.fitted_at == int(lead_lag(300).index[259]) and report.version == 1


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_restored_weights_continue_bit_for_bit_and_seeds_matter(name: str) -> None:
    closes = lead_lag(260, seed=3)
    a, b, other = make(name), make(name), make(name, seed=1)
    for m in (a, b, other):
        m.fit(closes.iloc[:220])
    feed(a, closes.iloc[220:230])
    restored = type(a).from_bytes(a.to_bytes())
    assert restored.version == a.version and restored.state() == a.state()
    tail = closes.iloc[230:]
    va, vr = feed(a, tail), feed(restored, tail)
    assert va == vr and va
    assert [o.value for o in feed(b, closes.iloc[220:])][-len(va):] == [o.value for o in va]  # same seed: same views
    assert [o.value for o in feed(other, closes.iloc[220:])][-len(va):] != [o.value for o in va]
    assert torch.get_num_threads() >= 1  # the torch settings are restored after a fit


def test_an_artifact_of_one_model_is_refused_by_another() -> None:
    closes = lead_lag(200)
    m = make("cnn")
    m.fit(closes)
    with pytest.raises(DataError, match="transformer artifact"):
        TransformerModel.from_bytes(m.to_bytes())


@pytest.mark.parametrize("name", ["cnn", "transformer", "lstm"])
def test_explain_gives_shap_values_of_the_view_that_add_up(fitted, name: str) -> None:  # type: ignore[no-untyped-def]
    if name == "lstm":
        closes = lead_lag(300)
        model = make("lstm", max_epochs=8)
        model.fit(closes.iloc[:260])
        feed(model, closes.iloc[260:])
    else:
        model, _, _ = fitted[name]
    ex = model.explain("A")
    assert ex and len(ex) == 12 and all(isinstance(n, str) and np.isfinite(v) for n, v in ex)
    assert abs(ex[0][1]) >= abs(ex[-1][1])  # largest first
    assert ex[0][0] in ("mkt t-0", "ret t-0", "mkt t-1")  # the planted lead lives in the latest returns
    # expected gradients: with enough samples the values of one window sum to about its
    # (unclipped) view minus the mean background view
    x = model._current()
    model.p["shap_samples"] = 600
    vals = model.shap_values(x).sum(axis=(1, 2))
    model.p["shap_samples"] = SMALL["shap_samples"]
    def raw(w: np.ndarray) -> np.ndarray:  # the view before clipping
        pred, _ = model.predict_windows(w)
        return pred if model.barrier else pred / model.scale

    views, base = raw(x), raw(model.shap_bg).mean()
    assert np.allclose(vals, views - base, atol=0.15), (vals, views - base)
    # the same bar explained twice gives the same values (seeded); the global importances live in the artifact
    model._explained = {}
    assert model.explain("A") == ex
    back = type(model).from_bytes(model.to_bytes())
    assert back.shap_global == model.shap_global and back.shap_global
    assert back.explain("A") == ex


def test_weight_decay_and_l1_shrink_the_weights() -> None:
    closes = lead_lag(260, seed=5)

    def norm(**kw: object) -> tuple[float, float]:
        m = make("cnn", max_epochs=6, patience=6, **kw)
        m.fit(closes)
        assert m.net is not None
        w = torch.cat([p.detach().abs().ravel() for n, p in m.net.named_parameters() if "bias" not in n])
        return float((w ** 2).sum()), float(w.sum())

    plain, decayed, sparse = norm(weight_decay=0.0), norm(weight_decay=0.5), norm(weight_decay=0.0, l1=0.01)
    assert decayed[0] < plain[0] and sparse[1] < plain[1]


def test_early_stopping_stops_before_max_epochs_on_noise() -> None:
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (260, 2)), axis=0)),
                         index=np.arange(1, 261, dtype=np.int64) * DAY, columns=["A", "B"])
    m = make("transformer", max_epochs=40, patience=1)
    assert m.fit(noise).metrics["epochs"] < 40


@pytest.mark.parametrize("name", ["cnn", "transformer", "lstm"])
def test_triple_barrier_labels_and_fracdiff_inputs(name: str) -> None:
    closes = lead_lag(320, seed=2)
    m = make(name, labels="triple_barrier", features="fracdiff", h=3)
    r = m.fit(closes.iloc[:280]).metrics
    assert 0.0 <= r["fracdiff_d"] <= 1.0 and 0 <= r["val_accuracy"] <= 1
    assert m.input_names()[-1] == "fracdiff t-0"
    restored = type(m).from_bytes(m.to_bytes())
    a, b = feed(m, closes.iloc[280:]), feed(restored, closes.iloc[280:])
    assert a == b and len(a) == 40 * 3
    assert all(-1 <= o.value <= 1 for o in a)
    # the live fracdiff input equals the batch one at the same bar
    x_live = m._current()
    x_batch, _ = m._windows(closes, last=True)
    np.testing.assert_allclose(x_live, x_batch[-3:], rtol=1e-9, atol=1e-12)


def test_bad_params_are_one_line_errors_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"^signals\.cnn\.kernel must be an integer >= 1"):
        CNNModel({"kernel": 0})
    with pytest.raises(ValueError, match=r"d_model \(10\) must be a multiple of signals\.transformer\.heads"):
        TransformerModel({"d_model": 10, "heads": 3})
    with pytest.raises(ValueError, match="unknown param 'hidden'"):
        CNNModel({"hidden": 3})
    with pytest.raises(ValueError, match="weight_decay must be a number"):
        LSTMModel({"weight_decay": "lots"})


# ------------------------------------------------------------ fracdiff and leakage


def test_fracdiff_weights_and_orders() -> None:
    np.testing.assert_allclose(ffd_weights(1.0), [1.0, -1.0])
    np.testing.assert_allclose(ffd_weights(0.5)[:3], [1.0, -0.5, -0.125])
    logp = np.log(lead_lag(200).to_numpy())
    np.testing.assert_allclose(frac_diff(logp, 1.0)[1:], np.diff(logp, axis=0))
    np.testing.assert_allclose(frac_diff(logp, 0.0), logp)
    d, p = choose_d(logp)
    assert 0.0 < d <= 1.0 and p < 0.05  # a random walk needs some differencing, at most one
    trend = np.linspace(0, 1, 300)[:, None] + 0.001 * np.random.default_rng(0).normal(size=(300, 1))
    assert choose_d(np.cumsum(np.random.default_rng(1).normal(size=(300, 1)), axis=0))[0] > 0
    assert choose_d(np.random.default_rng(2).normal(size=(300, 1)))[0] == 0.0  # stationary already
    assert trend.shape == (300, 1)


def test_the_feature_builders_do_not_look_ahead() -> None:
    from core.signals.forest import _feature_rows

    closes = lead_lag(160)
    assert_no_lookahead(_feature_rows, closes)
    m = make("cnn", features="fracdiff")
    m.symbols, m.d = ["A", "B", "C"], 0.4
    assert_no_lookahead(m.feature_rows, closes)
    assert_no_lookahead(lambda c: (c.index.to_numpy(), ["fd"], frac_diff(np.log(c.to_numpy()), 0.4)), closes)


def test_the_leakage_check_catches_a_feature_that_looks_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    closes = lead_lag(200)
    leaky = lambda c: (c.index.to_numpy(), ["next"], np.roll(c.to_numpy(), -1, axis=0))  # noqa: E731
    with pytest.raises(AssertionError, match="feature next .*at ts .* uses data after its bar"):
        assert_no_lookahead(leaky, closes)
    m = make("cnn")
    real = m._steps
    monkeypatch.setattr(m, "_steps", lambda c: np.roll(real(c), -1, axis=0))  # step t sees bar t+1's return
    with pytest.raises(LeakageError, match="cnn fit: leakage: feature ret .* uses data after its bar"):
        m.fit(closes)


def test_explanations_are_kept_for_explain_every_bars_and_say_how_old_they_are() -> None:
    closes = lead_lag(280, seed=6)
    m = make("cnn", explain_every=3)
    m.fit(closes.iloc[:260])
    feed(m, closes.iloc[260:261])
    first = m.explain("B")
    assert first and not first[0][0].startswith("(")
    feed(m, closes.iloc[261:263])
    aged = m.explain("B")
    assert aged[0] == ("(SHAP of the view 2 bar(s) ago)", 0.0) and aged[1:] == first
    feed(m, closes.iloc[263:264])
    fresh = m.explain("B")
    assert not fresh[0][0].startswith("(") and fresh != first


def test_an_lstm_artifact_of_the_first_format_still_loads_and_runs_alike() -> None:
    import io

    closes = lead_lag(260, seed=7)
    m = make("lstm")
    m.fit(closes.iloc[:240])
    d = torch.load(io.BytesIO(m.to_bytes()), weights_only=True)
    for key in ("model", "d", "fd", "logp", "shap_bg", "shap_global"):  # what format 1 did not have
        del d[key]
    d["format"] = 1
    buf = io.BytesIO()
    torch.save(d, buf)
    old = LSTMModel.from_bytes(buf.getvalue())
    assert feed(old, closes.iloc[240:]) == feed(m, closes.iloc[240:])
    assert old.explain("A") == []  # no stored background: no SHAP values, not made-up ones


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_indicator_inputs_live_equal_batch_round_trip_and_do_not_look_ahead(name: str) -> None:
    closes = lead_lag(300, seed=8)
    m = make(name, indicators=True, features="fracdiff")
    m.fit(closes.iloc[:270])
    assert m.channels() == ["ret", "mkt", "mom_5", "mom_10", "mom_20", "vol_20", "zret", "rsi_14", "rel_ret",
                            "mkt_mom_5", "fracdiff"]
    restored = type(m).from_bytes(m.to_bytes())
    a, b = feed(m, closes.iloc[270:]), feed(restored, closes.iloc[270:])
    assert a == b and len(a) == 30 * 3
    x_batch, _ = m._windows(closes, last=True)
    np.testing.assert_allclose(m._current(), x_batch[-3:], rtol=1e-9, atol=1e-12)
    assert_no_lookahead(m.feature_rows, closes)
    assert m.explain("A")[0][0].split(" t-")[0] in m.channels()
