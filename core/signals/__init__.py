"""Signal layer: replaceable models behind one small interface (``base.SignalModel``).

Models run on bar close, outside the compiled per-tick engine. Their outputs
enter the engine as logged ``Signal`` input events, so replay reproduces every
decision from the log; a retrained model becomes active through a logged
``ModelActivated`` input whose artifact is stored with the session.

``REGISTRY`` maps a model name to a factory ``(params: dict) -> SignalModel``;
modules register themselves on import (see ``load_all``).
"""

from __future__ import annotations

from core.signals.base import REGISTRY, SignalModel, SignalOut, load_all

__all__ = ["REGISTRY", "SignalModel", "SignalOut", "load_all"]
