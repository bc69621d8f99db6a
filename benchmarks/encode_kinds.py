"""Payload encoding cost by event kind, on the rows a logged crossover makes.

    .venv/bin/python benchmarks/encode_kinds.py [--bars N] [--repeats R]

The SMA 20/50 crossover of engine_logged.py (crossover.py) over N bars, its
inputs and decisions collected (untimed); then ``core.codec.encode_payload``
over each kind's events, timed, best of R passes, microseconds per event.
Shown twice in one process: as the log writer encodes (orjson for kinds with
three floats or more, checked, else json's C encoder; a %-format for the
all-float kinds) and with orjson switched off (json's encoder for every kind
the %-format does not take), so the two columns compare side by side.
Not in run.py: it explains row 4's and row 2's encoding share, it has no
target of its own.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import _common  # noqa: F401 - puts the repo on sys.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import crossover

    from core import codec

    eng = crossover.engine()
    by_kind: dict[str, list[object]] = defaultdict(list)
    for evs in crossover.event_chunks(a.bars):
        for ev in evs:
            for e in eng.process(ev):
                by_kind[codec.kind_of(e)].append(e)  # type: ignore[arg-type]

    def per_event(events: list[object]) -> float:
        best = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            for e in events:
                codec.encode_payload(e)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - t)
        return best / len(events) * 1e6

    on = {k: per_event(es) for k, es in by_kind.items()}
    kept = codec._ORJSON_KINDS
    codec._ORJSON_KINDS = frozenset()
    try:
        off = {k: per_event(es) for k, es in by_kind.items()}
    finally:
        codec._ORJSON_KINDS = kept
    print(f"{a.bars:,} bars of the SMA 20/50 crossover; us per event, best of {a.repeats}")
    print(f"{'kind':<16}{'events':>9}{'as logged':>11}{'json only':>11}")
    for k in sorted(by_kind, key=lambda k: -len(by_kind[k])):
        print(f"{k:<16}{len(by_kind[k]):>9,}{on[k]:>11.2f}{off[k]:>11.2f}")
    total_on = sum(on[k] * len(v) for k, v in by_kind.items()) / a.bars
    total_off = sum(off[k] * len(v) for k, v in by_kind.items()) / a.bars
    print(f"{'per bar':<16}{'':>9}{total_on:>11.2f}{total_off:>11.2f}")


if __name__ == "__main__":
    main()
