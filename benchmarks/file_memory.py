"""Peak memory of reading a large price file (issue 19, item 6).

    .venv/bin/python benchmarks/file_memory.py [--mb 200] [--shape ohlcv|wide] [--json]

Writes a seeded price file of about ``--mb`` MB in a temporary folder (OHLCV:
one instrument of one-minute bars, ``2020-01-02 09:30:00,O,H,L,C,V`` rows;
wide: one-minute closes of 40 symbols), then in a fresh process loads it with
``core.market.files.load_bars`` (what ``console run --data`` does) and walks
``file_source`` over it once. Reported: the peak RSS of that process
(``ru_maxrss``), the RSS after the imports alone, the seconds, and the bars.
``--keep PATH`` keeps the generated file there (and reuses it if present).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import Row, child, emit


def write_file(path: Path, mb: int, shape: str) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    target = mb * 1_000_000
    with open(path, "w", encoding="ascii", newline="") as f:
        if shape == "ohlcv":
            f.write("Date,Open,High,Low,Close,Volume\n")
            t0 = np.datetime64("2000-01-03T00:00")
            price = 100.0
            written, i = 0, 0
            while written < target:
                n = 100_000
                steps = rng.normal(0, 0.0005, n)
                closes = price * np.exp(np.cumsum(steps))
                opens = np.r_[price, closes[:-1]]
                highs = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.0005, n))
                lows = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.0005, n))
                vols = rng.integers(100, 100_000, n)
                stamps = (t0 + np.arange(i, i + n).astype("timedelta64[m]")).astype(str)
                lines = [f"{s.replace('T', ' ')}:00,{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{v}\n"
                         for s, o, h, lo, c, v in zip(stamps, opens, highs, lows, closes, vols)]
                chunk = "".join(lines)
                f.write(chunk)
                written += len(chunk)
                price, i = float(closes[-1]), i + n
        else:
            syms = [f"S{k:02d}" for k in range(40)]
            f.write("Date," + ",".join(syms) + "\n")
            price = np.full(len(syms), 100.0)
            minute = np.datetime64("2000-01-03T00:00")
            written = 0
            while written < target:
                n = 10_000
                steps = rng.normal(0, 0.0005, (n, len(syms)))
                paths = price * np.exp(np.cumsum(steps, axis=0))
                stamps = (minute + np.arange(n).astype("timedelta64[m]")).astype(str)
                chunk = "".join(s.replace("T", " ") + ":00," + ",".join(f"{x:.4f}" for x in row) + "\n"
                                for s, row in zip(stamps, paths))
                f.write(chunk)
                written += len(chunk)
                price, minute = paths[-1], minute + np.timedelta64(n, "m")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(path: str) -> None:
    from core.market.files import file_source, load_bars

    base = peak_mb()
    t = time.perf_counter()
    mf = load_bars(path)
    loaded = peak_mb()
    n = sum(1 for _ in file_source(mf))
    emit({"rss_mb": peak_mb(), "load_rss_mb": loaded, "import_rss_mb": base, "seconds": time.perf_counter() - t,
          "bars": len(mf.bars), "events": n, "sha256": mf.sha256, "size": mf.size})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--shape", choices=("ohlcv", "wide"), default="ohlcv")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.child:
        child_main(a.child)
        return
    with tempfile.TemporaryDirectory() as d:
        path = a.keep or Path(d) / f"big_{a.shape}.csv"
        if not path.exists():
            write_file(path, a.mb, a.shape)
        size = path.stat().st_size
        r = child([str(_common.BENCH / "file_memory.py"), "--child", str(path)], timeout=3600)
    row = Row("19.6", f"peak RSS reading a {size / 1e6:.0f} MB {a.shape} CSV", f"{r['rss_mb']:.0f} MiB",
              "bounded (a few x the file at most)", None, None,
              f"{r['bars']:,} bars, {r['seconds']:.1f} s; after load_bars {r['load_rss_mb']:.0f} MiB, "
              f"imports alone {r['import_rss_mb']:.0f} MiB; {r['rss_mb'] * 2**20 / size:.2f}x the file",
              r)
    _common.report([row], a.json)


if __name__ == "__main__":
    sys.exit(main())
