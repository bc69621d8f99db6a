"""A session's P&L: one definition, used by every command that shows it.

P&L = NAV of the session's last logged risk snapshot - the initial cash.

* "to the last bar close": the risk snapshot is logged at each bar close, so
  positions are marked at the last bar's close. Ticks after it (a run stopped
  mid-bar) are not in the figure: what the log proves, the figure shows.
* "net of fees": NAV is cash plus positions at their marks, and commission
  and slippage have already left the cash.
* no risk snapshot yet (a session stopped before its first bar closed): 0.

``console run`` (its final line), ``console sessions``, ``console report``,
``console replay`` and ``console replay --what-if`` all call
``session_pnl`` with the logged (or re-made) snapshot NAV, and print it
under ``PNL_LABEL``, so one session shows one figure everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

PNL_LABEL: Final = "P&L (to last bar close, net of fees)"
PNL_NOTE: Final = "P&L: NAV at the last bar close minus the initial cash, net of fees"


def session_pnl(last_nav: float | None, initial_cash: float) -> float:
    """The session's P&L from the NAV of its last risk snapshot (None: no
    snapshot yet, P&L 0). NaN propagates: an unreadable NAV is not a zero."""
    if last_nav is None:
        return 0.0
    return float(last_nav) - float(initial_cash)


def logged_initial_cash(engine: Any) -> float:
    """``initial_cash`` from a session's logged engine config (the setup's
    ``"engine"`` table); the engine's default when the log predates the key;
    NaN when it is unreadable (a P&L that cannot be known is shown so)."""
    if not isinstance(engine, Mapping):
        return math.nan
    if "initial_cash" not in engine:
        from core.config import EngineConfig  # the one default

        return float(EngineConfig.initial_cash)
    cash = engine["initial_cash"]
    return float(cash) if isinstance(cash, (int, float)) and not isinstance(cash, bool) else math.nan
