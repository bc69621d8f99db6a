"""``console run --news FILE``: a file's headlines as logged inputs, merged in
time order with the prices (core/market/news.py), replayed and resumed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.errors import DataError
from core.events import Bar, Headline, Timer
from core.market.news import load_news_file, merge_news
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WTI = FIXTURES / "arch_wti_1986.csv"  # one symbol, DCOILWTICO, daily bars from 1986-01-02
DAY = 86_400_000
JAN2 = 505_008_000_000  # 1986-01-02T00:00Z in ms


def bar(ts: int) -> Bar:
    return Bar(ts, "X", 1.0, 1.0, 1.0, 1.0, 0.0)


def hl(ts: int, text: str = "t") -> Headline:
    return Headline(ts, "X", text, "file:n.csv")


def test_a_headline_goes_in_after_the_events_of_its_own_ts_and_before_later_ones() -> None:
    prices = [Timer(100, "", "day"), bar(100), Timer(100, "", "bar"), bar(200), Timer(200, "", "bar")]
    news = (hl(50, "before"), hl(99, "below"), hl(100, "at"), hl(101, "above"), hl(200, "at end"), hl(201, "after"))
    got = list(merge_news(prices, news))
    order = [e.text if isinstance(e, Headline) else (type(e).__name__, e.ts) for e in got]
    assert order == ["before", "below", ("Timer", 100), ("Bar", 100), ("Timer", 100), "at", "above",
                     ("Bar", 200), ("Timer", 200)]  # at/after the last price event: not fed


def test_load_news_file_converts_to_ms_keeps_traded_symbols_and_counts_the_rest(tmp_path: Path) -> None:
    f = tmp_path / "n.jsonl"
    f.write_text('{"ts": "1986-01-03T12:00:00Z", "symbol": "DCOILWTICO", "headline": "Oil   prices plunge"}\n'
                 '{"ts": 505008000000000001, "symbol": "DCOILWTICO", "text": "OPEC output beat"}\n'
                 '{"ts": "1986-01-03", "symbol": "IBM", "headline": "IBM beats"}\n')
    nf = load_news_file(str(f), ["DCOILWTICO"])
    assert [(h.ts, h.text) for h in nf.headlines] == [(JAN2, "OPEC output beat"),
                                                      (JAN2 + DAY + DAY // 2, "Oil prices plunge")]
    assert nf.skipped == 1 and nf.headlines[0].source == "file:n.jsonl" and len(nf.sha256) == 64
    assert any("1 row(s) about symbols" in n for n in nf.notes())


@pytest.mark.parametrize("body, where", [
    ("ts,symbol,headline\n1986-01-03,X,ok\nnot a date,X,bad\n", "line 3: bad ts"),
    ("ts,symbol,headline\n1986-01-03,X,\n", "line 2: empty headline"),
    ("ts,symbol\n1986-01-03,X\n", "line 2: missing column headline/text"),
])
def test_a_bad_row_is_one_error_naming_file_and_line(tmp_path: Path, body: str, where: str) -> None:
    f = tmp_path / "n.csv"
    f.write_text(body)
    with pytest.raises(DataError, match=f"n.csv: {where}"):
        load_news_file(str(f), ["X"])


NEWS = """ts,symbol,headline
1986-01-01T00:00:00Z,DCOILWTICO,Oil traders brace for OPEC meeting
1986-01-06T15:00:00Z,DCOILWTICO,Oil prices plunge as OPEC abandons output cuts
1986-01-10,DCOILWTICO,Crude rebounds on strong demand
1986-01-13T09:30:00Z,AAPL,Apple beats
1986-02-04,DCOILWTICO,Oil slump deepens
"""


def headlines(db: Path, sid: str) -> list[tuple[int, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("select seq, payload from events where session = ? and kind = 'headline' order by seq",
                           [sid]).fetchall()
    finally:
        con.close()


def test_a_session_with_news_logs_them_replays_and_resumes_on_the_same_file_only(tmp_path: Path) -> None:
    news, db = tmp_path / "news.csv", tmp_path / "c.db"
    news.write_text(NEWS)
    res = run_cli("run", "--headless", "--seed", "1", "--events", "20", "--data", str(WTI), "--news", str(news),
                  db=db)
    assert res.returncode == 0, res.stderr
    sid = res.stdout.strip().splitlines()[-1]
    assert "news news.csv: 4 headline(s) fed" in res.stderr and "1 row(s) about symbols" in res.stderr
    first = headlines(db, sid)
    assert len(first) == 2 and "brace for OPEC" in first[0][1] and "file:news.csv" in first[0][1]
    assert run_cli("replay", sid, db=db).returncode == 0
    res = run_cli("run", "--headless", "--resume", sid, "--events", "40", db=db)
    assert res.returncode == 0, res.stderr
    got = headlines(db, sid)
    assert got[:2] == first and len(got) == 3 and "rebounds" in got[2][1]  # the file goes on where it stopped
    assert run_cli("replay", sid, db=db).returncode == 0
    news.write_text(NEWS.replace("plunge", "soar"))
    res = run_cli("run", "--headless", "--resume", sid, "--events", "10", db=db)
    assert res.returncode == 2 and "not the news file this session was logged on" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_run_news_refuses_a_bad_row_in_one_line_and_resume_with_news(tmp_path: Path) -> None:
    news, db = tmp_path / "news.csv", tmp_path / "c.db"
    news.write_text("ts,symbol,headline\n1986-01-03,DCOILWTICO,ok\n1986-13-45,DCOILWTICO,bad\n")
    res = run_cli("run", "--headless", "--events", "5", "--data", str(WTI), "--news", str(news), db=db)
    assert res.returncode == 2 and "news.csv: line 3: bad ts" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    res = run_cli("run", "--headless", "--resume", "x", "--news", str(news), db=db)
    assert res.returncode == 2 and "drop --news" in res.stderr
