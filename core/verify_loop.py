"""The replay verifier's per-row work, compiled with the engine (setup.py HOT).

``RowCheck`` keeps what ``core.replay.Verifier`` carries from row to row (the
decisions the engine made for the last input, the counts) and takes the
common rows itself, each with no more work than it needs:

- an input in its place: decoded (a canonical all-float payload by
  ``decode_floats``, any other by ``core.codec.from_row``) and fed;
- a decision in its place that is the one the engine made: kind, ts and
  symbol compared, the payload text compared with ``encode_payload``'s.

Anything else (a row out of place or of the wrong type, a decision that
differs, a fill to check against the fills table, a payload that does not
decode) is declined before any state changes, and the verifier's
``row_checked`` takes it with the full checks and their messages. So a row
taken here is one ``row_checked`` would have accepted, with the same effect;
tests/test_verify_loop.py holds the two to that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from core.breakers import TRIPPED
from core.codec import _KIND_OF, DecodeError, encode_payload, from_row
from core.engine import Engine
from core.events import INPUT_KINDS, BreakerChanged, Fill, RiskSnapshot

RECENT: Final = 5  # input rows kept for a divergence's report

class FloatPlan:
    """How an all-float kind's canonical payload reads: the key texts in
    sorted order (``{"close":``, ``,"high":``, ...) and, for each field after
    ts and symbol, the index of its value among them."""

    def __init__(self, cls: type, keys: list[str], order: list[int]) -> None:
        self.cls = cls
        self.keys = keys
        self.order = order


def _float_plan(cls: type) -> FloatPlan | None:
    """As core.codec's fast decode plan: every field after ts and symbol a float, none defaulted."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
    if fields[:2] != ("ts", "symbol") or defaults:
        return None
    names = sorted(fields[2:])
    annotations: dict[str, Any] = cls.__annotations__
    if not names or any(annotations.get(n) not in (float, "float") for n in names):
        return None
    keys = [("{" if i == 0 else ",") + '"' + n + '":' for i, n in enumerate(names)]
    return FloatPlan(cls, keys, [names.index(f) for f in fields[2:]])


FLOAT_INPUTS: Final[dict[str, FloatPlan]] = {
    kind: plan for kind, cls in INPUT_KINDS.items() if (plan := _float_plan(cls)) is not None
}


# Interpreted, the character loops below cost more than core.codec's regular
# expression does, so the fast path reads with them only when compiled.
_SCAN: Final[dict[str, FloatPlan]] = FLOAT_INPUTS if not __file__.endswith(".py") else {}


def _key_end(s: str, i: int, n: int, key: str) -> int:
    """The index past ``key`` when ``s`` holds it at ``i``; -1 otherwise."""
    m = len(key)
    if i + m > n:
        return -1
    for j in range(m):
        if ord(s[i + j]) != ord(key[j]):
            return -1
    return i + m


def _number_end(s: str, i: int, n: int) -> int:
    """The index past the number at ``s[i]`` when it is
    ``-?(0|[1-9][0-9]*)\\.[0-9]+`` with at most 15 digits; -1 for anything
    else (an exponent, more digits, not JSON: the general decoder's turn)."""
    if i < n and ord(s[i]) == 45:  # '-'
        i += 1
    start = i
    while i < n and 48 <= ord(s[i]) <= 57:
        i += 1
    whole = i - start
    if whole == 0 or (whole > 1 and ord(s[start]) == 48) or i >= n or ord(s[i]) != 46:  # '0', '.'
        return -1
    i += 1
    frac_start = i
    while i < n and 48 <= ord(s[i]) <= 57:
        i += 1
    if i == frac_start or whole + i - frac_start > 15:
        return -1
    return i


def _number(s: str, i: int, end: int) -> float:
    """The value of the number ``_number_end`` found at ``s[i:end]``: its
    digits as an integer over a power of ten, both exact in a double (under
    2**53 and 10**15; the power is built by multiplying, exact up to 10**22),
    so the one rounding of the division gives the correctly rounded value of
    the decimal text, which is what ``float()`` (and so ``json.loads``)
    returns for it (Clinger's fast path)."""
    neg = ord(s[i]) == 45
    if neg:
        i += 1
    mant = 0
    scale = 1.0
    in_frac = False
    while i < end:
        c = ord(s[i])
        if c == 46:
            in_frac = True
        else:
            mant = mant * 10 + (c - 48)
            if in_frac:
                scale *= 10.0
        i += 1
    x = float(mant) / scale
    return -x if neg else x


_TUPLE_NEW: Final = tuple.__new__


def decode_floats(plan: FloatPlan, ts: int, symbol: str, payload: str) -> object | None:
    """The event of an all-float kind from its canonical payload (keys sorted,
    no spaces, each number as ``_number_end`` takes), equal to
    ``core.codec.from_row``'s; None for any other text, which is then the
    general decoder's to read or reject."""
    n = len(payload)
    vals: list[float] = []
    i = 0
    for key in plan.keys:
        i = _key_end(payload, i, n, key)
        if i < 0:
            return None
        end = _number_end(payload, i, n)
        if end < 0:
            return None
        vals.append(_number(payload, i, end))
        i = end
    if i != n - 1 or ord(payload[i]) != 125:  # '}'
        return None
    # what the NamedTuple's own __new__ does (typing.NamedTuple allows no other), without its Python frame
    o = plan.order
    if len(o) == 2:  # a tick
        return _TUPLE_NEW(plan.cls, (ts, symbol, vals[o[0]], vals[o[1]]))
    if len(o) == 5:  # a bar
        return _TUPLE_NEW(plan.cls, (ts, symbol, vals[o[0]], vals[o[1]], vals[o[2]], vals[o[3]], vals[o[4]]))
    return _TUPLE_NEW(plan.cls, (ts, symbol, *[vals[j] for j in o]))


class RowCheck:
    """The verifier's state between rows, and its fast path (module doc).

    ``made`` is the last input fed followed by the decisions it led to;
    ``made[at:]`` are those not matched yet, ``made[i]`` having seq
    ``base + i``."""

    def __init__(self, engine: Engine, fills_table: object | None) -> None:
        self.engine = engine
        self.check_fills = fills_table is not None
        self.made: list[object] = []
        self.at = 1
        self.base: Any = 0  # as logged (the checked path takes any seq equal to the engine's)
        self.checked = 0
        self.inputs = 0
        self.trades = 0
        self.trips = 0
        self.last_seq: Any = 0  # as logged: a damaged decision row's seq need not be an int
        self.last_nav: float | None = None  # the last verified risk snapshot's NAV
        self.ring: list[tuple[object, ...]] = []  # the last RECENT input rows, oldest at ring_at once full
        self.ring_at = 0

    # ------------------------------------------------------------ the state, for the checked path

    def pending(self) -> list[tuple[int, object]]:
        """``(seq, decision)`` made now and not matched yet."""
        return [(self.base + i, self.made[i]) for i in range(self.at, len(self.made))]

    def has_pending(self) -> bool:
        return self.at < len(self.made)

    def pop(self) -> object:
        """The next decision made now, matched."""
        ev = self.made[self.at]
        self.at += 1
        return ev

    def fed(self, row: tuple[object, ...], seq: Any, made: list[object]) -> None:
        """``row``, the input at ``seq``, was fed and made ``made``."""
        self.made = made
        self.at = 1
        self.base = seq
        self.inputs += 1
        if len(self.ring) < RECENT:
            self.ring.append(row)
        else:
            self.ring[self.ring_at] = row
            self.ring_at = (self.ring_at + 1) % RECENT

    def recent(self) -> list[tuple[object, ...]]:
        """The last input rows fed, oldest first."""
        return self.ring[self.ring_at:] + self.ring[:self.ring_at]

    def passed(self, seq: object) -> None:
        self.checked += 1
        self.last_seq = seq

    def counted(self, ev: object, nav_ok: bool) -> None:
        """The tallies a matched decision adds to (the NAV only when it verified)."""
        if isinstance(ev, Fill):
            self.trades += 1
        elif isinstance(ev, BreakerChanged):
            if ev.new == TRIPPED:
                self.trips += 1
        elif nav_ok and isinstance(ev, RiskSnapshot):
            self.last_nav = ev.nav

    # ------------------------------------------------------------ the fast path

    def take(self, row: tuple[object, ...]) -> bool:
        """Check ``row`` (seq, kind, ts, symbol, payload, input) when it is a
        common one; False, with nothing changed, when it is not."""
        if len(row) != 6:
            return False
        seq = row[0]
        kind = row[1]
        ts = row[2]
        symbol = row[3]
        payload = row[4]
        if (not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(ts, int) or isinstance(ts, bool)
                or not isinstance(kind, str) or not isinstance(symbol, str) or not isinstance(payload, str)):
            return False
        if row[5]:
            if self.at < len(self.made) or seq != self.engine.seq + 1:
                return False
            plan = _SCAN.get(kind)
            ev: object | None = None
            if plan is not None:
                ev = decode_floats(plan, ts, symbol, payload)
            if ev is None:
                if kind not in INPUT_KINDS:
                    return False
                try:
                    ev = from_row(kind, ts, symbol, payload)
                except DecodeError:
                    return False
            self.fed(row, seq, self.engine.process(ev))
        else:
            at = self.at
            if at >= len(self.made):
                return False
            made: Any = self.made[at]
            if (_KIND_OF.get(type(made)) != kind or made.ts != ts or made.symbol != symbol
                    or (self.check_fills and isinstance(made, Fill)) or encode_payload(made) != payload):
                return False
            self.at = at + 1
            self.counted(made, True)
        self.checked += 1
        self.last_seq = seq
        return True

    def run(self, rows: Iterator[Any], checked: Callable[[Any], bool],
            progress: Callable[[int], None] | None) -> bool:
        """Check every row, each by ``take`` or else by ``checked`` (the full
        checks); False at the first row ``checked`` refuses. ``progress(seq)``
        every 65,536 seqs."""
        for row in rows:
            if progress is not None:
                seq = row[0]
                if isinstance(seq, int) and seq & 0xFFFF == 0:
                    progress(seq)
            if type(row) is tuple:
                if self.take(row):
                    continue
            if not checked(row):
                return False
        return True
