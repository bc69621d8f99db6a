"""``console report SWEEP_ID``: a stored sweep's trials, their honest
statistics and the grid as a heatmap, in the terminal and as one HTML file.

The heatmap shows one metric (``--metric``, Sharpe by default) over two swept
keys: across (``--x``) and down (``--y``), by default the first two swept
keys that take more than one value. Every trial in a cell is aggregated with
``--agg`` (mean by default; median, max or min): with more than two swept
keys, the others are aggregated over, and the report names them and says how
many trials each cell holds; with random draws, each cell holds one trial per
sample. A key whose values are random draws (more than ``MAX_LEVELS``
distinct numbers) is cut into ``BINS`` equal-width bins, and the report says
so. One swept key gives a one-row map. The base (trial 0) and failed trials
are not in the map. Colours run from red (worse) to green (better) for the
metric's sense: higher is better for Sharpe, P&L and DSR, lower for max
drawdown, p (Holm), fees, halts and trips; trades has no better side
(blue low, yellow high).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from core.errors import InputError

MAX_LEVELS: Final = 12  # more distinct numeric values than this on a key: binned
BINS: Final = 6
# metric -> (label, format, sense: 1 higher is better, -1 lower is better, 0 neither)
METRICS: Final[dict[str, tuple[str, str, int]]] = {
    "sharpe": ("Sharpe", "{:.3f}", 1), "pnl": ("P&L", "{:,.0f}", 1), "dsr": ("DSR", "{:.3f}", 1),
    "max_drawdown": ("max drawdown", "{:.2%}", -1), "p_holm": ("p (Holm)", "{:.4f}", -1),
    "fees": ("fees", "{:,.0f}", -1), "halts": ("halts", "{:.1f}", -1), "trips": ("trips", "{:.1f}", -1),
    "trades": ("trades", "{:,.1f}", 0),
}
AGGS: Final = {"mean": np.mean, "median": np.median, "max": np.max, "min": np.min}
HTML_TRIALS: Final = 1000  # trial rows in the HTML file (the rest are in the Parquet file)


@dataclass
class Axis:
    key: str
    labels: list[str]  # one per level, in order
    level: dict[str, int]  # a trial's value (as _label_of gives it) -> its level
    binned: str = ""  # how the values were binned, when they were


@dataclass
class HeatGrid:
    """One metric over two swept keys (``y`` None: one row)."""

    metric: str
    agg: str
    x: Axis
    y: Axis | None
    values: np.ndarray  # (rows, cols), NaN where no trial
    counts: np.ndarray  # trials per cell
    others: list[str] = field(default_factory=list)  # swept keys aggregated over
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return METRICS[self.metric][0]

    def fmt(self, v: float) -> str:
        return "n/a" if math.isnan(v) else METRICS[self.metric][1].format(v)

    def how(self) -> str:
        """How a cell is made, in words."""
        per = sorted({int(c) for c in self.counts.ravel() if c > 0})
        if per == [1]:
            return "each cell: one trial"
        n = f"{per[0]}" if len(per) == 1 else f"{per[0]}-{per[-1]}"
        over = (f"over the other swept keys ({', '.join(self.others)})" if self.others
                else "over the trials that share the cell (random samples, or a bin's values)")
        return f"each cell: the {self.agg} of {n} trials, {over}"


def _value_label(v: Any) -> str:
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def make_axis(key: str, values: list[Any]) -> Axis:
    """The levels of ``key`` over the trials' values: sorted distinct values,
    or equal-width bins when there are more than ``MAX_LEVELS`` numbers."""
    distinct: dict[str, Any] = {}
    for v in values:
        distinct.setdefault(_value_label(v), v)
    nums = [v for v in distinct.values() if _num(v)]
    if len(nums) == len(distinct) and len(nums) > MAX_LEVELS:
        lo, hi = float(min(nums)), float(max(nums))
        width = (hi - lo) / BINS
        edges = [lo + i * width for i in range(BINS + 1)]
        labels = [f"{edges[i]:.3g}-{edges[i + 1]:.3g}" for i in range(BINS)]
        level = {lab: min(BINS - 1, int((float(v) - lo) / width)) if width > 0 else 0
                 for lab, v in distinct.items()}
        return Axis(key, labels, level, f"{key}: {len(nums)} distinct values cut into {BINS} "
                                        f"equal-width bins from {lo:.4g} to {hi:.4g}")
    ordered = sorted(distinct.items(), key=lambda kv: (0, float(kv[1]), kv[0]) if _num(kv[1]) else (1, 0.0, kv[0]))
    return Axis(key, [k for k, _ in ordered], {k: i for i, (k, _) in enumerate(ordered)})


def _resolve_key(name: str, keys: list[str], flag: str) -> str:
    if name in keys:
        return name
    hits = [k for k in keys if k.split(".")[-1] == name]
    if len(hits) == 1:
        return hits[0]
    raise InputError(f"{flag} {name!r}: not a swept key of this sweep (swept: {', '.join(keys) or 'none'})")


def heat_grid(trials: list[dict[str, Any]], keys: list[str], metric: str = "sharpe",
              x: str | None = None, y: str | None = None, agg: str = "mean") -> HeatGrid | str:
    """The heatmap of ``metric``, or a line saying why there is none."""
    if metric not in METRICS:
        raise InputError(f"--metric {metric!r}: one of {', '.join(METRICS)}")
    if agg not in AGGS:
        raise InputError(f"--agg {agg!r}: one of {', '.join(AGGS)}")
    runs = [t for t in trials if t["idx"] != 0]
    values = {k: [t["params"].get(k) for t in runs] for k in keys}
    varying = [k for k in keys if len({_value_label(v) for v in values[k]}) > 1]
    kx = _resolve_key(x, keys, "--x") if x else None
    ky = _resolve_key(y, keys, "--y") if y else None
    if kx is not None and kx == ky:
        raise InputError(f"--x and --y are both {kx}: choose two different keys")
    rest = [k for k in varying if k not in (kx, ky)]
    if kx is None and rest:
        kx = rest.pop(0)
    if ky is None and rest:
        ky = rest.pop(0)
    if kx is None:
        return "no heatmap: no swept key takes more than one value"
    ax = make_axis(kx, values[kx])
    ay = make_axis(ky, values[ky]) if ky is not None else None
    shape = (len(ay.labels) if ay else 1, len(ax.labels))
    cells: dict[tuple[int, int], list[float]] = {}
    for t in runs:
        v = t.get(metric)
        if t["status"] != "done" or v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        i = ay.level[_value_label(t["params"].get(ky))] if ay and ky else 0
        j = ax.level[_value_label(t["params"].get(kx))]
        cells.setdefault((i, j), []).append(float(v))
    vals = np.full(shape, np.nan)
    counts = np.zeros(shape, dtype=int)
    for (i, j), vs in cells.items():
        vals[i, j] = float(AGGS[agg](vs))
        counts[i, j] = len(vs)
    if not cells:
        return f"no heatmap: no finished trial has a {METRICS[metric][0]}"
    notes = [a.binned for a in (ax, ay) if a is not None and a.binned]
    return HeatGrid(metric, agg, ax, ay, vals, counts, rest, notes)


def _colour(grid: HeatGrid, v: float) -> tuple[int, int, int]:
    finite = grid.values[np.isfinite(grid.values)]
    lo, hi = float(finite.min()), float(finite.max())
    f = 0.5 if hi == lo else (v - lo) / (hi - lo)
    sense = METRICS[grid.metric][2]
    if sense == 0:  # blue low, yellow high
        return int(40 + 200 * f), int(60 + 160 * f), int(200 - 160 * f)
    good = f if sense > 0 else 1.0 - f
    return int(255 * (1 - good)), int(255 * good), 60


def legend(grid: HeatGrid) -> str:
    finite = grid.values[np.isfinite(grid.values)]
    lo, hi = grid.fmt(float(finite.min())), grid.fmt(float(finite.max()))
    sense = METRICS[grid.metric][2]
    if sense == 0:
        return f"blue low {lo}, yellow high {hi}"
    return f"red worse, green better: {lo} .. {hi} ({'higher' if sense > 0 else 'lower'} is better)"


def title(grid: HeatGrid) -> str:
    where = f"{grid.x.key} (across) and {grid.y.key} (down)" if grid.y else f"{grid.x.key} (across)"
    return f"{grid.label} by {where}"


def best_cell(grid: HeatGrid) -> str:
    sense = METRICS[grid.metric][2] or 1
    v = np.where(np.isfinite(grid.values), grid.values * sense, -np.inf)
    i, j = np.unravel_index(int(np.argmax(v)), v.shape)
    at = f"{grid.x.key}={grid.x.labels[j]}" + (f", {grid.y.key}={grid.y.labels[i]}" if grid.y else "")
    word = "highest" if METRICS[grid.metric][2] == 0 else "best"
    return f"{word} cell: {at}: {grid.fmt(float(grid.values[i, j]))} ({int(grid.counts[i, j])} trial(s))"


def print_heatmap(con: Any, grid: HeatGrid | str) -> None:
    """The heatmap in terminal blocks, its legend, how a cell is made and the best cell."""
    if isinstance(grid, str):
        con.print(grid, highlight=False)
        return
    con.print(f"\n{title(grid)}: {legend(grid)}", highlight=False)
    w = max(6, *(len(s) for s in grid.x.labels))
    con.print(" " * 10 + "".join(s.rjust(w) for s in grid.x.labels), highlight=False, markup=False)
    from rich.markup import escape

    rows = grid.y.labels if grid.y else [""]
    for i, ylab in enumerate(rows):
        line = escape(ylab[:9].rjust(9)) + " "  # a swept value is text, never markup
        for j in range(len(grid.x.labels)):
            v = float(grid.values[i, j])
            if math.isnan(v):
                line += " " * (w - 2) + "··"
                continue
            r, g, b = _colour(grid, v)
            line += " " * (w - 4) + f"[rgb({r},{g},{b})]████[/]"
        con.print(line, highlight=False)
    for note in [grid.how(), *grid.notes, best_cell(grid)]:
        con.print(note, highlight=False, markup=False)


def html_heatmap(grid: HeatGrid | str) -> str:
    """The heatmap as an HTML table: a coloured cell with its value (hover: trials)."""
    if isinstance(grid, str):
        return f"<p>{html.escape(grid)}</p>"
    head = "<tr><th>" + html.escape(grid.y.key if grid.y else "") + " \\ " + html.escape(grid.x.key) + "</th>" + \
        "".join(f"<th>{html.escape(s)}</th>" for s in grid.x.labels) + "</tr>"
    body = []
    for i, ylab in enumerate(grid.y.labels if grid.y else [""]):
        cells = []
        for j in range(len(grid.x.labels)):
            v = float(grid.values[i, j])
            if math.isnan(v):
                cells.append('<td class="empty">-</td>')
                continue
            r, g, b = _colour(grid, v)
            cells.append(f'<td style="background:rgb({r},{g},{b})" title="{int(grid.counts[i, j])} trial(s)">'
                         f"{html.escape(grid.fmt(v))}</td>")
        body.append(f"<tr><th>{html.escape(ylab)}</th>{''.join(cells)}</tr>")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in [legend(grid), grid.how(), *grid.notes, best_cell(grid)])
    return f'<h2>{html.escape(title(grid))}</h2><table class="heat">{head}{"".join(body)}</table>{notes}'


def grid_json(grid: HeatGrid | str) -> dict[str, Any] | None:
    if isinstance(grid, str):
        return None
    return {"metric": grid.metric, "agg": grid.agg, "x": grid.x.key, "x_levels": grid.x.labels,
            "y": grid.y.key if grid.y else None, "y_levels": grid.y.labels if grid.y else [""],
            "values": [[None if math.isnan(v) else float(v) for v in row] for row in grid.values],
            "counts": grid.counts.tolist(), "aggregated_over": grid.others}


# ------------------------------------------------------------ the stored sweep


@dataclass
class SweepView:
    id: str
    status: str
    n_trials: int
    source: str
    seed: int
    keys: list[str]  # swept keys (the grid's axes)
    fixed: dict[str, Any]
    trials: list[dict[str, Any]]  # with the statistics (``console.sweep.add_stats``)
    created_at: str


def has_sweeps(db: Any) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sweeps'").fetchone() is not None


def matching_sweeps(db: Any, prefix: str) -> list[str]:
    if not prefix or not has_sweeps(db):
        return []
    return [str(r[0]) for r in db.execute("SELECT id FROM sweeps WHERE id LIKE ? ORDER BY id",
                                          [prefix.replace("%", "").replace("_", "") + "%"]).fetchall()
            if str(r[0]).startswith(prefix)]


def load_sweep(db: Any, prefix: str) -> SweepView:
    from console.sweep import add_stats, load_trials, resolve_sweep

    if not has_sweeps(db):
        raise InputError(f"no sweep {prefix!r}: this database has no sweeps")
    sid = resolve_sweep(db, prefix)
    meta = db.execute("SELECT grid, seed, n_trials, status, source_kind, source, created_at FROM sweeps "
                      "WHERE id = ?", [sid]).fetchone()
    rows = load_trials(db, sid)
    grid = json.loads(meta[0])
    add_stats(rows, int(meta[1]))
    return SweepView(sid, str(meta[3]), int(meta[2]), f"{meta[4]} {meta[5]}", int(meta[1]),
                     [a[0] for a in grid["axes"]], dict(grid.get("fixed", {})), rows, str(meta[6]))


def print_sweep(con: Any, view: SweepView, grid: HeatGrid | str) -> None:
    from console.sweep import print_stats, print_table

    con.print(f"sweep {view.id} ({view.status}): {len(view.trials)} of {view.n_trials} trials over "
              f"{view.source}", highlight=False)
    print_table(con, view.trials, view.keys)
    print_stats(con, view.trials)
    print_heatmap(con, grid)


def _cell(t: dict[str, Any], k: str, fmt: str) -> str:
    v = t.get(k)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


def render_sweep_html(view: SweepView, grid: HeatGrid | str) -> str:
    """The sweep as one self-contained HTML document (inline CSS, no scripts run)."""
    from console.report_cmd import CSS, _html_table

    sid = html.escape(view.id)
    done = [t for t in view.trials if t["status"] == "done"]
    base = [t for t in view.trials if t["idx"] == 0]
    rest = sorted((t for t in view.trials if t["idx"] != 0),
                  key=lambda t: (-(t["sharpe"] if t["status"] == "done" and not math.isnan(t["sharpe"])
                                   else -math.inf), t["idx"]))
    shown = (base + rest)[:HTML_TRIALS]
    header = ["#", *view.keys, "status", "P&L", "Sharpe", "max DD", "trades", "fees", "halts", "trips",
              "DSR", "p", "p (Holm)", "survives"]
    rows = [[str(t["idx"]), *(("base" if t["idx"] == 0 and i == 0 else "" if t["idx"] == 0
                               else _value_label(t["params"].get(k, ""))) for i, k in enumerate(view.keys)),
             t["status"] if t["status"] == "done" else f"{t['status']}: {t.get('error') or ''}",
             _cell(t, "pnl", "{:,.2f}"), _cell(t, "sharpe", "{:.3f}"), _cell(t, "max_drawdown", "{:.2%}"),
             _cell(t, "trades", "{:,}"), _cell(t, "fees", "{:,.2f}"), _cell(t, "halts", "{}"),
             _cell(t, "trips", "{}"), _cell(t, "dsr", "{:.3f}"), _cell(t, "p", "{:.4f}"),
             _cell(t, "p_holm", "{:.4f}"), "yes" if t.get("survives") else ""] for t in shown]
    n = view.trials[0]["n_counted"] if view.trials else 0
    sr0 = view.trials[0]["sr0"] if view.trials else math.nan
    surv = [t["idx"] for t in view.trials if t.get("survives")]
    about = [["sweep", view.id], ["status", view.status], ["source", view.source],
             ["trials", f"{len(view.trials)} of {view.n_trials} stored ({len(done)} finished)"],
             ["seed", str(view.seed)], ["swept", ", ".join(view.keys)],
             ["fixed", ", ".join(f"{k} = {v}" for k, v in view.fixed.items()) or "-"],
             ["created", view.created_at]]
    stats = (f"Deflated Sharpe over N = {n} trials (the best per-period Sharpe expected of noise: "
             f"{sr0:.4f}); p: paired bootstrap of the Sharpe difference against the base, Holm-adjusted. "
             + (f"Survive (Holm p < 5%, better Sharpe than the base, DSR >= 0.95): trials "
                f"{', '.join(map(str, surv))}." if surv else
                "No trial survives (Holm p < 5% with a better Sharpe than the base, and DSR >= 0.95)."))
    blob = json.dumps({"sweep": view.id, "trials": [
        {"trial": t["idx"], "params": t["params"], "status": t["status"],
         **{k: (None if t.get(k) is None or (isinstance(t.get(k), float) and math.isnan(t[k])) else t[k])
            for k in ("pnl", "sharpe", "max_drawdown", "trades", "fees", "halts", "trips", "dsr", "p",
                      "p_holm")}, "survives": bool(t.get("survives"))} for t in view.trials],
        "heatmap": grid_json(grid)}, allow_nan=False, default=str).replace("</", "<\\/")
    more = (f"<p>{len(view.trials) - len(shown)} more trials in the Parquet file.</p>"
            if len(view.trials) > len(shown) else "")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Sweep {sid}</title><style>{CSS}{HEAT_CSS}</style></head><body>",
        f"<h1>Sweep {sid}</h1>", _html_table(about),
        html_heatmap(grid),
        "<h2>Trials</h2>", f"<p>{html.escape(stats)}</p>",
        "<p>The base first, then by Sharpe (annualised). DSR: deflated Sharpe ratio.</p>",
        _html_table(rows, header), more,
        f'<script type="application/json" id="sweep">{blob}</script>',
        "<footer>Written by <code>console report</code>.</footer></body></html>",
    ]
    return "\n".join(parts)


HEAT_CSS: Final = ("table.heat td{text-align:right;color:#111;min-width:4em}"
                   "table.heat td.empty{color:#999;text-align:center}")


def report_sweep(con: Any, db_file: Path, prefix: str, out: Path | None, force: bool, metric: str,
                 x: str | None, y: str | None, agg: str) -> Path:
    """``console report`` of a sweep: print it, write its HTML; the file written."""
    from console.outpath import check_target
    from console.report_cmd import write_html
    from storage import open_db

    if out is not None:
        check_target(out, force)
    db = open_db(db_file, create=False, readonly=True)
    try:
        view = load_sweep(db, prefix)
    finally:
        db.conn.close()
    grid = heat_grid(view.trials, view.keys, metric, x, y, agg)
    path = out if out is not None else Path(f"sweep-{view.id}.html")
    check_target(path, force)
    print_sweep(con, view, grid)
    write_html(path, render_sweep_html(view, grid), force)
    con.print(f"report written to {path}", highlight=False)
    return path
