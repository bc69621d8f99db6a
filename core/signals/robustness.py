"""Noise-injection robustness of a signal model (``console models evaluate --noise``).

The model is evaluated walk-forward as usual (``walkforward.evaluate``: fits
on clean closes), then again with the closes it is fed on the test bars
perturbed, and the positions scored against the clean next-bar returns. Sizes
are in units of sigma, the sample sd (ddof=1) of all bar returns in the first
training window (pooled over symbols), so a size means the same on any bar
length. Two perturbations per size s:

- ``gaussian``: every fed close is multiplied by exp(s * sigma * z), z
  standard normal, independent per bar and symbol, drawn from
  ``numpy.random.default_rng([seed, size index])`` (seeded, logged in the output).
- ``adversarial``: every fed bar return is moved by +-s * sigma * sign(r_next),
  r_next the symbol's true next-bar return: the bar is made to look as if it
  moved s sigma more with (+) or against (-) what is about to happen (the fed
  close is the clean one x exp(the sum of those moves since the test block
  began), so each fed return carries exactly one move). The
  adversary knows the future and picks, per model, whichever of the two
  directions lowers that model's Sharpe more (a black-box, one-parameter
  attack: no gradients, so it applies to every model alike).

Degradation = perturbed - clean (hit rate in fractions, Sharpe annualised
sqrt(252)); a robust model's figures move little at small sizes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.signals.base import SignalModel
from core.signals.walkforward import Costs, evaluate


def return_sd(closes: pd.DataFrame, train_bars: int) -> float:
    """sigma: the sample sd of all bar returns in the first training window."""
    r = closes.iloc[:train_bars].pct_change().iloc[1:].to_numpy(dtype=np.float64).ravel()
    r = r[np.isfinite(r)]
    return float(np.std(r, ddof=1)) if len(r) > 1 else 0.0


def gaussian(closes: pd.DataFrame, size: float, sigma: float, seed: int, index: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, index])
    z = rng.standard_normal(closes.shape)
    return closes * np.exp(size * sigma * z)


def adversarial(closes: pd.DataFrame, size: float, sigma: float, direction: float,
                starts: list[int]) -> pd.DataFrame:
    """The fed closes: log moves of direction * size * sigma * sign(next return)
    summed from each test block's first row (``starts``; rows before the
    first are left clean), so the fed return into bar t is the clean one
    moved once."""
    c = closes.to_numpy(dtype=np.float64)
    move = np.zeros_like(c)
    move[:-1] = direction * size * sigma * np.sign(c[1:] / c[:-1] - 1.0)
    shift = np.zeros_like(c)
    bounds = sorted(starts) + [len(c)]
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        shift[b0:b1] = np.cumsum(move[b0:b1], axis=0)
    return pd.DataFrame(c * np.exp(shift), index=closes.index, columns=closes.columns)


def robustness(factory: Callable[[], SignalModel], closes: pd.DataFrame, train: int, test: int,
               sizes: list[float], seed: int, costs: Costs | None = None,
               clean: dict[str, float] | None = None) -> dict[str, Any]:
    """{"sigma", "clean": {hit_rate, sharpe}, "rows": [{kind, size, hit_rate, sharpe, d_hit, d_sharpe, ...}]}."""
    if clean is None:
        clean = evaluate(factory, closes, train, test, costs).metrics
    sigma = return_sd(closes, train)
    base_hit, base_sh = float(clean["hit_rate"]), float(clean["sharpe"])
    rows: list[dict[str, Any]] = []

    def row(kind: str, size: float, m: dict[str, float], **extra: Any) -> dict[str, Any]:
        hit, sh = float(m["hit_rate"]), float(m["sharpe"])
        return {"kind": kind, "size": size, "hit_rate": hit, "sharpe": sh,
                "d_hit": hit - base_hit, "d_sharpe": sh - base_sh, **extra}

    for i, size in enumerate(sizes):
        m = evaluate(factory, closes, train, test, costs, feed=gaussian(closes, size, sigma, seed, i)).metrics
        rows.append(row("gaussian", size, m, rng=[seed, i]))
        worst: tuple[float, int, dict[str, float]] | None = None
        for direction in (1, -1):
            fed = adversarial(closes, size, sigma, direction, list(range(train, len(closes), test)))
            m = evaluate(factory, closes, train, test, costs, feed=fed).metrics
            sh = float(m["sharpe"])
            key = sh if math.isfinite(sh) else math.inf
            if worst is None or key < worst[0]:
                worst = (key, direction, m)
        assert worst is not None
        rows.append(row("adversarial", size, worst[2], direction="with next move" if worst[1] > 0
                        else "against next move"))
    return {"sigma": sigma, "clean": {"hit_rate": base_hit, "sharpe": base_sh}, "rows": rows}
