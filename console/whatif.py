"""``console replay ID --what-if CONFIG.toml``: the logged session (A) beside
the same market run through an engine built with another config (B).

B sees every logged input except, with ``--no-commands``, the operator's
commands: ticks, bars, headlines, timers and model outputs are the market.
A is the log itself (the truth), read in the same pass. The config file is
merged over the session's logged config, so it need only name what changes.

The A/B test is on per-period returns (daily, or per bar when the session
spans fewer than two UTC days; see ``console.curves``): a Welch t-test on the
mean return, and a seeded bootstrap of the annualised Sharpe difference
(B - A). Periods are the same market times in both runs, so the bootstrap
resamples them in pairs; runs of different lengths are resampled apart.
The verdict holds both tests to 5% with Holm's correction.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from console.curves import SUMMARY_KINDS, Returns, RunSummary, Tally, sharpe
from core.build import build_engine
from core.codec import DecodeError, from_row
from core.config import EngineConfig, config_from_dict, logged_config, upgrade_logged
from core.errors import ConfigError, InputError
from core.market.spec import MarketSpec
from core.pnl import PNL_LABEL

ALPHA: Final = 0.05
ADJ: Final = {"day": "daily", "bar": "per-bar"}
DEFAULT_DRAWS: Final = 2000
_CHUNK: Final = 250  # bootstrap draws per numpy batch (bounds memory on long sessions)

Row = tuple[int, str, int, str, str, bool]


@dataclass(frozen=True)
class ABTest:
    """Two-sided tests of B against A at 5%. ``sharpe_*`` annualised;
    ``ci`` the 95% percentile interval of the bootstrapped Sharpe difference;
    p-values NaN when a test is undefined (e.g. no variance in either run)."""

    period: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    welch_t: float
    welch_p: float
    sharpe_a: float
    sharpe_b: float
    sharpe_diff: float
    ci: tuple[float, float]
    boot_p: float
    draws: int
    seed: int
    paired: bool

    @property
    def significant(self) -> bool:
        """Either test rejects at 5% after Holm's correction for two tests."""
        return holm_rejects([self.welch_p, self.boot_p], ALPHA)


@dataclass(frozen=True)
class WhatIf:
    session: str
    config: str
    commands: bool
    same_config: bool
    a: RunSummary
    b: RunSummary
    test: ABTest


# ------------------------------------------------------------ pure parts


def merged_config(logged: dict[str, Any], overrides: dict[str, Any], where: str) -> EngineConfig:
    """The logged engine config with ``overrides`` (TOML tables) laid over it."""
    merged = json.loads(json.dumps(upgrade_logged(logged)))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return config_from_dict(merged, where)


def compare(rows: Iterable[Row], engine: Any, commands: bool, initial_a: float, initial_b: float,
            bars_per_day: float, sid: str = "") -> tuple[RunSummary, RunSummary]:
    """One pass over a session's rows: A tallies the logged decisions, B the
    decisions ``engine`` makes from the logged inputs (commands only if
    ``commands``)."""
    a, b = Tally(initial_a, bars_per_day), Tally(initial_b, bars_per_day)
    for seq, kind, ts, symbol, payload, is_input in rows:
        if not is_input:
            if kind in SUMMARY_KINDS:
                a.add(_decode(seq, kind, ts, symbol, payload, sid))
            continue
        ev = _decode(seq, kind, ts, symbol, payload, sid)
        if kind == "command":
            a.add(ev)
            if not commands:
                continue
        for made in engine.process(ev):
            b.add(made)
    return a.summary(), b.summary()


def ab_test(a: Returns, b: Returns, seed: int = 0, draws: int = DEFAULT_DRAWS) -> ABTest:
    """Welch t-test on mean period return and a bootstrap of the Sharpe
    difference, both two-sided; see the module doc."""
    from scipy.stats import ttest_ind  # type: ignore[import-untyped, unused-ignore]

    x, y = a.values, b.values
    if x.size == y.size and np.array_equal(x, y):
        t, p = 0.0, 1.0  # identical samples: scipy gives NaN when both are constant
    elif x.size < 2 or y.size < 2:
        t, p = math.nan, math.nan
    else:
        res = ttest_ind(y, x, equal_var=False)
        t, p = float(res.statistic), float(res.pvalue)
    ppy = a.periods_per_year
    sa, sb = sharpe(x, ppy), sharpe(y, ppy)
    paired = x.size == y.size
    diffs = _bootstrap(x, y, ppy, seed, draws, paired)
    if diffs.size:
        lo, hi = (float(v) for v in np.percentile(diffs, [2.5, 97.5]))
        boot_p = min(1.0, 2.0 * min(float(np.mean(diffs <= 0.0)), float(np.mean(diffs >= 0.0))))
    else:
        lo = hi = boot_p = math.nan
    return ABTest(a.period, int(x.size), int(y.size), _mean(x), _mean(y), t, p, sa, sb, sb - sa,
                  (lo, hi), boot_p, draws, seed, paired)


def holm_rejects(pvalues: list[float], alpha: float) -> bool:
    """True when Holm's step-down procedure rejects at least one hypothesis
    (NaN p-values count as not rejected)."""
    ps = [p for p in pvalues if not math.isnan(p)]
    return bool(ps) and min(ps) < alpha / len(ps)  # Holm's first step; later ones only add rejections


def _bootstrap(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], ppy: float, seed: int,
               draws: int, paired: bool) -> npt.NDArray[np.float64]:
    if x.size < 2 or y.size < 2 or draws < 1:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    out: list[npt.NDArray[np.float64]] = []
    for start in range(0, draws, _CHUNK):
        k = min(_CHUNK, draws - start)
        ix = rng.integers(0, x.size, size=(k, x.size))
        iy = ix if paired else rng.integers(0, y.size, size=(k, y.size))
        out.append(_sharpe_rows(y[iy], ppy) - _sharpe_rows(x[ix], ppy))
    d = np.concatenate(out)
    return d[np.isfinite(d)]


def _sharpe_rows(m: npt.NDArray[np.float64], ppy: float) -> npt.NDArray[np.float64]:
    """``sharpe`` of each row, vectorised (0 for a flat row, NaN for constant non-zero)."""
    mean = m.mean(axis=1)
    sd = m.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = mean / sd * math.sqrt(ppy)
    return np.where(sd > 0, s, np.where(mean == 0, 0.0, np.nan))


def _mean(x: npt.NDArray[np.float64]) -> float:
    return float(np.mean(x)) if x.size else math.nan


def _decode(seq: int, kind: str, ts: int, symbol: str, payload: str, sid: str) -> Any:
    try:
        return from_row(kind, ts, symbol, payload)
    except DecodeError as exc:
        raise InputError(f"session {sid}: seq {seq}: {exc}") from None


# ------------------------------------------------------------ command


def read_overrides(path: Path) -> dict[str, Any]:
    """The TOML file as a dict; one-line ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def what_if(db_path: Path, session_id: str, config_path: Path, commands: bool = True,
            seed: int = 0, draws: int = DEFAULT_DRAWS) -> WhatIf:
    """Run the comparison (no printing)."""
    from storage import iter_events, open_db, resolve_session, session_meta

    overrides = read_overrides(config_path)
    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    setup = session_meta(db, sid)["config"]
    try:
        logged = setup["engine"]
        spec = MarketSpec.from_dict(setup["market"])
        base = logged_config(logged, f"session {sid} logged config")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"session {sid}: logged config cannot build an engine ({exc})") from None
    cfg = merged_config(logged, overrides, str(config_path))
    engine = build_engine(cfg, spec, int(setup.get("seed", 0)))
    a, b = compare(iter_events(db, sid), engine, commands, base.initial_cash, cfg.initial_cash,
                   spec.bars_per_day, sid)
    return WhatIf(sid, str(config_path), commands, cfg == base, a, b, ab_test(a.returns, b.returns, seed, draws))


def run_whatif(db_path: Path, session_id: str, config_path: Path, commands: bool = True,
               seed: int = 0, draws: int = DEFAULT_DRAWS) -> int:
    """Print A and B side by side and the A/B test; exit status 0."""
    print_whatif(Console(), what_if(db_path, session_id, config_path, commands, seed, draws))
    return 0


def print_whatif(out: Console, w: WhatIf) -> None:
    cmds = "re-applied" if w.commands else f"left out ({w.a.commands} logged)"
    out.print(f"what-if: session {w.session} with {w.config} (operator commands {cmds})",
              highlight=False)
    t = Table(box=None, header_style="bold underline")
    for col, justify in (("", "left"), ("logged (A)", "right"), ("what-if (B)", "right"),
                         ("B - A", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for label, va, vb, fmt in _rows(w.a, w.b):
        t.add_row(label, fmt(va), fmt(vb), _delta(va, vb, fmt))
    out.print(t)
    _print_test(out, w.test)
    if w.same_config and w.commands and _differs(w.a, w.b):
        out.print("[yellow]note:[/] the logged config run again differs from the log: the engine has "
                  "changed since this session was recorded (`console replay` shows where)")


def _rows(a: RunSummary, b: RunSummary) -> Iterator[tuple[str, float, float, Any]]:
    money, count = "{:,.2f}".format, "{:,.0f}".format
    yield PNL_LABEL, a.pnl, b.pnl, money
    yield f"Sharpe ({ADJ[a.returns.period]} returns)", a.sharpe, b.sharpe, _ratio3
    yield "max drawdown", a.max_drawdown.depth, b.max_drawdown.depth, "{:.2%}".format
    yield "trades", a.trades, b.trades, count
    yield "commission", a.commission, b.commission, money
    yield "halts", len(a.halts), len(b.halts), count
    yield "breaker trips", len(a.trips), len(b.trips), count
    yield "rejections", a.rejected, b.rejected, count
    for rule in sorted(set(a.rejections) | set(b.rejections)):
        yield f"  {rule}", a.rejections.get(rule, 0), b.rejections.get(rule, 0), count


def _ratio3(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def _delta(va: float, vb: float, fmt: Any) -> str:
    if math.isnan(va) or math.isnan(vb):
        return "-"
    d = vb - va
    return "0" if d == 0 else ("+" if d > 0 else "-") + fmt(abs(d))


def _differs(a: RunSummary, b: RunSummary) -> bool:
    return a.trades != b.trades or not np.array_equal(a.nav, b.nav)


def _verdict(p: float) -> str:
    if math.isnan(p):
        return "not testable"
    return "[bold]significant at 5%[/]" if p < ALPHA else "not significant at 5%"


def _print_test(out: Console, t: ABTest) -> None:
    out.print(f"\nA/B test on {ADJ[t.period]} returns (A: {t.n_a}, B: {t.n_b} periods)")
    out.print(f"  Welch t-test on the mean (B - A = {t.mean_b - t.mean_a:+.3g} a {t.period}): "
              f"t = {t.welch_t:.3f}, p = {t.welch_p:.4f}: {_verdict(t.welch_p)}", highlight=False)
    how = "paired" if t.paired else "independent"
    out.print(f"  bootstrap of the Sharpe difference B - A = {t.sharpe_diff:+.3f}: 95% CI "
              f"[{t.ci[0]:+.3f}, {t.ci[1]:+.3f}], p = {t.boot_p:.4f}: {_verdict(t.boot_p)}",
              highlight=False)
    out.print(f"    ({t.draws} {how} resamples, seed {t.seed})", highlight=False)
    verdict = "[bold]significant at 5%[/]" if t.significant else "not significant at 5%"
    out.print(f"verdict: {verdict} (Holm over both tests)")
