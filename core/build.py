"""Build an engine from a config and a market spec (the one factory used by
``console run``, replay and the tests, so they cannot drift apart)."""

from __future__ import annotations

from typing import Any

from core.config import EngineConfig, config_from_dict, parse_hours
from core.engine import Engine, EngineParams, Instrument
from core.market.spec import MarketSpec


def build_engine(cfg: EngineConfig, spec: MarketSpec, seed: int = 0) -> Engine:
    s, b, lim, br = cfg.strategy, cfg.broker, cfg.limits, cfg.breakers
    params = EngineParams(
        float(cfg.initial_cash), int(s.fast), int(s.slow), float(s.target_fraction),
        float(s.rebalance_band), float(s.vol_scale), float(b.commission_bps),
        float(b.min_commission), float(b.slippage_bps), float(lim.max_order_notional),
        float(lim.max_position_fraction), float(lim.max_gross_leverage),
        float(lim.fat_finger_band), float(br.daily_loss), float(br.max_drawdown),
        int(br.consecutive_losses), int(br.reject_storm), float(br.stale_data_s),
        float(br.warn_fraction), float(spec.bars_per_day), float(lim.max_sector_fraction),
        float(lim.var_budget), int(lim.max_orders_per_minute), [str(s) for s in lim.do_not_trade],
        *_hours(lim.trading_hours), float(br.trailing_loss), float(br.var_limit), int(br.confirm),
        [str(n) for n in br.reduce_on], bool(br.flatten_on_trip), int(seed),
    )
    return Engine(params, [Instrument(i.symbol, i.asset_class, float(i.lot), i.sector)
                           for i in spec.instruments])


def _hours(text: str) -> tuple[int, int]:
    parsed = parse_hours(text) if text else None
    return parsed if parsed is not None else (-1, -1)


def engine_setup(cfg: EngineConfig, spec: MarketSpec,
                 source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything replay needs to rebuild the same engine, and resume needs to
    rebuild the same source (logged with the session)."""
    return {"engine": cfg.to_dict(), "market": spec.to_dict(), "source": source or {},
            "seed": int((source or {}).get("seed", 0))}


def engine_from_setup(setup: dict[str, Any]) -> Engine:
    return build_engine(config_from_dict(setup["engine"], "logged config"),
                        MarketSpec.from_dict(setup["market"]), int(setup.get("seed", 0)))


def is_compiled() -> bool:
    """True when the per-tick modules are the mypyc-compiled extensions."""
    import core.engine

    return not (core.engine.__file__ or "").endswith(".py")
