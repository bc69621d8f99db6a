"""Engine throughput on bars, logging off, against peer frameworks in one run.

    .venv/bin/python benchmarks/engine_bars.py [--bars N] [--repeats R] [--json]

An SMA(20)/SMA(50) stop-and-reverse crossover with a fixed size (see
crossover.py for how our config expresses it) over N synthetic one-minute bars
(synth.py; default 1,000,000) through the full engine: ``build_engine`` from a
config, each bar fed as a ``Bar`` input then a ``bar`` ``Timer`` input, every
decision made and returned, nothing logged. Timed: ``engine.process`` over
inputs built beforehand (in chunks, outside the timer). Peers
(backtrader, NautilusTrader) run from benchmarks/.peers-venv when it exists
(peers.py). Contenders alternate, each in a fresh process; best of R.
Reports bars/s, order counts (ours: orders accepted; each must equal the
reference count of crossovers from synth.crossovers) and ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import _common
from _common import Row, alternate, child, emit

TARGET_X = 10.0  # issue 15: ours >= 10x NautilusTrader's bars/s on the same bars, in the same run


def child_main(n: int) -> None:
    import crossover
    from core.build import is_compiled

    eng = crossover.engine()
    process = eng.process
    elapsed = 0.0
    for evs in crossover.event_chunks(n):
        t = time.perf_counter()
        for ev in evs:
            process(ev)
        elapsed += time.perf_counter() - t
    emit({"rate": n / elapsed, "seconds": elapsed, "orders": eng.orders_accepted, "seq": eng.seq,
          "compiled": is_compiled(), "rss_mb": _common.peak_rss_mb()})


def ours(n: int, pure: bool | None = None) -> dict[str, Any]:
    return child([str(_common.BENCH / "engine_bars.py"), "--child", "--bars", str(n)], pure=pure)


def measure(bars: int, repeats: int, peers: bool = True) -> list[Row]:
    import crossover
    import peers as peer_mod

    names = peer_mod.available() if peers else []
    contenders = {"ours": lambda: ours(bars)}
    for name in names:
        contenders[name] = (lambda nm: lambda: peer_mod.run(nm, bars))(name)
    best = alternate(contenders, repeats)
    ref = crossover.reference_orders(bars)
    me = best["ours"]
    detail = [f"{bars:,} bars, best of {repeats}, {'compiled' if me['compiled'] else 'INTERPRETED'}; "
              f"orders ours {me['orders']:,} (reference {ref:,})"]
    data: dict[str, Any] = {"bars": bars, "repeats": repeats, "reference_orders": ref, "ours": me}
    for name in names:
        p = best[name]
        detail.append(f"{name} {peer_mod.version(name)} {p['rate']:,.0f} bars/s, {p['orders']:,} orders "
                      f"-> ours {me['rate'] / p['rate']:.1f}x")
        data[name] = p
    if not peers:
        detail.append("peers skipped")
    elif not names:
        detail.append("no peers (benchmarks/.peers-venv missing: see peers.py)")
    naut = best.get("nautilus_trader")
    if naut is None:  # the target is a ratio: without the peer in this run it cannot be judged
        detail.append(f"target {TARGET_X:g}x NautilusTrader: not judged without it")
        met: bool | None = None
        x = None
    else:
        x = me["rate"] / naut["rate"] / TARGET_X
        met = x >= 1.0 and me["orders"] == ref
    return [Row("1", "engine bars/s, logging off (SMA 20/50 crossover)", f"{me['rate']:,.0f} bars/s",
                f">= {TARGET_X:g}x NautilusTrader", met, x, "; ".join(detail), data)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.bars)
        return
    rows = measure(a.bars, a.repeats, not a.no_peers)
    _common.report(rows, a.json)


if __name__ == "__main__":
    sys.exit(main())
