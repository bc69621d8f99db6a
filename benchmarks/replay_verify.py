"""Replay verification speed: ``core.replay.verify`` over a logged session.

    .venv/bin/python benchmarks/replay_verify.py [--inputs N] [--repeats R] [--json]

Logs a headless session first (simulator seed 1, N inputs, default config,
no signal models; ``Session`` + ``LogWriter``, untimed), then, as ``console
replay`` does, builds a fresh engine and verifies every logged row: streamed
from SQLite by ``storage.iter_events`` with the ``fills`` table check (the
headline figure), and once more over rows already in memory (verify alone).
events/s counts every row checked (inputs and decisions). Fresh process per
run, best of R. Target: >= 500,000 events/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
from _common import Row, alternate, child, emit

TARGET = 500_000.0


def child_main(n: int, db: Path) -> None:
    from core.build import build_engine, is_compiled
    from core.config import EngineConfig
    from core.market.sim import Simulator
    from core.replay import verify
    from core.session import Session
    from storage import LogWriter, fills_by_seq, iter_events, open_db

    sim = Simulator(seed=1)
    writer = LogWriter(db, {"id": "bench"}, durable=False)
    session = Session(build_engine(EngineConfig(), sim.spec), sim, writer, "bench", max_events=n)
    session.run()
    writer.close(clean=True)
    rdb = open_db(db, create=False, readonly=True)
    fill_cols = ("ts", "symbol", "order_id", "qty", "price", "commission")  # console.replay_cmd.FILL_COLUMNS
    t = time.perf_counter()
    fills = {seq: dict(zip(fill_cols, row)) for seq, row in fills_by_seq(rdb, "bench").items()}
    rep = verify(build_engine(EngineConfig(), sim.spec), iter_events(rdb, "bench"), fills)
    dt = time.perf_counter() - t
    rows = list(iter_events(rdb, "bench"))
    t = time.perf_counter()
    rep2 = verify(build_engine(EngineConfig(), sim.spec), rows, None)
    dt2 = time.perf_counter() - t
    emit({"rate": rep.events / dt, "events": rep.events, "verified": rep.verified and rep2.verified,
          "memory_rate": rep2.events / dt2, "compiled": is_compiled(),
          "divergence": None if rep.divergence is None else rep.divergence.reason})


def run(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        return child([str(_common.BENCH / "replay_verify.py"), "--child", "--inputs", str(n),
                      "--db", str(Path(d) / "bench.db")])


def measure(inputs: int, repeats: int) -> list[Row]:
    r = alternate({"replay": lambda: run(inputs)}, repeats)["replay"]
    detail = (f"{r['events']:,} rows from {inputs:,} simulator inputs, best of {repeats}, "
              f"{'compiled' if r['compiled'] else 'INTERPRETED'}; streamed from SQLite with the fills check; "
              f"verify over rows in memory {r['memory_rate']:,.0f} events/s; verified: {r['verified']}")
    if r["divergence"]:
        detail += f"; DIVERGENCE: {r['divergence']}"
    return [Row("7", "replay verify events/s", f"{r['rate']:,.0f} events/s", f">= {TARGET:,.0f} events/s",
                r["rate"] >= TARGET and bool(r["verified"]), r["rate"] / TARGET, detail, r)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=500_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.inputs, a.db)
        return
    rows = measure(a.inputs, a.repeats)
    _common.report(rows, a.json)


if __name__ == "__main__":
    main()
