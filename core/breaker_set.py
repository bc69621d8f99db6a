"""The engine's circuit breakers, by name (compiled by mypyc, in the
engine's unit): the eight book breakers, built from the parameters with their
trip actions, and one live-Sharpe breaker per model that has a validation
Sharpe. Order matters only for display and logs: the book breakers first, in
a fixed order, then the model breakers in the order they were made.

What a trip does (halt, reduce, flatten, or disable one model) is the
engine's business: it crosses components (state, orders, the hedger).
"""

from core.breakers import ARMED, TRIPPED, Breaker
from core.engine_params import EngineParams
from core.state import HALTED, REDUCING

DISABLE = "DISABLE"  # a model breaker's action: that model's signals are ignored
RISK = ("daily_loss", "max_drawdown", "trailing_loss", "var_limit", "stale_data")  # fail closed together


class BreakerSet:
    def __init__(self, p: EngineParams) -> None:
        self.p = p
        self.daily = self.make("daily_loss", p.daily_loss, "frac")
        self.drawdown = self.make("max_drawdown", p.max_drawdown, "frac")
        self.trailing = self.make("trailing_loss", p.trailing_loss, "frac")
        self.losses = self.make("consecutive_losses", float(p.consecutive_losses), "count")
        self.var = self.make("var_limit", p.var_limit, "frac")
        self.rejects = self.make("reject_storm", float(p.reject_storm), "count")
        self.stale = self.make("stale_data", p.stale_data_s if p.stale_bars <= 0 else
                               max(p.stale_data_s, p.stale_bars * p.bar_ms / 1000.0), "s")
        self.bad = self.make("bad_data", float(p.bad_data), "count")
        self.all: list[Breaker] = [self.daily, self.drawdown, self.trailing, self.losses,
                                   self.var, self.rejects, self.stale, self.bad]
        self.by_name: dict[str, Breaker] = {b.name: b for b in self.all}
        self.models: dict[str, Breaker] = {}  # model -> its live-Sharpe breaker

    def make(self, name: str, limit: float, unit: str) -> Breaker:
        p = self.p
        action = REDUCING if name in p.reduce_on else p.trip_actions.get(name, HALTED)
        return Breaker(name, limit, p.warn_fraction, unit, p.confirm, action, p.warn_clear)

    def set_limit(self, name: str, value: float) -> float:
        """A book breaker's new limit for this session (the operator's
        ``set_limit``, checked by the engine); returns the old one. The stale
        limit keeps its floor of ``stale_bars`` bars, as at the start."""
        b = self.by_name[name]
        p = self.p
        if name == "stale_data" and p.stale_bars > 0:
            value = max(value, p.stale_bars * p.bar_ms / 1000.0)
        old = b.limit
        b.limit = value
        return old

    def get(self, name: str) -> Breaker | None:
        return self.by_name.get(name)

    def model(self, name: str) -> Breaker | None:
        return self.models.get(name)

    def add_model(self, model: str) -> Breaker:
        """A new live-Sharpe breaker for ``model`` (its limit is set on activation)."""
        b = Breaker("live_sharpe:" + model, 0.0, self.p.warn_fraction, "sharpe", 1, DISABLE, self.p.warn_clear)
        self.models[model] = b
        self.all.append(b)
        self.by_name[b.name] = b
        return b

    def disabled(self, model: str) -> bool:
        """True when ``model``'s live-Sharpe breaker has tripped (its views are ignored)."""
        b = self.models.get(model)
        return b is not None and b.state == TRIPPED

    def tripped_book(self) -> list[str]:
        """Names of the tripped breakers that stop trading (not the model ones)."""
        return [b.name for b in self.all if b.state == TRIPPED and b.action != DISABLE]

    def risk(self) -> list[Breaker]:
        """The breakers that fail closed together when their computation raises."""
        return [self.by_name[n] for n in RISK]

    def armed(self, name: str) -> bool:
        b = self.by_name.get(name)
        return b is not None and b.state == ARMED
