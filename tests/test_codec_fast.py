"""encode_payload's fast paths (orjson for kinds of many floats, checked and
falling back; a pre-sorted dict into the C encoder; a %-format for all-float
kinds) write the same text as the canonical json encoding for every event
kind, every value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import codec
from core.codec import ALL_KINDS, encode_payload, from_row, payload_of, to_row
from core.events import RiskSnapshot, Timer

FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3]))
INTS = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80))
TEXT = st.text()


def reference(event: Any) -> str:
    return json.dumps(payload_of(event), sort_keys=True, separators=(",", ":"), allow_nan=True)


def field_strategy(cls: type, name: str, loose: bool) -> st.SearchStrategy[Any]:
    want = cls.__annotations__.get(name)
    if want in (float, "float"):
        # loose: what an interpreted caller may pass where a float is annotated
        return st.one_of(FLOATS, st.integers(-10**6, 10**6), st.booleans()) if loose else FLOATS
    if want in (int, "int"):
        return st.one_of(INTS, st.booleans()) if loose else INTS
    if want in (bool, "bool"):
        return st.booleans()
    return TEXT


@st.composite
def events(draw: st.DrawFn, loose: bool = True) -> Any:
    cls = draw(st.sampled_from(sorted(ALL_KINDS.values(), key=lambda c: c.__name__)))
    values = [draw(st.integers(0, 2**62)) if f == "ts" else draw(TEXT) if f == "symbol"
              else draw(field_strategy(cls, f, loose)) for f in cls._fields]
    return cls(*values)


def test_the_fast_path_is_in_use() -> None:
    assert codec._C_ENCODE is not None
    assert codec._orjson_dumps is not None
    assert set(codec._PLANS) == set(ALL_KINDS.values())
    assert RiskSnapshot in codec._ORJSON_KINDS and Timer not in codec._ORJSON_KINDS


# where orjson's text differs from json's (or may): each must take the fallback
EDGE_FLOATS = [1e-5, 2.5e-5, 9.99e-5, 1e-4, 2.5e-7, 1e-300, 5e-324, 1e16, 1e22, 123456789012345678.0,
               float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 100.00001, 1 / 3]


@pytest.mark.parametrize("cls", sorted(codec._ORJSON_KINDS, key=lambda c: c.__name__))
def test_orjson_kinds_match_json_at_the_edges(cls: type) -> None:
    for i, x in enumerate(EDGE_FLOATS):
        values = []
        for k, f in enumerate(cls._fields):
            want = cls.__annotations__.get(f)
            if f == "ts":
                values.append(1)
            elif want in (float, "float"):
                values.append(EDGE_FLOATS[(i + k) % len(EDGE_FLOATS)])
            elif want in (int, "int"):
                values.append(2**63 + k if k % 2 else -5)
            elif want in (bool, "bool"):
                values.append(True)
            else:
                values.append(["", "\u00e9t\u00e9", "a\x7f\"\\", "x\x00"][(i + k) % 4])
        ev = cls(*values)
        assert encode_payload(ev) == reference(ev)


def test_a_risk_snapshot_goes_through_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = codec._orjson_dumps

    def spy(d: Any) -> bytes:
        calls.append(d)
        return real(d)  # type: ignore[misc]

    monkeypatch.setattr(codec, "_orjson_dumps", spy)
    ev = RiskSnapshot(1, "", 1_000_000.25, 990_000.5, 10_000.125, -10_000.125, 0.01, -138.47229567461181,
                      0.0003561618254250831, 0.0005902261539173503, *([0.0006764754261135588] * 8),
                      0.0005862207008495505, "SYN=586.1395255233319")
    assert encode_payload(ev) == reference(ev)
    assert len(calls) == 1


@settings(max_examples=3000, deadline=None)
@given(events())
def test_fast_encoding_matches_json_dumps_byte_for_byte(event: Any) -> None:
    assert encode_payload(event) == reference(event)


@settings(max_examples=500, deadline=None)
@given(events(loose=False))
def test_floats_round_trip_exactly_through_a_row(event: Any) -> None:
    kind, ts, symbol, payload = to_row(event)
    back = from_row(kind, ts, symbol, payload)
    for a, b in zip(back, event):
        if isinstance(b, float) and math.isnan(b):
            assert isinstance(a, float) and math.isnan(a)
        elif isinstance(b, float):
            assert a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


EDGE_FLOATS = [1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e-6, 1e-7, 1e15, 1e16, 1e21, 123456789012345678.0,
               9999999999999998.0, 5e-324, -0.0, 0.1, 1 / 3, math.nan, math.inf, -math.inf]
EDGE_TEXT = ["", "plain", "caf\u00e9", "\x7f", "\x00\x1f\b\f\n\r\t", "\ud800", "1e-05", "0.00001", "null",
             '"quoted" \\ /', "\U0001f600"]


@pytest.mark.parametrize("x", EDGE_FLOATS)
@pytest.mark.parametrize("text", EDGE_TEXT)
def test_edge_values_match(x: float, text: str) -> None:
    from core.events import Headline, ModelSignal, OrderRejected

    for ev in (ModelSignal(1, text, text, x, x, x, 2**70), OrderRejected(1, "S", 2**63, x, text, x, -x, text),
               Headline(1, "S", text, text)):
        assert encode_payload(ev) == reference(ev)


def test_non_finite_floats_use_pythons_tokens() -> None:
    from core.events import Fill

    text = encode_payload(Fill(1, "X", 2, math.nan, math.inf, -math.inf))
    assert text == '{"commission":-Infinity,"order_id":2,"price":Infinity,"qty":NaN}'


def _general(kind: str, ts: Any, symbol: Any, payload: Any) -> Any:
    """from_row with the fast decoding of all-float kinds switched off."""
    saved = dict(codec._FAST)
    codec._FAST.clear()
    try:
        return _outcome(kind, ts, symbol, payload)
    finally:
        codec._FAST.update(saved)


def _outcome(kind: str, ts: Any, symbol: Any, payload: Any) -> Any:
    try:
        ev = from_row(kind, ts, symbol, payload)
    except codec.DecodeError as exc:
        return ("error", str(exc))
    return (type(ev), tuple(repr(v) for v in ev))  # repr: -0.0 and NaN compare as text


NUMBER_TEXT = st.one_of(
    FLOATS.map(repr), INTS.map(str),
    st.sampled_from(["1e400", "-1e400", "1E5", "1e+05", "0.5e-3", "01.5", "1.", ".5", "-0", "-0.0",
                     "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "1" + "0" * 400 + ".0", " 1.0", "1.0 "]))


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(codec._FAST)), data=st.data())
def test_fast_decoding_of_all_float_kinds_gives_what_the_general_path_gives(kind: str, data: Any) -> None:
    """Canonical rows and near misses (integer tokens, NaN, overflow, spaces,
    another key order, a missing or an extra field): the same event, or the
    same one-line error, as from_row without the fast path."""
    cls = ALL_KINDS[kind]
    names = sorted(cls._fields[2:])
    if data.draw(st.booleans()):  # a near miss in the keys
        names = data.draw(st.permutations(names + data.draw(st.sampled_from([[], ["extra"]]))))
        if names and data.draw(st.booleans()):
            names = names[1:]
    tokens = [data.draw(NUMBER_TEXT) for _ in names]
    sep = data.draw(st.sampled_from([",", ", "]))
    payload = "{" + sep.join(f'"{n}":{t}' for n, t in zip(names, tokens)) + "}"
    ts = data.draw(st.sampled_from([1, 2**40, True, 1.5]))
    assert _outcome(kind, ts, "AAA", payload) == _general(kind, ts, "AAA", payload)


def test_the_fast_decoding_covers_the_logged_ticks_and_bars() -> None:
    """It is taken for what the encoder writes (else it would be dead code)."""
    assert {"tick", "bar"} <= set(codec._FAST)
    for kind in ("tick", "bar"):
        cls = ALL_KINDS[kind]
        ev = cls(7, "AAA", *[float(i) + 0.25 for i in range(len(cls._fields) - 2)])
        _, fullmatch, _ = codec._FAST[kind]
        assert fullmatch(encode_payload(ev)) is not None
        assert from_row(kind, 7, "AAA", encode_payload(ev)) == ev
