"""A session's closed trades and P&L by symbol, read from its log.

The figures are the engine's logged ones (``Fill``, ``PositionChanged``:
realised P&L and commission per fill), grouped into round trips by
``core.pnl.RoundTrips`` (the rule the losing-streak breaker counts). The
console reads them from the session database on demand (the Trades and
Attribution screens, ``console report``), a few hundred rows at a time,
never from the engine's thread. No textual here.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.codec import DecodeError, from_row
from core.errors import InputError
from core.pnl import RoundTrip, RoundTrips, TradeStats

TRADE_KINDS = ("fill", "position")
RECENT_FILLS = 50  # the newest fills the Trades screen lists, with their reasons
CHUNK = 5000  # rows per read: the UI thread never waits on a whole long log


@dataclass
class TradeLog:
    """Reads ``sid``'s fills from ``db`` forward from where it stopped
    (``update``); ``trips`` holds the closed and open round trips,
    ``realized`` / ``fees`` the realised P&L (gross) and commission per symbol."""

    db: Any
    sid: str
    last_seq: int = 0
    realized: dict[str, float] = field(default_factory=dict)
    fees: dict[str, float] = field(default_factory=dict)
    fills: int = 0
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (qty, avg price)

    def __post_init__(self) -> None:
        self.trips = RoundTrips(self._reason)
        self._driver: tuple[str, tuple[str, ...]] | None = None
        self.recent: deque[tuple[Any, float]] = deque(maxlen=RECENT_FILLS)  # (Fill, realised P&L)
        self._pending: Any = None
        self._reasons: dict[int, str] = {}  # order id -> why (cached: the screen re-reads each second)

    @property
    def driver(self) -> tuple[str, tuple[str, ...]]:
        """(strategy.signal, strategy.books) from the session's logged config:
        what sets positions; ("ensemble", ()) when the config does not say."""
        if self._driver is None:
            self._driver = ("ensemble", ())
            try:
                row = self.db.execute("SELECT config FROM sessions WHERE id = ?", [self.sid]).fetchone()
                strategy = json.loads(row[0])["engine"]["strategy"]
                signal, books = strategy["signal"], strategy.get("books") or []
                if isinstance(signal, str) and signal and isinstance(books, list):
                    self._driver = (signal, tuple(str(b) for b in books))
            except Exception:  # noqa: BLE001 - unreadable (a damaged file, an old log): the default
                pass
        return self._driver

    @property
    def closed(self) -> list[RoundTrip]:
        return self.trips.closed

    def stats(self) -> TradeStats:
        return self.trips.stats()

    def update(self, upto_seq: int | None = None) -> bool:
        """Read the fills logged after ``last_seq`` (up to ``upto_seq``: a
        replay shows the trades up to where it is); True when any were new."""
        fresh = False
        while True:
            sql = ("SELECT seq, kind, ts, symbol, payload FROM events WHERE session = ? AND seq > ? "
                   "AND kind IN ('fill', 'position')")
            args: list[object] = [self.sid, self.last_seq]
            if upto_seq is not None:
                sql += " AND seq <= ?"
                args.append(upto_seq)
            rows = self.db.execute(sql + f" ORDER BY seq LIMIT {CHUNK}", args).fetchall()
            for seq, kind, ts, symbol, payload in rows:
                try:
                    ev = from_row(kind, ts, symbol, payload)
                except DecodeError as exc:
                    raise InputError(f"session {self.sid}: seq {seq}: {exc}") from None
                self._take(ev)
                self.last_seq = seq
            fresh = fresh or bool(rows)
            if len(rows) < CHUNK:
                return fresh

    def _take(self, ev: Any) -> None:
        self.trips.add(ev)
        if kind_is(ev, "Fill"):
            self.fills += 1
            self.fees[ev.symbol] = self.fees.get(ev.symbol, 0.0) + float(ev.commission)
            self._pending = ev
        elif kind_is(ev, "PositionChanged"):
            self.realized[ev.symbol] = self.realized.get(ev.symbol, 0.0) + float(ev.realized)
            self.positions[ev.symbol] = (float(ev.qty), float(ev.avg_price))
            if self._pending is not None and self._pending.symbol == ev.symbol:
                self.recent.append((self._pending, float(ev.realized)))
            self._pending = None

    def why(self, fill: Any) -> str:
        """Why the order behind ``fill`` was sent (cached by order id)."""
        oid = int(fill.order_id)
        if oid not in self._reasons:
            self._reasons[oid] = self._reason(fill)
        return self._reasons[oid]

    def _payload(self, seq: int, kind: str) -> dict[str, Any]:
        row = self.db.execute("SELECT payload FROM events WHERE session = ? AND seq = ? AND kind = ?",
                              [self.sid, seq, kind]).fetchone()
        if row is None:
            return {}
        try:
            got = json.loads(row[0])
        except ValueError:
            return {}
        return got if isinstance(got, dict) else {}

    def _reason(self, fill: Any) -> str:
        """Why the order behind ``fill`` was sent: its intent's reason (a
        slice's: its parent's intent); "" when the log does not say."""
        accepted = self._payload(int(fill.order_id), "order_accepted")
        intent_seq = accepted.get("intent_seq")
        parent = accepted.get("parent_id")
        if isinstance(parent, int) and parent > 0:
            intent_seq = self._payload(parent, "parent_order").get("intent_seq", intent_seq)
        if not isinstance(intent_seq, int):
            return ""
        reason = self._payload(intent_seq, "order_intent").get("reason", "")
        return str(reason)


def kind_is(ev: object, name: str) -> bool:
    return type(ev).__name__ == name


def session_trade_log(session: Any) -> TradeLog | None:
    """A trade log over the database of the console's session, or None when
    it has none (a test's fake session): ``db_path`` (a run or an attached
    engine), or a replay's open database."""
    playback = getattr(session, "playback", None)
    if playback is not None and getattr(playback, "db", None) is not None:
        return TradeLog(playback.db, playback.sid)
    db_path = getattr(session, "db_path", None)
    if not db_path or not Path(str(db_path)).exists():
        return None
    from storage import open_db

    return TradeLog(open_db(db_path, create=False, readonly=True), session.session_id)


def held(ms: int) -> str:
    """A holding time in market time: ``45s``, ``12m``, ``3h05m``, ``4d02h``."""
    s = max(0, ms) // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def price(x: float) -> str:
    """A price with the places it needs: 1.0834 (FX), 42.29, 33,488.75."""
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.2f}" if abs(x) >= 10 else f"{x:,.4f}"


def ratio(x: float) -> str:
    """A profit factor: ``1.85``, ``inf`` (wins, no loss), ``n/a`` (neither)."""
    if x != x:  # NaN
        return "n/a"
    return "inf" if x == float("inf") else f"{x:.2f}"


def stats_line(st: TradeStats) -> str:
    """The one-line summary the Trades screen and the report share."""
    if st.trades == 0:
        return "no closed trades yet"
    rate = f"{st.win_rate:.0%} ({st.wins}/{st.trades})"
    avg_win = "n/a" if st.avg_win != st.avg_win else f"{st.avg_win:+,.2f}"
    avg_loss = "n/a" if st.avg_loss != st.avg_loss else f"{st.avg_loss:+,.2f}"
    return (f"{st.trades:,} closed · win rate {rate} · avg win {avg_win} · avg loss {avg_loss} · "
            f"profit factor {ratio(st.profit_factor)} · net {st.net:+,.2f} (fees {st.fees:,.2f})")


# ------------------------------------------------------------ one symbol's log

STORY_KINDS = ("order_intent", "order_rejected", "order_cancelled", "fill", "position")
RISK_ROWS = 5000  # the newest risk snapshots read for a symbol's VaR share


@dataclass(frozen=True)
class VarShare:
    """A symbol's share of the book's VaR over the logged risk snapshots
    (``var_contrib``: each position's part, adding up to the book's VaR)."""

    snapshots: int  # risk snapshots read that carry contributions
    held: int  # of them, how many list the symbol
    now: float  # its share in the newest one (NaN: not in it)
    mean: float  # over the snapshots that list it
    peak: float
    peak_ts: int


def var_share(db: Any, sid: str, symbol: str, upto_seq: int | None = None) -> VarShare:
    from core.kernels import contrib_of  # the engine's own reading of the logged text

    sql = "SELECT ts, payload FROM events WHERE session = ? AND kind = 'risk'"
    args: list[object] = [sid]
    if upto_seq is not None:
        sql += " AND seq <= ?"
        args.append(upto_seq)
    rows = db.execute(sql + f" ORDER BY seq DESC LIMIT {RISK_ROWS}", args).fetchall()
    shares: list[tuple[int, float]] = []
    snapshots = 0
    now = math.nan
    for i, (ts, payload) in enumerate(rows):
        try:
            text = json.loads(payload).get("var_contrib", "")
        except (ValueError, AttributeError):
            continue
        if not isinstance(text, str) or not text:
            continue
        parts = contrib_of(text)
        snapshots += 1
        total = math.fsum(parts.values())
        if symbol in parts and total > 0:
            share = parts[symbol] / total
            shares.append((int(ts), share))
            if snapshots == 1:
                now = share
    if not shares:
        return VarShare(snapshots, 0, now, math.nan, math.nan, 0)
    peak_ts, peak = max(shares, key=lambda s: s[1])
    return VarShare(snapshots, len(shares), now, math.fsum(s for _, s in shares) / len(shares), peak, peak_ts)


def symbol_events(db: Any, sid: str, symbol: str, upto_seq: int | None = None,
                  limit: int = 30) -> tuple[int, list[tuple[int, int, str]]]:
    """(how many, the newest ``limit`` as (seq, ts, line)) of the symbol's
    orders (with why), rejections, cancels and fills (with fee and the
    realised P&L the engine booked), newest first."""
    marks = ",".join("?" * len(STORY_KINDS))
    where = f"session = ? AND kind IN ({marks}) AND symbol = ?"
    args: list[object] = [sid, *STORY_KINDS, symbol]
    if upto_seq is not None:
        where += " AND seq <= ?"
        args.append(upto_seq)
    count = int(db.execute(f"SELECT count(*) FROM events WHERE {where} AND kind != 'position'",
                           args).fetchone()[0])
    rows = db.execute(f"SELECT seq, kind, ts, payload FROM events WHERE {where} ORDER BY seq DESC "
                      f"LIMIT {limit * 2 + 1}", args).fetchall()[::-1]
    out: list[tuple[int, int, str]] = []
    realised: dict[int, float] = {}
    for seq, kind, _ts, payload in rows:
        if kind == "position":
            try:
                realised[seq - 1] = float(json.loads(payload).get("realized", 0.0))
            except (ValueError, AttributeError, TypeError):
                pass
    for seq, kind, ts, payload in rows:
        try:
            p = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(p, dict) or kind == "position":
            continue
        if kind == "order_intent":
            text = f"ORDER {p.get('qty', 0):+,g} ~{price(float(p.get('ref_price', 0)))} [{p.get('origin', '')}] " \
                   f"why: {p.get('reason', '')}"
        elif kind == "order_rejected":
            text = f"REJECT {p.get('qty', 0):+,g} by {p.get('rule', '')}: {p.get('reason', '')}"
        elif kind == "order_cancelled":
            text = f"CANCEL order {p.get('order_id', '')} ({p.get('remaining', 0):+,g} left): {p.get('reason', '')}"
        else:
            r = realised.get(seq)
            text = (f"FILL {p.get('qty', 0):+,g} @ {price(float(p.get('price', 0)))} fee {p.get('commission', 0):,.2f}"
                    + (f" realised {r:+,.2f}" if r else ""))
        out.append((int(seq), int(ts), text))
    return count, out[-limit:][::-1]


def last_closes(db: Any, sid: str, symbols: list[str]) -> dict[str, tuple[int, float]]:
    """symbol -> (ts, close) of its last logged bar close."""
    out: dict[str, tuple[int, float]] = {}
    for sym in symbols:
        row = db.execute("SELECT ts, payload FROM events WHERE session = ? AND kind = 'bar_closed' AND symbol = ? "
                         "ORDER BY seq DESC LIMIT 1", [sid, sym]).fetchone()
        if row is None:
            continue
        try:
            close = float(json.loads(row[1])["close"])
        except (ValueError, KeyError, TypeError):
            continue
        out[sym] = (int(row[0]), close)
    return out
