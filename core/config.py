"""Engine configuration: frozen, validated, loadable from TOML.

Every limit has a documented default here; ``console config show`` prints the
effective values. Fractions are fractions of NAV (0.03 = 3%).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
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
    # the model whose signal sets positions: "momentum" (in-engine), a signal-layer
    # model, or "auto": the ensemble when the signal layer runs, else momentum
    signal: str = "auto"
    vol_target: float = 0.0  # > 0: size each position to this annual volatility (x signal), capped at 3x
    # vol_target's estimate: "realised" (sd of bar returns) or "atr" (mean true range
    # over atr_bars bars / close); both annualised by sqrt(252 x bars a day)
    vol_estimator: str = "realised"
    atr_bars: int = 14  # bars of true range behind vol_estimator = "atr"
    # > 0: scale each full size by min(kelly_cap, kelly_fraction x f*), f* = mean / variance
    # of the driving signal's per-bar returns (holding its sign) on that symbol
    kelly_fraction: float = 0.0
    kelly_cap: float = 1.0  # the most that Kelly may scale a full size by
    kelly_bars: int = 100  # bars of those returns behind f*; no exposure until they are in
    # several strategies side by side: each book ("momentum" or a signal model) gets a
    # capital weight and its own targets; the engine trades the net; [] = ``signal`` alone
    books: tuple[str, ...] = ()
    # "equal", "inverse_vol" (of each book's recent P&L per unit of capital) or
    # "mean_variance" (of those returns' mean and covariance, annualised)
    allocation: str = "equal"
    rebalance_every: int = 50  # bars between capital re-weights (market time)
    allocation_window: int = 100  # bars of book returns behind inverse_vol / mean_variance
    allocation_min_w: float = 0.0  # each book's weight at least this (inverse_vol, mean_variance)
    allocation_max_w: float = 1.0  # and at most this
    risk_aversion: float = 1.0  # mean_variance: maximise mu'w - risk_aversion / 2 x w'Cw


@dataclass(frozen=True)
class BrokerConfig:
    """The paper broker: costs, partial fills and time in force."""

    commission_bps: float = 1.0  # of traded notional
    min_commission: float = 1.0  # currency per order (a sliced parent counts as one order)
    # where the minimum applies: "order" (once per order, however many partial fills)
    # or "fill" (each partial fill; how sessions logged before it was added were charged)
    min_commission_per: str = "order"
    slippage_bps: float = 2.0  # the half-spread, paid against the print's price, both sides
    impact_bps: float = 0.0  # market impact: impact_bps * sqrt(fill qty / print volume), on top
    participation: float = 0.0  # share of a print's volume (tick size, bar volume) orders may take; 0 = all
    order_ttl_s: float = 0.0  # market seconds an order rests before it expires; 0 = good till cancelled


@dataclass(frozen=True)
class ExecutionConfig:
    """Execution algorithms for large strategy orders: a parent order worked as
    child orders over market time, each child through the pre-trade gate."""

    # "twap": equal slices (in lots), the rest on the last; "vwap": slices in proportion to the
    # volume seen so far in each slice's time of day; "pov": a share of volume
    algo: str = "twap"
    twap_above_notional: float = 0.0  # strategy orders above this notional are sliced; 0 = never
    slices: int = 5  # slices per parent (the parent ends after slices x slice_s at the latest)
    slice_s: float = 60.0  # market seconds per slice
    pov_rate: float = 0.1  # POV: a child takes at most this share of each print's volume
    limit_offset_bps: float = 0.0  # strategy orders as limits this far past the price against us; 0 = market


@dataclass(frozen=True)
class LimitsConfig:
    """Pre-trade gate limits, checked on every order."""

    max_order_notional: float = 250_000.0  # currency per order
    max_position_fraction: float = 0.20  # |position value| / NAV after the order
    max_gross_leverage: float = 2.0  # gross exposure / NAV after the order
    fat_finger_band: float = 0.10  # |order ref price / last price - 1|
    max_sector_fraction: float = 0.60  # gross exposure of one sector / NAV after the order
    var_budget: float = 0.08  # one-day 95% VaR / NAV after the order (correlation-1 bound)
    max_orders_per_minute: int = 60  # accepted orders per minute of market time
    do_not_trade: tuple[str, ...] = ()  # symbols that may only be reduced
    trading_hours: str = ""  # "HH:MM-HH:MM" UTC, Monday-Friday; "" = always open
    quarantine_band: float = 0.25  # |price / last good price - 1| past which a print is quarantined
    quarantine_confirm: int = 3  # consecutive prints at the new level that confirm a real gap
    # US individual accounts (seed 002; core/gate.py UsAccountRules), off by default:
    pdt: bool = False  # refuse (rule "pdt") a day trade past pdt_max_day_trades in 5 business days
    pdt_min_equity: float = 25_000.0  # ... while equity (NAV) is under this
    pdt_max_day_trades: int = 4  # day trades allowed in 5 business days (the next is refused)
    wash_sale: bool = False  # flag a loss followed by a rebuy within wash_sale_days (a report line)
    wash_sale_days: int = 30


ON_TRIP = {"daily_loss": "flatten", "max_drawdown": "flatten", "trailing_loss": "flatten",
           "var_limit": "reduce"}
TRIP_ACTIONS = ("halt", "reduce", "flatten")


@dataclass(frozen=True)
class BreakersConfig:
    """Circuit-breaker limits. Losses are positive fractions of NAV."""

    daily_loss: float = 0.03  # loss from the day's opening NAV
    max_drawdown: float = 0.10  # loss from the NAV peak since the last reset
    # losing round trips in a row, all symbols together: at 10 the default
    # strategy (hit rate near 45% after costs) halted itself in its first
    # half hour on most simulator seeds; 20 in a row is a broken strategy
    consecutive_losses: int = 20
    reject_storm: int = 25  # gate rejections within one bar
    # market seconds with no print of a symbol held or with orders open; a night,
    # weekend or holiday counts as one bar (see stale_bars)
    stale_data_s: float = 300.0
    # the stale limit is at least this many of the feed's bars (3 daily bars on a
    # daily file); 0 = the measure of sessions logged before it: seconds since any print
    stale_bars: int = 3
    trailing_loss: float = 0.02  # give-back from the day's P&L peak, fraction of day-open NAV
    var_limit: float = 0.06  # one-day 95% VaR of the current book / NAV, by var_measure
    # "historical" (the book's positions under each of the last risk.var_window bars'
    # returns), "parametric" (Gaussian, their covariance) or "monte_carlo" (the
    # seeded simulation, refreshed every risk.mc_every bars); no drift term in any.
    # "nav_parametric": the measure of sessions logged before it (NAV returns, plus
    # the recent loss drift), kept so that they replay
    var_measure: str = "historical"
    # a VaR trip cuts the largest contributor each bar until the measure is under
    # the limit; with this on, once it is below warn_clear x limit the breaker
    # re-arms and a book that the trip moved to REDUCING returns to ACTIVE
    var_auto_resume: bool = True
    warn_fraction: float = 0.8  # WARNING at this share of the limit
    warn_clear: float = 0.7  # a WARNING clears only below this share of the limit (hysteresis)
    confirm: int = 1  # consecutive breaches before a trip (1 = trip at once)
    # what a trip does, per breaker: "halt" (no orders; positions kept), "reduce"
    # (exits only) or "flatten" (exits for every position, then exits only). The
    # loss breakers flatten so that the loss stops near its limit; a breaker not
    # named here halts. A config's table is laid over this default
    on_trip: dict[str, str] = field(default_factory=lambda: dict(ON_TRIP))
    reduce_on: tuple[str, ...] = ()  # these reduce whatever on_trip says (its older form)
    flatten_on_trip: bool = False  # every trip also sends exits for every position
    bad_data: int = 5  # quarantined prints within one bar
    live_sharpe_ratio: float = 0.7  # disable a model whose live Sharpe < ratio x its validation Sharpe
    live_sharpe_min_bars: int = 100  # bars of live signal P&L before that check runs
    # the breaker rules a session was logged under: 2 now; 1 for logs from before
    # var_measure, on_trip, warn_clear and stale_bars (see LEGACY)
    version: int = 2


@dataclass(frozen=True)
class RiskConfig:
    """Risk figures in the logged risk snapshots."""

    mc_draws: int = 2000  # Monte Carlo VaR scenarios (correlated, from the positions' covariance)
    mc_every: int = 10  # bars between Monte Carlo runs (the last figure stands in between)
    var_window: int = 250  # bars of each symbol's returns behind the book's VaR (historical, parametric)
    # bars between the display figures of a risk snapshot (NAV VaR parametric and
    # historical, CVaR, each position's share of the book VaR): computed at the first
    # bar close and every figures_every-th after it, the last figures standing in
    # between (as the Monte Carlo's do); a position coming or going remakes the shares
    # at once. NAV, drawdown, P&L and the VaR breaker's book VaR are every bar.
    # 0 (auto, made definite before the session is logged: resolve_figures): 10 where
    # bars come as fast as the engine takes them (--speed max, price files, sweeps),
    # 1 (every bar) in a paced or live session, where a bar is seconds or minutes.
    # Under breakers.version 1 always 1 (its VaR breaker judges the NAV parametric figure)
    figures_every: int = 0


@dataclass(frozen=True)
class SignalsConfig:
    """The signal layer (core.signals): models fitted off the engine thread on
    bar closes; their views enter the engine as logged inputs."""

    models: tuple[str, ...] = ("hmm", "forest", "pairs", "sentiment", "ensemble")  # [] = none; "lstm" opt-in
    fit_bars: int = 120  # bars of history before the first fit
    history_bars: int = 1000  # bars kept for (re)training
    retrain_every: int = 500  # bars between scheduled refits (0 = never)
    drift_check_every: int = 50  # bars between KS drift checks of returns (0 = never)
    min_refit_bars: int = 200  # a drift refit waits this many bars after the last fit
    drift_alpha: float = 0.05  # KS p-value below which returns have drifted: refit
    # as-fast-as-possible runs (--speed max, price files): a fit started at bar N goes
    # live at bar N + activation_lag_bars, the engine waiting for it if need be, so the
    # same seed, config and data give the same log; paced simulator runs activate a fit
    # when it finishes (live)
    activation_lag_bars: int = 5
    # the fit gate: a fit that reports a validation Sharpe goes live only with at least
    # min_val_bars validation bars and a probabilistic Sharpe ratio >= min_psr against
    # the deflated threshold for the number of fits of that model so far (Bailey and
    # Lopez de Prado); min_psr = 0 switches the significance test off
    min_val_bars: int = 60
    min_psr: float = 0.95
    drl: dict[str, str] = field(default_factory=dict)  # [signals.drl] policy = "PATH" (console models train-rl)
    # per-model parameters: a [signals.<model>] table (e.g. [signals.forest] n_estimators = 200),
    # checked against core.signals.params.SPECS; logged with the config, so replay refits alike
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class HedgeConfig:
    """Options overlay (core/overlay.py): protective puts on long positions a
    signal flags, bought from a paper option desk when its ask is at most
    ``max_premium_multiple`` x fair value. Off unless ``protect = true``."""

    protect: bool = False
    flag_models: tuple[str, ...] = ("sentiment", "hmm")  # views that flag a name ("momentum" too)
    flag_below: float = -0.5  # a view at or below this flags a name held long
    # "view": a flag model's view at or below flag_below flags a name; "drop_probability"
    # (seed 000): the forest's p(fall past signals.forest.drop within drop_h bars) above
    # drop_above flags it (needs [signals.forest] drop > 0)
    flag_rule: str = "view"
    drop_above: float = 0.6
    moneyness: float = 0.95  # strike / spot (0.95 = 5% out of the money)
    expiry_days: float = 30.0  # calendar days to expiry
    max_premium_multiple: float = 1.25  # buy when the ask <= this x BSM fair value
    hedge_ratio: float = 1.0  # units protected per unit held long
    multiplier: float = 100.0  # units of underlying per contract
    vol_premium: float = 0.10  # the desk's implied vol = recent realised vol x (1 + this)
    half_spread: float = 0.02  # the desk asks mid x (1 + this), bids mid x (1 - this)
    commission_per_contract: float = 0.65  # currency
    max_premium_fraction: float = 0.02  # premium of the puts held at most this share of NAV
    fast_halflife: float = 10.0  # bars: recent realised vol (the desk's)
    slow_halflife: float = 200.0  # bars: fair vol
    min_bars: int = 30  # returns seen on a symbol before the desk quotes it
    recheck_bars: int = 30  # bars between logged declines on one symbol
    rate: float = 0.0  # annual risk-free rate, continuously compounded
    div: float = 0.0  # annual dividend yield


@dataclass(frozen=True)
class EngineConfig:
    initial_cash: float = 1_000_000.0
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    breakers: BreakersConfig = field(default_factory=BreakersConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    hedge: HedgeConfig = field(default_factory=HedgeConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What a logged config that lacks a key meant when it was written: sessions
# logged before the key existed replay with these values (a config file that
# leaves a key out gets the default above instead).
LEGACY: dict[str, dict[str, Any]] = {
    "breakers": {"var_measure": "nav_parametric", "var_auto_resume": False, "warn_clear": -1.0,
                 "on_trip": {"daily_loss": "halt", "max_drawdown": "halt", "trailing_loss": "halt",
                             "var_limit": "halt"},  # reduce_on (logged) still wins, as it did
                 "stale_bars": 0, "version": 1},
    "broker": {"min_commission_per": "fill"},
    "risk": {"figures_every": 1},
}


def upgrade_logged(data: dict[str, Any]) -> dict[str, Any]:
    """A logged config with each missing key (see LEGACY) set to the value that
    reproduces how that session ran."""
    out = dict(data)
    for section, keys in LEGACY.items():
        have = out.get(section)
        if isinstance(have, dict):
            out[section] = {**{k: v for k, v in keys.items() if k not in have}, **have}
    return out


def logged_config(data: dict[str, Any], where: str = "logged config") -> EngineConfig:
    return config_from_dict(upgrade_logged(data), where)


BREAKER_NAMES = ("daily_loss", "max_drawdown", "trailing_loss", "consecutive_losses",
                 "var_limit", "reject_storm", "stale_data", "bad_data")


def resolve_signal(cfg: EngineConfig, signal_layer: bool) -> EngineConfig:
    """``strategy.signal = "auto"`` made definite before a session is logged:
    the ensemble when the signal layer runs and has one, else momentum."""
    if cfg.strategy.signal != "auto":
        return cfg
    pick = "ensemble" if signal_layer and "ensemble" in cfg.signals.models else "momentum"
    return replace(cfg, strategy=replace(cfg.strategy, signal=pick))


FIGURES_AT_SPEED = 10  # risk.figures_every "auto" where bars come as fast as the engine takes them


def resolve_figures(cfg: EngineConfig, at_speed: bool) -> EngineConfig:
    """``risk.figures_every = 0`` (auto) made definite before a session is
    logged: FIGURES_AT_SPEED when bars come as fast as the engine takes them
    (``at_speed``: --speed max, price files, sweeps), else 1 (a paced or live
    session: a bar is seconds or minutes, and the Risk pane's figures should be
    this bar's)."""
    if cfg.risk.figures_every != 0:
        return cfg
    return replace(cfg, risk=replace(cfg.risk, figures_every=FIGURES_AT_SPEED if at_speed else 1))


def parse_hours(text: str) -> tuple[int, int] | None:
    """'09:30-16:00' -> (570, 960) minutes after midnight UTC; None if malformed."""
    try:
        start, end = text.split("-")
        mins = []
        for part in (start, end):
            hh, mm = part.strip().split(":")
            h, m = int(hh), int(mm)
            if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 1440:
                return None
            mins.append(h * 60 + m)
    except ValueError:
        return None
    return (mins[0], mins[1]) if mins[0] < mins[1] else None


_SECTIONS: dict[str, type] = {
    "strategy": StrategyConfig, "broker": BrokerConfig,
    "limits": LimitsConfig, "breakers": BreakersConfig, "risk": RiskConfig,
    "signals": SignalsConfig, "execution": ExecutionConfig, "hedge": HedgeConfig,
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
        elif key in ("venue", "alerts"):
            continue  # the session's source and its alerts, not the engine's: console/ reads them
        else:
            problems.append(f"unknown key {key!r}")
    # bad values were dropped (defaults stand in), so range checks still run
    # and one error lists every problem
    cfg = EngineConfig(**{k: v for k, v in top.items() if v is not None})
    problems.extend(_check_ranges(cfg))
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return cfg


MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; 1 MiB bounds the TOML parser's work
MAX_KEY_PARTS = 64  # parts of one dotted key or table name (a real one has 2 or 3)


def _read_config_text(p: Path) -> str:
    """The file's text: a regular file of at most MAX_CONFIG_BYTES (a FIFO
    would block, a device or a huge file never end)."""
    import stat

    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(p)
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{p}: not a regular file (a FIFO, device or socket); give a config file")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES:,} bytes; not a config file")
    text = data.decode("utf-8")
    # tomllib's work grows with the square of a dotted key's parts (100,000 of
    # them: minutes): count the dots of each key and table header first
    for n, line in enumerate(text.splitlines(), 1):
        head = line.lstrip()
        key = head[:head.find("]")] if head.startswith("[") else head.split("=", 1)[0] if "=" in head else ""
        if key.count(".") >= MAX_KEY_PARTS:
            raise ConfigError(f"{p} line {n}: a key of {key.count('.') + 1:,} dotted parts "
                              f"(at most {MAX_KEY_PARTS}); not a config file")
    return text


def load_config(path: str | Path | None) -> EngineConfig:
    if path is None:
        return EngineConfig()
    return config_from_dict(read_toml(path), str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's tables, read with the bounds of ``_read_config_text``;
    any problem is one ConfigError line naming the file."""
    p = Path(path)
    try:
        return tomllib.loads(_read_config_text(p))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ConfigError(f"{p}: not a usable config ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{p}: not a usable config (arrays or tables nested too deeply)") from None


def _section(cls: type, name: str, values: dict[str, Any], problems: list[str]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    if cls is SignalsConfig:  # [signals.<model>] tables (and the logged form, signals.params) -> params
        values = dict(values)
        tables = _model_tables(values, problems)
        if tables is not None:
            values["params"] = tables
    for key, value in values.items():
        f = known.get(key)
        if key == "params" and cls is SignalsConfig:
            kwargs[key] = value
            continue
        if f is None:
            problems.append(f"unknown key {name}.{key}")
            continue
        parsed = _typed(f"{name}.{key}", value, str(f.type), problems)
        if isinstance(parsed, dict):  # a table is laid over its default: name only what changes
            parsed = {**f.default_factory(), **parsed}  # type: ignore[operator]
        if parsed is not None:
            kwargs[key] = parsed
    return cls(**kwargs)


def _model_tables(values: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]] | None:
    """Pop the ``[signals.<model>]`` tables (and a logged ``params`` table of
    them) out of ``values``; None when there are none. Their keys and values
    are checked in ``_check_ranges`` (``core.signals.params``)."""
    scalar_keys = {f.name for f in fields(SignalsConfig)} - {"params"}
    out: dict[str, dict[str, Any]] = {}
    logged = values.pop("params", None)
    if logged is not None:
        if not isinstance(logged, dict) or not all(isinstance(v, dict) for v in logged.values()):
            problems.append(f"signals.params must be a table of model tables, got {logged!r}")
        else:
            out.update({str(k): dict(v) for k, v in logged.items()})
    for key in [k for k, v in values.items() if isinstance(v, dict) and k not in scalar_keys]:
        out[key] = {**out.get(key, {}), **values.pop(key)}
    return out if out or logged is not None else None


def _typed(name: str, value: Any, kind: str, problems: list[str]) -> Any:
    """Check ``value`` against a field's annotation (as text, from __future__)."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        problems.append(f"{name} must be true or false, got {value!r}")
        return None
    if kind == "str":
        if isinstance(value, str):
            return value
        problems.append(f"{name} must be text, got {value!r}")
        return None
    if kind.startswith("dict"):
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return dict(value)
        problems.append(f"{name} must be a table of text values, got {value!r}")
        return None
    if kind.startswith("tuple"):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        problems.append(f"{name} must be a list of text, got {value!r}")
        return None
    return _number(name, value, int if kind == "int" else float, problems)


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
    try:
        return kind(value)
    except OverflowError:  # an integer too large for a float
        problems.append(f"{name} is too large, got an integer of {len(str(abs(value)))} digits")
        return None


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
    br = cfg.breakers
    if br.version >= 2 and not 0 < br.warn_clear <= br.warn_fraction:
        out.append(f"breakers.warn_clear must be in (0, breakers.warn_fraction = {br.warn_fraction}], "
                   f"got {br.warn_clear}")
    if br.var_measure not in ("historical", "parametric", "monte_carlo", "nav_parametric"):
        out.append(f"breakers.var_measure must be historical, parametric or monte_carlo, got {br.var_measure!r}")
    odd_trip = sorted(set(br.on_trip) - set(BREAKER_NAMES))
    if odd_trip:
        out.append(f"breakers.on_trip names unknown breaker(s) {odd_trip}; known: {', '.join(BREAKER_NAMES)}")
    bad_act = sorted(f"{k} = {v!r}" for k, v in br.on_trip.items() if v not in TRIP_ACTIONS)
    if bad_act:
        out.append(f"breakers.on_trip actions must be halt, reduce or flatten, got {', '.join(bad_act)}")
    if not 0 <= br.stale_bars <= 10_000:
        out.append(f"breakers.stale_bars must be in [0, 10000] (bars), got {br.stale_bars}")
    if br.var_measure == "nav_parametric" and br.version >= 2:
        out.append("breakers.var_measure = 'nav_parametric' is the measure of sessions logged under "
                   "breakers.version 1; choose historical, parametric or monte_carlo")
    if br.version not in (1, 2):
        out.append(f"breakers.version must be 1 or 2, got {br.version}")
    if cfg.broker.min_commission_per not in ("order", "fill"):
        out.append(f"broker.min_commission_per must be order or fill, got {cfg.broker.min_commission_per!r}")
    if not 20 <= cfg.risk.var_window <= 100_000:
        out.append(f"risk.var_window must be in [20, 100000] (bars), got {cfg.risk.var_window}")
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
    counts2 = [("limits.max_orders_per_minute", cfg.limits.max_orders_per_minute),
               ("breakers.confirm", cfg.breakers.confirm),
               ("limits.quarantine_confirm", cfg.limits.quarantine_confirm),
               ("breakers.bad_data", cfg.breakers.bad_data),
               ("breakers.live_sharpe_min_bars", cfg.breakers.live_sharpe_min_bars),
               ("risk.mc_draws", cfg.risk.mc_draws), ("risk.mc_every", cfg.risk.mc_every)]
    out += [f"{n} must be >= 1, got {v}" for n, v in counts2 if v < 1]
    if cfg.risk.figures_every < 0:
        out.append(f"risk.figures_every must be >= 0 (0: auto), got {cfg.risk.figures_every}")
    more = [("limits.max_sector_fraction", cfg.limits.max_sector_fraction),
            ("limits.var_budget", cfg.limits.var_budget),
            ("breakers.trailing_loss", cfg.breakers.trailing_loss),
            ("breakers.var_limit", cfg.breakers.var_limit),
            ("limits.quarantine_band", cfg.limits.quarantine_band)]
    out += [f"{n} must be in (0, 1], got {v}" for n, v in more if not 0 < v <= 1]
    lim = cfg.limits
    if not (lim.pdt_min_equity >= 0 and math.isfinite(lim.pdt_min_equity)):
        out.append(f"limits.pdt_min_equity must be a finite number >= 0, got {lim.pdt_min_equity}")
    if not 0 <= lim.pdt_max_day_trades <= 1000:
        out.append(f"limits.pdt_max_day_trades must be in [0, 1000], got {lim.pdt_max_day_trades}")
    if not 1 <= lim.wash_sale_days <= 366:
        out.append(f"limits.wash_sale_days must be in [1, 366] (calendar days), got {lim.wash_sale_days}")
    if cfg.limits.trading_hours and parse_hours(cfg.limits.trading_hours) is None:
        out.append(f"limits.trading_hours must be 'HH:MM-HH:MM' (UTC), got {cfg.limits.trading_hours!r}")
    unknown = sorted(set(cfg.breakers.reduce_on) - set(BREAKER_NAMES))
    if unknown:
        out.append(f"breakers.reduce_on names unknown breaker(s) {unknown}; known: {', '.join(BREAKER_NAMES)}")
    if not 0 <= cfg.breakers.live_sharpe_ratio <= 1:
        out.append(f"breakers.live_sharpe_ratio must be in [0, 1], got {cfg.breakers.live_sharpe_ratio}")
    sig = cfg.signals
    out += [f"signals.{n} must be >= {lo}, got {v}" for n, v, lo in (
        ("fit_bars", sig.fit_bars, 30), ("history_bars", sig.history_bars, sig.fit_bars),
        ("retrain_every", sig.retrain_every, 0), ("drift_check_every", sig.drift_check_every, 0),
        ("min_refit_bars", sig.min_refit_bars, 0), ("activation_lag_bars", sig.activation_lag_bars, 0),
        ("min_val_bars", sig.min_val_bars, 2)) if v < lo]
    if not 0 <= sig.min_psr < 1:
        out.append(f"signals.min_psr must be in [0, 1) (a probability; 0 = no significance test), got {sig.min_psr}")
    if not 0 < sig.drift_alpha < 1:
        out.append(f"signals.drift_alpha must be in (0, 1), got {sig.drift_alpha}")
    from core.signals.params import config_problems  # pure Python: no torch or sklearn

    out += config_problems(sig.params)
    known: tuple[str, ...] = ("hmm", "forest", "lstm", "sentiment", "pairs", "ensemble", "drl")
    known += ("cnn", "transformer", "sgd")  # issue 21: window nets and the online model
    if set(sig.drl) - {"policy"} or ("drl" in sig.models and not sig.drl.get("policy")):
        out.append(f"signals.drl takes one key, policy (a file from `console models train-rl`), and needs it "
                   f"when signals.models has drl; got {sig.drl}")
    odd = [m for m in sig.models if m and m not in known]
    if odd:
        out.append(f"signals.models names unknown model(s) {odd}; known: {', '.join(known)}")
    if cfg.strategy.signal not in ("auto", "momentum", *known):
        out.append(f"strategy.signal must be auto, momentum or a signal model ({', '.join(known)}), "
                   f"got {cfg.strategy.signal!r}")
    elif cfg.strategy.signal not in ("auto", "momentum") and cfg.strategy.signal not in sig.models:
        out.append(f"strategy.signal {cfg.strategy.signal!r} is not in signals.models")
    out += _check_books(cfg)
    if cfg.risk.mc_draws < 100:
        out.append(f"risk.mc_draws must be >= 100, got {cfg.risk.mc_draws}")
    if not 0 <= cfg.strategy.vol_target <= 2:
        out.append(f"strategy.vol_target must be in [0, 2] (annual volatility), got {cfg.strategy.vol_target}")
    if not cfg.strategy.vol_scale > 0:
        out.append(f"strategy.vol_scale must be > 0, got {cfg.strategy.vol_scale}")
    return out + _check_sizing(cfg) + _check_execution(cfg) + _check_hedge(cfg) + _check_sizes(cfg)


MAX_WINDOW_BARS = 1_000_000  # a window the engine or a model keeps in memory, per symbol or book
MAX_MC_DRAWS = 1_000_000  # Monte Carlo scenarios each run (a draws x symbols matrix)
MAX_SLICES = 10_000  # child orders of one parent


def _check_sizes(cfg: EngineConfig) -> list[str]:
    """Upper bounds on the numbers that size memory or work: past them a
    session would validate, start, then die of a MemoryError (or run for
    hours) with no useful reason."""
    st, sig = cfg.strategy, cfg.signals
    windows = [("strategy.fast", st.fast), ("strategy.slow", st.slow), ("strategy.atr_bars", st.atr_bars),
               ("strategy.kelly_bars", st.kelly_bars), ("strategy.allocation_window", st.allocation_window),
               ("signals.fit_bars", sig.fit_bars), ("signals.history_bars", sig.history_bars),
               ("hedge.min_bars", cfg.hedge.min_bars)]
    out = [f"{n} must be <= {MAX_WINDOW_BARS:,} (bars kept in memory), got {v:,}"
           for n, v in windows if v > MAX_WINDOW_BARS]
    if cfg.risk.mc_draws > MAX_MC_DRAWS:
        out.append(f"risk.mc_draws must be <= {MAX_MC_DRAWS:,} (scenarios held in memory each run), "
                   f"got {cfg.risk.mc_draws:,}")
    if cfg.execution.slices > MAX_SLICES:
        out.append(f"execution.slices must be <= {MAX_SLICES:,} (child orders of one parent), "
                   f"got {cfg.execution.slices:,}")
    return out


def _check_sizing(cfg: EngineConfig) -> list[str]:
    out: list[str] = []
    st = cfg.strategy
    if st.vol_estimator not in ("realised", "atr"):
        out.append(f"strategy.vol_estimator must be realised or atr, got {st.vol_estimator!r}")
    elif st.vol_estimator == "atr" and st.vol_target <= 0:
        out.append("strategy.vol_estimator = 'atr' needs strategy.vol_target > 0 (it estimates that target's vol)")
    if st.atr_bars < 1:
        out.append(f"strategy.atr_bars must be >= 1 (bars), got {st.atr_bars}")
    if not 0 <= st.kelly_fraction <= 1:
        out.append(f"strategy.kelly_fraction must be in [0, 1] (0 = off), got {st.kelly_fraction}")
    if not 0 < st.kelly_cap <= 10:
        out.append(f"strategy.kelly_cap must be in (0, 10] (a multiple of the full size), got {st.kelly_cap}")
    if st.kelly_bars < 2:
        out.append(f"strategy.kelly_bars must be >= 2 (bars), got {st.kelly_bars}")
    if cfg.signals.params.get("pairs", {}).get("sizing") == "hedge_ratio" and \
            (st.vol_target > 0 or st.kelly_fraction > 0):
        out.append("signals.pairs.sizing = 'hedge_ratio' needs strategy.vol_target = 0 and "
                   "strategy.kelly_fraction = 0 (per-symbol scaling would undo the hedge ratio), got "
                   f"{st.vol_target}, {st.kelly_fraction}")
    return out


def _check_books(cfg: EngineConfig) -> list[str]:
    out: list[str] = []
    st = cfg.strategy
    if st.books:
        odd_books = [b for b in st.books if b != "momentum" and b not in cfg.signals.models]
        if odd_books:
            out.append(f"strategy.books names {odd_books}, neither momentum nor in signals.models")
        if len(set(st.books)) != len(st.books):
            out.append(f"strategy.books lists a book twice: {list(st.books)}")
    if st.allocation not in ("equal", "inverse_vol", "mean_variance"):
        out.append(f"strategy.allocation must be equal, inverse_vol or mean_variance, got {st.allocation!r}")
    if st.rebalance_every < 1:
        out.append(f"strategy.rebalance_every must be >= 1 (bars), got {st.rebalance_every}")
    if st.allocation_window < 2:
        out.append(f"strategy.allocation_window must be >= 2 (bars), got {st.allocation_window}")
    lo, hi = st.allocation_min_w, st.allocation_max_w
    if not 0 <= lo < 1:
        out.append(f"strategy.allocation_min_w must be in [0, 1), got {lo}")
    if not 0 < hi <= 1:
        out.append(f"strategy.allocation_max_w must be in (0, 1], got {hi}")
    elif lo > hi:
        out.append(f"strategy.allocation_min_w ({lo}) must be <= strategy.allocation_max_w ({hi})")
    n = len(st.books)
    if n and 0 <= lo <= hi <= 1 and (n * lo > 1 + 1e-9 or n * hi < 1 - 1e-9):
        out.append(f"strategy.allocation_min_w/max_w [{lo:g}, {hi:g}] cannot sum to 1 over {n} books")
    if not st.risk_aversion >= 0:
        out.append(f"strategy.risk_aversion must be >= 0, got {st.risk_aversion}")
    return out


def _check_execution(cfg: EngineConfig) -> list[str]:
    out: list[str] = []
    b, ex = cfg.broker, cfg.execution
    nonneg = [("broker.impact_bps", b.impact_bps), ("broker.order_ttl_s", b.order_ttl_s),
              ("execution.twap_above_notional", ex.twap_above_notional),
              ("execution.limit_offset_bps", ex.limit_offset_bps)]
    out += [f"{n} must be >= 0, got {v}" for n, v in nonneg if v < 0]
    if not 0 <= b.participation <= 1:
        out.append(f"broker.participation must be in [0, 1] (0 = no cap), got {b.participation}")
    if ex.algo not in ("twap", "vwap", "pov"):
        out.append(f"execution.algo must be twap, vwap or pov, got {ex.algo!r}")
    if ex.slices < 1:
        out.append(f"execution.slices must be >= 1, got {ex.slices}")
    if not ex.slice_s >= 0.001:
        out.append(f"execution.slice_s must be >= 0.001 (market seconds), got {ex.slice_s}")
    if not 0 < ex.pov_rate <= 1:
        out.append(f"execution.pov_rate must be in (0, 1], got {ex.pov_rate}")
    if 0 < b.order_ttl_s < 0.001:
        out.append(f"broker.order_ttl_s must be 0 (good till cancelled) or >= 0.001, got {b.order_ttl_s}")
    return out


def _check_hedge(cfg: EngineConfig) -> list[str]:
    out: list[str] = []
    h = cfg.hedge
    positive = [("moneyness", h.moneyness), ("expiry_days", h.expiry_days),
                ("max_premium_multiple", h.max_premium_multiple), ("hedge_ratio", h.hedge_ratio),
                ("multiplier", h.multiplier), ("fast_halflife", h.fast_halflife),
                ("slow_halflife", h.slow_halflife)]
    out += [f"hedge.{n} must be > 0, got {v}" for n, v in positive if not v > 0]
    nonneg = [("vol_premium", h.vol_premium), ("commission_per_contract", h.commission_per_contract)]
    out += [f"hedge.{n} must be >= 0, got {v}" for n, v in nonneg if v < 0]
    if not 0 <= h.half_spread < 1:
        out.append(f"hedge.half_spread must be in [0, 1), got {h.half_spread}")
    if not 0 < h.max_premium_fraction <= 1:
        out.append(f"hedge.max_premium_fraction must be in (0, 1], got {h.max_premium_fraction}")
    if not -1 <= h.flag_below <= 1:
        out.append(f"hedge.flag_below must be in [-1, 1] (a signal value), got {h.flag_below}")
    if h.moneyness > 2 or h.expiry_days > 3650:
        out.append(f"hedge.moneyness must be <= 2 and hedge.expiry_days <= 3650, got {h.moneyness}, {h.expiry_days}")
    if not 0 <= h.rate <= 1 or not 0 <= h.div <= 1:
        out.append(f"hedge.rate and hedge.div must be in [0, 1] (annual fractions), got {h.rate}, {h.div}")
    if h.min_bars < 2 or h.recheck_bars < 1:
        out.append(f"hedge.min_bars must be >= 2 and hedge.recheck_bars >= 1, got {h.min_bars}, {h.recheck_bars}")
    if h.flag_rule not in ("view", "drop_probability"):
        out.append(f"hedge.flag_rule must be view or drop_probability, got {h.flag_rule!r}")
    if not 0 < h.drop_above < 1:
        out.append(f"hedge.drop_above must be in (0, 1) (a probability), got {h.drop_above}")
    if h.protect and h.flag_rule == "drop_probability":
        drop = cfg.signals.params.get("forest", {}).get("drop", 0.0)
        if "forest" not in cfg.signals.models or not (isinstance(drop, (int, float)) and drop > 0):
            out.append("hedge.flag_rule = 'drop_probability' needs 'forest' in signals.models and "
                       f"[signals.forest] drop > 0 (e.g. 0.05), got drop = {drop!r}")
    elif h.protect:
        odd = [m for m in h.flag_models if m != "momentum" and m not in cfg.signals.models]
        if odd:
            out.append(f"hedge.flag_models names {odd}, neither momentum nor in signals.models")
        if not h.flag_models:
            out.append("hedge.flag_models is empty: no signal could flag a name")
    return out
