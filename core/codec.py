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
    return _ENCODER.encode(payload_of(event))


def to_row(event: Event) -> tuple[str, int, str, str]:
    """``(kind, ts, symbol, payload_json)`` for the log."""
    return _KIND_OF[type(event)], event.ts, event.symbol, encode_payload(event)


def from_row(kind: str, ts: int, symbol: str, payload: str | dict[str, Any]) -> Event:
    """Rebuild an event from a logged row; raises DecodeError naming the field."""
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
    if not isinstance(value, str):
        raise DecodeError(f"{cls.__name__}.{name}: expected text, got {_short(value)}")
    return value
