"""The baseline the log writer is measured against: plain ``sqlite3``
``executemany`` of the same rows into the same schema (storage.schema, WAL),
one transaction per batch, nothing else (rows encoded beforehand, untimed).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.codec import is_input_kind, to_row
from core.events import Fill, OrderAccepted
from storage.writer import _INSERT_EVENT, _INSERT_FILL, _INSERT_ORDER

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def rows_of(sid: str, seq_start: int, events: Sequence[object], into: Rows) -> None:
    """Append the rows storage.writer makes for ``events`` (the same tuples)."""
    ev_rows, orders, fills = into
    for seq, ev in enumerate(events, seq_start):
        kind, ts, symbol, payload = to_row(ev)  # type: ignore[arg-type]
        ev_rows.append((sid, seq, ts, kind, symbol, is_input_kind(kind), payload))
        if isinstance(ev, OrderAccepted):
            orders.append((sid, seq, ts, symbol, ev.qty, ev.ref_price, ev.origin, ev.intent_seq))
        elif isinstance(ev, Fill):
            fills.append((sid, seq, ts, symbol, ev.order_id, ev.qty, ev.price, ev.commission))


def new_db(path: Path, sid: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A log database with the real schema and an (empty) session ``sid``."""
    from storage import LogWriter

    LogWriter(path, {"id": sid}, durable=synchronous == "FULL").close(clean=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def insert(conn: sqlite3.Connection, batches: Iterable[Rows]) -> tuple[float, int, float]:
    """Insert each batch in one transaction. Returns (seconds, event rows, the
    longest gap between commits in seconds)."""
    total = 0
    elapsed = 0.0
    longest = 0.0
    for ev_rows, orders, fills in batches:
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT_EVENT, ev_rows)
        conn.executemany(_INSERT_ORDER, orders)
        conn.executemany(_INSERT_FILL, fills)
        conn.execute("COMMIT")
        dt = time.perf_counter() - t
        elapsed += dt
        longest = max(longest, dt)
        total += len(ev_rows)
    return elapsed, total, longest
