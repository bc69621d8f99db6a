"""The built-in simulated market: the default, so a fresh machine needs no data.

Seven instruments across asset classes. A hidden 3-state regime Markov chain
(bull / neutral / bear) sets drift and volatility; shocks are correlated
through a Cholesky factor; KOLA and PEPZ are cointegrated (PEPZ's log price is
KOLA's plus an Ornstein-Uhlenbeck spread); rare jumps; a headline stream whose
tone tilts the next few minutes of its symbol's returns. Ticks arrive each
market second, bars close every ``bar_ms`` (a ``bar`` timer) and each trading
day (09:30-16:00 UTC, Monday to Friday) opens with a ``day`` timer.

Everything comes from one ``random.Random(seed)``: the same seed gives the
same events, on any machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from core.events import Headline, Tick, Timer
from core.market.spec import InstrumentSpec, MarketSpec

# symbol, asset class, lot, start price, volatility multiple, sector
UNIVERSE: tuple[tuple[str, str, float, float, float, str], ...] = (
    ("IDX", "equity", 1.0, 4500.0, 0.8, "index"),
    ("TECH", "equity", 1.0, 180.0, 1.4, "technology"),
    ("BANK", "equity", 1.0, 45.0, 1.1, "financials"),
    ("KOLA", "equity", 1.0, 60.0, 0.7, "staples"),
    ("PEPZ", "equity", 1.0, 170.0, 0.7, "staples"),
    ("GOLD", "commodity", 1.0, 1900.0, 0.6, "metals"),
    ("EURUSD", "fx", 1000.0, 1.08, 0.3, "fx"),
    ("BTC", "crypto", 0.01, 40000.0, 2.5, "crypto"),
)
PAIR = ("KOLA", "PEPZ")
# regime: (drift per tick, volatility per tick), in fractions. Volatility
# 1e-4 a second is about 24% a year; a bull drift of 2e-6 a second is a
# strong intraday trend (a per-bar Sharpe near 0.15 while it lasts, ~33
# minutes), not free money: at 1e-5 (the first calibration) a buy-and-hold
# of one-minute bars had an annualised Sharpe of 15-25 and every model looked
# like genius.
REGIMES: tuple[tuple[str, float, float], ...] = (
    ("bull", 2.0e-6, 1.0e-4), ("neutral", 0.0, 1.5e-4), ("bear", -3.0e-6, 3.0e-4),
)
STAY = 0.9995  # per tick: a regime lasts ~2000 market seconds on average
OPEN_S = 9 * 3600 + 1800
DAY_S = 23_400  # 09:30-16:00
TICK_MS = 1000
EPOCH = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday

GOOD = ("{s} beats earnings estimates", "{s} raises full-year guidance",
        "Analysts upgrade {s} to buy", "{s} wins a major contract")
BAD = ("{s} misses revenue forecasts", "Regulators open a probe into {s}",
       "{s} cuts its outlook on weak demand", "Analysts downgrade {s} to sell")


def correlation(classes: list[str]) -> list[list[float]]:
    """Equities move together; gold slightly against them; fx and crypto loosely."""
    pair_rho = {("equity", "equity"): 0.6, ("equity", "commodity"): -0.1,
                ("equity", "fx"): 0.1, ("equity", "crypto"): 0.3,
                ("commodity", "fx"): 0.2, ("commodity", "crypto"): 0.1, ("fx", "crypto"): 0.05}
    n = len(classes)
    c = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j:
                key = (classes[i], classes[j])
                c[i][j] = pair_rho.get(key, pair_rho.get((key[1], key[0]), 0.0))
    return c


def cholesky(a: list[list[float]]) -> list[list[float]]:
    n = len(a)
    lower = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = sum(lower[i][k] * lower[j][k] for k in range(j))
            if i == j:
                lower[i][j] = math.sqrt(a[i][i] - s)
            else:
                lower[i][j] = (a[i][j] - s) / lower[j][j]
    return lower


class Simulator:
    """An endless (or ``days``-long) deterministic stream of input events."""

    def __init__(self, seed: int, bar_ms: int = 30_000, days: int = 0) -> None:
        self.seed = seed
        self.bar_ms = bar_ms
        self.days = days  # 0 = endless
        self.rng = random.Random(seed)
        self.symbols = [u[0] for u in UNIVERSE]
        self.prices = {u[0]: u[3] for u in UNIVERSE}
        self.mult = {u[0]: u[4] for u in UNIVERSE}
        self.lower = cholesky(correlation([u[1] for u in UNIVERSE]))
        self.regime = 1
        self.spread = 0.0
        self.pair_ratio = UNIVERSE[4][3] / UNIVERSE[3][3]
        self.bias: dict[str, float] = {}
        self.bias_left: dict[str, int] = {}

    @property
    def spec(self) -> MarketSpec:
        return MarketSpec(tuple(InstrumentSpec(u[0], u[1], u[2], u[5]) for u in UNIVERSE),
                          self.bar_ms, DAY_S * 1000 / self.bar_ms)

    def describe(self) -> str:
        return f"sim:seed={self.seed}"

    def __iter__(self) -> Iterator[Tick | Timer | Headline]:
        day = 0
        date = EPOCH
        while self.days == 0 or day < self.days:
            if date.weekday() < 5:
                yield from self._day(int(date.timestamp()) * 1000 + OPEN_S * 1000)
                day += 1
            date += timedelta(days=1)

    def _day(self, open_ms: int) -> Iterator[Tick | Timer | Headline]:
        yield Timer(open_ms, "", "day")
        for second in range(1, DAY_S + 1):
            ts = open_ms + second * TICK_MS
            yield from self._step(ts)
            if (second * TICK_MS) % self.bar_ms == 0:
                yield Timer(ts, "", "bar")

    def _step(self, ts: int) -> Iterator[Tick | Headline]:
        rng = self.rng
        if rng.random() > STAY:
            self.regime = rng.choice([r for r in range(3) if r != self.regime])
        _, drift, vol = REGIMES[self.regime]
        eps = [rng.gauss(0.0, 1.0) for _ in self.symbols]
        for i, sym in enumerate(self.symbols):
            z = sum(self.lower[i][k] * eps[k] for k in range(i + 1))
            r = self.mult[sym] * (drift + vol * z) + self._news_bias(sym)
            if rng.random() < 2e-5:
                r += rng.choice((-1.0, 1.0)) * rng.uniform(0.015, 0.04)
            self.prices[sym] *= math.exp(r)
        self.spread = self.spread * 0.998 + 1e-4 * rng.gauss(0.0, 1.0)
        self.prices[PAIR[1]] = self.pair_ratio * self.prices[PAIR[0]] * math.exp(self.spread)
        for sym in self.symbols:
            if rng.random() < 0.9:  # not every symbol prints every second
                yield Tick(ts, sym, round(self.prices[sym], 6), float(rng.randint(1, 50)))
        if rng.random() < 1 / 900:
            yield self._headline(ts)

    def _news_bias(self, sym: str) -> float:
        left = self.bias_left.get(sym, 0)
        if left <= 0:
            return 0.0
        self.bias_left[sym] = left - 1
        return self.bias[sym]

    def _headline(self, ts: int) -> Headline:
        rng = self.rng
        sym = rng.choice(self.symbols)
        tone = rng.choice((-1.0, 1.0))
        self.bias[sym] = tone * 1.0e-5 * self.mult[sym]  # ~0.3% over the five minutes
        self.bias_left[sym] = 300  # the tone leads the next five market minutes
        text = rng.choice(GOOD if tone > 0 else BAD).format(s=sym)
        return Headline(ts, sym, text, "simwire")
