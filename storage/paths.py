"""Where the session log lives when the user does not say."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "trading-console"
ENV_VAR = "CONSOLE_DB"


def default_db_path() -> Path:
    """``$CONSOLE_DB`` if set, else ``console.db`` in the user's data directory.

    The data directory is created if missing; an explicit ``$CONSOLE_DB`` is
    taken as given (its directory is the user's business)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir / "console.db"
