"""The trading engine: headless, deterministic, free of UI and storage imports.

The per-tick modules in ``COMPILED`` are compiled by mypyc when the package is
installed (see setup.py). ``CONSOLE_PURE_PYTHON=1`` forces the same sources to
run interpreted, even where compiled extensions sit beside them: a finder put
first on ``sys.meta_path`` loads those modules from their ``.py`` files.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location

# Keep in step with setup.py's list (a test checks).
COMPILED = (
    "core.events", "core.state", "core.portfolio", "core.broker", "core.bars",
    "core.strategy", "core.gate", "core.breakers", "core.kernels", "core.bus", "core.engine_params",
    "core.risk_monitor", "core.breaker_set", "core.market_clock",
    "core.sizer", "core.hedger", "core.router", "core.books", "core.price_screen", "core.views",
    "core.engine", "core.verify_loop", "core.rows",
)
PURE_ENV = "CONSOLE_PURE_PYTHON"


class _PureSourceFinder:
    """Resolve the compiled modules to their Python sources."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name not in COMPILED:
            return None
        here = os.path.dirname(os.path.abspath(__file__))
        return spec_from_file_location(name, os.path.join(here, name.split(".", 1)[1] + ".py"))


if os.environ.get(PURE_ENV, "") not in ("", "0"):
    sys.meta_path.insert(0, _PureSourceFinder)
