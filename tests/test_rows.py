"""core.rows (the log writer's compiled row builder) writes exactly the rows
and payload text the codec writes, for every kind and every value; its float
formatting (orjson where it agrees with repr) is repr's."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import rows
from core.codec import ALL_KINDS, encode_payload, is_input_kind, kind_of
from core.events import Fill, OrderAccepted, RiskSnapshot, Tick

from tests.test_codec_fast import events, reference


@settings(max_examples=3000, deadline=None)
@given(events(loose=True))
def test_every_kind_encodes_as_the_codec_and_json_do(event: Any) -> None:
    text = rows.encode(event)
    assert text == encode_payload(event)
    assert text == reference(event)


@settings(max_examples=1000, deadline=None)
@given(events(loose=False))
def test_well_typed_events_take_the_compiled_path(event: Any) -> None:
    fast = rows.payload_text(rows._KINDS[type(event)].plan, event)
    floats = [v for f, v in zip(event._fields, event) if type(v) is float]
    if all(math.isfinite(v) for v in floats):
        assert fast is not None  # every kind's fields are of the four types
        assert fast == reference(event)
    else:
        assert fast is None  # NaN and inf: json's tokens, the codec's turn


def test_values_not_exactly_of_their_type_go_to_the_codec() -> None:
    plan = rows._KINDS[Tick].plan
    assert rows.payload_text(plan, Tick(1, "X", 1.5, 2.0)) == '{"price":1.5,"size":2.0}'
    for odd in (np.float64(1.5), 2, True, float("nan")):
        ev = Tick(1, "X", odd, 2.0)  # type: ignore[arg-type]
        assert rows.payload_text(plan, ev) is None
        assert rows.encode(ev) == encode_payload(ev) == reference(ev)


def test_defaulted_fields_are_left_out_while_they_equal_their_default() -> None:
    base = RiskSnapshot(1, "", *([1.0] * 16))
    assert '"var_book95"' not in rows.encode(base) and '"var_contrib"' not in rows.encode(base)
    signed = base._replace(var_book95=-0.0, var_contrib="a:1")  # -0.0 is not the default 0.0
    assert '"var_book95":-0.0' in rows.encode(signed) and '"var_contrib":"a:1"' in rows.encode(signed)
    assert rows.encode(signed) == encode_payload(signed) == reference(signed)


def _random_doubles(n: int) -> list[float]:
    rng = random.Random(7)
    out = []
    while len(out) < n:
        v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(v):
            out.append(v)
        e = rng.randint(-12, 18)
        out.append(round(rng.uniform(-1, 1) * 10.0 ** e, rng.randint(0, 14)))
    return out


def test_float_texts_are_reprs_across_every_magnitude() -> None:
    values = _random_doubles(200_000) + [0.0, -0.0, 1e-4, -1e-4, 9.99e-5, 1e-5, 1e-7, 5e-324,
                                         1e15, 1e16, 1e22, 9999999999999998.0, 2.0**63,
                                         1.7976931348623157e308, 0.1, 1 / 3, 100.00001]
    for i in range(0, len(values), 17):
        chunk = values[i:i + 17]
        assert rows._float_texts(chunk) == [repr(v) for v in chunk]


def test_add_rows_builds_the_writers_rows() -> None:
    evs = (Tick(5, "A", 101.25, 3.0),
           OrderAccepted(6, "A", 2, 10.0, 101.25, "momentum"),
           Fill(7, "A", 3, 10.0, 101.3, 0.05),
           RiskSnapshot(8, "", *([2.5] * 16)))
    ev_rows: list[Any] = []
    orders: list[tuple[Any, ...]] = []
    fills: list[tuple[Any, ...]] = []
    last = rows.add_rows("s1", 41, evs, ev_rows, orders, fills)
    assert last == 44
    assert ev_rows == [v for i, e in enumerate(evs)  # flat: six values a row, the session apart
                       for v in (41 + i, e.ts, kind_of(e), e.symbol, is_input_kind(kind_of(e)), encode_payload(e))]
    assert orders == [("s1", 42, 6, "A", 10.0, 101.25, "momentum", 2)]
    assert fills == [("s1", 43, 7, "A", 3, 10.0, 101.3, 0.05)]


@pytest.mark.parametrize("cls", sorted(ALL_KINDS.values(), key=lambda c: c.__name__))
def test_every_kind_has_a_compiled_plan(cls: type) -> None:
    assert rows._KINDS[cls].plan is not None


def test_add_batches_takes_batches_up_to_the_limit_and_stops_at_a_marker() -> None:
    from collections import deque

    marker = object()
    pending: deque[object] = deque([(1, (Tick(1, "A", 1.5, 1.0),)),
                                    (2, (Tick(2, "A", 2.5, 1.0), Tick(2, "B", 3.5, 1.0))),
                                    marker,
                                    (4, (Tick(4, "A", 4.5, 1.0),))])
    flat: list[Any] = []
    assert rows.add_batches("s1", pending, 10**6, flat, [], []) == 3
    assert len(flat) == 3 * 6 and flat[0::6] == [1, 2, 3]
    assert pending[0] is marker and len(pending) == 2  # the marker and what follows it stay
    pending.popleft()
    assert rows.add_batches("s1", pending, 10**6, flat, [], []) == 4 and not pending
    assert rows.add_batches("s1", pending, 10**6, flat, [], []) == -1  # nothing to take


def test_add_batches_stops_once_the_limit_is_reached() -> None:
    from collections import deque

    pending: deque[object] = deque((i, (Tick(i, "A", 1.0 + i, 1.0),)) for i in range(1, 11))
    flat: list[Any] = []
    assert rows.add_batches("s1", pending, 4 * 6, flat, [], []) == 4  # whole batches until 4 rows are held
    assert len(pending) == 6
    assert rows.add_batches("s1", pending, 4 * 6, flat, [], []) == -1  # full: nothing taken
