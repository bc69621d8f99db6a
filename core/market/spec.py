"""What the engine needs to know about a market: its instruments and bar rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InstrumentSpec:
    symbol: str
    asset_class: str  # equity, commodity, fx, crypto, rates, unknown
    lot: float  # smallest tradable quantity


@dataclass(frozen=True)
class MarketSpec:
    instruments: tuple[InstrumentSpec, ...]
    bar_ms: int  # bar length in market milliseconds
    bars_per_day: float  # scales per-bar risk to one day

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruments": [[i.symbol, i.asset_class, i.lot] for i in self.instruments],
            "bar_ms": self.bar_ms,
            "bars_per_day": self.bars_per_day,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketSpec:
        return cls(tuple(InstrumentSpec(str(s), str(a), float(lot)) for s, a, lot in d["instruments"]),
                   int(d["bar_ms"]), float(d["bars_per_day"]))
