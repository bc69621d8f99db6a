"""Turn events into log rows and back.

A row is ``(kind, ts, symbol, payload)`` where ``payload`` is a dict of the
remaining fields. ``encode_payload`` is the one canonical JSON encoding: replay
compares decisions by it, so it must be stable (sorted keys, no spaces, floats
by ``repr`` which round-trips exactly; NaN and inf are written as the
non-standard tokens Python's json reads back). A field with a default (one
added to a kind after it was first logged) is left out while it equals that
default and read back as it when absent, so older logs decode and replay
byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from core.events import DECISION_KINDS, INPUT_KINDS, Event

ALL_KINDS: dict[str, type] = {**INPUT_KINDS, **DECISION_KINDS}
_KIND_OF: dict[type, str] = {cls: kind for kind, cls in ALL_KINDS.items()}
# kind -> {field: default} for the kinds that have defaulted fields
_DEFAULTS: dict[type, dict[str, Any]] = {
    cls: dict(cls._field_defaults) for cls in ALL_KINDS.values()  # type: ignore[attr-defined]
    if cls._field_defaults  # type: ignore[attr-defined]
}
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=True)


def _c_encoder() -> Any:
    """The C encoder ``_ENCODER.encode`` itself ends up in, made once, with
    ``sort_keys`` off: the fast path hands it dicts whose keys are already in
    sorted order, so its output is ``_ENCODER.encode``'s byte for byte (same
    float repr, NaN/Infinity tokens, ASCII escapes). Per call this skips
    ``_asdict``, the key deletes, the sort and ``iterencode``'s set-up. It is
    the fallback of ``encode_payload``'s orjson path (see ``_same_as_json``);
    encoding took about half of the log writer's time (cProfile, issue 7)."""
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - CPython always has _json
        return None
    if c_make_encoder is None:  # pragma: no cover
        return None
    return c_make_encoder(None, _ENCODER.default, encode_basestring_ascii, None, ":", ",",
                          False, False, True)


_C_ENCODE = _c_encoder()


def _plan(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The payload's field names in sorted order and a getter of their values."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    names = tuple(sorted(f for f in fields if f not in ("ts", "symbol")))
    idx = [fields.index(f) for f in names]
    if len(idx) == 1:
        one = itemgetter(idx[0])
        return names, lambda ev: (one(ev),)
    return names, itemgetter(*idx) if idx else (lambda ev: ())


_PLANS = {cls: _plan(cls) for cls in ALL_KINDS.values()} if _C_ENCODE is not None else {}

_orjson_dumps: Callable[[Any], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - a declared dependency, but not a required one
    _orjson_dumps = None


def _many_floats(cls: type) -> bool:
    """Kinds whose payload has three floats or more go through orjson (its
    float formatting is many times faster than ``float.__repr__``, which json
    calls; a risk snapshot's 18 floats: 11.1 -> 4.8 us a row,
    benchmarks/encode_kinds.py). For the others the check of orjson's output
    costs about what it saves."""
    return sum(cls.__annotations__.get(f) in (float, "float") for f in cls._fields) >= 3  # type: ignore[attr-defined]


_ORJSON_KINDS = (frozenset(c for c in ALL_KINDS.values() if _many_floats(c))
                 if _orjson_dumps is not None else frozenset())


def _same_as_json(out: bytes) -> bool:
    """True when orjson's ``out`` is certainly what ``json`` writes for the same
    dict. orjson differs only in: floats in [1e-5, 1e-4) written as decimals
    (0.0000...) where ``repr`` uses an exponent; negative exponents without the
    leading zero (1e-7, not 1e-07); NaN/inf as null; non-ASCII text as UTF-8
    rather than \\u escapes; DEL unescaped. Each shows up as one of these byte
    patterns; a text field that merely contains one only costs the fallback.
    (Checked against json.dumps on 1.2M random doubles, and by
    tests/test_codec_fast.py.)"""
    return (out.isascii() and b"e-" not in out and b".0000" not in out and b"null" not in out
            and b"\x7f" not in out)


# Fast decoding of the kinds whose payload is all floats (tick, bar, bar_closed, position): the
# canonical text (sorted keys, no spaces, each float by repr) matched whole;
# each number read by float(), which is what json.loads does for a number
# with a fraction or an exponent (and _coerce keeps). Anything else (an
# integer token, NaN/Infinity, spaces, another key order, a missing or extra
# field) does not match and takes the general path, with its checks and
# errors. tests/test_codec_fast.py holds the two paths to the same events.
_FLOAT_TOKEN = r"(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+))"


def _fast_plan(cls: type) -> tuple[Any, tuple[int, ...]] | None:
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    if fields[:2] != ("ts", "symbol") or _DEFAULTS.get(cls):
        return None
    names = sorted(fields[2:])
    if not names or any(cls.__annotations__.get(n) not in (float, "float") for n in names):
        return None
    text = "\\{" + ",".join('"%s":%s' % (n, _FLOAT_TOKEN) for n in names) + "\\}"
    return re.compile(text).fullmatch, tuple(names.index(f) + 1 for f in fields[2:])


def _float_encoder(cls: type) -> Callable[[Any], str | None] | None:
    """For an all-float kind (as ``_fast_plan``): the payload by one %-format
    of the fields' reprs in sorted key order, which is json's text for a
    finite float (float.__repr__); None (the general encoder's turn) when a
    value is not a float (an int or a bool from an interpreted caller, a
    numpy scalar) or not finite (json writes NaN/Infinity tokens)."""
    if _fast_plan(cls) is None:
        return None
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    names = sorted(fields[2:])
    if len(names) < 2:  # itemgetter of one index gives the value, not a tuple
        return None
    get = itemgetter(*[fields.index(n) for n in names])
    template = "{" + ",".join('"%s":%%r' % n for n in names) + "}"

    def encode(ev: Any) -> str | None:
        vals = get(ev)
        for v in vals:
            if type(v) is not float or v - v != 0.0:
                return None
        return str(template % vals)

    return encode


_FLOAT_ENC = {cls: enc for cls in ALL_KINDS.values() if (enc := _float_encoder(cls)) is not None}

_FAST: dict[str, tuple[type, Any, tuple[int, ...]]] = {
    kind: (cls, plan[0], plan[1]) for kind, cls in ALL_KINDS.items() if (plan := _fast_plan(cls)) is not None
}


class DecodeError(ValueError):
    """A logged row that cannot become an event (unknown kind, bad payload)."""


def kind_of(event: Event) -> str:
    return _KIND_OF[type(event)]


def is_input_kind(kind: str) -> bool:
    return kind in INPUT_KINDS


def payload_of(event: Event) -> dict[str, Any]:
    """The event's fields other than ``ts`` and ``symbol``."""
    d = event._asdict()
    del d["ts"], d["symbol"]
    defaults = _DEFAULTS.get(type(event))
    if defaults is not None:
        _drop_defaults(d, defaults)
    return d


def _drop_defaults(d: dict[str, Any], defaults: dict[str, Any]) -> None:
    for name, value in defaults.items():
        v = d[name]
        # same type and value, and for floats the same sign (-0.0 is kept, so it round-trips)
        if v == value and type(v) is type(value) and (type(v) is not float or repr(v) == repr(value)):
            del d[name]


def encode_payload(event: Event) -> str:
    enc = _FLOAT_ENC.get(type(event))
    if enc is not None:
        text = enc(event)
        if text is not None:
            return text
    plan = _PLANS.get(type(event))
    if plan is None:
        return _ENCODER.encode(payload_of(event))
    names, values = plan
    d = dict(zip(names, values(event)))
    defaults = _DEFAULTS.get(type(event))
    if defaults is not None:
        _drop_defaults(d, defaults)  # deleting keeps the sorted order
    if _orjson_dumps is not None and type(event) in _ORJSON_KINDS:
        try:
            out = _orjson_dumps(d)
        except TypeError:  # a numpy scalar, an int beyond 64 bits: json's turn
            pass
        else:
            if _same_as_json(out):
                return out.decode("ascii")
    return "".join(_C_ENCODE(d, 0))


def to_row(event: Event) -> tuple[str, int, str, str]:
    """``(kind, ts, symbol, payload_json)`` for the log."""
    return _KIND_OF[type(event)], event.ts, event.symbol, encode_payload(event)


def from_row(kind: str, ts: int, symbol: str, payload: str | dict[str, Any]) -> Event:
    """Rebuild an event from a logged row; raises DecodeError naming the field."""
    fast = (_FAST.get(kind) if type(kind) is str and type(payload) is str and type(ts) is int
            and type(symbol) is str else None)
    if fast is not None:
        m = fast[1](payload)
        if m is not None:
            g = m.groups()
            return fast[0](ts, symbol, *[float(g[i - 1]) for i in fast[2]])  # type: ignore[no-any-return]
    if not isinstance(kind, str):  # e.g. a BLOB: not even hashable as a key
        raise DecodeError(f"unknown event kind {_short(kind)}")
    cls = ALL_KINDS.get(kind)
    if cls is None:
        raise DecodeError(f"unknown event kind {_short(kind)}")
    # a hand-edited or damaged log can hold any SQLite value in any column
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise DecodeError(f"{kind}: ts is not an integer ({_short(ts)})")
    if not isinstance(symbol, str):
        raise DecodeError(f"{kind}: symbol is not text ({_short(symbol)})")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise DecodeError(f"{kind}: payload is not JSON ({_short(exc)})") from None
    if not isinstance(payload, dict):
        raise DecodeError(f"{kind}: payload is not an object")
    fields = cls._fields  # type: ignore[attr-defined]
    defaults = _DEFAULTS.get(cls, {})
    values: list[Any] = []
    for name in fields:
        if name == "ts":
            values.append(int(ts))
        elif name == "symbol":
            values.append(str(symbol))
        elif name in payload:
            values.append(_coerce(cls, name, payload[name]))
        elif name in defaults:
            values.append(defaults[name])
        else:
            raise DecodeError(f"{kind}: payload lacks field {name!r}")
    extra = set(payload) - set(fields)
    if extra:
        raise DecodeError(f"{kind}: unexpected field(s) {sorted(map(str, extra))}")
    return cls(*values)  # type: ignore[no-any-return]


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _coerce(cls: type, name: str, value: Any) -> Any:
    want = cls.__annotations__.get(name)
    if want in (float, "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DecodeError(f"{cls.__name__}.{name}: expected a number, got {_short(value)}")
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range
            raise DecodeError(f"{cls.__name__}.{name}: number out of range") from None
    if want in (int, "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{cls.__name__}.{name}: expected an integer, got {_short(value)}")
        return value
    if want in (bool, "bool"):
        if not isinstance(value, bool):
            raise DecodeError(f"{cls.__name__}.{name}: expected true or false, got {_short(value)}")
        return value
    if not isinstance(value, str):
        raise DecodeError(f"{cls.__name__}.{name}: expected text, got {_short(value)}")
    return value
