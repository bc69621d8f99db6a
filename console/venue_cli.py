"""The ``run`` command's venue flags, checked in one place (console/cli.py
calls ``venue_for_run``)."""

from __future__ import annotations

from typing import Any

from core.errors import InputError


def venue_for_run(resume_id: str | None, config_path: str | None, name: str | None, mode: str | None,
                  symbols: str | None, url: str | None, data: str | None, seed: int | None,
                  speed: str | None, reconcile_s: float | None = None) -> Any:
    """The ``VenueSpec`` for ``console run``, or None for a simulator or
    file session. Flags that cannot go together end with one line."""
    given = [n for n, v in (("--venue", name), ("--symbols", symbols), ("--venue-url", url),
                            ("--reconcile-s", reconcile_s)) if v is not None]
    if mode not in (None, "sim"):
        given.append(f"--mode {mode}")
    if resume_id is not None:
        if given:
            raise InputError(f"--resume reopens the logged venue as it was; drop {', '.join(given)}")
        return None
    if name is None and (symbols is not None or url is not None or reconcile_s is not None):
        raise InputError(f"{' and '.join(given)} need --venue NAME (a ccxt exchange id or 'alpaca')")
    from console.venue_run import venue_spec

    spec = venue_spec(config_path, name, mode, symbols, url, reconcile_s=reconcile_s)
    if spec is None:
        return None
    clash = [n for n, v in (("--data", data), ("--seed", seed), ("--speed", speed)) if v is not None]
    if clash:
        raise InputError(f"a venue session runs on the venue's live data in real time; drop {', '.join(clash)}")
    return spec
