"""``console replay ID --what-if CONFIG``: the same market through another config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from console.curves import Returns
from console.whatif import ab_test, holm_rejects, what_if
from core.build import engine_from_setup, engine_setup
from core.config import EngineConfig
from core.errors import ConfigError, InputError
from core.market.sim import Simulator
from core.session import Session

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 12_000
HALT_AT, RESUME_AT = 4_000, 9_000


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A simulated session whose operator halts at input 4000 and resumes at 9000."""
    from storage import LogWriter

    db = tmp_path_factory.mktemp("whatif") / "w.db"
    sim = Simulator(5)
    setup = engine_setup(EngineConfig(), sim.spec, {"seed": 5})
    writer = LogWriter(db, {"id": "wi-1", "config": json.dumps(setup), "seed": 5})
    session = Session(engine_from_setup(setup), sim, writer, "wi-1", max_events=EVENTS)
    it = iter(sim)
    commands = {HALT_AT: "halt", RESUME_AT: "resume"}

    def source():  # type: ignore[no-untyped-def]
        for n, ev in enumerate(it):
            if n in commands:
                session.submit(commands[n], reason=f"test at {n}")
            yield ev

    session.source = source()
    session.run()
    writer.close(clean=True)
    return db, "wi-1"


def toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "whatif.toml"
    p.write_text(text)
    return p


def test_the_same_config_reports_zero_difference_and_not_significant(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    w = what_if(db, sid, toml(tmp_path, ""), commands=True)
    assert w.same_config and w.a.trades == w.b.trades > 0
    assert w.a.pnl == w.b.pnl and np.array_equal(w.a.nav, w.b.nav)
    assert len(w.a.halts) == len(w.b.halts) == 1 and w.a.commands == 2
    t = w.test
    assert t.sharpe_diff == 0 and t.welch_p == 1.0 and t.boot_p == 1.0 and t.ci == (0.0, 0.0)
    assert not t.significant and t.paired


def test_a_tighter_position_limit_reports_a_difference(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    w = what_if(db, sid, toml(tmp_path, "[limits]\nmax_position_fraction = 0.02\n"))
    assert not w.same_config
    assert w.a.rejected == 0 and w.b.rejections.get("max_position", 0) > 0
    assert w.b.trades != w.a.trades and w.b.pnl != w.a.pnl
    assert w.test.sharpe_diff != 0 and w.test.welch_p < 1.0
    assert w.test.n_a == w.test.n_b == w.a.nav.size - 1  # the same bar closes in both runs


def test_without_commands_the_operator_halt_is_not_replayed(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    w = what_if(db, sid, toml(tmp_path, ""), commands=False)
    assert len(w.a.halts) == 1 and "test at" in w.a.halts[0].reason
    assert w.b.halts == () and w.b.commands == 0
    assert w.b.trades > w.a.trades  # trading went on through the halted stretch


def test_the_bootstrap_is_seeded(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    cfg = toml(tmp_path, "[limits]\nmax_position_fraction = 0.02\n")
    one, again = what_if(db, sid, cfg, seed=3).test, what_if(db, sid, cfg, seed=3).test
    other = what_if(db, sid, cfg, seed=4).test
    assert one == again and one.ci != other.ci and one.seed == 3


def test_ab_test_finds_a_real_difference_and_not_a_false_one():
    rng = np.random.default_rng(1)
    base = rng.normal(0.0, 0.01, 400)
    better = Returns(base + 0.004, "bar", 252.0)
    a = Returns(base, "bar", 252.0)
    t = ab_test(a, better, seed=0)
    assert t.welch_p < 0.01 and t.boot_p < 0.01 and t.significant and t.ci[0] > 0
    noise = Returns(rng.normal(0.0, 0.01, 400), "bar", 252.0)
    t2 = ab_test(Returns(rng.normal(0.0, 0.01, 400), "bar", 252.0), noise, seed=0)
    assert not t2.significant and t2.ci[0] < 0 < t2.ci[1] and t2.paired


def test_holm_holds_two_tests_to_half_the_level_at_first():
    assert holm_rejects([0.02, 0.9], 0.05)
    assert not holm_rejects([0.03, 0.04], 0.05)
    assert not holm_rejects([float("nan"), 0.9], 0.05) and holm_rejects([float("nan"), 0.04], 0.05)


def test_a_bad_config_names_the_file_and_the_key(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    with pytest.raises(ConfigError, match=r"whatif.toml.*limits.bogus"):
        what_if(db, sid, toml(tmp_path, "[limits]\nbogus = 1\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        what_if(db, sid, toml(tmp_path, "[limits\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        what_if(db, sid, tmp_path / "missing.toml")
    with pytest.raises(InputError, match="unknown session 'nope'"):
        what_if(db, "nope", toml(tmp_path, ""))


def test_the_cli_prints_both_runs_side_by_side_with_a_verdict(logged, tmp_path):  # type: ignore[no-untyped-def]
    db, sid = logged
    cfg = toml(tmp_path, "[limits]\nmax_position_fraction = 0.02\n")
    env = dict(os.environ, CONSOLE_DB=str(db), COLUMNS="120")
    res = subprocess.run([sys.executable, "-m", "console.cli", "replay", "wi", "--what-if", str(cfg),
                          "--no-commands", "--bootstrap-seed", "7"],
                         env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "logged (A)" in out and "what-if (B)" in out and "max_position" in out
    assert "left out (2 logged)" in out and "Welch" in out and "seed 7" in out
    assert "verdict: " in out and "significant at 5%" in out
    bad = subprocess.run([sys.executable, "-m", "console.cli", "replay", "wi", "--no-commands"],
                         env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
