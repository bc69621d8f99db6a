"""``console report ID [--out FILE.html]``: a session's equity and drawdown
curves and its summary, in the terminal (block charts, rich tables) and as
one self-contained HTML file (inline SVG, no scripts or links) to share.

Figures come from ``console.curves`` over the logged decisions; see there for
the conventions (P&L to the last bar close, Sharpe annualised on daily or
per-bar returns, drawdown as a positive fraction of the running peak).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

import click
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from console.curves import SUMMARY_KINDS, RunSummary, Tally
from console.trades import TradeLog, held, last_closes, ratio
from core.codec import DecodeError, from_row
from core.errors import InputError
from core.events import Fill, LimitChanged, PositionChanged
from core.pnl import PNL_LABEL, logged_initial_cash

BLOCKS: Final = " ▁▂▃▄▅▆▇█"
SVG_W: Final = 860
SVG_H: Final = 220
SVG_POINTS: Final = 2000  # a longer curve is bucketed to this many points


@dataclass(frozen=True)
class EndPosition:
    symbol: str
    qty: float
    avg_price: float
    close: float  # the last logged bar close (NaN: none)
    value: float
    unrealized: float


@dataclass(frozen=True)
class Report:
    session: str
    meta: dict[str, Any]
    summary: RunSummary
    trades: TradeLog | None = None  # closed trades and per-symbol realised P&L and fees
    end: tuple[EndPosition, ...] = ()  # positions held at the end of the log
    wash_sales: tuple[Any, ...] | None = None  # core.gate.WashSale, when limits.wash_sale is on
    limits: tuple[LimitChanged, ...] = ()  # limits the operator changed during the session (set_limit)


# ------------------------------------------------------------ loading


def load_report(db_path: Path, session_id: str) -> Report:
    """Read a session and summarise its logged decisions (one pass)."""
    from storage import iter_events, open_db, resolve_session, session_meta

    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    meta = session_meta(db, sid)
    setup = meta["config"]
    try:
        initial = logged_initial_cash(setup["engine"])
        bars_per_day = float(setup["market"]["bars_per_day"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"session {sid}: logged config lacks {exc}") from None
    if math.isnan(initial):
        raise InputError(f"session {sid}: logged config has no readable engine.initial_cash")
    tally = Tally(initial, bars_per_day)
    wash = _wash_sale_log(setup["engine"])
    limits: list[LimitChanged] = []
    for seq, kind, ts, symbol, payload, _ in iter_events(db, sid):
        if kind == "limit_changed":
            try:
                changed = from_row(kind, ts, symbol, payload)
            except DecodeError as exc:
                raise InputError(f"session {sid}: seq {seq}: {exc}") from None
            if isinstance(changed, LimitChanged):
                limits.append(changed)
            continue
        if kind in SUMMARY_KINDS:
            try:
                ev = from_row(kind, ts, symbol, payload)
            except DecodeError as exc:
                raise InputError(f"session {sid}: seq {seq}: {exc}") from None
            tally.add(ev)
            if wash is not None and isinstance(ev, Fill):
                wash.add("fill", ts, symbol, ev.order_id, ev.qty, 0.0)
            elif wash is not None and isinstance(ev, PositionChanged):
                wash.add("position", ts, symbol, 0, ev.qty, ev.realized)
    log = TradeLog(db, sid)
    log.update()
    held = sorted(s for s, (q, _) in log.positions.items() if q != 0.0)
    closes = last_closes(db, sid, held)
    end = []
    for sym in held:
        qty, avg = log.positions[sym]
        close = closes.get(sym, (0, math.nan))[1]
        end.append(EndPosition(sym, qty, avg, close, qty * close, qty * (close - avg)))
    return Report(sid, meta, tally.summary(), log, tuple(end),
                  None if wash is None else tuple(wash.rules.wash_sales), tuple(limits))


def _wash_sale_log(engine_cfg: Any) -> Any:
    """A core.gate.WashSaleLog when the session's [limits] wash_sale is on."""
    from core.gate import WashSaleLog

    lim = engine_cfg.get("limits") if isinstance(engine_cfg, dict) else None
    if not isinstance(lim, dict) or lim.get("wash_sale") is not True:
        return None
    return WashSaleLog(int(lim.get("wash_sale_days", 30)))


# ------------------------------------------------------------ figures


def when(ts: int | None) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM:SS`` UTC ("-" for None)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


MIN_DAILY_RETURNS: Final = 60  # fewer daily returns than this: a Sharpe is mostly noise


def caveat(s: RunSummary) -> str:
    """A warning when the figures rest on too little data ("" when not)."""
    r = s.returns
    span_ms = int(s.ts[-1] - s.ts[0]) if s.ts.size > 1 else 0
    if r.period == "bar":
        return (f"{r.values.size:,} bar returns over {held(span_ms)} of market time: far too little data; "
                "an annualised Sharpe (or return) from under two days means nothing")
    if r.values.size < MIN_DAILY_RETURNS:
        return (f"only {r.values.size} daily returns (under {MIN_DAILY_RETURNS}): Sharpe and drawdown "
                "are noisy; treat them as anecdotes")
    return ""


def _span(ms: int, whole: int) -> str:
    share = f" ({ms / whole:.0%} of the session)" if whole > 0 else ""
    return f"{held(ms)}{share}" if ms else "0"


def figures(s: RunSummary, trades: TradeLog | None = None,
            wash_sales: tuple[Any, ...] | None = None) -> list[tuple[str, str]]:
    """The summary lines, formatted once for the terminal and the HTML."""
    dd = s.max_drawdown
    r = s.returns
    per = "daily" if r.period == "day" else "per-bar"
    warn = caveat(s)
    whole = sum(s.time_in_state.values())
    rows = [
        (PNL_LABEL, f"{s.pnl:,.2f}"),
        ("NAV at last bar close", f"{s.nav[-1]:,.2f}" if s.nav.size else "-"),
        (f"Sharpe ({per}, {r.values.size} returns)", _num(s.sharpe, "{:.3f}")),
        *([("  caveat", warn)] if warn else []),
        ("max drawdown", f"{dd.depth:.2%}"),
        ("  peak", when(dd.peak_ts)),
        ("  trough", when(dd.trough_ts)),
        ("  recovered", when(dd.recovered_ts) if dd.depth > 0 else "-"),
        ("trades (fills)", f"{s.trades:,}"),
        ("traded notional", f"{s.traded_notional:,.2f}"),
        ("commission", f"{s.commission:,.2f}"),
        ("halts", f"{len(s.halts):,}"),
        ("time halted (market)", _span(s.time_in_state.get("HALTED", 0), whole)),
        ("time reduce-only (market)", _span(s.time_in_state.get("REDUCING", 0), whole)),
        ("breaker trips", f"{len(s.trips):,}"),
        ("rejections", f"{s.rejected:,}"),
        ("operator commands", f"{s.commands:,}"),
    ]
    if trades is not None:
        st = trades.stats()
        rows += [
            ("closed trades (round trips)", f"{st.trades:,}" + (f" ({len(trades.trips.open)} open at the end)"
                                                               if trades.trips.open else "")),
            ("win rate", f"{st.win_rate:.1%} ({st.wins}/{st.trades})" if st.trades else "n/a"),
            ("average win / loss", f"{_num(st.avg_win, '{:+,.2f}')} / {_num(st.avg_loss, '{:+,.2f}')}"),
            ("profit factor", ratio(st.profit_factor)),
            ("closed trades' P&L (net of fees)", f"{st.net:+,.2f}"),
        ]
    if wash_sales is not None:  # [limits] wash_sale: a loss bought back within the window
        loss = sum(w.loss for w in wash_sales)
        rows.append(("wash sales (flagged)",
                     f"{len(wash_sales):,}" + (f", losses {loss:+,.2f}" if wash_sales else "")))
    return rows


def _num(x: float, fmt: str) -> str:
    return "n/a" if math.isnan(x) else fmt.format(x)


def machine_summary(rep: Report) -> dict[str, Any]:
    """The figures as exact numbers (embedded in the HTML for scripts)."""
    s = rep.summary
    dd = s.max_drawdown
    return {
        "session": rep.session, "pnl": s.pnl, "initial_cash": s.initial_cash,
        "final_nav": float(s.nav[-1]) if s.nav.size else None,
        "sharpe": None if math.isnan(s.sharpe) else s.sharpe, "return_period": s.returns.period,
        "returns": int(s.returns.values.size), "max_drawdown": dd.depth,
        "peak_ts": dd.peak_ts, "trough_ts": dd.trough_ts, "trades": s.trades,
        "commission": s.commission, "halts": [[h.ts, h.reason] for h in s.halts],
        "breaker_trips": [[t.ts, t.name, t.reason] for t in s.trips],
        "rejections": s.rejections, "commands": s.commands,
        "time_in_state_ms": s.time_in_state, "caveat": caveat(s) or None,
        **_trade_summary(rep),
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _trade_summary(rep: Report) -> dict[str, Any]:
    if rep.trades is None:
        return {}
    st = rep.trades.stats()
    return {
        "closed_trades": st.trades, "wins": st.wins, "losses": st.losses, "win_rate": _finite(st.win_rate),
        "avg_win": _finite(st.avg_win), "avg_loss": _finite(st.avg_loss),
        "profit_factor": _finite(st.profit_factor) if not math.isinf(st.profit_factor) else "inf",
        "closed_net": st.net,
        "end_positions": [[e.symbol, e.qty, e.avg_price, _finite(e.close)] for e in rep.end],
    }


# ------------------------------------------------------------ terminal


def bucket(values: npt.NDArray[np.float64], width: int, how: str) -> npt.NDArray[np.float64]:
    """``values`` cut into ``width`` consecutive buckets, each reduced to its
    ``last`` or ``max`` (max keeps a drawdown's trough visible)."""
    n = values.size
    if n <= width:
        return values.astype(np.float64)
    edges = np.linspace(0, n, width + 1).astype(int)
    picked = np.maximum.reduceat(values, edges[:-1]) if how == "max" else values[edges[1:] - 1]
    return np.asarray(picked, dtype=np.float64)


def block_chart(values: npt.NDArray[np.float64], width: int, height: int, how: str = "last",
                lo: float | None = None, hi: float | None = None) -> list[str]:
    """Columns of eighth blocks, ``height`` rows tall, bottom = ``lo``
    (default the minimum), top = ``hi`` (default the maximum)."""
    if values.size == 0 or width < 1 or height < 1:
        return []
    v = bucket(values, width, how)
    lo = float(np.min(v)) if lo is None else lo
    hi = float(np.max(v)) if hi is None else hi
    span = hi - lo
    levels = np.full(v.size, height * 4) if span <= 0 else np.rint((v - lo) / span * height * 8)
    lines = []
    for row in range(height - 1, -1, -1):
        fill = np.clip(levels - row * 8, 0, 8).astype(int)
        lines.append("".join(BLOCKS[f] for f in fill))
    return lines


def print_report(out: Console, rep: Report) -> None:
    s = rep.summary
    m = rep.meta
    out.print(f"[bold]session {rep.session}[/]  {m.get('data_source') or ''}  seed {m.get('seed')}  "
              f"started {m.get('started_at')}", highlight=False)
    if s.nav.size:
        width = max(10, min(out.width - 16, 160))
        _chart(out, "equity (NAV)", s.nav, width, 8, "last", "{:,.0f}")
        _chart(out, "drawdown (depth below the peak)", s.drawdown * 100, width, 4, "max", "{:.2f}%", lo=0.0)
        out.print(f"  {when(int(s.ts[0]))} .. {when(int(s.ts[-1]))} UTC, {s.nav.size:,} risk snapshots")
    else:
        out.print("no risk snapshots logged yet: no curve")
    t = Table(show_header=False, box=None)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures(s, rep.trades, rep.wash_sales):
        t.add_row(k, v)
    out.print(t)
    for title, cols, rows in _detail_tables(rep, terminal=True):
        if rows:
            d = Table(title=title, title_justify="left", box=None, header_style="bold underline")
            *fixed, last = cols  # the last column is the words (a reason): it takes what is left
            for i, c in enumerate(fixed):
                width = max([len(c), *(len(r[i]) for r in rows)])
                d.add_column(c, no_wrap=True, min_width=min(width, 24))
            d.add_column(last, no_wrap=True, overflow="ellipsis", ratio=1)
            for r in rows:
                d.add_row(*r)
            out.print(d)
    rows = config_rows(m.get("config"))
    out.print("[bold]config[/] (as logged; the HTML file lists every key):", highlight=False)
    for section in CONFIG_SECTIONS:
        keys = [f"{k[len(section) + 1:]}={v}" for k, v in rows if k.startswith(section + ".")]
        if keys:
            out.print(f"  {section}: " + "  ".join(keys), highlight=False, markup=False)


def _chart(out: Console, title: str, values: npt.NDArray[np.float64], width: int, height: int,
           how: str, fmt: str, lo: float | None = None) -> None:
    lines = block_chart(values, width, height, how, lo=lo)
    v = bucket(values, width, how)
    top, bottom = fmt.format(float(np.max(v))), fmt.format(lo if lo is not None else float(np.min(v)))
    out.print(f"[bold]{title}[/]")
    for i, line in enumerate(lines):
        label = top if i == 0 else (bottom if i == len(lines) - 1 else "")
        out.print(f"{label:>12} [cyan]{line}[/]", highlight=False)


TERMINAL_TRADES: Final = 20  # the newest closed trades printed; the HTML has up to HTML_TRADES
HTML_TRADES: Final = 2000


def _detail_tables(rep: Report, terminal: bool = False) -> list[tuple[str, Sequence[str], list[list[str]]]]:
    s = rep.summary
    unreal = {e.symbol: e.unrealized for e in rep.end}
    tables: list[tuple[str, Sequence[str], list[list[str]]]] = [
        ("halts", ("time UTC", "from", "reason"), [[when(h.ts), h.name, h.reason] for h in s.halts]),
        ("breaker trips", ("time UTC", "breaker", "reason"), [[when(t.ts), t.name, t.reason] for t in s.trips]),
        ("rejections by rule", ("rule", "count"), [[k, f"{v:,}"] for k, v in s.rejections.items()]),
        ("P&L attribution by symbol (realised - fees + unrealised at the last bar close)",
         ("symbol", "realised", "fees", "unrealised", "P&L", "share"), _attribution(s, unreal)),
        ("end positions (at the last logged bar close)",
         ("symbol", "qty", "avg price", "last close", "value", "unrealised"),
         [[e.symbol, f"{e.qty:+,g}", f"{e.avg_price:,.4f}", _num(e.close, "{:,.4f}"), _num(e.value, "{:,.2f}"),
           _num(e.unrealized, "{:+,.2f}")] for e in rep.end]),
    ]
    if rep.limits:
        tables.append(("limits changed during the session (set_limit; the config below is as the session "
                       "started)", ("time UTC", "limit", "from", "to", "who", "why"),
                       [[when(c.ts), c.name, f"{c.old:,.6g}", f"{c.new:,.6g}", c.who.split(" via ")[0], c.reason]
                        for c in rep.limits]))
    if rep.wash_sales:
        tables.append(("wash sales (a loss, then the symbol bought back within limits.wash_sale_days)",
                       ("symbol", "loss UTC", "loss", "bought back UTC", "order"),
                       [[w.symbol, when(w.loss_ts), f"{w.loss:+,.2f}", when(w.rebuy_ts), str(w.rebuy_order)]
                        for w in rep.wash_sales]))
    if rep.trades is not None and rep.trades.closed:
        limit = TERMINAL_TRADES if terminal else HTML_TRADES
        newest = rep.trades.closed[::-1][:limit]
        title = f"closed trades (newest {len(newest)} of {len(rep.trades.closed):,})"
        if terminal:  # one line a trade at 80 columns: the times without the year, the reason last and cut
            tables.append((title, ("symbol", "side", "exit UTC", "held", "qty", "entry", "exit", "P&L", "why"),
                           [[t.symbol, t.side, when(t.exit_ts)[5:16], held(t.held_ms), f"{t.qty:,g}",
                             f"{t.entry:,.4g}", f"{t.exit:,.4g}", f"{t.pnl:+,.2f}", t.reason]
                            for t in newest]))
            return tables
        tables.append((title, ("symbol", "side", "entry UTC", "exit UTC", "held", "qty", "entry", "exit",
                               "P&L", "fees", "why (entry)"),
                       [[t.symbol, t.side, when(t.entry_ts), when(t.exit_ts), held(t.held_ms), f"{t.qty:,g}",
                         f"{t.entry:,.4f}", f"{t.exit:,.4f}", f"{t.pnl:+,.2f}", f"{t.fees:,.2f}", t.reason[:60]]
                        for t in newest]))
    return tables


def _attribution(s: RunSummary, unreal: dict[str, float]) -> list[list[str]]:
    symbols = sorted(set(s.realized_by_symbol) | set(s.commission_by_symbol) | set(unreal))
    pnl = {sym: s.realized_by_symbol.get(sym, 0.0) - s.commission_by_symbol.get(sym, 0.0)
           + (unreal.get(sym, 0.0) if math.isfinite(unreal.get(sym, 0.0)) else 0.0) for sym in symbols}
    gross = math.fsum(abs(v) for v in pnl.values())
    rows = [[sym, f"{s.realized_by_symbol.get(sym, 0.0):+,.2f}", f"{s.commission_by_symbol.get(sym, 0.0):,.2f}",
             _num(unreal.get(sym, 0.0), "{:+,.2f}"), f"{pnl[sym]:+,.2f}",
             f"{abs(pnl[sym]) / gross:.0%}" if gross else "-"]
            for sym in sorted(symbols, key=lambda k: -abs(pnl[k]))]
    if rows:
        rows.append(["total", "", "", "", f"{math.fsum(pnl.values()):+,.2f}", ""])
    return rows


# ------------------------------------------------------------ HTML


def svg_curve(ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64], how: str, fmt: str,
              color: str, invert: bool = False, marks: Sequence[tuple[int, str]] = ()) -> str:
    """An inline SVG line chart: a polyline, the min and max on the left,
    the first and last times under it, a dashed line at each of ``marks``
    (epoch ms, hover text). ``invert`` draws 0 at the top (drawdown hangs down)."""
    if values.size == 0:
        return "<p>no data</p>"
    v = bucket(values, SVG_POINTS, how)
    t = bucket(ts.astype(np.float64), SVG_POINTS, "last")
    lo, hi = (0.0, float(np.max(v))) if invert else (float(np.min(v)), float(np.max(v)))
    span = hi - lo or 1.0
    left, top, w, h = 90, 10, SVG_W - 100, SVG_H - 40
    t0, t1 = float(t[0]), float(t[-1])
    xs = left + (t - t0) / ((t1 - t0) or 1.0) * w if v.size > 1 else np.full(1, left + w / 2)
    frac = (v - lo) / span
    ys = top + (frac * h if invert else (1 - frac) * h)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    lines = "".join(
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + h}" stroke="#d1242f" '
        f'stroke-dasharray="4 3"><title>{html.escape(when(m) + " " + label)}</title></line>'
        for m, label in marks for x in [left + (m - t0) / ((t1 - t0) or 1.0) * w] if t0 <= m <= t1)
    hi_label, lo_label = fmt.format(hi), fmt.format(lo)
    if invert:
        hi_label, lo_label = lo_label, hi_label
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_W}" height="{SVG_H}" '
        f'viewBox="0 0 {SVG_W} {SVG_H}" role="img">'
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>'
        f'{lines}<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{html.escape(hi_label)}</text>'
        f'<text x="{left - 6}" y="{top + h}" text-anchor="end">{html.escape(lo_label)}</text>'
        f'<text x="{left}" y="{top + h + 20}">{html.escape(when(int(t0)))}</text>'
        f'<text x="{left + w}" y="{top + h + 20}" text-anchor="end">{html.escape(when(int(t1)))}</text>'
        "</svg>"
    )


def _html_table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def render_html(rep: Report) -> str:
    """The whole report as one HTML document (inline CSS and SVG only)."""
    s, m = rep.summary, rep.meta
    sid = html.escape(rep.session)
    about = [["session", rep.session], ["data source", str(m.get("data_source") or "")],
             ["seed", str(m.get("seed"))], ["started", str(m.get("started_at"))],
             ["ended", str(m.get("ended_at") or "-")], ["closed cleanly", "yes" if m.get("clean_close") else "no"],
             ["code version", str(m.get("code_version") or "")]]
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Session {sid}</title><style>{CSS}</style></head><body>",
        f"<h1>Session {sid}</h1>",
        _html_table(about),
        "<h2>Equity (NAV)</h2>",
        svg_curve(s.ts, s.nav, "last", "{:,.0f}", "#1f6feb",
                  marks=[(h.ts, "halt: " + h.reason) for h in s.halts]),
        "<p>Dashed lines: halts (hover for the reason).</p>" if s.halts else "",
        "<h2>Drawdown</h2>", svg_curve(s.ts, s.drawdown * 100, "max", "{:.2f}%", "#d1242f", invert=True),
        "<h2>Summary</h2>", _html_table(figures(s, rep.trades, rep.wash_sales)),
    ]
    for title, cols, rows in _detail_tables(rep):
        if rows:
            parts += [f"<h2>{html.escape(title[:1].upper() + title[1:])}</h2>", _html_table(rows, cols)]
    parts += ["<h2>Config (as logged)</h2>",
              "<p>The engine config the session ran under; <code>console run --like ID</code> runs it again.</p>",
              _html_table(config_rows(m.get("config")))]
    blob = json.dumps(machine_summary(rep), allow_nan=False).replace("</", "<\\/")
    parts += [f'<script type="application/json" id="summary">{blob}</script>',
              "<footer>Written by <code>console report</code>. Returns are simple fractions; "
              "Sharpe annualised, risk-free 0; drawdown below the running NAV peak.</footer>",
              "</body></html>"]
    return "\n".join(parts)


def config_rows(config: Any, prefix: str = "") -> list[list[str]]:
    """The logged config flattened to ``section.key = value`` rows."""
    if not isinstance(config, dict):
        return [[prefix or "config", json.dumps(config)]] if config is not None else []
    rows: list[list[str]] = []
    for k in sorted(config):
        v = config[k]
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            rows += config_rows(v, name)
        else:
            text = json.dumps(v, sort_keys=True)
            rows.append([name, text if len(text) <= 200 else text[:200] + f"... ({len(text):,} chars)"])
    return rows


CONFIG_SECTIONS: Final = ("engine.strategy", "engine.limits", "engine.breakers")


CSS: Final = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{padding:2px 12px;border-bottom:1px solid #eee;text-align:left}"
    "td:nth-child(2){font-variant-numeric:tabular-nums}"
    "svg text{font-size:11px;fill:#57606a}footer{color:#57606a;margin-top:2em}"
)


def write_html(path: Path, text: str, force: bool = False) -> None:
    """Write atomically (a reader never sees half a report) to a path that is
    absent, or a regular file and ``force`` (``console.outpath``)."""
    from console.outpath import check_target, commit_part, create_part, part_path

    check_target(path, force)
    f = create_part(path)
    done = False
    try:
        with f:
            f.write(text.encode("utf-8"))
        commit_part(path, force)
        done = True
    except OSError as exc:
        raise InputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        if not done:  # the .part is ours: created above, exclusively
            part_path(path).unlink(missing_ok=True)


def is_sweep(db_path: Path, ident: str) -> bool:
    """Whether ``ident`` names a sweep rather than a session: it matches a
    sweep id (a prefix of one) and no session; both is one line asking for
    more of it (or ``--sweep``)."""
    from console.sweep_report import matching_sweeps
    from storage import open_db
    from storage.reader import LAST

    if ident == LAST or not db_path.exists():
        return False
    db = open_db(db_path, create=False, readonly=True)
    try:
        sweeps = matching_sweeps(db, ident)
        if not sweeps:
            return False
        sessions = [str(r[0]) for r in db.execute("SELECT id FROM sessions WHERE id LIKE ? ORDER BY id",
                                                  [ident.replace("%", "").replace("_", "") + "%"]).fetchall()
                    if str(r[0]).startswith(ident)]
    finally:
        db.conn.close()
    if ident in sessions:
        return False  # an exact session id wins, as everywhere
    if sessions:
        raise InputError(f"{ident!r} begins session {sessions[0]} and sweep {sweeps[0]}: give more of the id, "
                         "or --sweep")
    return True


@click.command("report")
@click.argument("session_id", metavar="ID")
@click.option("--out", "out_path", default=None, metavar="FILE.html",
              help="HTML file to write (default: <session id>.html, sweep-<id>.html for a sweep, here).")
@click.option("--force", is_flag=True, help="Overwrite an existing report file.")
@click.option("--sweep", "as_sweep", is_flag=True, help="ID is a sweep (console sweep), not a session.")
@click.option("--metric", default="sharpe", show_default=True,
              help="A sweep's heatmap metric: sharpe, pnl, dsr, max_drawdown, p_holm, fees, halts, trips, trades.")
@click.option("--x", "x_key", default=None, metavar="KEY", help="A sweep's heatmap key across (default: the first swept key).")
@click.option("--y", "y_key", default=None, metavar="KEY", help="A sweep's heatmap key down (default: the second swept key).")
@click.option("--agg", default="mean", show_default=True,
              help="How a sweep's heatmap cell aggregates its trials (the other keys): mean, median, max, min.")
@click.option("--db", default=None, envvar="CONSOLE_DB",
              help="Session database (default: $CONSOLE_DB, else the user data directory).")
def report(session_id: str, out_path: str | None, force: bool, as_sweep: bool, metric: str,
           x_key: str | None, y_key: str | None, agg: str, db: str | None) -> None:
    """Equity and drawdown curves and a summary of a session, or a sweep's trials, statistics and
    heatmap; writes a shareable HTML file."""
    from storage import default_db_path

    from console.outpath import check_target

    if out_path is not None:  # a bad path is refused before the work
        check_target(Path(out_path), force)
    db_path = Path(db) if db else default_db_path()
    if as_sweep or is_sweep(db_path, session_id):
        from console.sweep_report import report_sweep

        if not db_path.exists():
            raise InputError(f"no sweep {session_id!r}: no database {db_path}")
        report_sweep(Console(), db_path, session_id, Path(out_path) if out_path else None, force,
                     metric, x_key, y_key, agg)
        return
    if (metric, x_key, y_key, agg) != ("sharpe", None, None, "mean"):
        raise InputError("--metric, --x, --y and --agg shape a sweep's heatmap; "
                         f"{session_id!r} is a session")
    rep = load_report(db_path, session_id)
    path = Path(out_path) if out_path else Path(f"{rep.session}.html")
    check_target(path, force)
    out = Console()
    print_report(out, rep)
    write_html(path, render_html(rep), force)
    out.print(f"report written to {path}", highlight=False)
