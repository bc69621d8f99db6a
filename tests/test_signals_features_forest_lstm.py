"""Features (no leakage, batch == incremental), forest, LSTM, walk-forward and `console models evaluate`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from console.cli import cli
from core.errors import DataError, InputError
from core.signals.base import SignalModel, SignalOut
from core.signals.features import WINDOW, FeatureState, check_closes, feature_names, make_features
from core.signals.forest import ForestModel
from core.signals.lstm import LSTMModel, triple_barrier_labels
from core.signals.walkforward import evaluate, sharpe, signal_metrics
from tests.signal_data import feed, lead_lag

FIX = Path(__file__).parent / "fixtures" / "signals_b"
DAY = 86_400_000_000_000
SMALL_FOREST = {"n_estimators": 20, "train_bars": 150, "val_bars": 40, "folds": 2}
SMALL_LSTM = {"window": 10, "hidden": 8, "max_epochs": 3, "patience": 2, "train_bars": 150, "batch": 64}


def walk(n: int, symbols: list[str], seed: int = 0, sd: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, sd, (n, len(symbols))), axis=0))
    return pd.DataFrame(c, index=np.arange(1, n + 1, dtype=np.int64) * DAY, columns=symbols)


# ------------------------------------------------------------ features


def test_features_have_known_values_from_returns():
    closes = walk(60, ["A", "B"])
    x, y = make_features(closes)
    assert list(x.columns) == feature_names(["A", "B"]) and x.notna().all().all()
    t = closes.index[40]
    c = closes["A"]
    r = c.pct_change()
    row = x.loc[(t, "A")]
    assert row["mom_5"] == pytest.approx(c.loc[t] / c.iloc[35] - 1, rel=1e-12)
    assert row["vol_20"] == pytest.approx(r.iloc[21:41].std(ddof=1), rel=1e-12)
    assert row["xret_B"] == pytest.approx(closes["B"].iloc[40] / closes["B"].iloc[39] - 1, rel=1e-12)
    assert y.loc[(t, "A")] == pytest.approx(c.iloc[41] / c.iloc[40] - 1, rel=1e-12)
    assert x.index.get_level_values("ts")[0] == closes.index[WINDOW]
    assert y.loc[closes.index[-1]].isna().all()


def test_rsi_is_100_on_a_rising_series_and_50_on_a_flat_one():
    up = pd.DataFrame({"U": 100 * 1.01 ** np.arange(30), "F": np.full(30, 5.0)}, index=np.arange(30, dtype=np.int64))
    x, _ = make_features(up)
    assert (x.xs("U", level="symbol")["rsi_14"] == 100).all()
    assert (x.xs("F", level="symbol")["rsi_14"] == 50).all()


def test_features_at_or_before_t_ignore_every_price_after_t():
    closes = walk(120, ["A", "B", "C"], seed=3)
    x0, y0 = make_features(closes)
    rng = np.random.default_rng(11)
    for t in rng.integers(WINDOW, len(closes) - 2, size=8):
        hit = closes.copy()
        hit.iloc[t + 1:] *= rng.uniform(0.5, 2.0, size=(len(closes) - t - 1, 3))
        x1, y1 = make_features(hit)
        ts = closes.index[t]
        past = x0.index.get_level_values("ts") <= ts
        pd.testing.assert_frame_equal(x0[past], x1[past], check_exact=True)
        before = x0.index.get_level_values("ts") < ts
        pd.testing.assert_series_equal(y0[before], y1[before], check_exact=True)
        assert not np.allclose(y0.loc[ts].to_numpy(), y1.loc[ts].to_numpy())  # y at t looks forward
        assert not x0[~past].equals(x1[~past])  # the perturbation did reach later features


def test_incremental_state_gives_the_batch_rows():
    closes = walk(80, ["A", "B", "C"], seed=5)
    x, _ = make_features(closes)
    state = FeatureState(list(closes.columns))
    seen = 0
    for i, (ts, row) in enumerate(zip(closes.index, closes.to_numpy())):
        block = state.update(int(ts), row)
        assert (block is None) == (i < WINDOW)
        if block is not None:
            np.testing.assert_allclose(block, x.loc[ts].to_numpy(), rtol=1e-12, atol=1e-15)
            seen += 1
    assert seen == len(closes) - WINDOW
    # the per-symbol path (bars arriving one symbol at a time) gives the same blocks
    state2 = FeatureState(list(closes.columns))
    blocks = [b for ts, row in zip(closes.index, closes.to_numpy())
              for s, c in zip(closes.columns, row) for _, b in state2.push(int(ts), s, float(c))]
    assert len(blocks) == len(closes) and np.array_equal(blocks[-1], state.block)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.iloc.__setitem__((30, 1), np.nan), "'B' at row 30"),
    (lambda d: d.iloc.__setitem__((7, 0), -1.0), "'A' at row 7"),
])
def test_bad_closes_raise_one_line_naming_column_and_row(mutate, needle):
    closes = walk(40, ["A", "B"])
    mutate(closes)
    with pytest.raises(DataError, match=needle):
        make_features(closes)


def test_unsorted_index_is_a_data_error():
    closes = walk(40, ["A"]).iloc[::-1]
    with pytest.raises(DataError, match="not increasing"):
        check_closes(closes)


# ------------------------------------------------------------ forest


@pytest.fixture(scope="module")
def planted_forest() -> tuple[ForestModel, pd.DataFrame]:
    closes = lead_lag(330)
    model = ForestModel(SMALL_FOREST)
    model.report = model.fit(closes.iloc[:300])  # type: ignore[attr-defined]
    return model, closes


def test_forest_finds_a_planted_cross_asset_lead(planted_forest):
    model, closes = planted_forest
    m = model.report.metrics
    assert m["val_ic"] > 0.3 and m["val_hit_rate"] > 0.6 and m["val_sharpe"] > 2
    outs = feed(model, closes.iloc[300:])
    assert len(outs) == 30 * 3
    assert all(-1 <= o.value <= 1 and 0 <= o.confidence <= 1 for o in outs)
    top = [name for name, _ in model.explain("A")[:3]]
    assert "xret_B" in top


def test_forest_on_noise_has_no_skill():
    model = ForestModel(SMALL_FOREST)
    m = model.fit(walk(300, ["A", "B", "C"], seed=9)).metrics
    assert abs(m["val_ic"]) < 0.15 and 0.4 < m["val_hit_rate"] < 0.6


def test_forest_path_contributions_add_up_to_sklearn_prediction(planted_forest):
    model, closes = planted_forest
    x, _ = make_features(closes)
    block = x.to_numpy()[-60:]
    pred, agree, contrib, bias = model.predict_block(block)
    assert model.forest is not None
    np.testing.assert_allclose(pred, model.forest.predict(block), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bias + contrib.sum(axis=1), pred, rtol=1e-9, atol=1e-15)
    assert np.all((agree >= 0) & (agree <= 1)) and np.abs(contrib).sum() > 0


def test_forest_is_seeded_and_round_trips_bit_for_bit(planted_forest):
    model, closes = planted_forest
    twin = ForestModel(SMALL_FOREST)
    twin.fit(closes.iloc[:300])
    other = ForestModel({**SMALL_FOREST, "seed": 1})
    other.fit(closes.iloc[:300])
    blob = ForestModel(SMALL_FOREST)
    blob.fit(closes.iloc[:300])
    restored = ForestModel.from_bytes(blob.to_bytes())
    a, b, c = feed(twin, closes.iloc[300:]), feed(restored, closes.iloc[300:]), feed(other, closes.iloc[300:])
    assert [o.value for o in a] == [o.value for o in b]
    assert [o.value for o in a] != [o.value for o in c]
    assert restored.explain("B") == twin.explain("B")


def test_forest_big_move_classifier_gives_probabilities():
    closes = walk(260, ["A", "B"], seed=2)
    model = ForestModel({**SMALL_FOREST, "target": "big_move", "k": 1.5})
    m = model.fit(closes.iloc[:240]).metrics
    assert 0 <= m["val_auc"] <= 1 and math.isnan(m["val_sharpe"]) and 0 < m["val_base_rate"] < 0.5
    outs = feed(model, closes.iloc[240:])
    p = np.array([o.detail["p_big_move"] for o in outs])
    assert outs and np.all((p >= 0) & (p <= 1)) and all(o.value == 0.0 for o in outs)
    x, _ = make_features(closes)
    pred, _, contrib, bias = model.predict_block(x.to_numpy()[-10:])
    np.testing.assert_allclose(bias + contrib.sum(axis=1), pred, atol=1e-12)


def test_forest_rejects_a_window_too_short_and_unknown_symbols(planted_forest):
    with pytest.raises(DataError, match="need at least"):
        ForestModel(SMALL_FOREST).fit(walk(50, ["A"]))
    model, _ = planted_forest
    with pytest.raises(ValueError, match="unknown symbol 'ZZZ'"):
        model.on_bar(10**18, "ZZZ", 1.0)


# ------------------------------------------------------------ LSTM


def test_triple_barrier_labels_on_a_hand_made_series():
    c = pd.Series([100, 101, 103, 102, 99, 98, 100, 100, 100], dtype=float)
    got = triple_barrier_labels(c, k=1.0, h=3, vol=pd.Series(0.02, index=c.index))
    np.testing.assert_array_equal(got.to_numpy(), [1, 0, -1, -1, 0, 1, np.nan, np.nan, np.nan])
    early = triple_barrier_labels(pd.Series([100.0, 100.0, 103.0]), k=1.0, h=3, vol=np.full(3, 0.02))
    np.testing.assert_array_equal(early.to_numpy(), [1, 1, np.nan])  # a hit before the horizon is known
    auto = triple_barrier_labels(walk(40, ["A"])["A"], k=1.0, h=5)
    assert auto.iloc[:20].isna().all() and set(auto.iloc[20:34].unique()) <= {-1.0, 0.0, 1.0}


@pytest.fixture(scope="module")
def lstm_pair() -> tuple[LSTMModel, pd.DataFrame]:
    closes = walk(200, ["A", "B"], seed=4)
    model = LSTMModel(SMALL_LSTM)
    model.fit(closes.iloc[:180])
    return model, closes


def test_lstm_same_seed_same_predictions_and_torch_state_left_alone(lstm_pair):
    model, closes = lstm_pair
    threads, determ = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    twin = LSTMModel(SMALL_LSTM)
    twin.fit(closes.iloc[:180])
    other = LSTMModel({**SMALL_LSTM, "seed": 1})
    other.fit(closes.iloc[:180])
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == determ
    assert torch.equal(torch.get_rng_state(), rng_state)
    a = [o.value for o in feed(twin, closes.iloc[180:])]
    b = [o.value for o in feed(LSTMModel.from_bytes(model.to_bytes()), closes.iloc[180:])]
    c = [o.value for o in feed(other, closes.iloc[180:])]
    assert len(a) == 40 and a == b and a != c


def test_lstm_artifact_gives_bit_identical_predictions(lstm_pair):
    model, closes = lstm_pair
    restored = LSTMModel.from_bytes(model.to_bytes())
    assert restored.scaler == model.scaler
    x = np.random.default_rng(0).normal(0, 0.01, (7, SMALL_LSTM["window"], 2))
    assert np.array_equal(model.predict_windows(x)[0], restored.predict_windows(x)[0])
    assert [o.value for o in feed(model, closes.iloc[180:190])] == \
        [o.value for o in feed(restored, closes.iloc[180:190])]


def test_lstm_scaler_comes_from_the_training_split_only():
    closes = walk(180, ["A", "B"], seed=6)
    base = LSTMModel(SMALL_LSTM)
    base.fit(closes)
    late = closes.copy()
    late.iloc[-5:] *= 1.5  # inside the validation split
    moved_late = LSTMModel(SMALL_LSTM)
    moved_late.fit(late)
    assert moved_late.scaler == base.scaler
    early = closes.copy()
    early.iloc[-100:] *= 1.5  # a jump inside the training split
    moved_early = LSTMModel(SMALL_LSTM)
    moved_early.fit(early)
    assert moved_early.scaler != base.scaler


def test_lstm_triple_barrier_outputs_are_views_with_class_confidence():
    closes = walk(200, ["A"], seed=8)
    model = LSTMModel({**SMALL_LSTM, "labels": "triple_barrier", "h": 3})
    m = model.fit(closes.iloc[:180]).metrics
    assert 0 <= m["val_accuracy"] <= 1
    outs = feed(model, closes.iloc[180:])
    assert len(outs) == 20
    assert all(-1 <= o.value <= 1 and 1 / 3 - 1e-9 <= o.confidence <= 1 for o in outs)


# ------------------------------------------------------------ walk-forward


class AlwaysLong(SignalModel):
    name = "long"
    fits: list[pd.DataFrame] = []

    def fit(self, closes):  # type: ignore[no-untyped-def]
        AlwaysLong.fits.append(closes)
        from core.signals.base import FitReport
        return FitReport(self.name, 1, int(closes.index[0]), int(closes.index[-1]))

    def on_bar(self, ts, symbol, close):  # type: ignore[no-untyped-def]
        return [SignalOut(ts, symbol, self.name, 1.0, 1.0)]

    def to_bytes(self):  # type: ignore[no-untyped-def]
        return b""

    @classmethod
    def from_bytes(cls, blob):  # type: ignore[no-untyped-def]
        return cls()


def test_sharpe_is_annualised_with_ddof_1():
    x = np.array([0.01, -0.02, 0.03])
    assert sharpe(x) == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252))
    assert math.isnan(sharpe(np.zeros(5)))


def test_walk_forward_of_always_long_is_buy_and_hold_and_never_fits_on_test_bars():
    closes = walk(100, ["A"], seed=12)
    AlwaysLong.fits = []
    res = evaluate(AlwaysLong, closes, train_bars=30, test_bars=25)
    m = res.metrics
    r = closes["A"].pct_change().shift(-1).iloc[30:99].to_numpy()
    assert m["n_bars"] == 69 and m["n_folds"] == 3 and m["turnover"] == 0.0
    assert m["sharpe"] == pytest.approx(sharpe(r)) and m["bh_sharpe"] == pytest.approx(sharpe(r))
    assert m["hit_rate"] == pytest.approx(np.mean(r > 0))
    for fold, seen in zip(res.folds, AlwaysLong.fits):
        assert len(seen) == 30 and int(seen.index[-1]) < fold["test_start"]


def test_walk_forward_reports_a_poor_model_honestly():
    closes = lead_lag(330)
    res = evaluate(lambda: ForestModel(SMALL_FOREST), closes, train_bars=200, test_bars=200)
    assert res.metrics["sharpe"] > 1 and res.metrics["hit_rate"] > 0.55  # planted lead is tradeable
    noise = evaluate(lambda: ForestModel(SMALL_FOREST), walk(330, ["A", "B", "C"], seed=13), 200, 200)
    assert abs(noise.metrics["ic"]) < 0.15  # and noise is not


def test_signal_metrics_use_the_sign_of_the_prediction():
    pred = np.array([[0.5, -0.1], [0.2, 0.3]])
    fwd = np.array([[0.01, 0.02], [-0.01, 0.03]])
    m = signal_metrics(pred, fwd)
    assert m["hit_rate"] == 0.5 and m["n"] == 4


# ------------------------------------------------------------ CLI


def run_cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["models", "evaluate", *args])


def test_cli_evaluates_a_two_column_file_and_skips_what_it_cannot_feed():
    res = run_cli(str(FIX / "two_symbols.csv"), "--models", "forest,pairs,sentiment,ensemble",
                  "--train", "100", "--test", "40", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["columns"] == ["AAA", "BBB"] and d["bars"] == 180
    f = d["models"]["forest"]
    assert f["n_bars"] == 79 and f["n_folds"] == 2 and 0 <= f["hit_rate"] <= 1
    closes = pd.read_csv(FIX / "two_symbols.csv").set_index("Date")
    bh = closes.pct_change().shift(-1).iloc[100:179].mean(axis=1).to_numpy()
    assert f["bh_sharpe"] == pytest.approx(sharpe(bh))
    assert d["models"]["sentiment"] == {"skipped": "needs headlines; the file has prices only"}
    assert d["models"]["pairs"].get("pairs") == ["AAA/BBB"] or "failed" in d["models"]["pairs"]
    assert d["models"]["ensemble"]["members"][0] == "forest"


def test_cli_table_on_one_column_lists_skipped_models():
    res = run_cli(str(FIX / "two_symbols.csv"), "--column", "AAA", "--models", "lstm,pairs",
                  "--train", "100", "--test", "80")
    assert res.exit_code == 0, res.output
    assert "lstm" in res.output and "pairs: skipped: needs two or more price columns" in res.output


@pytest.mark.parametrize("args, exc, needle", [
    (["bad_price.csv"], DataError, "bad_price.csv line 42: BBB is not a number ('n/a')"),
    (["two_symbols.csv", "--column", "CCC"], InputError, "no column 'CCC'"),
    (["two_symbols.csv", "--models", "forest,magic"], InputError, "unknown model 'magic'"),
    (["two_symbols.csv", "--train", "10"], InputError, "--train 10"),
    (["two_symbols.csv", "--train", "179"], InputError, "180 rows"),
    (["missing.csv"], InputError, "missing.csv: file not found"),
])
def test_cli_bad_input_is_one_line(args, exc, needle):
    res = run_cli(str(FIX / args[0]), *args[1:])
    assert res.exit_code != 0 and isinstance(res.exception, exc)
    msg = str(res.exception)
    assert needle in msg and "\n" not in msg


def test_cli_on_the_long_sp500_series(shared_data):
    path = shared_data / "skfolio" / "sp500_index.csv"
    if not path.is_file():
        pytest.skip("sp500_index.csv is absent")
    res = run_cli(str(path), "--models", "forest", "--train", "500", "--test", "4000", "--json")
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)["models"]["forest"]
    prices = pd.read_csv(path)["SP500"]
    r = prices.pct_change().shift(-1).iloc[500:8312].to_numpy()
    assert m["n_bars"] == 7812 and m["bh_sharpe"] == pytest.approx(sharpe(r))
    assert 0.45 < m["hit_rate"] < 0.55 and m["coverage"] == 1.0


def test_importing_these_signal_modules_loads_no_ui_or_console():
    import subprocess
    import sys

    code = ("import sys, core.signals.features, core.signals.forest, core.signals.lstm, core.signals.walkforward\n"
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert not {m.split(".")[0] for m in out.split()} & {"rich", "click", "textual", "console", "storage"}


# ------------------------------------------------------------ costs (issue 14)


def test_cost_per_bar_charges_commission_with_its_minimum_and_the_half_spread():
    from core.signals.walkforward import Costs, cost_per_bar

    pos = np.array([[1.0, np.nan], [1.0, -1.0], [0.0, -1.0]])
    fwd = np.full(pos.shape, 0.01)
    c = cost_per_bar(pos, fwd, Costs(commission_bps=1.0, min_commission=50.0, half_spread_bps=2.0, capital=1e6))
    # bar 0: buy 1 book of A (1 held): fee max(50, 100) + spread 200; bar 1: sell B on half the book:
    # fee max(50, 50) + 100; bar 2: A 1 -> 0 on half the book: fee 50 + 100
    assert c == pytest.approx([300 / 1e6, 150 / 1e6, 150 / 1e6])
    free = cost_per_bar(pos, fwd, Costs(0.0, 0.0, 0.0, 1e6))
    assert (free == 0).all()


def test_cli_reports_sharpe_after_the_paper_broker_s_costs(tmp_path):
    res = run_cli(str(FIX / "two_symbols.csv"), "--models", "forest", "--train", "100", "--test", "40", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    f = d["models"]["forest"]
    assert d["costs"]["commission_bps"] == 1.0 and d["costs"]["half_spread_bps"] == 2.0
    assert f["turnover"] > 0 and f["cost_bps"] > 0 and f["sharpe_net"] < f["sharpe"]
    assert f["sharpe_sign_net"] < f["sharpe_sign"]
    free = tmp_path / "free.toml"
    free.write_text("[broker]\ncommission_bps = 0\nmin_commission = 0\nslippage_bps = 0\n")
    res = run_cli(str(FIX / "two_symbols.csv"), "--models", "forest", "--train", "100", "--test", "40",
                  "--config", str(free), "--json")
    g = json.loads(res.output)["models"]["forest"]
    assert g["sharpe_net"] == pytest.approx(g["sharpe"]) and g["cost_bps"] == 0.0
