"""Halt latency under a full-speed feed: key press (Pilot) to engine HALTED.

    .venv/bin/python benchmarks/halt_latency.py [--presses N]

Runs the real console app over a session as ``console run --speed max`` does
(engine in its own process, logging to a temporary SQLite file), presses
``h`` after a warm-up, and times until the UI's snapshot says HALTED (the
engine publishes right after applying a command). Also counts orders
accepted after the halt event in the log (must be 0). Prints figures.
``measure()`` (benchmarks/run.py) runs this script in a subprocess and reads
its output.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

import json
import sqlite3

from console.app import build_app
from console.remote import RemoteSession


SPEED: float | None = None  # --speed; None = max
FAST = True  # --no-fast-path: only the Textual key path
LOOSE = "[breakers]\nconsecutive_losses = 100000\ndaily_loss = 1.0\nmax_drawdown = 1.0\n"


def watch(session: RemoteSession, halted_at: list[float]) -> None:
    while session.latest.trading_state != "HALTED":
        time.sleep(0.0002)
    halted_at.append(time.perf_counter())


async def one_press(seed: int, tmp: Path) -> tuple[float, int, float]:
    """One session as ``console run --speed max`` runs it: engine process, SQLite log."""
    cfg = tmp / "loose.toml"  # the operator, not a breaker, must be the one to halt
    cfg.write_text(LOOSE)
    db = tmp / f"h{seed}.db"
    session = RemoteSession("new", dict(db=db, seed=seed, speed=SPEED, data=None, symbol=None,
                                        config_path=str(cfg), max_events=None, keep_alive=True))
    app = build_app(session)  # type: ignore[arg-type]
    async with app.run_test(size=(160, 48)) as pilot:
        await asyncio.sleep(2.0)  # let the feed run at full speed
        rate = session.latest.events_per_s
        halted_at: list[float] = []
        # watch from a thread: pilot.press returns only once the app is idle
        watcher = threading.Thread(target=watch, args=(session, halted_at), daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        if FAST:
            # what the terminal's input thread does with a key (console.killswitch)
            threading.Thread(target=app.on_input_thread_key, args=("h",)).start()
        await pilot.press("h")
        watcher.join(10)
        dt = halted_at[0] - t0
        await asyncio.sleep(0.3)
    session.stop()
    session.join()
    return dt, orders_after_halt(db, session.session_id), rate


def orders_after_halt(db: Path, sid: str) -> int:
    con = sqlite3.connect(db)
    halt = next(seq for seq, p in con.execute(
        "select seq, payload from events where session=? and kind='state' order by seq", (sid,))
        if json.loads(p)["new"] == "HALTED")
    return int(con.execute("select count(*) from events where session=? and kind='order_accepted' and seq>?",
                           (sid, halt)).fetchone()[0])


def measure(presses: int) -> list:  # type: ignore[type-arg]
    """Run this script in a fresh process and turn its output into a table row."""
    import re
    import subprocess
    import sys

    from _common import BENCH, Row, env

    out = subprocess.run([sys.executable, str(BENCH / "halt_latency.py"), "--presses", str(presses)],
                         env=env(), capture_output=True, text=True, timeout=600)
    text = out.stdout
    m = re.search(r"median ([\d.]+) ms, max ([\d.]+) ms", text)
    if out.returncode != 0 or m is None:
        raise RuntimeError("halt_latency.py failed: " + " | ".join((out.stderr or text).strip().splitlines()[-4:]))
    med, worst = float(m.group(1)), float(m.group(2))
    feed = re.search(r"feed with UI\s+([\d,]+)", text)
    after = re.search(r"orders accepted after the halt event: (\d+)", text)
    n_after = int(after.group(1)) if after else -1
    return [Row("5", "halt latency, key -> HALTED shown", f"{med:.1f} ms median, {worst:.1f} ms max",
                "(no target; orders after halt = 0)", n_after == 0, None,
                f"{presses} presses at feed speed max (engine process, SQLite log, input-thread fast path); "
                f"feed {feed.group(1) if feed else '?'} inputs/s; orders accepted after the halt: {n_after}",
                {"median_ms": med, "max_ms": worst, "orders_after_halt": n_after})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=3)
    ap.add_argument("--speed", default="max", help="feed speed: a market-time multiple or 'max'")
    ap.add_argument("--no-fast-path", action="store_true", help="send the key through Textual only")
    a = ap.parse_args()
    global SPEED, FAST
    SPEED = None if a.speed == "max" else float(a.speed)
    FAST = not a.no_fast_path
    with tempfile.TemporaryDirectory() as d:
        results = [asyncio.run(one_press(s, Path(d))) for s in range(1, a.presses + 1)]
    lat = [r[0] * 1000 for r in results]
    print(f"presses              {a.presses} (feed speed {a.speed}, engine process, SQLite log, "
          f"{'input-thread fast path' if FAST else 'Textual key path only'})")
    print(f"key -> HALTED shown  median {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms")
    print(f"feed with UI         {statistics.median(r[2] for r in results):,.0f} inputs/s")
    print(f"orders accepted after the halt event: {sum(r[1] for r in results)}")


if __name__ == "__main__":
    main()
