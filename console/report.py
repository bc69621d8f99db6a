"""``console sessions`` and ``console doctor``: rich tables, no textual."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console
from rich.table import Table

PACKAGES = ("textual", "rich", "click", "numpy", "pandas", "scipy", "sqlite-utils", "pyarrow", "mypy")


def print_sessions(db_path: Path, limit: int) -> None:
    from storage import list_sessions, open_db

    if not db_path.exists():
        Console().print(f"no sessions yet ({db_path} does not exist)")
        return
    rows = list_sessions(open_db(db_path, create=False, readonly=True))[:limit]
    t = Table(title=f"sessions in {db_path}")
    for col in ("id", "start", "duration", "events", "trades", "P&L", "halts", "clean close", "source"):
        t.add_column(col, justify="right" if col in ("events", "trades", "P&L", "halts") else "left")
    for s in rows:
        dur = "-" if s.duration_s is None else f"{s.duration_s:,.0f}s"
        pnl = f"[{'green' if s.pnl >= 0 else 'red'}]{s.pnl:,.2f}[/]"
        t.add_row(s.id, s.started_at[:19], dur, f"{s.events:,}", f"{s.trades:,}", pnl, str(s.halts),
                  "yes" if s.clean else "[red]no[/]", s.data_source or "")
    Console().print(t)


def print_doctor(db_path: Path) -> None:
    from core.build import is_compiled

    out = Console()
    t = Table(show_header=False, box=None)
    t.add_row("python", f"{platform.python_version()} ({sys.executable})")
    for pkg in PACKAGES:
        try:
            t.add_row(pkg, version(pkg))
        except PackageNotFoundError:
            t.add_row(pkg, "[red]not installed[/]")
    import core.engine

    mode = "compiled by mypyc" if is_compiled() else "interpreted (pure Python)"
    t.add_row("hot path", f"{mode}: {core.engine.__file__}")
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
