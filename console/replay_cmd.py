"""``console replay``: verify a logged session decision for decision.

Headless by construction: imports core, storage and rich, never textual.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.build import engine_from_setup
from core.errors import InputError
from core.replay import ReplayReport, verify

FILL_COLUMNS = ("ts", "symbol", "order_id", "qty", "price", "commission")


def run_replay(db_path: Path, session_id: str, what_if: str | None = None, commands: bool = True,
               bootstrap_seed: int = 0) -> int:
    """Print the verdict; 0 when verified, 1 on a divergence. With ``what_if``
    (a TOML config) compare the session with that config instead (exit 0)."""
    from storage import fills_by_seq, iter_events, open_db, resolve_session, session_meta

    if what_if is not None:
        from console.whatif import run_whatif

        return run_whatif(db_path, session_id, Path(what_if), commands, bootstrap_seed)
    if not commands:
        raise InputError("--no-commands applies only with --what-if")

    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    meta = session_meta(db, sid)
    setup = meta["config"] if isinstance(meta["config"], dict) else json.loads(meta["config"])
    try:
        engine = engine_from_setup(setup)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"session {sid}: logged config cannot build an engine ({exc})") from None
    fills = {seq: dict(zip(FILL_COLUMNS, row)) for seq, row in fills_by_seq(db, sid).items()}
    report = verify(engine, iter_events(db, sid), fills)
    _print(Console(), sid, meta, report)
    return 0 if report.verified else 1


def _print(out: Console, sid: str, meta: dict, r: ReplayReport) -> None:
    if r.divergence is not None:
        d = r.divergence
        out.print(f"[bold red]DIVERGED[/] session {sid} at seq {d.seq}: {d.reason}")
        out.print(f"  expected (log): {d.expected}", markup=False, highlight=False)
        out.print(f"  actual (now):   {d.actual}", markup=False, highlight=False)
        out.print(f"  {r.events} events matched before it")
        return
    note = ""
    if r.truncated:
        note = " up to its last committed event (the log ends mid-step: session did not close cleanly)"
    elif not meta.get("clean_close"):
        note = " up to its last committed event (session did not close cleanly)"
    out.print(f"[bold green]verified[/] session {sid}{note}")
    t = Table(show_header=False, box=None)
    for k, v in (("events", f"{r.events:,}"), ("inputs", f"{r.inputs:,}"), ("last seq", f"{r.last_seq:,}"),
                 ("trades", f"{r.trades:,}"), ("P&L", f"{r.pnl:,.2f}"),
                 ("max drawdown", f"{r.max_drawdown:.2%}"), ("halts", str(r.halts)),
                 ("breaker trips", str(r.breaker_trips))):
        t.add_row(k, v)
    out.print(t)
