"""Where the log lives by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import default_db_path
from storage import paths


def test_console_db_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_DB", str(tmp_path / "mine.db"))
    assert default_db_path() == tmp_path / "mine.db"


def test_the_default_is_console_db_in_a_created_user_data_dir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONSOLE_DB", raising=False)
    data_dir = tmp_path / "data" / "trading-console"
    seen: list[str] = []

    def fake_user_data_dir(app: str) -> str:
        seen.append(app)
        return str(data_dir)

    monkeypatch.setattr(paths.platformdirs, "user_data_dir", fake_user_data_dir)
    assert default_db_path() == data_dir / "console.db"
    assert data_dir.is_dir() and seen == ["trading-console"]
