"""``console export``: a session's events, orders, fills and equity as files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from console.export_cmd import export_session, payload_columns
from core.errors import InputError
from tests.conftest import ROOT, run_cli


def console(*args: str, db: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=db, cwd=cwd)


@pytest.fixture(scope="module")
def session(tight_session: tuple[Path, str]) -> tuple[Path, str]:
    return tight_session


def db_counts(db: Path, sid: str) -> dict[str, int]:
    con = sqlite3.connect(db)
    return dict(con.execute("select kind, count(*) from events where session=? group by kind", (sid,)))


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, low_memory=False)
    return pd.read_json(path, lines=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_every_table_reads_back_with_the_database_counts(session, tmp_path, fmt):  # type: ignore[no-untyped-def]
    db, sid = session
    out = export_session(db, sid, fmt, tmp_path)
    counts = db_counts(db, sid)
    assert counts.get("order_rejected", 0) > 0 and counts.get("fill", 0) > 0 and counts.get("state", 0) > 0
    events = read(out["events"][0])
    assert events["kind"].value_counts().to_dict() == counts
    assert len(events) == out["events"][1] == sum(counts.values())
    assert list(events["seq"]) == sorted(events["seq"])
    fills, orders, equity = (read(out[n][0]) for n in ("fills", "orders", "equity"))
    con = sqlite3.connect(db)
    assert len(fills) == con.execute("select count(*) from fills where session=?", (sid,)).fetchone()[0]
    assert len(orders) == counts["order_intent"] and len(equity) == counts["risk"]
    assert (orders["status"] == "rejected").sum() == counts["order_rejected"]
    assert (orders["status"] != "rejected").sum() == counts["order_accepted"]
    typed = con.execute("select sum(qty), sum(price * abs(qty)) from fills where session=?", (sid,)).fetchone()
    assert fills["qty"].sum() == pytest.approx(typed[0]) and fills["notional"].sum() == pytest.approx(typed[1])
    assert orders["filled_qty"].sum() == pytest.approx(typed[0])
    navs = [json.loads(p)["nav"] for (p,) in con.execute(
        "select payload from events where session=? and kind='risk' order by seq", (sid,))]
    assert equity["nav"].tolist() == pytest.approx(navs)
    assert {"ts", "nav", "cash", "gross", "net", "drawdown"} <= set(equity.columns)


def test_decoded_columns_agree_with_the_raw_payload(session, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = session
    events = pd.read_parquet(export_session(db, sid, "parquet", tmp_path)["events"][0])
    fills = events[events["kind"] == "fill"]
    raw = [json.loads(p) for p in fills["payload"]]
    assert fills["price"].tolist() == [p["price"] for p in raw]
    assert fills["order_id"].tolist() == [p["order_id"] for p in raw]
    rej = events[events["kind"] == "order_rejected"]
    assert set(rej["rule"]) == {json.loads(p)["rule"] for p in rej["payload"]}
    ticks = events[events["kind"] == "tick"]
    assert ticks["rule"].isna().all() and ticks["price"].notna().all() and ticks["input"].all()
    assert str(events["time"].dtype).startswith("datetime64") and events["time"].iloc[0].year >= 2000


def test_payload_columns_cover_every_kind_with_one_type_per_name():
    cols = payload_columns()
    assert cols["price"] == "float" and cols["order_id"] == "int" and cols["reason"] == "str"
    assert "ts" not in cols and "symbol" not in cols


def test_existing_files_are_kept_unless_forced(session, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = session
    first = export_session(db, sid, "csv", tmp_path)
    target = first["fills"][0]
    target.write_text("mine\n")
    with pytest.raises(InputError, match=r"-events\.csv exists .*--force"):
        export_session(db, sid, "csv", tmp_path)
    assert target.read_text() == "mine\n"
    export_session(db, sid, "csv", tmp_path, force=True)
    assert target.read_text() != "mine\n" and not list(tmp_path.glob("*.part"))


def test_the_cli_exports_by_prefix_and_errors_in_one_line(session, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = session
    res = console("export", sid[:15], "--format", "jsonl", "--out", str(tmp_path / "x"), db=db)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "x" / f"{sid}-orders.jsonl").is_file() and "events" in res.stdout
    errors = []
    for args in (["export", "no-such-session"], ["export", "last", "--out", str(tmp_path / "x"),
                                                 "--format", "jsonl"]):
        bad = console(*args, db=db)
        err = bad.stderr.strip()
        assert bad.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
        errors.append(err)
    assert "no-such-session" in errors[0] and "exists" in errors[1]


def test_an_expired_order_is_exported_as_expired_with_what_was_left() -> None:
    from console.export_cmd import _Collector

    c = _Collector({12: (5, "AAA", 11, 4.0, 100.0, 1.0)})
    c.add(10, "order_intent", 1, "AAA", {"qty": 10.0, "ref_price": 100.0, "origin": "strategy", "reason": "r"})
    c.add(11, "order_accepted", 1, "AAA", {"intent_seq": 10, "qty": 10.0, "ref_price": 100.0})
    c.add(12, "fill", 5, "AAA", {"order_id": 11, "qty": 4.0, "price": 100.0, "commission": 1.0})
    assert c.orders[10]["status"] == "partially filled"
    c.add(20, "order_expired", 9, "AAA", {"order_id": 11, "remaining": 6.0, "reason": "time in force"})
    o = c.orders[10]
    assert (o["status"], o["cancelled_remaining"], o["filled_qty"]) == ("expired", 6.0, 4.0)
