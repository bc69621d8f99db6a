"""Pairs legs sized by the hedge ratio (``[signals.pairs] sizing =
"hedge_ratio"``): B's notional |beta| x pB / pA times A's, so the engine,
sizing each view as a share of full size, holds beta units of B per unit of A."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.build import build_engine
from core.config import config_from_dict
from core.errors import ConfigError
from core.events import ModelSignal, Tick
from core.market.spec import InstrumentSpec, MarketSpec
from core.signals.pairs import LONG, SHORT, PairsModel, leg_values

NS_DAY = 86_400_000_000_000


def test_leg_values_below_at_and_above_a_ratio_of_one() -> None:
    assert leg_values(1.0, 0.5, 100.0, 100.0, False) == (1.0, -0.5)  # r = 0.5: A full, B half
    assert leg_values(1.0, 1.0, 100.0, 100.0, False) == (1.0, -1.0)  # r = 1: both full
    assert leg_values(-1.0, 2.0, 100.0, 150.0, False) == (-1 / 3, 1.0)  # r = 3: B full, A a third
    assert leg_values(1.0, -2.0, 100.0, 25.0, False) == (1.0, 0.5)  # negative beta: same side
    assert leg_values(1.0, 0.8, 100.0, 50.0, True) == (1.0, -0.8)  # log prices: r = |beta|
    assert leg_values(0.0, 2.0, 100.0, 50.0, False) == (0.0, 0.0)
    assert leg_values(1.0, 0.0, 100.0, 50.0, False) == (0.0, 0.0)  # no hedge ratio: no trade


def test_the_model_s_legs_carry_the_hedge_ratio_and_equal_is_the_default() -> None:
    rng = np.random.default_rng(11)
    n = 260
    b = 40 + np.cumsum(rng.normal(0, 0.5, n))
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 1)
    a = 2 * b + noise + 5
    frame = pd.DataFrame({"A": a, "B": b}, index=np.arange(1, n + 1, dtype=np.int64) * NS_DAY)
    outs = {}
    for sizing in ("equal", "hedge_ratio"):
        m = PairsModel({"pairs": ["A/B"], "window": 30, "coint_window": 100, "recheck_every": 25, "sizing": sizing})
        m.fit(frame.iloc[:100])
        got = []
        for ts, row in frame.iloc[100:].iterrows():
            for leg in ("A", "B"):
                got += m.on_bar(int(ts), leg, float(row[leg]))
        outs[sizing] = list(zip(got[::2], got[1::2]))
    live = [(x, y) for x, y in outs["hedge_ratio"] if x.detail["state"] in (LONG, SHORT)]
    assert live
    for x, y in live:
        beta = x.detail["hedge_ratio"]
        pa, pb = frame.loc[x.ts, "A"], frame.loc[x.ts, "B"]
        assert math.isclose(abs(y.value) / abs(x.value), beta * pb / pa, rel_tol=1e-12)  # notional ratio
        assert max(abs(x.value), abs(y.value)) == 1.0 and x.value * y.value < 0
    assert all(abs(x.value) == abs(y.value) for x, y in outs["equal"] if x.detail["state"] in (LONG, SHORT))


def test_the_engine_holds_beta_units_of_b_per_unit_of_a() -> None:
    spec = MarketSpec((InstrumentSpec("A", "equity", 1.0), InstrumentSpec("B", "equity", 1.0)), 60_000, 390.0)
    cfg = config_from_dict({"signals": {"models": ["pairs"], "pairs": {"sizing": "hedge_ratio"}},
                            "strategy": {"signal": "pairs", "vol_target": 0.0, "target_fraction": 0.2}})
    eng = build_engine(cfg, spec)
    eng.process(Tick(1_000, "A", 80.0, 1.0))
    eng.process(Tick(1_000, "B", 40.0, 1.0))
    va, vb = leg_values(1.0, 1.5, 80.0, 40.0, False)  # r = 0.75
    eng.process(ModelSignal(2_000, "A", "pairs", va, 1.0, 1.0, 1))
    eng.process(ModelSignal(2_000, "B", "pairs", vb, 1.0, 1.0, 1))
    eng.process(Tick(3_000, "A", 80.0, 1.0))
    eng.process(Tick(3_000, "B", 40.0, 1.0))
    qa, qb = eng.portfolio.qty("A"), eng.portfolio.qty("B")
    assert qa > 0 and qb < 0 and abs(abs(qb) / qa - 1.5) < 2.0 / qa  # beta, to the lot


@pytest.mark.parametrize("strategy, needle", [
    ({"vol_target": 0.15}, "needs strategy.vol_target = 0 and strategy.kelly_fraction = 0"),
    ({"vol_target": 0.0, "kelly_fraction": 0.5}, "per-symbol scaling would undo the hedge ratio"),
])
def test_hedge_ratio_sizing_refuses_per_symbol_scaling(strategy: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match="signals.pairs.sizing") as e:
        config_from_dict({"signals": {"pairs": {"sizing": "hedge_ratio"}}, "strategy": strategy})
    assert needle in str(e.value) and "\n" not in str(e.value)
    config_from_dict({"signals": {"pairs": {"sizing": "hedge_ratio"}}})  # the defaults scale nothing per symbol
    with pytest.raises(ConfigError, match="signals.pairs.sizing") as e:
        config_from_dict({"signals": {"pairs": {"sizing": "beta"}}})
    assert "hedge_ratio" in str(e.value) and "\n" not in str(e.value)
