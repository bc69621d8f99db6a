"""Peak memory of headless sessions, and whether it grows with history.

    .venv/bin/python benchmarks/memory.py [--sizes 1000000,10000000] [--json]

Each size runs in a fresh process: a headless session as ``console run
--headless --events N`` runs it (simulator seed 1, default config, ``Session``
+ ``LogWriter`` with its defaults, speed max) but without the signal models
(their training windows are capped by config, and torch/sklearn alone add a
few hundred MiB that do not depend on N). Reported: peak RSS
(``resource.getrusage``, ru_maxrss) at the end, and the same session with a
sink that drops every row (the engine and session alone). Growth is the
largest size's peak over the smallest's. Target: <= 1.2x.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
from _common import Row, child, emit

TARGET_GROWTH = 1.2


class NullSink:
    def write(self, seq_start: int, events: list[object]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, clean: bool) -> None:
        pass


def child_main(n: int, db: Path | None) -> None:
    from core.build import build_engine
    from core.config import EngineConfig
    from core.market.sim import Simulator
    from core.session import Session

    sim = Simulator(seed=1)
    if db is not None:
        from storage import LogWriter

        sink: object = LogWriter(db, {"id": "bench"})
    else:
        sink = NullSink()
    session = Session(build_engine(EngineConfig(), sim.spec), sim, sink, "bench", max_events=n)  # type: ignore[arg-type]
    t = time.perf_counter()
    session.run()
    sink.close(clean=True)  # type: ignore[attr-defined]
    dt = time.perf_counter() - t
    emit({"inputs": session.inputs, "seq": session.engine.seq, "rss_mb": _common.peak_rss_mb(),
          "seconds": dt, "error": session.error})


def run(n: int, logged: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        args = [str(_common.BENCH / "memory.py"), "--child", str(n)]
        if logged:
            args += ["--db", str(Path(d) / "bench.db")]
        return child(args, timeout=3600)


def measure(sizes: list[int]) -> list[Row]:
    logged = {n: run(n, True) for n in sizes}
    bare = {n: run(n, False) for n in sizes}
    lo, hi = min(sizes), max(sizes)
    parts = [f"{n:,} inputs: logged {logged[n]['rss_mb']:.0f} MiB ({logged[n]['seconds']:.0f} s), "
             f"engine+session only {bare[n]['rss_mb']:.0f} MiB" for n in sizes]
    if lo == hi:
        return [Row("8", f"peak RSS, {lo:,}-input headless session", f"{logged[lo]['rss_mb']:.0f} MiB",
                    f"growth <= {TARGET_GROWTH}x", None, None,
                    "; ".join(parts) + "; growth not measured (one size only: --quick)",
                    {"logged": logged, "bare": bare})]
    growth = float(logged[hi]["rss_mb"]) / float(logged[lo]["rss_mb"])  # type: ignore[arg-type]
    bare_growth = float(bare[hi]["rss_mb"]) / float(bare[lo]["rss_mb"])  # type: ignore[arg-type]
    return [Row("8", f"peak RSS growth, {hi:,} vs {lo:,} inputs", f"{growth:.2f}x",
                f"<= {TARGET_GROWTH}x", growth <= TARGET_GROWTH, TARGET_GROWTH / growth,
                "; ".join(parts) + f"; engine+session only growth {bare_growth:.2f}x",
                {"logged": logged, "bare": bare, "growth": growth, "bare_growth": bare_growth})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.child, a.db)
        return
    rows = measure([int(s) for s in a.sizes.split(",")])
    _common.report(rows, a.json)


if __name__ == "__main__":
    main()
