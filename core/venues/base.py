"""The adapter interface: what a venue's data and execution clients offer.

Modelled on NautilusTrader's split: a ``DataClient`` subscribes to symbols
and brings bars and trades in; an ``ExecutionClient`` submits and cancels
orders and reports orders, fills, positions and balances back. Both live at
the session edge (they do I/O and read the wall clock); the engine sees only
what they return, as logged input events.

Nothing here imports a venue SDK: ``core.venues.ccxt_client`` and
``core.venues.alpaca_client`` do, lazily.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from core.errors import InputError
from core.events import Bar, Tick

MODES = ("sim", "paper-live", "venue")
TIMEFRAMES_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                 "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
ENV_PREFIX = "CONSOLE_VENUE_"
KEYRING_SERVICE = "trading-console"


class VenueError(InputError):
    """A venue could not be used: unreachable, refused, an unknown symbol, a
    missing or wrong key. The message is one line and never holds a secret."""


class VenueUnreachable(VenueError):
    """A fault that may pass: the network, a timeout, the venue down or busy,
    a rate limit. A session retries these with backoff; every other
    ``VenueError`` (a refused key, an unknown symbol) stops it."""


@dataclass(frozen=True)
class VenueSpec:
    """Where market data (and in ``venue`` mode, orders) come from.

    Logged with the session (``to_dict``): it holds no credentials."""

    name: str  # a ccxt exchange id, or "alpaca"
    mode: str = "paper-live"
    symbols: tuple[str, ...] = ()
    url: str = ""  # overrides the venue's REST endpoint (testnets, proxies, tests)
    timeframe: str = "1m"
    sandbox: bool = False  # the venue's own testnet/paper endpoint (ccxt set_sandbox_mode)
    poll_s: float = 5.0  # seconds between polls of the venue
    history: int = 100  # closed bars to fetch at start (warm-up), per symbol
    max_failures: int = 5  # consecutive failed polls before the session stops
    timeout_s: float = 10.0
    stale_s: float = 60.0  # venue mode: execution unreachable this long -> the session halts (and alerts)
    balance_s: float = 60.0  # venue mode: seconds between balance polls (each change a logged input)
    reconcile_s: float = 30.0  # venue mode: seconds between re-runs of a reconciliation that halted

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "venue", "venue": self.name, "mode": self.mode, "symbols": list(self.symbols),
                "url": self.url, "timeframe": self.timeframe, "sandbox": self.sandbox,
                "poll_s": self.poll_s, "history": self.history, "max_failures": self.max_failures,
                "timeout_s": self.timeout_s, "stale_s": self.stale_s, "balance_s": self.balance_s,
                "reconcile_s": self.reconcile_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VenueSpec:
        return cls(str(d["venue"]), str(d.get("mode", "paper-live")), tuple(d.get("symbols", ())),
                   str(d.get("url", "")), str(d.get("timeframe", "1m")), bool(d.get("sandbox", False)),
                   float(d.get("poll_s", 5.0)), int(d.get("history", 100)), int(d.get("max_failures", 5)),
                   float(d.get("timeout_s", 10.0)), float(d.get("stale_s", 60.0)),
                   float(d.get("balance_s", 60.0)), float(d.get("reconcile_s", 30.0)))

    @property
    def bar_ms(self) -> int:
        return TIMEFRAMES_MS[self.timeframe]

    def check(self) -> None:
        problems = []
        if not self.name:
            problems.append("venue name is empty")
        if self.mode not in MODES[1:]:
            problems.append(f"venue mode must be paper-live or venue, got {self.mode!r}")
        if not self.symbols:
            problems.append("no symbols: give --symbols BTC/USDT,... or venue.symbols")
        if self.timeframe not in TIMEFRAMES_MS:
            problems.append(f"timeframe must be one of {', '.join(TIMEFRAMES_MS)}, got {self.timeframe!r}")
        if self.url and not re.match(r"^https?://[^\s/]+", self.url):
            problems.append(f"venue url must start with http:// or https://, got {self.url!r}")
        if not self.poll_s > 0 or not self.timeout_s > 0 or self.max_failures < 1 or self.history < 0:
            problems.append("venue.poll_s and timeout_s must be > 0, max_failures >= 1, history >= 0")
        if not self.stale_s > 0 or not self.balance_s > 0:
            problems.append("venue.stale_s and balance_s must be > 0")
        if not 0 < self.reconcile_s < math.inf:
            problems.append(f"venue.reconcile_s (--reconcile-s) must be a number of seconds > 0, "
                            f"got {self.reconcile_s!r}")
        if problems:
            raise VenueError("; ".join(problems))


@dataclass(frozen=True)
class Credentials:
    """API keys, read from the environment or the OS keyring. ``repr`` and
    ``str`` never show the values."""

    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    def __bool__(self) -> bool:
        return bool(self.api_key and self.secret)

    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.api_key, self.secret, self.password) if v)


def env_names(venue: str) -> tuple[str, str, str]:
    stem = ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", venue.upper())
    return stem + "_API_KEY", stem + "_SECRET", stem + "_PASSWORD"


def load_credentials(venue: str, environ: dict[str, str] | None = None,
                     use_keyring: bool = True) -> Credentials:
    """``CONSOLE_VENUE_<NAME>_API_KEY`` / ``_SECRET`` / ``_PASSWORD``; where
    the environment has none, the OS keyring (service ``trading-console``,
    user ``<name>:api_key`` etc.). Missing keys give empty credentials (public
    data needs none)."""
    env = os.environ if environ is None else environ
    names = env_names(venue)
    vals = [env.get(n, "") for n in names]
    if use_keyring and not (vals[0] and vals[1]):
        try:
            import keyring

            for i, part in enumerate(("api_key", "secret", "password")):
                if not vals[i]:
                    vals[i] = keyring.get_password(KEYRING_SERVICE, f"{venue}:{part}") or ""
        except Exception:  # no keyring backend: the environment is the only source
            pass
    return Credentials(*vals)


_QUERY = re.compile(r"\?\S*")
_SIGNED = re.compile(r"(signature|apikey|api_key|secret|key|token|passphrase)=[^&\s]*", re.I)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """One line, no secrets: credential values, query strings (signatures,
    timestamps) and ``key=`` parameters are cut out."""
    line = " ".join(str(text).split())
    for s in secrets:
        if s:
            line = line.replace(s, "***")
    line = _SIGNED.sub(lambda m: m.group(1) + "=***", line)
    line = _QUERY.sub("", line)
    return line[:300]


def client_order_id(session_id: str, seq: int) -> str:
    """The id an order carries at the venue: from the session and the seq of
    its acceptance, so a resumed session finds it there instead of sending it
    twice. At most 36 characters of [A-Za-z0-9-] (Binance's and Alpaca's limits)."""
    stem = re.sub(r"[^A-Za-z0-9]", "", session_id)[-24:]
    return f"tc{stem}-{seq}"


# ------------------------------------------------------------ reports


class OrderRequest(NamedTuple):
    """An accepted order as the venue gets it: ``qty`` signed units."""

    client_id: str
    symbol: str
    qty: float
    order_type: str = "market"  # market | limit
    limit: float = 0.0


class ExecReport(NamedTuple):
    """What the venue said about one order. ``kind``: ack, reject, fill,
    cancel, expire. ``qty`` signed units of *this* fill (fills only);
    ``filled`` signed units filled so far; ``remaining`` signed units still
    open; ``ts`` the venue's timestamp in ms (0 when it gave none)."""

    kind: str
    client_id: str
    venue_id: str
    symbol: str
    qty: float
    price: float
    commission: float
    filled: float
    remaining: float
    reason: str
    ts: int


class PositionReport(NamedTuple):
    symbol: str
    qty: float
    avg_price: float


class BalanceReport(NamedTuple):
    asset: str
    free: float
    total: float


class DataClient(Protocol):
    """Market data in. ``connect`` checks the venue and the symbols (a
    ``VenueError`` if it cannot); the polls return what the venue has now."""

    name: str

    def connect(self) -> None: ...
    def subscribe(self, symbols: tuple[str, ...], timeframe: str) -> None: ...
    def poll_bars(self, since_ms: int) -> list[Bar]: ...
    def poll_trades(self, since_ms: int) -> list[Tick]: ...
    def close(self) -> None: ...


class ExecutionClient(Protocol):
    """Orders out, reports back. Every call returns the venue's reports; a
    venue refusal is a ``reject`` report, a fault a ``VenueError``."""

    name: str

    def connect(self) -> None: ...
    def submit(self, order: OrderRequest) -> list[ExecReport]: ...
    def cancel(self, client_id: str, symbol: str) -> list[ExecReport]: ...
    def order_status(self, client_id: str, symbol: str) -> list[ExecReport]: ...
    def open_orders(self, symbols: tuple[str, ...]) -> list[ExecReport]: ...
    def positions(self) -> list[PositionReport]: ...
    def balances(self) -> list[BalanceReport]: ...
    def close(self) -> None: ...
