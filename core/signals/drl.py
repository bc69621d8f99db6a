"""``drl``: a reinforcement-learning agent whose view of a symbol is a target position.

A policy network (stable-baselines3's PPO, trained by ``console models
train-rl FILE``: see ``core.signals.drl_env``) maps the state of one symbol
after a bar close to a target position in [-1, 1] (-1 full short, +1 full
long). This module holds what a session needs to run one: the state's
features, the policy file, and the ``SignalModel`` that the hub fits (loads
the file), activates (its weights stored with the session under their
sha256, so ``console replay`` re-runs them) and feeds bar by bar.

Conventions:
- The state of symbol s at bar t (``FEATURES``, in order) is made from the
  last ``WINDOW`` + 1 OHLCV bars of s, scale-free (returns divided by their
  own rolling sd) so that a policy trained on daily bars reads 30-second bars
  the same way; each feature is clipped to [-CLIP, CLIP]. The last feature is
  the agent's own current position: its previous view of s (0 before the
  first). In training that is the target it set at the previous step.
  Sentiment is not in the state: price files carry no headlines to train on.
- ``on_bar_ohlcv`` takes the full bar (the hub calls it when a model has it);
  ``on_bar`` takes a close alone and reads it as a bar with open = high =
  low = close and no volume (what a close-only price file gives).
- Determinism: prediction is the policy's mean action (no sampling), on one
  torch thread with deterministic algorithms; the same weights and bars give
  the same views bit for bit.
- The policy file: ``MAGIC``, the sha256 of the payload in hex, a newline,
  then the payload (``torch.save`` of a dict of plain data: format, meta,
  state_dict), loaded with ``weights_only`` so a file runs no code. A file
  that is missing, not a policy, truncated or altered (its hash does not
  match) is one ``DataError`` line naming it.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from collections import deque
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import torch

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.torch_common import torch_bytes, torch_env, torch_loads

Array = npt.NDArray[np.float64]
FORMAT = 1
MAGIC = b"TCDRL1\n"
MAX_POLICY_BYTES = 64 << 20  # a policy of two 32-unit layers is ~30 KB
WINDOW = 20  # returns behind the rolling statistics of the state
CLIP = 5.0
FEATURES = ("ret_z", "mom_5_z", "mom_20_z", "vol_ratio", "rsi", "range_z", "body_z", "volume_z", "position")
N_MARKET = len(FEATURES) - 1  # features from the bars; the last one is the position


def _sd(x: list[float]) -> float:
    """Sample sd (ddof=1) of at least two numbers."""
    m = sum(x) / len(x)
    return math.sqrt(sum((v - m) * (v - m) for v in x) / (len(x) - 1))


def _compound(x: list[float]) -> float:
    return math.expm1(sum(math.log1p(v) for v in x))


def bar_features(o: Sequence[float], h: Sequence[float], low: Sequence[float], c: Sequence[float],
                 v: Sequence[float]) -> Array:
    """The market part of the state from the last ``WINDOW`` + 1 bars (oldest first).

    With r the WINDOW simple close-to-close returns and s their sample sd
    (ddof=1; 1e-12 when 0):
      ret_z     r[-1] / s
      mom_5_z   (compounded return of the last 5) / (s sqrt 5)
      mom_20_z  (compounded return of the last 20) / (s sqrt 20)
      vol_ratio sd of the last 5 returns / s - 1
      rsi       (gains - losses) / (gains + losses) over the last 14 returns (0 when flat)
      range_z   (high - low) / close of the last bar, / s
      body_z    (close - open) / open of the last bar, / s
      volume_z  log(1 + volume) of the last bar against the mean and sd of the
                WINDOW before it (0 when they do not vary: no volume)
    Each clipped to [-CLIP, CLIP]; a non-finite value is 0. Plain Python on
    21 numbers (numpy's per-call overhead was most of a bar close); the
    environment and the live model call this same function."""
    cs = [float(x) for x in c]
    r = [cs[i + 1] / cs[i] - 1.0 for i in range(len(cs) - 1)]
    sd = _sd(r)
    s = sd if sd > 0 else 1e-12
    last14 = r[-14:]
    gain, loss = sum(x for x in last14 if x > 0), -sum(x for x in last14 if x < 0)
    lv = [math.log1p(max(float(x), 0.0)) for x in v]
    base = lv[:-1]
    base_sd = _sd(base)
    vals = [
        r[-1] / s,
        _compound(r[-5:]) / (s * math.sqrt(5)),
        _compound(r[-20:]) / (s * math.sqrt(20)),
        _sd(r[-5:]) / s - 1.0 if sd > 0 else 0.0,
        (gain - loss) / (gain + loss) if gain + loss > 0 else 0.0,
        (float(h[-1]) - float(low[-1])) / cs[-1] / s,
        (cs[-1] - float(o[-1])) / float(o[-1]) / s,
        (lv[-1] - sum(base) / len(base)) / base_sd if base_sd > 0 else 0.0,
    ]
    return np.array([min(CLIP, max(-CLIP, x)) if math.isfinite(x) else 0.0 for x in vals], dtype=np.float64)


def observation(market: Array, position: float) -> npt.NDArray[np.float32]:
    return np.append(market, np.clip(position, -1.0, 1.0)).astype(np.float32)


# ------------------------------------------------------------------ the policy file


def build_policy(meta: dict[str, Any]) -> Any:
    """An untrained stable-baselines3 actor-critic of the shape ``meta`` names
    (what ``PPO("MlpPolicy", policy_kwargs=policy_kwargs(meta))`` builds)."""
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy

    obs = spaces.Box(-CLIP, CLIP, shape=(len(FEATURES),), dtype=np.float32)
    act = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    return ActorCriticPolicy(obs, act, lambda _: 0.0, **policy_kwargs(meta))


def policy_kwargs(meta: dict[str, Any]) -> dict[str, Any]:
    hidden = [int(meta["hidden"])] * int(meta["layers"])
    return {"net_arch": {"pi": hidden, "vf": hidden}, "activation_fn": torch.nn.Tanh}


def policy_bytes(meta: dict[str, Any], state_dict: dict[str, Any]) -> tuple[bytes, str]:
    """A policy file's bytes and its payload's sha256."""
    payload = torch_bytes({"format": FORMAT, "meta": meta, "state_dict": state_dict})
    sha = hashlib.sha256(payload).hexdigest()
    return MAGIC + sha.encode() + b"\n" + payload, sha


def read_policy(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(meta, state_dict, sha256) of a policy file; ``DataError`` (one line
    naming the file) when it is missing or not an intact policy."""
    where = os.fspath(path)
    if not where:
        raise DataError("signals.drl.policy: no policy file named (train one with `console models train-rl FILE`)")
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DataError(f"{where}: policy file not found (train one with `console models train-rl FILE`)") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read the policy file ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{where}: not a regular file; give a policy file")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            data = f.read(MAX_POLICY_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    return parse_policy(data, where)


def parse_policy(data: bytes, where: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    if len(data) > MAX_POLICY_BYTES:
        raise DataError(f"{where}: larger than {MAX_POLICY_BYTES:,} bytes; not a policy file")
    head = len(MAGIC) + 64 + 1
    if not data.startswith(MAGIC) or len(data) < head or data[head - 1:head] != b"\n":
        raise DataError(f"{where}: not a drl policy file (no {MAGIC.strip().decode()} header)")
    sha = data[len(MAGIC):head - 1].decode("ascii", "replace")
    payload = data[head:]
    if hashlib.sha256(payload).hexdigest() != sha:
        raise DataError(f"{where}: policy file is corrupt (its sha256 does not match its header: "
                        "truncated or altered)")
    try:
        d = torch_loads(payload)
    except Exception as exc:
        raise DataError(f"{where}: policy file is corrupt ({type(exc).__name__})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or not isinstance(d.get("meta"), dict):
        raise DataError(f"{where}: unknown policy format (this console reads format {FORMAT})")
    meta, state = d["meta"], d["state_dict"]
    if tuple(meta.get("features", ())) != FEATURES:
        raise DataError(f"{where}: the policy's state features {meta.get('features')} are not this "
                        f"console's {list(FEATURES)}; train it again")
    try:
        with torch_env():
            build_policy(meta).load_state_dict(state)
    except Exception as exc:
        raise DataError(f"{where}: policy weights do not fit its network ({str(exc).splitlines()[0][:200]})") from None
    return meta, state, sha


def actor_weights(state_dict: dict[str, Any]) -> list[tuple[Array, Array]]:
    """The actor's layers from a policy's state_dict, in order, as float64
    arrays: the tanh layers of ``mlp_extractor.policy_net``, then ``action_net``."""
    hidden = sorted({int(k.split(".")[2]) for k in state_dict if k.startswith("mlp_extractor.policy_net.")})
    names = [f"mlp_extractor.policy_net.{i}" for i in hidden] + ["action_net"]
    return [(state_dict[f"{n}.weight"].detach().double().numpy().copy(),
             state_dict[f"{n}.bias"].detach().double().numpy().copy()) for n in names]


def mean_action(layers: list[tuple[Array, Array]], obs: npt.NDArray[np.float32]) -> float:
    """The policy's mean action (SB3's deterministic ``predict``: tanh layers,
    then the linear head) for one observation, clipped to [-1, 1]. In float64
    numpy: a tenth of the time of a torch call for one row, and the same
    arithmetic wherever it runs (training's held-out run, a session, replay)."""
    x = obs.astype(np.float64)
    for w, b in layers[:-1]:
        x = np.tanh(w @ x + b)
    w, b = layers[-1]
    return min(1.0, max(-1.0, float((w @ x + b)[0])))


class Policy:
    """A loaded policy: the mean action of an observation, and its gradient,
    in numpy (no torch on the engine thread: torch's global settings are
    shared with a fit running on the fit thread)."""

    def __init__(self, meta: dict[str, Any], state_dict: dict[str, Any], sha: str) -> None:
        self.meta, self.state_dict, self.sha = meta, state_dict, sha
        self.layers = actor_weights(state_dict)

    def act(self, obs: npt.NDArray[np.float32]) -> float:
        return mean_action(self.layers, obs)

    def attribution(self, obs: npt.NDArray[np.float32]) -> list[tuple[str, float]]:
        """Gradient x input of the (unclipped) mean action: each feature's share of the view."""
        x = obs.astype(np.float64)
        acts = [x]
        for w, b in self.layers[:-1]:
            acts.append(np.tanh(w @ acts[-1] + b))
        g = self.layers[-1][0][0]
        for (w, _), a in zip(reversed(self.layers[:-1]), reversed(acts[1:])):
            g = (g * (1.0 - a * a)) @ w
        return sorted(((n, float(c)) for n, c in zip(FEATURES, g * x)), key=lambda t: -abs(t[1]))


# ------------------------------------------------------------------ the model


@register("drl")
class DRLModel(SignalModel):
    """The PPO policy of ``params["policy"]`` as a signal model (one view per symbol per bar)."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        unknown = set(self.params) - {"seed", "policy"}
        if unknown:
            raise ValueError(f"drl: unknown params {', '.join(sorted(unknown))} (known: policy)")
        self.policy: Policy | None = None
        self._hist: dict[str, deque[tuple[float, float, float, float, float]]] = {}
        self._position: dict[str, float] = {}
        self._obs: dict[str, npt.NDArray[np.float32]] = {}
        self._latest: dict[str, SignalOut] = {}

    def fit(self, closes: pd.DataFrame) -> FitReport:
        """Load the trained policy (a fit here trains nothing: ``console
        models train-rl`` did). ``fitted_at`` is set WINDOW + 1 bars before the
        window's end, so the hub primes the state with those bars' OHLCV."""
        meta, state, sha = read_policy(str(self.params.get("policy", "")))
        self.policy = Policy(meta, state, sha)
        self._hist, self._position, self._obs, self._latest = {}, {}, {}, {}
        self.version += 1
        idx = closes.index
        self.fitted_at = int(idx[-(WINDOW + 2)]) if len(idx) >= WINDOW + 2 else int(idx[0]) - 1
        metrics = {k: float(v) for k, v in meta.get("metrics", {}).items() if isinstance(v, (int, float))}
        metrics.pop("val_sharpe", None)  # the fit gate's key: the policy was validated on its own file
        return FitReport(self.name, self.version, int(idx[0]), int(idx[-1]), metrics)

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        return self.on_bar_ohlcv(ts, symbol, close, close, close, close, 0.0)

    def on_bar_ohlcv(self, ts: int, symbol: str, open_: float, high: float, low: float, close: float,
                     volume: float) -> list[SignalOut]:
        if self.policy is None:
            raise RuntimeError("drl: fit (or from_bytes) before on_bar")
        if not all(math.isfinite(x) and x > 0 for x in (open_, high, low, close)):
            raise DataError(f"bar {symbol} at ts {ts}: OHLC {open_}, {high}, {low}, {close} not positive and finite")
        hist = self._hist.get(symbol)
        if hist is None:
            hist = self._hist[symbol] = deque(maxlen=WINDOW + 1)
        hist.append((float(open_), float(high), float(low), float(close),
                     float(volume) if math.isfinite(volume) else 0.0))  # plain floats: the artifact is weights_only
        if len(hist) < WINDOW + 1:
            return []
        cols = list(zip(*hist))
        obs = observation(bar_features(*cols), self._position.get(symbol, 0.0))
        value = self.policy.act(obs)
        self._position[symbol] = value
        self._obs[symbol] = obs
        sig = SignalOut(ts, symbol, self.name, value, min(1.0, abs(value)),
                        {"version": self.version, "policy": self.policy.sha[:12]})
        self._latest[symbol] = sig
        return [sig]

    def state(self) -> list[SignalOut]:
        return [self._latest[s] for s in sorted(self._latest)]

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        obs = self._obs.get(symbol)
        if obs is None or self.policy is None:
            return []
        return self.policy.attribution(obs)

    def to_bytes(self) -> bytes:
        if self.policy is None:
            raise RuntimeError("drl: nothing to serialise before fit")
        blob = {
            "format": FORMAT, "params": self.params, "version": self.version, "fitted_at": self.fitted_at,
            "meta": self.policy.meta, "state_dict": self.policy.state_dict, "sha": self.policy.sha,
            "hist": {s: [list(b) for b in h] for s, h in self._hist.items()},
            "position": dict(self._position),
            "obs": {s: o.tolist() for s, o in self._obs.items()},
            "latest": [[int(o.ts), o.symbol, float(o.value), float(o.confidence)] for o in self._latest.values()],
        }  # fmt: skip
        return torch_bytes(blob)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "DRLModel":
        """Rebuild from ``to_bytes`` output (loaded with weights_only: no code runs)."""
        try:
            d = torch_loads(blob)
        except Exception as exc:
            raise DataError(f"drl artifact: not readable ({type(exc).__name__})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError("drl artifact: unknown format")
        m = cls(d["params"])
        m.version, m.fitted_at = int(d["version"]), d["fitted_at"]
        m.policy = Policy(d["meta"], d["state_dict"], str(d["sha"]))
        m._hist = {s: deque((tuple(b) for b in h), maxlen=WINDOW + 1) for s, h in d["hist"].items()}
        m._position = {s: float(v) for s, v in d["position"].items()}
        m._obs = {s: np.asarray(o, dtype=np.float32) for s, o in d["obs"].items()}
        m._latest = {s: SignalOut(int(t), s, m.name, float(v), float(c), {"version": m.version,
                                                                          "policy": m.policy.sha[:12]})
                     for t, s, v, c in d["latest"]}
        return m

