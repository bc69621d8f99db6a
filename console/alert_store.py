"""Where alerts are recorded, in the session database (not the engine's log):

``alert_issued``  one row per alert raised (its id is what ``console ack ID`` takes): session, seq,
                  kind, key (what the rate limit folds on), severity, text, when, how many times it
                  was escalated, and when and by whom it was acknowledged.
``alerts``        one row per delivery attempt of an alert to one channel (webhook, desktop,
                  command, bell, rate-limit, queue): when, where, delivered or why not.
``alert_acks``    one row per acknowledgement: which alert, who (user, host, pid, tool, socket
                  peer), via what, when (UTC).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

DELIVERIES = """create table if not exists alerts (
    id integer primary key,
    session text not null,
    seq integer,
    kind text not null,
    text text not null,
    channel text not null,
    target text not null,
    at text not null,
    delivered integer not null,
    attempts integer not null,
    error text not null default ''
)"""
ISSUED = """create table if not exists alert_issued (
    id integer primary key,
    session text not null,
    seq integer,
    kind text not null,
    key text not null,
    severity text not null,
    text text not null,
    at text not null,
    escalations integer not null default 0,
    acked_at text,
    acked_by text
)"""
ACKS = """create table if not exists alert_acks (
    id integer primary key,
    alert_id integer not null,
    session text not null,
    who text not null,
    via text not null,
    at text not null
)"""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def connect(db: Path | str, create: bool = True) -> sqlite3.Connection:
    """A connection with the alert tables (made if missing, and the deliveries table given its
    ``alert_id`` and ``severity`` columns if it predates them)."""
    if not create and not Path(db).exists():
        raise sqlite3.OperationalError(f"{db} does not exist")
    # Several alerters may open a fresh database at once (the engine's and attached
    # consoles'): switching it to WAL can fail at once with "locked" (no busy wait
    # there), and two may both add a missing column. Both are retried or taken as
    # done, within the busy timeout (40 fresh files x 4 threads: 18 failures before).
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:
        con = sqlite3.connect(db, timeout=CONNECT_WAIT_S, isolation_level=None)
        try:
            _set_up(con)
            return con
        except sqlite3.OperationalError as exc:
            con.close()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        except sqlite3.Error:
            con.close()
            raise


CONNECT_WAIT_S = 10.0


def _set_up(con: sqlite3.Connection) -> None:
    # the session databases are WAL already; a delivery row need not wait for an fsync
    # (the engine's own log is what must be durable)
    con.execute("pragma journal_mode=wal")
    con.execute("pragma synchronous=normal")
    for ddl in (DELIVERIES, ISSUED, ACKS):
        con.execute(ddl)
    cols = {r[1] for r in con.execute("pragma table_info(alerts)")}
    for col, decl in (("alert_id", "integer"), ("severity", "text not null default ''")):
        if col not in cols:
            try:
                con.execute(f"alter table alerts add column {col} {decl}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another connection added it first
                    raise


def issue(con: sqlite3.Connection, alert: dict[str, Any]) -> int:
    cur = con.execute("insert into alert_issued (session, seq, kind, key, severity, text, at)"
                      " values (?, ?, ?, ?, ?, ?, ?)",
                      (alert["session"], alert.get("seq"), alert["kind"], alert.get("key", alert["kind"]),
                       alert.get("severity", ""), alert["text"], alert["at"]))
    return int(cur.lastrowid or 0)


def record(con: sqlite3.Connection, alert: dict[str, Any], channel: str, target: str, ok: bool,
           attempts: int, error: str) -> None:
    con.execute("insert into alerts (session, seq, kind, text, channel, target, at, delivered, attempts, error,"
                " alert_id, severity) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (alert["session"], alert.get("seq"), alert["kind"], alert["text"], channel, target,
                 alert["at"], int(ok), attempts, error, alert.get("id"), alert.get("severity", "")))


def escalated(con: sqlite3.Connection, alert_id: int, n: int) -> None:
    con.execute("update alert_issued set escalations = ? where id = ?", (n, alert_id))


def find(db: Path | str, alert_id: int) -> dict[str, Any] | None:
    con = connect(db, create=False)
    try:
        con.row_factory = sqlite3.Row
        row = con.execute("select * from alert_issued where id = ?", (alert_id,)).fetchone()
        return dict(row) if row is not None else None
    finally:
        con.close()


@contextlib.contextmanager
def _immediate(db: Path | str) -> Iterator[sqlite3.Connection]:
    """A connection to ``db`` inside ``begin immediate``: committed when the block
    ends, rolled back if an sqlite3 error ends it, closed either way."""
    con = connect(db)
    try:
        con.execute("begin immediate")
        yield con
        con.execute("commit")
    except sqlite3.Error:
        if con.in_transaction:
            con.execute("rollback")
        raise
    finally:
        con.close()


def acknowledge(db: Path | str, session: str, ids: list[int] | None, who: str, via: str) -> list[int]:
    """Mark alerts of ``session`` acknowledged (``ids`` None: every open one) and log who did it.
    Returns the ids that were open and are acknowledged now."""
    with _immediate(db) as con:
        if ids is None:
            open_ids = [r[0] for r in con.execute(
                "select id from alert_issued where session = ? and acked_at is null order by id", (session,))]
        else:
            open_ids = [i for i in ids if con.execute(
                "select 1 from alert_issued where id = ? and session = ? and acked_at is null",
                (i, session)).fetchone()]
        at = utc_now()
        for i in open_ids:
            con.execute("update alert_issued set acked_at = ?, acked_by = ? where id = ?", (at, who, i))
            con.execute("insert into alert_acks (alert_id, session, who, via, at) values (?, ?, ?, ?, ?)",
                        (i, session, who, via, at))
    return open_ids


def listing(db: Path | str, session: str | None = None, open_only: bool = False,
            limit: int = 50) -> list[dict[str, Any]]:
    con = connect(db, create=False)
    try:
        con.row_factory = sqlite3.Row
        where: list[str] = []
        args: list[Any] = []
        if session is not None:
            where.append("session = ?")
            args.append(session)
        if open_only:
            where.append("acked_at is null")
        sql = "select * from alert_issued" + (" where " + " and ".join(where) if where else "") + \
            " order by id desc limit ?"
        return [dict(r) for r in con.execute(sql, (*args, limit))]
    finally:
        con.close()


def issue_once(db: Path | str, alert: dict[str, Any]) -> int | None:
    """Raise ``alert`` unless one of its session, kind and key was raised before (an engine found
    dead is alerted once, however many ``console ps`` see it). Its id, or None."""
    with _immediate(db) as con:
        seen = con.execute("select 1 from alert_issued where session = ? and kind = ? and key = ?",
                           (alert["session"], alert["kind"], alert.get("key", alert["kind"]))).fetchone()
        new = None if seen else issue(con, alert)
    return new
