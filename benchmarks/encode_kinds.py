"""Payload encoding cost by event kind, on the rows a logged crossover makes.

    .venv/bin/python benchmarks/encode_kinds.py [--bars N] [--repeats R]

The SMA 20/50 crossover of engine_logged.py (crossover.py) over N bars, its
inputs and decisions collected (untimed); then ``core.codec.encode_payload``
over each kind's events, timed, best of R passes, microseconds per event.
Shown four ways in one process, so the columns compare side by side: as the
log writer encodes (core.rows: compiled, by its plans; interpreted, by the
codec); by core.rows' plans whether or not the writer takes them here (each
field by its declared type, the floats formatted by orjson where its text is
repr's); as the codec encodes
(orjson for kinds with three floats or more, checked, else json's C encoder;
a %-format for the all-float kinds), which replay and the writer's rare
values use; and the codec with orjson switched off.
Not in run.py: it explains row 4's and row 2's encoding share, it has no
target of its own.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

import _common  # noqa: F401 - puts the repo on sys.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import crossover

    from core import codec, rows

    eng = crossover.engine()
    by_kind: dict[str, list[object]] = defaultdict(list)
    for evs in crossover.event_chunks(a.bars):
        for ev in evs:
            for e in eng.process(ev):
                by_kind[codec.kind_of(e)].append(e)  # type: ignore[arg-type]

    def per_event(events: list[object], encode: Any = codec.encode_payload) -> float:
        best = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            for e in events:
                encode(e)
            best = min(best, time.perf_counter() - t)
        return best / len(events) * 1e6

    writer = {k: per_event(es, rows.encode) for k, es in by_kind.items()}
    if rows._USE_PLANS:  # compiled: the writer's path is the plans
        planned = writer
    else:  # interpreted: switch the plans on to time them (a module global there)
        rows._USE_PLANS = True  # type: ignore[misc]
        try:
            planned = {k: per_event(es, rows.encode) for k, es in by_kind.items()}
        finally:
            rows._USE_PLANS = False  # type: ignore[misc]
    on = {k: per_event(es) for k, es in by_kind.items()}
    kept = codec._ORJSON_KINDS
    codec._ORJSON_KINDS = frozenset()
    try:
        off = {k: per_event(es) for k, es in by_kind.items()}
    finally:
        codec._ORJSON_KINDS = kept
    compiled = "compiled" if rows.__file__.endswith((".so", ".pyd")) else "interpreted"
    print(f"{a.bars:,} bars of the SMA 20/50 crossover; us per event, best of {a.repeats}; core.rows {compiled}")
    print(f"{'kind':<16}{'events':>9}{'writer':>11}{'plans':>11}{'codec':>11}{'json only':>11}")
    for k in sorted(by_kind, key=lambda k: -len(by_kind[k])):
        print(f"{k:<16}{len(by_kind[k]):>9,}{writer[k]:>11.2f}{planned[k]:>11.2f}{on[k]:>11.2f}{off[k]:>11.2f}")
    totals = [sum(col[k] * len(v) for k, v in by_kind.items()) / a.bars for col in (writer, planned, on, off)]
    print(f"{'per bar':<16}{'':>9}" + "".join(f"{t:>11.2f}" for t in totals))


if __name__ == "__main__":
    main()
