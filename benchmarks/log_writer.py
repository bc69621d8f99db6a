"""Log writer rows/s against raw ``executemany`` of the same rows, in one run.

    .venv/bin/python benchmarks/log_writer.py [--inputs N] [--repeats R] [--json] [--profile]

Rows: what the engine makes for N simulator inputs (ticks, bar timers,
headlines and their decisions; built before the clock starts).
Writer: ``storage.LogWriter`` (synchronous=NORMAL, ``durable=False``, as raw)
fed one ``write`` per input, as ``core.session.Session`` does, timed to the
end of ``close()`` so every row is committed; it encodes every payload
(core.codec) on its own thread, batches and commits every 50 ms or 5,000 rows.
Raw: plain ``executemany`` of the same row tuples, payloads already encoded,
into the same schema (WAL, NORMAL), 5,000 event rows per transaction, which
keeps commits well under 100 ms apart (the longest gap is reported). Also
shown: raw with the encoding inside the timer. Fresh processes, alternating,
best of R. ``--profile`` prints the writer's cProfile top entries instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _common import Row, alternate, child, emit

TARGET_RATIO = 0.8


def make_batches(n: int) -> list[tuple[int, tuple[object, ...]]]:
    """The engine's output for n simulator inputs, as (first seq, events)
    batches. ``gc.freeze()`` at the end: the batches are built before the clock
    starts and live to the end, which no session's events do (each is logged
    and dropped); left in the collected generations, the 400k-odd tuples made
    each of the writer's allocations pay for full collections that walk them
    (measured: the 200k ``write`` calls took 0.17 s with them, 0.05 s frozen).
    Both sides are built the same way."""
    import gc
    from itertools import islice

    from core.build import build_engine
    from core.config import EngineConfig
    from core.market.sim import Simulator

    sim = Simulator(seed=1)
    eng = build_engine(EngineConfig(), sim.spec)
    out = []
    for ev in islice(sim, n):
        base = eng.seq + 1
        out.append((base, tuple(eng.process(ev))))
    gc.freeze()
    return out


def child_writer(n: int, db: Path) -> None:
    from storage import LogWriter

    batches = make_batches(n)
    rows = sum(len(b) for _, b in batches)
    w = LogWriter(db, {"id": "bench"}, durable=False)
    write = w.write
    t = time.perf_counter()
    for base, evs in batches:
        write(base, evs)
    w.close(clean=True)
    dt = time.perf_counter() - t
    emit({"rate": rows / dt, "rows": rows, "seconds": dt})


def child_raw(n: int, db: Path, encode_in_timer: bool) -> None:
    import rawsql

    batches = make_batches(n)
    conn = rawsql.new_db(db, "bench")
    t0 = time.perf_counter()
    chunks: list[rawsql.Rows] = []
    cur: rawsql.Rows = ([], [], [])
    for base, evs in batches:
        rawsql.rows_of("bench", base, evs, cur)
        if len(cur[0]) >= 5_000:
            chunks.append(cur)
            cur = ([], [], [])
    chunks.append(cur)
    encode_s = time.perf_counter() - t0
    dt, rows, longest = rawsql.insert(conn, chunks)
    conn.close()
    if encode_in_timer:
        dt += encode_s
    emit({"rate": rows / dt, "rows": rows, "seconds": dt, "longest_commit_s": longest})


def profile(n: int) -> None:
    """The writer's own work (encode, batch, commit) on this thread, profiled."""
    import cProfile
    import pstats
    from collections import deque

    from storage.writer import _Worker

    batches = make_batches(n)
    with tempfile.TemporaryDirectory() as d:
        w = _Worker(Path(d) / "p.db", "bench", 5.0, 5_000, 0.05, False)
        w.open({"id": "bench", "started_at": "", "config": None, "ended_at": None, "clean_close": 0,
                "schema_version": 2, "last_seq": None})

        def go() -> None:
            w.drain(deque(batches))  # as the writer thread drains its queue: a commit per 5,000 rows
            w.commit()

        prof = cProfile.Profile()
        prof.runcall(go)
        w.close()
    pstats.Stats(prof).sort_stats("tottime").print_stats(10)


def run(mode: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        return child([str(_common.BENCH / "log_writer.py"), "--child", mode, "--inputs", str(n),
                      "--db", str(Path(d) / "bench.db")])


def measure(inputs: int, repeats: int) -> list[Row]:
    best = alternate({m: (lambda m=m: run(m, inputs)) for m in ("writer", "raw", "raw+encode")}, repeats)
    w, raw, enc = best["writer"], best["raw"], best["raw+encode"]
    ratio = w["rate"] / raw["rate"]
    detail = (f"{w['rows']:,} rows from {inputs:,} simulator inputs, best of {repeats}; raw executemany "
              f"{raw['rate']:,.0f} rows/s (longest commit {raw['longest_commit_s'] * 1000:.0f} ms); "
              f"raw incl. JSON encoding {enc['rate']:,.0f} rows/s; writer {ratio:.2f}x raw")
    return [Row("4", "log writer rows/s", f"{w['rate']:,.0f} rows/s", f">= {TARGET_RATIO}x raw executemany",
                ratio >= TARGET_RATIO, ratio / TARGET_RATIO, detail,
                {"writer": w, "raw": raw, "raw_encode": enc, "ratio": ratio})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=500_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", choices=("writer", "raw", "raw+encode"), help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.profile:
        profile(a.inputs)
    elif a.child == "writer":
        child_writer(a.inputs, a.db)
    elif a.child:
        child_raw(a.inputs, a.db, a.child == "raw+encode")
    else:
        rows = measure(a.inputs, a.repeats)
        _common.report(rows, a.json)


if __name__ == "__main__":
    main()
