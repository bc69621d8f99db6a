"""Assemble a session from CLI options: config, source, engine, log writer.

Shared by the headless and the full-screen paths so they cannot differ.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.build import build_engine, engine_setup, is_compiled
from core.config import EngineConfig, load_config
from core.market.spec import InstrumentSpec, MarketSpec
from core.session import Session

DAY_MS = 86_400_000


@dataclass
class Prepared:
    session: Session
    writer: Any
    db_path: Path
    seed: int
    source_name: str
    fixups: tuple[str, ...]


def new_session_id() -> str:
    """Sortable and unique: UTC start time plus random hex (not an engine choice)."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trading-console")
    except PackageNotFoundError:
        return "0+unknown"


def file_market(path: str, symbol: str | None) -> tuple[Any, MarketSpec, str, tuple[str, ...]]:
    from core.market.files import file_source, load_bars

    mf = load_bars(path, symbol)
    per_day = Counter(b.ts // DAY_MS for b in mf.bars if b.symbol == mf.symbols[0])
    bars_per_day = float(statistics.median(per_day.values())) if per_day else 1.0
    spec = MarketSpec(tuple(InstrumentSpec(s, "unknown", 1.0) for s in mf.symbols),
                      int(mf.bar_ms), max(1.0, bars_per_day))
    return file_source(mf), spec, f"file:{Path(path).name}", tuple(mf.fixups)


def prepare(*, db: Path, seed: int | None, speed: float | None, data: str | None,
            symbol: str | None, config_path: str | None, max_events: int | None,
            keep_alive: bool) -> Prepared:
    from storage import LogWriter

    cfg: EngineConfig = load_config(config_path)
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big") >> 1  # logged with the session
    fixups: tuple[str, ...] = ()
    if data is None:
        from core.market.sim import Simulator

        sim = Simulator(seed)
        source, spec, name = sim, sim.spec, sim.describe()
    else:
        source, spec, name, fixups = file_market(data, symbol)
    engine = build_engine(cfg, spec)
    sid = new_session_id()
    meta = {"id": sid, "config": json.dumps(engine_setup(cfg, spec), sort_keys=True),
            "seed": seed, "data_source": data and str(Path(data).resolve()) or name,
            "code_version": code_version(), "compiled": int(is_compiled()),
            "speed": "max" if speed is None else f"{speed:g}"}
    writer = LogWriter(db, meta)
    session = Session(engine, source, writer, sid, speed=speed, max_events=max_events,
                      source_name=name, keep_alive=keep_alive)
    return Prepared(session, writer, db, seed, name, fixups)
