"""Build hook: compile the engine's per-tick modules with mypyc.

Only the hot path is compiled, as one compilation unit so calls between the
modules stay native. Not compiled, with the reason:
- core/config.py, core/build.py, core/codec.py: run once per session or per
  row at the edges; dataclasses and json, nothing per tick. Replay reads and
  matches its common rows in the compiled core/verify_loop.py and calls the
  codec only for a row that is not plain (tests/test_verify_loop.py holds
  the two to the same results); the log writer builds its rows and payload
  text in the compiled core/rows.py and calls the codec only for a value
  that is not plainly of its declared type (tests/test_rows.py).
- core/replay.py: the verifier's full checks, its messages and the report,
  run for the rare row the compiled loop declines (a divergence, a damaged
  row); the per-row loop itself is core/verify_loop.py.
- core/session.py: the runner reads the wall clock and queues; it calls into
  the compiled engine once per event.
- core/market/*: sources; pandas (files) and generators (simulator).
- core/risk/*: numpy, per bar at most.
- core/overlay.py (the options desk the hedger trades with): off by default;
  when on, its per-bar cost is the Black-Scholes marks, which it takes from
  core/options.py (numpy/scipy, checked inputs), so compiling the overlay's
  own bookkeeping would save little; core/hedger.py, which decides when to
  trade with it, is compiled.
CONSOLE_NO_COMPILE=1 skips compilation (pure-Python install).
"""

import os

from setuptools import setup

HOT = [
    "core/events.py", "core/state.py", "core/portfolio.py", "core/broker.py", "core/bars.py",
    "core/strategy.py", "core/gate.py", "core/breakers.py", "core/kernels.py", "core/bus.py",
    "core/engine_params.py", "core/risk_monitor.py", "core/breaker_set.py", "core/market_clock.py",
    "core/sizer.py", "core/hedger.py", "core/router.py", "core/books.py", "core/price_screen.py",
    "core/views.py", "core/engine.py", "core/verify_loop.py", "core/rows.py",
]

ext_modules = []
if os.environ.get("CONSOLE_NO_COMPILE", "") in ("", "0"):
    from mypyc.build import mypycify

    ext_modules = mypycify(HOT, opt_level="3")

setup(ext_modules=ext_modules)
