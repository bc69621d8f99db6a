"""The trading environment of the ``drl`` agent (Gymnasium) and its PPO training.

``TradingEnv`` is one symbol's bars at a time, traded through the engine's
own paper broker (``core.broker.PaperBroker`` with the config's
``[broker]`` costs: commission with its per-order minimum, the half-spread
``slippage_bps``, impact, participation), on a book of ``initial_cash``:

- reset: a symbol and a start bar drawn from the env's seeded RNG, cash =
  ``initial_cash``, no position. The first observation is at a bar with
  ``WINDOW`` returns behind it.
- observation (``core.signals.drl.FEATURES``): the bar features of the last
  WINDOW + 1 bars and the position the agent last set (its previous action).
- action: a target position w in [-1, 1] (clipped), a fraction of NAV: long
  or short w x NAV / close(t) units. The order for the difference goes to
  the broker at close t and fills at the next print, bar t+1's open (as the
  engine fills orders on a price file), at that price plus slippage, paying
  commission; what participation leaves unfilled is cancelled.
- reward: the portfolio's return over the step net of those costs, r_t =
  NAV(t+1) / NAV(t) - 1, less the risk-free rate per bar, over the sample sd
  (ddof=1) of the last ``reward_window`` portfolio returns including r_t
  (``sharpe_reward``): the rolling Sharpe ratio seed 001 writes. The sd is
  floored at ``vol_floor`` (a book that has been flat has no volatility to
  divide by) and the reward clipped to [-reward_clip, reward_clip].
- an episode ends after ``episode_bars`` steps or at the symbol's last bar
  (truncated), or when NAV is spent (terminated).

Training (``train``): PPO from stable-baselines3 on the first ``1 -
val_frac`` of every symbol's bars, then the deterministic policy (its mean
action) is run once over the last ``val_frac`` (never trained on) to report
held-out figures. One torch thread, deterministic algorithms, a private torch
RNG seeded from ``seed``, and Python's and numpy's global RNGs restored
afterwards: the same bars, params and seed give the same weights.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from core.broker import OpenOrder, PaperBroker
from core.config import BrokerConfig
from core.errors import DataError
from core.signals.drl import (CLIP, FEATURES, FORMAT, N_MARKET, WINDOW, actor_weights, bar_features, mean_action,
                              observation, policy_bytes, policy_kwargs)
from core.signals.torch_common import torch_env

Array = npt.NDArray[np.float64]
DEFAULTS: dict[str, Any] = {
    "steps": 20_000, "seed": 0, "episode_bars": 256, "reward_window": 20, "rf": 0.0,
    "vol_floor": 1e-4, "reward_clip": 10.0, "val_frac": 0.2, "hidden": 32, "layers": 2,
    "n_steps": 512, "batch_size": 64, "n_epochs": 4, "lr": 3e-4, "gamma": 0.99,
    "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0, "initial_cash": 1_000_000.0,
}  # fmt: skip


@dataclass(frozen=True)
class Bars:
    """One symbol's OHLCV bars, oldest first (``ts`` in epoch ms)."""

    symbol: str
    ts: npt.NDArray[np.int64]
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> "Bars":
        return Bars(self.symbol, self.ts[start:stop], self.open[start:stop], self.high[start:stop],
                    self.low[start:stop], self.close[start:stop], self.volume[start:stop])

    def features(self) -> Array:
        """The market features at every bar (rows before WINDOW are 0: not observed)."""
        out = np.zeros((len(self), N_MARKET))
        for t in range(WINDOW, len(self)):
            s = slice(t - WINDOW, t + 1)
            out[t] = bar_features(self.open[s].tolist(), self.high[s].tolist(), self.low[s].tolist(),
                                  self.close[s].tolist(), self.volume[s].tolist())
        return out


def sharpe_reward(returns: list[float] | Array, rf: float, vol_floor: float, clip: float) -> float:
    """(r - rf) / max(sd, vol_floor), clipped to [-clip, clip]: r the last of
    ``returns`` (the rolling window, oldest first), sd their sample sd
    (ddof=1; 0 with fewer than two)."""
    r = np.asarray(returns, dtype=np.float64)
    sd = float(np.std(r, ddof=1)) if len(r) >= 2 else 0.0
    return float(np.clip((float(r[-1]) - rf) / max(sd, vol_floor), -clip, clip))


class TradingEnv(gym.Env):  # type: ignore[type-arg, misc, unused-ignore]
    """Target-position trading of one symbol per episode (see the module doc)."""

    metadata = {"render_modes": []}

    def __init__(self, data: list[Bars], broker: BrokerConfig | None = None, *, initial_cash: float = 1_000_000.0,
                 episode_bars: int = 256, reward_window: int = 20, rf_per_bar: float = 0.0,
                 vol_floor: float = 1e-4, reward_clip: float = 10.0) -> None:
        super().__init__()
        self.data = [d for d in data if len(d) >= WINDOW + 2]
        if not self.data:
            raise DataError(f"drl: every series is shorter than {WINDOW + 2} bars; nothing to trade")
        self.feats = [d.features() for d in self.data]
        self.bcfg = broker or BrokerConfig()
        self.initial_cash = float(initial_cash)
        self.episode_bars = int(episode_bars)
        self.reward_window = int(reward_window)
        self.rf, self.vol_floor, self.reward_clip = float(rf_per_bar), float(vol_floor), float(reward_clip)
        self.observation_space = spaces.Box(-CLIP, CLIP, shape=(len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._start(0, WINDOW)

    def _start(self, k: int, t: int) -> None:
        self.k, self.t, self.t0 = k, t, t
        self.end = min(len(self.data[k]) - 1, t + self.episode_bars)
        self.cash, self.qty, self.position, self.fees, self.turnover = self.initial_cash, 0.0, 0.0, 0.0, 0.0
        self.rets: deque[float] = deque(maxlen=self.reward_window)
        b = self.bcfg
        self.broker = PaperBroker(b.commission_bps, b.min_commission, b.slippage_bps, b.participation,
                                  b.impact_bps, b.min_commission_per == "order")
        self.oid = 0

    def _obs(self) -> npt.NDArray[np.float32]:
        return observation(self.feats[self.k][self.t], self.position)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """A new episode; ``options={"symbol": i, "start": t}`` fixes where (else drawn)."""
        super().reset(seed=seed)
        opts = options or {}
        k = int(opts["symbol"]) if "symbol" in opts else int(self.np_random.integers(len(self.data)))
        n = len(self.data[k])
        last_start = max(WINDOW, n - 1 - self.episode_bars)
        t = int(opts["start"]) if "start" in opts else int(self.np_random.integers(WINDOW, last_start + 1))
        self._start(k, min(max(t, WINDOW), n - 2))
        return self._obs(), {"symbol": self.data[k].symbol, "t": self.t}

    def nav(self) -> float:
        return self.cash + self.qty * float(self.data[self.k].close[self.t])

    def step(self, action: Any) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        d = self.data[self.k]
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        a = float(np.clip(a, -1.0, 1.0)) if math.isfinite(a) else 0.0
        t = self.t
        price = float(d.close[t])
        nav0 = self.nav()
        delta = a * nav0 / price - self.qty
        fees = 0.0
        if abs(delta) * price > 1e-9 * nav0:
            self.oid += 1
            self.broker.submit(OpenOrder(self.oid, d.symbol, delta, price, "drl", int(d.ts[t])))
            for f in self.broker.on_price(d.symbol, float(d.open[t + 1]), float(d.volume[t + 1])):
                self.cash -= f.qty * f.price + f.commission
                self.qty += f.qty
                fees += f.commission
                self.turnover += abs(f.qty * f.price)
            self.broker.cancel_all()  # the rest of a partial fill: the next step sets a new target
        self.fees += fees
        self.t = t + 1
        self.position = a
        nav1 = self.nav()
        r = nav1 / nav0 - 1.0 if nav0 > 0 else -1.0
        self.rets.append(r)
        reward = sharpe_reward(list(self.rets), self.rf, self.vol_floor, self.reward_clip)
        terminated = nav1 <= 0.0
        truncated = not terminated and self.t >= self.end
        info = {"nav": nav1, "ret": r, "fees": fees, "position": a}
        return self._obs(), reward, terminated, truncated, info


def make_env(data: list[Bars], broker: BrokerConfig | None, p: dict[str, Any], per_year: float) -> TradingEnv:
    return TradingEnv(data, broker, initial_cash=float(p["initial_cash"]), episode_bars=int(p["episode_bars"]),
                      reward_window=int(p["reward_window"]), rf_per_bar=float(p["rf"]) / per_year,
                      vol_floor=float(p["vol_floor"]), reward_clip=float(p["reward_clip"]))


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise DataError(f"drl: unknown training params {', '.join(sorted(unknown))}")
    p = {**DEFAULTS, **params}
    for key in ("steps", "episode_bars", "reward_window", "hidden", "layers", "n_steps", "batch_size", "n_epochs"):
        if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < (2 if key != "steps" else 1):
            raise DataError(f"drl: {key} must be an integer >= {2 if key != 'steps' else 1}, got {p[key]!r}")
    if p["steps"] > 10_000_000:
        raise DataError(f"drl: steps must be at most 10,000,000, got {p['steps']:,}")
    if not 0.0 <= float(p["val_frac"]) < 0.9:
        raise DataError(f"drl: val_frac must be in [0, 0.9), got {p['val_frac']}")
    return p


def split(data: list[Bars], val_frac: float) -> tuple[list[Bars], list[Bars]]:
    """Chronological split of each symbol: the first bars train, the last
    ``val_frac`` validate (their state window reaches back into the training
    bars, as a live model's would)."""
    train, val = [], []
    for d in data:
        n_val = int(round(len(d) * val_frac))
        cut = len(d) - n_val
        train.append(d.slice(0, cut))
        if n_val >= 2:
            val.append(d.slice(max(0, cut - WINDOW - 1), len(d)))
    return train, val


def run_policy(act: Callable[[npt.NDArray[np.float32]], float], env: TradingEnv, k: int) -> dict[str, float]:
    """Trade symbol ``k`` of ``env`` from its first observable bar to its last
    with ``act``; per-bar returns and what they add up to."""
    obs, _ = env.reset(options={"symbol": k, "start": WINDOW})
    env.end = len(env.data[k]) - 1
    rets, rewards = [], []
    done = env.t >= env.end
    while not done:
        obs, reward, term, trunc, info = env.step(np.array([act(obs)], dtype=np.float32))
        rets.append(info["ret"])
        rewards.append(reward)
        done = term or trunc
    r = np.asarray(rets)
    return {"bars": float(len(r)), "total_return": float(np.prod(1.0 + r) - 1.0) if len(r) else 0.0,
            "mean_reward": float(np.mean(rewards)) if rewards else 0.0,
            "sharpe_bar": float(r.mean() / r.std(ddof=1)) if len(r) > 2 and r.std(ddof=1) > 0 else 0.0,
            "fees": env.fees, "turnover": env.turnover / env.initial_cash}


def train(data: list[Bars], broker: BrokerConfig | None = None, params: dict[str, Any] | None = None, *,
          per_year: float = 252.0, source: dict[str, Any] | None = None,
          progress: Callable[[int, int], None] | None = None) -> tuple[bytes, str, dict[str, Any], float]:
    """Train a PPO policy on ``data``: (policy file bytes, payload sha256,
    meta, seconds the training took). The bytes hold nothing of the wall
    clock: the same data, params and seed give the same file."""
    import stable_baselines3
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    p = check_params(dict(params or {}))
    train_data, val_data = split(data, float(p["val_frac"]))
    env = make_env(train_data, broker, p, per_year)
    seed = int(p["seed"])
    meta: dict[str, Any] = {
        "features": list(FEATURES), "window": WINDOW, "format": FORMAT, "hidden": int(p["hidden"]),
        "layers": int(p["layers"]), "params": {k: v for k, v in p.items()}, "per_year": float(per_year),
        "symbols": [d.symbol for d in data], "bars": {d.symbol: len(d) for d in data},
        "source": dict(source or {}), "broker": None if broker is None else {
            "commission_bps": broker.commission_bps, "min_commission": broker.min_commission,
            "min_commission_per": broker.min_commission_per, "slippage_bps": broker.slippage_bps,
            "impact_bps": broker.impact_bps, "participation": broker.participation},
        "versions": {"stable_baselines3": str(stable_baselines3.__version__), "gymnasium": str(gym.__version__),
                     "torch": str(__import__("torch").__version__)},
    }  # fmt: skip

    class Progress(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None:
                progress(int(self.num_timesteps), int(p["steps"]))
            return True

    py_state, np_state = random.getstate(), np.random.get_state()
    started = time.perf_counter()
    try:
        with torch_env(seed):
            model = PPO("MlpPolicy", env, learning_rate=float(p["lr"]), n_steps=int(p["n_steps"]),
                        batch_size=int(p["batch_size"]), n_epochs=int(p["n_epochs"]), gamma=float(p["gamma"]),
                        gae_lambda=float(p["gae_lambda"]), clip_range=float(p["clip_range"]),
                        ent_coef=float(p["ent_coef"]), policy_kwargs=policy_kwargs(meta), seed=seed,
                        device="cpu", verbose=0)
            model.learn(total_timesteps=int(p["steps"]), callback=Progress())
            policy = model.policy
            policy.set_training_mode(False)
            state = {k: v.detach().clone() for k, v in policy.state_dict().items()}

            layers = actor_weights(state)

            def act(obs: npt.NDArray[np.float32]) -> float:
                return mean_action(layers, obs)

            seconds = time.perf_counter() - started  # reported, not stored: the file is the same every run
            metrics: dict[str, float] = {"train_steps": float(model.num_timesteps)}
            if val_data:
                venv = make_env(val_data, broker, p, per_year)
                runs = [run_policy(act, venv, k) for k in range(len(venv.data))]
                bars = sum(r["bars"] for r in runs)
                metrics.update({
                    "holdout_bars": bars,
                    "holdout_return": float(np.mean([r["total_return"] for r in runs])),
                    "holdout_sharpe": float(np.mean([r["sharpe_bar"] for r in runs]) * math.sqrt(per_year)),
                    "holdout_mean_reward": float(np.mean([r["mean_reward"] for r in runs])),
                    "holdout_fees": float(sum(r["fees"] for r in runs)),
                    "holdout_turnover": float(np.mean([r["turnover"] for r in runs])),
                })
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    meta["metrics"] = metrics
    blob, sha = policy_bytes(meta, state)
    return blob, sha, meta, seconds


def bars_of(mf: Any) -> list[Bars]:
    """Per-symbol ``Bars`` of a loaded price file (``core.market.files.MarketFile``)."""
    out = []
    for sym in mf.symbols:
        rows = [b for b in mf.bars if b.symbol == sym]
        a = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in rows], dtype=np.float64).reshape(-1, 5)
        out.append(Bars(sym, np.array([b.ts for b in rows], dtype=np.int64), a[:, 0], a[:, 1], a[:, 2],
                        a[:, 3], np.nan_to_num(a[:, 4], nan=0.0)))
    return out
