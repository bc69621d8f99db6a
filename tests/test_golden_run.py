"""A golden run: one fixed session (simulator seed 3, the default models
fitting in market time) must log the same events, byte for byte, as when
this file was last updated (issue 14).

The hash covers every row (seq, kind, ts, symbol, payload) in both modes,
compiled and interpreted. A change that moves a decision or a model view on
purpose updates GOLDEN below, and its commit message says why; any other
change that moves it has broken reproducibility or changed behaviour by
accident.
"""

from __future__ import annotations

import hashlib

import pytest

from core.build import build_engine
from core.codec import encode_payload, kind_of
from core.config import FIGURES_AT_SPEED, EngineConfig, RiskConfig, SignalsConfig
from core.market.sim import Simulator
from core.session import MemorySink, Session
from core.signals.hub import SignalHub

# by risk.figures_every: as at speed (a risk snapshot's display figures every 10th
# bar, standing in between; the default where bars come as fast as the engine takes them), and every bar, as sessions were logged before it
# existed (the same digest as then: nothing else moved)
GOLDEN = {10: "51e5c51a125060dc2b3a3c16b031abdb43a385ec27326bc88c94d04443f58821",
          1: "1a55a2c1b55af0c38765cfb895102abdea45f772e179efbf5f54508fb97987bd"}
EVENTS = 30_000


def golden_rows(figures_every: int = FIGURES_AT_SPEED) -> tuple[str, int, int]:
    """(sha256 of the rows, rows, model fits) of the golden session."""
    sim = Simulator(3)
    cfg = EngineConfig(signals=SignalsConfig(fit_bars=100, retrain_every=40, history_bars=400,
                                             min_val_bars=20, min_psr=0.0),
                       risk=RiskConfig(figures_every=figures_every))
    hub = SignalHub(cfg.signals, [i.symbol for i in sim.spec.instruments], seed=3,
                    bars_per_day=sim.spec.bars_per_day, background=True, market_time=True)
    sink = MemorySink()
    s = Session(build_engine(cfg, sim.spec, 3), sim, sink, "golden", speed=None, max_events=EVENTS, hub=hub)
    s.run()
    assert s.error == ""
    h = hashlib.sha256()
    fits = 0
    for seq, ev in sink.rows:
        kind = kind_of(ev)
        fits += kind == "model_fit"
        h.update(f"{seq}\t{kind}\t{ev.ts}\t{ev.symbol}\t{encode_payload(ev)}\n".encode())  # type: ignore[attr-defined]
    return h.hexdigest(), len(sink.rows), fits


@pytest.mark.parametrize("figures_every", sorted(GOLDEN))
def test_the_golden_session_is_byte_identical(figures_every: int) -> None:
    digest, rows, fits = golden_rows(figures_every)
    assert fits >= 3  # the models took part
    assert digest == GOLDEN[figures_every], (f"the golden session changed ({rows} rows, sha256 {digest}); "
                                             "if on purpose, set GOLDEN to it and say why in the commit")
