"""Synthetic one-minute bars shared by every contender (ours and the peers').

Standard library only, so the peers' virtual environment can import it too.
One ``random.Random(seed)`` drives a mean-reverting walk of the log price
around 100 (per-bar sd 0.1%, pull 0.2% a bar: prices stay within about +-15%,
so a fixed-size position is the same number of lots all run long). The same
seed gives the same bars in every interpreter of the same Python version.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from array import array

START_MS = 1_767_571_200_000  # 2026-01-05 00:00 UTC, a Monday
BAR_MS = 60_000
SYMBOL = "SYN"
LOG100 = math.log(100.0)


def bars(n: int, seed: int = 7) -> tuple[array, array, array, array, array, array]:
    """(ts, open, high, low, close, volume) columns of ``n`` one-minute bars.
    ``ts`` is the bar's end in epoch milliseconds; prices start at 100.
    Cached in the temp directory (making 1M bars takes seconds)."""
    path = os.path.join(tempfile.gettempdir(), f"console-bench-bars-v1-{n}-{seed}.bin")
    cols = (array("q"), array("d"), array("d"), array("d"), array("d"), array("d"))
    try:
        with open(path, "rb") as f:
            for col in cols:
                col.fromfile(f, n)
        return cols
    except (OSError, EOFError):
        pass
    cols = _make(n, seed)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as f:
        for col in cols:
            col.tofile(f)
    os.replace(tmp, path)
    return cols


def _make(n: int, seed: int) -> tuple[array, array, array, array, array, array]:
    rng = random.Random(seed)
    ts, o, h, lo, c, v = (array("q"), array("d"), array("d"), array("d"), array("d"), array("d"))
    price = 100.0
    for i in range(n):
        op = price
        logp = math.log(op)
        price = math.exp(logp + 0.002 * (LOG100 - logp) + rng.gauss(0.0, 0.001))
        wick = abs(rng.gauss(0.0, 0.0005))
        ts.append(START_MS + (i + 1) * BAR_MS)
        o.append(round(op, 6))
        c.append(round(price, 6))
        h.append(round(max(op, price) * (1.0 + wick), 6))
        lo.append(round(min(op, price) * (1.0 - wick), 6))
        v.append(float(rng.randint(100, 1000)))
    return ts, o, h, lo, c, v


def crossovers(close: array, fast: int, slow: int) -> int:
    """Orders a stop-and-reverse SMA(fast)/SMA(slow) crossover sends on these
    closes: one to enter at the first full slow window, then one per sign
    change of SMA_fast - SMA_slow (the reference every contender must match)."""
    orders = 0
    side = 0
    fsum = ssum = 0.0
    for i, x in enumerate(close):
        fsum += x
        ssum += x
        if i >= fast:
            fsum -= close[i - fast]
        if i >= slow:
            ssum -= close[i - slow]
        if i + 1 < slow:
            continue
        diff = fsum / fast - ssum / slow
        want = 1 if diff > 0 else (-1 if diff < 0 else side)
        if want != side:
            orders += 1
            side = want
    return orders
