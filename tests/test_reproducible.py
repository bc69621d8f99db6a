"""Research that reproduces: the same seed, config and data give the same
session, byte for byte (every ``events`` row: kind, seq, ts, symbol, input,
payload), however loaded the machine; ``console run --like`` runs a logged
session again; the fit gate logs every fit (issue 14)."""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.build import build_engine
from core.config import EngineConfig, SignalsConfig
from core.events import BarClosed, ModelActivated, ModelFit
from core.market.sim import Simulator
from core.session import MemorySink, Session
from core.signals.base import FitReport, SignalModel, SignalOut
from core.signals.hub import SignalHub
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WIDE = FIXTURES / "skfolio_sp500_dataset_1990.csv"  # 20 symbols, 300 trading days of 1990-91

# fits early and often, so a short run holds several rounds of them
SIM_CONFIG = """
[signals]
fit_bars = 100
retrain_every = 40
history_bars = 400
min_val_bars = 20
min_psr = 0.0
"""
FILE_CONFIG = "[signals]\nfit_bars = 90\nretrain_every = 30\n"  # the fit gate as shipped
LSTM_CONFIG = """
[signals]
models = ["lstm", "ensemble"]
fit_bars = 60
retrain_every = 40
history_bars = 400
min_val_bars = 2
min_psr = 0.0
"""

Row = tuple[str, int, int, str, int, str]


def events(db: Path, sid: str) -> list[Row]:
    con = sqlite3.connect(db)
    try:
        return con.execute("select kind, seq, ts, symbol, input, payload from events where session = ? "
                           "order by seq", [sid]).fetchall()
    finally:
        con.close()


def headless(db: Path, *args: str, **env: str) -> tuple[str, str]:
    """(session id, stderr) of one ``console run --headless ARGS``."""
    res = run_cli("run", "--headless", *args, db=db, OMP_NUM_THREADS="1", **env)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1], res.stderr


def run_twice(tmp_path: Path, config: str, *args: str) -> tuple[list[Row], list[Row]]:
    """The same run twice, the first interpreted and the second compiled
    where the compiled modules are built (interpreted again where not)."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(config)
    db = tmp_path / "console.db"
    a, _ = headless(db, "--config", str(cfg), *args, CONSOLE_PURE_PYTHON="1")
    b, _ = headless(db, "--config", str(cfg), *args, CONSOLE_PURE_PYTHON="0")
    assert a != b
    return events(db, a), events(db, b)


def assert_identical(a: list[Row], b: list[Row]) -> None:
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)}"
    for x, y in zip(a, b):
        assert x == y, f"first difference at seq {x[1]}:\n  {x}\n  {y}"


def kinds(rows: list[Row], kind: str) -> list[Row]:
    return [r for r in rows if r[0] == kind]


# ------------------------------------------------------------ two runs, one log


def test_two_simulator_runs_with_the_default_models_log_identical_events(tmp_path: Path) -> None:
    a, b = run_twice(tmp_path, SIM_CONFIG, "--seed", "3", "--events", "40000")
    assert_identical(a, b)
    fits = kinds(a, "model_fit")
    assert len(fits) >= 6 and len(kinds(a, "model_activated")) >= 3
    assert {'"model":"forest"' in r[5] for r in kinds(a, "model_activated")} == {True, False}


def test_two_runs_on_a_real_price_file_log_identical_events(tmp_path: Path) -> None:
    a, b = run_twice(tmp_path, FILE_CONFIG, "--seed", "4", "--events", "3300", "--data", str(WIDE))
    assert_identical(a, b)
    assert len(kinds(a, "model_fit")) >= 4 and kinds(a, "model_activated")


def test_two_simulator_runs_with_the_lstm_log_identical_events(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    a, b = run_twice(tmp_path, LSTM_CONFIG, "--seed", "5", "--events", "35000")
    assert_identical(a, b)
    assert sum('"model":"lstm"' in r[5] for r in kinds(a, "model_fit")) >= 2


@pytest.mark.slow
def test_the_issue_s_run_twice_logs_identical_events(tmp_path: Path) -> None:
    """``console run --headless --events 60000 --seed 3`` with every default."""
    a, b = run_twice(tmp_path, "", "--seed", "3", "--events", "60000")
    assert_identical(a, b)
    assert kinds(a, "model_fit")


@pytest.mark.slow
def test_the_whole_real_file_twice_logs_identical_events(tmp_path: Path) -> None:
    a, b = run_twice(tmp_path, "", "--seed", "4", "--data", str(WIDE))
    assert_identical(a, b)


# ------------------------------------------------------------ market time, in process


class Sleepy(SignalModel):
    """A model whose fit takes a random wall time (a loaded machine) and
    then validates well: only when its result enters could differ."""

    name = "forest"

    def fit(self, closes: Any) -> FitReport:
        time.sleep(random.uniform(0.0, 0.05))
        self.fitted_at = int(closes.index[-1])
        return FitReport("forest", 1, int(closes.index[0]), int(closes.index[-1]),
                         {"val_sharpe": 3.0, "val_sharpe_bars": 500.0})

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        return [SignalOut(ts, symbol, "forest", 0.5, 1.0)]

    def to_bytes(self) -> bytes:
        return b"sleepy"

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Sleepy":
        return cls()


def sleepy_run(lag: int, events: int = 25_000) -> list[tuple[int, object]]:
    sim = Simulator(2)
    cfg = EngineConfig(signals=SignalsConfig(models=("forest", "ensemble"), fit_bars=40, retrain_every=10,
                                             drift_check_every=0, activation_lag_bars=lag))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=2,
                    bars_per_day=sim.spec.bars_per_day, background=True, market_time=True)
    hub.registry = {**hub.registry, "forest": lambda params: Sleepy(params)}
    sink = MemorySink()
    s = Session(build_engine(cfg, sim.spec, 2), sim, sink, "t", speed=None, max_events=events, hub=hub)
    s.run()
    assert s.error == ""
    return sink.rows


def test_a_fit_enters_at_its_due_bar_whatever_its_wall_time() -> None:
    first, second = sleepy_run(3), sleepy_run(3)
    assert first == second
    closes = sorted({e.ts for _, e in first if isinstance(e, BarClosed)})
    fits = [e for _, e in first if isinstance(e, ModelFit)]
    assert len(fits) >= 3 and all(f.outcome == "active" for f in fits)
    for f in fits:  # started at a bar close, live three bar closes later
        assert closes.index(f.ts) - closes.index(f.started) == 3
    seqs = {seq: e for seq, e in first}
    for seq, e in first:  # the activation follows its record at once
        if isinstance(e, ModelFit):
            assert isinstance(seqs[seq + 1], ModelActivated) and seqs[seq + 1].version == e.version


def test_the_activation_lag_is_the_config_s() -> None:
    rows = sleepy_run(0, events=15_000)
    fits = [e for _, e in rows if isinstance(e, ModelFit)]
    assert fits and all(f.ts == f.started for f in fits)


def test_a_paced_live_run_still_activates_when_a_fit_finishes() -> None:
    sim = Simulator(2)
    cfg = EngineConfig(signals=SignalsConfig(models=("forest", "ensemble"), fit_bars=40, retrain_every=0,
                                             drift_check_every=0, activation_lag_bars=50))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=2,
                    bars_per_day=sim.spec.bars_per_day, background=False)  # live: market_time off
    hub.registry = {**hub.registry, "forest": lambda params: Sleepy(params)}
    sink = MemorySink()
    Session(build_engine(cfg, sim.spec, 2), sim, sink, "t", speed=None, max_events=15_000, hub=hub).run()
    fits = [e for _, e in sink.rows if isinstance(e, ModelFit)]
    assert fits and fits[0].ts == fits[0].started  # not 50 bars later


# ------------------------------------------------------------ the seed and --like


def test_a_file_run_chooses_logs_and_prints_its_seed(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    sid, err = headless(db, "--events", "300", "--data", str(FIXTURES / "arch_wti_1986.csv"))
    line = next(ln for ln in err.splitlines() if ln.startswith("source "))
    assert line.startswith("source file:arch_wti_1986.csv  seed ")
    seed = int(line.split(" seed ")[1].split()[0])
    con = sqlite3.connect(db)
    assert con.execute("select seed from sessions where id = ?", [sid]).fetchone()[0] == seed


def test_run_like_repeats_a_logged_file_session_exactly(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FILE_CONFIG)
    db = tmp_path / "console.db"
    a, _ = headless(db, "--config", str(cfg), "--events", "2300", "--data", str(WIDE))  # seed: random
    b, err = headless(db, "--like", a, "--events", "2300")
    assert_identical(events(db, a), events(db, b))
    assert kinds(events(db, a), "model_fit")
    con = sqlite3.connect(db)
    (sa, ca), (sb, cb) = (con.execute("select seed, config from sessions where id = ?", [s]).fetchone()
                          for s in (a, b))
    assert sa == sb and ca == cb and f"seed {sa}" in err


def test_run_like_refuses_what_it_would_override_and_unknown_sessions(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    sid, _ = headless(db, "--events", "200", "--seed", "1")
    res = run_cli("run", "--headless", "--like", sid, "--seed", "2", db=db)
    assert res.returncode == 2 and "drop --seed" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("run", "--headless", "--like", "nosuchsession", db=db)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    res = run_cli("run", "--headless", "--like", sid, "--resume", sid, db=db)
    assert res.returncode == 2 and "choose one" in res.stderr


# ------------------------------------------------------------ the fit gate


class Reported(Sleepy):
    metrics: dict[str, float] = {}

    def fit(self, closes: Any) -> FitReport:
        self.fitted_at = int(closes.index[-1])
        return FitReport("forest", 1, int(closes.index[0]), int(closes.index[-1]), dict(self.metrics))


def gate_run(metrics: dict[str, float], **signals: Any) -> list[ModelFit]:
    sim = Simulator(4)
    sig = replace(SignalsConfig(models=("forest", "ensemble"), fit_bars=40, retrain_every=20,
                                drift_check_every=0), **signals)
    cfg = EngineConfig(signals=sig)
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=4,
                    bars_per_day=sim.spec.bars_per_day, background=False, market_time=True)
    model = type("M", (Reported,), {"metrics": metrics})
    hub.registry = {**hub.registry, "forest": lambda params: model(params)}
    sink = MemorySink()
    Session(build_engine(cfg, sim.spec, 4), sim, sink, "t", speed=None, max_events=20_000, hub=hub).run()
    return [e for _, e in sink.rows if isinstance(e, ModelFit)]


def test_the_fit_gate_refuses_a_short_validation_window() -> None:
    """The issue's LSTM: a huge validation Sharpe from ~26 bars."""
    fits = gate_run({"val_sharpe": 6.7, "val_sharpe_bars": 26.0})
    assert fits and all(f.outcome == "rejected" and f.version == 0 for f in fits)
    assert fits[0].detail == "26 validation bars < signals.min_val_bars 60"
    assert fits[0].val_bars == 26 and fits[0].trials == 1 and fits[1].trials == 2


def test_the_fit_gate_refuses_an_insignificant_sharpe_and_counts_trials() -> None:
    # per-bar Sharpe 0.1 over 200 bars: PSR(0) about 0.92, below 0.95
    fits = gate_run({"val_sharpe": 0.1 * 252 ** 0.5, "val_sharpe_bars": 200.0})
    assert fits and all(f.outcome == "rejected" for f in fits)
    assert 0.9 < fits[0].psr < 0.95 and "probabilistic Sharpe" in fits[0].detail
    assert [f.trials for f in fits] == list(range(1, len(fits) + 1))
    assert all(b.psr < a.psr for a, b in zip(fits, fits[1:]))  # deflated harder with each trial
    loose = gate_run({"val_sharpe": 0.1 * 252 ** 0.5, "val_sharpe_bars": 200.0}, min_psr=0.0)
    assert loose and all(f.outcome == "active" for f in loose)


def test_the_fit_gate_passes_strong_evidence_and_logs_a_failed_fit() -> None:
    fits = gate_run({"val_sharpe": 0.5 * 252 ** 0.5, "val_sharpe_bars": 300.0})
    assert fits and fits[0].outcome == "active" and fits[0].version == 1 and fits[0].psr > 0.99

    class Broken(Sleepy):
        def fit(self, closes: Any) -> FitReport:
            raise ValueError("singular matrix")

    sim = Simulator(4)
    cfg = EngineConfig(signals=SignalsConfig(models=("forest", "ensemble"), fit_bars=40, retrain_every=0,
                                             drift_check_every=0))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=4,
                    bars_per_day=sim.spec.bars_per_day, background=False, market_time=True)
    hub.registry = {**hub.registry, "forest": lambda params: Broken(params)}
    sink = MemorySink()
    Session(build_engine(cfg, sim.spec, 4), sim, sink, "t", speed=None, max_events=12_000, hub=hub).run()
    failed = [e for _, e in sink.rows if isinstance(e, ModelFit)]
    assert [(f.outcome, f.detail) for f in failed] == [("failed", "singular matrix")]


def test_the_probabilistic_sharpe_ratio_matches_its_closed_form() -> None:
    import math
    from statistics import NormalDist

    from core.signals.walkforward import deflated_threshold, probabilistic_sharpe, sharpe_sd

    sr, n = 0.1, 250
    want = NormalDist().cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr * sr / 2))  # normal returns
    assert probabilistic_sharpe(sr, n) == pytest.approx(want, rel=1e-12)
    assert probabilistic_sharpe(0.0, n) == pytest.approx(0.5)
    # fat left tails lower it; more trials raise the bar
    assert probabilistic_sharpe(sr, n, skew=-1.0, kurt=6.0) < want
    assert deflated_threshold(sharpe_sd(0.0, n), 1) == 0.0
    assert 0 < deflated_threshold(sharpe_sd(0.0, n), 10) < deflated_threshold(sharpe_sd(0.0, n), 100)
    # SR0 approximates the expected maximum of N standard normals (2.5076 for N = 100) times sd
    assert deflated_threshold(1.0, 100) == pytest.approx(2.5076, abs=0.03)
    assert deflated_threshold(0.5, 100) == pytest.approx(deflated_threshold(1.0, 100) / 2)
    assert math.isnan(probabilistic_sharpe(math.nan, n)) and math.isnan(probabilistic_sharpe(0.1, 1))


# ------------------------------------------------------------ what-if and [signals]


def test_what_if_refuses_a_signals_change_in_one_line_and_like_runs_it(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    sid, _ = headless(db, "--events", "3000", "--seed", "6")
    changed = tmp_path / "signals.toml"
    changed.write_text("[signals]\nfit_bars = 60\nmin_psr = 0.5\n")
    res = run_cli("replay", sid, "--what-if", str(changed), db=db)
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    line, = res.stderr.strip().splitlines()
    assert "changes [signals] (fit_bars, min_psr)" in line and f"--like {sid} --config" in line
    same = tmp_path / "same.toml"  # a [signals] table that changes nothing is no change
    same.write_text("[signals]\nfit_bars = 120\n[limits]\nmax_position_fraction = 0.05\n")
    res = run_cli("replay", sid, "--what-if", str(same), db=db)
    assert res.returncode == 0, res.stderr
    b, _ = headless(db, "--like", sid, "--config", str(changed), "--events", "3000")
    con = sqlite3.connect(db)
    (sa, ca), (sb, cb) = (con.execute("select seed, config from sessions where id = ?", [s]).fetchone()
                          for s in (sid, b))
    assert sa == sb and '"fit_bars": 60' in cb and '"fit_bars": 120' in ca


def test_a_resumed_session_with_fit_records_continues_the_feed_where_it_stopped(tmp_path: Path) -> None:
    """``model_fit`` rows are model inputs, not market ones: resume must not
    count them as source events consumed (it would skip that many prints)."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[signals]\nfit_bars = 30\nretrain_every = 0\ndrift_check_every = 0\n")
    db = tmp_path / "console.db"
    a, _ = headless(db, "--config", str(cfg), "--seed", "8", "--events", "8000")
    assert kinds(events(db, a), "model_fit")
    res = run_cli("run", "--headless", "--resume", a, "--events", "1000", db=db)
    assert res.returncode == 0, res.stderr
    b, _ = headless(db, "--like", a, "--events", "9000")
    market = ("tick", "bar", "timer", "headline")
    ra = [r[2:] for r in events(db, a) if r[0] in market]
    rb = [r[2:] for r in events(db, b) if r[0] in market]
    assert len(ra) == len(rb) == 9000 and ra == rb
    rep = run_cli("replay", a, db=db)
    assert rep.returncode == 0 and "verified" in rep.stdout, rep.stdout


class Slow(Sleepy):
    def fit(self, closes: Any) -> FitReport:
        time.sleep(0.3)
        return super().fit(closes)


def slow_session(lag: int = 2) -> tuple[Session, MemorySink, SignalHub]:
    sim = Simulator(2)
    cfg = EngineConfig(signals=SignalsConfig(models=("forest", "ensemble"), fit_bars=40, retrain_every=0,
                                             drift_check_every=0, activation_lag_bars=lag))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=2,
                    bars_per_day=sim.spec.bars_per_day, background=True, market_time=True)
    hub.registry = {**hub.registry, "forest": lambda params: Slow(params)}
    sink = MemorySink()
    return Session(build_engine(cfg, sim.spec, 2), sim, sink, "t", speed=None, max_events=12_000, hub=hub), sink, hub


def test_a_halt_takes_effect_while_the_engine_waits_for_a_fit() -> None:
    s, sink, hub = slow_session()
    waiting = hub.on_wait
    assert waiting is not None
    calls: list[int] = []

    def halt_once() -> bool:
        if not calls:
            s.submit("halt", reason="during a fit")
        calls.append(1)
        return waiting()

    hub.on_wait = halt_once
    s.run()
    assert calls and s.error == ""
    seq_of = {type(e).__name__: seq for seq, e in reversed(sink.rows)}  # first of each kind
    assert seq_of["Command"] < seq_of["ModelFit"]  # the halt did not wait for the fit


def test_stopping_while_waiting_for_a_fit_ends_the_run_without_it() -> None:
    s, sink, hub = slow_session()
    hub.on_wait = lambda: (s.stop(), False)[1]
    s.run()
    assert s.error == "" and not any(isinstance(e, ModelFit) for _, e in sink.rows)
    assert any(isinstance(e, BarClosed) for _, e in sink.rows)


class Regimes(Sleepy):
    """A model with no validation Sharpe (it goes live on its own fit)."""

    name = "hmm"

    def fit(self, closes: Any) -> FitReport:
        self.fitted_at = int(closes.index[-1])
        return FitReport("hmm", 1, int(closes.index[0]), int(closes.index[-1]), {})


def test_retries_of_a_rejected_model_do_not_put_off_the_others_scheduled_refits() -> None:
    sim = Simulator(4)
    cfg = EngineConfig(signals=SignalsConfig(models=("hmm", "forest", "ensemble"), fit_bars=40, retrain_every=60,
                                             min_refit_bars=20, drift_check_every=0, activation_lag_bars=0))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=4,
                    bars_per_day=sim.spec.bars_per_day, background=False, market_time=True)
    short = type("Short", (Reported,), {"metrics": {"val_sharpe": 2.0, "val_sharpe_bars": 10.0}})
    hub.registry = {**hub.registry, "forest": lambda p: short(p), "hmm": lambda p: Regimes(p)}
    sink = MemorySink()
    Session(build_engine(cfg, sim.spec, 4), sim, sink, "t", speed=None, max_events=40_000, hub=hub).run()
    bars = sorted({e.ts for _, e in sink.rows if isinstance(e, BarClosed)})
    started = {m: [bars.index(e.started) + 1 for _, e in sink.rows if isinstance(e, ModelFit) and e.model == m]
               for m in ("hmm", "forest")}
    assert started["hmm"][:3] == [40, 100, 160]
    assert started["forest"][:5] == [40, 60, 80, 100, 120]  # retried every min_refit_bars, and on schedule
