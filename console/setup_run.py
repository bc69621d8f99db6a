"""Assemble a session from CLI options: config, source, engine, log writer.

Shared by the headless and the full-screen paths so they cannot differ.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.build import engine_from_setup, engine_setup, is_compiled
from core.config import EngineConfig, load_config, resolve_figures, resolve_signal
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


def file_market(path: str, symbol: str | None, identity: dict[str, Any] | None = None,
                ) -> tuple[Any, MarketSpec, str, tuple[str, ...]]:
    """A price file as a source. ``identity`` is the source's logged
    description: with a ``sha256`` (a resume), the file must be the one the
    session was logged on; without one (a new session), the file's size and
    sha256 are recorded in it."""
    from core.errors import InputError
    import numpy as np

    from core.market.files import file_source, load_bars, symbol_closes

    mf = load_bars(path, symbol)
    if identity is not None:
        if identity.get("sha256"):
            if (identity["sha256"], identity.get("bytes")) != (mf.sha256, mf.size):
                raise InputError(f"{path}: not the file this session was logged on (now {mf.size:,} bytes, "
                                 f"sha256 {mf.sha256[:12]}; logged {identity.get('bytes')} bytes, "
                                 f"sha256 {str(identity['sha256'])[:12]}); refusing to resume on it")
        else:
            identity["bytes"], identity["sha256"] = mf.size, mf.sha256
    ts, _closes = symbol_closes(mf, mf.symbols[0])  # arrays: no Bar made for this count
    per_day = np.unique(ts // DAY_MS, return_counts=True)[1].tolist()
    bars_per_day = float(statistics.median(per_day)) if per_day else 1.0
    spec = MarketSpec(tuple(InstrumentSpec(s, "unknown", 1.0) for s in mf.symbols),
                      int(mf.bar_ms), max(1.0, bars_per_day))
    return file_source(mf), spec, f"file:{Path(path).name}", tuple(mf.fixups)


def open_source(desc: dict[str, Any]) -> tuple[Any, MarketSpec, str, tuple[str, ...]]:
    """(iterable of inputs, market spec, display name, data fix-ups) for a logged source.
    A file source's ``desc`` gains the file's size and sha256 if it has none
    (a new session logs them), and must match them if it has (a resume)."""
    if desc.get("kind") == "sim":
        from core.market.sim import Simulator

        sim = Simulator(int(desc["seed"]))
        fixups: tuple[str, ...] = ()
        source, spec, name = sim, sim.spec, sim.describe()
    else:
        source, spec, name, fixups = file_market(str(desc["path"]), desc.get("symbol"), desc)
    if isinstance(desc.get("news"), dict):
        source, notes = with_news(source, spec, desc["news"])
        fixups = (*fixups, *notes)
    return source, spec, name, fixups


def with_news(source: Any, spec: MarketSpec, identity: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """``source`` with the headlines of a news file merged in (core/market/news.py).
    ``identity`` is the logged description: with a ``sha256`` (a resume, a
    --like run) the file must be the one the session was logged on; without
    one its size and sha256 are recorded in it."""
    from core.errors import InputError
    from core.market.news import load_news_file, merge_news

    path = str(identity["path"])
    nf = load_news_file(path, [i.symbol for i in spec.instruments])
    if identity.get("sha256"):
        if (identity["sha256"], identity.get("bytes")) != (nf.sha256, nf.size):
            raise InputError(f"{path}: not the news file this session was logged on (now {nf.size:,} bytes, "
                             f"sha256 {nf.sha256[:12]}; logged {identity.get('bytes')} bytes, "
                             f"sha256 {str(identity['sha256'])[:12]}); refusing to use it")
    else:
        identity["bytes"], identity["sha256"] = nf.size, nf.sha256
    return merge_news(source, nf.headlines), nf.notes()


def market_time(speed: float | None, source: dict[str, Any]) -> bool:
    """Whether model fits enter in market time (as-fast-as-possible runs and
    price files: reproducible) or when they finish (paced simulator runs: live)."""
    if source.get("kind") == "venue":
        return False  # a venue's live feed: fits enter as they finish, as live trading would
    return speed is None or source.get("kind") != "sim"


def make_hub(cfg: EngineConfig, spec: MarketSpec, seed: int, writer: Any, *, in_market_time: bool = True) -> Any:
    """The signal layer for a session (None when no models are configured).
    Fitted weights go to the log's artifacts table before their activation."""
    if not [m for m in cfg.signals.models if m]:
        return None
    from core.signals.hub import SignalHub

    if "drl" in cfg.signals.models:  # a missing or damaged policy: one line now, not a failed fit later
        from core.signals.drl import read_policy
        read_policy(cfg.signals.drl.get("policy", ""))
    return SignalHub(cfg.signals, [i.symbol for i in spec.instruments], seed=seed,
                     bars_per_day=spec.bars_per_day, background=True,
                     artifact_sink=writer.write_artifact, market_time=in_market_time)


def asset_classes(spec: MarketSpec) -> dict[str, str]:
    """Each symbol's stress class (core.risk.stress.stress_class): fx, crypto
    and metals keep their own scenario figures (or n/a), never an equity's."""
    from core.risk.stress import stress_class

    return {i.symbol: stress_class(i.asset_class, i.sector) for i in spec.instruments}


def restore_models(hub: Any, rdb: Any, sid: str) -> tuple[str, tuple[Any, ...]]:
    """On resume: run the models over the logged session (weights from the
    stored artifacts at their logged seqs, no fitting) so they continue from
    exactly the state they had when the log ends. Returns a note if the
    models did not reproduce the logged views (they go on regardless), and
    the views of the last step that the crash kept out of the log: resume
    feeds them first, as the live session would have."""
    from core.codec import from_row
    from core.signals.hub import catch_up
    from storage import artifact, iter_events

    rows = ((r[0], from_row(r[1], r[2], r[3], r[4]), r[5]) for r in iter_events(rdb, sid))
    check = catch_up(hub, rows, lambda sha: artifact(rdb, sid, sha)[2])
    if check.mismatch:
        return f"models did not reproduce the log ({check.mismatch})", ()
    return "", check.pending


def resume(*, db: Path, session_id: str, speed: float | None, max_events: int | None,
           keep_alive: bool) -> Prepared:
    """Rebuild a session's state from its log and continue it.

    The logged inputs are replayed (and verified) through a fresh engine, so
    a halted book comes back halted and tripped breakers stay tripped. The
    source is reopened and fast-forwarded past the inputs already consumed.
    Decisions the engine made that the crash kept out of the log are written
    first, so the log stays gap-free and every order is durable before it can
    fill."""
    from storage import open_db, resolve_session
    from storage.lock import SessionLock

    rdb = open_db(db, create=False)
    sid = resolve_session(rdb, session_id)
    # before reading the log: a session still being written is refused, and
    # nobody else may start writing it while it is verified
    lock = SessionLock(db, sid)
    try:
        return _resume_locked(db, rdb, sid, lock, speed, max_events, keep_alive)
    except BaseException:
        lock.release()
        raise


def _resume_locked(db: Path, rdb: Any, sid: str, lock: Any, speed: float | None, max_events: int | None,
                   keep_alive: bool) -> Prepared:
    from itertools import islice

    from core.build import engine_from_setup
    from core.errors import InputError
    from core.replay import verify
    from storage import LogWriter, fills_by_seq, iter_events, logged_setup, session_meta

    meta = session_meta(rdb, sid)
    setup = logged_setup(meta, sid)
    if not setup.get("source"):
        raise InputError(f"session {sid}: its log does not record its source, so it cannot be resumed")
    engine = engine_from_setup(setup)
    cols = ("ts", "symbol", "order_id", "qty", "price", "commission")
    fills = {k: dict(zip(cols, v)) for k, v in fills_by_seq(rdb, sid).items()}
    report = verify(engine, iter_events(rdb, sid), fills)
    if not report.verified:
        d = report.divergence
        raise InputError(f"session {sid} does not replay (seq {d.seq if d else '?'}: "
                         f"{d.reason if d else 'unknown'}); refusing to resume it")
    consumed = rdb.execute("select count(*) from events where session = ? and input = 1 and kind not in "
                           "('command', 'model_signal', 'model_activated', 'model_fit')", [sid]).fetchone()[0]
    if setup["source"].get("kind") == "venue":  # a live feed goes on from the engine's time, not a count
        from console.venue_run import reopen_feed

        source, _spec, name, fixups = reopen_feed(setup["source"], engine.ts)
        consumed = 0
    else:
        source, _spec, name, fixups = open_source(setup["source"])
    writer = LogWriter(db, {"id": sid}, resume=True, lock=lock)
    if report.unlogged:
        writer.write(report.unlogged[0][0], [e for _, e in report.unlogged])
        writer.flush()
    seed = int(setup["source"].get("seed", meta.get("seed") or 0))
    from core.config import logged_config

    cfg = logged_config(setup["engine"])
    hub = make_hub(cfg, _spec, seed, writer, in_market_time=market_time(speed, setup["source"])) \
        if setup.get("signals") else None
    pending: tuple[Any, ...] = ()
    if hub is not None:
        note, pending = restore_models(hub, rdb, sid)
        if note:
            fixups = (*fixups, note)
    session = Session(engine, islice(iter(source), consumed, None), writer, sid, speed=speed,
                      max_events=max_events, source_name=name, keep_alive=keep_alive, hub=hub,
                      asset_classes=asset_classes(_spec))
    if setup["source"].get("kind") == "venue":
        from console.venue_run import attach

        attach(source, session)
        session.speed_label = "live"
    for view in pending:  # the crash cut the last step's model views: they come first, in order
        session.step(view)
    if pending:
        writer.flush()
    if setup["source"].get("mode") == "venue":  # open orders looked up, never re-sent; then reconciled
        from console.venue_run import resume_execution
        from core.venues.base import VenueSpec

        fixups = (*fixups, *resume_execution(VenueSpec.from_dict(setup["source"]), session, _spec, rdb))
    return Prepared(session, writer, db, seed, name, fixups)


@dataclass(frozen=True)
class Like:
    """What ``console run --like SESSION`` takes from a logged session."""

    session: str
    config: EngineConfig
    seed: int
    source: dict[str, Any]
    fits: str  # "market" or "live" (how that session's model fits entered); "" if not logged


def like_session(db: Path, session_id: str) -> Like:
    """The logged config, seed and data source of a session, to run it again."""
    from core.config import logged_config
    from core.errors import ConfigError, InputError
    from storage import logged_setup, open_db, resolve_session, session_meta

    rdb = open_db(db, create=False, readonly=True)
    try:
        sid = resolve_session(rdb, session_id)
        meta = session_meta(rdb, sid)
    finally:
        rdb.close()
    setup = logged_setup(meta, sid)
    source = setup.get("source") if isinstance(setup, dict) else None
    if not isinstance(source, dict) or source.get("kind") not in ("sim", "file"):
        raise InputError(f"session {sid}: its log does not record its data source, so it cannot be run again")
    try:
        cfg = logged_config(setup["engine"], f"session {sid} logged config")
    except (KeyError, TypeError) as exc:
        raise InputError(f"session {sid}: its logged config cannot be read ({exc})") from None
    except ConfigError as exc:
        raise InputError(f"session {sid}: its logged config no longer loads ({exc})") from None
    seed = int(source["seed"]) if source.get("kind") == "sim" else int(meta.get("seed") or 0)
    return Like(sid, cfg, seed, dict(source), str(setup.get("fits", "")))


def merged_over(cfg: EngineConfig, path: str) -> EngineConfig:
    """``cfg`` with the TOML file at ``path`` laid over it, table by table
    (the file need only name what changes)."""
    from core.config import config_from_dict, read_toml

    p = Path(path)
    overrides = read_toml(p)
    merged = json.loads(json.dumps(cfg.to_dict()))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return config_from_dict(merged, str(p))


def _resolved(data: str) -> str:
    """The absolute path of a price file; a symlink loop is one line."""
    from core.errors import InputError

    try:
        return str(Path(data).resolve())
    except RuntimeError:  # Python 3.11's report of a symlink loop
        raise InputError(f"{data}: symbolic link loop") from None
    except OSError as exc:
        raise InputError(f"{data}: cannot resolve the path ({exc.strerror or exc})") from None


def prepare(*, db: Path, seed: int | None, speed: float | None, data: str | None,
            symbol: str | None, config_path: str | None, max_events: int | None,
            keep_alive: bool, venue: Any = None, like: str | None = None, news: str | None = None) -> Prepared:
    """A new session. ``like``: another logged session's id, whose config,
    seed and data source it takes (``config_path`` then names only changes,
    laid over its config; seed, data and symbol must be None). ``news``: a
    headlines file (CSV/JSONL) merged into the source in time order. ``venue``:
    live market data from a venue (console/venue_run.py)."""
    from storage import LogWriter

    if venue is not None:
        from console.venue_run import prepare_venue

        return prepare_venue(db=db, spec=venue, config_path=config_path, max_events=max_events,
                             keep_alive=keep_alive)
    notes: tuple[str, ...] = ()
    if like is not None:
        got = like_session(db, like)
        cfg: EngineConfig = got.config if config_path is None else merged_over(got.config, config_path)
        seed, source_desc = got.seed, got.source
        fits = "market" if market_time(speed, source_desc) else "live"
        if got.fits != fits and [m for m in cfg.signals.models if m]:
            notes = (f"session {got.session} let model fits enter {got.fits or 'live'}, this run in "
                     f"{fits} time: its model activations will differ (run both at --speed max)",)
    else:
        cfg = load_config(config_path)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big") >> 1  # chosen now, logged and printed
        source_desc = ({"kind": "sim", "seed": seed} if data is None
                       else {"kind": "file", "path": _resolved(data), "symbol": symbol})
    if news is not None:  # headlines from a file (a --like run may add them to the logged source)
        source_desc = {**source_desc, "news": {"path": _resolved(news)}}
    if config_path is not None and cfg.signals.drl.get("policy"):  # a policy path is the config file's
        from dataclasses import replace
        cfg = replace(cfg, signals=replace(cfg.signals, drl={**cfg.signals.drl, "policy": str(
            Path(config_path).resolve().parent / Path(cfg.signals.drl["policy"]).expanduser())}))
    source, spec, name, fixups = open_source(source_desc)
    signals = bool([m for m in cfg.signals.models if m])
    cfg = resolve_signal(cfg, signals)  # logged definite: replay needs no guessing
    in_market_time = market_time(speed, source_desc)
    cfg = resolve_figures(cfg, in_market_time)  # so are the risk figures' bars
    setup = engine_setup(cfg, spec, source_desc, signals)
    setup["fits"] = "market" if in_market_time else "live"
    try:
        engine = engine_from_setup(setup)  # exactly as replay will build it
    except MemoryError:  # a window or count in range but far beyond this machine
        from core.errors import ConfigError

        raise ConfigError(f"{config_path or 'the default config'}: the engine it describes does not fit "
                          "in memory (a window or count too large?)") from None
    sid = new_session_id()
    data_source = str(source_desc["path"]) if source_desc.get("kind") == "file" else name
    meta = {"id": sid, "config": json.dumps(setup, sort_keys=True),
            "seed": seed, "data_source": data_source,
            "code_version": code_version(), "compiled": int(is_compiled()),
            "speed": "max" if speed is None else f"{speed:g}"}
    writer = LogWriter(db, meta)
    session = Session(engine, source, writer, sid, speed=speed, max_events=max_events,
                      source_name=name, keep_alive=keep_alive,
                      hub=make_hub(cfg, spec, seed, writer, in_market_time=in_market_time) if signals else None,
                      asset_classes=asset_classes(spec))
    return Prepared(session, writer, db, seed, name, (*fixups, *notes))
