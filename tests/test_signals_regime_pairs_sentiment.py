"""Signal models: HMM regime, pairs, sentiment, ensemble, and drift checks."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.signals.base import REGISTRY, FitReport, SignalOut, load_all
from core.signals.drift import DriftStatus, SharpeMonitor, ks_drift, ks_status, sharpe, worst
from core.signals.ensemble import Ensemble
from core.signals.hmm import HMMRegime, state_labels
from core.signals.pairs import (BROKEN, FLAT, LONG, SHORT, PairsModel, find_candidate_pairs, spread_z,
                                transition)
from core.signals.sentiment import HeadlineScorer, SentimentModel, load_news

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "signals_a"
DAY_NS = 86_400 * 1_000_000_000
T0 = 1_700_000_000 * 1_000_000_000


def ns_index(n: int, start: int = T0, step: int = DAY_NS) -> pd.Index:
    return pd.Index(start + step * np.arange(n, dtype=np.int64))


def regime_prices(seed: int, n: int = 400, start: float = 100.0) -> np.ndarray:
    """Prices from a 3-regime switching process with clearly separated means and vols."""
    rng = np.random.default_rng(seed)
    mus, sds = (0.006, 0.0, -0.008), (0.006, 0.004, 0.02)
    k, rets = 1, []
    for _ in range(n):
        if rng.random() < 0.04:
            k = int(rng.integers(3))
        rets.append(rng.normal(mus[k], sds[k]))
    return start * np.cumprod(1.0 + np.array(rets))


def real_closes(shared: Path, file: str, start: str, end: str) -> pd.DataFrame:
    df = pd.read_csv(shared / file, index_col=0, parse_dates=True).loc[start:end]
    df.index = pd.Index(df.index.as_unit("ns").asi8)
    return df


def test_registry_holds_the_models():
    reg = load_all()
    for name, cls in (("hmm", HMMRegime), ("pairs", PairsModel), ("sentiment", SentimentModel),
                      ("ensemble", Ensemble)):
        model = reg[name]({"seed": 0})  # what the signal hub passes
        assert isinstance(model, cls) and model.name == name
    assert REGISTRY is reg


# ---- HMM ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def hmm_data() -> pd.DataFrame:
    n = 460
    return pd.DataFrame({"AAA": regime_prices(1, n), "BBB": regime_prices(2, n, 50.0)}, index=ns_index(n))


@pytest.fixture(scope="module")
def hmm_fitted(hmm_data: pd.DataFrame) -> dict[bool, HMMRegime]:
    out = {}
    for use_vol in (False, True):
        m = HMMRegime({"use_vol": use_vol, "seed": 3})
        m.fit(hmm_data.iloc[:400])
        out[use_vol] = m
    return out


@pytest.mark.parametrize("bad", [1, 6, 0, "3", 2.5, True, None])
def test_hmm_rejects_n_states_outside_2_to_5(bad):
    with pytest.raises(ValueError, match="n_states"):
        HMMRegime({"n_states": bad})


def test_hmm_rejects_unknown_and_malformed_params():
    with pytest.raises(ValueError, match="n_state"):
        HMMRegime({"n_state": 3})
    with pytest.raises(ValueError, match="use_vol"):
        HMMRegime({"use_vol": "yes"})
    with pytest.raises(ValueError, match="seed"):
        HMMRegime({"seed": -1})


def test_hmm_state_labels_run_bearish_to_bullish():
    assert state_labels(2) == ["bearish", "bullish"]
    assert state_labels(3) == ["bearish", "neutral", "bullish"]
    assert state_labels(5) == ["bearish", "neutral_1", "neutral_2", "neutral_3", "bullish"]


def _features(prices: np.ndarray, use_vol: bool, window: int, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Features computed independently of the model (pandas rolling std)."""
    rets = pd.Series(prices).pct_change().iloc[1:].reset_index(drop=True)
    if use_vol:
        vol = np.log(rets.rolling(window).std(ddof=1))
        feats = np.column_stack([rets, vol])[window - 1:]
    else:
        feats = rets.to_numpy()[:, None]
    return (feats - mean) / std


@pytest.mark.parametrize("use_vol", [False, True])
def test_hmm_forward_filter_equals_hmmlearn_predict_proba_last_row(hmm_data, hmm_fitted, use_vol):
    m = HMMRegime.from_bytes(hmm_fitted[use_vol].to_bytes())
    st = m._fits["AAA"]
    ref = m.hmmlearn_model("AAA")
    prices = hmm_data["AAA"].to_numpy()
    for i in range(400, 460):
        m.on_bar(int(hmm_data.index[i]), "AAA", float(prices[i]))
        if i % 10 == 9 or i == 400:
            x = _features(prices[:i + 1], use_vol, 20, st["feat_mean"], st["feat_std"])
            expected = ref.predict_proba(x)[-1]
            np.testing.assert_allclose(m.posterior("AAA"), expected, rtol=0, atol=1e-8)


def test_hmm_on_bar_does_not_refit(hmm_data, hmm_fitted):
    m = HMMRegime.from_bytes(hmm_fitted[False].to_bytes())
    before = {k: np.array(v, copy=True) for k, v in m._fits["AAA"].items()
              if k in ("means", "variances", "transmat")}
    for i in range(400, 420):
        m.on_bar(int(hmm_data.index[i]), "AAA", float(hmm_data["AAA"].iloc[i]))
    for k, v in before.items():
        assert np.array_equal(v, m._fits["AAA"][k])


@pytest.mark.parametrize("n_states", [2, 3, 4, 5])
def test_hmm_labels_follow_state_means(hmm_data, n_states):
    m = HMMRegime({"n_states": n_states})
    m.fit(hmm_data.iloc[:400][["AAA"]])
    out = m.state()[0]
    means = out.detail["state_mean_return"]
    assert list(means) == list(reversed(state_labels(n_states)))  # listed bullish first
    vals = list(means.values())
    assert all(a > b for a, b in zip(vals, vals[1:]))
    assert set(out.detail["posteriors"]) == set(state_labels(n_states))
    assert math.isclose(sum(out.detail["posteriors"].values()), 1.0, abs_tol=1e-12)
    assert out.detail["regime"] == max(out.detail["posteriors"], key=out.detail["posteriors"].get)


def test_hmm_output_ranges_and_bearish_run(hmm_data, hmm_fitted):
    m = HMMRegime.from_bytes(hmm_fitted[False].to_bytes())
    last = float(hmm_data["AAA"].iloc[399])
    outs = []
    for i in range(400, 415):  # fifteen -3% days
        last *= 0.97
        outs += m.on_bar(int(hmm_data.index[i]), "AAA", last)
    for o in outs:
        assert -1.0 <= o.value <= 1.0 and 0.0 <= o.confidence <= 1.0
        assert 0.5 <= o.detail["risk_scale"] <= 1.0
    assert outs[-1].detail["regime"] == "bearish"
    assert outs[-1].value < -0.5 and outs[-1].detail["risk_scale"] < 0.6
    up = HMMRegime.from_bytes(hmm_fitted[False].to_bytes())
    last = float(hmm_data["AAA"].iloc[399])
    for i in range(400, 415):
        last *= 1.006
        o = up.on_bar(int(hmm_data.index[i]), "AAA", last)[0]
    assert o.detail["regime"] == "bullish" and o.value > 0.5 and o.detail["risk_scale"] > 0.9


def test_hmm_same_seed_same_fit_and_outputs(hmm_data):
    runs = []
    for _ in range(2):
        m = HMMRegime({"seed": 7, "use_vol": True})
        rep = m.fit(hmm_data.iloc[:400])
        outs = [o for i in range(400, 430) for s in ("AAA", "BBB")
                for o in m.on_bar(int(hmm_data.index[i]), s, float(hmm_data[s].iloc[i]))]
        runs.append((rep, outs, m.to_bytes()))
    assert runs[0] == runs[1]
    assert runs[0][0].version == 1 and runs[0][0].train_end == int(hmm_data.index[399])


def test_hmm_round_trip_reproduces_outputs_bit_for_bit(hmm_data, hmm_fitted):
    for use_vol in (False, True):
        a = HMMRegime.from_bytes(hmm_fitted[use_vol].to_bytes())
        for i in range(400, 420):
            a.on_bar(int(hmm_data.index[i]), "AAA", float(hmm_data["AAA"].iloc[i]))
        b = HMMRegime.from_bytes(a.to_bytes())
        assert b.state() == a.state() and b.version == a.version and b.fitted_at == a.fitted_at
        for i in range(420, 460):
            for s in ("AAA", "BBB"):
                ts, c = int(hmm_data.index[i]), float(hmm_data[s].iloc[i])
                assert a.on_bar(ts, s, c) == b.on_bar(ts, s, c)
        assert a.explain("AAA") == b.explain("AAA") and a.explain("AAA")


def test_hmm_bad_inputs_are_one_line_errors(hmm_data):
    m = HMMRegime()
    with pytest.raises(DataError, match="AAA has 9 feature rows"):
        m.fit(hmm_data.iloc[:10][["AAA"]])
    bad = hmm_data.iloc[:400].copy()
    bad.iloc[50, 1] = -1.0
    with pytest.raises(DataError, match=f"BBB at ts {int(bad.index[50])}.*positive"):
        m.fit(bad)
    dated = hmm_data.iloc[:400].copy()
    dated.index = pd.date_range("2020-01-01", periods=400)
    with pytest.raises(DataError, match="int nanosecond"):
        m.fit(dated)
    m.fit(hmm_data.iloc[:400])
    assert m.on_bar(int(hmm_data.index[400]), "ZZZ", 1.0) == []
    with pytest.raises(DataError, match="not after"):
        m.on_bar(int(hmm_data.index[399]), "AAA", 100.0)
    with pytest.raises(DataError, match="AAA.*nan"):
        m.on_bar(int(hmm_data.index[400]), "AAA", float("nan"))
    with pytest.raises(DataError, match="not a hmm model"):
        HMMRegime.from_bytes(PairsModel({"pairs": ["A/B"]}).to_bytes())
    with pytest.raises(DataError, match="not readable"):
        HMMRegime.from_bytes(b"garbage")


def test_hmm_on_sp500_marks_autumn_2008_bearish_and_risky(shared_data):
    df = real_closes(shared_data, "skfolio/sp500_index.csv", "2003-01-01", "2008-10-15")
    train_end = int(pd.Timestamp("2007-12-31").value)
    results = {}
    for use_vol in (False, True):
        m = HMMRegime({"use_vol": use_vol})
        m.fit(df.loc[:train_end])
        for ts, c in df.loc[train_end + 1:, "SP500"].items():
            out = m.on_bar(int(ts), "SP500", float(c))[0]
        results[use_vol] = out
    assert results[False].detail["regime"] == "bearish" and results[False].value < -0.5
    assert results[False].detail["risk_scale"] <= 0.55
    assert results[True].detail["risk_scale"] <= 0.55  # the high-volatility state caps the size


# ---- pairs -------------------------------------------------------------------

def test_spread_z_matches_a_hand_computed_example():
    # OLS of A on B: beta = Sxy / Sxx = 22 / 10 = 2.2, alpha = 6.2 - 2.2 * 3 = -0.4;
    # residuals 0.2, 0, -0.2, -0.4, 0.4; sample var 0.4 / 4 = 0.1; z = 0.4 / sqrt(0.1).
    z, beta, alpha = spread_z(np.array([2.0, 4, 6, 8, 11]), np.array([1.0, 2, 3, 4, 5]))
    assert beta == pytest.approx(2.2, abs=1e-12)
    assert alpha == pytest.approx(-0.4, abs=1e-12)
    assert z == pytest.approx(4 / math.sqrt(10), abs=1e-12)


def test_pairs_model_z_on_bar_matches_the_hand_example():
    rng = np.random.default_rng(0)
    b = 20 + np.cumsum(rng.normal(0, 0.5, 30))
    a = 2 * b + rng.normal(0, 0.3, 30)
    m = PairsModel({"pairs": ["AA/BB"], "window": 5, "coint_window": 30, "recheck_every": 1000})
    m.fit(pd.DataFrame({"AA": a, "BB": b}, index=ns_index(30)))
    for i, (pa, pb) in enumerate(zip([2.0, 4, 6, 8, 11], [1.0, 2, 3, 4, 5])):
        ts = T0 + (30 + i) * DAY_NS
        assert m.on_bar(ts, "BB", pb) == []  # one leg alone does not advance the pair
        outs = m.on_bar(ts, "AA", pa)
    a_out, b_out = outs
    assert (a_out.symbol, b_out.symbol) == ("AA", "BB")
    assert a_out.detail["z"] == pytest.approx(4 / math.sqrt(10), abs=1e-12)
    assert a_out.detail["hedge_ratio"] == pytest.approx(2.2, abs=1e-12)
    assert b_out.detail["units"] == pytest.approx(-2.2, abs=1e-12)
    assert a_out.ts == T0 + 34 * DAY_NS


E, X, S = 2.0, 0.5, 4.0


@pytest.mark.parametrize("state,z,broken,expected", [
    (FLAT, 2.0, False, (FLAT, "")),            # exactly at entry: no entry
    (FLAT, 2.0001, False, (SHORT, "entry")),
    (FLAT, 1.9999, False, (FLAT, "")),
    (FLAT, -2.0, False, (FLAT, "")),
    (FLAT, -2.0001, False, (LONG, "entry")),
    (FLAT, 4.0, False, (FLAT, "")),            # at/above stop: never enter
    (FLAT, -4.5, False, (FLAT, "")),
    (FLAT, 3.0, True, (BROKEN, "broken")),
    (LONG, -0.5, False, (LONG, "")),           # exactly at exit: hold
    (LONG, -0.4999, False, (FLAT, "exit")),
    (LONG, 0.2, False, (FLAT, "exit")),
    (LONG, 2.5, False, (FLAT, "exit")),        # jumped through the band: out
    (LONG, -3.9, False, (LONG, "")),
    (LONG, -4.0, False, (LONG, "")),           # exactly at stop: hold
    (LONG, -4.0001, False, (FLAT, "stop")),
    (SHORT, 0.5, False, (SHORT, "")),
    (SHORT, 0.4999, False, (FLAT, "exit")),
    (SHORT, 4.0001, False, (FLAT, "stop")),
    (SHORT, 4.0, False, (SHORT, "")),
    (SHORT, 1.5, True, (SHORT, "")),           # broken keeps an open position...
    (SHORT, 0.3, True, (BROKEN, "exit")),      # ...until it exits at exit_z
    (LONG, -4.2, True, (BROKEN, "stop")),
    (BROKEN, 3.0, True, (BROKEN, "")),         # no entries while broken
    (BROKEN, 3.0, False, (SHORT, "entry")),    # cointegrated again
    (BROKEN, 0.1, False, (FLAT, "recovered")),
])
def test_pair_state_machine_at_below_and_above_thresholds(state, z, broken, expected):
    assert transition(state, z, broken, E, X, S) == expected


def _walk_pair(m: PairsModel, frame: pd.DataFrame, legs: tuple[str, str]) -> list[SignalOut]:
    outs = []
    for ts, row in frame.iterrows():
        for leg in legs:
            outs += m.on_bar(int(ts), leg, float(row[leg]))
    return outs


def test_pairs_go_broken_when_cointegration_breaks_and_stop_entering():
    rng = np.random.default_rng(5)
    n_fit, n_live = 300, 200
    b = 50 + np.cumsum(rng.normal(0, 1, n_fit + n_live))
    a = np.empty_like(b)
    a[:n_fit] = 1.5 * b[:n_fit] + rng.normal(0, 1, n_fit) + 10
    a[n_fit:] = a[n_fit - 1] + np.cumsum(rng.normal(0, 2, n_live))  # decoupled random walk
    a, b = np.abs(a) + 1, np.abs(b) + 1
    frame = pd.DataFrame({"A": a, "B": b}, index=ns_index(n_fit + n_live))
    m = PairsModel({"pairs": ["A/B"], "window": 40, "coint_window": 120, "recheck_every": 10})
    rep = m.fit(frame.iloc[:n_fit])
    assert rep.metrics["coint_p:A/B"] < 0.05 and m.pair_state("A/B") == FLAT
    outs = [o for o in _walk_pair(m, frame.iloc[n_fit:], ("A", "B")) if o.symbol == "A"]
    first_broken = next(i for i, o in enumerate(outs) if o.detail["broken"])
    assert first_broken % 10 == 9  # found at a recheck
    assert outs[first_broken].detail["coint_p"] >= 0.05
    assert m.pair_state("A/B") == BROKEN
    for prev, o in zip(outs[first_broken:], outs[first_broken + 1:]):
        if o.detail["broken"]:
            assert o.detail["event"] != "entry"
            if prev.detail["state"] in (FLAT, BROKEN):
                assert o.value == 0.0


def test_pairs_legs_and_values_follow_the_state():
    rng = np.random.default_rng(11)
    n = 260
    b = 40 + np.cumsum(rng.normal(0, 0.5, n))
    noise = np.zeros(n)
    for i in range(1, n):  # mean-reverting spread
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 1)
    a = 2 * b + noise + 5
    frame = pd.DataFrame({"A": a, "B": b}, index=ns_index(n))
    m = PairsModel({"pairs": ["A/B"], "window": 30, "coint_window": 100, "recheck_every": 25})
    m.fit(frame.iloc[:100])
    outs = _walk_pair(m, frame.iloc[100:], ("A", "B"))
    pairs = list(zip(outs[::2], outs[1::2]))
    seen = {o.detail["state"] for o, _ in pairs}
    assert {LONG, SHORT} <= seen
    prev = FLAT
    for a_out, b_out in pairs:
        st = a_out.detail["state"]
        assert (st, a_out.detail["event"]) == transition(prev, a_out.detail["z"], a_out.detail["broken"], 2, 0.5, 4)
        expect = {LONG: 1.0, SHORT: -1.0}.get(st, 0.0)
        assert a_out.value == expect and b_out.value == (-expect if expect else 0.0)
        assert b_out.detail["hedge_ratio"] == a_out.detail["hedge_ratio"] > 0
        assert 0.0 <= a_out.confidence <= 1.0
        prev = st


def test_pairs_round_trip_mid_bar_reproduces_outputs():
    rng = np.random.default_rng(2)
    n = 200
    b = 30 + np.cumsum(rng.normal(0, 0.4, n))
    a = 1.2 * b + rng.normal(0, 0.5, n) + 3
    frame = pd.DataFrame({"A": a, "B": b}, index=ns_index(n))
    m = PairsModel({"pairs": ["A/B"], "window": 20, "coint_window": 60, "recheck_every": 7})
    m.fit(frame.iloc[:100])
    _walk_pair(m, frame.iloc[100:150], ("A", "B"))
    m.on_bar(int(frame.index[150]), "A", float(frame["A"].iloc[150]))  # one leg pending
    c = PairsModel.from_bytes(m.to_bytes())
    assert c.state() == m.state()
    assert c.on_bar(int(frame.index[150]), "B", float(frame["B"].iloc[150])) == \
        m.on_bar(int(frame.index[150]), "B", float(frame["B"].iloc[150]))
    assert _walk_pair(c, frame.iloc[151:], ("A", "B")) == _walk_pair(m, frame.iloc[151:], ("A", "B"))


@pytest.mark.parametrize("params,field", [
    ({"pairs": ["KOPEP"]}, "pairs"), ({"pairs": ["KO/KO"]}, "pairs"), ({"pairs": []}, "pairs"),
    ({"pairs": "KO/PEP"}, "pairs"), ({"max_pairs": 0}, "max_pairs"), ({"min_corr": 2}, "min_corr"),
    ({"pairs": ["A/B"], "exit_z": 2.5}, "exit_z < entry_z"), ({"pairs": ["A/B"], "window": 2}, "window"),
    ({"pairs": ["A/B"], "stop_z": -1}, "stop_z"), ({"pairs": ["A/B"], "window": 300}, "coint_window"),
    ({"pairs": ["A/B"], "recheck_every": 0}, "recheck_every"), ({"pairs": ["A/B"], "entry": 2}, "entry"),
])
def test_pairs_params_are_validated(params, field):
    with pytest.raises(ValueError, match=field):
        PairsModel(params)


def test_pairs_fit_needs_both_legs():
    frame = pd.DataFrame({"A": np.linspace(1, 2, 60)}, index=ns_index(60))
    with pytest.raises(DataError, match="no column B for pair A/B"):
        PairsModel({"pairs": ["A/B"]}).fit(frame)
    with pytest.raises(DataError, match="no rows"):
        PairsModel().fit(frame.iloc[:0])
    with pytest.raises(DataError, match="A/B has 20 aligned closes, need at least 60"):
        PairsModel({"pairs": ["A/B"]}).fit(frame.iloc[:20].assign(B=2.0))


def test_ko_pep_2012_2014_is_cointegrated_and_xom_cvx_is_not(shared_data):
    df = real_closes(shared_data, "skfolio/sp500_dataset.csv", "2012-01-01", "2015-06-30")
    train_end = int(pd.Timestamp("2014-12-31").value)
    m = PairsModel({"pairs": ["KO/PEP", "XOM/CVX"]})
    rep = m.fit(df.loc[:train_end])
    assert rep.metrics["coint_p:KO/PEP"] < 0.05 <= rep.metrics["coint_p:XOM/CVX"]
    assert m.pair_state("KO/PEP") == FLAT and m.pair_state("XOM/CVX") == BROKEN
    live = df.loc[train_end + 1:]
    outs = _walk_pair(m, live, ("KO", "PEP", "XOM", "CVX"))
    ko = [o for o in outs if o.symbol == "KO"]
    assert len(ko) == len(live)
    assert all(0.0 < o.detail["hedge_ratio"] < 1.0 for o in ko)  # KO ~31, PEP ~76
    assert any(o.detail["event"] == "entry" for o in ko)
    xom = [o for o in outs if o.symbol == "XOM"]
    assert all(o.value == 0.0 for o in xom if o.detail["broken"])
    found = find_candidate_pairs(df.loc[:train_end, ["KO", "PEP", "XOM", "CVX"]])
    assert found[0][:2] == ("KO", "PEP") and found[0][2] < 0.05
    assert ("XOM", "CVX") not in {f[:2] for f in found}
    assert [f[2] for f in found] == sorted(f[2] for f in found)


def test_pairs_without_a_list_finds_its_pairs_at_fit():
    rng = np.random.default_rng(4)
    b = 50 + np.cumsum(rng.normal(0, 1, 300))
    frame = pd.DataFrame({"A": 2 * b + rng.normal(0, 1, 300) + 10, "B": b,
                          "C": 80 + np.cumsum(rng.normal(0, 1, 300))}, index=ns_index(300)).abs() + 1
    m = PairsModel({"seed": 0, "coint_window": 200})
    rep = m.fit(frame)
    assert m.pair_names == ["A/B"] and rep.metrics["n_pairs"] == 1.0
    assert m.pair_state("A/B") == FLAT
    ts = T0 + 300 * DAY_NS
    assert m.on_bar(ts, "C", 80.0) == []
    m.on_bar(ts, "A", float(frame["A"].iloc[-1]))
    assert [o.symbol for o in m.on_bar(ts, "B", float(frame["B"].iloc[-1]))] == ["A", "B"]
    assert PairsModel.from_bytes(m.to_bytes()).pair_names == ["A/B"]
    none = PairsModel({"min_corr": 1.0})
    assert none.fit(frame).metrics["n_pairs"] == 0.0 and none.on_bar(ts, "A", 1.0) == []


def test_find_candidate_pairs_respects_min_corr_and_bad_prices():
    rng = np.random.default_rng(4)
    b = 50 + np.cumsum(rng.normal(0, 1, 300))
    frame = pd.DataFrame({"A": 2 * b + rng.normal(0, 1, 300) + 10, "B": b,
                          "C": 80 + np.cumsum(rng.normal(0, 1, 300))})
    frame = frame.abs() + 1
    found = find_candidate_pairs(frame)
    assert [f[:2] for f in found] == [("A", "B")]
    assert find_candidate_pairs(frame, min_corr=1.01) == []
    frame.loc[5, "C"] = 0.0
    with pytest.raises(DataError, match="C at row 5"):
        find_candidate_pairs(frame)


# ---- sentiment ---------------------------------------------------------------

@pytest.fixture(scope="module")
def scorer() -> HeadlineScorer:
    return HeadlineScorer()


def test_rate_cuts_are_good_news_and_fraud_probe_plunges_are_bad(scorer):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    plain = SentimentIntensityAnalyzer()
    assert plain.polarity_scores("Fed signals rate cuts")["compound"] < 0
    assert scorer.score("Fed signals rate cuts") > 0.2
    fraud = "Shares plunge after fraud probe"
    assert scorer.score(fraud) < -0.5
    assert scorer.score(fraud) < plain.polarity_scores(fraud)["compound"]
    # the finance lexicon is per analyzer: VADER's default is untouched
    assert "plunge" not in SentimentIntensityAnalyzer().lexicon


@pytest.mark.parametrize("headline,sign", [
    ("Apple beats earnings estimates, raises guidance", 1),
    ("Nvidia shares surge to record high on AI demand", 1),
    ("Boeing shares tumble after FAA probe", -1),
    ("Retailer misses revenue estimates and cuts full-year outlook", -1),
    ("Moody's downgrades regional bank to junk", -1),
    ("Goldman upgrades Tesla to buy", 1),
    ("Airline files for bankruptcy protection", -1),
    ("Tech giant announces 10,000 layoffs", -1),
    ("Stocks rally as Fed signals rate cuts", 1),
    ("Utility warns it may default on bond payments", -1),
    ("Fed hikes rates again as inflation persists", -1),
    ("Dividend raised 10% after strong quarter", 1),
    ("Chipmaker slashes forecast as demand weakens", -1),
    ("Bank cuts 5,000 jobs", -1),
    ("Fed will not cut rates this year", -1),
    ("No rate cuts expected, Fed says", -1),
    ("Company to hold annual meeting on Tuesday", 0),
])
def test_finance_headlines_score_with_the_expected_sign(scorer, headline, sign):
    s = scorer.score(headline)
    if sign == 0:
        assert abs(s) < 0.05
    else:
        assert s * sign > 0.2, s


HL_NS = 3600 * 1_000_000_000


def test_sentiment_decays_by_half_life_in_market_time(monkeypatch):
    m = SentimentModel()
    first = m.on_headline(T0, "KO", "Coca-Cola beats estimates")[0]
    assert first.value > 0.3 and first.confidence == pytest.approx(0.5)

    def no_clock(*_a, **_k):
        raise AssertionError("the wall clock was read")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter"):
        monkeypatch.setattr(time, name, no_clock)
    one = m.on_bar(T0 + HL_NS, "KO", 50.0)[0]
    assert one.value == pytest.approx(first.value / 2, rel=1e-12)
    assert one.confidence == pytest.approx(1 - 0.5 ** 0.5, rel=1e-12)
    assert one.detail["age_s"] == 3600.0
    # on_bar does not change the state: asking again, or earlier, gives the same decay
    assert m.on_bar(T0 + 2 * HL_NS, "KO", 50.0)[0].value == pytest.approx(first.value / 4, rel=1e-12)
    assert m.on_bar(T0 + HL_NS, "KO", 50.0)[0] == one
    second = m.on_headline(T0 + 2 * HL_NS, "KO", "Shares plunge after fraud probe")[0]
    compound = HeadlineScorer().score("Shares plunge after fraud probe")
    assert second.value == pytest.approx(first.value / 4 + compound, rel=1e-12)
    assert m.on_bar(T0 + 2 * HL_NS, "PEP", 10.0) == []


def test_sentiment_half_life_param_and_clipping():
    m = SentimentModel({"half_life_s": 60})
    for i in range(5):
        out = m.on_headline(T0 + i, "X", "Stocks rally to record high as profits surge")[0]
    assert out.value == 1.0  # clipped
    assert m.on_bar(T0 + 4 + 60 * 1_000_000_000, "X", 1.0)[0].value == pytest.approx(0.5)
    # an earlier ts never amplifies the score
    assert m.on_bar(T0 - 10**12, "X", 1.0)[0].value == 1.0
    late = m.on_headline(T0, "X", "Company to hold annual meeting on Tuesday")[0]
    assert late.value == 1.0
    with pytest.raises(ValueError, match="half_life_s"):
        SentimentModel({"half_life_s": 0})
    with pytest.raises(DataError, match="int nanoseconds"):
        m.on_headline(1.5, "X", "text")  # type: ignore[arg-type]


def test_sentiment_fit_is_a_no_op_and_round_trips():
    m = SentimentModel()
    rep = m.fit(pd.DataFrame({"KO": [1.0, 2.0]}, index=ns_index(2)))
    assert isinstance(rep, FitReport) and rep.model == "sentiment" and rep.train_end == T0 + DAY_NS
    m.on_headline(T0, "KO", "Coca-Cola upgraded to outperform")
    m.on_headline(T0 + 10, "PEP", "PepsiCo misses estimates")
    c = SentimentModel.from_bytes(m.to_bytes())
    assert c.state() == m.state()
    for ts in (T0 + 100, T0 + HL_NS):
        assert c.on_bar(ts, "KO", 1.0) == m.on_bar(ts, "KO", 1.0)
    assert c.on_headline(T0 + HL_NS, "PEP", "PepsiCo rallies") == m.on_headline(T0 + HL_NS, "PEP", "PepsiCo rallies")


def test_load_news_csv_and_jsonl():
    rows = load_news(FIXTURES / "news.csv")
    t1430 = int(pd.Timestamp("2024-03-01 14:30", tz="UTC").value)
    assert [(h.ts, h.symbol) for h in rows] == [(t1430 - 1800 * 10**9, "PEP"), (t1430, "KO"), (t1430, "KO")]
    assert rows[0].text == "PepsiCo shares tumble after FDA probe, analysts downgrade"
    assert rows[2].text == "Fed signals rate cuts"
    js = load_news(FIXTURES / "news.jsonl")
    assert [(h.ts, h.symbol) for h in js] == [(int(pd.Timestamp("2024-03-01", tz="UTC").value), "MSFT"),
                                              (t1430, "AAPL")]


@pytest.mark.parametrize("name,body,message", [
    ("a.csv", "time,symbol,headline\n2024-01-01,KO,fine\nnot-a-date,KO,x\n", "line 3: bad ts"),
    ("b.csv", "time,ticker,text\n2024-01-01,,Beats\n", "line 2: empty symbol"),
    ("c.csv", "when,symbol,headline\n2024-01-01,KO,x\n", "line 2: missing column ts/time/date"),
    ("d.csv", "ts,symbol,headline\n1,KO,   \n", "line 2: empty headline"),
    ("e.csv", "ts,symbol,headline\n1,KO,a,extra\n", "line 2: more fields"),
    ("f.csv", "", "empty file"),
    ("g.jsonl", '{"ts": 1, "symbol": "KO", "text": "ok"}\n{"ts": 2, "symbol": \n', "line 2: not valid JSON"),
    ("h.jsonl", '[1, 2]\n', "line 1: expected a JSON object"),
    ("i.txt", "x", "unsupported news file type"),
])
def test_load_news_errors_name_file_and_line(tmp_path, name, body, message):
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(DataError, match=message) as info:
        load_news(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_load_news_missing_file(tmp_path):
    with pytest.raises(DataError, match="news file not found"):
        load_news(tmp_path / "nope.csv")


# ---- ensemble ----------------------------------------------------------------

def _out(model: str, value: float, conf: float = 1.0, ts: int = T0) -> SignalOut:
    return SignalOut(ts, "KO", model, value, conf)


def test_ensemble_weights_the_model_that_is_right():
    ens = Ensemble({"auto_update": False})
    first = ens.combine("KO", [_out("right", 1.0), _out("wrong", -1.0), _out("new", 0.5)])
    assert first.detail["weights"] == {"new": pytest.approx(1 / 3), "right": pytest.approx(1 / 3),
                                       "wrong": pytest.approx(1 / 3)}
    rng = np.random.default_rng(0)
    for t in range(40):
        r = float(rng.normal(0, 0.01)) or 0.001
        s = 1.0 if r > 0 else -1.0
        ens.combine("KO", [_out("right", s), _out("wrong", -s)])
        ens.update_performance("KO", r)
    w = ens.combine("KO", [_out("right", 1.0), _out("wrong", -1.0), _out("fresh", 1.0)]).detail["weights"]
    assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-12)
    assert w["right"] > 0.8 and w["wrong"] < 0.1
    assert w["fresh"] == pytest.approx(w["wrong"])  # a new model gets the prior weight, not zero
    assert w["fresh"] > 0
    assert ens.hit_rate("KO", "right") > 0.9 and ens.hit_rate("KO", "wrong") < 0.1
    assert ens.hit_rate("PEP", "right") == 0.5  # per symbol


def test_ensemble_value_is_the_weighted_mean():
    ens = Ensemble({"auto_update": False, "prior": 0.1})
    ens.combine("KO", [_out("a", 1.0), _out("b", -1.0)])
    ens.update_performance("KO", 0.02)  # a right, b wrong: hits a=1, misses b=1
    out = ens.combine("KO", [_out("b", 0.5, 0.2), _out("a", 0.8, 0.6)])
    # h_a = 2/3 -> raw 1/3 + 0.1; h_b = 1/3 -> raw 0 + 0.1
    wa, wb = (1 / 3 + 0.1) / (1 / 3 + 0.2), 0.1 / (1 / 3 + 0.2)
    assert out.detail["weights"] == {"a": pytest.approx(wa), "b": pytest.approx(wb)}
    assert out.value == pytest.approx(wa * 0.8 + wb * 0.5)
    assert out.confidence == pytest.approx(wa * 0.6 + wb * 0.2)
    assert ens.explain("KO")[0][0] == "a"


def test_ensemble_no_view_or_flat_return_is_no_evidence_and_empty_is_neutral():
    ens = Ensemble({"auto_update": False})
    ens.combine("KO", [_out("a", 0.0), _out("b", 1.0)])
    ens.update_performance("KO", 0.01)
    ens.update_performance("KO", 0.0)
    assert ens.hit_rate("KO", "a") == 0.5 and ens.hit_rate("KO", "b") == 2 / 3
    empty = ens.combine("KO", [])
    assert (empty.value, empty.confidence, empty.detail["weights"]) == (0.0, 0.0, {})
    with pytest.raises(ValueError, match="for PEP, not KO"):
        ens.combine("KO", [SignalOut(T0, "PEP", "a", 1.0, 1.0)])
    with pytest.raises(ValueError, match="realized_return"):
        ens.update_performance("KO", float("inf"))


def test_ensemble_on_bar_learns_from_closes_deterministically_and_round_trips():
    def run(ens: Ensemble, closes: list[float], start: int = 0) -> list[SignalOut]:
        outs = []
        for i, c in enumerate(closes):
            ts = T0 + (start + i) * DAY_NS
            ens.on_bar(ts, "KO", c)
            nxt = closes[i + 1] if i + 1 < len(closes) else c
            up = 1.0 if nxt > c else -1.0
            outs.append(ens.combine("KO", [_out("wrong", -up, ts=ts), _out("right", up, ts=ts)]))
        return outs

    closes = [100 * 1.01 ** (i % 5) for i in range(30)]
    a, b = Ensemble(), Ensemble()
    outs_a, outs_b = run(a, closes), run(b, closes)
    assert outs_a == outs_b
    assert outs_a[-1].detail["weights"]["right"] > 0.8
    c = Ensemble.from_bytes(a.to_bytes())
    assert c.state() == a.state()
    more = [101.0, 99.0, 102.0]
    assert run(c, more, 30) == run(a, more, 30)
    with pytest.raises(DataError, match="not after"):
        a.on_bar(T0, "KO", 100.0)


# ---- drift -------------------------------------------------------------------

def test_ks_drift_same_vs_shifted_distribution():
    rng = np.random.default_rng(42)
    ref = rng.normal(0, 1, 500)
    same = rng.normal(0, 1, 300)
    shifted = rng.normal(0.5, 1, 300)
    drifted, stat, p = ks_drift(ref, same)
    assert not drifted and p > 0.05 and 0 <= stat < 0.1
    drifted, stat, p = ks_drift(ref, shifted)
    assert drifted and p < 1e-6 and stat > 0.15
    wider = rng.normal(0, 2, 300)
    assert ks_drift(ref, wider)[0]
    assert ks_status(ref, shifted).status == "drift"
    assert ks_status(ref, same).status == "ok"


@pytest.mark.parametrize("ref,rec,alpha,field", [
    ([], [1.0], 0.05, "reference"), ([1.0], [np.nan], 0.05, "recent contains nan at index 0"),
    ([1.0], ["x"], 0.05, "recent is not numeric"), ([1.0], [2.0], 1.5, "alpha"),
    ([[1.0]], [2.0], 0.05, "one-dimensional"),
])
def test_ks_drift_rejects_bad_input(ref, rec, alpha, field):
    with pytest.raises(ValueError, match=field):
        ks_drift(ref, rec, alpha)


def test_sharpe_is_annualised_with_ddof_1():
    r = [0.01, -0.005, 0.002, 0.007]
    mean = sum(r) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert sharpe(r) == pytest.approx(mean / sd * math.sqrt(252), rel=1e-12)
    assert sharpe([0.01]) == 0.0 and sharpe([0.01, 0.01]) == 0.0


def test_sharpe_monitor_levels():
    rng = np.random.default_rng(7)
    mon = SharpeMonitor(validation_sharpe=2.0, ratio=0.7, window=100, min_obs=20)
    assert mon.threshold == pytest.approx(1.4)
    for r in rng.normal(0.003, 0.01, 19):
        st = mon.update(float(r))
    assert st.status == "ok" and "not enough data" in st.reason and mon.live_sharpe() == 0.0
    good = SharpeMonitor(2.0, window=100)
    for r in rng.normal(0.003, 0.01, 100):
        st = good.update(float(r))
    assert st.status == "ok" and good.live_sharpe() > 1.4
    bad = SharpeMonitor(2.0, window=100)
    statuses = [bad.update(float(r)).status for r in rng.normal(-0.001, 0.01, 100)]
    assert statuses[50] == "warning" and statuses[-1] == "drift"
    assert bad.live_sharpe() < 1.4
    # a full window slides: good returns bring it back to ok
    for r in rng.normal(0.004, 0.01, 100):
        st = bad.update(float(r))
    assert st.status == "ok"
    neg = SharpeMonitor(-1.0, ratio=0.5)
    assert neg.threshold == pytest.approx(-1.5)


@pytest.mark.parametrize("kwargs,field", [
    ({"validation_sharpe": float("nan")}, "validation_sharpe"), ({"validation_sharpe": 1, "ratio": 0}, "ratio"),
    ({"validation_sharpe": 1, "window": 1}, "window"), ({"validation_sharpe": 1, "window": 10, "min_obs": 11}, "min_obs"),
])
def test_sharpe_monitor_rejects_bad_params(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SharpeMonitor(**kwargs)


def test_drift_status_and_worst():
    with pytest.raises(ValueError, match="status"):
        DriftStatus("bad", "x")  # type: ignore[arg-type]
    a, b, c = DriftStatus("ok", "a"), DriftStatus("drift", "b"), DriftStatus("warning", "c")
    assert worst([a, c, b, DriftStatus("drift", "d")]) is b
    assert worst([]).status == "ok"
