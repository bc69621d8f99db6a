"""The drl agent (issue 21): its Gymnasium environment over the paper broker,
the reward, seeded PPO training, the policy file, and a session that runs it
as a model whose views replay verifies."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import BrokerConfig, EngineConfig, SignalsConfig, StrategyConfig, config_from_dict
from core.errors import ConfigError, DataError
from core.signals.drl import FEATURES, WINDOW, DRLModel, bar_features, read_policy
from core.signals.drl_env import Bars, TradingEnv, sharpe_reward, train

ROOT = Path(__file__).resolve().parents[1]
TINY = {"steps": 256, "n_steps": 128, "batch_size": 32, "n_epochs": 2, "episode_bars": 64}


def synthetic(n: int = 300, seed: int = 1, symbol: str = "X") -> Bars:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = c * (1 + rng.normal(0, 0.002, n))
    h, low = np.maximum(o, c) * 1.003, np.minimum(o, c) * 0.997
    v = rng.integers(1_000, 5_000, n).astype(float)
    return Bars(symbol, (1_700_000_000_000 + 86_400_000 * np.arange(n)).astype(np.int64), o, h, low, c, v)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    blob, sha, meta, _ = train([synthetic()], params={**TINY, "seed": 5})
    path = tmp_path_factory.mktemp("drl") / "p.drl.pt"
    path.write_bytes(blob)
    return path, blob, sha


# ------------------------------------------------------------ the environment


def test_the_env_passes_gymnasium_s_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    env = TradingEnv([synthetic(), synthetic(seed=2, symbol="Y")])
    check_env(env, skip_render_check=True)  # spaces, reset/step signatures, seeding determinism
    obs, info = env.reset(seed=3)
    assert obs.shape == (len(FEATURES),) and env.observation_space.contains(obs)
    assert obs[-1] == 0.0  # no position at the start
    obs, reward, term, trunc, info = env.step(np.array([0.5], dtype=np.float32))
    assert obs[-1] == pytest.approx(0.5) and math.isfinite(reward) and not term


def test_an_episode_is_truncated_after_episode_bars() -> None:
    env = TradingEnv([synthetic()], episode_bars=10)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(np.array([1.0], dtype=np.float32))
        steps, done = steps + 1, term or trunc
    assert steps == 10 and trunc and not term


def test_the_reward_is_the_rolling_sharpe_as_hand_computed() -> None:
    # returns 0.01, -0.02, 0.03: mean 0.006667, sample sd sqrt(0.0012667 / 2) = 0.0251661
    assert sharpe_reward([0.01, -0.02, 0.03], 0.001, 1e-4, 10.0) == pytest.approx((0.03 - 0.001) / 0.0251661, rel=1e-5)
    assert sharpe_reward([0.0, 0.0], 0.0, 1e-4, 10.0) == 0.0  # flat book: floor, not a division by zero
    assert sharpe_reward([0.02], 0.0, 1e-4, 10.0) == 10.0  # clipped


def test_one_step_fills_through_the_paper_broker_at_the_next_open_with_costs() -> None:
    n = WINDOW + 2
    c = np.full(n, 100.0)
    c[-1] = 102.0
    o = c.copy()
    o[-1] = 101.0
    bars = Bars("X", np.arange(n, dtype=np.int64) * 60_000, o, np.maximum(o, c), np.minimum(o, c), c, np.full(n, 1e9))
    env = TradingEnv([bars], BrokerConfig(commission_bps=1.0, min_commission=1.0, slippage_bps=2.0),
                     initial_cash=100_000.0, vol_floor=0.01)
    env.reset(options={"symbol": 0, "start": WINDOW})
    _, reward, _, _, info = env.step(np.array([1.0], dtype=np.float32))
    # 1,000 units (100,000 / 100) bought at 101 x 1.0002 = 101.0202, commission 1 bp of 101,020.20
    cash = 100_000.0 - 1_000 * 101.0202 - 10.10202
    nav = cash + 1_000 * 102.0
    assert info["nav"] == pytest.approx(nav) and info["fees"] == pytest.approx(10.10202)
    assert reward == pytest.approx((nav / 100_000.0 - 1.0) / 0.01)  # one return: sd floored at vol_floor


def test_live_features_equal_the_env_s() -> None:
    b = synthetic(60)
    feats = b.features()
    t = 40
    s = slice(t - WINDOW, t + 1)
    assert np.array_equal(feats[t], bar_features(b.open[s], b.high[s], b.low[s], b.close[s], b.volume[s]))


# ------------------------------------------------------------ training and the policy file


def test_training_is_deterministic_for_a_seed(policy: tuple[Path, bytes, str]) -> None:
    _, blob, sha = policy
    again, sha2, _, _ = train([synthetic()], params={**TINY, "seed": 5})
    other, sha3, _, _ = train([synthetic()], params={**TINY, "seed": 6})
    assert again == blob and sha2 == sha
    assert sha3 != sha


def test_training_leaves_the_global_rngs_alone() -> None:
    import random

    import torch

    states = (random.getstate(), np.random.get_state()[1].tobytes(), torch.random.get_rng_state())
    train([synthetic()], params={**TINY, "steps": 128, "n_steps": 64})
    assert random.getstate() == states[0] and np.random.get_state()[1].tobytes() == states[1]
    assert torch.equal(torch.random.get_rng_state(), states[2])


def test_a_policy_file_reads_back_and_a_damaged_one_is_one_line(policy: tuple[Path, bytes, str],
                                                                  tmp_path: Path) -> None:
    path, blob, sha = policy
    meta, state, got = read_policy(path)
    assert got == sha and meta["features"] == list(FEATURES) and "holdout_sharpe" in meta["metrics"]
    cases = {
        "missing": (tmp_path / "nope.pt", None, "not found"),
        "truncated": (tmp_path / "t.pt", blob[:-100], "corrupt"),
        "flipped": (tmp_path / "f.pt", blob[:-50] + bytes([blob[-50] ^ 1]) + blob[-49:], "corrupt"),
        "foreign": (tmp_path / "x.pt", b"PK\x03\x04 a zip from somewhere", "not a drl policy file"),
    }
    for name, (p, data, words) in cases.items():
        if data is not None:
            p.write_bytes(data)
        with pytest.raises(DataError) as exc:
            read_policy(p)
        assert words in str(exc.value) and str(p) in str(exc.value) and "\n" not in str(exc.value), name


def test_the_live_mean_action_is_sb3_s_deterministic_prediction(policy: tuple[Path, bytes, str]) -> None:
    import torch

    from core.signals.drl import Policy, build_policy

    meta, state, sha = read_policy(policy[0])
    state = {**state, "action_net.weight": state["action_net.weight"] * 300.0}  # views across [-1, 1]
    p = Policy(meta, state, sha)
    net = build_policy(meta)
    net.load_state_dict(state)
    net.set_training_mode(False)
    rng = np.random.default_rng(0)
    for obs in rng.normal(0.0, 2.0, (50, len(FEATURES))).astype(np.float32):
        sb3, _ = net.predict(obs, deterministic=True)  # SB3 clips to the action space
        assert p.act(obs) == pytest.approx(float(sb3[0]), abs=1e-6)
        x = torch.from_numpy(obs[None, :]).requires_grad_(True)
        net.get_distribution(x).distribution.mean[0, 0].backward()
        want = dict(zip(FEATURES, (x.grad[0] * x[0]).detach().double().numpy()))
        assert all(c == pytest.approx(float(want[n]), abs=1e-5) for n, c in p.attribution(obs))


def frame_of(b: Bars) -> pd.DataFrame:
    return pd.DataFrame({b.symbol: b.close}, index=pd.Index(b.ts * 1_000_000, dtype="int64"))


def test_the_model_serialises_and_restores_exactly(policy: tuple[Path, bytes, str]) -> None:
    path, _, sha = policy
    b = synthetic(120, seed=9)
    m = DRLModel({"seed": 0, "policy": str(path)})
    m.fit(frame_of(b.slice(0, 60)))
    feed = lambda model, i: model.on_bar_ohlcv(int(b.ts[i]) * 1_000_000, "X", b.open[i], b.high[i],  # noqa: E731
                                               b.low[i], b.close[i], b.volume[i])
    for i in range(30, 80):
        feed(m, i)
    twin = DRLModel.from_bytes(m.to_bytes())
    assert twin.state() == m.state() and twin.explain("X") == m.explain("X")
    outs = [(feed(m, i), feed(twin, i)) for i in range(80, 120)]
    assert all(a == b_ and len(a) == 1 for a, b_ in outs)
    v = outs[-1][0][0]
    assert -1.0 <= v.value <= 1.0 and v.detail["policy"] == sha[:12]
    assert {n for n, _ in m.explain("X")} == set(FEATURES)


def test_config_names_the_policy_and_checks_it() -> None:
    cfg = config_from_dict({"signals": {"models": ["drl"], "drl": {"policy": "p.pt"}}})
    assert cfg.signals.drl == {"policy": "p.pt"}
    with pytest.raises(ConfigError, match="signals.drl"):
        config_from_dict({"signals": {"models": ["drl"]}})
    with pytest.raises(ConfigError, match="signals.drl"):
        config_from_dict({"signals": {"models": ["drl"], "drl": {"policy": "p.pt", "poilcy": "x"}}})


# ------------------------------------------------------------ a session and its replay


def test_a_session_runs_the_policy_and_replay_verifies_it(policy: tuple[Path, bytes, str]) -> None:
    from core.build import build_engine
    from core.codec import kind_of, is_input_kind
    from core.events import ModelActivated, ModelSignal, OrderIntent
    from core.market.sim import Simulator
    from core.replay import verify
    from core.session import MemorySink, Session
    from core.signals.hub import SignalHub, recheck
    from tests.test_signal_hub import rows_of

    from core.signals.drl import policy_bytes

    # PPO starts its action layer at gain 0.01, and a few hundred steps leave the
    # views near 0: too small to move a position past the rebalance band. The
    # same network with that layer scaled up gives views across [-1, 1].
    meta, state, _ = read_policy(policy[0])
    state = {**state, "action_net.weight": state["action_net.weight"] * 300.0}
    blob, sha = policy_bytes(meta, state)
    path = policy[0].with_name("bold.drl.pt")
    path.write_bytes(blob)
    cfg = EngineConfig(strategy=StrategyConfig(signal="drl"),
                       signals=SignalsConfig(models=("drl",), fit_bars=40, retrain_every=150, drift_check_every=0,
                                             drl={"policy": str(path)}))
    sim = Simulator(4)
    symbols = [i.symbol for i in sim.spec.instruments]
    store: dict[str, bytes] = {}
    hub = SignalHub(cfg.signals, symbols, seed=4, bars_per_day=sim.spec.bars_per_day, background=False,
                    artifact_sink=lambda s, m, v, blob: store.__setitem__(s, blob), market_time=True)
    sink = MemorySink()
    s = Session(build_engine(cfg, sim.spec, 4), sim, sink, "t", speed=None, max_events=25_000, hub=hub)
    s.run()
    assert s.error == ""
    acts = [e for _, e in sink.rows if isinstance(e, ModelActivated)]
    views = [e for _, e in sink.rows if isinstance(e, ModelSignal) and e.model == "drl"]
    assert acts and views and {v.symbol for v in views} == set(symbols)
    assert len({round(v.value, 6) for v in views}) > 1  # the policy answers the market, not a constant
    assert max(v.value for v in views) > 0.3 and min(v.value for v in views) < -0.3
    intents = [e for _, e in sink.rows if isinstance(e, OrderIntent) and e.origin == "strategy"]
    assert intents and all(i.reason.startswith("drl") for i in intents)
    assert verify(build_engine(cfg, sim.spec, 4), rows_of(sink)).verified
    rows = [(seq, ev, is_input_kind(kind_of(ev))) for seq, ev in sink.rows]
    check = recheck(rows, store.__getitem__, cfg.signals, symbols, seed=4, bars_per_day=sim.spec.bars_per_day)
    assert check.mismatch == "" and check.views == len(views) and check.activations == len(acts)
    i = max(n for n, (_, ev, _) in enumerate(rows) if isinstance(ev, ModelSignal))
    seq, ev, inp = rows[i]
    rows[i] = (seq, ev._replace(value=ev.value + 1e-9), inp)
    bad = recheck(rows, store.__getitem__, cfg.signals, symbols, seed=4, bars_per_day=sim.spec.bars_per_day)
    assert f"seq {seq}" in bad.mismatch


# ------------------------------------------------------------ the command line


def cli(*args: str, db: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONSOLE_DB=str(db), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "console.cli", *args], env=env, capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def write_csv(path: Path, b: Bars) -> None:
    dates = pd.to_datetime(b.ts, unit="ms").strftime("%Y-%m-%d")
    pd.DataFrame({"Date": dates, "Open": b.open, "High": b.high, "Low": b.low, "Close": b.close,
                  "Volume": b.volume}).to_csv(path, index=False)


def train_cli(tmp_path: Path) -> Path:
    """``console models train-rl`` in this process (click's runner): a policy file, and an existing one kept."""
    from click.testing import CliRunner

    from console.cli import cli as console_cli
    from core.errors import InputError

    prices = tmp_path / "prices.csv"
    write_csv(prices, synthetic(300))
    out = tmp_path / "agent.drl.pt"
    runner = CliRunner()
    res = runner.invoke(console_cli, ["models", "train-rl", str(prices), "--steps", "300", "--seed", "2",
                                      "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert out.exists() and "held-out last 20%" in res.stdout and f'policy = "{out}"' in res.stdout
    read_policy(out)
    again = runner.invoke(console_cli, ["models", "train-rl", str(prices), "--steps", "300", "--out", str(out)])
    assert isinstance(again.exception, InputError) and "exists; use --force" in str(again.exception)
    return out


def drl_config(tmp_path: Path, policy: Path | str) -> Path:
    cfg = tmp_path / "drl.toml"
    cfg.write_text(f'[strategy]\nsignal = "drl"\n[signals]\nmodels = ["drl"]\nfit_bars = 40\n'
                   f'[signals.drl]\npolicy = "{policy}"\n')
    return cfg


def test_train_rl_writes_a_policy_and_keeps_an_existing_one(tmp_path: Path) -> None:
    train_cli(tmp_path)


def test_a_run_with_a_missing_or_damaged_policy_is_one_line(policy: tuple[Path, bytes, str], tmp_path: Path) -> None:
    from console.setup_run import make_hub
    from core.market.sim import Simulator

    bad = tmp_path / "bad.drl.pt"
    bad.write_bytes(policy[1][:-10])
    # a relative policy path is the config file's (the test runs from the repository root)
    res = cli("run", "--headless", "--events", "100", "--config", str(drl_config(tmp_path, "bad.drl.pt")),
              db=tmp_path / "c.db")
    err = res.stderr.strip()
    assert res.returncode == 2 and "corrupt" in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(bad) in err
    cfg = EngineConfig(signals=SignalsConfig(models=("drl",), drl={"policy": str(tmp_path / "none.pt")}))
    with pytest.raises(DataError, match="none.pt: policy file not found"):
        make_hub(cfg, Simulator(1).spec, 1, None)


@pytest.mark.slow
def test_train_rl_then_a_session_with_it_then_replay(tmp_path: Path) -> None:
    out = train_cli(tmp_path)
    cfg = drl_config(tmp_path, out)
    run = cli("run", "--headless", "--events", "15000", "--seed", "3", "--config", str(cfg), db=tmp_path / "c.db")
    assert run.returncode == 0, run.stderr
    rep = cli("replay", "last", db=tmp_path / "c.db")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "models reproduce" in rep.stdout


def test_train_rl_on_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close\n2020-01-01,1,1,1,x\n")
    res = cli("models", "train-rl", str(bad), "--steps", "10", db=tmp_path / "c.db", cwd=tmp_path)
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "bad.csv" in err, err
