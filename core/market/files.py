"""Real market-data files: CSV (and Parquet) price files into ``Bar`` events.

``load_bars(path, symbol=None)`` reads one price file and returns a
``MarketFile``; ``file_source(mf)`` turns it into the engine's input stream.
No format flag: the shape is detected from the header and the first data row.

Shapes understood
-----------------
* **OHLCV** (one instrument): a date column plus ``Open, High, Low, Close``
  matched by name, case-insensitively and in any order (mplfinance's
  ``Date,Open,Close,High,Low`` is fine), optional ``Volume``.  ``Close`` is
  used as the close; ``Adj Close``, ``OpenInterest``, ``dividend``, ``split``
  and other extra columns are ignored.  Prices are taken as written: nothing
  is ever split- or dividend-adjusted (zipline's files are already adjusted).
* **Close only** (one instrument): a date column plus ``Close`` (or one
  generic column named Price/Last/Value/Adj Close), optional ``Volume``.
* **Wide closes**: a date column plus one column per symbol (skfolio,
  FRED/arch ``wti.csv``); the column names are the symbols.
* **Intraday**: one datetime column, or separate ``Date`` and ``Time``
  columns, including a header that *lacks* the Time column while every row
  has it (backtrader's 1-minute file; detected from the first data row).
* **Parquet** with the same shapes, the dates in a column or in the
  (pandas-written) index.  Parquet nulls play the part of empty CSV cells.

A date column is one named Date, Datetime, Timestamp, Time, Dt, Day,
Date_Time or Trade_Date; failing that, the first column (named or unnamed)
when its first value is a date.  Date formats, detected from the first row
and then required on every row: ``YYYY-MM-DD``, ISO date-times (``T`` or a
space, seconds and fractions optional, ``Z``/``+HH:MM`` offsets honoured),
``M/D/YYYY`` (US order, as in Yahoo/FRED exports; ``13/1/2020`` is an error,
never read as 13 January) with an optional ``H:MM[:SS]``, ``YYYY/MM/DD`` and
``YYYYMMDD``.  The delimiter is ``,`` unless the header has none and has
``;``, tab or ``|``.  Text must be UTF-8 (a BOM is fine) or UTF-16 with a BOM;
gzip-compressed files are read transparently.

Symbols
-------
One-instrument files: the ``symbol`` argument, else a Symbol/Ticker column
holding a single value, else the file stem upper-cased (``SPY_D.csv`` ->
``SPY_D``).  Wide files: the column names; a ``symbol`` argument selects that
one column (a one-column wide file is renamed to it instead).
``MarketFile.symbols`` is sorted.

Timestamps
----------
``Bar.ts`` is integer milliseconds since the epoch, UTC.  A date without a
time is that date at 00:00 UTC.  A naive date-time is read as UTC *as
written* (the exchange's local clock is not converted: backtrader's European
futures bars keep their 09:01 .. 22:00 labels); a date-time with an offset is
converted to UTC.  ``bar_ms`` is the (lower) median spacing between
consecutive distinct timestamps (0 for a file with a single timestamp).

Fix-up policy
-------------
Automatic, and each one recorded as a line in ``MarketFile.fixups``:

* empty lines and rows whose every field is blank are skipped;
* an unnamed column that is not the date column (pandas_ta's row numbers, a
  trailing delimiter) is ignored; blank fields after the last named column
  are dropped;
* a header lacking the Time column that every row carries is repaired;
* missing-value markers: an empty cell, FRED's ``.`` and Yahoo's ``null``.
  In a wide/close file the symbol has no bar on that date (never
  forward-filled).  In an OHLCV file a row with *all four* prices missing is
  dropped; an empty Volume is read as 0 (a wide file's Volume column, which
  belongs to no one symbol, is ignored);
* an Open or Close outside [Low, High] by at most 2% of that bound (a vendor
  rounding glitch: Yahoo's SPY on 2015-03-05 opens below its low) widens
  Low/High to contain it;
* trade prints (a file with a time of day whose every row has
  Open = High = Low = Close) that share a timestamp are merged into one bar
  (open first, close last, high/low the extremes, volumes summed).

Everything else is a ``DataError`` with one line naming the file, where
(``line N`` = the physical line of a text file, counting the header and
blank lines;
``data row N`` = 1-based row of a Parquet file) and the field: missing file,
unreadable or empty file, undecodable bytes, NUL bytes, bad quoting, a
header-only file, a missing header row (the first line holds a date or a
number), a column name given twice, no recognisable date column, no price
columns, a row with
the wrong number of fields, an empty or unparseable date, a non-numeric, NaN,
infinite, zero, negative or absurd (above ``MAX_PRICE``, 1e12, or below ``MIN_PRICE``, 1e-12) price (``NaN``/``inf`` text is never a missing
marker), a partly missing OHLC row, a negative,
NaN or infinite volume, High below Low, Open/Close further outside the
range than the tolerance, timestamps out of order, duplicate timestamps for
one symbol (other than the trade prints above), a ``symbol`` argument that
names no column of a wide file, a long-format file with
several symbols in a Symbol column, and a file left with no usable rows.
When a stage finds several problems, the earliest line is reported.

Memory
------
A text file is streamed (``_read_table``): read, hashed and parsed
``CHUNK_ROWS`` rows at a time into one compact string per column and run,
and the bars are kept as arrays (``BarSeq``), made into ``Bar`` tuples as
they are read; a 200 MB file takes about 4x its size, where reading it whole
took 20x. The result, the fix-ups and the first error are those of reading
the file whole: a stream that meets bytes that do not decode, a NUL or
corrupt gzip data reads the file whole to word that error. Parquet and
UTF-16 files are read whole.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import itertools
import math
import os
import re
import stat
import zlib
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, overload

import numpy as np
import pandas as pd

from core.errors import DataError
from core.events import Bar, InputEvent, Timer

__all__ = ["BarInterval", "BarSeq", "Closes", "MarketFile", "bar_interval", "load_bars", "load_closes",
           "file_source", "symbol_closes", "DAY_MS"]

DAY_MS = 86_400_000
# A price above this is corrupt data, not a market (the dearest listed share
# trades near 1e6); 1e308 "prices" once passed as a confirmed gap and sent
# inf and NaN into every risk figure and model
MAX_PRICE = 1e12
# and one below this is too (the cheapest traded tokens print near 1e-8): a
# fuzzed file's 1e-320 passed as a price, and NAV / price overflowed the
# sizing to inf (a NaN target and a stopped session)
MIN_PRICE = 1e-12
# columns of one file (a wide file: one per symbol); the engine's per-bar work
# grows with the symbols, and 10,000 of them took ~15 minutes to fail or finish
MAX_COLUMNS = 1_000

# rows read (and kept as one joined string per column) at a time: memory
# stays near the file's size however long the file is (issue 19)
CHUNK_ROWS = 65_536
# joins a chunk's cells: NUL never reaches a cell of a text file (refused)
_SEP = "\x00"
# bytes read from the file at a time
READ_BYTES = 1 << 20

#: cell values that mean "no value here" (see the fix-up policy)
MISSING_MARKERS = frozenset({"", ".", "null"})
#: how far (relative) an Open/Close may sit outside [Low, High] and be widened
RANGE_TOLERANCE = 0.02

_DATE_NAMES = ("date", "datetime", "timestamp", "dt", "date_time", "trade_date", "day")
_TIME_NAME = "time"
_PRICE_NAMES = ("open", "high", "low", "close")
_VOLUME_NAMES = frozenset({"volume", "vol"})
_SYMBOL_NAMES = frozenset({"symbol", "ticker"})
_GENERIC_CLOSE = frozenset({"price", "last", "value", "adj close", "adj_close", "adjclose"})
_IGNORED_NAMES = frozenset({
    "adj close", "adj_close", "adjclose", "adjusted close", "openinterest",
    "open interest", "open_interest", "oi", "dividend", "dividends", "split",
    "splits", "split ratio", "split_ratio",
})
_UNNAMED_RE = re.compile(r"(unnamed: \d+|__index_level_\d+__|index)?", re.IGNORECASE)
_TIME_RE = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?")

# (pattern, pandas format, human description, has a time of day)
_DATE_FORMATS: tuple[tuple[re.Pattern[str], str, str, bool], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d", "YYYY-MM-DD", False),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?"),
     "ISO8601", "YYYY-MM-DD HH:MM[:SS]", True),
    (re.compile(r"\d{1,2}/\d{1,2}/\d{4}"), "%m/%d/%Y", "M/D/YYYY", False),
    (re.compile(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}"), "%m/%d/%Y %H:%M:%S",
     "M/D/YYYY H:MM:SS", True),
    (re.compile(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}"), "%m/%d/%Y %H:%M", "M/D/YYYY H:MM", True),
    (re.compile(r"\d{4}/\d{2}/\d{2}"), "%Y/%m/%d", "YYYY/MM/DD", False),
    (re.compile(r"\d{8}"), "%Y%m%d", "YYYYMMDD", False),
)
_EXPECTED_DATES = "expected YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], M/D/YYYY or YYYYMMDD"


@dataclass(frozen=True)
class MarketFile:
    """A loaded price file.

    ``bars`` are sorted by (ts, symbol); ``bar_ms`` is the median spacing of
    the distinct timestamps; ``fixups`` lists every automatic fix-up applied,
    one human-readable line each (empty when the file was clean)."""

    path: str
    symbols: tuple[str, ...]
    bars: Sequence[Bar]  # a BarSeq from load_bars (the bars made as they are read), or a list
    bar_ms: int
    fixups: tuple[str, ...]
    columns: tuple[str, ...] = ()  # the header as read (after the Time repair), for column choices
    # what was read (after gunzip): its length and sha256, so that a session
    # logged on this file can refuse to resume on a different one
    size: int = 0
    sha256: str = ""


class BarSeq(SequenceABC[Bar]):
    """The bars of a loaded file, kept as arrays and made into ``Bar`` tuples
    as they are read: a row of timestamps, one column per symbol (sorted), and
    which cells hold a bar. Iteration is by timestamp, then symbol, as the
    list it replaces; equal to any sequence of the same bars (a list too)."""

    __slots__ = ("ts", "names", "present", "o", "h", "l", "c", "v", "_n", "_cum")

    def __init__(self, ts: np.ndarray, names: Sequence[str], o: np.ndarray, h: np.ndarray, l: np.ndarray,
                 c: np.ndarray, v: np.ndarray | None, present: np.ndarray | None = None) -> None:
        self.ts = ts  # (rows,) int64 epoch ms
        self.names = tuple(names)  # one per column
        self.present = present  # (rows, columns) bool, None: every cell
        self.o, self.h, self.l, self.c = o, h, l, c  # (rows, columns) float64
        self.v = v  # (rows, columns) float64, None: volume 0
        self._n = int(present.sum()) if present is not None else ts.size * len(self.names)
        self._cum: np.ndarray | None = None

    def __len__(self) -> int:
        return self._n

    def _cells(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of the bars in rows a..b-1, in order."""
        if self.present is None:
            k = len(self.names)
            return np.repeat(np.arange(a, b), k), np.tile(np.arange(k), b - a)
        r, j = np.nonzero(self.present[a:b])
        return r + a, j

    def _make(self, r: np.ndarray, j: np.ndarray) -> Iterator[Bar]:
        c = self.c[r, j].tolist()
        same = self.o is self.c and self.h is self.c and self.l is self.c
        o, h, l = (c, c, c) if same else (self.o[r, j].tolist(), self.h[r, j].tolist(), self.l[r, j].tolist())
        v = self.v[r, j].tolist() if self.v is not None else [0.0] * len(c)
        names = self.names
        return map(Bar, self.ts[r].tolist(), [names[x] for x in j.tolist()], o, h, l, c, v)

    def __iter__(self) -> Iterator[Bar]:
        rows = self.ts.size
        step = max(1, CHUNK_ROWS // max(1, len(self.names)))
        for a in range(0, rows, step):
            yield from self._make(*self._cells(a, min(rows, a + step)))

    @overload
    def __getitem__(self, i: int) -> Bar: ...

    @overload
    def __getitem__(self, i: slice) -> list[Bar]: ...

    def __getitem__(self, i: int | slice) -> Bar | list[Bar]:
        if isinstance(i, slice):
            idx = range(*i.indices(self._n))
            return [self[k] for k in idx]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("bar index out of range")
        k = len(self.names)
        if self.present is None:
            r, j = divmod(i, k)
        else:
            if self._cum is None:
                self._cum = np.cumsum(self.present.sum(axis=1))
            r = int(np.searchsorted(self._cum, i, side="right"))
            before = int(self._cum[r - 1]) if r else 0
            j = int(np.flatnonzero(self.present[r])[i - before])
        return next(self._make(np.array([r]), np.array([j])))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SequenceABC) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BarSeq({self._n} bars of {', '.join(self.names)})"

    def closes(self, symbol: str) -> tuple[np.ndarray, np.ndarray]:
        """(ts, close) of one symbol's bars, as arrays."""
        j = self.names.index(symbol)
        if self.present is None:
            return self.ts, self.c[:, j]
        m = self.present[:, j]
        return self.ts[m], self.c[m, j]


def symbol_closes(mf: "MarketFile", symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(ts int64, close float64) of ``symbol``'s bars in ``mf``, in order."""
    if isinstance(mf.bars, BarSeq):
        return mf.bars.closes(symbol)
    bars = [b for b in mf.bars if b.symbol == symbol]
    return (np.array([b.ts for b in bars], dtype=np.int64), np.array([b.close for b in bars], dtype=np.float64))


# ------------------------------------------------------------------ helpers


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _clip(text: str, limit: int = 40) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _show(text: str) -> str:
    """A cell value quoted for a message, kept short and on one line."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


class _Fail(Exception):
    """An error at a data row (index into the table's rows), formatted later."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.message = message


class _Column:
    """A column's stripped cells, kept compactly: each run of ``CHUNK_ROWS``
    cells is one string joined by NUL (a string per cell would cost about 50
    bytes each beside it; a 200 MB file took 4 GB)."""

    __slots__ = ("chunks", "plain", "n", "_at")

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.plain: list[str] | None = None  # cells that hold NUL themselves (Parquet)
        self.n = 0
        self._at: tuple[int, list[str]] = (-1, [])

    @classmethod
    def of(cls, cells: list[str]) -> "_Column":
        col = cls()
        if any(_SEP in v for v in cells):
            col.plain, col.n = cells, len(cells)
            return col
        for a in range(0, len(cells), CHUNK_ROWS):
            col.add(cells[a:a + CHUNK_ROWS])
        return col

    def add(self, cells: Sequence[str]) -> None:
        """Append a run of (already stripped) cells; every run but the last has CHUNK_ROWS."""
        self.chunks.append(_SEP.join(cells))
        self.n += len(cells)

    def __len__(self) -> int:
        return self.n

    def runs(self) -> Iterator[tuple[int, list[str]]]:
        """(first row, cells) of each run, in order."""
        if self.plain is not None:
            for a in range(0, self.n, CHUNK_ROWS):
                yield a, self.plain[a:a + CHUNK_ROWS]
            return
        for k, text in enumerate(self.chunks):
            yield k * CHUNK_ROWS, text.split(_SEP)

    def __getitem__(self, i: int) -> str:
        if self.plain is not None:
            return self.plain[i]
        if i < 0:
            i += self.n
        k = i // CHUNK_ROWS
        if self._at[0] != k:
            self._at = (k, self.chunks[k].split(_SEP))
        return self._at[1][i - k * CHUNK_ROWS]


class _Stamps:
    """The date column's cells, or ``"date time"`` from a date and a time
    column ("" when the time is empty), run by run or one at a time."""

    def __init__(self, dates: _Column, times: _Column | None) -> None:
        self.dates, self.times = dates, times

    def __len__(self) -> int:
        return len(self.dates)

    def runs(self) -> Iterator[tuple[int, list[str]]]:
        if self.times is None:
            yield from self.dates.runs()
            return
        for (a, d), (_, t) in zip(self.dates.runs(), self.times.runs()):
            yield a, [f"{x} {y}" if y else "" for x, y in zip(d, t)]

    def __getitem__(self, i: int) -> str:
        d = self.dates[i]
        if self.times is None:
            return d
        t = self.times[i]
        return f"{d} {t}" if t else ""


@dataclass
class _Table:
    """A file as strings: the header and column-major stripped cells."""

    where: str                 # the file as the user named it
    unit: str                  # "line" (text) or "data row" (Parquet)
    header_at: str             # "line 1" / "header"
    header: list[str]
    columns: list[_Column]
    locs: np.ndarray           # line / data-row number of each row (int64)
    fixups: list[str]

    def fail(self, message: str, row: int | None = None) -> DataError:
        where = self.where if row is None else f"{self.where} {self.unit} {self.locs[row]}"
        return DataError(_one_line(f"{where}: {message}"))

    def fail_header(self, message: str) -> DataError:
        return DataError(_one_line(f"{self.where} {self.header_at}: {message}"))

    def at(self, row: int) -> str:
        return f"{self.unit} {self.locs[row]}"


# ------------------------------------------------------------------ reading


def _open_regular(where: str, path: Path) -> io.BufferedReader:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below
    # then refuses it, and devices (/dev/zero would read forever), by what the
    # opened file is rather than by a check that could race a rename
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DataError(_one_line(f"{where}: file not found")) from None
    except OSError as exc:
        raise DataError(_one_line(f"{where}: cannot read the file ({exc.strerror or exc})")) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(_one_line(f"{where}: is a directory, not a price file"))
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise DataError(_one_line(f"{where}: is {kind}, not a regular file; give a price file"))
        return os.fdopen(fd, "rb", buffering=READ_BYTES)
    except BaseException:
        os.close(fd)
        raise


def _read_bytes(where: str, path: Path) -> bytes:
    """The whole file (gunzipped): for Parquet, UTF-16 text, and to word an
    error exactly as a whole-file read finds it."""
    with _open_regular(where, path) as f:
        try:
            data = f.read()
        except OSError as exc:
            raise DataError(_one_line(f"{where}: cannot read the file ({exc.strerror or exc})")) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(_one_line(f"{where}: corrupt gzip data ({exc})")) from None
    return data


class _Reread(Exception):
    """The stream met something a whole-file read words differently (bytes
    that do not decode, a NUL, corrupt gzip): read the whole file instead."""


class _Source(io.RawIOBase):
    """The file's bytes as read (gunzipped), counted and hashed on the way:
    the identity a resume checks, without holding the bytes."""

    def __init__(self, where: str, f: io.BufferedReader) -> None:
        super().__init__()
        self.where, self.file = where, f
        self.gz = f.peek(2)[:2] == b"\x1f\x8b"
        self.f: Any = gzip.GzipFile(fileobj=f, mode="rb") if self.gz else f
        self.size = 0
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            n = self.f.readinto(b)
        except (EOFError, zlib.error) as exc:
            raise _Reread(str(exc)) from None
        except OSError as exc:
            if self.gz:  # gzip's own errors are OSErrors: worded as a whole-file read words them
                raise _Reread(str(exc)) from None
            raise DataError(_one_line(f"{self.where}: cannot read the file ({exc.strerror or exc})")) from None
        n = n or 0
        self.hash.update(memoryview(b)[:n])
        self.size += n
        return int(n)

    def close(self) -> None:
        if not self.closed:
            if self.gz:
                self.f.close()
            self.file.close()
        super().close()


def _lines(text: io.TextIOWrapper) -> Iterator[str]:
    """The text's physical lines (as ``StringIO(newline="")`` splits them);
    a NUL, or bytes that do not decode, end the stream with ``_Reread``."""
    try:
        for line in text:
            if "\x00" in line:
                raise _Reread("NUL")
            yield line
    except UnicodeDecodeError as exc:
        raise _Reread(str(exc)) from None


def _delimiter(first: str) -> str:
    """The field delimiter, from the first line with text: a comma, else the
    first of ; tab | that it holds (a comma when none)."""
    if "," not in first:
        for cand in (";", "\t", "|"):
            if cand in first:
                return cand
    return ","


class _CsvRows:
    """A CSV reader's data rows, as (line, fields), for both text reads: the
    first row with text is the header; blank rows are skipped, and those
    after the header counted (``fixups`` words them)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.header: list[str] = []
        self.header_line = 0  # 0: no header yet
        self.blank = 0
        self.first_blank = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self.reader
        end = 0
        for row in reader:
            start, end = end + 1, reader.line_num
            if "".join(row).strip():
                self.header = [name.strip() for name in row]
                self.header_line = start
                break
        for row in reader:
            start, end = end + 1, reader.line_num
            if "".join(row).strip():
                yield start, row
            else:
                self.blank += 1
                self.first_blank = self.first_blank or start

    def checked(self, where: str, n_rows: int) -> list[str]:
        """The header, once every row is read: a ``DataError`` when there is
        none or no data row follows it (``n_rows`` of them were)."""
        if not self.header_line:  # e.g. a lone delimiter: not blank text, but no field
            raise DataError(_one_line(f"{where}: file is empty (every row is blank)"))
        if not n_rows:
            raise DataError(_one_line(f"{where}: no data rows after the header (line {self.header_line})"))
        return self.header

    def fixups(self) -> list[str]:
        """The fix-up line for the skipped blank rows, if there were any."""
        if not self.blank:
            return []
        return [f"skipped {self.blank} empty line{'s' if self.blank > 1 else ''} (first: line {self.first_blank})"]


def _missing_time(header: list[str], row: list[str], header_line: int) -> str | None:
    """backtrader's 1-minute file: the header lacks Time but every row has it.
    When the first data ``row`` shows that, "Time" goes into ``header`` after
    the date column and the fix-up line is returned; else None."""
    lowered = [name.lower() for name in header]
    if _TIME_NAME not in lowered and len(row) == len(header) + 1:
        date_at = next((lowered.index(n) for n in _DATE_NAMES if n in lowered), None)
        if date_at is not None and _TIME_RE.fullmatch(row[date_at + 1].strip()):
            header.insert(date_at + 1, "Time")
            return (f"the header (line {header_line}) has {len(header) - 1} names but the rows "
                    f"have {len(header)} fields: read field {date_at + 2} as the missing Time column")
    return None


def _read_text_stream(where: str, text: io.TextIOWrapper) -> _Table:
    """``_read_text`` over a stream, CHUNK_ROWS rows at a time into compact
    columns: the same table, the same fix-ups, the same first error, in memory
    about the size of the file. Raises ``_Reread`` where a whole-file read
    would report something else first (a decode error or NUL anywhere)."""
    lines = _lines(text)
    head: list[str] = []
    first = None
    for line in lines:
        head.append(line)
        if line.strip():
            first = next(p for p in line.splitlines() if p.strip())
            break
    if first is None:
        raise DataError(_one_line(f"{where}: file is empty"))

    reader = csv.reader(itertools.chain(head, lines), delimiter=_delimiter(first), strict=True)
    data = _CsvRows(reader)
    columns: list[_Column] = []
    locs: list[np.ndarray] = []
    rows: list[list[str]] = []
    row_locs: list[int] = []
    n_rows = 0
    trailing = 0
    first_trailing = 0
    width = 0
    repair: str | None = None
    problem: DataError | None = None  # the first row of the wrong width: raised after every row is read

    def flush() -> None:
        nonlocal rows, row_locs
        if rows and problem is None:
            for j, col in enumerate(zip(*rows)):
                columns[j].add([v.strip() for v in col])
            locs.append(np.asarray(row_locs, dtype=np.int64))
        rows, row_locs = [], []

    try:
        for start, row in data:
            if n_rows == 0:
                repair = _missing_time(data.header, row, data.header_line)
                width = len(data.header)
                columns = [_Column() for _ in range(width)]
            n_rows += 1
            n = len(row)
            if n != width:
                if n > width and not "".join(row[width:]).strip():
                    row = row[:width]
                    trailing += 1
                    first_trailing = first_trailing or start
                elif problem is None:
                    problem = DataError(_one_line(
                        f"{where} line {start}: has {n} field{'s' if n != 1 else ''} but the header "
                        f"(line {data.header_line}) has {width}"))
            if problem is None:
                rows.append(row)
                row_locs.append(start)
                if len(rows) == CHUNK_ROWS:
                    flush()
    except csv.Error as exc:
        error = DataError(_one_line(f"{where} line {reader.line_num}: bad CSV ({exc})"))
        for _ in lines:  # a decode error or NUL further on is what a whole-file read reports
            pass
        raise error from None
    flush()

    header = data.checked(where, n_rows)
    if problem is not None:
        raise problem
    fixups = data.fixups()
    if repair is not None:
        fixups.append(repair)
    if trailing:
        fixups.append(f"dropped blank trailing fields on {trailing} line{'s' if trailing > 1 else ''} "
                      f"(first: line {first_trailing})")
    return _Table(where, "line", f"line {data.header_line}", header, columns, np.concatenate(locs), fixups)


def _decode(where: str, data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DataError(_one_line(
                f"{where}: bytes are not valid UTF-16 near byte {exc.start}; "
                "save the file as UTF-8")) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(_one_line(
            f"{where} line {line}: byte 0x{data[exc.start]:02x} at column {column} is not "
            "valid UTF-8 (wrong encoding?); save the file as UTF-8")) from None


def _looks_utf16(data: bytes) -> bool:
    """ASCII-range text saved as UTF-16 with no BOM: every other byte is NUL."""
    head = data[: min(len(data), 256) // 2 * 2]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return even.count(0) == len(even) and odd.count(0) == 0 or \
        odd.count(0) == len(odd) and even.count(0) == 0


def _read_text(where: str, data: bytes) -> _Table:
    text = _decode(where, data)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        if _looks_utf16(data):
            raise DataError(_one_line(
                f"{where} line {line}: looks like UTF-16 without a byte-order mark; "
                "save the file as UTF-8"))
        raise DataError(_one_line(f"{where} line {line}: contains a NUL byte (a binary file?)"))
    if not text.strip():
        raise DataError(_one_line(f"{where}: file is empty"))

    first = next(ln for ln in text.splitlines() if ln.strip())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), strict=True)
    walk = _CsvRows(reader)
    rows: list[list[str]] = []
    locs: list[int] = []
    try:
        for start, row in walk:
            rows.append(row)
            locs.append(start)
    except csv.Error as exc:
        raise DataError(_one_line(f"{where} line {reader.line_num}: bad CSV ({exc})")) from None

    header = walk.checked(where, len(rows))
    fixups = walk.fixups()
    repair = _missing_time(header, rows[0], walk.header_line)
    if repair is not None:
        fixups.append(repair)

    width = len(header)
    trailing = 0
    first_trailing = 0
    for i, row in enumerate(rows):
        n = len(row)
        if n == width:
            continue
        if n > width and not "".join(row[width:]).strip():
            rows[i] = row[:width]
            trailing += 1
            first_trailing = first_trailing or locs[i]
            continue
        raise DataError(_one_line(
            f"{where} line {locs[i]}: has {n} field{'s' if n != 1 else ''} but the header "
            f"(line {walk.header_line}) has {width}"))
    if trailing:
        fixups.append(f"dropped blank trailing fields on {trailing} line{'s' if trailing > 1 else ''} "
                      f"(first: line {first_trailing})")

    columns = [_Column.of([v.strip() for v in col]) for col in zip(*rows)]
    return _Table(where, "line", f"line {walk.header_line}", header, columns, np.asarray(locs, dtype=np.int64),
                  fixups)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return repr(value)
    return str(value)


def _read_parquet(where: str, data: bytes) -> _Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Arrow reads a copy in its own memory, on this thread. Handed the Python
    # bytes, Arrow wraps them in a PyBuffer, and read_table's dataset fragment
    # that held it was sometimes released on an Arrow CPU-pool worker as late as
    # interpreter shutdown: ~PyBuffer asked for the GIL, CPython ends a thread
    # that does so while finalizing with pthread_exit, and the forced unwind
    # through a noexcept destructor is std::terminate ("terminate called without
    # an active exception", exit 134: 2 of 60 runs on a bad Parquet file; issue
    # 19 item 10). A buffer Arrow owns needs no GIL to be freed.
    sink = pa.BufferOutputStream()
    sink.write(data)
    try:
        table = pq.read_table(pa.BufferReader(sink.getvalue()), use_threads=False)
    except Exception as exc:  # any parser failure on corrupt bytes
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(_one_line(f"{where}: not a readable Parquet file ({_clip(detail, 120)})")) from None
    if table.num_rows == 0:
        raise DataError(_one_line(f"{where}: no data rows"))
    names = list(table.column_names)
    meta = table.schema.pandas_metadata or {}
    index_cols = [c for c in meta.get("index_columns", []) if isinstance(c, str) and c in names]
    order = index_cols + [n for n in names if n not in index_cols]
    header = ["" if re.fullmatch(r"__index_level_\d+__", n) else str(n).strip() for n in order]
    columns = [_Column.of([_cell(v).strip() for v in table.column(n).to_pylist()]) for n in order]
    locs = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return _Table(where, "data row", "header", header, columns, locs, [])


# ------------------------------------------------------------------ parsing


def _date_format(value: str) -> tuple[re.Pattern[str], str, str, bool] | None:
    for fmt in _DATE_FORMATS:
        if fmt[0].fullmatch(value):
            return fmt
    return None


def _parse_times(tb: _Table, field: str, values: _Stamps) -> tuple[np.ndarray, bool]:
    """Timestamps (int64 ms UTC) of every row, and whether they carry a time of day.
    The format is the first row's; the rows are parsed a run at a time."""
    first = values[0]
    if not first:
        raise _Fail(0, f"{field} is empty")
    fmt = _date_format(first)
    if fmt is None:
        raise _Fail(0, f"{field} {_show(first)} is not a recognisable date ({_EXPECTED_DATES})")
    pattern, pd_format, human, has_time = fmt
    parts: list[np.ndarray] = []
    for start, run in values.runs():
        series = pd.Series(run, dtype=object)
        ok = np.fromiter((pattern.fullmatch(v) is not None for v in run), dtype=bool, count=len(run))
        parsed = pd.to_datetime(series.where(ok, None), format=pd_format, utc=True, errors="coerce")
        ok &= ~parsed.isna().to_numpy()
        if not ok.all():
            row = int(np.argmin(ok))
            if not run[row]:
                raise _Fail(start + row, f"{field} is empty")
            raise _Fail(start + row, f"{field} {_show(run[row])} is not a valid date in this file's format ({human})")
        parts.append(pd.DatetimeIndex(parsed).as_unit("ms").asi8.astype(np.int64))
    return np.concatenate(parts), has_time


def _floats(values: Sequence[str]) -> tuple[np.ndarray, int | None]:
    """Parse cells; returns (values, index of the first non-numeric cell or None)."""
    try:
        return np.array(values, dtype=object).astype(np.float64), None
    except (ValueError, OverflowError, TypeError):
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (ValueError, OverflowError, TypeError):
                return out, i
        return out, None  # pragma: no cover - numpy and float() agree


def _price_column(field: str, cells: list[str], present: np.ndarray,
                  is_volume: bool = False) -> tuple[np.ndarray, _Fail | None]:
    """Parse a column where ``present``; the first problem in file order, if any."""
    idx = np.flatnonzero(present)
    sub = [cells[i] for i in idx]
    vals, bad = _floats(sub)
    out = np.zeros(len(cells), dtype=np.float64)
    limit = len(sub) if bad is None else bad
    good = vals[:limit]
    problems = ~np.isfinite(good) | ((good < 0) if is_volume else ((good < MIN_PRICE) | (good > MAX_PRICE)))
    first = int(np.argmax(problems)) if problems.any() else None
    if bad is not None and first is None:
        return out, _Fail(int(idx[bad]), f"{field} is not a number ({_show(sub[bad])})")
    if first is None:
        out[idx] = vals
        return out, None
    raw, v, row = sub[first], good[first], int(idx[first])
    if np.isnan(v):
        return out, _Fail(row, f"{field} is NaN ({_show(raw)})")
    if np.isinf(v):
        return out, _Fail(row, f"{field} is not finite ({_show(raw)})")
    if v == 0:
        return out, _Fail(row, f"{field} is zero ({_clip(raw)})")
    if v > MAX_PRICE:
        return out, _Fail(row, f"{field} is above {MAX_PRICE:g}, no instrument's price ({_clip(raw)})")
    if v > 0:
        return out, _Fail(row, f"{field} is below {MIN_PRICE:g}, no instrument's price ({_clip(raw)})")
    return out, _Fail(row, f"{field} is negative ({_clip(raw)})")


def _parse_column(tb: _Table, col: int, present: np.ndarray,
                  is_volume: bool = False) -> tuple[np.ndarray, _Fail | None]:
    """``_price_column`` over a whole column, a run at a time: the values
    where ``present``, and the column's first problem in file order."""
    out = np.zeros(len(tb.locs), dtype=np.float64)
    for start, cells in tb.columns[col].runs():
        end = start + len(cells)
        vals, fail = _price_column(tb.header[col], cells, present[start:end], is_volume)
        if fail is not None:
            return out, _Fail(start + fail.row, fail.message)
        out[start:end] = vals
    return out, None


def _missing(column: _Column) -> tuple[np.ndarray, str]:
    """Which cells are missing-value markers, and which markers (``'.' or 'null'``)."""
    parts: list[np.ndarray] = []
    kinds: set[str] = set()
    for _start, cells in column.runs():
        miss = np.fromiter((c in MISSING_MARKERS for c in cells), dtype=bool, count=len(cells))
        kinds.update(cells[i] for i in np.flatnonzero(miss))
        parts.append(miss)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=bool)), " or ".join(repr(k) for k in sorted(kinds))


def _raise_first(tb: _Table, fails: list[_Fail]) -> None:
    if fails:
        first = min(fails, key=lambda f: f.row)
        raise tb.fail(first.message, first.row)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except (ValueError, OverflowError):
        return False


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ------------------------------------------------------------------ building


def _check_order(tb: _Table, ts: np.ndarray, raw: _Stamps, allow_equal: bool) -> None:
    if len(ts) < 2:
        return
    diff = np.diff(ts)
    bad = diff < 0 if allow_equal else diff <= 0
    if not bad.any():
        return
    i = int(np.argmax(bad)) + 1
    if diff[i - 1] < 0:
        hint = " (the file is newest-first: sort it oldest-first)" if (diff < 0).all() else ""
        raise tb.fail(f"timestamp {_clip(raw[i])} is before {_clip(raw[i - 1])} on "
                      f"{tb.at(i - 1)}{hint}", i)
    raise tb.fail(f"duplicate timestamp {_clip(raw[i])} (also on {tb.at(i - 1)})", i)


def _bar_ms(ts: np.ndarray) -> int:
    uniq = np.unique(ts)
    if len(uniq) < 2:
        return 0
    gaps = np.sort(np.diff(uniq))
    return int(gaps[(len(gaps) - 1) // 2])  # the lower median: always a real spacing


def _build(tb: _Table, symbol: str | None, stem: str, close: str | None = None) -> MarketFile:
    header = tb.header
    lowered = [n.lower() for n in header]
    n_rows = len(tb.locs)

    # before the duplicate check: a header-less file's first row often
    # repeats a value (Volume 0, OpenInterest 0), and "appears twice" misleads
    for name in header:
        if name and (_date_format(name) is not None or _is_number(name)):
            raise tb.fail_header(f"{_show(name)} looks like data, not a column name: the "
                          "file needs a header row such as Date,Open,High,Low,Close,Volume")

    seen: dict[str, int] = {}
    for i, name in enumerate(lowered):
        if not name:
            continue
        if name in seen:
            raise tb.fail_header(f"column {_show(header[i])} appears twice "
                          f"(columns {seen[name] + 1} and {i + 1})")
        seen[name] = i

    # ---- the date (and time) column
    date_at = next((seen[n] for n in _DATE_NAMES if n in seen), None)
    time_at = seen.get(_TIME_NAME)
    if date_at is None and time_at is not None:
        date_at, time_at = time_at, None
    if date_at is None:
        first = tb.columns[0][0].strip() if tb.columns else ""
        if tb.columns and _date_format(first) is not None:
            date_at = 0
        else:
            shown = _clip(",".join(header), 80)
            raise tb.fail_header(f"no recognisable date column (want one named Date, "
                          f"Datetime or Timestamp, or a first column of dates; header is {shown!r})")
    field = header[date_at] or "date"
    stamps = _Stamps(tb.columns[date_at], None if time_at is None else tb.columns[time_at])
    if time_at is not None:
        field = f"{field}/{header[time_at]}"

    fixups = list(tb.fixups)
    used = {date_at} if time_at is None else {date_at, time_at}
    for i, name in enumerate(header):
        if i not in used and _UNNAMED_RE.fullmatch(name):
            fixups.append(f"ignored unnamed column {i + 1}" + (" (row numbers)" if i == 0 else ""))
            used.add(i)

    sym_col = next((seen[n] for n in _SYMBOL_NAMES if n in seen and seen[n] not in used), None)
    if sym_col is not None:
        used.add(sym_col)
        found: set[str] = set()
        for _start, cells in tb.columns[sym_col].runs():
            found.update(cells)
        names = sorted(v for v in found if v)
        if len(names) > 1:
            raise tb.fail(f"column {_show(header[sym_col])} holds several symbols "
                          f"({_clip(', '.join(names), 60)}): a long-format file is not supported; "
                          "use one file per symbol or a wide file of closes")
        if names and symbol is None:
            symbol = names[0]
    if symbol is not None and not symbol.strip():
        raise tb.fail("the symbol given is empty")

    fails: list[_Fail] = []
    try:
        ts, has_time = _parse_times(tb, field, stamps)
    except _Fail as f:
        fails.append(f)
        ts, has_time = np.zeros(n_rows, dtype=np.int64), False

    if close is not None:  # one named column read as the closes, whatever else the file has
        col = _named(header, close, used)
        if col is None:
            listing = ", ".join(n for i, n in enumerate(header) if n and i not in used)
            raise tb.fail_header(f"has no column {_show(close)} (columns: {_clip(listing, 120)})")
        return _build_wide(tb, ts, stamps, [col], [symbol or header[col]], None, fixups, fails)

    ohlc = {n: seen[n] for n in _PRICE_NAMES if n in seen and seen[n] not in used}
    vol_at = next((seen[n] for n in _VOLUME_NAMES if n in seen and seen[n] not in used), None)
    if ohlc and set(ohlc) != {"close"}:
        missing = [n.capitalize() for n in _PRICE_NAMES if n not in ohlc]
        if missing:
            raise tb.fail_header(f"has {', '.join(header[ohlc[n]] for n in ohlc)} "
                          f"but no {', '.join(missing)} column")
        return _build_ohlc(tb, symbol or stem, ts, has_time, stamps, ohlc, vol_at, fixups, fails)

    if "close" in ohlc:
        price_cols = [ohlc["close"]]
    else:
        price_cols = [i for i in range(len(header)) if i not in used and i != vol_at
                      and lowered[i] not in _IGNORED_NAMES - _GENERIC_CLOSE]
    if not price_cols:
        raise tb.fail_header(f"no price columns beside {_show(header[date_at])}")
    single = len(price_cols) == 1 and lowered[price_cols[0]] in _GENERIC_CLOSE | {"close"}
    if single:
        names = [symbol or stem]
    else:
        names = [header[i] for i in price_cols]
        if symbol is not None:
            pick = [k for k, n in enumerate(names) if n == symbol] or \
                [k for k, n in enumerate(names) if n.lower() == symbol.lower()]
            if pick:
                price_cols, names = [price_cols[pick[0]]], [names[pick[0]]]
            elif len(names) == 1:
                names = [symbol]
            else:
                raise tb.fail(f"symbol {_show(symbol)} is not a column of this file "
                              f"(columns: {_clip(', '.join(names), 80)})")
    vol_for = vol_at if len(price_cols) == 1 else None
    if vol_at is not None and vol_for is None:
        fixups.append(f"ignored column {header[vol_at]}: a wide file has no per-symbol volume")
    return _build_wide(tb, ts, stamps, price_cols, names, vol_for, fixups, fails)


def _named(header: list[str], name: str, used: set[int]) -> int | None:
    """The column called ``name`` (exactly, else ignoring case), not the date/time."""
    for same in (lambda a: a == name, lambda a: a.lower() == name.strip().lower()):
        hit = next((i for i, n in enumerate(header) if i not in used and same(n)), None)
        if hit is not None:
            return hit
    return None


def _build_wide(tb: _Table, ts: np.ndarray, stamps: _Stamps, price_cols: list[int],
                names: list[str], vol_at: int | None, fixups: list[str],
                fails: list[_Fail]) -> MarketFile:
    n_rows = len(tb.locs)
    order = sorted(range(len(names)), key=lambda k: names[k])
    closes = np.zeros((n_rows, len(names)), dtype=np.float64)
    present = np.zeros((n_rows, len(names)), dtype=bool)
    notes: list[str] = []
    for j, k in enumerate(order):
        col = price_cols[k]
        miss, markers = _missing(tb.columns[col])
        vals, fail = _parse_column(tb, col, ~miss)
        if fail is not None:
            fails.append(fail)
        closes[:, j] = vals
        present[:, j] = ~miss
        if miss.any():
            first = tb.at(int(np.argmax(miss)))
            count = int(miss.sum())
            if len(names) == 1:
                notes.append(f"dropped {_plural(count, 'row')} with missing value "
                             f"{markers} in {tb.header[col]} (first: {first})")
            else:
                notes.append(f"skipped {_plural(count, 'missing value')} "
                             f"{markers} in {tb.header[col]}: no "
                             f"{names[k]} bar on those dates (first: {first})")
        del miss, vals
    volume: np.ndarray | None = None
    if vol_at is not None:
        volume, vnote = _volume(tb, vol_at, present[:, 0], fails)
        notes.extend(vnote)
    _raise_first(tb, fails)
    _check_order(tb, ts, stamps, allow_equal=False)
    fixups.extend(notes)

    sorted_names = [names[k] for k in order]
    any_bar = present.any(axis=1)
    if not any_bar.any():
        raise tb.fail(f"no usable rows (all {_plural(n_rows, 'data row')} dropped: "
                      f"{'; '.join(fixups)})")
    # rows with no bar at all are dropped: the bars are row-major (by ts, then by sorted symbol)
    if not any_bar.all():
        ts, closes, present = ts[any_bar], closes[any_bar], present[any_bar]
        volume = None if volume is None else volume[any_bar]
    bars = BarSeq(ts, sorted_names, closes, closes, closes, closes,
                  None if volume is None else volume[:, None], None if present.all() else present)
    used_names = tuple(sorted(sorted_names[j] for j in np.flatnonzero(present.any(axis=0))))
    return MarketFile(tb.where, used_names, bars, _bar_ms(ts), tuple(fixups))


def _volume(tb: _Table, vol_at: int, rows_kept: np.ndarray,
            fails: list[_Fail]) -> tuple[np.ndarray, list[str]]:
    miss, _markers = _missing(tb.columns[vol_at])
    vals, fail = _parse_column(tb, vol_at, ~miss & rows_kept, is_volume=True)
    if fail is not None:
        fails.append(fail)
    empty = miss & rows_kept
    if empty.any():
        return vals, [f"read {_plural(int(empty.sum()), 'empty ' + tb.header[vol_at])} as 0 "
                      f"(first: {tb.at(int(np.argmax(empty)))})"]
    return vals, []


def _build_ohlc(tb: _Table, symbol: str, ts: np.ndarray, has_time: bool, stamps: _Stamps,
                cols: dict[str, int], vol_at: int | None, fixups: list[str],
                fails: list[_Fail]) -> MarketFile:
    n_rows = len(tb.locs)
    cells = {n: tb.columns[cols[n]] for n in _PRICE_NAMES}  # read by row only for a message
    miss = {n: _missing(cells[n])[0] for n in _PRICE_NAMES}
    all_missing = miss["open"] & miss["high"] & miss["low"] & miss["close"]
    some_missing = (miss["open"] | miss["high"] | miss["low"] | miss["close"]) & ~all_missing
    if some_missing.any():
        row = int(np.argmax(some_missing))
        first_missing = next(n for n in _PRICE_NAMES if miss[n][row])
        raw = cells[first_missing][row]
        fails.append(_Fail(row, f"{tb.header[cols[first_missing]]} is "
                                f"{'empty' if not raw else 'missing (' + repr(raw) + ')'}"))
    keep = ~(all_missing | some_missing)
    vals: dict[str, np.ndarray] = {}
    for n in _PRICE_NAMES:
        vals[n], fail = _parse_column(tb, cols[n], keep)
        if fail is not None:
            fails.append(fail)
    notes: list[str] = []
    if all_missing.any():
        notes.append(f"dropped {_plural(int(all_missing.sum()), 'row')} whose prices are all "
                     f"missing (first: {tb.at(int(np.argmax(all_missing)))})")
    volume = np.zeros(n_rows, dtype=np.float64)
    if vol_at is not None:
        volume, vnote = _volume(tb, vol_at, keep, fails)
        notes.extend(vnote)
    _raise_first(tb, fails)

    o, h, l, c = vals.pop("open"), vals.pop("high"), vals.pop("low"), vals.pop("close")
    label = {k: tb.header[cols[k]] for k in _PRICE_NAMES}
    inverted = keep & (h < l)
    if inverted.any():
        r = int(np.argmax(inverted))
        raise tb.fail(f"{label['high']} ({cells['high'][r]}) is below {label['low']} "
                      f"({cells['low'][r]})", r)
    lo, hi = np.minimum(o, c), np.maximum(o, c)
    outside = keep & ((lo < l) | (hi > h))
    if outside.any():
        far = outside & ((l - lo > RANGE_TOLERANCE * l) | (hi - h > RANGE_TOLERANCE * h))
        if far.any():
            r = int(np.argmax(far))
            for k in ("open", "close"):
                if l[r] - (o if k == "open" else c)[r] > RANGE_TOLERANCE * l[r]:
                    raise tb.fail(f"{label[k]} ({cells[k][r]}) is below {label['low']} "
                                  f"({cells['low'][r]}) by more than {RANGE_TOLERANCE:.0%}", r)
                if (o if k == "open" else c)[r] - h[r] > RANGE_TOLERANCE * h[r]:
                    raise tb.fail(f"{label[k]} ({cells[k][r]}) is above {label['high']} "
                                  f"({cells['high'][r]}) by more than {RANGE_TOLERANCE:.0%}", r)
        l = np.where(outside, np.minimum(l, lo), l)
        h = np.where(outside, np.maximum(h, hi), h)
        notes.append(f"widened {label['low']}/{label['high']} to contain {label['open']} and "
                     f"{label['close']} on {_plural(int(outside.sum()), 'row')} (first: "
                     f"{tb.at(int(np.argmax(outside)))})")

    del lo, hi
    idx = np.flatnonzero(keep)
    whole = len(idx) == n_rows  # every row kept: the arrays as they are, not copies

    def take(a: np.ndarray) -> np.ndarray:
        return a if whole else a[idx]

    prints = bool(has_time and len(idx) and np.all((take(o) == take(h)) & (take(h) == take(l))
                                                   & (take(l) == take(c))))
    _check_order(tb, ts, stamps, allow_equal=prints)
    fixups.extend(notes)
    if len(idx) == 0:
        raise tb.fail(f"no usable rows (all {_plural(n_rows, 'data row')} dropped: "
                      f"{'; '.join(fixups)})")

    t, o, h, l, c, v = take(ts), take(o), take(h), take(l), take(c), take(volume)
    if prints and len(t) > 1 and (np.diff(t) == 0).any():
        starts = np.flatnonzero(np.r_[True, np.diff(t) != 0])
        ends = np.r_[starts[1:], len(t)] - 1
        merged = len(t) - len(starts)
        first_dup = int(idx[np.argmax(np.r_[False, np.diff(t) == 0])])
        o, c = o[starts], c[ends]
        h, l = np.maximum.reduceat(h, starts), np.minimum.reduceat(l, starts)
        v, t = np.add.reduceat(v, starts), t[starts]
        fixups.append(f"merged {_plural(merged, 'trade print')} sharing a timestamp with the "
                      f"previous print into one bar (first: {tb.at(first_dup)})")

    bars = BarSeq(t, (symbol,), o[:, None], h[:, None], l[:, None], c[:, None], v[:, None])
    return MarketFile(tb.where, (symbol,), bars, _bar_ms(t), tuple(fixups))


# ------------------------------------------------------------------ API


def load_bars(path: str | os.PathLike[str], symbol: str | None = None,
              close: str | None = None) -> MarketFile:
    """Load a price file (format detected from its content) into bars.

    ``close`` names one column to read as the closes (``Adj Close`` of a
    Yahoo file, one column of a wide file), every other price column ignored;
    the symbol is then ``symbol`` or that column's name.

    Raises ``DataError`` (one line naming the file, the line or data row, and
    the field) for anything the module docstring does not list as a fix-up."""
    where = os.fspath(path)
    p = Path(where)
    table, size, sha256 = _read_table(where, p)
    if len(table.header) > MAX_COLUMNS:  # 10,000 symbols once ran for a quarter of an hour
        raise DataError(_one_line(f"{where}: {len(table.header):,} columns; a price file has at most "
                                  f"{MAX_COLUMNS:,} (one per symbol in a wide file)"))
    stem = (Path(p.stem).stem if p.suffix.lower() == ".gz" else p.stem).upper() or "DATA"
    try:
        mf = _build(table, symbol, stem, close)
    except _Fail as f:  # raised outside a collecting stage
        raise table.fail(f.message, f.row) from None
    return dataclasses.replace(mf, columns=tuple(table.header), size=size, sha256=sha256)


def _read_table(where: str, p: Path) -> tuple[_Table, int, str]:
    """The file as a table, and the size and sha256 of what was read.

    A UTF-8 text file (gzipped or not) is streamed: read, hashed and parsed
    CHUNK_ROWS rows at a time into compact columns, so memory stays near the
    file's size (``benchmarks/file_memory.py``). Parquet, UTF-16 text, and a
    stream that meets bytes it cannot decode, a NUL or corrupt gzip data are
    read whole, which words the error exactly as before."""
    src = _Source(where, _open_regular(where, p))
    with io.BufferedReader(src, buffer_size=READ_BYTES) as buf:
        try:
            head = buf.peek(4)[:4]
            if not (p.suffix.lower() in (".parquet", ".pq") or head == b"PAR1"
                    or head[:2] in (b"\xff\xfe", b"\xfe\xff")):
                text = io.TextIOWrapper(buf, encoding="utf-8-sig", newline="")
                table = _read_text_stream(where, text)
                text.detach()
                return table, src.size, src.hash.hexdigest()
        except _Reread:
            pass
    data = _read_bytes(where, p)
    if not data.strip():
        raise DataError(_one_line(f"{where}: file is empty"))
    is_parquet = data[:4] == b"PAR1"
    if p.suffix.lower() in (".parquet", ".pq") and not is_parquet:
        raise DataError(_one_line(f"{where}: not a Parquet file (no PAR1 magic bytes)"))
    table = _read_parquet(where, data) if is_parquet else _read_text(where, data)
    return table, len(data), hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ closes and their interval

TRADING_DAYS = 252
_ADJ_CLOSE = ("adj close", "adj_close", "adjclose", "adjusted close")


@dataclass(frozen=True)
class BarInterval:
    """A series' bar interval, inferred from its timestamps. ``name`` is what
    to print ("1 minute", "daily", "weekly"); ``per_year`` is the number of
    bars a year that annualises per-bar figures (vol x sqrt(per_year))."""

    name: str
    bar_ms: int  # the (lower) median spacing of the timestamps
    bars_per_day: float  # intraday: median bars per UTC date; 1 for daily and longer
    per_year: float
    note: str = ""  # a caveat on the estimate, when there is one


def bar_interval(ts: Sequence[int] | np.ndarray) -> BarInterval:
    """The bar interval of epoch-ms timestamps (at least two distinct ones).

    The spacing is the median gap, so weekends, holidays and missing rows do
    not move it. Intraday (spacing under 20 hours): bars a year = the median
    number of bars per UTC date x trading days a year. Daily: one bar per
    trading day. Trading days a year are 252, or 365 when the file trades
    through weekends (bars on most Saturdays and Sundays: crypto). Weekly 52,
    monthly 12, quarterly 4, yearly 1."""
    t = np.asarray(ts, dtype=np.int64)
    step = _bar_ms(t)
    if step <= 0:
        raise DataError("need at least two distinct timestamps to tell the bar interval")
    days = np.unique(t // DAY_MS)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday .. 6 = Sunday
    weeks = max(1.0, (days[-1] - days[0] + 1) / 7.0)
    all_week = (weekday == 5).sum() >= 0.5 * weeks and (weekday == 6).sum() >= 0.5 * weeks
    year = 365.0 if all_week and weeks >= 2 else float(TRADING_DAYS)
    if step < 20 * 3_600_000:
        per_day = float(np.median(np.unique(t // DAY_MS, return_counts=True)[1]))
        gaps = np.diff(np.unique(t))
        regular = float(np.mean(gaps == step)) >= 0.5  # bars, not ticks
        name = _duration(step) if regular else f"irregular (median {_duration(step)})"
        note = ("" if len(days) >= 2 else f"the file holds one day: {per_day:g} bars a day counted "
                "from it (a partial session undercounts, and so understates annual figures)")
        return BarInterval(name, step, per_day, per_day * year, note)
    day = step / DAY_MS
    for limit, name, per_year in ((4, "daily", year), (10, "weekly", 52.0), (45, "monthly", 12.0),
                                  (120, "quarterly", 4.0)):
        if day <= limit:
            return BarInterval(name, step, 1.0, per_year)
    return BarInterval("yearly", step, 1.0, 1.0)


def _duration(ms: int) -> str:
    for unit, size in (("hour", 3_600_000), ("minute", 60_000), ("second", 1_000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{ms} ms"


@dataclass(frozen=True)
class Closes:
    """Closing prices of one or more series of a file, read by ``load_bars``
    (one loader, so ``risk`` and ``models evaluate`` accept and refuse what
    ``run`` does). ``frame``: an int64 index ``ts`` (epoch ms, UTC) and one
    float column per series, on the timestamps where every series has a price."""

    path: str
    frame: pd.DataFrame
    interval: BarInterval
    fixups: tuple[str, ...]


def load_closes(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Closes:
    """The closes of ``path`` as ``load_bars`` reads them.

    ``columns``: the columns to read as closes (each by ``load_bars(close=)``).
    None: the file's own series (the Close of an OHLCV or close file, every
    column of a wide one), except that a one-instrument file with an
    ``Adj Close`` column uses it: a raw Close drops on every ex-dividend day,
    which reads as a loss."""
    where = os.fspath(path)
    if columns:
        files = [load_bars(path, close=c) for c in columns]
    else:
        mf = load_bars(path)  # checked as ``run`` checks it
        adj = next((c for c in mf.columns if c.strip().lower() in _ADJ_CLOSE), None)
        files = [load_bars(path, close=adj) if adj is not None and len(mf.symbols) == 1 else mf]
    series: dict[str, pd.Series] = {}
    fixups: list[str] = []
    for mf in files:
        fixups.extend(f for f in mf.fixups if f not in fixups)
        for sym in mf.symbols:
            ts, close = symbol_closes(mf, sym)
            name = _close_column(mf) if len(mf.symbols) == 1 else sym
            series[name] = pd.Series(close, index=ts, dtype=np.float64)
    frame = pd.DataFrame(series)
    complete = frame.notna().all(axis=1).to_numpy()
    if not complete.all():
        fixups.append(f"left out {_plural(int((~complete).sum()), 'date')} on which not every "
                      f"column has a price ({', '.join(frame.columns)})")
        frame = frame[complete]
    if len(frame) < 2:
        raise DataError(_one_line(f"{where}: {_plural(len(frame), 'usable price')}; need at least 2"))
    frame.index = pd.Index(frame.index.to_numpy(dtype=np.int64), name="ts")
    return Closes(where, frame, bar_interval(frame.index.to_numpy()), tuple(fixups))


def _close_column(mf: MarketFile) -> str:
    """The header name of a one-instrument file's close column (its symbol
    may be the file's stem)."""
    sym = mf.symbols[0]
    if sym in mf.columns:
        return sym
    lowered = [c.strip().lower() for c in mf.columns]
    for want in ("close", *sorted(_GENERIC_CLOSE)):
        if want in lowered:
            return mf.columns[lowered.index(want)]
    return sym


def file_source(mf: MarketFile) -> Iterator[InputEvent]:
    """The engine's input stream for a loaded file.

    For each timestamp, in order: ``Timer(ts, "", "day")`` when the UTC date
    differs from the previous timestamp's (and before the first bar), the
    bars of that timestamp (sorted by symbol), then ``Timer(ts, "", "bar")``; after the last, ``Timer(ts, "", "end")``: the
    feed has ended (an alarm while the book holds anything). The bars are
    read in order once (a ``BarSeq`` makes them as they go)."""
    day: int | None = None
    prev: int | None = None
    for bar in mf.bars:
        ts = bar.ts
        if ts != prev:
            if prev is not None:
                yield Timer(prev, "", "bar")
            today = ts // DAY_MS
            if today != day:
                day = today
                yield Timer(ts, "", "day")
            prev = ts
        yield bar
    if prev is not None:
        yield Timer(prev, "", "bar")
        yield Timer(prev, "", "end")
