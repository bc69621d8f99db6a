"""What the engine needs to know about a market: its instruments and bar rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InstrumentSpec:
    symbol: str
    asset_class: str  # equity, commodity, fx, crypto, rates, unknown
    lot: float  # smallest tradable quantity
    sector: str = ""  # for sector limits and concentration; "" = its asset class


@dataclass(frozen=True)
class MarketSpec:
    instruments: tuple[InstrumentSpec, ...]
    bar_ms: int  # bar length in market milliseconds
    bars_per_day: float  # scales per-bar risk to one day

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruments": [[i.symbol, i.asset_class, i.lot, i.sector] for i in self.instruments],
            "bar_ms": self.bar_ms,
            "bars_per_day": self.bars_per_day,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketSpec:
        return cls(tuple(InstrumentSpec(str(row[0]), str(row[1]), float(row[2]),
                                        str(row[3]) if len(row) > 3 else "")
                         for row in d["instruments"]),
                   int(d["bar_ms"]), float(d["bars_per_day"]))
