"""``console report``: curves and figures in the terminal and a shareable HTML file."""

from __future__ import annotations

import html
import json
import math
import re
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from console.curves import drawdowns, max_drawdown_span, period_returns, sharpe
from console.report_cmd import block_chart, load_report, render_html
from tests.conftest import ROOT, run_cli

DAY = 86_400_000


def console(*args: str, db: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=db, cwd=cwd, COLUMNS="110")


@pytest.fixture(scope="module")
def session(tight_session: tuple[Path, str]) -> tuple[Path, str]:
    return tight_session


def by_hand(db: Path, sid: str) -> dict:  # type: ignore[type-arg]
    """The report's figures computed straight from the log with SQL and numpy."""
    con = sqlite3.connect(db)
    setup = json.loads(con.execute("select config from sessions where id=?", (sid,)).fetchone()[0])
    initial, bpd = setup["engine"]["initial_cash"], setup["market"]["bars_per_day"]
    nav = np.array([json.loads(p)["nav"] for (p,) in con.execute(
        "select payload from events where session=? and kind='risk' order by seq", (sid,))])
    peak = np.maximum(np.maximum.accumulate(nav), initial)
    r = nav[1:] / nav[:-1] - 1
    q = "select count(*) from events where session=? and kind=?"
    halts = [json.loads(p)["reason"] for (p,) in con.execute(
        "select payload from events where session=? and kind='state' order by seq", (sid,))
        if json.loads(p)["new"] == "HALTED"]
    rules = dict(con.execute("select json_extract(payload,'$.rule'), count(*) from events "
                             "where session=? and kind='order_rejected' group by 1", (sid,)))
    return {"pnl": nav[-1] - initial, "max_dd": float((1 - nav / peak).max()),
            "sharpe": r.mean() / r.std(ddof=1) * math.sqrt(252 * bpd), "n": len(r),
            "trades": con.execute("select count(*) from fills where session=?", (sid,)).fetchone()[0],
            "trips": con.execute(q + " and json_extract(payload,'$.new')='TRIPPED'", (sid, "breaker")).fetchone()[0],
            "halts": halts, "rules": rules}


def test_the_html_report_matches_a_hand_computation_from_the_log(session, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = session
    out = tmp_path / "share.html"
    res = console("report", sid[:16], "--out", str(out), db=db)
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    want = by_hand(db, sid)
    assert want["halts"] and want["trips"] >= 1 and want["rules"] and want["trades"] > 0
    assert f"<h1>Session {sid}</h1>" in page
    for text in (f"{want['pnl']:,.2f}", f"{want['max_dd']:.2%}", f"{want['sharpe']:.3f}",
                 f"<td>trades (fills)</td><td>{want['trades']:,}</td>",
                 f"<td>breaker trips</td><td>{want['trips']}</td>",
                 f"<td>halts</td><td>{len(want['halts'])}</td>"):
        assert text in page, text
    for reason in want["halts"]:
        assert html.escape(reason) in page
    for rule, n in want["rules"].items():
        assert f"<td>{rule}</td><td>{n:,}</td>" in page
    blob = json.loads(re.search(r'<script type="application/json" id="summary">(.*?)</script>', page).group(1))
    assert blob["pnl"] == pytest.approx(want["pnl"]) and blob["max_drawdown"] == pytest.approx(want["max_dd"])
    assert blob["sharpe"] == pytest.approx(want["sharpe"]) and blob["returns"] == want["n"]
    assert blob["return_period"] == "bar"
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):  # well-formed, with a real curve
        poly = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}polyline")
        assert poly is not None and len(poly.get("points", "").split()) == want["n"] + 1
    assert page.count("<line ") == len(want["halts"])  # each halt marked on the equity curve
    assert "<script src" not in page and "<link" not in page  # self-contained


def test_the_terminal_shows_both_curves_and_the_summary(session, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = session
    res = console("report", "last", db=db, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "equity (NAV)" in out and "drawdown" in out and "█" in out
    assert "max drawdown" in out and "breaker trips" in out and "max_position" in out
    assert (tmp_path / f"{sid}.html").is_file() and f"report written to {sid}.html" in out


def test_an_unknown_session_is_one_line_and_exit_2(session, tmp_path):  # type: ignore[no-untyped-def]
    db, _ = session
    res = console("report", "nope", "--out", str(tmp_path / "x.html"), db=db)
    err = res.stderr.strip()
    assert res.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1 and "nope" in err
    assert not (tmp_path / "x.html").exists()


def test_load_report_agrees_with_the_logged_max_drawdown(session):  # type: ignore[no-untyped-def]
    db, sid = session
    s = load_report(db, sid).summary
    last = json.loads(sqlite3.connect(db).execute(
        "select payload from events where session=? and kind='risk' order by seq desc limit 1", (sid,)).fetchone()[0])
    assert s.max_drawdown.depth == pytest.approx(last["max_drawdown"])  # the engine's own running figure
    assert s.max_drawdown.peak_ts < s.max_drawdown.trough_ts
    page = render_html(load_report(db, sid))
    assert page.startswith("<!doctype html>") and page.count("<svg") == 2


# ------------------------------------------------------------ pure parts


def test_max_drawdown_span_finds_peak_trough_and_recovery():
    ts = np.arange(7, dtype=np.int64) * 1000
    nav = np.array([100.0, 110, 99, 88, 95, 111, 90])
    span = max_drawdown_span(ts, nav, 100.0)
    assert span.depth == pytest.approx(0.2) and (span.peak_ts, span.trough_ts, span.recovered_ts) == (1000, 3000, 5000)
    assert drawdowns(np.array([90.0, 95.0]), 100.0).tolist() == pytest.approx([0.1, 0.05])


def test_returns_are_daily_from_two_days_on_and_per_bar_before():
    ts = np.array([0, 1000, 2000, DAY + 5, DAY + 1000, 2 * DAY + 1], dtype=np.int64) + 10 * DAY
    nav = np.array([100.0, 101, 102, 103, 104, 105])
    daily = period_returns(ts, nav, 390.0, opening=100.0)
    assert daily.period == "day" and daily.periods_per_year == 252
    assert daily.values.tolist() == pytest.approx([0.02, 104 / 102 - 1, 105 / 104 - 1])
    bars = period_returns(ts[:3], nav[:3], 390.0)
    assert bars.period == "bar" and bars.periods_per_year == 252 * 390 and bars.values.size == 2
    assert sharpe(np.zeros(5), 252) == 0.0 and math.isnan(sharpe(np.ones(1), 252))


def test_block_chart_scales_columns_in_eighths():
    lines = block_chart(np.array([0.0, 1.0, 2.0, 4.0]), width=4, height=2)
    assert lines == ["   █", " ▄██"]
    assert block_chart(np.arange(100.0), width=10, height=1, how="max")[0][-1] == "█"


def test_the_report_has_trades_win_rate_attribution_end_positions_config_and_time_halted(session, tmp_path):  # type: ignore[no-untyped-def]
    from console.trades import TradeLog
    from storage import open_db

    db, sid = session
    out = tmp_path / "more.html"
    res = console("report", sid, "--out", str(out), db=db)
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    blob = json.loads(re.search(r'id="summary">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    log = TradeLog(open_db(db, create=False, readonly=True), sid)
    log.update()
    st = log.stats()
    assert st.trades > 0 and blob["closed_trades"] == st.trades and blob["wins"] == st.wins
    assert blob["win_rate"] == pytest.approx(st.win_rate)
    assert f"{st.win_rate:.1%} ({st.wins}/{st.trades})" in page and "Closed trades (newest" in page
    assert page.count("<tr><td>") >= st.trades  # every closed trade is a row
    # time halted, by hand: the first halt to the next state change (or the last event)
    con = sqlite3.connect(db)
    states = [(ts, json.loads(p)["new"]) for ts, p in con.execute(
        "select ts, payload from events where session=? and kind='state' order by seq", (sid,))]
    last_ts = con.execute("select max(ts) from events where session=?", (sid,)).fetchone()[0]
    halted = sum((states[i + 1][0] if i + 1 < len(states) else last_ts) - ts
                 for i, (ts, new) in enumerate(states) if new == "HALTED")
    assert halted > 0 and blob["time_in_state_ms"]["HALTED"] == halted
    assert "Time halted (market)" in page or "time halted (market)" in page
    # the config as logged, flattened
    assert "<td>engine.limits.max_position_fraction</td><td>0.08</td>" in page
    # a few hours of bars: the Sharpe carries a caveat
    assert blob["caveat"] and "too little data" in blob["caveat"] and "caveat" in page
    assert "P&amp;L attribution by symbol" in page
    assert ("End positions" in page) == bool(blob["end_positions"])
    # the terminal shows the same
    assert "win rate" in res.stdout and "closed trades (newest" in res.stdout and "caveat" in res.stdout
    assert "engine.breakers:" in res.stdout and "time halted" in res.stdout
