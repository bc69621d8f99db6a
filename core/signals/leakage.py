"""Look-ahead (leakage) check: a feature at t may use data up to t, never after.

``find_lookahead(make, closes, cuts)`` builds the features twice, from the
whole window and from the window cut just after bar t, and compares every
feature row at or before t: if any differs, some feature at that bar read
data after it. ``make(closes)`` returns ``(ts, names, rows)``: the bar ts of
each feature row (int ns, one per row; several rows may share a ts), the
feature names and a (rows, features) array (a (rows, steps, features) array
of input windows is flattened). Models run it in ``fit`` (params
``leak_check``, default on) at a few seeded cut points, and tests call
``assert_no_lookahead`` on any feature builder.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError

Array = npt.NDArray[np.float64]
Maker = Callable[[pd.DataFrame], tuple[Any, Sequence[str], Array]]


class LeakageError(DataError):
    """A feature at bar t changed when the bars after t were removed."""


def find_lookahead(make: Maker, closes: pd.DataFrame, cuts: Sequence[int], what: str = "features") -> str:
    """"" when no feature row at or before each cut row changes on cutting; else the one-line finding."""
    ts_full, names, full = make(closes)
    ts_full = np.asarray(ts_full, dtype=np.int64)
    full = np.asarray(full, dtype=np.float64).reshape(len(ts_full), -1)
    for cut in cuts:
        if not 0 < cut < len(closes) - 1:
            continue
        t_cut = int(closes.index[cut])
        try:
            ts_part, _, part = make(closes.iloc[: cut + 1])
        except DataError:
            continue  # too few bars before this cut to build any row
        ts_part = np.asarray(ts_part, dtype=np.int64)
        part = np.asarray(part, dtype=np.float64).reshape(len(ts_part), -1)
        a = full[ts_full <= t_cut]
        b = part[ts_part <= t_cut]
        if a.shape != b.shape:
            return (f"{what}: leakage: {len(a)} feature rows up to ts {t_cut} from the whole window but "
                    f"{len(b)} from the window cut at that bar (rows depend on later bars)")
        bad = ~np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
        if bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            row_ts = int(ts_full[ts_full <= t_cut][r])
            n = len(names)
            name = names[c % n] if n else str(c)
            lag = f" (input step {c // n})" if n and a.shape[1] > n else ""
            return (f"{what}: leakage: feature {name}{lag} at ts {row_ts} is {float(a[r, c])!r} from the whole window "
                    f"but {float(b[r, c])!r} without the bars after ts {t_cut}: it uses data after its bar")
    return ""


def check_no_lookahead(make: Maker, closes: pd.DataFrame, seed: int, what: str, n_cuts: int = 2) -> None:
    """Runtime check in ``fit``: raise ``LeakageError`` on look-ahead at
    ``n_cuts`` cut rows drawn (seeded) from the middle half of the window."""
    n = len(closes)
    if n < 8:
        return
    rng = np.random.default_rng(seed)
    cuts = sorted(int(c) for c in rng.integers(n // 2, n - 2, size=n_cuts))
    found = find_lookahead(make, closes, cuts, what)
    if found:
        raise LeakageError(found)


def assert_no_lookahead(make: Maker, closes: pd.DataFrame, cuts: Sequence[int] | None = None) -> None:
    """Test helper: AssertionError naming the feature, bar and cut when any
    feature looks ahead (every 7th row from the middle on by default)."""
    rows = list(cuts) if cuts is not None else list(range(len(closes) // 2, len(closes) - 1, 7))
    found = find_lookahead(make, closes, rows)
    assert not found, found
