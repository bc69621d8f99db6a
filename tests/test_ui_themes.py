"""Themes: the built-ins, user TOML files from the config dir, bad files skipped."""

from __future__ import annotations

import pytest
from textual.color import Color

from console.app import build_app
from tests.test_ui_fakes import FakeSession, snapshot
from themes import BUILTIN_THEMES, CONSOLE_VARIABLES, config_dir, load_user_themes

GOOD = """
name = "night-desk"
primary = "#FF8800"
background = "#000010"
dark = true
[variables]
pnl-up = "#00AAFF"
"""


def _write(directory, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


def test_builtin_themes_define_every_console_variable():
    names = [t.name for t in BUILTIN_THEMES]
    assert names == ["console-dark", "console-light", "console-contrast", "console-colorblind"]
    for theme in BUILTIN_THEMES:
        for var in CONSOLE_VARIABLES:
            Color.parse(theme.variables[var])


def test_colorblind_theme_has_no_green_red_profit_loss():
    cb = next(t for t in BUILTIN_THEMES if t.name == "console-colorblind")
    up, down = (Color.parse(cb.variables[v]) for v in ("pnl-up", "pnl-down"))
    assert up.b > up.g > up.r  # blue
    assert down.r > down.g > down.b  # orange


def test_config_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    assert config_dir() == tmp_path


def test_bad_files_are_skipped_with_a_message(tmp_path):
    _write(tmp_path, "a_good.toml", GOOD)
    _write(tmp_path, "broken.toml", "name = [unclosed")
    _write(tmp_path, "colour.toml", 'name = "x"\nprimary = "not-a-colour"\n')
    _write(tmp_path, "noname.toml", 'primary = "#123456"\n')
    _write(tmp_path, "typo.toml", 'name = "y"\nprimary = "#123456"\nprimery = "#fff"\n')
    _write(tmp_path, "var.toml", 'name = "z"\nprimary = "#123456"\n[variables]\npnl-up = "blu"\n')
    warnings: list[str] = []
    themes = load_user_themes(tmp_path, warnings)
    assert [t.name for t in themes] == ["night-desk"]
    assert len(warnings) == 5
    for name in ("broken.toml", "colour.toml", "noname.toml", "typo.toml", "var.toml"):
        assert any(name in w for w in warnings), name
    assert any("primery" in w for w in warnings)


def test_missing_theme_dir_means_no_user_themes(tmp_path):
    assert load_user_themes(tmp_path / "absent") == []


@pytest.mark.asyncio
async def test_user_theme_is_registered_and_usable(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    _write(tmp_path / "themes", "night.toml", GOOD)
    _write(tmp_path / "themes", "bad.toml", "this is not toml")
    app = build_app(FakeSession(snapshot()), theme="night-desk", start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.theme == "night-desk"
        assert "night-desk" in app.console_themes
        # pnl-down was not given: it falls back to the theme's error colour
        assert app.theme_variables["pnl-up"].lower() == "#00aaff"
        assert app.theme_variables["pnl-down"] == app.theme_variables["error"]
        messages = [n.message for n in app._notifications]
        assert any("bad.toml" in m for m in messages)


@pytest.mark.asyncio
async def test_unknown_theme_name_falls_back_to_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))
    app = build_app(FakeSession(snapshot()), theme="nope", start_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.theme == "console-dark"
        assert any("nope" in n.message for n in app._notifications)
