"""Fakes for the console's Pilot tests: a session that records submits and
serves whatever snapshot the test puts in ``latest`` (no engine, no thread)."""

from __future__ import annotations

import threading
from dataclasses import replace

from core.snapshot import BreakerRow, LogLine, OrderRow, PositionRow, RiskView, Snapshot, SignalRow

T0 = 1767605460000  # 2026-01-05 09:31:00 UTC, in ms


class FakeSession:
    """Same API as core.session.Session, driven by hand."""

    def __init__(self, snap: Snapshot) -> None:
        self.session_id = snap.session_id
        self.latest = snap
        self.submits: list[tuple[str, str, str]] = []
        self.stopped = False
        self._stop = threading.Event()

    def submit(self, action: str, arg: str = "", reason: str = "") -> None:
        self.submits.append((action, arg, reason))

    def run(self) -> None:
        self._stop.wait()

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.submits]


def risk(**changes: object) -> RiskView:
    base = RiskView(
        nav=1_002_345.67, cash=612_000.00, gross=390_345.67, net=150_120.00, leverage=0.39,
        day_pnl=2_345.67, realized=1_200.00, unrealized=1_145.67, drawdown=0.0042,
        max_drawdown=0.0131, var95=0.0087, peak_nav=1_006_570.00,
        extra=(("Beta", "0.82"), ("Model", "ensemble v3")), start_nav=1_000_000.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


POSITIONS = (
    PositionRow("AAPL", 500, 187.20, 189.10, 94_550.0, 950.0, 300.0, 0.0943),
    PositionRow("MSFT", -200, 402.50, 401.10, -80_220.0, 280.0, 0.0, -0.0800),
    PositionRow("NVDA", 300, 495.00, 493.20, 147_960.0, -540.0, 900.0, 0.1476),
)
ORDERS = (
    OrderRow(1041, "AAPL", 100, 189.05, "strategy", T0 - 2000),
    OrderRow(1042, "MSFT", -50, 401.20, "twap", T0 - 1000),
)
SIGNALS = (
    SignalRow("AAPL", "ensemble", 0.62, 0.81, 189.10, T0),
    SignalRow("AAPL", "hmm", 0.35, 0.55, 189.10, T0),
    SignalRow("MSFT", "ensemble", -0.48, 0.72, 401.10, T0),
    SignalRow("NVDA", "lstm", 0.05, 0.40, 493.20, T0),
)
BREAKERS = (  # the engine's breakers, in its order, each in its unit
    BreakerRow("daily_loss", "ARMED", 0.0023, 0.03, 0.078, 0, "", "frac"),
    BreakerRow("max_drawdown", "WARNING", 0.0131, 0.015, 0.873, 0, "at 87% of limit", "frac"),
    BreakerRow("trailing_loss", "ARMED", 0.004, 0.02, 0.2, 0, "", "frac"),
    BreakerRow("var_limit", "ARMED", 0.0087, 0.06, 0.145, 0, "", "frac"),
    BreakerRow("consecutive_losses", "ARMED", 3.0, 20.0, 0.15, 0, "", "count"),
    BreakerRow("reject_storm", "ARMED", 4.0, 25.0, 0.16, 0, "", "count"),
    BreakerRow("stale_data", "ARMED", 12.0, 300.0, 0.04, 0, "", "s"),
    BreakerRow("bad_data", "ARMED", 0.0, 5.0, 0.0, 0, "", "count"),
    BreakerRow("live_sharpe:forest", "ARMED", 0.12, 0.55, 0.218, 0, "", "sharpe"),
)
LOG = tuple(
    LogLine(100 + i, T0 - (8 - i) * 1000, level, text)
    for i, (level, text) in enumerate([
        ("info", "session started on simulator at 60x"),
        ("trade", "BUY 500 AAPL @ 187.20"),
        ("trade", "SELL 200 MSFT @ 402.50"),
        ("warn", "drawdown breaker WARNING at 65% of limit"),
        ("trade", "BUY 300 NVDA @ 495.00"),
        ("info", "model ensemble v3 active"),
    ])
)


def snapshot(**changes: object) -> Snapshot:
    """A deterministic ACTIVE book; pass field overrides."""
    base = Snapshot(
        session_id="s-20260105-0931", seq=1234, market_ts=T0, speed="60x",
        events_per_s=15_230.0, source="simulator", trading_state="ACTIVE", risk=risk(),
        positions=POSITIONS, open_orders=ORDERS, signals=SIGNALS, breakers=BREAKERS,
        rejections=(("max_position", 3), ("fat_finger", 1)), log=LOG,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def halted_snapshot() -> Snapshot:
    """HALTED after the daily loss breaker tripped."""
    reason = "daily_loss 3.21% reached limit 3.00%"
    tripped = BreakerRow("daily_loss", "TRIPPED", 0.0321, 0.03, 1.07, T0, reason, "frac")
    log = LOG + (LogLine(119, T0, "alert", f"BREAKER daily_loss ARMED -> TRIPPED: {reason}"),
                 LogLine(120, T0, "alert", f"STATE ACTIVE -> HALTED: breaker daily_loss tripped: {reason}"))
    return snapshot(
        seq=1300, trading_state="HALTED", breakers=(tripped, *BREAKERS[1:]), log=log, open_orders=(),
        risk=risk(day_pnl=-21_400.0, realized=-18_000.0, unrealized=-3_400.0),
    )
