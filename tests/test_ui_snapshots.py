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
