"""Golden logs for the engine alone, under several configs (issue 15).

Each case drives ``Engine.process`` with the simulator's prints and timers,
plus seeded model views, model activations and operator commands injected at
fixed inputs, and hashes every row the engine returns. The cases reach every
component: books and re-weights, the options hedger, TWAP and POV parents,
ATR/Kelly sizing, each VaR measure, tight breakers and their trip actions,
limit orders with a time-to-live, and the legacy breaker rules of old logs.

A restructuring of the engine must keep every digest (both compiled and
interpreted: CI runs the suite in both modes). A change that moves a decision
on purpose updates the digest here and says why in its commit.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from core.build import build_engine
from core.codec import encode_payload, kind_of
from core.config import config_from_dict, logged_config
from core.events import Command, ModelActivated, ModelSignal, Tick, Timer
from core.market.sim import Simulator

INPUTS = 12_000
BAR_MS = 2_000  # short bars: many bar closes (the risk pipeline) per input

CASES: dict[str, dict[str, Any]] = {
    "default": {},
    "books": {"signals": {"models": ["forest", "hmm"]},
              "strategy": {"books": ["momentum", "forest", "hmm"], "allocation": "inverse_vol",
                           "rebalance_every": 20, "allocation_window": 30}},
    "books_mv": {"signals": {"models": ["forest", "hmm"]},
                 "strategy": {"books": ["momentum", "forest"], "allocation": "mean_variance",
                              "rebalance_every": 25, "allocation_window": 30,
                              "allocation_min_w": 0.2, "allocation_max_w": 0.8}},
    "hedge": {"signals": {"models": ["forest", "hmm"]}, "strategy": {"signal": "forest"},
              "hedge": {"protect": True, "flag_models": ["hmm"], "min_bars": 10, "recheck_bars": 5, "flag_below": -0.3,
                        "multiplier": 1.0, "max_premium_multiple": 2.0, "expiry_days": 0.02}},
    "twap": {"execution": {"algo": "twap", "twap_above_notional": 20_000.0, "slices": 4, "slice_s": 30.0},
             "broker": {"participation": 0.2, "impact_bps": 5.0}},
    "pov": {"execution": {"algo": "pov", "twap_above_notional": 20_000.0, "pov_rate": 0.05,
                          "limit_offset_bps": 5.0},
            "broker": {"order_ttl_s": 90.0}},
    "kelly_atr": {"strategy": {"vol_target": 0.2, "vol_estimator": "atr", "atr_bars": 10,
                               "kelly_fraction": 0.5, "kelly_bars": 40}},
    "tight_parametric": {"breakers": {"daily_loss": 0.004, "max_drawdown": 0.006, "trailing_loss": 0.003,
                                      "var_limit": 0.004, "var_measure": "parametric", "confirm": 2,
                                      "consecutive_losses": 4},
                         "strategy": {"target_fraction": 0.3}},
    "monte_carlo": {"breakers": {"var_limit": 0.01, "var_measure": "monte_carlo"},
                    "risk": {"mc_draws": 500, "mc_every": 5}, "strategy": {"target_fraction": 0.25}},
    "legacy_v1": {"breakers": {"version": 1}},
}


def inputs(seed: int) -> list[object]:
    """The simulator's inputs with seeded model views after each bar timer,
    activations early on, and operator commands at fixed points."""
    sim = Simulator(seed, bar_ms=BAR_MS)
    syms = [i.symbol for i in sim.spec.instruments]
    rng = random.Random(seed * 7919 + 1)
    out: list[object] = []
    bars = 0
    for ev in sim:
        if len(out) >= INPUTS:
            break
        out.append(ev)
        if isinstance(ev, Tick) and len(out) % 1500 == 0:  # bad prints: the price screen
            out.append(Tick(ev.ts, ev.symbol, float("nan"), ev.size))
            out.append(Tick(ev.ts, ev.symbol, ev.price * 1.6, ev.size))
            if len(out) % 3000 < 10:  # a real gap: confirmed by the next prints
                out.append(Tick(ev.ts, ev.symbol, ev.price * 1.61, ev.size))
                out.append(Tick(ev.ts, ev.symbol, ev.price * 1.6, ev.size))
        if isinstance(ev, Timer) and ev.name == "bar":
            bars += 1
            if bars == 3:
                out.append(ModelActivated(ev.ts, "", "forest", 1, "a1", 1.5, "fit"))
                out.append(ModelActivated(ev.ts, "", "hmm", 1, "b1", float("nan"), "fit"))
            for model in ("forest", "hmm"):
                for sym in syms:
                    if rng.random() < 0.5:
                        out.append(ModelSignal(ev.ts, sym, model, rng.uniform(-1.0, 1.0), 0.8,
                                               rng.uniform(0.3, 1.0), 1))
            if bars == 60:
                out.append(Command(ev.ts, "", "halt", "", "golden: halt", "test"))
            elif bars == 70:
                out.append(Command(ev.ts, "", "resume", "", "golden: resume", "test"))
            elif bars == 90:
                out.append(Command(ev.ts, "", "reduce", "", "golden: reduce", "test"))
            elif bars == 95:
                out.append(Command(ev.ts, "", "cancel_all", "", "golden: cancel", "test"))
            elif bars == 100:
                out.append(Command(ev.ts, "", "flatten", "", "golden: flatten", "test"))
            elif bars == 110:
                out.append(Command(ev.ts, "", "reset_breaker", "max_drawdown", "golden: reset", "test"))
            elif bars == 111:
                out.append(Command(ev.ts, "", "resume", "", "golden: resume", "test"))
    return out


def run_case(case: str, seed: int = 5, figures_every: int = 1) -> list[object]:
    """Every row the engine returns for ``case``. The digests below were taken
    with a snapshot's display figures every bar (``risk.figures_every`` 1, as
    before it existed); tests/test_risk_figures.py holds the default cadence
    to these rows."""
    cfg = config_from_dict({**CASES[case], "risk": {**CASES[case].get("risk", {}), "figures_every": figures_every}})
    if case == "legacy_v1":
        cfg = logged_config(cfg.to_dict())
    sim = Simulator(seed, bar_ms=BAR_MS)
    eng = build_engine(cfg, sim.spec, seed)
    return [out for ev in inputs(seed) for out in eng.process(ev)]


def digest(case: str, seed: int = 5) -> tuple[str, int]:
    h = hashlib.sha256()
    rows = run_case(case, seed)
    for out in rows:
        h.update(f"{kind_of(out)}\t{out.ts}\t{out.symbol}\t{encode_payload(out)}\n".encode())  # type: ignore[attr-defined]
    return h.hexdigest(), len(rows)


GOLDEN: dict[str, str] = {
    "books": "6e6d4e225b6f107ca7693f939bf3491cb207a21f4fa84b0057eadac50e7a78fa",
    "books_mv": "ac4fddd86fd7268f762f54648a8c61ea12a917aa09e16207c0c003eaedc6d9d5",
    "default": "ef47360f1d74339816231db6b770075a9d8369a5b68bb0c1c051a4ae6c72e454",
    "hedge": "4fee1a6ef895bed2726b082b9d77bfd76c712b7b3dec06c1ddcba6cd200b6e6c",
    "kelly_atr": "e6a834392da9a11cf5a3045203f373745dd90ca3a74e2e35eb129a874ae01bf7",
    "legacy_v1": "d7ceef2065dee1131c40f495d99dc689415d33fae840ff8068c5034ad7b45251",
    "monte_carlo": "4d518dc6538e20ccd6cb19e48e93805d5b3dfba8fe68a16d56123d3576ba409d",
    "pov": "b189c5d8492a665df7d71afc5f517f0d0a01e6800f6f5a2a8644115d90cae681",
    "tight_parametric": "543aea9eba6bdfc2193ae069a2a6197f11313c7dc36ae1481949d63b0b9ff424",
    "twap": "f6f2751e6e17f9101718e798516fa49113b7aa621350ddf6c30c726c6af5505a",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_log_is_byte_identical(case: str) -> None:
    d, rows = digest(case)
    assert rows > INPUTS  # the engine decided something
    assert d == GOLDEN[case], f"{case}: the engine's log changed ({rows} rows, sha256 {d})"


if __name__ == "__main__":  # print the digests (to update GOLDEN on purpose)
    for c in sorted(CASES):
        print(f'    "{c}": "{digest(c)[0]}",')
