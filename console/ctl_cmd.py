"""Commands to a running engine from any shell, ``console ps`` and ``console attach``.

``console halt|resume|reduce|flatten|cancel-all ID --reason TEXT``,
``console reset-breaker ID NAME --reason TEXT``, ``console stop ID`` and
``console heartbeat ID`` (a sign of life for the dead-man rule) send
one request over the engine's control socket (console.control) and wait for
the engine to apply it. Exit 0: done (the seq it took effect at is printed);
1: the engine refused it (why is printed); 2: no such engine (or it is dead,
or does not answer). ``--json`` prints one JSON object instead. ID is a
session id, a unique prefix of one, or ``last`` (the newest running engine).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from core.errors import InputError

DB_HELP = "Only engines logging to this database (default: any; $CONSOLE_DB is not consulted)."


def _db(db: str | None) -> Path | None:
    return Path(db) if db else None


def _send(ident: str, action: str, reason: str, arg: str, db: str | None, as_json: bool,
          symbol: str = "") -> None:
    from console.control import NoEngine, send_command

    label = action.replace("_", "-") + (f" {symbol}" if symbol else "")
    try:
        reply = send_command(ident, action, reason, arg, _db(db), symbol=symbol)
    except NoEngine as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "session": ident, "action": label, "error": str(exc),
                                   "no_engine": True}))
            sys.exit(2)
        raise
    out = {"ok": bool(reply.get("ok")), "session": reply.get("session"), "action": label,
           "seq": reply.get("seq"), "state": reply.get("state"), "error": reply.get("error")}
    if as_json:
        click.echo(json.dumps(out))
    elif out["ok"]:
        click.echo(f"{label} took effect at seq {out['seq']} (session {out['session']}, state {out['state']})")
    else:
        click.echo(f"refused: {label}: {out['error']}", err=True)
    sys.exit(0 if out["ok"] else 1)


def _trading(action: str, doc: str) -> click.Command:
    @click.command(action.replace("_", "-"), help=doc)
    @click.argument("session_id", metavar="ID")
    @click.option("--reason", required=True, help="Why (logged with the command).")
    @click.option("--db", default=None, help=DB_HELP)
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    def cmd(session_id: str, reason: str, db: str | None, as_json: bool) -> None:
        _send(session_id, action, reason, "", db, as_json)

    return cmd


halt = _trading("halt", "Halt a running engine: cancel working orders, accept none.")
resume = _trading("resume", "Resume trading on a running engine (refused while a breaker is tripped).")
reduce = _trading("reduce", "Reduce-only on a running engine: orders may only shrink positions.")
flatten = _trading("flatten", "Close every position of a running engine.")
cancel_all = _trading("cancel_all", "Cancel the working orders of a running engine.")


def _one_symbol(action: str, doc: str) -> click.Command:
    @click.command(action.replace("_", "-"), help=doc)
    @click.argument("session_id", metavar="ID")
    @click.argument("symbol")
    @click.option("--reason", required=True, help="Why (logged with the command).")
    @click.option("--db", default=None, help=DB_HELP)
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    def cmd(session_id: str, symbol: str, reason: str, db: str | None, as_json: bool) -> None:
        _send(session_id, action, reason, "", db, as_json, symbol=symbol)

    return cmd


flatten_symbol = _one_symbol("flatten_symbol", "Close one symbol's position of a running engine (its orders "
                                               "cancelled, its puts sold); the strategy may enter it again "
                                               "unless it is blocked too.")
block_symbol = _one_symbol("block_symbol", "Block one symbol of a running engine: no order may grow its "
                                           "position (exits pass) until unblocked.")
unblock_symbol = _one_symbol("unblock_symbol", "Lift an operator's block on one symbol of a running engine.")


@click.command("reset-breaker")
@click.argument("session_id", metavar="ID")
@click.argument("name")
@click.option("--reason", required=True, help="Why (logged with the command).")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def reset_breaker(session_id: str, name: str, reason: str, db: str | None, as_json: bool) -> None:
    """Re-arm a tripped circuit breaker of a running engine."""
    _send(session_id, "reset_breaker", reason, name, db, as_json)


@click.command("set-limit")
@click.argument("session_id", metavar="ID")
@click.argument("name")
@click.argument("value")
@click.option("--reason", required=True, help="Why (logged with the command).")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def set_limit(session_id: str, name: str, value: str, reason: str, db: str | None, as_json: bool) -> None:
    """Change one limit of a running engine for this session: a gate limit
    (max_order_notional, max_position_fraction, max_gross_leverage,
    fat_finger_band, max_sector_fraction, var_budget, max_orders_per_minute)
    or a breaker's (daily_loss, max_drawdown, trailing_loss, var_limit,
    consecutive_losses, reject_storm, bad_data, stale_data_s). Fractions of
    NAV as 0.05 or 5%. The engine checks it as the config is checked, and logs
    old -> new with who and why, or refuses it with why."""
    _send(session_id, "set_limit", reason, f"{name}={value}", db, as_json)


@click.command("stop")
@click.argument("session_id", metavar="ID")
@click.option("--reason", default="console stop", show_default=True, help="Why (noted in the engine's log).")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stop(session_id: str, reason: str, db: str | None, as_json: bool) -> None:
    """Stop a running engine: the session ends and its log is closed cleanly."""
    _send(session_id, "stop", reason, "", db, as_json)


@click.command("heartbeat")
@click.argument("session_id", metavar="ID")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def heartbeat(session_id: str, db: str | None, as_json: bool) -> None:
    """Tell a running engine someone is watching ([alerts] heartbeat_after: the dead-man rule)."""
    from console.control import NoEngine, find, request, who_am_i

    try:
        e = find(session_id, _db(db))
        if not e.pid_alive():
            _report_dead(e)
            from console.control import resume_hint

            raise NoEngine(f"the engine of session {e.session} is dead (pid {e.pid}); resume it: {resume_hint(e)}")
        try:
            reply = request(Path(e.socket), {"op": "heartbeat", "who": who_am_i("cli")}, 10.0)
        except (OSError, ValueError) as exc:
            raise NoEngine(f"the engine of session {e.session} does not answer on its socket ({exc})") from None
    except NoEngine as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "session": session_id, "error": str(exc), "no_engine": True}))
            sys.exit(2)
        raise
    if as_json:
        click.echo(json.dumps(reply))
    elif not reply.get("ok"):
        click.echo(f"refused: heartbeat: {reply.get('error')}", err=True)
    else:
        after = float(reply.get("heartbeat_after_s") or 0.0)
        span = f"{round(after / 60, 1):g} min" if after >= 60 else f"{after:.0f} s"
        rule = (f"the dead-man rule acts after {span} without a heartbeat or a console" if after > 0
                else "this engine has no heartbeat rule ([alerts] heartbeat_after)")
        click.echo(f"heartbeat {reply.get('heartbeats')} to session {reply.get('session')}; {rule}")
    sys.exit(0 if reply.get("ok") else 1)


def _uptime(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d{h:02d}h{m:02d}m" if d else f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def engine_rows(db: Path | None) -> list[dict[str, Any]]:
    from console.control import entries, resume_hint

    rows = []
    for e in entries(db):
        st = e.status()
        row: dict[str, Any] = {"session": e.session, "pid": e.pid, "db": e.db, "mode": e.mode}
        if st is None:
            alive = e.pid_alive()
            if not alive:
                _report_dead(e)
            row.update(status="not answering" if alive else "dead", state=None, nav=None, day_pnl=None,
                       uptime_s=None, attached=None,
                       resume=None if alive else resume_hint(e))
        else:
            row.update(status="finished" if st.get("finished") else "running", state=st["state"],
                       nav=st["nav"], day_pnl=st["day_pnl"], uptime_s=st["uptime_s"],
                       attached=st["attached"], seq=st["seq"], error=st.get("error") or None)
        rows.append(row)
    return rows


@click.command("ps")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def ps(db: str | None, as_json: bool) -> None:
    """Engines running in the background: state, NAV, day P&L, uptime, consoles attached."""
    rows = engine_rows(_db(db))
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no engines (start one with: console run --detach)")
        return
    click.echo(f"{'SESSION':<23} {'PID':>7} {'MODE':<10} {'STATUS':<9} {'STATE':<9} {'NAV':>14} "
               f"{'DAY P&L':>12} {'UPTIME':>10} {'ATT':>3}")
    for r in rows:
        if r["state"] is None:
            click.echo(f"{r['session']:<23} {r['pid']:>7} {r['mode']:<10} {r['status']}")
            if r.get("resume"):
                click.echo(f"    resume it: {r['resume']}")
            continue
        click.echo(f"{r['session']:<23} {r['pid']:>7} {r['mode']:<10} {r['status']:<9} {r['state']:<9} "
                   f"{r['nav']:>14,.2f} {r['day_pnl']:>+12,.2f} {_uptime(r['uptime_s']):>10} {r['attached']:>3}")
        if r.get("error"):
            click.echo(f"    error: {r['error']}")


@click.command("attach")
@click.argument("session_id", metavar="[ID|last]", default="last")
@click.option("--read-only", is_flag=True, help="Watch only: this console cannot send commands.")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--theme", default=None, help="UI theme.")
def attach(session_id: str, read_only: bool, db: str | None, theme: str | None) -> None:
    """The full console on a running engine (several consoles may attach)."""
    from console.control import AttachedSession, find

    entry = find(session_id, _db(db))
    if not entry.pid_alive():
        from console.control import NoEngine, resume_hint

        _report_dead(entry)
        raise NoEngine(f"the engine of session {entry.session} is dead; resume it: {resume_hint(entry)}")
    code = run_attached(AttachedSession(entry, read_only=read_only), theme)
    sys.exit(code)


def run_attached(remote: Any, theme: str | None) -> int:
    """Run the console on an attached engine; returns the exit code."""
    from console.app import build_app

    app = build_app(remote, **({"theme": theme} if theme else {}))  # type: ignore[arg-type]
    if hasattr(remote, "on_alert"):
        from console.attach_alerts import wire

        wire(app, remote)
    try:
        app.run()
    finally:
        remote.stop()
    if getattr(app, "stopped_by", ""):  # SIGTERM/SIGHUP/SIGINT to the console: it detaches, the engine runs on
        click.echo(f"stopped by {app.stopped_by}", err=True)
    if remote.want_stop:
        click.echo(f"stopping session {remote.session_id} ...", err=True)
        remote.stop_engine()
    for note in remote.notes:
        click.echo(note, err=True)
    if remote.engine_stopped:
        click.echo(f"session {remote.session_id} stopped  ({remote.db_path})")
        return 1 if remote.latest.error else 0
    if remote.error and not remote.engine_stopped:
        click.echo(f"session {remote.session_id}: {remote.error}", err=True)
        return 1
    click.echo(f"detached from session {remote.session_id}; the engine runs on "
               f"(console attach {remote.session_id}, console stop {remote.session_id})")
    return 0


def _report_dead(entry: Any) -> None:
    """An engine found dead says so through its alerts, once (console/alert_dead.py)."""
    from console.alert_dead import report_dead

    try:
        report_dead(entry)
    except Exception as exc:  # ps and attach work on whatever the alert does
        click.echo(f"alerts: could not raise the engine_dead alert: {exc!r}", err=True)


def wait_gone(entry: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not entry.pid_alive():
            return True
        time.sleep(0.05)
    return False


__all__ = ["attach", "cancel_all", "flatten", "halt", "heartbeat", "ps", "reduce", "reset_breaker", "resume", "stop",
           "InputError"]
