"""``console sweep SESSION|FILE --grid GRID.toml``: a parameter sweep on Ray.

Each trial is a what-if run (``console.whatif``): the market inputs of a
logged session (or a price file) through an engine built from the base config
with the grid's keys laid over it. Trials run as Ray tasks (a local Ray by
default, an existing cluster with ``--address``); the inputs go into Ray's
object store once and every task reads them from there. Each trial is
deterministic: the same source, grid and seed give the same numbers.

Grid file (TOML): tables as in a config file; each key a list of values, a
range, a random draw, or a fixed value::

    [sweep]
    seed = 7                     # seed of the random draws (--seed wins)
    trials = 8                   # random samples (--trials wins)

    [strategy]
    fast = [3, 5, 8]                         # values
    slow = {range = [10, 40, 10]}            # start, stop (inclusive), step
    target_fraction = {uniform = [0.05, 0.2]}   # random: also randint, loguniform, choice
    [limits]
    max_position_fraction = {value = 0.2}    # the same in every trial

The trials are every combination of the value lists and ranges, times
``trials`` random samples when the grid draws any. Trial 0 is the base config
itself (the session's logged config, or the defaults for a file): the
baseline of the statistics (``console.sweep_stats``).

Every finished trial is a row in the database (``sweeps``, ``trials``); the
sweep's id is a hash of its source, base config, grid and seed, so running the
same command again resumes it, running only the trials without a row.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

import numpy as np

from core.errors import ConfigError, InputError

SOURCE_KEYS: Final = frozenset({"venue", "market", "source", "data", "symbol", "symbols", "seed",
                                "instruments", "bar_ms", "bars_per_day"})
RANDOM_KINDS: Final = ("uniform", "loguniform", "randint", "choice")
MAX_TRIALS: Final = 100_000
TABLE_ROWS: Final = 25
DEFAULT_SAMPLES: Final = 10
TASK_RETRIES: Final = 2  # a worker that dies is retried this many times, then recorded as lost
BOOT_DRAWS: Final = 2000


# ------------------------------------------------------------------ grid


@dataclass(frozen=True)
class Axis:
    key: str  # "section.name" or "initial_cash"
    kind: str  # "values", or one of RANDOM_KINDS
    values: tuple[Any, ...] = ()  # values / choice
    lo: float = 0.0
    hi: float = 0.0

    @property
    def random(self) -> bool:
        return self.kind != "values"


@dataclass(frozen=True)
class Grid:
    path: str
    axes: tuple[Axis, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    samples: int = 1
    seed: int = 0

    def canonical(self) -> str:
        return json.dumps({"axes": [[a.key, a.kind, list(a.values), a.lo, a.hi] for a in self.axes],
                           "fixed": self.fixed, "samples": self.samples, "seed": self.seed},
                          sort_keys=True)

    def trials(self) -> list[dict[str, Any]]:
        """Flat parameters of trials 1..n (``{"strategy.fast": 3, ...}``), in a fixed order."""
        grid_axes = [a for a in self.axes if not a.random]
        rand_axes = [a for a in self.axes if a.random]
        rng = np.random.default_rng(self.seed)
        out: list[dict[str, Any]] = []
        points = list(itertools.product(*(a.values for a in grid_axes)))
        for _ in range(self.samples):
            drawn = {a.key: _draw(a, rng) for a in rand_axes}
            for point in points:
                params = dict(self.fixed)
                params.update({a.key: v for a, v in zip(grid_axes, point)})
                params.update(drawn)
                out.append(params)
        return out


def _draw(a: Axis, rng: np.random.Generator) -> Any:
    if a.kind == "uniform":
        return float(rng.uniform(a.lo, a.hi))
    if a.kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(a.lo), math.log(a.hi))))
    if a.kind == "randint":
        return int(rng.integers(int(a.lo), int(a.hi) + 1))
    return a.values[int(rng.integers(len(a.values)))]


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _range(key: str, spec: Any, where: str) -> tuple[Any, ...]:
    if not (isinstance(spec, list) and len(spec) in (2, 3) and all(_num(x) for x in spec)):
        raise ConfigError(f"{where}: {key}: range must be [start, stop] or [start, stop, step] numbers")
    start, stop = spec[0], spec[1]
    step = spec[2] if len(spec) == 3 else 1
    if not step > 0:
        raise ConfigError(f"{where}: {key}: range step must be > 0, got {step}")
    if stop < start:
        raise ConfigError(f"{where}: {key}: range stop {stop} is below its start {start}")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    if n > MAX_TRIALS:
        raise ConfigError(f"{where}: {key}: range has {n} values (at most {MAX_TRIALS})")
    ints = all(isinstance(x, int) for x in (start, stop, step))
    return tuple(start + i * step if ints else round(start + i * step, 12) for i in range(n))


def _axis(key: str, value: Any, where: str) -> Axis | tuple[str, Any]:
    """An axis, or ("fixed", value)."""
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where}: {key}: an empty list of values")
        return Axis(key, "values", tuple(value))
    if not isinstance(value, dict):
        return ("fixed", value)
    if len(value) != 1:
        raise ConfigError(f"{where}: {key}: a table must have exactly one of "
                          f"values, range, value, {', '.join(RANDOM_KINDS)}")
    (kind, spec), = value.items()
    if kind == "value":
        return ("fixed", spec)
    if kind == "values":
        return _axis(key, spec if isinstance(spec, list) else [spec], where)
    if kind == "range":
        return Axis(key, "values", _range(key, spec, where))
    if kind == "choice":
        if not isinstance(spec, list) or not spec:
            raise ConfigError(f"{where}: {key}: choice needs a non-empty list")
        return Axis(key, "choice", tuple(spec))
    if kind in ("uniform", "loguniform", "randint"):
        if not (isinstance(spec, list) and len(spec) == 2 and all(_num(x) for x in spec)) or spec[1] < spec[0]:
            raise ConfigError(f"{where}: {key}: {kind} needs [low, high] numbers with low <= high")
        if kind == "randint" and not all(isinstance(x, int) for x in spec):
            raise ConfigError(f"{where}: {key}: randint needs integer bounds")
        if kind == "loguniform" and spec[0] <= 0:
            raise ConfigError(f"{where}: {key}: loguniform needs low > 0")
        return Axis(key, kind, (), float(spec[0]), float(spec[1]))
    raise ConfigError(f"{where}: {key}: unknown kind {kind!r} (values, range, value, "
                      f"{', '.join(RANDOM_KINDS)})")


def parse_grid(text: str, where: str, trials: int | None = None, seed: int | None = None) -> Grid:
    """The grid file's axes; one-line ConfigError naming the key for anything wrong."""
    from core.config import EngineConfig

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    sections = {f.name for f in fields(EngineConfig)} - {"initial_cash"}
    sweep = data.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError(f"{where}: [sweep] must be a table")
    for k in sweep:
        if k not in ("seed", "trials"):
            raise ConfigError(f"{where}: unknown key sweep.{k} (seed, trials)")
    axes: list[Axis] = []
    fixed: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        got = _axis(key, value, where)
        if isinstance(got, Axis):
            axes.append(got)
        else:
            fixed[key] = got[1]

    for key, value in data.items():
        if key in SOURCE_KEYS:
            raise ConfigError(f"{where}: {key}: would change the data source; a sweep runs every "
                              f"trial on the same market")
        if key == "initial_cash":
            add(key, value)
        elif key in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{key}] must be a table")
            known = {f.name for f in fields(getattr(EngineConfig(), key))}
            for name, v in value.items():
                if name not in known:
                    raise ConfigError(f"{where}: unknown key {key}.{name}")
                add(f"{key}.{name}", v)
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    if not axes:
        raise ConfigError(f"{where}: empty grid: no key has a list, range or random draw")
    has_random = any(a.random for a in axes)
    n_samples = trials if trials is not None else sweep.get("trials")
    if n_samples is not None and not has_random:
        raise ConfigError(f"{where}: --trials (sweep.trials) counts random draws, and this grid has none")
    if n_samples is None:
        n_samples = DEFAULT_SAMPLES if has_random else 1
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise ConfigError(f"{where}: sweep.trials must be an integer >= 1, got {n_samples!r}")
    s = seed if seed is not None else sweep.get("seed", 0)
    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
        raise ConfigError(f"{where}: sweep.seed must be an integer >= 0, got {s!r}")
    total = n_samples * math.prod(len(a.values) for a in axes if not a.random)
    if total > MAX_TRIALS:
        raise ConfigError(f"{where}: {total} trials (at most {MAX_TRIALS})")
    return Grid(where, tuple(axes), fixed, n_samples, s)


def read_grid(path: Path, trials: int | None = None, seed: int | None = None) -> Grid:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: grid file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a grid file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read grid ({getattr(exc, 'strerror', None) or exc})") from None
    return parse_grid(text, str(path), trials, seed)


def nested(params: dict[str, Any]) -> dict[str, Any]:
    """{"strategy.fast": 3} -> {"strategy": {"fast": 3}} (what merged_config lays over)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        section, _, name = key.partition(".")
        if name:
            out.setdefault(section, {})[name] = value
        else:
            out[key] = value
    return out


def check_trials(logged: dict[str, Any], grid: Grid, trials: list[dict[str, Any]]) -> None:
    """Every trial's config builds, before anything runs; one line naming the
    trial, its values and (in the config's words) the key at fault."""
    from console.whatif import merged_config

    for i, params in enumerate(trials, 1):
        try:
            merged_config(logged, nested(params), grid.path)
        except ConfigError as exc:
            raise ConfigError(f"{grid.path}: trial {i} ({_label(params)}): {_reason(exc, grid.path)}") from None


def _reason(exc: ConfigError, where: str) -> str:
    text = str(exc)
    return text[len(where) + 2:] if text.startswith(f"{where}: ") else text


# ---------------------------------------------------------------- source


@dataclass(frozen=True)
class Source:
    """What every trial shares: the base config (as logged), the market spec,
    the engine seed and the input rows (seq, kind, ts, symbol, payload, True)."""

    kind: str  # "session" or "file"
    name: str  # session id or file path
    fingerprint: str
    logged: dict[str, Any]
    spec: dict[str, Any]
    seed: int
    rows: tuple[tuple[int, str, int, str, str, bool], ...]


def session_source(db: Any, session_id: str) -> Source:
    from core.config import logged_config
    from core.market.spec import MarketSpec
    from storage import iter_events, resolve_session, session_meta

    sid = resolve_session(db, session_id)
    setup = session_meta(db, sid)["config"]
    try:
        logged = setup["engine"]
        MarketSpec.from_dict(setup["market"])
        logged_config(logged, f"session {sid} logged config")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"session {sid}: logged config cannot build an engine ({exc})") from None
    rows = tuple((r[0], r[1], r[2], r[3], r[4], True) for r in iter_events(db, sid) if r[5])
    if not rows:
        raise InputError(f"session {sid}: no market inputs logged")
    return Source("session", sid, f"session:{sid}", logged, setup["market"],
                  int(setup.get("seed", 0)), rows)


def file_source_rows(path: str, symbol: str | None, config_path: str | None) -> Source:
    from console.setup_run import file_market
    from core.codec import to_row
    from core.config import load_config, resolve_figures, resolve_signal

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    events, spec, _name, _fixups = file_market(path, symbol)
    cfg = resolve_figures(resolve_signal(load_config(config_path), False), True)
    rows = tuple((i, *to_row(ev), True) for i, ev in enumerate(events, 1))
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Source("file", str(Path(path).resolve()), f"file:{digest}:{symbol or ''}",
                  cfg.to_dict(), spec.to_dict(), 0, rows)


def sweep_id(src: Source, grid: Grid) -> str:
    key = json.dumps({"source": src.fingerprint, "base": src.logged, "grid": grid.canonical()},
                     sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# ----------------------------------------------------------------- trial


def run_trial(inputs: tuple[dict[str, Any], dict[str, Any], int, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """One what-if run of the shared inputs under the base config with
    ``overrides`` laid over it: the B side of ``console.whatif.compare``.
    Never raises: an exception is returned as {"error": ...}."""
    try:
        from console.whatif import compare, merged_config
        from core.build import build_engine
        from core.market.spec import MarketSpec

        logged, spec_d, seed, rows = inputs
        cfg = merged_config(logged, overrides, "grid")
        spec = MarketSpec.from_dict(spec_d)
        engine = build_engine(cfg, spec, seed)
        _a, b = compare(rows, engine, True, cfg.initial_cash, cfg.initial_cash, spec.bars_per_day)
        return {"status": "done", "error": None, "pnl": b.pnl, "sharpe": b.sharpe,
                "max_drawdown": b.max_drawdown.depth, "trades": b.trades, "fees": b.commission,
                "halts": len(b.halts), "trips": len(b.trips), "rejected": b.rejected,
                "period": b.returns.period, "ppy": b.returns.periods_per_year,
                "returns": [float(x) for x in b.returns.values]}
    except Exception as exc:  # noqa: BLE001 - a trial that raises is recorded, the sweep goes on
        line = (str(exc).splitlines() or [""])[0]
        return {"status": "error", "error": f"{type(exc).__name__}: {line}"}


def _task(inputs: Any, idx: int, overrides: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The Ray task: one trial, with its index (results arrive in any order)."""
    return idx, run_trial(inputs, overrides)


# ------------------------------------------------------------------- Ray


def start_ray(address: str | None, cpus: int | None) -> bool:
    """Connect to (``address``) or start a local Ray; True when this call
    started or connected it (and so must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k in ("CONSOLE_PURE_PYTHON", "OMP_NUM_THREADS")}
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                          "logging_level": "ERROR", "configure_logging": True}
    if address:
        _reachable(address)
    try:
        if address:
            ray.init(address=address, runtime_env={"env_vars": env}, **kw)
        else:
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            # "local": a new Ray of our own, never one another user started on this node
            ray.init(address="local", num_cpus=cpus or _usable_cpus(),
                     runtime_env={"env_vars": {**env, "PYTHONPATH": path}}, **kw)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"Ray cluster at {address}" if address else "a local Ray"
        raise InputError(f"cannot start {where} ({(str(exc).splitlines() or [''])[0]})") from None
    return True


def _reachable(address: str) -> None:
    """A one-line error for a cluster address nothing answers at (Ray itself
    retries such an address for minutes)."""
    import socket

    if address in ("auto", "local") or address.startswith(("ray://", "anyscale://")):
        return  # resolved by Ray itself
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--address {address!r}: expected HOST:PORT of a Ray cluster's head")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc})") from None


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_on_ray(inputs: Any, todo: list[tuple[int, dict[str, Any]]],
               done: Callable[[int, dict[str, Any]], None]) -> None:
    """Run ``todo`` as Ray tasks; ``done(idx, result)`` as each one finishes."""
    import ray
    from ray.exceptions import RayError

    ref = ray.put(inputs)  # once: every task reads the inputs from the object store
    task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(_task)
    pending = {task.remote(ref, idx, nested(params)): idx for idx, params in todo}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for r in ready:
                idx = pending.pop(r)
                try:
                    _, result = ray.get(r)
                except RayError as exc:
                    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    result = {"status": "lost", "error": f"{type(exc).__name__}: {line[:200]}"}
                done(idx, result)
    finally:
        for r in pending:
            ray.cancel(r, force=True)


def run_serial(inputs: Any, todo: list[tuple[int, dict[str, Any]]],
               done: Callable[[int, dict[str, Any]], None]) -> None:
    for idx, params in todo:
        done(idx, run_trial(inputs, nested(params)))


# ---------------------------------------------------------------- storage


def _label(params: dict[str, Any]) -> str:
    if not params:
        return "base"
    return " ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in params.items())


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def ensure_sweep(db: Any, sid: str, src: Source, grid: Grid, n_trials: int) -> int:
    """The sweep's row (created if new); how many trials already have a result."""
    from storage.schema import now_iso, translate_errors, write_transaction

    with translate_errors(str(db_path_of(db))):
        if db.execute("SELECT 1 FROM sweeps WHERE id = ?", [sid]).fetchone() is None:
            with write_transaction(db):
                db.table("sweeps").insert({
                    "id": sid, "created_at": now_iso(), "source": src.name, "source_kind": src.kind,
                    "grid": grid.canonical(), "seed": grid.seed, "samples": grid.samples,
                    "n_trials": n_trials, "base": json.dumps(src.logged, sort_keys=True),
                    "status": "running", "finished_at": None})
        return int(db.execute("SELECT count(*) FROM trials WHERE sweep = ? AND status != 'lost'",
                              [sid]).fetchone()[0])


def db_path_of(db: Any) -> str:
    from storage.schema import db_path

    return db_path(db)


def finished(db: Any, sid: str) -> set[int]:
    rows = db.execute("SELECT idx FROM trials WHERE sweep = ? AND status != 'lost'", [sid]).fetchall()
    return {int(r[0]) for r in rows}


def save_trial(db: Any, sid: str, idx: int, params: dict[str, Any], result: dict[str, Any]) -> None:
    from storage.schema import now_iso, translate_errors, write_transaction

    row = {"sweep": sid, "idx": idx, "params": json.dumps(params, sort_keys=True),
           "status": result["status"], "error": result.get("error"), "finished_at": now_iso()}
    for k in ("pnl", "sharpe", "max_drawdown", "trades", "fees", "halts", "trips", "rejected",
              "period", "ppy"):
        v = result.get(k)
        row[k] = None if isinstance(v, float) and math.isnan(v) else v
    row["returns"] = json.dumps(result["returns"]) if "returns" in result else None
    with translate_errors(db_path_of(db)), write_transaction(db):
        db.table("trials").upsert(row, pk=("sweep", "idx"))


def set_status(db: Any, sid: str, status: str) -> None:
    from storage.schema import now_iso, translate_errors, write_transaction

    with translate_errors(db_path_of(db)), write_transaction(db):
        db.execute("UPDATE sweeps SET status = ?, finished_at = ? WHERE id = ?",
                   [status, now_iso() if status == "done" else None, sid])


def load_trials(db: Any, sid: str) -> list[dict[str, Any]]:
    cur = db.execute("SELECT idx, params, status, error, pnl, sharpe, max_drawdown, trades, fees, "
                     "halts, trips, rejected, period, ppy, returns FROM trials WHERE sweep = ? "
                     "ORDER BY idx", [sid])
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        t = dict(zip(names, r))
        t["params"] = json.loads(t["params"])
        t["returns"] = np.array(json.loads(t["returns"]) if t["returns"] else [], dtype=float)
        for k in ("pnl", "sharpe", "max_drawdown", "fees"):
            if t[k] is None:
                t[k] = math.nan
        out.append(t)
    return out


def resolve_sweep(db: Any, prefix: str) -> str:
    rows = db.execute("SELECT id FROM sweeps WHERE id LIKE ? ORDER BY id", [prefix + "%"]).fetchall()
    if not rows:
        raise InputError(f"no sweep {prefix!r} in {db_path_of(db)}")
    if len(rows) > 1:
        raise InputError(f"sweep id {prefix!r} is ambiguous ({len(rows)} sweeps); give more of it")
    return str(rows[0][0])


# ----------------------------------------------------------------- stats


def add_stats(trials: list[dict[str, Any]], seed: int) -> None:
    """Deflated Sharpe (N = trials with a Sharpe) and Holm-adjusted p-values
    against trial 0 (the base), in place."""
    from console.curves import Returns
    from console.sweep_stats import deflated_sharpe, expected_max_sharpe, holm_adjust, per_period_sharpe, survives
    from console.whatif import ab_test

    ok = [t for t in trials if t["status"] == "done"]
    sr = [per_period_sharpe(t["returns"]) for t in ok]
    sr0 = expected_max_sharpe(sr)
    base = next((t for t in ok if t["idx"] == 0), None)
    for t in trials:
        t["dsr"], t["p"], t["sharpe_diff"] = math.nan, math.nan, math.nan
    for t in ok:
        t["dsr"] = deflated_sharpe(t["returns"], sr0)
        if base is not None and t is not base:
            a = Returns(base["returns"], base["period"], base["ppy"])
            b = Returns(t["returns"], t["period"], t["ppy"])
            test = ab_test(a, b, seed=seed, draws=BOOT_DRAWS)
            t["p"], t["sharpe_diff"] = test.boot_p, test.sharpe_diff
    adj = holm_adjust([t["p"] for t in trials])
    for t, p in zip(trials, adj):
        t["p_holm"] = p
        t["survives"] = survives(p, t["sharpe_diff"], t["dsr"])
    n = sum(1 for x in sr if not math.isnan(x))
    for t in trials:
        t["n_counted"] = n
        t["sr0"] = sr0


# ---------------------------------------------------------------- output


def to_frame(trials: list[dict[str, Any]], keys: list[str]) -> Any:
    import pandas as pd

    recs = []
    for t in trials:
        rec: dict[str, Any] = {"trial": t["idx"]}
        for k in keys:
            v = t["params"].get(k)
            rec[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
        for k in ("status", "error", "pnl", "sharpe", "max_drawdown", "trades", "fees", "halts",
                  "trips", "rejected", "dsr", "p", "p_holm", "survives"):
            rec[k] = t.get(k)
        recs.append(rec)
    df = pd.DataFrame.from_records(recs)
    for k in keys:  # a key whose values mix types (e.g. 1 and 1.5) is stored as text
        if df[k].map(type).nunique() > 1:
            df[k] = df[k].map(lambda v: None if v is None else str(v))
    return df


def write_parquet(trials: list[dict[str, Any]], keys: list[str], out: Path, replace: bool = True) -> None:
    """Write atomically (``console.outpath``): to a path that is absent, or a
    regular file and ``replace``; never through a symlink or onto a device."""
    from console.outpath import check_target, commit_part, create_part, part_path

    frame = to_frame(trials, keys)
    check_target(out, replace)
    f = create_part(out)
    done = False
    try:
        with f:
            frame.to_parquet(f, index=False)
        commit_part(out, replace)
        done = True
    except OSError as exc:
        raise InputError(f"{out}: cannot write the Parquet file ({exc.strerror or exc})") from None
    finally:
        if not done:  # the .part is ours: created above, exclusively
            part_path(out).unlink(missing_ok=True)


def print_table(con: Any, trials: list[dict[str, Any]], keys: list[str], rows: int = TABLE_ROWS) -> None:
    from rich.table import Table

    t = Table(box=None, header_style="bold underline")
    cols = ["#", *[k.split(".")[-1] for k in keys], "P&L", "Sharpe", "max DD", "trades", "fees",
            "halts", "trips", "DSR", "p (Holm)", ""]
    for i, c in enumerate(cols):
        t.add_column(c, justify="left" if 0 < i <= len(keys) else "right")
    base = [x for x in trials if x["idx"] == 0]
    rest = sorted((x for x in trials if x["idx"] != 0),
                  key=lambda x: (-(x["sharpe"] if x["status"] == "done" and not math.isnan(x["sharpe"]) else -math.inf), x["idx"]))
    shown = base + rest[:rows]
    for x in shown:
        label = [_fmt(x["params"].get(k, "")) if x["idx"] else "base" if i == 0 else ""
                 for i, k in enumerate(keys)]
        if x["status"] != "done":
            t.add_row(str(x["idx"]), *label, f"[red]{x['status']}: {x.get('error') or ''}[/]",
                      *[""] * 10)
            continue
        mark = "[bold green]survives[/]" if x.get("survives") else ""
        t.add_row(str(x["idx"]), *label, f"{x['pnl']:,.2f}", _r(x["sharpe"]),
                  f"{x['max_drawdown']:.2%}", f"{x['trades']:,}", f"{x['fees']:,.2f}",
                  str(x["halts"]), str(x["trips"]), _r(x.get("dsr", math.nan)),
                  _p(x.get("p_holm", math.nan)), mark)
    con.print(t)
    from core.pnl import PNL_NOTE

    con.print(f"{PNL_NOTE}; Sharpe annualised; DSR: deflated Sharpe ratio", highlight=False)
    if len(rest) > rows:
        con.print(f"({len(rest) - rows} more trials in the Parquet file; sorted by Sharpe)")


def _r(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def _p(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.4f}"


def print_stats(con: Any, trials: list[dict[str, Any]]) -> None:
    if not trials:
        return
    n, sr0 = trials[0]["n_counted"], trials[0]["sr0"]
    surv = [t["idx"] for t in trials if t.get("survives")]
    errs = [t for t in trials if t["status"] != "done"]
    con.print(f"deflated Sharpe over N = {n} trials (expected best per-period Sharpe of noise "
              f"{sr0:.4f}); p: paired bootstrap of the Sharpe difference against the base, "
              f"Holm-adjusted over {sum(1 for t in trials if not math.isnan(t['p']))} trials",
              highlight=False)
    if surv:
        con.print(f"[bold]survive[/] (Holm p < 5%, better Sharpe, DSR >= 0.95): trials "
                  f"{', '.join(map(str, surv))}")
    else:
        con.print("no trial survives (Holm p < 5% with a better Sharpe than the base, and DSR >= 0.95)")
    if errs:
        con.print(f"[red]{len(errs)} trial(s) failed[/] (recorded with their error)")


# --------------------------------------------------------------- command


@dataclass
class SweepResult:
    id: str
    trials: list[dict[str, Any]]
    keys: list[str]
    ran: int
    skipped: int
    wall_s: float
    parquet: Path | None
    fixed: tuple[str, ...] = ()


def run_sweep(db_file: Path, source: str, grid_path: Path, *, trials: int | None = None,
              seed: int | None = None, address: str | None = None, cpus: int | None = None,
              serial: bool = False, out: Path | None = None, symbol: str | None = None,
              config_path: str | None = None, con: Any = None, progress: bool = True,
              force: bool = False) -> SweepResult:
    """Parse, check, run the missing trials, store, compute the statistics.

    The results file: ``out`` (an existing file only with ``force``), or
    ``sweep-ID.parquet`` here (the sweep's own file: a resume rewrites it);
    either is refused before anything runs if it is not a regular file."""
    from console.outpath import check_target

    from rich.console import Console

    from storage import open_db

    con = con or Console()
    grid = read_grid(grid_path, trials, seed)  # a bad grid fails before anything starts
    if out is not None:
        check_target(out, force)
    is_file = Path(source).is_file()
    if is_file:
        src = file_source_rows(source, symbol, config_path)
    else:
        if symbol or config_path:
            raise InputError("--symbol and --config apply to a price file, not a logged session")
        if not Path(db_file).exists():
            raise InputError(f"{source}: neither a price file nor a session (no database {db_file})")
        rdb = open_db(db_file, create=False, readonly=False)
        try:
            src = session_source(rdb, source)
        finally:
            rdb.conn.close()
    params = grid.trials()
    check_trials(src.logged, grid, params)
    all_params = [{}, *params]  # trial 0: the base config
    keys = [a.key for a in grid.axes] + [k for k in grid.fixed]
    db = open_db(db_file)
    try:
        sid = sweep_id(src, grid)
        path = out if out is not None else Path(f"sweep-{sid}.parquet")
        replace = force or out is None
        check_target(path, replace)
        ensure_sweep(db, sid, src, grid, len(all_params))
        have = finished(db, sid)
        todo = [(i, p) for i, p in enumerate(all_params) if i not in have]
        inputs = (src.logged, src.spec, src.seed, src.rows)
        con.print(f"sweep {sid}: {len(all_params)} trials ({len(params)} + base) over "
                  f"{src.kind} {src.name}, {len(src.rows):,} inputs; "
                  f"{len(have)} already done, {len(todo)} to run "
                  f"({'serial' if serial else 'Ray'})", highlight=False)
        t0 = time.perf_counter()
        stopped = False
        if todo:
            stopped = _execute(db, sid, inputs, todo, all_params, serial, address, cpus, con, progress)
        wall = time.perf_counter() - t0
        rows = load_trials(db, sid)
        if stopped:
            set_status(db, sid, "stopped")
            con.print(f"stopped: {len(rows)} of {len(all_params)} trials stored; run the same "
                      f"command again to resume sweep {sid}", highlight=False)
            # exit 130 by the ordinary way out (the command line's KeyboardInterrupt). The
            # abort at exit once seen here (issue 19 item 10) was Arrow freeing a Python
            # buffer on its own thread during interpreter shutdown, after a Parquet read
            # (fixed in core.market.files); a serial sweep of a session starts no C++
            # thread at all (only OpenBLAS's and jemalloc's), so nothing here needs os._exit
            raise KeyboardInterrupt
        add_stats(rows, grid.seed)
        set_status(db, sid, "done")
        write_parquet(rows, keys, path, replace)
        return SweepResult(sid, rows, keys, len(todo), len(have), wall, path, tuple(grid.fixed))
    finally:
        db.conn.close()


def _execute(db: Any, sid: str, inputs: Any, todo: list[tuple[int, dict[str, Any]]],
             all_params: list[dict[str, Any]], serial: bool, address: str | None,
             cpus: int | None, con: Any, progress: bool) -> bool:
    """Run ``todo``, storing each result as it comes; True when stopped by Ctrl-C."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=con, disable=not progress, transient=False)
    task = bar.add_task("trials", total=len(todo))

    def done(idx: int, result: dict[str, Any]) -> None:
        save_trial(db, sid, idx, all_params[idx], result)
        bar.advance(task)

    started = False
    try:
        with bar:
            if serial:
                run_serial(inputs, todo, done)
            else:
                t0 = time.perf_counter()
                started = start_ray(address, cpus)
                if started:
                    con.print(f"Ray {'connected' if address else 'started'} in "
                              f"{time.perf_counter() - t0:.1f} s", highlight=False)
                run_on_ray(inputs, todo, done)
    except KeyboardInterrupt:
        return True
    finally:
        if started:
            import ray

            ray.shutdown()
    return False


def print_result(con: Any, res: SweepResult, metric: str = "sharpe", x: str | None = None,
                 y: str | None = None, agg: str = "mean") -> None:
    con.print(f"{res.ran} trials run in {res.wall_s:.1f} s"
              + (f" ({res.ran / res.wall_s:.2f} trials/s)" if res.ran and res.wall_s > 0 else "")
              + (f"; {res.skipped} resumed from the database" if res.skipped else ""), highlight=False)
    swept = [k for k in res.keys if k not in res.fixed]
    print_table(con, res.trials, swept)
    print_stats(con, res.trials)
    same = [t for t in res.trials if t["status"] == "done"]
    if len(same) > 1 and all(t["trades"] == same[0]["trades"] and np.array_equal(t["returns"], same[0]["returns"])
                             for t in same):
        con.print("[yellow]note:[/] every trial made the same run: the swept keys do not change this "
                  "market's decisions (e.g. strategy.fast while strategy.signal is not momentum)")
    from console.sweep_report import heat_grid, print_heatmap

    print_heatmap(con, heat_grid(res.trials, swept, metric, x, y, agg))
    if res.parquet is not None:
        con.print(f"results: {res.parquet}  (sweep {res.id})", highlight=False)


def list_sweeps(con: Any, db_file: Path) -> None:
    from rich.table import Table

    from storage import open_db

    db = open_db(db_file, create=False)
    try:
        rows = db.execute(
            "SELECT s.id, s.created_at, s.source_kind, s.source, s.n_trials, s.status, "
            "(SELECT count(*) FROM trials t WHERE t.sweep = s.id AND t.status != 'lost') "
            "FROM sweeps s ORDER BY s.created_at DESC").fetchall()
    finally:
        db.conn.close()
    if not rows:
        con.print("no sweeps")
        return
    t = Table(box=None, header_style="bold underline")
    for c in ("sweep", "created", "source", "trials", "done", "status"):
        t.add_column(c)
    for sid, created, kind, src, n, status, done in rows:
        t.add_row(sid, created[:19], f"{kind} {src}", str(n), str(done), status)
    con.print(t)


def show_sweep(con: Any, db_file: Path, prefix: str, metric: str = "sharpe", x: str | None = None,
               y: str | None = None, agg: str = "mean") -> None:
    """A stored sweep's table, statistics and heatmap (nothing re-run; no file
    written: ``console report ID`` also writes the HTML)."""
    from console.sweep_report import heat_grid, load_sweep, print_sweep
    from storage import open_db

    db = open_db(db_file, create=False, readonly=True)
    try:
        view = load_sweep(db, prefix)
    finally:
        db.conn.close()
    print_sweep(con, view, heat_grid(view.trials, view.keys, metric, x, y, agg))


# ----------------------------------------------------------------- click

import click  # noqa: E402  (the command below; the module is imported only when `sweep` runs)


@click.command()
@click.argument("source", required=False, metavar="SESSION|FILE")
@click.option("--grid", "grid_path", default=None, metavar="GRID.toml", help="The parameter grid (see README: Sweeps).")
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Random samples of the grid's random draws.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of the random draws and the bootstrap.")
@click.option("--address", default=None, metavar="ADDR", help="An existing Ray cluster (default: a local Ray).")
@click.option("--cpus", type=click.IntRange(min=1), default=None, help="CPUs of the local Ray (default: all).")
@click.option("--serial", is_flag=True, help="Run the trials one by one in this process, without Ray.")
@click.option("--out", default=None, metavar="FILE.parquet", help="Results file (default: sweep-ID.parquet).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@click.option("--symbol", default=None, help="With a price file: the symbol name of a single-instrument file.")
@click.option("--config", "config_path", default=None, help="With a price file: the base config (TOML).")
@click.option("--list", "list_", is_flag=True, help="List the sweeps in the database.")
@click.option("--show", "show_id", default=None, metavar="ID", help="Show a stored sweep (nothing is run).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--metric", default="sharpe", show_default=True,
              help="Heatmap metric: sharpe, pnl, dsr, max_drawdown, p_holm, fees, halts, trips, trades.")
@click.option("--x", "x_key", default=None, metavar="KEY", help="Heatmap key across (default: the first swept key).")
@click.option("--y", "y_key", default=None, metavar="KEY", help="Heatmap key down (default: the second swept key).")
@click.option("--agg", default="mean", show_default=True,
              help="How a heatmap cell aggregates its trials (the other keys): mean, median, max, min.")
@click.option("--db", default=None, envvar="CONSOLE_DB", help="Session database (default: $CONSOLE_DB, else the user data directory).")
def sweep(source: str | None, grid_path: str | None, trials: int | None, seed: int | None,
          address: str | None, cpus: int | None, serial: bool, out: str | None, force: bool, symbol: str | None,
          config_path: str | None, list_: bool, show_id: str | None, no_progress: bool,
          metric: str, x_key: str | None, y_key: str | None, agg: str, db: str | None) -> None:
    """Parameter sweep: what-if runs of a session's market (or a price file) over a grid, on Ray."""
    from rich.console import Console

    from storage import default_db_path

    from console.sweep_report import AGGS, METRICS

    if metric not in METRICS:  # before anything runs
        raise InputError(f"--metric {metric!r}: one of {', '.join(METRICS)}")
    if agg not in AGGS:
        raise InputError(f"--agg {agg!r}: one of {', '.join(AGGS)}")
    db_file = Path(db) if db else default_db_path()
    con = Console()
    if list_:
        list_sweeps(con, db_file)
        return
    if show_id is not None:
        show_sweep(con, db_file, show_id, metric, x_key, y_key, agg)
        return
    if source is None or grid_path is None:
        raise InputError("sweep needs SESSION|FILE and --grid GRID.toml (or --list, --show ID)")
    if serial and (address or cpus):
        raise InputError("--serial runs without Ray; it cannot be combined with --address or --cpus")
    if address and cpus:
        raise InputError("--cpus sizes a local Ray; a cluster at --address has its own")
    if x_key or y_key:
        from console.sweep_report import _resolve_key

        axes = [a.key for a in read_grid(Path(grid_path), trials, seed).axes]
        for name, flag in ((x_key, "--x"), (y_key, "--y")):
            if name:
                _resolve_key(name, axes, flag)
    res = run_sweep(db_file, source, Path(grid_path), trials=trials, seed=seed, address=address,
                    cpus=cpus, serial=serial, out=Path(out) if out else None, symbol=symbol,
                    config_path=config_path, con=con, progress=not no_progress, force=force)
    print_result(con, res, metric, x_key, y_key, agg)
