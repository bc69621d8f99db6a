"""``console alerts`` (the alerts raised, with their ids) and ``console ack``
(acknowledge them: their escalation and the dead-man switch stop).

An acknowledgement goes to the running engine over its control socket (the
engine records it); when the engine is not running (or does not answer) it
is written to the database directly. Either way it is a row of
``alert_acks``: which alert, who (user, host, pid, tool), via what, when.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from core.errors import InputError

DB_HELP = "Session database (default: $CONSOLE_DB, else the user data directory)."


def _db(db: str | None) -> Path:
    from storage import default_db_path

    p = Path(db) if db else default_db_path()
    if not p.exists():
        raise InputError(f"{p}: no such database")
    return p


def ack_alerts(db: Path, ids: list[int] | None, session: str | None, via: str = "cli") -> list[dict[str, Any]]:
    """Acknowledge alerts by id, or every open one of ``session`` (ids None). One result per session."""
    from console import alert_store
    from console.control import NoEngine, find, request, who_am_i

    by_session: dict[str, list[int] | None] = {}
    if ids is None:
        if session is None:
            raise InputError("give alert ids, or --session ID for all of its open alerts")
        by_session[session] = None
    else:
        for i in ids:
            row = alert_store.find(db, i)
            if row is None:
                raise InputError(f"{db}: no alert {i} (console alerts lists them)")
            got = by_session.setdefault(row["session"], [])
            assert got is not None
            got.append(i)
    out = []
    who = who_am_i(via)
    for sid, want in by_session.items():
        result: dict[str, Any] = {"session": sid, "asked": want if want is not None else "all"}
        try:
            e = find(sid, db)
            if not e.pid_alive():
                raise NoEngine("dead")
            reply = request(Path(e.socket), {"op": "ack", "alerts": "all" if want is None else want, "who": who})
            if not reply.get("ok"):
                raise NoEngine(str(reply.get("error")))
            result.update(acked=reply.get("acked", []), via="engine")
        except (NoEngine, OSError, ValueError):
            acked = alert_store.acknowledge(db, sid, want, who, f"{via} (engine not running)")
            result.update(acked=acked, via="database")
        out.append(result)
    return out


@click.command("ack")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--session", "session_id", default=None, metavar="ID",
              help="Every open alert of this session (instead of ids).")
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per session.")
def ack(ids: tuple[int, ...], session_id: str | None, db: str | None, as_json: bool) -> None:
    """Acknowledge alerts: their escalation and the dead-man switch stop (logged: who, when)."""
    from console import alert_store

    path = _db(db)
    try:
        results = ack_alerts(path, list(ids) if ids else None, session_id)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot record the acknowledgement ({exc})") from None
    for r in results:
        if as_json:
            click.echo(json.dumps(r))
            continue
        for i in r["acked"]:
            click.echo(f"acknowledged alert {i} (session {r['session']}, via the {r['via']})")
        asked = r["asked"]
        for i in (asked if isinstance(asked, list) else []):
            if i not in r["acked"]:
                row = alert_store.find(path, i) or {}
                click.echo(f"alert {i} was already acknowledged"
                           f"{' by ' + row['acked_by'] if row.get('acked_by') else ''}"
                           f"{' at ' + row['acked_at'] if row.get('acked_at') else ''}")
        if asked == "all" and not r["acked"]:
            click.echo(f"no open alert in session {r['session']}")
    sys.exit(0)


@click.command("alerts")
@click.option("--session", "session_id", default=None, metavar="ID", help="Only this session's.")
@click.option("--open", "open_only", is_flag=True, help="Only those not acknowledged.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest N.")
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def alerts(session_id: str | None, open_only: bool, limit: int, db: str | None, as_json: bool) -> None:
    """Alerts raised by engines (newest first): id, when, severity, kind, text, acknowledged by whom."""
    from console import alert_store
    from console.alert_sinks import notify_send_path

    path = _db(db)
    try:
        rows = alert_store.listing(path, session_id, open_only, limit)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot read the alerts ({exc})") from None
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no alerts" + (" open" if open_only else ""))
    for r in rows:
        acked = f"acked by {r['acked_by']} at {r['acked_at']}" if r["acked_at"] else "OPEN"
        again = f" sent again x{r['escalations']}" if r["escalations"] else ""
        click.echo(f"{r['id']:>6} {r['at']} {r['session']} {r['severity']:<8} {r['kind']:<11} "
                   f"{r['text']}  [{acked}{again}]")
    if notify_send_path() is None:
        click.echo("(notify-send is not on PATH here: no desktop notifications)", err=True)
