"""``console models train-rl FILE``: train the ``drl`` agent's policy on a price file.

PPO (stable-baselines3) in the Gymnasium environment of
``core.signals.drl_env``: one symbol at a time of FILE's OHLCV bars, traded
through the paper broker with the default config's ``[broker]`` costs and
``initial_cash`` (or ``--config``'s), on the first 80% of each symbol's bars;
the last 20% (never trained on) are traded once by the finished policy for
the held-out figures printed. One torch thread; the same FILE, --steps and
--seed write the same file byte for byte. The policy file carries its sha256
(a damaged file is refused), the format version and the library versions
that trained it; ``[signals] models = ["drl"]`` with ``[signals.drl] policy =
"PATH"`` runs it in a session.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("train-rl")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--steps", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="Environment steps (bars traded) of PPO training.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random choice of the training.")
@click.option("--out", default=None, metavar="PATH",
              help="Where to write the policy (default: FILE's name with .drl.pt, in the current folder).")
@click.option("--force", is_flag=True, help="Overwrite an existing policy file.")
@click.option("--config", "config_path", default=None, metavar="CONFIG.toml",
              help="Take the paper broker's costs ([broker]) and the book size (initial_cash) from this config.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def train_rl(file: Path, steps: int, seed: int, out: str | None, force: bool, config_path: str | None,
             as_json: bool) -> None:
    """Train the drl agent (PPO) on FILE's bars and store its policy."""
    from console.outpath import check_target, commit_part, create_part
    from core.config import load_config
    from core.market.files import bar_interval, load_bars

    cfg = load_config(config_path)
    target = Path(out) if out is not None else Path(Path(file.name).stem.split(".")[0] + ".drl.pt")
    check_target(target, force)  # before minutes of training, not after
    mf = load_bars(file)
    from core.signals.drl_env import bars_of, train

    data = bars_of(mf)
    interval = bar_interval([int(t) for d in data for t in d.ts])
    _one_thread()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    err = Console(stderr=True)
    with Progress(TextColumn("training drl (PPO)"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=as_json) as bar:
        task = bar.add_task("train", total=steps)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=min(done, total))

        blob, sha, meta, seconds = train(
            data, cfg.broker, {"steps": steps, "seed": seed, "initial_cash": cfg.initial_cash},
            per_year=interval.per_year, source={"file": str(file), "sha256": mf.sha256},
            progress=progress)
    with create_part(target) as f:
        f.write(blob)
    commit_part(target, force)
    m = meta["metrics"]
    d = {"policy": str(target.resolve()), "sha256": sha, "steps": steps, "seed": seed, "seconds": seconds,
         "symbols": meta["symbols"], "bar_interval": interval.name, "metrics": m}
    if as_json:
        click.echo(json.dumps(d, allow_nan=False))
        return
    click.echo(f"policy {d['policy']} (sha256 {sha[:16]}...), {int(m['train_steps']):,} steps in {seconds:.1f} s, "
               f"seed {seed}, {len(data)} symbol(s), {interval.name} bars")
    if "holdout_bars" in m:
        click.echo(f"held-out last 20%: {int(m['holdout_bars']):,} bars, return {m['holdout_return']:+.2%}, "
                   f"Sharpe {m['holdout_sharpe']:.2f} (net of commission and slippage), "
                   f"fees {m['holdout_fees']:,.2f}, turnover {m['holdout_turnover']:.1f}x the book")
    click.echo("run it in a session with (signal = \"drl\": its views set positions):\n"
               "[strategy]\nsignal = \"drl\"\n[signals]\nmodels = [\"drl\"]\n[signals.drl]\n"
               f"policy = {json.dumps(d['policy'])}")


def _one_thread() -> None:
    """One torch thread (2 cores shared: more made fits slower, not faster)."""
    import torch

    torch.set_num_threads(1)

