"""The replay verifier's fast path (core/verify_loop.py) decides exactly what
the full checks decide: the same events decoded, the same decisions matched,
the same divergences. Runs compiled or interpreted, whichever is loaded."""

from __future__ import annotations

import json
import math
import random
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from core.build import engine_from_setup
from core.codec import DecodeError, encode_payload, from_row, to_row
from core.events import DECISION_KINDS, INPUT_KINDS, Bar, Tick
from core.replay import ReplayReport, Verifier, verify
from core.verify_loop import DECISIONS, FLOAT_INPUTS, SIMPLE_INPUTS, _read, decode_floats, decode_simple, matches
from tests.test_replay import fills_of, logged_session


def slow_verify(engine: Any, rows: list[tuple[Any, ...]], fills: Any) -> ReplayReport:
    """Every row through the full checks (``row_checked``), none through the fast path."""
    v = Verifier(engine, fills)
    for row in rows:
        if not v.row_checked(*row):
            break
    else:
        v.end()
    return v.report()


def random_float(rng: random.Random) -> float:
    c = rng.random()
    if c < 0.3:
        return round(rng.uniform(-1e5, 1e5), rng.randint(0, 9))
    if c < 0.5:
        return rng.uniform(-1e6, 1e6)
    if c < 0.6:
        return float(rng.randint(-10**6, 10**6))
    if c < 0.7:
        return rng.choice([0.0, -0.0, 1e-5, 1e-4, 0.0001, 0.00012, 1e15, 1e16, 123456789012345.0, 0.1,
                           0.30000000000000004, 5e-324, 1.7976931348623157e308])
    if c < 0.85:
        return 10 ** rng.uniform(-8, 17) * rng.choice([1, -1])
    v = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
    return v if math.isfinite(v) else 1.0


def same(a: Any, b: Any) -> bool:
    """Equal, and every float the same bits (so -0.0 is not 0.0)."""
    return type(a) is type(b) and len(a) == len(b) and all(
        type(x) is type(y) and (struct.pack("d", x) == struct.pack("d", y) if isinstance(x, float) else x == y)
        for x, y in zip(a, b))


# ------------------------------------------------------------ numbers and inputs


def test_a_number_reads_back_as_float_does() -> None:
    rng = random.Random(1)
    for _ in range(20_000):
        digits = rng.randint(1, 15)
        point = rng.randint(1, digits - 1) if digits > 1 else 1  # at most 15 digits in all
        text = "".join(rng.choice("0123456789") for _ in range(digits))
        whole, frac = text[:point].lstrip("0") or "0", text[point:] or "0"
        token = rng.choice(["", "-"]) + whole + "." + frac
        end, value = _read(token, 0, len(token))
        assert end == len(token), token
        assert struct.pack("d", value) == struct.pack("d", float(token)), token


@pytest.mark.parametrize("token", ["1", "-", "1.", ".5", "+1.0", "01.5", "-01.0", "1e5", "1.5e3", "1234567890.1234567",
                                   "١.٥", "1_0.5", " 1.0", "NaN", "Infinity", "0x1.0"])
def test_a_number_outside_the_plain_form_is_left_to_the_general_decoder(token: str) -> None:
    end, _ = _read(token, 0, len(token))
    assert end != len(token)


def tick_payloads(rng: random.Random) -> list[str]:
    p, s = random_float(rng), abs(random_float(rng))
    good = '{"price":%r,"size":%r}' % (p, s)
    return [good, good.replace(",", ", "), '{"size":%r,"price":%r}' % (s, p), good[:-1] + ',"x":1.0}',
            good.replace('"size"', '"Size"'), good + " ", "{" + good[1:].replace("}", ""), '{"price":%r}' % p,
            '{"price":%.3f,"size":%.2f}' % (p, s), '{"price":%r,"size":%d}' % (p, int(s)),
            '{"price":NaN,"size":1.0}', '{"price":-Infinity,"size":1.0}', '{"price":1.0,"size":1.0}}',
            '{"price":"1.0","size":1.0}', '{"price":1.0,"size":true}', '{"price":%r,"size":%r}' % (p, -s)]


def test_decoded_ticks_and_bars_are_the_general_decoders_events() -> None:
    rng = random.Random(2)
    tick, bar = FLOAT_INPUTS["tick"], FLOAT_INPUTS["bar"]
    taken = 0
    for _ in range(3_000):
        texts = tick_payloads(rng)
        vals = [random_float(rng) for _ in range(5)]
        texts_bar = [encode_payload(Bar(1, "B", *vals)), encode_payload(Bar(1, "B", *vals)).replace(":", ": ", 1)]
        for plan, payloads in ((tick, texts), (bar, texts_bar)):
            for payload in payloads:
                got = decode_floats(plan, 7, "SYM", payload)
                kind = "tick" if plan is tick else "bar"
                try:
                    want = from_row(kind, 7, "SYM", payload)
                except DecodeError:
                    assert got is None, payload  # a payload the general decoder refuses is never taken here
                    continue
                if got is not None:
                    taken += 1
                    assert same(got, want) and type(got) is type(want), payload
    assert taken > 3_000  # the canonical texts with short numbers are taken


def test_the_canonical_text_of_a_plain_tick_is_taken() -> None:
    ev = Tick(5, "X", 4500.527202, 2.0)
    assert decode_floats(FLOAT_INPUTS["tick"], 5, "X", encode_payload(ev)) == ev


# ------------------------------------------------------------ decisions


def random_value(rng: random.Random, code: str, default: Any) -> Any:
    if default is not None and rng.random() < 0.3:
        return default
    if code == "float":
        return rng.choice([random_float(rng), float("nan"), float("inf"), -0.0]) if rng.random() < 0.1 \
            else random_float(rng)
    if code == "int":
        return rng.choice([0, rng.randint(-10**12, 10**12), True]) if rng.random() < 0.1 else rng.randint(0, 10**6)
    if code == "bool":
        return rng.random() < 0.5
    if rng.random() < 0.2:  # text json escapes
        return rng.choice(['say "hi"', "back\\slash", "tab\there", "caf\u00e9", "\x7f", "\u2028"])
    return rng.choice(["", "momentum", "a b +0.80", "strategy"])


def mutations(text: str, rng: random.Random) -> list[str]:
    out = [text + " ", text.replace(":", ": ", 1), text.replace(".0,", ".00,", 1), text.replace(".0}", ".00}")]
    for _ in range(6):
        i = rng.randrange(len(text))
        out.append(text[:i] + rng.choice('0123456789.-e,":}') + text[i + 1:])
        out.append(text[:i] + text[i + 1:])
    return out


@pytest.mark.parametrize("kind", sorted(DECISION_KINDS))
def test_a_decision_matches_exactly_when_its_text_is_encode_payloads(kind: str) -> None:
    cls = DECISION_KINDS[kind]
    plan = DECISIONS.get(cls)
    assert plan is not None, kind  # every decision kind has a plan
    rng = random.Random(kind)
    fields = cls._fields
    hits = 0
    for _ in range(400):
        vals = [random_value(rng, field_code(cls, f), cls._field_defaults.get(f)) for f in fields[2:]]
        ev = cls(1, "X", *vals)
        text = encode_payload(ev)
        other = cls(1, "X", *[random_value(rng, "float", None) if isinstance(v, float) else v for v in vals])
        for payload in [text, encode_payload(other), *mutations(text, rng)]:
            got = matches(plan, ev, payload)
            assert not got or payload == text, (ev, payload)  # never a match the encoder would not write
            hits += got
        plain = all(not isinstance(v, str) or (v.isascii() and v.isprintable() and '"' not in v and "\\" not in v)
                    for v in vals) and all(not isinstance(v, float) or math.isfinite(v) for v in vals)
        if plain and all(type(v) is cls.__annotations__.get(f, type(v)) for f, v in zip(fields[2:], vals)):
            assert matches(plan, ev, text), (ev, text)  # the common case is taken
    assert hits > 100


def field_code(cls: type, f: str) -> str:
    ann = cls.__annotations__[f]
    return ann.__name__ if isinstance(ann, type) else str(ann)


@pytest.mark.parametrize("kind", sorted(SIMPLE_INPUTS))
def test_other_inputs_decode_as_the_general_decoder_does(kind: str) -> None:
    cls = INPUT_KINDS[kind]
    plan = SIMPLE_INPUTS[kind]
    rng = random.Random(kind)
    taken = 0
    for _ in range(300):
        vals = [random_value(rng, field_code(cls, f), cls._field_defaults.get(f)) for f in cls._fields[2:]]
        text = encode_payload(cls(3, "S", *vals))
        extra = [text.replace("}", ',"zz":1}'), text.replace("{", '{"ts":1,', 1), text.replace('":', '" :', 1),
                 text.replace('""', '"\\u0041"'), text.replace('":1', '":1.0', 1), text.replace('":"', '":"\t', 1)]
        for payload in [text, *mutations(text, rng), *extra]:
            got = decode_simple(plan, 3, "S", payload)
            try:
                want = from_row(kind, 3, "S", payload)
            except DecodeError:
                assert got is None, payload
                continue
            if got is not None:
                taken += 1
                assert same(got, want) and type(got) is type(want), payload
    assert taken > 50  # the plain texts are taken


# ------------------------------------------------------------ whole sessions


@pytest.fixture(scope="module")
def session() -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    return logged_session(events=6_000, seed=3, commands={1500: "halt", 2500: "resume"})


def test_the_fast_path_and_the_full_checks_report_the_same(session: Any) -> None:
    setup, rows = session
    fast = verify(engine_from_setup(setup), rows, fills_of(rows))
    slow = slow_verify(engine_from_setup(setup), rows, fills_of(rows))
    assert fast.verified and fast == slow


def tampered(rows: list[tuple[Any, ...]], rng: random.Random) -> list[tuple[str, list[tuple[Any, ...]]]]:
    def at(kind: str, input_: bool) -> int:
        return rng.choice([i for i, r in enumerate(rows) if r[1] == kind and bool(r[5]) == input_])

    def edit(i: int, **change: Any) -> list[tuple[Any, ...]]:
        out = list(rows)
        seq, kind, ts, symbol, payload, inp = out[i]
        row = dict(seq=seq, kind=kind, ts=ts, symbol=symbol, payload=payload, inp=inp, **{})
        row.update(change)
        out[i] = (row["seq"], row["kind"], row["ts"], row["symbol"], row["payload"], row["inp"])
        return out

    t, d, f = at("tick", True), at("bar_closed", False), at("fill", False)
    tick = json.loads(rows[t][4])
    return [
        ("tick price edited", edit(t, payload='{"price":%r,"size":%r}' % (tick["price"] * 1.5, tick["size"]))),
        ("tick text not canonical, same values", edit(t, payload=json.dumps(tick, indent=1))),
        ("tick price with a trailing zero, same values", edit(t, payload='{"price":%s0,"size":%r}' % (repr(tick["price"]), tick["size"]))),
        ("tick ts edited", edit(t, ts=rows[t][2] + 1)),
        ("tick symbol edited", edit(t, symbol="NOPE")),
        ("tick ts as text", edit(t, ts=str(rows[t][2]))),
        ("tick payload not JSON", edit(t, payload="{")),
        ("tick marked a decision", edit(t, inp=False)),
        ("tick seq out of place", edit(t, seq=rows[t][0] + 7)),
        ("decision value edited", edit(d, payload=rows[d][4].replace(":", ":1", 1))),
        ("decision text with a space", edit(d, payload=rows[d][4].replace(",", ", ", 1))),
        ("decision kind edited", edit(d, kind="position")),
        ("decision marked an input", edit(d, inp=True)),
        ("decision ts edited", edit(d, ts=rows[d][2] - 1)),
        ("fill price edited", edit(f, payload=rows[f][4].replace('"price":', '"price":1', 1))),
        ("a decision deleted", rows[:d] + rows[d + 1:]),
        ("an input deleted", rows[:t] + rows[t + 1:]),
        ("a decision repeated", rows[:d + 1] + rows[d:]),
        ("the log cut after a decision", rows[:d + 1]),
    ]


def test_every_tampering_gets_the_same_verdict_and_message_both_ways(session: Any) -> None:
    setup, rows = session
    fills = fills_of(rows)
    for name, bad in tampered(rows, random.Random(4)):
        fast = verify(engine_from_setup(setup), bad, fills)
        slow = slow_verify(engine_from_setup(setup), bad, fills)
        assert fast == slow, name
        # a decision is compared by its text, an input by what it decodes to (and what that then makes)
        if name.startswith(("decision", "fill", "a decision", "an input", "tick marked", "tick seq", "tick payload",
                            "tick ts as")):
            assert not fast.verified and fast.divergence is not None, name
        elif "same values" in name or name.startswith("the log cut"):
            assert fast.verified, name


def test_an_edited_fills_table_gets_the_same_verdict_both_ways(session: Any) -> None:
    setup, rows = session
    good = fills_of(rows)
    seq = sorted(good)[len(good) // 2]
    for name, fills in [("price", {**good, seq: {**good[seq], "price": good[seq]["price"] + 0.5}}),
                        ("order id", {**good, seq: {**good[seq], "order_id": -1}}),
                        ("row missing", {k: v for k, v in good.items() if k != seq}),
                        ("row extra", {**good, 10**9: good[seq]})]:
        fast = verify(engine_from_setup(setup), rows, fills)
        assert fast == slow_verify(engine_from_setup(setup), rows, fills), name
        assert not fast.verified and fast.divergence is not None, name


def test_a_row_at_a_time_as_console_watch_feeds_them(session: Any) -> None:
    setup, rows = session
    v = Verifier(engine_from_setup(setup), fills_of(rows))
    assert all(v.row(*r) for r in rows) and v.end()
    assert v.report() == verify(engine_from_setup(setup), rows, fills_of(rows))


# ------------------------------------------------------------ from SQLite


def stored(tmp_path: Path, rows: list[tuple[Any, ...]]) -> Path:
    from storage import LogWriter

    path = tmp_path / "log.db"
    writer = LogWriter(path, {"id": "s"}, durable=False)
    writer.write(rows[0][0], [from_row(kind, ts, symbol, payload) for _, kind, ts, symbol, payload, _ in rows])
    writer.close(clean=True)
    return path


def test_streamed_from_sqlite_the_verdict_is_the_one_over_rows_in_memory(tmp_path: Path, session: Any) -> None:
    from storage import fills_by_seq, iter_events, open_db

    setup, rows = session
    db = open_db(stored(tmp_path, rows), create=False, readonly=True)
    cols = ("ts", "symbol", "order_id", "qty", "price", "commission")
    fills = {seq: dict(zip(cols, r)) for seq, r in fills_by_seq(db, "s").items()}
    streamed = verify(engine_from_setup(setup), iter_events(db, "s"), fills)
    listed = verify(engine_from_setup(setup), list(iter_events(db, "s")), fills)
    assert streamed.verified and streamed == listed
    assert [tuple(r) for r in iter_events(db, "s")] == [r[:5] + (bool(r[5]),) for r in rows]


def test_rows_lost_from_the_end_of_a_log_fail_the_stream_both_ways(tmp_path: Path, session: Any) -> None:
    from storage import StorageError, iter_events, open_db

    setup, rows = session
    path = stored(tmp_path, rows)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM events WHERE seq > ?", (rows[-1][0] - 3,))
    con.commit()
    db = open_db(path, create=False, readonly=True)
    with pytest.raises(StorageError, match=f"ends at seq {rows[-1][0] - 3} but seq {rows[-1][0]} was committed"):
        list(iter_events(db, "s"))
    with pytest.raises(StorageError, match="rows lost"):
        verify(engine_from_setup(setup), iter_events(db, "s"), None)
