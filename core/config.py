"""Engine configuration: frozen, validated, loadable from TOML.

Every limit has a documented default here; ``console config show`` prints the
effective values. Fractions are fractions of NAV (0.03 = 3%).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError


@dataclass(frozen=True)
class StrategyConfig:
    """Momentum: fast/slow moving averages of bar closes, scaled by bar volatility."""

    fast: int = 5  # bars
    slow: int = 20  # bars
    target_fraction: float = 0.10  # NAV per symbol at a full-strength signal
    rebalance_band: float = 0.25  # trade only when off target by this share of the max position
    vol_scale: float = 2.0  # signal = trend / (vol_scale * bar vol), clipped to [-1, 1]


@dataclass(frozen=True)
class BrokerConfig:
    commission_bps: float = 1.0  # of traded notional
    min_commission: float = 1.0  # currency per fill
    slippage_bps: float = 2.0  # paid against the fill price, both sides


@dataclass(frozen=True)
class LimitsConfig:
    """Pre-trade gate limits, checked on every order."""

    max_order_notional: float = 250_000.0  # currency per order
    max_position_fraction: float = 0.20  # |position value| / NAV after the order
    max_gross_leverage: float = 2.0  # gross exposure / NAV after the order
    fat_finger_band: float = 0.10  # |order ref price / last price - 1|


@dataclass(frozen=True)
class BreakersConfig:
    """Circuit-breaker limits. Losses are positive fractions of NAV."""

    daily_loss: float = 0.03  # loss from the day's opening NAV
    max_drawdown: float = 0.10  # loss from the NAV peak since the last reset
    consecutive_losses: int = 10  # losing closing trades in a row
    reject_storm: int = 25  # gate rejections within one bar
    stale_data_s: float = 300.0  # market seconds with no price while orders are open
    warn_fraction: float = 0.8  # WARNING at this share of the limit


@dataclass(frozen=True)
class EngineConfig:
    initial_cash: float = 1_000_000.0
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    breakers: BreakersConfig = field(default_factory=BreakersConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS: dict[str, type] = {
    "strategy": StrategyConfig, "broker": BrokerConfig,
    "limits": LimitsConfig, "breakers": BreakersConfig,
}


def config_from_dict(data: dict[str, Any], where: str = "config") -> EngineConfig:
    """Build a config, collecting every problem into one ConfigError."""
    problems: list[str] = []
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                problems.append(f"[{key}] must be a table")
                continue
            top[key] = _section(_SECTIONS[key], key, value, problems)
        elif key == "initial_cash":
            top[key] = _number(key, value, float, problems)
        else:
            problems.append(f"unknown key {key!r}")
    # bad values were dropped (defaults stand in), so range checks still run
    # and one error lists every problem
    cfg = EngineConfig(**{k: v for k, v in top.items() if v is not None})
    problems.extend(_check_ranges(cfg))
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return cfg


def load_config(path: str | Path | None) -> EngineConfig:
    if path is None:
        return EngineConfig()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return config_from_dict(data, str(p))


def _section(cls: type, name: str, values: dict[str, Any], problems: list[str]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        f = known.get(key)
        if f is None:
            problems.append(f"unknown key {name}.{key}")
            continue
        kind = int if f.type in (int, "int") else float
        number = _number(f"{name}.{key}", value, kind, problems)
        if number is not None:
            kwargs[key] = number
    return cls(**kwargs)


def _number(name: str, value: Any, kind: type, problems: list[str]) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not isinstance(value, int):
        ok = False
    if not ok:
        problems.append(f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{name} must be finite, got {value!r}")
        return None
    return kind(value)


def _check_ranges(cfg: EngineConfig) -> list[str]:
    out: list[str] = []
    pos = [("initial_cash", cfg.initial_cash), ("limits.max_order_notional", cfg.limits.max_order_notional),
           ("limits.max_gross_leverage", cfg.limits.max_gross_leverage),
           ("breakers.stale_data_s", cfg.breakers.stale_data_s)]
    out += [f"{n} must be > 0, got {v}" for n, v in pos if not v > 0]
    fractions = [("strategy.target_fraction", cfg.strategy.target_fraction),
                 ("strategy.rebalance_band", cfg.strategy.rebalance_band),
                 ("limits.max_position_fraction", cfg.limits.max_position_fraction),
                 ("limits.fat_finger_band", cfg.limits.fat_finger_band),
                 ("breakers.daily_loss", cfg.breakers.daily_loss),
                 ("breakers.max_drawdown", cfg.breakers.max_drawdown),
                 ("breakers.warn_fraction", cfg.breakers.warn_fraction)]
    out += [f"{n} must be in (0, 1], got {v}" for n, v in fractions if not 0 < v <= 1]
    nonneg = [("broker.commission_bps", cfg.broker.commission_bps),
              ("broker.min_commission", cfg.broker.min_commission),
              ("broker.slippage_bps", cfg.broker.slippage_bps)]
    out += [f"{n} must be >= 0, got {v}" for n, v in nonneg if v < 0]
    counts = [("strategy.fast", cfg.strategy.fast), ("strategy.slow", cfg.strategy.slow),
              ("breakers.consecutive_losses", cfg.breakers.consecutive_losses),
              ("breakers.reject_storm", cfg.breakers.reject_storm)]
    out += [f"{n} must be >= 1, got {v}" for n, v in counts if v < 1]
    if cfg.strategy.fast >= cfg.strategy.slow:
        out.append(f"strategy.fast ({cfg.strategy.fast}) must be < strategy.slow ({cfg.strategy.slow})")
    if not cfg.strategy.vol_scale > 0:
        out.append(f"strategy.vol_scale must be > 0, got {cfg.strategy.vol_scale}")
    return out
