"""Engine throughput with every input and decision logged, against raw SQLite.

    .venv/bin/python benchmarks/engine_logged.py [--bars N] [--repeats R] [--json]

Ours: the crossover of engine_bars.py (crossover.py) run as ``console run
--headless`` runs a session: ``core.session.Session`` over the bar inputs with
a ``storage.LogWriter`` sink (its defaults: durable, synchronous=FULL, a
write-ahead flush before each accepted order). Timed: ``Session.run()`` plus
``LogWriter.close()``, so every row is committed when the clock stops (the
inputs are built in chunks inside the loop, about 1 us each).
Raw: the same rows (the engine's output for the same bars, encoded exactly as
the writer encodes them, outside the timer) inserted with ``executemany`` into
the same schema, WAL, synchronous=NORMAL, 5,000 event rows per transaction
(rawsql.py). Both in fresh processes, alternating, best of R.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _common import Row, alternate, child, emit

TARGET = 300_000.0  # bars/s
TARGET_RATIO = 0.5  # of raw


def child_log(n: int, db: Path) -> None:
    import crossover
    from core.session import Session
    from storage import LogWriter

    eng = crossover.engine()
    writer = LogWriter(db, {"id": "bench"})
    flushes = 0
    flush_s = 0.0
    real_flush = writer.flush

    def counted() -> None:
        nonlocal flushes, flush_s
        flushes += 1
        t0 = time.perf_counter()
        real_flush()
        flush_s += time.perf_counter() - t0

    writer.flush = counted  # type: ignore[method-assign]
    source = (ev for evs in crossover.event_chunks(n) for ev in evs)
    session = Session(eng, source, writer, "bench", speed=None)
    t = time.perf_counter()
    session.run()
    writer.close(clean=not session.error)
    dt = time.perf_counter() - t
    emit({"rate": n / dt, "seconds": dt, "rows": eng.seq, "orders": eng.orders_accepted,
          "flushes": flushes, "flush_s": flush_s, "error": session.error})


def child_raw(n: int, db: Path) -> None:
    import crossover
    import rawsql

    conn = rawsql.new_db(db, "bench")
    eng = crossover.engine()
    elapsed, rows = 0.0, 0
    for evs in crossover.event_chunks(n):
        batches: list[rawsql.Rows] = []
        cur: rawsql.Rows = ([], [], [])
        for ev in evs:
            base = eng.seq + 1
            rawsql.rows_of("bench", base, eng.process(ev), cur)
            if len(cur[0]) >= 5_000:
                batches.append(cur)
                cur = ([], [], [])
        batches.append(cur)
        dt, k, _ = rawsql.insert(conn, batches)
        elapsed += dt
        rows += k
    conn.close()
    emit({"rate": n / elapsed, "seconds": elapsed, "rows": rows, "orders": eng.orders_accepted})


def run(mode: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        return child([str(_common.BENCH / "engine_logged.py"), "--child", mode, "--bars", str(n),
                      "--db", str(Path(d) / "bench.db")])


def measure(bars: int, repeats: int) -> list[Row]:
    best = alternate({"log": lambda: run("log", bars), "raw": lambda: run("raw", bars)}, repeats)
    log, raw = best["log"], best["raw"]
    ratio = log["rate"] / raw["rate"]
    detail = (f"{bars:,} bars ({log['rows']:,} rows), best of {repeats}; raw executemany "
              f"{raw['rate']:,.0f} bars/s ({raw['rows'] / raw['seconds']:,.0f} rows/s) -> ours {ratio:.2f}x raw "
              f"(target {TARGET_RATIO}x); {log['flushes']:,} write-ahead flushes (one per accepted order), "
              f"the engine waiting in them {log['flush_s']:.2f} s of {log['seconds']:.2f} s")
    if log["error"]:
        detail += f"; SESSION ERROR: {log['error']}"
    return [Row("2", "engine bars/s, every event logged", f"{log['rate']:,.0f} bars/s",
                f">= {TARGET:,.0f} bars/s and >= {TARGET_RATIO}x raw",
                log["rate"] >= TARGET and ratio >= TARGET_RATIO and not log["error"],
                min(log["rate"] / TARGET, ratio / TARGET_RATIO), detail,
                {"bars": bars, "log": log, "raw": raw, "ratio_to_raw": ratio})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", choices=("log", "raw"), help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        (child_log if a.child == "log" else child_raw)(a.bars, a.db)
        return
    rows = measure(a.bars, a.repeats)
    _common.report(rows, a.json)


if __name__ == "__main__":
    main()
