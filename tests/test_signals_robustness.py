"""Noise-injection robustness (``console models evaluate --noise``): the
perturbations are what they say, fits stay clean, scores use the clean
returns, and a model that leans on the last return is hurt by the attack."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from console.cli import cli
from core.errors import InputError
from core.signals.base import FitReport, SignalModel, SignalOut
from core.signals.robustness import adversarial, gaussian, return_sd, robustness
from core.signals.walkforward import evaluate

DAY = 86_400 * 1_000_000_000
FIX = Path(__file__).parent / "fixtures" / "signals_b"


def trending(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """AR(1) returns with phi = 0.5: the last return's sign predicts the next one's."""
    rng = np.random.default_rng(seed)
    r = np.zeros((n, 2))
    for t in range(1, n):
        r[t] = 0.5 * r[t - 1] + rng.normal(0, 0.01, 2)
    return pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=np.arange(1, n + 1, dtype=np.int64) * DAY,
                        columns=["A", "B"])


class LastMove(SignalModel):
    """View = sign of the last return it was fed (fits nothing)."""

    name = "last_move"

    def __init__(self) -> None:
        super().__init__({})
        self.last: dict[str, float] = {}
        self.fitted_on: list[float] = []

    def fit(self, closes: pd.DataFrame) -> FitReport:
        self.last = {str(c): float(closes[c].iloc[-1]) for c in closes.columns}
        self.fitted_on.append(float(closes.iloc[-1, 0]))
        return FitReport(self.name, 1, int(closes.index[0]), int(closes.index[-1]))

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        prev = self.last[symbol]
        self.last[symbol] = close
        return [SignalOut(ts, symbol, self.name, float(np.sign(close - prev)), 1.0)]

    def to_bytes(self) -> bytes:
        return b""

    @classmethod
    def from_bytes(cls, blob: bytes) -> "LastMove":
        return cls()


def test_the_perturbations_have_the_stated_size_and_are_seeded() -> None:
    closes = trending()
    sigma = return_sd(closes, 200)
    assert sigma == pytest.approx(np.std(closes.iloc[:200].pct_change().iloc[1:].to_numpy().ravel(), ddof=1))
    g = gaussian(closes, 0.5, sigma, seed=3, index=0)
    z = np.log(g / closes).to_numpy() / (0.5 * sigma)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
    assert g.equals(gaussian(closes, 0.5, sigma, 3, 0)) and not g.equals(gaussian(closes, 0.5, sigma, 3, 1))
    a = adversarial(closes, 2.0, sigma, -1, [200, 300])
    fed_r = np.diff(np.log(a.to_numpy()), axis=0)
    clean_r = np.diff(np.log(closes.to_numpy()), axis=0)
    nxt = np.sign(np.diff(closes.to_numpy(), axis=0))
    # each fed return inside a test block is the clean one moved 2 sigma against the next move
    np.testing.assert_allclose((fed_r - clean_r)[200:299], -2.0 * sigma * nxt[201:300], atol=1e-12)
    np.testing.assert_allclose((fed_r - clean_r)[300:398], -2.0 * sigma * nxt[301:399], atol=1e-12)
    assert a.iloc[:200].equals(closes.iloc[:200])  # the training bars are fed clean


def test_fits_stay_clean_and_scores_use_the_clean_returns() -> None:
    closes = trending()
    models: list[LastMove] = []

    def factory() -> LastMove:
        models.append(LastMove())
        return models[-1]

    noisy = closes * 1.5  # a feed far from the truth
    r = evaluate(factory, closes, 200, 100, feed=noisy)
    assert [m.fitted_on[0] for m in models] == [closes.iloc[199, 0], closes.iloc[299, 0]]
    clean = evaluate(LastMove, closes, 200, 100)
    np.testing.assert_array_equal(r.fwd.to_numpy(), clean.fwd.to_numpy())
    assert not np.array_equal(r.positions.to_numpy(), clean.positions.to_numpy(), equal_nan=True)


def test_the_attack_hurts_a_model_that_leans_on_the_last_move() -> None:
    closes = trending()
    out = robustness(LastMove, closes, 200, 100, [0.1, 3.0], seed=0)
    assert out["clean"]["hit_rate"] > 0.6 and out["clean"]["sharpe"] > 2
    rows = {(r["kind"], r["size"]): r for r in out["rows"]}
    big = rows[("adversarial", 3.0)]
    assert big["direction"] == "against next move" and big["hit_rate"] < 0.2 and big["d_sharpe"] < -5
    assert abs(rows[("adversarial", 0.1)]["d_hit"]) < abs(big["d_hit"])
    assert rows[("gaussian", 3.0)]["d_hit"] < -0.05 and rows[("gaussian", 3.0)]["rng"] == [0, 1]


def test_cli_reports_degradation_per_model_and_refuses_bad_sizes() -> None:
    res = CliRunner().invoke(cli, ["models", "evaluate", str(FIX / "two_symbols.csv"), "--models", "sgd,ensemble",
                                   "--train", "100", "--test", "40", "--noise", "1", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    rob = d["models"]["sgd"]["robustness"]
    assert d["noise"] == [1.0] and [r["kind"] for r in rob["rows"]] == ["gaussian", "adversarial"]
    assert rob["clean"]["hit_rate"] == d["models"]["sgd"]["hit_rate"]
    for r in rob["rows"]:
        assert r["d_hit"] == pytest.approx(r["hit_rate"] - rob["clean"]["hit_rate"])
    ens = d["models"]["ensemble"]["robustness"]  # the ensemble over the same perturbed inputs
    assert [r["kind"] for r in ens["rows"]] == ["gaussian", "adversarial"]
    assert ens["clean"]["hit_rate"] == d["models"]["ensemble"]["hit_rate"]
    res = CliRunner().invoke(cli, ["models", "evaluate", str(FIX / "two_symbols.csv"), "--noise", "0.5,x"])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert str(res.exception) == "--noise '0.5,x': 'x' is not a number"


def test_cli_takes_each_models_parameters_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("[signals.sgd]\nalpha = 0.5\nloss = 'huber'\n")
    base = ["models", "evaluate", str(FIX / "two_symbols.csv"), "--models", "sgd", "--train", "100", "--test", "40",
            "--json"]
    plain = json.loads(CliRunner().invoke(cli, base).output)["models"]["sgd"]
    tuned = json.loads(CliRunner().invoke(cli, [*base, "--config", str(cfg)]).output)["models"]["sgd"]
    assert plain["n_bars"] == tuned["n_bars"] and plain["ic"] != tuned["ic"]
    cfg.write_text("[signals.sgd]\nalpha = -1\n")
    res = CliRunner().invoke(cli, [*base, "--config", str(cfg)])
    assert res.exit_code != 0 and "signals.sgd.alpha must be a number >= 0" in str(res.exception)
