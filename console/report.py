"""``console sessions`` and ``console doctor``: rich tables, no textual."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console
from rich.table import Table

PACKAGES = ("textual", "rich", "click", "numpy", "pandas", "scipy", "sqlite-utils", "pyarrow", "mypy",
            "ccxt", "alpaca-py", "keyring")  # the last three: venues (console run --venue)


def print_sessions(db_path: Path, limit: int) -> None:
    from core.pnl import PNL_NOTE
    from storage import list_sessions, open_db

    if not db_path.exists():
        Console().print(f"no sessions yet ({db_path} does not exist)")
        return
    rows = list_sessions(open_db(db_path, create=False, readonly=True))[:limit]
    out = Console()
    wide = out.width >= 120  # narrow terminals drop the source and the year
    t = Table(title=f"sessions in {db_path}", caption=PNL_NOTE, box=None, pad_edge=False,
              collapse_padding=True, header_style="bold underline")
    t.add_column("id", no_wrap=True, min_width=22)
    t.add_column("start UTC", no_wrap=True)
    for col in ("dur", "events", "trades", "P&L", "halts"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("clean", no_wrap=True, min_width=5)
    if wide:
        t.add_column("source", overflow="fold")
    for s in rows:
        dur = "-" if s.duration_s is None else f"{s.duration_s:,.0f}s"
        pnl = f"[{'green' if s.pnl >= 0 else 'red'}]{s.pnl:,.2f}[/]"
        start = s.started_at[:16].replace("T", " ")
        cells = [s.id, start if wide else start[5:], dur, f"{s.events:,}", f"{s.trades:,}", pnl,
                 str(s.halts), "yes" if s.clean else "[red]no[/]"]
        t.add_row(*cells, *([s.data_source or ""] if wide else []))
    out.print(t)


def print_doctor(db_path: Path) -> None:
    from core.build import is_compiled

    out = Console()
    t = Table(show_header=False, box=None)
    t.add_column("what", no_wrap=True)
    t.add_column("value", overflow="fold")
    t.add_row("python", f"{platform.python_version()} ({sys.executable})")
    for pkg in PACKAGES:
        try:
            t.add_row(pkg, version(pkg))
        except PackageNotFoundError:
            t.add_row(pkg, "[red]not installed[/]")
    import core.engine

    mode = "compiled by mypyc" if is_compiled() else "interpreted (pure Python)"
    t.add_row("hot path", f"{mode}: {core.engine.__file__}")
    from console.alert_sinks import notify_send_path

    send = notify_send_path()
    t.add_row("notify-send", send or "not on PATH: alerts skip desktop notifications (webhook, command, bell still go)")
    t.add_row("database", str(db_path))
    t.add_row("db health", _db_health(db_path))
    out.print(t)


def _db_health(db_path: Path) -> str:
    from core.errors import InputError
    from storage import list_sessions, open_db

    if not db_path.exists():
        return "not created yet (the first `console run` creates it)"
    try:
        db = open_db(db_path, create=False, readonly=True)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        n = len(list_sessions(db))
        unclean = db.execute("select count(*) from sessions where clean_close = 0").fetchone()[0]
    except InputError as exc:
        return f"[red]{exc}[/]"
    mark = "ok" if check == "ok" else f"[red]{check}[/]"
    return f"{mark}; {n} sessions, {unclean} not closed cleanly; journal {db.journal_mode}"
