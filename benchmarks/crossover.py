"""The SMA(20)/SMA(50) stop-and-reverse crossover with a fixed size, as our
engine runs it (shared by engine_bars.py and engine_logged.py).

Our engine's momentum signal is clip(trend / (vol_scale x bar vol), -1, 1),
trend = SMA_fast / SMA_slow - 1. With a vanishing ``vol_scale`` it is the sign
of the crossover. The fixed size comes from the lot: one instrument with
lot = 100 units and a target of 1.5% of NAV (about 150 units at the synthetic
prices, which stay near 100) gives floor(150 / 100) = exactly one lot long or
short. ``rebalance_band = 0.5`` (half of ~150 units) lets it enter from flat and trade again only when the sign flips. Every
breaker and gate limit is loosened so the strategy, not a safety rule, decides
every trade; the rest of the engine (bar screening, gate, broker, portfolio,
risk snapshot with parametric/historical/Monte Carlo VaR, breakers) runs as
in a real session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import synth

SIZE = 100.0
CONFIG: dict[str, Any] = {
    "strategy": {"fast": 20, "slow": 50, "vol_scale": 1e-9, "target_fraction": 0.015,
                 "rebalance_band": 0.5},
    "limits": {"max_order_notional": 1e12, "max_position_fraction": 1.0, "max_gross_leverage": 100.0,
               "var_budget": 1.0, "max_orders_per_minute": 1_000_000, "max_sector_fraction": 1.0,
               "fat_finger_band": 1.0},
    "breakers": {"daily_loss": 1.0, "max_drawdown": 1.0, "trailing_loss": 1.0,
                 "consecutive_losses": 10**9, "var_limit": 1.0, "reject_storm": 10**9,
                 "stale_data_s": 1e12, "bad_data": 10**9},
    "signals": {"models": []},
}
CHUNK = 50_000  # bars turned into events at a time, outside the timed loop


def config() -> Any:
    from core.config import config_from_dict

    return config_from_dict(CONFIG, "crossover benchmark")


def spec() -> Any:
    from core.market.spec import InstrumentSpec, MarketSpec

    return MarketSpec((InstrumentSpec(synth.SYMBOL, "equity", SIZE, "bench"),), synth.BAR_MS, 1440.0)


def engine() -> Any:
    from core.build import build_engine

    return build_engine(config(), spec())


def event_chunks(n: int, seed: int = 7) -> Iterator[list[object]]:
    """The inputs for ``n`` bars (a Bar, then the bar Timer that closes it),
    ``CHUNK`` bars per list."""
    from core.events import Bar, Timer

    ts, o, h, lo, c, v = synth.bars(n, seed)
    sym = synth.SYMBOL
    for start in range(0, n, CHUNK):
        evs: list[object] = []
        for i in range(start, min(n, start + CHUNK)):
            evs.append(Bar(ts[i], sym, o[i], h[i], lo[i], c[i], v[i]))
            evs.append(Timer(ts[i], "", "bar"))
        yield evs


def reference_orders(n: int, seed: int = 7) -> int:
    return synth.crossovers(synth.bars(n, seed)[4], 20, 50)
