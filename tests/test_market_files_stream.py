"""core.market.files reads text price files as a stream (issue 19, item 6):
the same bars, fix-ups, identity and first error as the whole-file read, in
memory near the file's size; and a Parquet read leaves no Python buffer to
Arrow's threads (item 10: the abort at exit)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from core.events import Bar
from core.market import files
from core.market.files import BarSeq, file_source, load_bars

ROOT = Path(__file__).resolve().parents[1]

# files whose rows cross many small chunks: missing values, a row with all prices
# missing, blank lines, trailing fields, widened ranges, a Time column the header lacks
OHLCV = ("Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2020-01-{d:02d},{10 + d},{11.5 + d},{9 + d},{10.5 + d},{100 * d}\n" if d != 9 else "2020-01-09,,,,,\n"
    for d in range(1, 29)) + "\n\n" + "2020-01-29,40,41,39,40.5,\n" + "2020-01-30,40,41,39.5,39.3,5,\n")
WIDE = "Date,A,B,C\n" + "".join(
    f"{m}/{d}/2021,{'.' if d % 5 == 0 else 1 + d / 10},{'' if d % 7 == 0 else 2 + d / 10},{3 + d}\n"
    for m in (1, 2) for d in range(1, 28))
INTRADAY = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"01/02/2020,{9 + i // 60:02d}:{i % 60:02d},5,5,5,5,{i}\n" for i in range(0, 90))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8", newline="")
    return p


def snapshot(path: Path, **kw: str) -> tuple:  # type: ignore[type-arg]
    try:
        mf = load_bars(path, **kw)
    except DataError as exc:
        return ("error", str(exc))
    return (list(mf.bars), mf.symbols, mf.bar_ms, mf.fixups, mf.columns, mf.size, mf.sha256)


def whole(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: str) -> tuple:  # type: ignore[type-arg]
    """The same file read by the whole-file path (the stream made to give up at once)."""
    def reread(where: str, text: object) -> files._Table:
        raise files._Reread("test")
    with monkeypatch.context() as m:
        m.setattr(files, "_read_text_stream", reread)
        return snapshot(path, **kw)


@pytest.mark.parametrize("chunk", [1, 3, 7, 65_536])
@pytest.mark.parametrize(("name", "text", "kw"), [
    ("spy.csv", OHLCV, {}), ("wide.csv", WIDE, {}), ("wide.csv", WIDE, {"symbol": "B"}),
    ("wide.csv", WIDE, {"close": "C"}), ("es.csv", INTRADAY, {}),
    ("spy.csv.gz", gzip.compress(OHLCV.encode()), {}),
    ("bom.csv", b"\xef\xbb\xbf" + WIDE.replace("\n", "\r\n").encode(), {}),
])
def test_any_chunk_size_reads_what_the_whole_file_read_reads(tmp_path, monkeypatch, chunk, name, text, kw):  # type: ignore[no-untyped-def]
    path = write(tmp_path, name, text)
    expected = whole(path, monkeypatch, **kw)
    assert expected[0] != "error", expected
    monkeypatch.setattr(files, "CHUNK_ROWS", chunk)
    got = snapshot(path, **kw)
    assert got == expected
    mf = load_bars(path, **kw)
    assert isinstance(mf.bars, BarSeq) and list(file_source(mf)) == list(file_source(
        files.MarketFile(mf.path, mf.symbols, list(mf.bars), mf.bar_ms, mf.fixups)))


@pytest.mark.parametrize(("text", "needle"), [
    # the first problem of the whole-file read wins: bytes that do not decode anywhere ...
    (b'Date,Close\n2020-01-02,"1\n' + b"2020-01-03,2\n" * 50 + b"2020-02-01,\xff\n", "line 53: byte 0xff"),
    (b"Date,Close\n2020-01-02,1,2,3\n" + b"2020-01-03,2\n" * 50 + b"\x00\n", "contains a NUL byte"),
    # ... then bad CSV, before a row of the wrong width earlier in the file
    (b"Date,Close\n2020-01-02,1,2,3\n" + b"2020-01-03,2\n" * 50 + b'2020-03-01,"4"x\n', "line 53: bad CSV"),
    (b"Date,Close\n" + b"2020-01-03,2\n" * 30 + b"2020-02-01,1,2\n" + b"2020-03-01,1\n" * 10,
     "line 32: has 3 fields but the header (line 1) has 2"),
    (b"Date,Close\n" + b"".join(b"2020-01-%02d,%d\n" % (d, d) for d in range(1, 29)) + b"2020-01-28,9\n",
     "line 30: duplicate timestamp"),
    (b"Date,Close\n" + b"".join(b"2020-01-%02d,%d\n" % (d, d) for d in range(1, 29)) + b"2020-02-30,9\n",
     "line 30: Date '2020-02-30' is not a valid date"),
    (b"Date,Close\n" + b"".join(b"2020-01-%02d,%d\n" % (d, d) for d in range(1, 29)) + b"2020-01-29,-1\n",
     "line 30: Close is negative"),
    (gzip.compress(b"Date,Close\n2020-01-02,1\n")[:-6], "corrupt gzip data"),
    (b"\xff\xfe" + "Date,Close\n2020-01-02,1\n".encode("utf-16-le"), None),
    (b"  \n\t\n", "file is empty"), (b",,\n,\n", "every row is blank"), (b"Date,Close\n\n", "no data rows"),
])
def test_errors_are_the_whole_file_reads_first_error_at_any_chunk_size(tmp_path, monkeypatch, text, needle):  # type: ignore[no-untyped-def]
    path = write(tmp_path, "p.csv", text)
    expected = whole(path, monkeypatch)
    if needle is None:
        assert expected[0] != "error" and expected[1] == ("P",)
    else:
        assert expected[0] == "error" and needle in expected[1], expected
    for chunk in (4, 65_536):
        monkeypatch.setattr(files, "CHUNK_ROWS", chunk)
        assert snapshot(path) == expected


def test_barseq_behaves_as_the_list_it_replaces(tmp_path: Path) -> None:
    mf = load_bars(write(tmp_path, "wide.csv", WIDE))
    bars = list(mf.bars)
    seq = mf.bars
    assert isinstance(seq, BarSeq) and len(seq) == len(bars) and seq == bars and bars == seq
    assert [seq[i] for i in range(len(bars))] == bars and seq[-1] == bars[-1] and seq[3:9:2] == bars[3:9:2]
    assert seq.index(bars[10]) == 10 and bars[10] in seq
    with pytest.raises(IndexError):
        seq[len(bars)]
    ts, close = seq.closes("B")
    b = [x for x in bars if x.symbol == "B"]
    assert ts.tolist() == [x.ts for x in b] and close.tolist() == [x.close for x in b]
    assert all(type(x) is Bar and type(x.ts) is int and type(x.close) is float for x in seq)
    assert seq != bars[:-1] and seq != [*bars[:-1], bars[-1]._replace(close=9.0)]


def test_a_large_file_is_read_in_memory_near_its_size(tmp_path: Path) -> None:
    """A 24 MB one-minute OHLCV file: the read's peak RSS above the imports stays
    under 4x the file (the whole-file read took about 20x: 4.2 GB for 200 MB)."""
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(1)
    n = 400_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    stamps = (np.datetime64("2020-01-01T00:00") + np.arange(n).astype("timedelta64[m]")).astype(str)
    with open(path, "w") as f:
        f.write("Date,Open,High,Low,Close,Volume\n")
        f.writelines(f"{s.replace('T', ' ')}:00,{c:.4f},{c * 1.001:.4f},{c * 0.999:.4f},{c:.4f},{i % 997}\n"
                     for i, (s, c) in enumerate(zip(stamps, close)))
    size = path.stat().st_size
    code = ("import json, resource, sys\nfrom core.market.files import load_bars, file_source\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "mf = load_bars(sys.argv[1])\nn = sum(1 for _ in file_source(mf))\n"
            "print(json.dumps({'base': base, 'peak': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
            " 'bars': len(mf.bars), 'events': n}))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=300).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["bars"] == n and r["events"] > 2 * n
    assert (r["peak"] - r["base"]) * 1024 < 4 * size, (r, size)


# ---------------------------------------------------------------- item 10


def test_arrow_reads_parquet_from_a_buffer_it_owns_on_this_thread(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """No Python-owned buffer reaches Arrow, and no Arrow thread reads: what an Arrow
    worker frees at interpreter shutdown then never asks for the GIL (the abort)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Close": [1.0, 2.0]}).to_parquet(path, index=False)
    seen: list[tuple[object, object]] = []
    real = pq.read_table

    def spy(source, **kw):  # type: ignore[no-untyped-def]
        seen.append((source, kw.get("use_threads", True)))
        return real(source, **kw)

    monkeypatch.setattr(pq, "read_table", spy)
    mf = load_bars(path)
    assert [b.close for b in mf.bars] == [1.0, 2.0]
    (source, threads), = seen
    assert isinstance(source, pa.BufferReader) and threads is False
    data = path.read_bytes()
    before = sys.getrefcount(data)
    files._read_parquet(str(path), data)
    assert sys.getrefcount(data) == before  # nothing of Arrow's holds the caller's bytes


@pytest.mark.slow
def test_a_bad_parquet_file_never_aborts_at_exit(tmp_path: Path) -> None:
    """Issue 19 item 10, as filed: a Parquet file whose dates are integers, loaded and
    refused, 60 times in fresh processes: every one exits 2 with its one line (the
    whole-file PyBuffer read aborted with exit 134 in 2 of 60)."""
    import pandas as pd

    path = tmp_path / "pq_date_int.parquet"
    pd.DataFrame({"Date": np.arange(20200101, 20200401), "Open": 100.0, "High": 101.0, "Low": 99.0,
                  "Close": np.linspace(100, 110, 300), "Volume": 1000}).to_parquet(path, index=False)
    code = ("import sys\nfrom core.errors import DataError\nfrom core.market.files import load_bars\n"
            "try:\n    load_bars(sys.argv[1])\nexcept DataError as e:\n    print(e)\n    sys.exit(2)\n")
    codes = [subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=120).returncode
             for _ in range(60)]
    assert codes == [2] * 60, codes
