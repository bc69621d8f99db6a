"""Events to log rows, compiled: the log writer's per-row work.

``add_rows`` turns a batch of events into the ``events`` table's rows (and the
``orders`` and ``fills`` tables' rows) exactly as the writer did with
``core.codec.encode_payload``: the same payload text byte for byte. Each kind
has a plan made once from its fields (sorted names, their declared types,
their defaults: ``core.verify_loop.field_plan``, the plans replay matches
logged text by); a payload whose every value has exactly its declared type
(float, int, str or bool) and whose floats are finite is written here by the
same rules json uses (``float.__repr__``, ``int.__repr__``, ASCII-escaped
strings, defaulted fields left out while they equal their default); anything
else (NaN, a numpy scalar, an int subclass, a kind with another field type)
is ``encode_payload``'s, so no rule is written twice for the rare cases.
tests/test_rows.py holds the two to the same text on generated events of
every kind.

Compiled with mypyc (setup.py): an event's floats go through one orjson call
and its text is joined once; a crossover bar's rows encode in 7.75 us against
the codec's 12.34 (benchmarks/encode_kinds.py shows both). Interpreted, the
plans cost more than the codec's C-backed encoders, so there the rows take
the codec's text (``_USE_PLANS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any, Final

from core import codec
from core.codec import ALL_KINDS, encode_payload, is_input_kind
from core.events import Fill, OrderAccepted
from core.verify_loop import BOOL, FLOAT, INT, STR, FieldPlan, field_plan, left_out

# orjson's dumps, or None without it (a pinned dependency; repr writes the same text, slower).
# Taken from the codec: the isolated mypyc build has no orjson to type-check an import against.
_dumps: Final[Callable[[Any], bytes] | None] = codec._orjson_dumps


class Kind:
    """A kind's row constants and its payload plan (replay's: core.verify_loop
    matches logged text by the same plans); None where a field is of a type
    the plans do not write (then the codec writes the payload)."""

    def __init__(self, kind: str, plan: FieldPlan | None) -> None:
        self.kind = kind
        self.is_input = is_input_kind(kind)
        self.plan = plan


_KINDS: Final[dict[type, Kind]] = {cls: Kind(kind, field_plan(cls)) for kind, cls in ALL_KINDS.items()}
# Interpreted (CONSOLE_PURE_PYTHON=1), the plans cost more than the codec's C-backed encoders
# (14.9 against 11.3 us a crossover bar: benchmarks/encode_kinds.py's plans and codec columns,
# interpreted): the rows then take the codec's text, which is the same text.
_USE_PLANS: Final = not __file__.endswith(".py")


def payload_text(plan: FieldPlan | None, ev: tuple[Any, ...]) -> str | None:
    """``ev``'s payload as ``encode_payload`` writes it, or None when a value
    is not plainly of its declared type (the codec's turn)."""
    if plan is None:
        return None
    index, types = plan.index, plan.types
    n = len(index)
    floats: list[float] = []
    for i in range(n):
        v: object = ev[index[i]]
        code = types[i]
        if code == FLOAT:
            if type(v) is not float:
                return None
            f: float = v
            if not math.isfinite(f):
                return None
            floats.append(f)
        elif code == STR:
            if type(v) is not str:
                return None
        elif code == INT:
            if type(v) is not int:
                return None
        elif code != BOOL or type(v) is not bool:
            return None
    ftext = _float_texts(floats) if floats else []
    keys, defaults = plan.keys, plan.defaults
    parts: list[str] = []
    k = 0
    for i in range(n):
        v = ev[index[i]]
        code = types[i]
        if code == FLOAT:
            k += 1
        if left_out(defaults[i], v):
            continue
        if code == FLOAT:
            text = ftext[k - 1]
        elif code == STR:
            text = encode_basestring_ascii(str(v))  # v is exactly a str: str() is v itself
        elif code == INT:
            text = str(v)
        else:
            text = "true" if v else "false"
        parts.append("," if parts else "{")
        parts.append(keys[i])
        parts.append(text)
    if not parts:
        return "{}"
    parts.append("}")
    return "".join(parts)


def _float_texts(floats: list[float]) -> list[str]:
    """``repr`` of each (finite) float. orjson formats floats many times
    faster than ``float.__repr__`` (a risk snapshot, 17 floats, is most of
    the gap between benchmarks/encode_kinds.py's writer and json-only
    columns) and writes what repr writes for 0 and every magnitude from 1e-4
    up (tests/test_rows.py checks 200k doubles, random bits and
    decimal-looking); below 1e-4 repr's exponent form differs (1e-05, not
    0.00001), so those values take repr."""
    if _dumps is None:
        return [repr(f) for f in floats]
    out: list[str] = _dumps(floats).decode("ascii")[1:-1].split(",")
    for i in range(len(floats)):
        f = floats[i]
        if f != 0.0 and -1e-4 < f < 1e-4:
            out[i] = repr(f)
    return out


def encode(ev: tuple[Any, ...]) -> str:
    """``encode_payload(ev)``, the way ``add_rows`` writes it."""
    text = payload_text(_KINDS[type(ev)].plan, ev) if _USE_PLANS else None
    return text if text is not None else encode_payload(ev)


def add_rows(sid: str, seq: int, events: tuple[Any, ...], flat: list[Any],
             orders: list[tuple[Any, ...]], fills: list[tuple[Any, ...]]) -> int:
    """Append the rows of ``events``, numbered from ``seq``; returns the last seq.
    The ``events`` table's rows go into ``flat``, six values a row (seq, ts,
    kind, symbol, input, payload: the session is the writer's, bound once a
    statement); the ``orders`` and ``fills`` rows as tuples, with ``sid``."""
    kinds = _KINDS
    for e in events:
        ev: tuple[Any, ...] = e
        cls = type(ev)
        k = kinds[cls]
        payload = payload_text(k.plan, ev) if _USE_PLANS else None
        if payload is None:
            payload = encode_payload(ev)
        ts = ev[0]
        symbol = ev[1]
        flat.append(seq)
        flat.append(ts)
        flat.append(k.kind)
        flat.append(symbol)
        flat.append(k.is_input)
        flat.append(payload)
        if cls is OrderAccepted:
            o: OrderAccepted = e
            orders.append((sid, seq, ts, symbol, o.qty, o.ref_price, o.origin, o.intent_seq))
        elif cls is Fill:
            fl: Fill = e
            fills.append((sid, seq, ts, symbol, fl.order_id, fl.qty, fl.price, fl.commission))
        seq += 1
    return seq - 1


def add_batches(sid: str, pending: Any, limit: int, flat: list[Any],
                orders: list[tuple[Any, ...]], fills: list[tuple[Any, ...]]) -> int:
    """Take ``(seq_start, events)`` batches from the front of the deque
    ``pending`` into the rows (as ``add_rows``) while ``flat`` holds fewer
    than ``limit`` values and the next item is a batch; returns the last seq
    added, or -1 when none was. Any other item (a marker) stays in front."""
    last = -1
    while len(flat) < limit and pending:
        item = pending[0]
        if type(item) is not tuple:
            break
        pending.popleft()
        batch: tuple[Any, ...] = item
        last = add_rows(sid, batch[0], batch[1], flat, orders, fills)
    return last

