"""The engine's parameters and instruments: a flat, typed copy of the config
(core.build fills it), shared by every component of the engine."""

from core.breakers import FLATTEN
from core.overlay import HedgeParams
from core.state import REDUCING


class Instrument:
    def __init__(self, symbol: str, asset_class: str, lot: float, sector: str) -> None:
        self.symbol = symbol
        self.asset_class = asset_class
        self.lot = lot
        self.sector = sector if sector != "" else asset_class


class EngineParams:
    """Flat, typed copy of the config the engine needs (see core.config, whose
    defaults these mirror; core.build sets every field from the config)."""

    def __init__(self) -> None:
        self.initial_cash: float = 1_000_000.0
        self.fast: int = 5
        self.slow: int = 20
        self.target_fraction: float = 0.10
        self.rebalance_band: float = 0.25
        self.vol_scale: float = 2.0
        self.signal: str = "momentum"  # the model whose signal sets positions
        self.vol_target: float = 0.0  # annual vol per position at full strength; 0 = fixed fraction
        self.vol_estimator: str = "realised"  # vol_target's vol: "realised" or "atr"
        self.atr_bars: int = 14
        self.kelly_fraction: float = 0.0  # > 0: full size x min(kelly_cap, kelly_fraction x f*)
        self.kelly_cap: float = 1.0
        self.kelly_bars: int = 100  # per-bar returns behind f*, and the warm-up
        self.commission_bps: float = 1.0
        self.min_commission: float = 1.0
        self.slippage_bps: float = 2.0  # the half-spread
        self.participation: float = 0.0  # share of a print's volume orders may take (0 = all)
        self.impact_bps: float = 0.0  # impact = impact_bps * sqrt(fill qty / print volume)
        self.order_ttl_ms: int = 0  # market ms an order lives (0 = good till cancelled)
        self.algo: str = "twap"  # execution algorithm for large strategy orders: twap or pov
        self.algo_above_notional: float = 0.0  # strategy orders above this notional are sliced (0 = never)
        self.slices: int = 5
        self.slice_ms: int = 60_000
        self.pov_rate: float = 0.1  # a POV child's share of each print's volume
        self.limit_offset_bps: float = 0.0  # strategy orders as limits this far past the ref price (0 = market)
        self.max_order_notional: float = 250_000.0
        self.max_position_fraction: float = 0.20
        self.max_gross_leverage: float = 2.0
        self.fat_finger_band: float = 0.10
        self.max_sector_fraction: float = 0.60
        self.var_budget: float = 0.08
        self.max_orders_per_minute: int = 60
        self.do_not_trade: list[str] = []
        self.open_minute: int = -1
        self.close_minute: int = -1
        self.quarantine_band: float = 0.25
        self.quarantine_confirm: int = 3
        self.daily_loss: float = 0.03
        self.max_drawdown: float = 0.10
        self.consecutive_losses: int = 20
        self.reject_storm: int = 25
        self.stale_data_s: float = 300.0
        self.trailing_loss: float = 0.02
        self.var_limit: float = 0.06
        self.warn_fraction: float = 0.8
        self.warn_clear: float = 0.7  # a WARNING clears below this share of the limit (< 0: none)
        self.confirm: int = 1
        # a trip's action per breaker (HALTED, REDUCING, FLATTEN); others HALT, or REDUCE if in reduce_on
        self.trip_actions: dict[str, str] = {"daily_loss": FLATTEN, "max_drawdown": FLATTEN,
                                             "trailing_loss": FLATTEN, "var_limit": REDUCING}
        self.reduce_on: list[str] = []
        self.flatten_on_trip: bool = False
        # the VaR breaker's measure: historical, parametric, monte_carlo (of the book now),
        # or nav_parametric (NAV returns with the loss drift: sessions logged before)
        self.var_measure: str = "historical"
        self.var_window: int = 250  # bars of each symbol's returns behind historical / parametric
        self.var_auto_resume: bool = True
        self.stale_bars: int = 3  # 0: the old stale measure (seconds since any print)
        self.bar_ms: int = 60_000
        self.min_commission_per_order: bool = True  # False: per fill (sessions logged before)
        self.breaker_version: int = 2  # 1: the trip messages of sessions logged before
        # venue mode: orders go to a venue and fill only by its logged reports (VenueReport),
        # never by the paper broker against prints
        self.venue_exec: bool = False
        self.bad_data: int = 5
        self.live_sharpe_ratio: float = 0.7
        self.live_sharpe_min_bars: int = 100
        self.mc_draws: int = 2000
        self.mc_every: int = 10
        self.figures_every: int = 10  # bars between a risk snapshot's display figures (risk.figures_every)
        self.bars_per_day: float = 390.0
        self.seed: int = 0  # Monte Carlo VaR draws
        self.hedge: HedgeParams = HedgeParams()  # the options overlay (off unless hedge.protect)
        # multi-strategy books: [] = one driving signal (``signal``) as before
        self.books: list[str] = []
        # equal, inverse_vol or mean_variance (of each book's P&L per unit of capital)
        self.allocation: str = "equal"
        self.rebalance_every: int = 50  # bars between capital re-weights
        self.allocation_window: int = 100  # bars of book returns behind inverse_vol / mean_variance
        self.allocation_min_w: float = 0.0  # bounds on each book's weight (inverse_vol, mean_variance)
        self.allocation_max_w: float = 1.0
        self.risk_aversion: float = 1.0  # mean_variance: mu'w - risk_aversion / 2 x w'Cw (annualised)
