"""SVG snapshots of the console at 160x48 over fixed fake snapshots.

Update after an intended change with ``pytest tests/test_ui_snapshots.py --snapshot-update``
and look at the report/SVGs before committing them.
"""

from __future__ import annotations

import pytest

from console.app import build_app
from tests.test_ui_fakes import FakeSession, halted_snapshot, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def test_active_book(snap_compare):
    app = build_app(FakeSession(snapshot()), start_engine=False)
    assert snap_compare(app, terminal_size=SIZE)


def test_halted_with_a_tripped_breaker(snap_compare):
    app = build_app(FakeSession(halted_snapshot()), start_engine=False)
    assert snap_compare(app, terminal_size=SIZE)


def test_resume_confirmation_lists_breakers(snap_compare):
    app = build_app(FakeSession(halted_snapshot()), theme="console-colorblind", start_engine=False)
    assert snap_compare(app, press=["r"], terminal_size=SIZE)


def test_compact_at_100x30_halted(snap_compare):
    app = build_app(FakeSession(halted_snapshot()), start_engine=False)
    assert snap_compare(app, terminal_size=(100, 30))


def test_alert_history(snap_compare):
    app = build_app(FakeSession(halted_snapshot()), start_engine=False)
    assert snap_compare(app, press=["a"], terminal_size=SIZE)


def test_attribution_at_100x30(snap_compare):
    """P&L by symbol (the driving model marked) and by strategy book, over the
    fake book (no session database: realised from the book, fees unknown)."""
    from core.snapshot import BookRow, SignalRow
    from tests.test_ui_fakes import SIGNALS, T0

    ens = SignalRow("NVDA", "ensemble", -0.3, 0.7, 493.2, T0, explain=(("lstm", -0.21), ("hmm", 0.05)))
    books = (BookRow("momentum", 0.6, 120_000.0, 900.0, 410.0, 35.0, 1_275.0),
             BookRow("pairs", 0.4, -60_000.0, 300.0, -60.0, 20.0, 220.0))
    app = build_app(FakeSession(snapshot(signals=(*SIGNALS, ens), books=books)), start_engine=False)
    assert snap_compare(app, press=["m"], terminal_size=(100, 30))
