"""``console prune --keep N``: delete old sessions and give their space back."""

from __future__ import annotations

from pathlib import Path

import click


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@click.command("prune")
@click.option("--keep", type=click.IntRange(min=0), required=True, metavar="N",
              help="Sessions to keep: the newest N by start time.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--db", default=None, envvar="CONSOLE_DB",
              help="Session database (default: $CONSOLE_DB, else the user data directory).")
def prune(keep: int, dry_run: bool, db: str | None) -> None:
    """Delete old sessions and reclaim their space."""
    from storage import default_db_path
    from storage.prune import prune as do_prune

    path = Path(db) if db else default_db_path()
    r = do_prune(path, keep, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(r.deleted):,} session(s) ({r.events:,} events), kept {r.kept:,}"
               + (f" and {len(r.live)} still being written" if r.live else ""))
    if not dry_run and r.deleted:
        click.echo(f"{path}: {_mb(r.bytes_before)} -> {_mb(r.bytes_after)}"
                   + ("" if r.vacuumed else f" ({r.note})"))
