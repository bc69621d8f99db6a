"""One session, one P&L: every command that shows a session's P&L prints the
same figure, under the same label (core.pnl: the NAV of the last logged risk
snapshot minus the initial cash, to the last bar close, net of fees)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from core.pnl import PNL_LABEL, logged_initial_cash, session_pnl
from tests.conftest import run_cli

FIGURE = re.compile(re.escape(PNL_LABEL) + r"\s+(-?[\d,]+\.\d\d)")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A headless run that stops mid-bar with positions open (so the last
    tick's marks differ from the last bar close): (db, session id, stderr)."""
    d = tmp_path_factory.mktemp("pnl")
    res = run_cli("run", "--headless", "--events", "20000", "--seed", "3", db=d / "p.db")
    assert res.returncode == 0, res.stderr
    return d / "p.db", res.stdout.strip().splitlines()[-1], res.stderr


def figure(text: str) -> str:
    found = FIGURE.findall(text)
    assert len(found) == 1, text
    return str(found[0])


def test_run_sessions_report_replay_what_if_and_export_show_one_pnl(logged, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, sid, run_err = logged
    pnl = figure(run_err)  # the headless run's last line
    assert pnl != "0.00"

    listing = run_cli("sessions", db=db)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if sid in line)
    assert pnl in row.split()
    assert "NAV at the last bar close minus the initial cash, net of fees" in listing.stdout

    report = run_cli("report", sid, "--out", str(tmp_path / "r.html"), db=db)
    assert report.returncode == 0, report.stderr
    assert figure(report.stdout) == pnl

    replay = run_cli("replay", sid, "--no-check-models", db=db)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert figure(replay.stdout) == pnl

    (tmp_path / "same.toml").write_text("")
    whatif = run_cli("replay", sid, "--what-if", str(tmp_path / "same.toml"), db=db)
    assert whatif.returncode == 0, whatif.stderr
    line = next(ln for ln in whatif.stdout.splitlines() if ln.strip().startswith(PNL_LABEL))
    assert line.split()[-3:] == [pnl, pnl, "0"]  # logged (A), what-if (B), B - A

    export = run_cli("export", sid, "--format", "csv", "--out", str(tmp_path / "x"), db=db)
    assert export.returncode == 0, export.stderr
    with open(tmp_path / "x" / f"{sid}-equity.csv", newline="") as f:
        last_nav = float(list(csv.DictReader(f))[-1]["nav"])
    assert f"{session_pnl(last_nav, 1_000_000.0):,.2f}" == pnl


def test_the_pnl_counts_from_the_initial_cash_and_stops_at_the_last_snapshot() -> None:
    assert session_pnl(1_000_250.5, 1_000_000.0) == pytest.approx(250.5)
    assert session_pnl(None, 1_000_000.0) == 0.0  # no bar closed yet: nothing marked
    assert math.isnan(session_pnl(math.nan, 1_000_000.0))  # unreadable is not zero


def test_the_initial_cash_comes_from_the_logged_config_or_the_engine_default() -> None:
    from core.config import EngineConfig

    assert logged_initial_cash({"initial_cash": 250_000}) == 250_000.0
    assert logged_initial_cash({}) == EngineConfig().initial_cash  # a log that predates the key
    assert math.isnan(logged_initial_cash(None))
    assert math.isnan(logged_initial_cash({"initial_cash": "lots"}))
