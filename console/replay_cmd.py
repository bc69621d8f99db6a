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
from core.pnl import PNL_LABEL
from core.replay import ReplayReport, verify

FILL_COLUMNS = ("ts", "symbol", "order_id", "qty", "price", "commission")


def run_replay(db_path: Path, session_id: str, what_if: str | None = None, commands: bool = True,
               bootstrap_seed: int = 0, check_models: bool = True) -> int:
    """Print the verdict; 0 when verified, 1 on a divergence. With ``what_if``
    (a TOML config) compare the session with that config instead (exit 0)."""
    from storage import fills_by_seq, iter_events, logged_setup, open_db, resolve_session, session_meta

    if what_if is not None:
        from console.whatif import run_whatif

        return run_whatif(db_path, session_id, Path(what_if), commands, bootstrap_seed)
    if not commands:
        raise InputError("--no-commands applies only with --what-if")

    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    meta = session_meta(db, sid)
    setup = logged_setup(meta, sid)
    try:
        engine = engine_from_setup(setup)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"session {sid}: logged config cannot build an engine ({exc})") from None
    fills = {seq: dict(zip(FILL_COLUMNS, row)) for seq, row in fills_by_seq(db, sid).items()}
    out = Console(stderr=True)
    total = int(meta.get("last_seq") or 0)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("replay"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} events"),
                  TimeRemainingColumn(), console=out, transient=True, disable=total < 200_000) as bar:
        task = bar.add_task("replay", total=total)
        report = verify(engine, iter_events(db, sid), fills,
                        progress=lambda seq: bar.update(task, completed=seq))
    console = Console()
    _print(console, sid, meta, report)
    ok = report.verified
    if ok and check_models:
        ok = _check_models(console, db, sid, setup)
    return 0 if ok else 1


def _check_models(out: Console, db: object, sid: str, setup: dict) -> bool:
    """Re-run the signal models from their stored weights and compare every
    logged view (skipped for sessions without models)."""
    from core.codec import from_row
    from core.config import logged_config
    from core.market.spec import MarketSpec
    from core.signals.hub import recheck
    from storage import artifact, iter_events

    n = db.execute("select count(*) from events where session = ? and kind = 'model_signal'",  # type: ignore[attr-defined]
                   [sid]).fetchone()[0]
    if not n or not setup.get("signals"):
        return True
    cfg = logged_config(setup["engine"])
    spec = MarketSpec.from_dict(setup["market"])
    rows = ((r[0], from_row(r[1], r[2], r[3], r[4]), r[5]) for r in iter_events(db, sid))  # type: ignore[arg-type]
    check = recheck(rows, lambda sha: artifact(db, sid, sha)[2], cfg.signals,  # type: ignore[arg-type]
                    [i.symbol for i in spec.instruments], seed=int(setup.get("seed", 0)),
                    bars_per_day=spec.bars_per_day)
    if check.mismatch:
        out.print(f"[bold red]MODELS DIVERGED[/] {check.mismatch}", highlight=False)
        return False
    out.print(f"[green]models reproduce[/]: {check.views:,} logged views recomputed from "
              f"{check.activations} stored weight set(s), all equal"
              + (f" ({check.unlogged} more made after the log's last row: it ends mid-step)"
                 if check.unlogged else ""))
    return True


def _print(out: Console, sid: str, meta: dict, r: ReplayReport) -> None:
    if r.divergence is not None:
        d = r.divergence
        out.print(f"[bold red]DIVERGED[/] session {sid} at seq {d.seq}: {d.reason}")
        out.print(f"  expected (log): {d.expected}", markup=False, highlight=False)
        out.print(f"  actual (now):   {d.actual}", markup=False, highlight=False)
        out.print(f"  {r.events} events matched before it")
        if d.inputs_before:
            out.print("  inputs just before it:")
            for line in d.inputs_before:
                out.print(f"    {line}", markup=False, highlight=False)
        for k, v in d.state:
            out.print(f"  {k + ':':13} {v}", markup=False, highlight=False)
        return
    note = ""
    if r.truncated:
        note = " up to its last committed event (the log ends mid-step: session did not close cleanly)"
    elif not meta.get("clean_close"):
        note = " up to its last committed event (session did not close cleanly)"
    out.print(f"[bold green]verified[/] session {sid}{note}")
    t = Table(show_header=False, box=None)
    for k, v in (("events", f"{r.events:,}"), ("inputs", f"{r.inputs:,}"), ("last seq", f"{r.last_seq:,}"),
                 ("trades", f"{r.trades:,}"), (PNL_LABEL, f"{r.pnl:,.2f}"),
                 ("max drawdown", f"{r.max_drawdown:.2%}"), ("halts", str(r.halts)),
                 ("breaker trips", str(r.breaker_trips))):
        t.add_row(k, v)
    out.print(t)
