"""``console export ID --format parquet|csv|jsonl``: a session as four tables.

* ``<id>-events``: every logged row (seq, ts, time, kind, symbol, input, the
  raw payload JSON) plus one column per payload field of the known event
  kinds, filled where the row's kind has that field (JSON lines leave the
  empty ones out);
* ``<id>-orders``: one row per order intent, joined by id with its
  acceptance or rejection, cancellation and fills (status, filled qty,
  average fill price, commission);
* ``<id>-fills``: the typed ``fills`` table, with the realised P&L of the
  position change each fill made;
* ``<id>-equity``: the risk snapshots (ts, nav, cash, gross, net, leverage,
  day P&L, drawdown, max drawdown).

Events stream to disk in chunks, so memory stays flat on long sessions.
Files are written beside their final names and moved into place only when
all four are complete; existing files are never replaced without ``--force``.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, TextIO

import click

from core.codec import ALL_KINDS
from core.errors import InputError

FORMATS: Final = ("parquet", "csv", "jsonl")
TABLES: Final = ("events", "orders", "fills", "equity")
CHUNK_ROWS: Final = 50_000


# ------------------------------------------------------------ schemas


def payload_columns() -> dict[str, str]:
    """Every payload field of the known kinds -> its type name (float/int/str).
    A name two kinds use with different types is split as ``kind.field``."""
    seen: dict[str, set[str]] = {}
    order: list[tuple[str, str, str]] = []
    for kind, cls in ALL_KINDS.items():
        for name in cls._fields:  # type: ignore[attr-defined]
            if name in ("ts", "symbol"):
                continue
            t = _type_name(cls.__annotations__.get(name))
            seen.setdefault(name, set()).add(t)
            order.append((kind, name, t))
    out: dict[str, str] = {}
    for kind, name, t in order:
        out[name if len(seen[name]) == 1 else f"{kind}.{name}"] = t
    return out


def _type_name(ann: Any) -> str:
    text = getattr(ann, "__name__", str(ann))
    return text if text in ("float", "int") else "str"


BASE_EVENT: Final = {"seq": "int", "ts": "int", "time": "time", "kind": "str", "symbol": "str",
                     "input": "bool", "payload": "str"}
ORDER: Final = {
    "intent_seq": "int", "ts": "int", "time": "time", "symbol": "str", "qty": "float",
    "ref_price": "float", "origin": "str", "reason": "str", "status": "str", "order_id": "int",
    "accepted_ts": "int", "reject_rule": "str", "reject_value": "float", "reject_limit": "float",
    "reject_reason": "str", "cancelled_ts": "int", "cancelled_remaining": "float",
    "cancel_reason": "str", "filled_qty": "float", "fills": "int", "avg_fill_price": "float",
    "commission": "float", "last_fill_ts": "int",
}
FILL: Final = {"seq": "int", "ts": "int", "time": "time", "symbol": "str", "order_id": "int",
               "qty": "float", "price": "float", "notional": "float", "commission": "float",
               "realized": "float"}
EQUITY: Final = {"seq": "int", "ts": "int", "time": "time", "nav": "float", "cash": "float",
                 "gross": "float", "net": "float", "leverage": "float", "day_pnl": "float",
                 "drawdown": "float", "max_drawdown": "float"}


def _schema(cols: dict[str, str]) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]  # here: `console --help` need not load it

    types = {"float": pa.float64(), "int": pa.int64(), "str": pa.string(), "bool": pa.bool_(),
             "time": pa.timestamp("ms", tz="UTC")}
    return pa.schema([(name, types[t]) for name, t in cols.items()])


# ------------------------------------------------------------ writers


class _Table:
    """One output file, written to ``<name>.part`` in chunks of columns."""

    def __init__(self, path: Path, fmt: str, cols: dict[str, str], sparse: bool = False) -> None:
        from console.outpath import create_part, part_path

        self.path, self.fmt, self.cols, self.sparse = path, fmt, cols, sparse
        self.part = part_path(path)
        self.schema = _schema(cols)
        self.rows = 0
        self._writer: Any = None
        self._text: TextIO | None = None
        self._closed = False
        # created exclusively, never through a symlink (console.outpath)
        self._file = create_part(path)
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

                self._writer = pq.ParquetWriter(self._file, self.schema)
            elif fmt == "csv":
                import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

                self._writer = pacsv.CSVWriter(self._file, self.schema)
            else:
                self._text = io.TextIOWrapper(self._file, encoding="utf-8")
        except BaseException:
            self._file.close()
            self.part.unlink(missing_ok=True)
            raise

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.rows += len(rows)
        if self._text is not None:
            for row in rows:
                obj = {k: _json_value(row.get(k), t) for k, t in self.cols.items()}
                if self.sparse:  # a payload column is empty on most rows: leave it out there
                    obj = {k: v for k, v in obj.items() if v is not None or k in BASE_EVENT}
                self._text.write(json.dumps(obj, allow_nan=False) + "\n")
            return
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        data = {k: [row.get(k) for row in rows] for k in self.cols}
        self._writer.write_table(pa.Table.from_pydict(data, schema=self.schema))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._text is not None:
                self._text.close()
            elif self._writer is not None:
                if self.rows == 0:  # still a readable file with the columns
                    self._writer.write_table(self.schema.empty_table())
                self._writer.close()
        finally:
            self._file.close()

    def discard(self) -> None:
        try:
            self.close()
        except OSError:
            pass  # the write that failed (a full disk) fails again on close's flush; the first error is reported
        finally:
            self.part.unlink(missing_ok=True)


def _json_value(v: Any, t: str) -> Any:
    if v is None:
        return None
    if t == "time":
        return datetime.fromtimestamp(v / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN/inf; the raw payload column keeps them
    return v


# ------------------------------------------------------------ rows


def _typed(value: Any, t: str) -> Any:
    """The value if it has the column's type, else None (a damaged payload
    keeps its raw JSON, not a crash)."""
    if isinstance(value, bool):
        return None
    if t == "float" and isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    if t == "int" and isinstance(value, int):
        return value if -(2 ** 63) <= value < 2 ** 63 else None
    if t == "str" and isinstance(value, str):
        return value
    return None


class _Collector:
    """Builds the orders, fills and equity rows while events stream past."""

    def __init__(self, fills_table: dict[int, tuple[int, str, int, float, float, float]]) -> None:
        self.orders: dict[int, dict[str, Any]] = {}  # by intent seq
        self.by_order_id: dict[int, dict[str, Any]] = {}
        self.fill_rows = {seq: {"seq": seq, "ts": ts, "time": ts, "symbol": sym, "order_id": oid,
                                "qty": qty, "price": price, "notional": abs(qty * price),
                                "commission": comm, "realized": None}
                          for seq, (ts, sym, oid, qty, price, comm) in fills_table.items()}
        self.equity: list[dict[str, Any]] = []

    def add(self, seq: int, kind: str, ts: int, symbol: str, p: dict[str, Any]) -> None:
        if kind == "order_intent":
            self.orders[seq] = {"intent_seq": seq, "ts": ts, "time": ts, "symbol": symbol,
                                "qty": p.get("qty"), "ref_price": p.get("ref_price"),
                                "origin": p.get("origin"), "reason": p.get("reason"),
                                "status": "intent", "fills": 0, "filled_qty": 0.0, "commission": 0.0}
        elif kind == "order_accepted":
            o = self._order(p.get("intent_seq"), seq, ts, symbol, p)
            o.update(status="open", order_id=seq, accepted_ts=ts)
            self.by_order_id[seq] = o
        elif kind == "order_rejected":
            o = self._order(p.get("intent_seq"), seq, ts, symbol, p)
            o.update(status="rejected", reject_rule=p.get("rule"), reject_value=p.get("value"),
                     reject_limit=p.get("limit"), reject_reason=p.get("reason"))
        elif kind == "order_cancelled":
            order = self.by_order_id.get(p.get("order_id"))  # type: ignore[arg-type]
            if order is not None:
                order.update(status="cancelled", cancelled_ts=ts, cancelled_remaining=p.get("remaining"),
                             cancel_reason=p.get("reason"))
        elif kind == "order_expired":  # its time in force ran out with ``remaining`` unfilled
            order = self.by_order_id.get(p.get("order_id"))  # type: ignore[arg-type]
            if order is not None:
                order.update(status="expired", cancelled_ts=ts, cancelled_remaining=p.get("remaining"),
                             cancel_reason=p.get("reason"))
        elif kind == "fill":
            self._fill(ts, p)
        elif kind == "position" and seq - 1 in self.fill_rows:
            self.fill_rows[seq - 1]["realized"] = p.get("realized")  # the fill's own position change
        elif kind == "risk":
            self.equity.append({"seq": seq, "ts": ts, "time": ts, **{k: p.get(k) for k in EQUITY
                                                                     if k not in ("seq", "ts", "time")}})

    def _order(self, intent_seq: Any, seq: int, ts: int, symbol: str, p: dict[str, Any]) -> dict[str, Any]:
        o = self.orders.get(intent_seq) if isinstance(intent_seq, int) else None
        if o is None:  # an order with no logged intent (a damaged log): keep it, keyed by its own seq
            o = self.orders[seq] = {"intent_seq": intent_seq, "ts": ts, "time": ts, "symbol": symbol,
                                    "qty": p.get("qty"), "ref_price": p.get("ref_price"),
                                    "origin": p.get("origin"), "fills": 0, "filled_qty": 0.0,
                                    "commission": 0.0}
        return o

    def _fill(self, ts: int, p: dict[str, Any]) -> None:
        o = self.by_order_id.get(p.get("order_id"))  # type: ignore[arg-type]
        qty, price = p.get("qty"), p.get("price")
        if o is None or not isinstance(qty, (int, float)) or not isinstance(price, (int, float)):
            return
        prior = o["filled_qty"]
        o["avg_fill_price"] = ((o.get("avg_fill_price") or 0.0) * abs(prior) + price * abs(qty)) / (
            abs(prior) + abs(qty)) if abs(prior) + abs(qty) > 0 else price
        o["filled_qty"] = prior + qty
        o["fills"] += 1
        o["commission"] += float(p.get("commission") or 0.0)
        o["last_fill_ts"] = ts
        ordered = o.get("qty")
        full = isinstance(ordered, (int, float)) and abs(o["filled_qty"]) >= abs(ordered) - 1e-9
        if o["status"] in ("open", "partially filled"):
            o["status"] = "filled" if full else "partially filled"


# ------------------------------------------------------------ export


def export_session(db_path: Path, session_id: str, fmt: str, out_dir: Path,
                   force: bool = False) -> dict[str, tuple[Path, int]]:
    """Write the four tables; returns ``{table: (path, rows)}``."""
    from storage import fills_by_seq, iter_events, open_db, resolve_session

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    paths = _targets(out_dir, sid, fmt, force)
    from console.outpath import commit_part

    pcols = payload_columns()
    event_cols = {**BASE_EVENT, **{k: t for k, t in pcols.items() if k not in BASE_EVENT}}
    tables = {"events": _Table(paths["events"], fmt, event_cols, sparse=True)}
    done = False
    try:
        collector = _Collector(fills_by_seq(db, sid))
        for chunk in _event_chunks(iter_events(db, sid), pcols, collector):
            tables["events"].write(chunk)
        for name, cols, rows in (("orders", ORDER, list(collector.orders.values())),
                                 ("fills", FILL, [collector.fill_rows[k] for k in sorted(collector.fill_rows)]),
                                 ("equity", EQUITY, collector.equity)):
            tables[name] = _Table(paths[name], fmt, cols)
            tables[name].write(rows)
        for t in tables.values():
            t.close()
        for t in tables.values():
            commit_part(t.path, force)
        done = True
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        if not done:
            for t in tables.values():
                t.discard()
    return {name: (t.path, t.rows) for name, t in tables.items()}


def _targets(out_dir: Path, sid: str, fmt: str, force: bool) -> dict[str, Path]:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the directory ({exc.strerror or exc})") from None
    from console.outpath import check_target

    paths = {name: out_dir / f"{sid}-{name}.{fmt}" for name in TABLES}
    for p in paths.values():  # symlinks, devices, FIFOs: refused even with --force
        check_target(p, force=True)
    if not force:
        existing = [str(p) for p in paths.values() if os.path.lexists(p)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise InputError(f"{existing[0]} exists{more}; use --force to overwrite")
    return paths


def _event_chunks(rows: Iterator[tuple[int, str, int, str, str, bool]], pcols: dict[str, str],
                  collector: _Collector) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for seq, kind, ts, symbol, payload, is_input in rows:
        row: dict[str, Any] = {"seq": seq, "ts": ts, "time": ts, "kind": kind, "symbol": symbol,
                               "input": is_input, "payload": payload}
        p = _decode(payload)
        for key, value in p.items():
            col = key if key in pcols else f"{kind}.{key}"
            t = pcols.get(col)
            if t is not None and col not in BASE_EVENT:
                row[col] = _typed(value, t)
        collector.add(seq, kind, ts, symbol, p)
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decode(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, str):
        return {}
    try:
        p = json.loads(payload)
    except (ValueError, RecursionError):
        return {}  # the raw column still carries it
    return p if isinstance(p, dict) else {}


@click.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="parquet", show_default=True,
              help="File format of the four tables.")
@click.option("--out", "out_dir", default=".", show_default=True, help="Directory to write into (created if missing).")
@click.option("--force", is_flag=True, help="Overwrite existing export files.")
@click.option("--db", default=None, envvar="CONSOLE_DB",
              help="Session database (default: $CONSOLE_DB, else the user data directory).")
def export(session_id: str, fmt: str, out_dir: str, force: bool, db: str | None) -> None:
    """Write a session's events, orders, fills and equity curve to files."""
    from storage import default_db_path

    written = export_session(Path(db) if db else default_db_path(), session_id, fmt, Path(out_dir), force)
    for name, (path, rows) in written.items():
        click.echo(f"{name:<7} {rows:>10,} rows  {path}")
