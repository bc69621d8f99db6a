"""``console models evaluate FILE``: walk-forward evaluation of the signal models on a price file.

Each model is fitted on ``--train`` bars, fed the next ``--test`` bars one by
one, and rolled forward (``core.signals.walkforward.evaluate``). Figures are
fractions; Sharpe ratios are annualised by sqrt(252) with ddof=1 whatever the
bar size; buy-and-hold is the equal-weight book over the same test bars.
Sharpe ratios are given before and after the paper broker's costs
(commission with its per-trade minimum and the half-spread, from the default
config or ``--config``'s ``[broker]``, on a book of ``initial_cash``).

Files are read with ``core.market.files.load_closes``, the loader ``console
run`` and ``console risk`` use (FRED's ``.`` and empty cells are missing
values; a date column is required). One price
column (``--column NAME``, or Adj Close/Close, or the only numeric column) is a
single series; a file of several numeric columns (one per symbol, e.g.
``sp500_dataset.csv``) or ``--column A,B,...`` is a multi-symbol frame.
Models that need what the file lacks are listed as ``skipped: reason``; a model
whose fit rejects the data is listed as ``failed: reason``. Timestamps are the
file's dates as int ns (market time); a multi-symbol frame keeps the dates on
which every symbol has a price.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from rich.console import Console
from rich.table import Table

from core.errors import InputError
from core.signals.base import FitReport, SignalModel, SignalOut

MAX_PAIRS = 3  # pairs evaluated on a multi-column file: the most correlated in the first training window
METRICS = (("hit_rate", "hit", "pct"), ("sharpe", "Sharpe", "num"), ("sharpe_sign", "sign Sh.", "num"),
           ("sharpe_net", "net Sh.", "num"), ("sharpe_sign_net", "net sgn", "num"),
           ("cost_bps", "cost bp", "num"),
           ("bh_sharpe", "B&H Sh.", "num"), ("turnover", "turnover", "num"), ("ic", "IC", "num"),
           ("n_folds", "folds", "int"))  # fmt: skip
ENSEMBLE = "ensemble"


def load_closes(path: Path, column: str | None) -> pd.DataFrame:
    """The file's price columns as a closes frame (int ns index ascending, one
    column per symbol), read by ``core.market.files.load_closes``: the loader
    ``console run`` and ``console risk`` use, so the same files pass."""
    from core.market.files import load_closes as read_closes

    cols = [c.strip() for c in column.split(",") if c.strip()] if column is not None else None
    frame = read_closes(path, cols).frame
    return frame.set_axis(pd.Index(frame.index.to_numpy(dtype=np.int64) * 1_000_000, name="ts"))


def _top_pairs(closes: pd.DataFrame, train: int) -> list[str]:
    """Up to MAX_PAIRS column pairs by return correlation over the first training window only."""
    cols = list(closes.columns)
    if len(cols) == 2:
        return [f"{cols[0]}/{cols[1]}"]
    corr = closes.iloc[:train].pct_change().corr().to_numpy()
    ranked = sorted(((corr[i, j], i, j) for i in range(len(cols)) for j in range(i + 1, len(cols))
                     if math.isfinite(corr[i, j])), reverse=True)
    return [f"{cols[i]}/{cols[j]}" for _, i, j in ranked[:MAX_PAIRS]]


def model_plan(name: str, closes: pd.DataFrame, train: int, seed: int,
               table: dict[str, Any] | None = None) -> dict[str, Any] | str:
    """The params to evaluate ``name`` with on ``closes`` (``table``: its
    ``[signals.<name>]`` table from ``--config``), or why it is skipped."""
    params: dict[str, Any] = {**(table or {}), "seed": seed}
    if name == "sentiment":
        return "needs headlines; the file has prices only"
    if name == "drl":
        return "a trained policy, not fitted here: console models train-rl FILE"
    if name == "pairs":
        if closes.shape[1] < 2:
            return "needs two or more price columns"
        params["pairs"] = _top_pairs(closes, train)
    if name in ("forest", "lstm", "cnn", "transformer", "sgd"):
        params.setdefault("train_bars", train)
    return params


class StackedEnsemble(SignalModel):
    """The registered ensemble over member models, for evaluation on prices alone.

    The ensemble's own ``on_bar`` only scores its last views; its views come from
    ``combine`` over other models' outs. Here the members see every bar, and the
    latest out of each member for a symbol is combined whenever one changes."""

    def __init__(self, ensemble: SignalModel, members: list[SignalModel]) -> None:
        super().__init__({})
        self.name = ensemble.name
        self.ensemble, self.members = ensemble, members
        self._latest: dict[str, dict[str, SignalOut]] = {}

    def fit(self, closes: pd.DataFrame) -> FitReport:
        for m in self.members:
            m.fit(closes)
        return self.ensemble.fit(closes)

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        self.ensemble.on_bar(ts, symbol, close)  # scores the previous views on this bar's return
        touched: set[str] = set()
        for m in self.members:
            for o in m.on_bar(ts, symbol, close):
                self._latest.setdefault(o.symbol, {})[o.model] = o
                touched.add(o.symbol)
        combine = getattr(self.ensemble, "combine")
        return [combine(s, list(self._latest[s].values())) for s in sorted(touched)]

    def to_bytes(self) -> bytes:
        raise NotImplementedError("StackedEnsemble is an evaluation harness; it has no artifact")

    @classmethod
    def from_bytes(cls, blob: bytes) -> "StackedEnsemble":
        raise NotImplementedError("StackedEnsemble is an evaluation harness; it has no artifact")


@dataclass(frozen=True)
class ModelSpec:
    """What builds one evaluated model, picklable (a Ray task builds it from
    this in its worker): a registered name and its params, and for the
    ensemble its members' (name, params)."""

    name: str
    params: dict[str, Any]
    members: tuple[tuple[str, dict[str, Any]], ...] = ()

    def build(self) -> SignalModel:
        from core.signals.base import load_all

        registry = load_all()
        if self.name == ENSEMBLE:
            return StackedEnsemble(registry[ENSEMBLE](self.params), [registry[n](p) for n, p in self.members])
        return registry[self.name](self.params)


def _evaluate_one(spec: ModelSpec, closes: pd.DataFrame, train: int, test: int,
                  costs: Any = None) -> dict[str, Any]:
    from core.signals.walkforward import evaluate

    try:
        result = evaluate(spec.build, closes, train, test, costs)
    except (InputError, ValueError) as exc:
        return {"failed": _line(exc)}
    return {k: _num(v) for k, v in result.metrics.items()}


def ensemble_spec(plans: dict[str, dict[str, Any]], seed: int) -> ModelSpec:
    return ModelSpec(ENSEMBLE, {"seed": seed}, tuple(plans.items()))


Runner = Callable[[dict[str, ModelSpec]], dict[str, dict[str, Any]]]


def evaluate_models(closes: pd.DataFrame, wanted: list[str], train: int, test: int, seed: int,
                    costs: Any, run: Runner | None = None, eager: bool = False,
                    tables: dict[str, dict[str, Any]] | None = None,
                    sizes: list[float] | None = None) -> dict[str, Any]:
    """Every wanted model's figures (or why it was skipped or failed), in
    ``wanted`` order with the ensemble last. ``run`` evaluates a batch of
    specs (default: one by one here; ``console.models_ray`` runs a batch as
    Ray tasks). ``eager``: the ensemble goes in the first batch with every
    planned member, and is run again only if a member failed (serially that
    would waste its fits; in parallel it saves a wave).

    ``tables``: each model's ``[signals.<model>]`` table from ``--config``;
    its params go into the model's plan and so into its ``ModelSpec`` (a Ray
    worker builds the same model). ``sizes`` (``--noise``): each model that
    ran clean, the ensemble included (every member fed the same perturbed
    closes), gets its ``robustness`` (``_robust``); those re-runs are serial,
    here, whatever ``run`` is."""
    run = run or (lambda batch: {n: _evaluate_one(s, closes, train, test, costs) for n, s in batch.items()})
    tables = tables or {}
    results: dict[str, Any] = {}
    plans: dict[str, dict[str, Any]] = {}
    batch: dict[str, ModelSpec] = {}
    for name in [n for n in wanted if n != ENSEMBLE]:
        plan = model_plan(name, closes, train, seed, tables.get(name))
        if isinstance(plan, str):
            results[name] = {"skipped": plan}
        else:
            results[name] = {}
            plans[name] = plan
            batch[name] = ModelSpec(name, plan)
    if eager and ENSEMBLE in wanted and plans:
        batch[ENSEMBLE] = ensemble_spec(plans, seed)
    out = run(batch) if batch else {}
    for name, plan in list(plans.items()):
        results[name] = out[name]
        if "failed" in out[name]:
            del plans[name]
            continue
        if "pairs" in plan:
            results[name]["pairs"] = list(plan["pairs"])
        if sizes:
            results[name]["robustness"] = _robust(batch[name].build, closes, train, test, sizes, seed, costs,
                                                  results[name])
    if ENSEMBLE in wanted:
        if not plans:
            results[ENSEMBLE] = {"skipped": "no member model was evaluated (choose some with --models)"}
        else:
            spec = ensemble_spec(plans, seed)
            ens = out[ENSEMBLE] if batch.get(ENSEMBLE) == spec else run({ENSEMBLE: spec})[ENSEMBLE]
            if "failed" not in ens:
                ens["members"] = list(plans)
                if sizes:
                    ens["robustness"] = _robust(spec.build, closes, train, test, sizes, seed, costs, ens)
            results[ENSEMBLE] = ens
    return results


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _fmt(x: Any, kind: str) -> str:
    if x is None:
        return "n/a"
    return {"pct": f"{x:.1%}", "int": f"{int(x)}"}.get(kind, f"{x:.2f}")


def render_table(d: dict[str, Any]) -> Table:
    """The evaluated models' figures (skipped and failed ones are in ``notes``)."""
    cols = ", ".join(d["columns"]) if len(d["columns"]) <= 4 else f"{len(d['columns'])} columns"
    table = Table(title=f"{d['file']} [{cols}]: {d['bars']} bars, walk-forward train {d['train']} / test {d['test']}",
                  caption="hit: sign hit rate; Sharpe: position = model value held one bar; sign Sh.: position ="
                          " sign(value); net: the same after the paper broker's costs (" + d["costs"]["text"] + ");"
                          " cost: mean a bar, bps of the book; B&H: buy-and-hold, same bars; annualised sqrt(252)")
    table.add_column("model")
    for _, label, _ in METRICS:
        table.add_column(label, justify="right")
    for name, m in d["models"].items():
        if "skipped" not in m and "failed" not in m:
            table.add_row(name, *[_fmt(m.get(k), kind) for k, _, kind in METRICS])
    return table


def render_robustness(d: dict[str, Any]) -> Table | None:
    """Each model's figures under noise and attack, and how far they moved."""
    rob = [(n, m["robustness"]) for n, m in d["models"].items() if isinstance(m.get("robustness"), dict)]
    if not rob:
        return None
    table = Table(title="Robustness: inputs perturbed on the test bars (sizes in sd of the first training window's "
                        f"bar returns, sigma = {rob[0][1]['sigma']:.3g})",
                  caption="gaussian: each fed close x exp(size sigma z), seeded; adversarial: each fed close moved "
                          "size sigma with or against the true next move, whichever hurts the model more; "
                          "scored on the clean next returns; d = perturbed - clean")
    for col in ("model", "input", "size"):
        table.add_column(col)
    for col in ("hit", "d hit", "Sharpe", "d Sharpe"):
        table.add_column(col, justify="right")
    for name, r in rob:
        table.add_row(name, "clean", "", _fmt(_num(r["clean"]["hit_rate"]), "pct"), "",
                      _fmt(_num(r["clean"]["sharpe"]), "num"), "")
        for row in r["rows"]:
            table.add_row("", row["kind"], f"{row['size']:g}", _fmt(row["hit_rate"], "pct"),
                          _fmt(row["d_hit"], "num") if row["d_hit"] is None else f"{row['d_hit']:+.1%}",
                          _fmt(row["sharpe"], "num"),
                          "n/a" if row["d_sharpe"] is None else f"{row['d_sharpe']:+.2f}")
    return table


def _robust(factory: Callable[[], SignalModel], closes: pd.DataFrame, train: int, test: int,
            sizes: list[float], seed: int, costs: Any, clean: dict[str, Any]) -> dict[str, Any]:
    from core.signals.robustness import robustness

    base = {k: (math.nan if clean.get(k) is None else float(clean[k])) for k in ("hit_rate", "sharpe")}
    try:
        r = robustness(factory, closes, train, test, sizes, seed, costs, base)
    except (InputError, ValueError) as exc:
        return {"failed": _line(exc)}
    clean_out = {k: _num(v) for k, v in r["clean"].items()}
    rows = [{k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()} for row in r["rows"]]
    return {"sigma": r["sigma"], "clean": clean_out, "rows": rows}


def notes(d: dict[str, Any]) -> list[str]:
    """One line per skipped, failed or annotated model."""
    out = []
    for name, m in d["models"].items():
        if "skipped" in m:
            out.append(f"{name}: skipped: {m['skipped']}")
        elif "failed" in m:
            out.append(f"{name}: failed: {m['failed']}")
        elif "pairs" in m:
            out.append(f"{name}: pairs {', '.join(m['pairs'])}")
        elif "members" in m:
            out.append(f"{name}: combines {', '.join(m['members'])}")
        if m.get("coverage") == 0.0:
            out.append(f"{name}: gave no signal on the test bars")
        rob = m.get("robustness")
        if isinstance(rob, dict) and "failed" in rob:
            out.append(f"{name}: robustness test failed: {rob['failed']}")
    return out


@click.group("models")
def models() -> None:
    """Signal models: walk-forward evaluation on price files."""


@models.command("evaluate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--column", default=None, metavar="NAME", help="Price column, or several as A,B,C (default: Adj Close/Close, else every numeric column).")
@click.option("--models", "names", default=None, metavar="LIST", help="Comma-separated model names (default: every registered model).")
@click.option("--train", default=500, show_default=True, type=int, help="Bars in each training window.")
@click.option("--test", default=250, show_default=True, type=int, help="Bars traded after each fit before refitting.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every model's random choices.")
@click.option("--config", "config_path", default=None, metavar="CONFIG.toml",
              help="Take the paper broker's costs ([broker]), the book size (initial_cash) and each model's "
                   "[signals.<model>] parameters from this config.")
@click.option("--noise", "noise", default=None, metavar="SIZES",
              help="Robustness test: re-run each model with Gaussian and adversarial perturbations of its "
                   "test inputs of these sizes (comma-separated, in sd of bar returns, e.g. 0.25,1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--parallel", is_flag=True,
              help="Fit the folds (and the symbols of per-symbol models) as Ray tasks; the same numbers.")
@click.option("--address", default=None, metavar="ADDR", help="With --parallel: an existing Ray cluster.")
@click.option("--cpus", type=click.IntRange(min=1), default=None,
              help="With --parallel: CPUs of the local Ray (default: all).")
def evaluate_cmd(file: Path, column: str | None, names: str | None, train: int, test: int,
                 seed: int, config_path: str | None, noise: str | None, as_json: bool, parallel: bool,
                 address: str | None, cpus: int | None) -> None:
    """Walk-forward hit rate, Sharpe (before and after the paper broker's costs), turnover and
    buy-and-hold Sharpe of each model on FILE."""
    from core.config import load_config
    from core.signals.base import load_all
    from core.signals.walkforward import Costs

    cfg = load_config(config_path)
    b = cfg.broker
    costs = Costs(b.commission_bps, b.min_commission, b.slippage_bps, cfg.initial_cash)
    cost_text = (f"commission {b.commission_bps:g} bp, min {b.min_commission:g} a trade, half-spread "
                 f"{b.slippage_bps:g} bp, book {cfg.initial_cash:,.0f}")
    if b.impact_bps > 0:
        cost_text += "; impact not charged: evaluation reads prices, not volumes"

    if (address or cpus) and not parallel:
        raise InputError("--address and --cpus apply to --parallel")
    if address and cpus:
        raise InputError("--cpus sizes a local Ray; a cluster at --address has its own")
    if train < 50:
        raise InputError(f"--train {train}: need at least 50 bars")
    if test < 1:
        raise InputError(f"--test {test}: need at least 1 bar")
    sizes = _sizes(noise)
    registry = load_all()
    wanted = sorted(registry) if names is None else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in registry]
    if unknown or not wanted:
        raise InputError(f"--models: unknown model {unknown[0] if unknown else names!r}; known: {', '.join(sorted(registry))}")
    closes = load_closes(file, column)
    if len(closes) < train + 2:
        raise InputError(f"{file}: {len(closes)} rows; --train {train} needs at least {train + 2}")
    tables = cfg.signals.params  # [signals.<model>] tables: into each model's plan and ModelSpec
    if parallel:
        from console.models_ray import ray_runner

        with ray_runner(closes, train, test, costs, address, cpus) as run:
            results = evaluate_models(closes, wanted, train, test, seed, costs, run, eager=True,
                                      tables=tables, sizes=sizes)
    else:
        results = evaluate_models(closes, wanted, train, test, seed, costs, tables=tables, sizes=sizes)
    d = {"file": str(file), "columns": [str(c) for c in closes.columns], "bars": len(closes),
         "train": train, "test": test, "seed": seed, "noise": sizes,
         "costs": {"commission_bps": b.commission_bps, "min_commission": b.min_commission,
                   "half_spread_bps": b.slippage_bps, "capital": cfg.initial_cash,
                   "impact_bps_not_charged": b.impact_bps, "text": cost_text},
         "models": results}
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
    else:
        console = Console()
        console.print(render_table(d))
        rob = render_robustness(d)
        if rob is not None:
            console.print(rob)
        for line in notes(d):
            console.print(line, markup=False, highlight=False)


def _sizes(text: str | None) -> list[float]:
    """--noise's sizes: positive finite numbers, at most 5."""
    if text is None:
        return []
    out: list[float] = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise InputError(f"--noise {text!r}: {part.strip()!r} is not a number") from None
        if not (math.isfinite(v) and 0 < v <= 100):
            raise InputError(f"--noise {text!r}: each size must be > 0 and <= 100 (sd of bar returns), got {part.strip()}")
        out.append(v)
    if not out or len(out) > 5:
        raise InputError(f"--noise {text!r}: give 1 to 5 sizes")
    return out


from console.commands.rl import train_rl  # noqa: E402  (the drl agent's training, issue 21)

models.add_command(train_rl)
