"""The ``console`` command: run, replay, sessions, doctor, config, risk.

Input problems (files, ids, configs, databases) end as one line on stderr and
exit code 2, never a traceback. ``replay`` and the headless ``run`` never
import textual.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from console.commands import LazyGroup
from core.errors import InputError, one_line

DB_HELP = "Session database (default: $CONSOLE_DB, else the user data directory)."


def _db_path(db: str | None) -> Path:
    from storage import default_db_path

    return Path(db) if db else default_db_path()


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        x = float(value)
    except ValueError:
        raise click.BadParameter(f"expected a number or 'max', got {value!r}") from None
    if not x > 0:
        raise click.BadParameter(f"must be > 0, got {value!r}")
    return x


def _version() -> str:
    from core.build import is_compiled
    from console.setup_run import code_version

    return f"console {code_version()} (hot path: {'compiled by mypyc' if is_compiled() else 'interpreted'})"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version())
        ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Version, and whether the hot path is compiled.")
def cli() -> None:
    """Operator console for a paper-trading engine."""


@cli.command()
@click.option("--headless", is_flag=True, help="No UI: run, log and print the session id last.")
@click.option("--events", type=click.IntRange(min=1), default=None, help="Stop after N input events.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Simulator seed (default: random, logged).")
@click.option("--speed", default=None, help="Market-time multiple, or 'max' (default: 60 with UI, max headless).")
@click.option("--data", type=str, default=None, help="Price file (CSV/Parquet) instead of the simulator.")
@click.option("--symbol", default=None, help="Symbol name for a single-instrument file.")
@click.option("--news", default=None, metavar="FILE",
              help="Headlines (CSV/JSONL: ts, symbol, text) fed as logged inputs in time order with the prices.")
@click.option("--config", "config_path", default=None, help="TOML config of limits and strategy.")
@click.option("--theme", default=None, help="UI theme (console-dark, console-light, console-contrast, console-colorblind or a user theme).")
@click.option("--resume", "resume_id", default=None, metavar="ID",
              help="Continue a logged session (state rebuilt from its log; a halt stays halted).")
@click.option("--like", "like_id", default=None, metavar="ID",
              help="A new session with a logged session's exact config, seed and data source "
                   "(with --config: that file laid over its config).")
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
@click.option("--venue", "venue_name", default=None, metavar="NAME",
              help="Live market data from a venue: a ccxt exchange id (binance, kraken, ...) or 'alpaca'.")
@click.option("--mode", default=None, type=click.Choice(["sim", "paper-live", "venue"]),
              help="sim (default), paper-live (venue data, paper fills) or venue (orders to the venue).")
@click.option("--symbols", default=None, help="With --venue: comma-separated venue symbols, e.g. BTC/USDT,ETH/USDT.")
@click.option("--venue-url", default=None, metavar="URL",
              help="With --venue: the venue's REST endpoint (testnet, proxy, a local fake).")
@click.option("--reconcile-s", "reconcile_s", type=float, default=None, metavar="SECONDS",
              help="With --mode venue: while a reconciliation difference keeps the session halted, re-run "
                   "it every SECONDS (default 30; venue.reconcile_s); it resumes by itself once resolved.")
@click.option("--detach", is_flag=True,
              help="Run the engine in the background (its log: DB.engine.log); print the session id and exit.")
def run(headless: bool, events: int | None, seed: int | None, speed: str | None, data: str | None,
        symbol: str | None, config_path: str | None, theme: str | None, resume_id: str | None,
        like_id: str | None, db: str | None, venue_name: str | None = None, mode: str | None = None,
        symbols: str | None = None, venue_url: str | None = None, detach: bool = False,
        news: str | None = None, reconcile_s: float | None = None) -> None:
    """Run a session on the simulated market (default), a price file or a venue's live data."""
    from console.venue_cli import venue_for_run

    venue = venue_for_run(resume_id, config_path, venue_name, mode, symbols, venue_url, data, seed, speed,
                          reconcile_s)
    pace = None if venue is not None else _speed(speed) if speed is not None else (None if headless else 60.0)
    clash = [n for n, v in (("--seed", seed), ("--data", data), ("--symbol", symbol),
                            ("--config", config_path)) if v is not None]
    if news is not None and venue is not None:
        raise click.UsageError("--news feeds a file's headlines beside a simulated or file market; drop --venue")
    if news is not None and resume_id is not None:
        raise click.UsageError("--resume re-reads the news file the session was logged with; drop --news")
    if resume_id is not None and like_id is not None:
        raise click.UsageError("--resume continues a session and --like starts a new one; choose one")
    if like_id is not None and venue is not None:
        raise click.UsageError("--like re-runs a logged session's data source; drop --venue")
    if like_id is not None and [n for n in clash if n != "--config"]:
        raise click.UsageError("--like takes the logged session's seed and data (and config, which --config "
                               f"may change); drop {', '.join(n for n in clash if n != '--config')}")
    if resume_id is not None:
        if clash:
            raise click.UsageError(f"--resume continues the logged session as it was; drop {', '.join(clash)}")
        kind = "resume"
        options: dict[str, Any] = dict(db=_db_path(db), session_id=resume_id, speed=pace,
                                       max_events=events, keep_alive=not headless)
    else:
        kind = "new"
        options = dict(db=_db_path(db), seed=seed, speed=pace, data=data, symbol=symbol,
                       config_path=config_path, max_events=events, keep_alive=not headless)
        if venue is not None:
            options["venue"] = venue
        if news is not None:
            options["news"] = str(Path(news).absolute())  # a detached engine runs in "/"
        if like_id is not None:
            options["like"] = like_id
    if detach:
        if headless:
            raise click.UsageError("--detach runs without a UI already; drop --headless")
        _run_detached(kind, options)
        return
    if headless:
        from console.setup_run import prepare, resume

        prep = resume(**options) if kind == "resume" else prepare(**options)
        for note in prep.fixups:
            click.echo(f"data: {one_line(note)}", err=True)
        _run_headless(prep)
    else:
        _run_ui(kind, options, theme)


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _run_detached(kind: str, options: dict[str, Any]) -> None:
    """The engine in the background (console/service.py); the id on stdout."""
    from console.service import start_detached

    ready = start_detached(kind, options)
    for note in ready.get("fixups", []):
        click.echo(f"data: {note}", err=True)
    click.echo(f"engine pid {ready['pid']}  db {ready['db']}  log {ready['log']}", err=True)
    click.echo(f"attach: console attach {ready['session']}   stop: console stop {ready['session']}", err=True)
    click.echo(ready["session"])


def _run_headless(prep: Any) -> None:
    session = prep.session
    caught: list[str] = []

    def stop(signum: int, _frame: object) -> None:  # closes the log cleanly, prints the id
        caught.append(signal.Signals(signum).name)
        session.stop()

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        session.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        prep.writer.close(clean=not session.error)
    snap = session.latest
    if caught:
        click.echo(f"stopped by {caught[0]}", err=True)
    click.echo(f"source {prep.source_name}  seed {prep.seed}  db {prep.db_path}", err=True)
    click.echo(f"events {session.inputs}  seq {snap.seq}  state {snap.trading_state}  "
               f"{_logged_pnl(prep.db_path, session.session_id)}  "
               f"max dd {snap.risk.max_drawdown:.2%}", err=True)
    if session.error:
        click.echo(f"error: {one_line(str(session.error))}", err=True)
        click.echo(session.session_id)
        sys.exit(1)
    click.echo(session.session_id)


def _logged_pnl(db_path: Path, sid: str) -> str:
    """The session's P&L as ``console sessions`` reads it back from the log
    (``core.pnl``: to the last bar close, net of fees), so the run's last
    line and every later command show one figure."""
    from core.pnl import PNL_LABEL
    from storage import open_db, session_summary

    try:
        pnl = session_summary(open_db(db_path, create=False, readonly=True), sid).pnl
    except InputError as exc:
        return f"{PNL_LABEL} unknown ({exc})"
    return f"{PNL_LABEL} {pnl:,.2f}"


def _run_ui(kind: str, options: dict[str, Any], theme: str | None) -> None:
    """The engine runs in its own background process (console.service): a
    full-speed feed never delays a key press, and closing the terminal does
    not stop trading; quitting asks whether to stop the engine or detach."""
    from console.control import AttachedSession, find
    from console.ctl_cmd import run_attached
    from console.service import start_detached

    ready = start_detached(kind, options)
    for note in ready.get("fixups", []):
        click.echo(f"data: {note}", err=True)
    remote = AttachedSession(find(ready["session"], Path(ready["db"])), via="console run")
    sys.exit(run_attached(remote, theme))


@cli.command()
@click.argument("session_id")
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
@click.option("--what-if", "what_if", default=None, metavar="CONFIG.toml",
              help="Run the logged market through an engine with this config (merged over the logged one) and compare.")
@click.option("--commands/--no-commands", default=True,
              help="With --what-if: re-apply the logged operator commands (default) or leave them out.")
@click.option("--bootstrap-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --what-if: seed of the Sharpe-difference bootstrap.")
@click.option("--check-models/--no-check-models", default=True, show_default=True,
              help="Also re-run the signal models from their stored weights and compare every logged view.")
@click.option("--tui", is_flag=True, help="Play the session in the console, read-only: pause, step, seek.")
@click.option("--speed", default=None, help="With --tui: market-time multiple, or 'max' (default 60).")
def replay(session_id: str, db: str | None, what_if: str | None, commands: bool, bootstrap_seed: int,
           check_models: bool, tui: bool, speed: str | None) -> None:
    """Re-run a logged session headlessly and prove it reproduces."""
    from console.replay_cmd import run_replay

    if tui:
        if what_if is not None:
            raise InputError("--tui plays the logged session as it was; it cannot be combined with --what-if")
        from console.watch_app import run_watch

        sys.exit(run_watch(_db_path(db), session_id, _speed(speed) if speed is not None else 60.0))
    if speed is not None:
        raise InputError("--speed applies only with --tui")
    sys.exit(run_replay(_db_path(db), session_id, what_if=what_if, commands=commands,
                        bootstrap_seed=bootstrap_seed, check_models=check_models))


@cli.command()
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=50, help="Newest N sessions.")
def sessions(db: str | None, limit: int) -> None:
    """List logged sessions."""
    from console.report import print_sessions

    print_sessions(_db_path(db), limit)


@cli.command()
@click.option("--db", default=None, envvar="CONSOLE_DB", help=DB_HELP)
def doctor(db: str | None) -> None:
    """Versions, database health, compiled or interpreted hot path."""
    from console.report import print_doctor

    print_doctor(_db_path(db))


@cli.group()
def config() -> None:
    """Inspect the engine configuration."""


@config.command("show")
@click.option("--config", "config_path", default=None, help="TOML config to merge over the defaults.")
def config_show(config_path: str | None) -> None:
    """Print the effective config (defaults plus the file) as TOML."""
    from core.config import load_config

    cfg = load_config(config_path).to_dict()
    for key, value in cfg.items():
        if not isinstance(value, dict):
            click.echo(f"{key} = {json.dumps(value)}")
    for key, value in cfg.items():
        if isinstance(value, dict):
            click.echo(f"\n[{key}]")
            for k, v in value.items():
                if isinstance(v, dict):  # an inline table, valid TOML
                    v_text = "{" + ", ".join(f"{n} = {json.dumps(x)}" for n, x in v.items()) + "}"
                    click.echo(f"{k} = {v_text}")
                else:
                    click.echo(f"{k} = {json.dumps(v)}")


def main() -> None:
    """Entry point: turn input problems into one line and exit code 2."""
    from console.pipes import guard_stdout

    guard_stdout()  # `console replay ID | head -1`: keep the real exit status
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.message = one_line(exc.message)  # a huge option value is echoed in the message
        exc.show()
        sys.exit(exc.exit_code)
    except InputError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
