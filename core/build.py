"""Build an engine from a config and a market spec (the one factory used by
``console run``, replay and the tests, so they cannot drift apart)."""

from __future__ import annotations

from typing import Any

from core.config import FIGURES_AT_SPEED, EngineConfig, logged_config, parse_hours
from core.breakers import FLATTEN
from core.engine import Engine
from core.engine_params import EngineParams, Instrument
from core.state import HALTED, REDUCING
from core.market.spec import MarketSpec


def build_engine(cfg: EngineConfig, spec: MarketSpec, seed: int = 0, venue_exec: bool = False) -> Engine:
    """``venue_exec``: orders fill only by the venue's logged reports (venue mode)."""
    s, b, lim, br = cfg.strategy, cfg.broker, cfg.limits, cfg.breakers
    p = EngineParams()
    p.initial_cash = float(cfg.initial_cash)
    p.fast, p.slow = int(s.fast), int(s.slow)
    p.target_fraction, p.rebalance_band = float(s.target_fraction), float(s.rebalance_band)
    p.vol_scale, p.vol_target = float(s.vol_scale), float(s.vol_target)
    p.vol_estimator, p.atr_bars = str(s.vol_estimator), int(s.atr_bars)
    p.kelly_fraction, p.kelly_cap, p.kelly_bars = float(s.kelly_fraction), float(s.kelly_cap), int(s.kelly_bars)
    p.signal = "momentum" if s.signal == "auto" else str(s.signal)  # auto: see config.resolve_signal
    p.books = [str(x) for x in s.books]
    p.allocation, p.rebalance_every = str(s.allocation), int(s.rebalance_every)
    p.allocation_window = int(s.allocation_window)
    p.allocation_min_w, p.allocation_max_w = float(s.allocation_min_w), float(s.allocation_max_w)
    p.risk_aversion = float(s.risk_aversion)
    if s.books and (s.allocation == "mean_variance" or s.allocation_min_w > 0.0 or s.allocation_max_w < 1.0):
        # the engine imports it lazily at its first re-weight; loading scipy
        # there (~0.5 s) would stall the engine thread mid-session, so do it now
        import core.allocation  # noqa: F401
    p.commission_bps, p.min_commission = float(b.commission_bps), float(b.min_commission)
    p.slippage_bps = float(b.slippage_bps)
    p.impact_bps, p.participation = float(b.impact_bps), float(b.participation)
    p.order_ttl_ms = int(round(float(b.order_ttl_s) * 1000.0))
    ex = cfg.execution
    p.algo, p.algo_above_notional = str(ex.algo), float(ex.twap_above_notional)
    p.slices, p.slice_ms = int(ex.slices), max(1, int(round(float(ex.slice_s) * 1000.0)))
    p.pov_rate, p.limit_offset_bps = float(ex.pov_rate), float(ex.limit_offset_bps)
    p.max_order_notional = float(lim.max_order_notional)
    p.max_position_fraction = float(lim.max_position_fraction)
    p.max_gross_leverage = float(lim.max_gross_leverage)
    p.fat_finger_band = float(lim.fat_finger_band)
    p.max_sector_fraction = float(lim.max_sector_fraction)
    p.var_budget = float(lim.var_budget)
    p.max_orders_per_minute = int(lim.max_orders_per_minute)
    p.do_not_trade = [str(x) for x in lim.do_not_trade]
    p.open_minute, p.close_minute = _hours(lim.trading_hours)
    p.quarantine_band = float(lim.quarantine_band)
    p.quarantine_confirm = int(lim.quarantine_confirm)
    p.daily_loss, p.max_drawdown = float(br.daily_loss), float(br.max_drawdown)
    p.consecutive_losses, p.reject_storm = int(br.consecutive_losses), int(br.reject_storm)
    p.stale_data_s, p.trailing_loss = float(br.stale_data_s), float(br.trailing_loss)
    p.var_limit, p.warn_fraction = float(br.var_limit), float(br.warn_fraction)
    p.confirm = int(br.confirm)
    p.warn_clear = float(br.warn_clear)
    p.reduce_on = [str(n) for n in br.reduce_on]
    p.trip_actions = {name: ACTIONS[a] for name, a in br.on_trip.items()}
    p.flatten_on_trip = bool(br.flatten_on_trip)
    p.var_measure, p.var_auto_resume = str(br.var_measure), bool(br.var_auto_resume)
    p.var_window = int(cfg.risk.var_window)
    p.stale_bars, p.bar_ms = int(br.stale_bars), int(spec.bar_ms)
    p.breaker_version = int(br.version)
    p.min_commission_per_order = b.min_commission_per == "order"
    p.venue_exec = bool(venue_exec)
    p.bad_data = int(br.bad_data)
    p.live_sharpe_ratio = float(br.live_sharpe_ratio)
    p.live_sharpe_min_bars = int(br.live_sharpe_min_bars)
    p.mc_draws, p.mc_every = int(cfg.risk.mc_draws), int(cfg.risk.mc_every)
    p.figures_every = int(cfg.risk.figures_every) or FIGURES_AT_SPEED  # 0 unresolved (tests, benchmarks): at speed
    p.bars_per_day = float(spec.bars_per_day)
    p.seed = int(seed)
    hg, hp = cfg.hedge, p.hedge
    hp.protect, hp.flag_models, hp.flag_below = bool(hg.protect), [str(m) for m in hg.flag_models], float(hg.flag_below)
    hp.moneyness, hp.expiry_days = float(hg.moneyness), float(hg.expiry_days)
    hp.max_premium_multiple, hp.hedge_ratio = float(hg.max_premium_multiple), float(hg.hedge_ratio)
    hp.multiplier, hp.vol_premium, hp.half_spread = float(hg.multiplier), float(hg.vol_premium), float(hg.half_spread)
    hp.commission_per_contract = float(hg.commission_per_contract)
    hp.max_premium_fraction = float(hg.max_premium_fraction)
    hp.fast_halflife, hp.slow_halflife = float(hg.fast_halflife), float(hg.slow_halflife)
    hp.min_bars, hp.recheck_bars = int(hg.min_bars), int(hg.recheck_bars)
    hp.rate, hp.div = float(hg.rate), float(hg.div)
    hp.bars_per_year = 252.0 * float(spec.bars_per_day)
    engine = Engine(p, [Instrument(i.symbol, i.asset_class, float(i.lot), i.sector)
                        for i in spec.instruments])
    us = engine.router.gate.us  # US account rules (core/gate.py UsAccountRules): off by default
    us.pdt, us.pdt_min_equity = bool(lim.pdt), float(lim.pdt_min_equity)
    us.pdt_max_day_trades = int(lim.pdt_max_day_trades)
    us.wash_sale, us.wash_sale_days = bool(lim.wash_sale), int(lim.wash_sale_days)
    if engine.hedger is not None:  # [hedge] flag_rule (core/hedger.py hedge_flag)
        engine.hedger.flag_rule, engine.hedger.drop_above = str(hg.flag_rule), float(hg.drop_above)
    return engine


ACTIONS = {"halt": HALTED, "reduce": REDUCING, "flatten": FLATTEN}  # breakers.on_trip -> the engine's


def _hours(text: str) -> tuple[int, int]:
    parsed = parse_hours(text) if text else None
    return parsed if parsed is not None else (-1, -1)


def engine_setup(cfg: EngineConfig, spec: MarketSpec,
                 source: dict[str, Any] | None = None, signals: bool = False) -> dict[str, Any]:
    """Everything replay needs to rebuild the same engine, and resume needs to
    rebuild the same source (logged with the session). ``signals``: whether
    the signal layer ran beside the engine (resume and the models check
    rebuild it only then)."""
    return {"engine": cfg.to_dict(), "market": spec.to_dict(), "source": source or {},
            "seed": int((source or {}).get("seed", 0)), "signals": bool(signals)}


def engine_from_setup(setup: dict[str, Any]) -> Engine:
    source = setup.get("source") or {}
    return build_engine(logged_config(setup["engine"]),
                        MarketSpec.from_dict(setup["market"]), int(setup.get("seed", 0)),
                        venue_exec=source.get("mode") == "venue")


def is_compiled() -> bool:
    """True when the per-tick modules are the mypyc-compiled extensions."""
    import core.engine

    return not (core.engine.__file__ or "").endswith(".py")
