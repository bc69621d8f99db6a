#!/usr/bin/env python3
"""Run the benchmark suite and print a summary table (issue 7).

    benchmarks/run.py [--quick | --smoke] [--only engine,replay,...] [--no-peers] [--json PATH|-]

Each benchmark is its own script in this folder (its docstring says what it
measures and how); this runs them in order and tabulates their rows. Within a
benchmark the contenders alternate in fresh processes and each keeps its best
run (the machine is shared and noisy), so ratios are measured side by side.

  engine    engine_bars.py     bars/s, logging off, SMA 20/50 crossover, vs backtrader/NautilusTrader
  logged    engine_logged.py   bars/s with every event logged, vs raw sqlite3 executemany
  compiled  engine_loop.py     compiled (mypyc) vs interpreted engine loop
  writer    log_writer.py      LogWriter rows/s vs raw executemany
  halt      halt_latency.py    key press -> HALTED under a max-speed feed
  ui        ui_load.py         UI refreshes/s and engine rate with the UI vs headless
  replay    replay_verify.py   core.replay.verify events/s over a logged session
  memory    memory.py          peak RSS of 1M (and 10M) input headless sessions
  signals   signals_bar.py     HMM / forest / LSTM bar-close time for 20 symbols

--quick uses smaller sizes (minutes); --smoke is tiny (seconds, for CI). A
benchmark that fails prints an error row and the rest still run. Run it with
the project's venv (it re-executes itself there when started otherwise).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_VENV_PY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
if _VENV_PY.exists() and Path(sys.prefix).resolve() != _VENV_PY.parents[1].resolve() \
        and not os.environ.get("CONSOLE_BENCH_NO_REEXEC"):
    os.environ["CONSOLE_BENCH_NO_REEXEC"] = "1"
    os.execv(str(_VENV_PY), [str(_VENV_PY), __file__, *sys.argv[1:]])

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Row  # noqa: E402

# sizes: (smoke, quick, full)
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "engine": ({"bars": 3_000, "repeats": 1}, {"bars": 50_000, "repeats": 2}, {"bars": 1_000_000, "repeats": 2}),
    "logged": ({"bars": 2_000, "repeats": 1}, {"bars": 20_000, "repeats": 2}, {"bars": 200_000, "repeats": 2}),
    "compiled": ({"events": 5_000, "repeats": 1}, {"events": 100_000, "repeats": 2},
                 {"events": 300_000, "repeats": 3}),
    "writer": ({"inputs": 5_000, "repeats": 1}, {"inputs": 100_000, "repeats": 2},
               {"inputs": 500_000, "repeats": 3}),
    "halt": ({"presses": 1}, {"presses": 2}, {"presses": 5}),
    "ui": ({"seconds": 1.0, "repeats": 1}, {"seconds": 3.0, "repeats": 1}, {"seconds": 5.0, "repeats": 2}),
    "replay": ({"inputs": 5_000, "repeats": 1}, {"inputs": 100_000, "repeats": 2},
               {"inputs": 500_000, "repeats": 2}),
    "memory": ({"sizes": [20_000]}, {"sizes": [1_000_000]}, {"sizes": [1_000_000, 10_000_000]}),
    "signals": ({"bars": 20}, {"bars": 100}, {"bars": 300}),
}


def _runner(name: str, peers: bool) -> Callable[..., list[Row]]:
    if name == "engine":
        import engine_bars

        return lambda **kw: engine_bars.measure(kw["bars"], kw["repeats"], peers)
    if name == "logged":
        import engine_logged

        return engine_logged.measure
    if name == "compiled":
        import engine_loop

        return engine_loop.measure  # type: ignore[no-any-return]
    if name == "writer":
        import log_writer

        return log_writer.measure
    if name == "halt":
        import halt_latency

        return halt_latency.measure  # type: ignore[no-any-return]
    if name == "ui":
        import ui_load

        return ui_load.measure
    if name == "replay":
        import replay_verify

        return replay_verify.measure
    if name == "memory":
        import memory

        return memory.measure
    import signals_bar

    return signals_bar.measure


def table(rows: list[Row]) -> str:
    head = ("#", "benchmark", "figure", "target", "met", "vs target")
    body = [(r.key, r.what, r.figure, r.target, "n/a" if r.met is None else ("yes" if r.met else "NO"),
             "" if r.ratio is None else f"{r.ratio:.2f}x") for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sizes (minutes)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes (seconds; CI)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(SIZES)}")
    ap.add_argument("--no-peers", action="store_true", help="skip backtrader/NautilusTrader")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON ('-' for stdout)")
    a = ap.parse_args()
    names = [n.strip() for n in a.only.split(",") if n.strip()] or list(SIZES)
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; known: {', '.join(SIZES)}")
    level = 0 if a.smoke else (1 if a.quick else 2)
    started = datetime.now(timezone.utc)
    rows: list[Row] = []
    for name in names:
        kw = SIZES[name][level]
        t = time.perf_counter()
        print(f"== {name} {kw}", file=sys.stderr, flush=True)
        try:
            got = _runner(name, not a.no_peers and not a.smoke)(**kw)
        except Exception as exc:  # one broken benchmark must not hide the others
            got = [Row(name, f"{name}: FAILED", "error", "", False, None, f"{type(exc).__name__}: {exc}"[:400])]
        for r in got:
            r.data["wall_s"] = round(time.perf_counter() - t, 1)
        rows.extend(got)
        _common.print_rows(got)
    pure = _common.inherited_pure()
    cmd = "benchmarks/run.py " + " ".join(sys.argv[1:])
    meta = {"command": cmd.strip(), "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}",
            "interpreted": pure}
    print()
    print(f"{meta['command']}  |  {meta['date']}  |  {meta['machine']}"
          + ("  |  CONSOLE_PURE_PYTHON=1" if pure else ""))
    print(table(rows))
    for r in rows:
        if r.detail:
            print(f"  [{r.key}] {r.detail}")
    if a.json:
        doc = json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=1, default=str)
        if a.json == "-":
            print(doc)
        else:
            Path(a.json).write_text(doc + "\n")
    return 0 if all(r.figure != "error" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
