"""The replay verifier's per-row work, compiled with the engine (setup.py HOT).

``RowCheck`` keeps what ``core.replay.Verifier`` carries from row to row (the
decisions the engine made for the last input, the counts) and takes the
common rows itself, each with no more work than it needs:

- an input in its place: decoded (a canonical all-float payload by
  ``decode_floats``, any other by ``core.codec.from_row``) and fed;
- a decision in its place that is the one the engine made: kind, ts and
  symbol compared, then the logged text matched against the event field by
  field as ``encode_payload`` writes it (``matches``), or, where that is not
  certain, compared with ``encode_payload``'s text; a fill also against its
  fills-table row.

Anything else (a row out of place or of the wrong type, a decision that
differs, a fill the fills table does not hold, a payload that does not
decode) is declined before any state changes, and the verifier's
``row_checked`` takes it with the full checks and their messages. So a row
taken here is one ``row_checked`` would have accepted, with the same effect;
tests/test_verify_loop.py holds the two to that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Final

from mypy_extensions import i64

from core.breakers import TRIPPED
from core.codec import _KIND_OF, DecodeError, encode_payload, from_row
from core.engine import Engine
from core.events import DECISION_KINDS, INPUT_KINDS, BreakerChanged, Fill, RiskSnapshot

RECENT: Final = 5  # input rows kept for a divergence's report


class FloatPlan:
    """How an all-float kind's canonical payload reads: the key texts in
    sorted order (``{"close":``, ``,"high":``, ...) and, for each field after
    ts and symbol, the index of its value among them."""

    def __init__(self, cls: type, keys: list[str], order: list[int]) -> None:
        self.cls = cls
        self.keys = keys
        self.order = order
        self.pair = len(keys) == 2  # a tick: read without a list
        self.key0 = keys[0]
        self.key1 = keys[1] if len(keys) > 1 else ""
        self.swapped = order[0] != 0


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
_COMPILED: Final = not __file__.endswith(".py")
_SCAN: Final[dict[str, FloatPlan]] = FLOAT_INPUTS if _COMPILED else {}


def _key_end(s: str, i: i64, n: i64, key: str) -> i64:
    """The index past ``key`` when ``s`` holds it at ``i``; -1 otherwise."""
    m: i64 = len(key)
    if i + m > n:
        return -1
    j: i64
    for j in range(m):
        if ord(s[i + j]) != ord(key[j]):
            return -1
    return i + m


def _read(s: str, i: i64, n: i64) -> tuple[i64, float]:
    """The number at ``s[i]`` when it is ``-?(0|[1-9][0-9]*)\\.[0-9]+`` with at
    most 15 digits: (the index past it, its value); (-1, 0.0) for anything
    else (an exponent, more digits, not JSON: the general decoder's turn).

    The value is the digits as an integer over a power of ten, both exact in
    a double (under 2**53 and 10**15; the power built by multiplying, exact
    up to 10**22), so the one rounding of the division gives the correctly
    rounded value of the decimal text, which is what ``float()`` (and so
    ``json.loads``) returns for it (Clinger's fast path)."""
    neg = i < n and ord(s[i]) == 45  # '-'
    if neg:
        i += 1
    start = i
    mant: i64 = 0
    while i < n:
        c: i64 = ord(s[i])
        if c < 48 or c > 57 or i - start >= 15:
            break
        mant = mant * 10 + (c - 48)
        i += 1
    whole = i - start
    if whole == 0 or (whole > 1 and ord(s[start]) == 48) or i >= n or ord(s[i]) != 46:  # '0', '.'
        return -1, 0.0
    i += 1
    frac_start = i
    scale = 1.0
    while i < n:
        c = ord(s[i])
        if c < 48 or c > 57 or whole + i - frac_start >= 15:
            break
        mant = mant * 10 + (c - 48)
        scale *= 10.0
        i += 1
    if i == frac_start or (i < n and 48 <= ord(s[i]) <= 57):  # no fraction, or a 16th digit
        return -1, 0.0
    x = float(mant) / scale
    return i, -x if neg else x


def _repr_form(s: str, i: i64, e: i64, n: i64) -> bool:
    """True when the number ``_read`` took at ``s[i:e]`` is the whole value
    (then ``,`` or ``}``) and in the form ``repr`` gives its value: no
    trailing zero after the point but a lone one (``2.0``), and below 1 at
    most three zeros after the point (``0.0001``; ``repr`` writes ``1e-05``).
    With at most 15 digits (DBL_DIG) such a text is the only one of its
    length or shorter that reads back as its value, so it is ``repr`` of any
    float it reads back as."""
    if e >= n or (ord(s[e]) != 44 and ord(s[e]) != 125):
        return False
    dot = e - 1
    while ord(s[dot]) != 46:
        dot -= 1
    if e - dot > 2 and ord(s[e - 1]) == 48:  # a trailing zero
        return False
    start = i + 1 if ord(s[i]) == 45 else i
    if dot == start + 1 and ord(s[start]) == 48 and e - dot > 2:  # 0.xxx, not 0.0
        j = dot + 1
        while j < e and ord(s[j]) == 48:
            j += 1
        if j - dot - 1 > 3:
            return False
    return True


_TUPLE_NEW: Final = tuple.__new__


def decode_floats(plan: FloatPlan, ts: int, symbol: str, payload: str) -> object | None:
    """The event of an all-float kind from its canonical payload (keys sorted,
    no spaces, each number as ``_read`` takes), equal to
    ``core.codec.from_row``'s; None for any other text, which is then the
    general decoder's to read or reject."""
    n: i64 = len(payload)
    i: i64 = 0
    if plan.pair:  # a tick: no list between the text and the event
        i = _key_end(payload, 0, n, plan.key0)
        if i < 0:
            return None
        i, a = _read(payload, i, n)
        if i < 0:
            return None
        i = _key_end(payload, i, n, plan.key1)
        if i < 0:
            return None
        i, b = _read(payload, i, n)
        if i < 0 or i != n - 1 or ord(payload[i]) != 125:  # '}'
            return None
        # what the NamedTuple's own __new__ does (typing.NamedTuple allows no other), without its Python frame
        return _TUPLE_NEW(plan.cls, (ts, symbol, b, a) if plan.swapped else (ts, symbol, a, b))
    vals: list[float] = []
    for key in plan.keys:
        i = _key_end(payload, i, n, key)
        if i < 0:
            return None
        i, x = _read(payload, i, n)
        if i < 0:
            return None
        vals.append(x)
    if i != n - 1 or ord(payload[i]) != 125:
        return None
    return _TUPLE_NEW(plan.cls, (ts, symbol, *[vals[j] for j in plan.order]))


# ------------------------------------------------------------ decisions

FLOAT: Final = 0
INT: Final = 1
STR: Final = 2
BOOL: Final = 3
_TYPE_CODES: Final = {float: FLOAT, "float": FLOAT, int: INT, "int": INT, str: STR, "str": STR,
                      bool: BOOL, "bool": BOOL}
NO_DEFAULT: Final = object()


class FieldPlan:
    """How ``encode_payload`` writes a kind: ``{`` then, in sorted key order,
    ``"name":value`` joined by commas, then ``}``; a field with a default
    left out while it equals the default (core.codec's rule)."""

    def __init__(self, cls: type, keys: list[str], index: list[int], types: list[int],
                 defaults: list[object]) -> None:
        self.cls = cls
        self.keys = keys
        self.index = index
        self.types = types
        self.defaults = defaults
        self.width = len(cls._fields)  # type: ignore[attr-defined]


def left_out(default: object, v: object) -> bool:
    """True when a field holding ``v`` is left out of the payload: it has a
    default and ``v`` is it, of the same type (and for floats the same repr,
    so -0.0 is kept); core.codec's _drop_defaults rule."""
    return (default is not NO_DEFAULT and type(v) is type(default) and v == default
            and (type(v) is not float or repr(v) == repr(default)))


def field_plan(cls: type) -> FieldPlan | None:
    """The kind's plan; None when a field is of a type other than float,
    int, str or bool (then its rows take core.codec's general path)."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    annotations: dict[str, Any] = cls.__annotations__
    defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
    names = sorted(f for f in fields if f not in ("ts", "symbol"))
    if any(annotations.get(n) not in _TYPE_CODES for n in names):
        return None
    return FieldPlan(cls, ['"' + n + '":' for n in names], [fields.index(n) for n in names],
                     [_TYPE_CODES[annotations[n]] for n in names], [defaults.get(n, NO_DEFAULT) for n in names])


DECISIONS: Final[dict[type, FieldPlan]] = {
    cls: dplan for cls in DECISION_KINDS.values() if (dplan := field_plan(cls)) is not None
}


# the input kinds other than the all-float ones, read by decode_simple
SIMPLE_INPUTS: Final[dict[str, FieldPlan]] = {
    kind: iplan for kind, cls in INPUT_KINDS.items() if kind not in FLOAT_INPUTS
    and getattr(cls, "_fields")[:2] == ("ts", "symbol") and (iplan := field_plan(cls)) is not None
}


def _int_end(s: str, i: i64, n: i64) -> i64:
    """The index past a JSON integer (``-?(0|[1-9][0-9]*)``, at most 18
    digits) at ``s[i]``; -1 otherwise."""
    if i < n and ord(s[i]) == 45:
        i += 1
    start = i
    while i < n and 48 <= ord(s[i]) <= 57:
        i += 1
    if i == start or i - start > 18 or (i - start > 1 and ord(s[start]) == 48):
        return -1
    return i


def _text_end(s: str, i: i64, n: i64) -> i64:
    """The index past a JSON string at ``s[i]`` with no escapes and no
    control characters (json reads it as the characters between the quotes);
    -1 otherwise."""
    if i >= n or ord(s[i]) != 34:  # '"'
        return -1
    i += 1
    while i < n:
        c = ord(s[i])
        if c == 34:
            return i + 1
        if c == 92 or c < 32:  # '\\', control
            return -1
        i += 1
    return -1


def decode_simple(plan: FieldPlan, ts: int, symbol: str, payload: str) -> object | None:
    """The event of an input kind whose fields are numbers, text and flags
    (a timer, a command, a headline...) from a payload whose keys come in
    sorted order without spaces, defaulted ones left out or not, each value
    in a form json reads exactly as here (a float as ``_read`` takes, an
    integer, text without escapes, true/false); equal to
    ``core.codec.from_row``'s. None for anything else: the general decoder's
    turn."""
    n: i64 = len(payload)
    if n < 2 or ord(payload[0]) != 123 or ord(payload[n - 1]) != 125:
        return None
    vals: list[object] = [None] * plan.width
    vals[0] = ts
    vals[1] = symbol
    keys = plan.keys
    i: i64 = 1
    for j in range(len(keys)):
        k = -1
        if i == 1:
            k = _key_end(payload, 1, n, keys[j])
        elif i < n and ord(payload[i]) == 44:  # ','
            k = _key_end(payload, i + 1, n, keys[j])
        if k < 0:  # not here: left out, as a field at its default is
            d = plan.defaults[j]
            if d is NO_DEFAULT:
                return None
            vals[plan.index[j]] = d
            continue
        code = plan.types[j]
        if code == FLOAT:
            e, x = _read(payload, k, n)
            if e < 0:
                return None
            vals[plan.index[j]] = x
        elif code == INT:
            e = _int_end(payload, k, n)
            if e < 0:
                return None
            vals[plan.index[j]] = int(payload[k:e])
        elif code == STR:
            e = _text_end(payload, k, n)
            if e < 0:
                return None
            vals[plan.index[j]] = payload[k + 1:e - 1]
        else:
            e = _key_end(payload, k, n, "true")
            if e >= 0:
                vals[plan.index[j]] = True
            else:
                e = _key_end(payload, k, n, "false")
                if e < 0:
                    return None
                vals[plan.index[j]] = False
        i = e
    if i != n - 1:
        return None
    return _TUPLE_NEW(plan.cls, tuple(vals))


def _plain(text: str) -> bool:
    """True when json (``ensure_ascii``) writes ``text`` as itself in quotes:
    printable ASCII without a quote or a backslash."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _value_text(code: int, v: object) -> str | None:
    """The JSON text ``encode_payload`` writes for ``v`` in a field of type
    ``code``; None where that is not certain here (a value not of the field's
    type, a float that is not finite, text that needs escapes)."""
    if code == FLOAT:
        if type(v) is float and v - v == 0.0:
            return repr(v)  # json writes a finite float by float.__repr__
        return None
    if code == INT:
        return str(v) if type(v) is int else None
    if code == STR:
        return '"' + v + '"' if isinstance(v, str) and type(v) is str and _plain(v) else None  # isinstance: for mypy
    if type(v) is bool:
        return "true" if v else "false"
    return None


def matches(plan: FieldPlan, ev: tuple[Any, ...], payload: str) -> bool:
    """True when ``payload`` is certainly ``encode_payload(ev)``'s text. False
    means "not certain" (a difference, or a value this does not write): the
    caller then compares with ``encode_payload`` itself."""
    n: i64 = len(payload)
    if n < 2 or ord(payload[0]) != 123 or ord(payload[n - 1]) != 125:  # '{', '}'
        return False
    i: i64 = 1
    keys = plan.keys
    index = plan.index
    types = plan.types
    defaults = plan.defaults
    for j in range(len(keys)):
        v = ev[index[j]]
        d = defaults[j]
        if left_out(d, v):
            continue  # the text must go on to the next key
        if i > 1:
            if i >= n or ord(payload[i]) != 44:  # ','
                return False
            i += 1
        i = _key_end(payload, i, n, keys[j])
        if i < 0:
            return False
        code = types[j]
        if code == FLOAT and isinstance(v, float) and type(v) is float:
            e, x = _read(payload, i, n)
            if e >= 0 and _repr_form(payload, i, e, n):  # the same text exactly when it reads back as the value
                if x != v or (x == 0.0 and (ord(payload[i]) == 45) != (math.copysign(1.0, v) < 0.0)):
                    return False
                i = e
                continue
        text = _value_text(code, v)
        if text is None:
            return False
        i = _key_end(payload, i, n, text)
        if i < 0:
            return False
    return i == n - 1


# Interpreted, encode_payload (json's C encoder) is quicker than matching here.
_MATCH: Final[dict[type, FieldPlan]] = DECISIONS if _COMPILED else {}
_SIMPLE: Final[dict[str, FieldPlan]] = SIMPLE_INPUTS if _COMPILED else {}


class RowCheck:
    """The verifier's state between rows, and its fast path (module doc).

    ``made`` is the last input fed followed by the decisions it led to;
    ``made[at:]`` are those not matched yet, ``made[i]`` having seq
    ``base + i``."""

    def __init__(self, engine: Engine, fills_table: object | None) -> None:
        self.engine = engine
        self.check_fills = fills_table is not None
        self.fills: Any = fills_table
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
        self.names: dict[str, str] = {}
        self.last_kind = ""
        self.last_fast: FloatPlan | None = None

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

    def fed(self, row: tuple[object, ...], made: list[object]) -> None:
        """The input ``row`` was fed and made ``made``."""
        self.made = made
        self.at = 1
        self.base = row[0]
        self.inputs += 1
        if len(self.ring) < RECENT:
            self.ring.append(row)
        else:
            self.ring[self.ring_at] = row
            self.ring_at = self.ring_at + 1 if self.ring_at < RECENT - 1 else 0

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

    def fill_listed(self, seq: object, ev: Fill) -> bool:
        """The fills table's row at ``seq`` holds ``ev``'s fields (what the
        checked path compares as two dicts, field by field)."""
        have = self.fills.get(seq)
        return have is not None and (
            have.get("order_id") == ev.order_id and have.get("symbol") == ev.symbol and have.get("qty") == ev.qty
            and have.get("price") == ev.price and have.get("commission") == ev.commission and have.get("ts") == ev.ts)

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
            if kind == self.last_kind:  # runs of one kind: no hash of the fresh text
                fast = self.last_fast
            else:
                fast = _SCAN.get(kind)
                self.last_kind = kind
                self.last_fast = fast
            ev: object | None = None
            if fast is not None:
                # one str object per symbol name: the engine's lookups by symbol then match by identity
                name = self.names.get(symbol)
                if name is None:
                    self.names[symbol] = name = symbol
                ev = decode_floats(fast, ts, name, payload)
            else:
                simple = _SIMPLE.get(kind)
                if simple is not None:
                    ev = decode_simple(simple, ts, symbol, payload)
            if ev is None:
                if kind not in INPUT_KINDS:
                    return False
                try:
                    ev = from_row(kind, ts, symbol, payload)
                except DecodeError:
                    return False
            self.fed(row, self.engine.process(ev))
        else:
            at = self.at
            if at >= len(self.made):
                return False
            made: Any = self.made[at]
            if _KIND_OF.get(type(made)) != kind or made.ts != ts or made.symbol != symbol:
                return False
            if self.check_fills and isinstance(made, Fill) and not self.fill_listed(row[0], made):
                return False
            plan = _MATCH.get(type(made))
            if (plan is None or not isinstance(made, tuple) or not matches(plan, made, payload)) \
                    and encode_payload(made) != payload:
                return False
            self.at = at + 1
            self.counted(made, True)
        self.checked += 1
        self.last_seq = row[0]
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
