"""Options overlay: protective puts on long positions the signals flag.

The engine (core/engine.py) makes the decisions and logs them as
``protective_put`` events; this module holds the puts, the volatility
estimates and the paper option desk that quotes them. Everything here is a
function of logged inputs (prices and market time), so replay reproduces it.

The paper option desk
---------------------
There is no option market in a paper session, so a desk quotes puts from the
underlying's own prices:

* two volatility estimates per symbol, both exponentially weighted means of
  squared bar log returns, annualised over ``bars_per_year`` (252 trading
  days x the market's bars a day, the engine's VaR convention; an overnight
  gap is one more bar return, so its move counts):
  ``slow`` (half-life ``slow_halflife`` bars) is our fair volatility, and
  ``fast`` (half-life ``fast_halflife`` bars) is what the market is pricing
  now;
* the desk's implied volatility is ``fast x (1 + vol_premium)``: implied vol
  usually sits above realised (the variance risk premium);
* mid = BSM put at the implied vol; the desk asks ``mid x (1 + half_spread)``
  and bids ``mid x (1 - half_spread)``; holdings are marked at mid;
* fair value = BSM put at the slow (fair) volatility.

The rule: buy when ``ask <= max_premium_multiple x fair``. In a calm market
the ask is near fair and protection is bought; after a volatility spike the
fast estimate, and so the ask, run far above fair, and the overlay declines
(logged with the numbers) rather than buy insurance while the house burns.

Units: strike, premium, fair and mark per one unit of underlying; a contract
is ``multiplier`` units; expiry in market milliseconds (``expiry_ms``) and
years (calendar, 365 days); vol annualised fractions; greeks per unit as in
core/options.py (vega per 1.00 of vol, theta per year).
"""

from __future__ import annotations

import math
from typing import Final

MS_PER_YEAR: Final = 365.0 * 86_400_000.0  # expiry: calendar time
MAX_VOL: Final = 10.0  # 1000% a year: past this a quote means bad data, not a market


class HedgeParams:
    """The ``[hedge]`` config section, flat (core/build.py fills it)."""

    def __init__(self) -> None:
        self.protect: bool = False
        self.flag_models: list[str] = ["sentiment", "hmm"]  # views that flag a name
        self.flag_below: float = -0.5  # a view at or below this flags the name
        self.moneyness: float = 0.95  # strike / spot
        self.expiry_days: float = 30.0  # calendar days
        self.max_premium_multiple: float = 1.25  # buy when ask <= this x fair
        self.hedge_ratio: float = 1.0  # units protected per unit held long
        self.multiplier: float = 100.0  # units of underlying per contract
        self.vol_premium: float = 0.10  # the desk's implied vol = fast vol x (1 + this)
        self.half_spread: float = 0.02  # ask = mid x (1 + this), bid = mid x (1 - this)
        self.commission_per_contract: float = 0.65
        self.max_premium_fraction: float = 0.02  # cost of the puts held, at most this share of NAV
        self.fast_halflife: float = 10.0  # bars
        self.slow_halflife: float = 200.0  # bars
        self.min_bars: int = 30  # returns seen before the desk quotes a symbol
        self.recheck_bars: int = 30  # bars between logged declines on one symbol
        self.rate: float = 0.0  # annual, continuously compounded
        self.div: float = 0.0  # annual dividend yield
        self.bars_per_year: float = 252.0 * 390.0  # 252 x the market's bars a day (core/build.py)


class VolTrack:
    """EWMA variance per year of a symbol's bar log returns, two half-lives."""

    def __init__(self) -> None:
        self.last_close: float = 0.0
        self.fast: float = 0.0  # variance per year
        self.slow: float = 0.0
        self.n: int = 0


class Quote:
    """The desk's quote for one put (per unit of underlying)."""

    def __init__(self, strike: float, expiry_ms: int, fair_vol: float, quote_vol: float,
                 mid: float, fair: float, half_spread: float) -> None:
        self.strike = strike
        self.expiry_ms = expiry_ms
        self.fair_vol = fair_vol
        self.quote_vol = quote_vol
        self.mid = mid
        self.fair = fair
        self.ask = mid * (1.0 + half_spread)


class PutHolding:
    """Puts held on one symbol at one strike and expiry; marks refreshed at bar close."""

    def __init__(self, option_id: int, symbol: str, contracts: float, multiplier: float, strike: float,
                 expiry_ms: int, cost: float) -> None:
        self.option_id = option_id
        self.symbol = symbol
        self.contracts = contracts
        self.multiplier = multiplier
        self.strike = strike
        self.expiry_ms = expiry_ms
        self.cost = cost  # premium paid per unit
        self.mark: float = cost  # per unit, at the desk's mid
        self.vol: float = 0.0  # the implied vol of the mark
        self.delta: float = 0.0  # per unit
        self.gamma: float = 0.0
        self.vega: float = 0.0  # per 1.00 of vol
        self.theta: float = 0.0  # per year

    def units(self) -> float:
        return self.contracts * self.multiplier


class OptionsOverlay:
    """Holdings, vol estimates and the paper desk. Decisions live in the engine."""

    def __init__(self, p: HedgeParams) -> None:
        # core.options loads numpy and scipy (about a second, cold): here, when the
        # engine is built, not at the first quote in the middle of a session
        import core.options  # noqa: F401

        self.p = p
        self.vols: dict[str, VolTrack] = {}
        self.holdings: dict[int, PutHolding] = {}
        self.next_id: int = 1
        self.declined_at: dict[str, int] = {}  # symbol -> bar of the last logged decline
        self.a_fast = 0.5 ** (1.0 / p.fast_halflife)
        self.a_slow = 0.5 ** (1.0 / p.slow_halflife)
        self.premium_paid: float = 0.0  # every buy's cash out, commissions included
        self.proceeds: float = 0.0  # every sale's and expiry's cash in, net of commissions
        self.commissions: float = 0.0  # on buys and sales (in premium_paid and proceeds too)

    # ---------------------------------------------------------- volatility

    def on_close(self, sym: str, close: float) -> None:
        """A screened bar close: one more return for the symbol's estimates."""
        v = self.vols.get(sym)
        if v is None:
            v = VolTrack()
            self.vols[sym] = v
        if v.last_close > 0.0 and close > 0.0:
            r = math.log(close / v.last_close)
            per_year = r * r * self.p.bars_per_year
            if v.n == 0:
                v.fast = per_year
                v.slow = per_year
            else:
                v.fast = self.a_fast * v.fast + (1.0 - self.a_fast) * per_year
                v.slow = self.a_slow * v.slow + (1.0 - self.a_slow) * per_year
            v.n += 1
        v.last_close = close

    def ready(self, sym: str) -> bool:
        v = self.vols.get(sym)
        return v is not None and v.n >= self.p.min_bars and v.slow > 0.0 and v.fast > 0.0

    def implied_vol(self, sym: str) -> float:
        """The desk's: recent realised vol x (1 + vol_premium), at most MAX_VOL."""
        v = self.vols[sym]
        return min(MAX_VOL, math.sqrt(v.fast) * (1.0 + self.p.vol_premium))

    def fair_vol(self, sym: str) -> float:
        return min(MAX_VOL, math.sqrt(self.vols[sym].slow))

    # ---------------------------------------------------------- the desk

    def quote(self, sym: str, spot: float, ts: int) -> Quote:
        """A new put: strike ``moneyness x spot`` (to the cent), ``expiry_days`` out."""
        from core.options import bsm_price

        p = self.p
        strike = round(p.moneyness * spot, 2)
        expiry_ms = ts + int(round(p.expiry_days * 86_400_000.0))
        years = (expiry_ms - ts) / MS_PER_YEAR
        iv, fv = self.implied_vol(sym), self.fair_vol(sym)
        mid = bsm_price(spot, strike, years, p.rate, iv, p.div, put=True)
        fair = bsm_price(spot, strike, years, p.rate, fv, p.div, put=True)
        return Quote(strike, expiry_ms, fv, iv, mid, fair, p.half_spread)

    def mark(self, h: PutHolding, spot: float, ts: int) -> None:
        """Refresh a holding's mark and greeks at the desk's mid."""
        from core.options import bsm

        p = self.p
        years = max(0.0, (h.expiry_ms - ts) / MS_PER_YEAR)
        v = self.vols.get(h.symbol)
        iv = self.implied_vol(h.symbol) if v is not None and v.fast > 0.0 else h.vol
        g = bsm(spot, h.strike, years, p.rate, iv, p.div, True)
        h.vol = iv
        h.mark, h.delta, h.gamma, h.vega, h.theta = g.price, g.delta, g.gamma, g.vega, g.theta

    def add(self, sym: str, contracts: float, q: Quote, spot: float, ts: int) -> PutHolding:
        """A new holding bought at ``q``'s ask, marked (with its greeks) at mid."""
        h = PutHolding(self.next_id, sym, contracts, self.p.multiplier, q.strike, q.expiry_ms, q.ask)
        h.vol = q.quote_vol
        self.mark(h, spot, ts)
        self.next_id += 1
        self.holdings[h.option_id] = h
        return h

    # ---------------------------------------------------------- book figures

    def contracts_for(self, units: float) -> float:
        """Whole contracts that protect ``hedge_ratio`` of ``units`` held long (0 for none)."""
        return float(math.floor(max(units, 0.0) * self.p.hedge_ratio / self.p.multiplier + 1e-9))

    def contracts_on(self, sym: str) -> float:
        return sum(h.contracts for h in self.holdings.values() if h.symbol == sym)

    def value(self) -> float:
        """Mark-to-mid value of every put held (currency)."""
        return sum(h.mark * h.units() for h in self.holdings.values())

    def pnl(self) -> float:
        """P&L of the overlay to date: marks held + cash in - cash out (currency)."""
        return self.value() + self.proceeds - self.premium_paid

    def cost_held(self) -> float:
        """Premium paid for the puts still held (currency)."""
        return sum(h.cost * h.units() for h in self.holdings.values())

    def delta_units(self, sym: str) -> float:
        """Units of underlying equivalent to the puts on ``sym`` (negative)."""
        return sum(h.delta * h.units() for h in self.holdings.values() if h.symbol == sym)

    def gamma_units(self, sym: str) -> float:
        return sum(h.gamma * h.units() for h in self.holdings.values() if h.symbol == sym)

    def symbols(self) -> list[str]:
        out: list[str] = []
        for h in self.holdings.values():
            if h.symbol not in out:
                out.append(h.symbol)
        return out
