"""``console run --venue NAME``: a session on a venue's live market data.

The venue settings come from the command line over the config file's
``[venue]`` table; they are logged with the session (``setup["source"]``,
no credentials), so ``console replay`` knows what it was and ``--resume``
can reopen it. Connecting (markets, symbols, clock) happens before the
session is logged: a venue that cannot be reached, an unknown symbol, a
missing or wrong key end the command with one line (``VenueError``, an
``InputError``: exit 2). In ``venue`` mode the account is read then too,
and reconciled with the (empty) log before the first bar; a ``--resume``
reconciles with the log it continues (console/venue_session.py).
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.market.spec import InstrumentSpec, MarketSpec
from core.venues.base import MODES, TIMEFRAMES_MS, VenueError, VenueSpec, load_credentials

VENUE_KEYS = {"name": str, "mode": str, "symbols": list, "url": str, "timeframe": str, "sandbox": bool,
              "poll_s": (int, float), "history": int, "max_failures": int, "timeout_s": (int, float),
              "stale_s": (int, float), "balance_s": (int, float),
              "reconcile_s": (int, float)}
DAY_MS = 86_400_000
IDLE_SLICE_S = 0.05  # how often commands are served while the feed waits for the venue


def venue_table(config_path: str | None) -> dict[str, Any]:
    """The ``[venue]`` table of a config file ({} without one), checked."""
    if config_path is None:
        return {}
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}  # load_config reports the file's problem with its own line
    table = data.get("venue", {})
    if not isinstance(table, dict):
        raise InputError(f"{config_path}: [venue] must be a table")
    problems = []
    for key, value in table.items():
        want = VENUE_KEYS.get(key)
        if want is None:
            problems.append(f"unknown key venue.{key} (known: {', '.join(VENUE_KEYS)})")
        elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            problems.append(f"venue.{key} has the wrong type ({value!r})")
        elif key == "symbols" and not all(isinstance(s, str) for s in value):
            problems.append("venue.symbols must be a list of text")
    for secret in ("api_key", "secret", "password", "key", "apiKey"):
        if secret in table:
            problems.append(f"venue.{secret}: keys never go in a config file; use environment "
                            f"variables or the keyring (see README, Venues)")
    if problems:
        raise InputError(f"{config_path}: " + "; ".join(problems))
    return table


def venue_spec(config_path: str | None, name: str | None, mode: str | None, symbols: str | None,
               url: str | None, timeframe: str | None = None,
               reconcile_s: float | None = None) -> VenueSpec | None:
    """The session's venue: command-line flags over ``[venue]``; None for a
    simulator or file session (no venue named anywhere)."""
    table = venue_table(config_path)
    if mode == "sim" and name is None:
        return None  # the simulator, whatever [venue] says
    name = name or table.get("name")
    if not name:
        if mode not in (None, "sim"):
            raise InputError(f"--mode {mode} needs a venue: --venue NAME (a ccxt exchange id or 'alpaca')")
        return None
    mode = mode or table.get("mode") or "paper-live"
    if mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "sim":
        raise InputError("--mode sim runs the simulator; drop --venue (or pick paper-live or venue)")
    syms = tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else \
        tuple(table.get("symbols", ()))
    spec = VenueSpec(str(name), mode, syms, url or table.get("url", ""),
                     timeframe or table.get("timeframe", "1m"), bool(table.get("sandbox", False)),
                     float(table.get("poll_s", 5.0)), int(table.get("history", 100)),
                     int(table.get("max_failures", 5)), float(table.get("timeout_s", 10.0)),
                     float(table.get("stale_s", 60.0)), float(table.get("balance_s", 60.0)),
                     float(reconcile_s if reconcile_s is not None else table.get("reconcile_s", 30.0)))
    spec.check()
    return spec


def data_client(spec: VenueSpec) -> Any:
    """The venue's data client. Public market data: no keys are sent."""
    if spec.name == "alpaca":
        from core.venues.alpaca_client import AlpacaDataClient

        return AlpacaDataClient(spec, load_credentials(spec.name))
    from core.venues.ccxt_client import CcxtDataClient

    return CcxtDataClient(spec)


def market_spec(spec: VenueSpec, client: Any) -> MarketSpec:
    """Instruments from the venue's markets (lot: its minimum amount)."""
    markets = getattr(getattr(client, "ex", None), "markets", None) or {}
    insts = []
    for s in spec.symbols:
        m = markets.get(s) or {}
        lot = ((m.get("limits") or {}).get("amount") or {}).get("min") or 0.0
        kind = "equity" if spec.name == "alpaca" else "crypto"
        insts.append(InstrumentSpec(s, kind, float(lot) if lot else 1e-8 if kind == "crypto" else 1.0, kind))
    tf = TIMEFRAMES_MS[spec.timeframe]
    per_day = DAY_MS / tf if spec.name != "alpaca" else max(1.0, 23_400_000 / tf)  # crypto trades 24/7
    return MarketSpec(tuple(insts), tf, per_day)


def describe(spec: VenueSpec) -> str:
    return f"{spec.mode} {spec.name} {','.join(spec.symbols)} {spec.timeframe}"


def open_feed(spec: VenueSpec, start_after_ms: int = 0,
              check_keys: bool = True) -> tuple[Any, MarketSpec, str, tuple[str, ...]]:
    """(feed, market spec, display name, notes), connected: a venue that
    cannot be used raises ``VenueError`` here, before anything is logged."""
    from core.venues.feed import VenueFeed

    if spec.mode == "venue" and check_keys:
        check_venue_mode(spec).close()  # the keys, before anything is logged
    client = data_client(spec)
    feed = VenueFeed(client, spec, start_after_ms=start_after_ms)
    feed.connect()
    return feed, market_spec(spec, client), describe(spec), tuple(feed.notes)


def check_venue_mode(spec: VenueSpec) -> Any:
    """``venue`` mode: the execution client, connected (keys checked against
    the account); a ``VenueError`` (one line) if it cannot be used."""
    creds = load_credentials(spec.name)
    if spec.name == "alpaca":
        from core.venues.alpaca_client import AlpacaExecutionClient

        client: Any = AlpacaExecutionClient(spec, creds)
    else:
        from core.venues.ccxt_client import CcxtExecutionClient

        client = CcxtExecutionClient(spec, creds)
    client.connect()
    return client


def lots_of(mspec: MarketSpec) -> dict[str, float]:
    return {i.symbol: i.lot for i in mspec.instruments}


def start_execution(spec: VenueSpec, session: Any, client: Any, mspec: MarketSpec,
                    state: Any) -> tuple[str, ...]:
    """Venue mode, a new session: reconcile with the account (before the
    first bar; a difference halts), then start the venue thread (the
    session's end finishes it: ``Session.on_end``). Returns the notes to
    print."""
    from console.venue_session import Logged, execution, reconcile_now, wire

    ex = execution(spec, session, client)
    diffs = reconcile_now(session, ex, spec, lots_of(mspec), Logged(), "start", state)
    wire(session, ex, spec)
    return halted_note(spec, "start", diffs)


def resume_execution(spec: VenueSpec, session: Any, mspec: MarketSpec, rdb: Any) -> tuple[str, ...]:
    """Venue mode, ``--resume``: the orders the log holds open are looked up
    (never re-sent), then reconciled as at the start."""
    from console.venue_session import Logged, execution, reconcile_now, wire

    ex = execution(spec, session, check_venue_mode(spec))
    diffs = reconcile_now(session, ex, spec, lots_of(mspec), Logged(rdb, session.session_id), "resume")
    wire(session, ex, spec)
    return halted_note(spec, "resume", diffs)


def halted_note(spec: VenueSpec, at: str, diffs: list[Any]) -> tuple[str, ...]:
    """The line the command prints when reconciliation halted the session."""
    if not diffs:
        return ()
    return (f"reconciliation with {spec.name} at {at}: {len(diffs)} difference(s), the first: {diffs[0].text}; "
            f"trading is HALTED until the operator resumes (that accepts them) or a re-run "
            f"(every {spec.reconcile_s:g}s) finds them resolved",)


def attach(feed: Any, session: Any) -> None:
    """The feed waits between polls on the session's idle loop, so operator
    commands are served (and logged) while the venue is quiet, and stops with it."""
    def idle(seconds: float) -> None:  # in short slices: a key press must not wait for the next poll
        end = time.monotonic() + seconds
        while not session.stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            session._idle(min(left, IDLE_SLICE_S))

    feed.sleep = idle
    feed.should_stop = lambda: session.stopping


def prepare_venue(*, db: Path, spec: VenueSpec, config_path: str | None, max_events: int | None,
                  keep_alive: bool) -> Any:
    from console.setup_run import Prepared, code_version, make_hub, new_session_id
    from core.build import engine_from_setup, engine_setup, is_compiled
    from core.config import load_config, resolve_figures, resolve_signal
    from core.session import Session
    from storage import LogWriter

    cfg = load_config(config_path)
    client = state = None
    if spec.mode == "venue":  # the keys and the account's state, before anything is logged
        from console.venue_session import VenueState

        client = check_venue_mode(spec)
        state = VenueState(client, spec.symbols)
    feed, mspec, name, notes = open_feed(spec, check_keys=False)
    signals = bool([m for m in cfg.signals.models if m])
    cfg = resolve_figures(resolve_signal(cfg, signals), False)  # live: the risk figures every bar
    desc = spec.to_dict()
    desc["clock_skew_ms"] = feed.skew_ms  # logged: the venue's clock minus ours at the start (0: under 1 s)
    setup = engine_setup(cfg, mspec, desc, signals)
    engine = engine_from_setup(setup)
    sid = new_session_id()
    meta = {"id": sid, "config": json.dumps(setup, sort_keys=True), "seed": 0,
            "data_source": f"venue:{name}", "code_version": code_version(),
            "compiled": int(is_compiled()), "speed": "live"}
    writer = LogWriter(db, meta)
    session = Session(engine, feed, writer, sid, speed=None, max_events=max_events, source_name=name,
                      keep_alive=keep_alive,
                      hub=make_hub(cfg, mspec, 0, writer, in_market_time=False) if signals else None)
    session.speed_label = "live"
    if spec.mode == "venue":
        notes = (*notes, *start_execution(spec, session, client, mspec, state))
    session.publish()  # the header says "live" from the first frame
    attach(feed, session)
    return Prepared(session, writer, db, 0, name, notes)


def reopen_feed(desc: dict[str, Any], after_ms: int) -> tuple[Any, MarketSpec, str, tuple[str, ...]]:
    """``--resume`` of a venue session: the same venue, from the engine's time on."""
    return open_feed(VenueSpec.from_dict(desc), after_ms)
