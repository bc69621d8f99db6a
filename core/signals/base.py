"""The one interface every signal model implements.

Conventions:
- Prices in, simple returns inside (never raw price levels as features).
- ``value`` is a position view in [-1, 1] (-1 full short, +1 full long);
  ``confidence`` in [0, 1]. Anything else a pane may show goes in ``detail``.
- ``fit`` sees a window of closes and nothing after it; ``on_bar`` updates
  state with one new bar cheaply (no refit) and may only use data up to that bar.
- Every random choice is seeded from ``params["seed"]``; two models built with
  the same params and fitted on the same window produce identical outputs.
- ``to_bytes``/``from_bytes`` round-trip a fitted model exactly (the artifact
  stored with the session so replay uses the same weights).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd  # type: ignore[import-untyped, unused-ignore]


@dataclass(frozen=True)
class SignalOut:
    """One model's view on one symbol (or one pair, symbol "A/B") after one bar."""

    ts: int
    symbol: str
    model: str
    value: float
    confidence: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitReport:
    """What a fit produced: the version it will run as and its validation metrics."""

    model: str
    version: int
    train_start: int
    train_end: int
    metrics: dict[str, float] = field(default_factory=dict)


class SignalModel(ABC):
    """fit on a window, update on new bars, report state."""

    name: str = "model"
    # True when fit and on_bar treat every symbol on its own (a fit on several
    # columns equals one fit per column): walk-forward may then run each
    # symbol as a separate task (``console.models_ray``) with the same numbers
    symbols_independent: bool = False

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        self.version: int = 0
        self.fitted_at: int | None = None  # ts of the last bar of the training window
        # set by whoever runs a fit (the hub) to show progress: (fraction done, what)
        self.progress: Callable[[float, str], None] | None = None

    def report_progress(self, done: float, what: str) -> None:
        if self.progress is not None:
            self.progress(max(0.0, min(1.0, done)), what)

    @abstractmethod
    def fit(self, closes: pd.DataFrame) -> FitReport:
        """Train on ``closes`` (index: int ns timestamps ascending, columns: symbols)."""

    @abstractmethod
    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        """Take one closed bar; return the signals it changes (possibly none)."""

    def on_headline(self, ts: int, symbol: str, text: str) -> list[SignalOut]:
        """Take one headline; only sentiment models use it."""
        return []

    def state(self) -> list[SignalOut]:
        """The latest signal per symbol (for the Signals pane)."""
        return []

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        """Feature contributions behind the current signal for ``symbol``, largest first."""
        return []

    @abstractmethod
    def to_bytes(self) -> bytes:
        """Serialise the fitted model (artifact)."""

    @classmethod
    @abstractmethod
    def from_bytes(cls, blob: bytes) -> "SignalModel":
        """Rebuild a model serialised by ``to_bytes``; it must behave identically."""


REGISTRY: dict[str, Callable[[dict[str, Any]], SignalModel]] = {}

# Modules that register models on import; a missing module is skipped.
MODULES = (
    "core.signals.hmm",
    "core.signals.pairs",
    "core.signals.sentiment",
    "core.signals.forest",
    "core.signals.lstm",
    "core.signals.nets",  # cnn, transformer
    "core.signals.online",  # sgd
    "core.signals.ensemble",
    "core.signals.drl",
)


def register(name: str) -> Callable[[type[SignalModel]], type[SignalModel]]:
    def deco(cls: type[SignalModel]) -> type[SignalModel]:
        REGISTRY[name] = lambda params: cls(params)
        cls.name = name
        return cls

    return deco


def load_all() -> dict[str, Callable[[dict[str, Any]], SignalModel]]:
    for mod in MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return REGISTRY
