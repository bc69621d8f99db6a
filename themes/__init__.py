"""Console themes: the built-ins and a loader for user TOML theme files.

A user drops ``<name>.toml`` into ``<config dir>/themes/``; the config dir is
``platformdirs.user_config_dir("trading-console")`` unless the environment
variable ``CONSOLE_CONFIG_DIR`` names another (tests use it). A file looks like::

    name = "my-theme"
    primary = "#3B8EEA"
    background = "#101010"       # any of THEME_COLOURS, all optional but name/primary
    dark = true
    [variables]
    pnl-up = "#00A0FF"           # any Textual or console variable
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from platformdirs import user_config_dir
from textual.theme import Theme

from themes.builtin import BUILTIN_THEMES, CONSOLE_VARIABLES

__all__ = [
    "BUILTIN_THEMES", "CONSOLE_VARIABLES", "DEFAULT_THEME", "config_dir",
    "load_user_themes", "user_theme_dir",
]

DEFAULT_THEME = "console-dark"
THEME_COLOURS = (
    "primary", "secondary", "accent", "background", "surface", "panel",
    "error", "warning", "success", "foreground",
)
_KNOWN_KEYS = {"name", "dark", "variables", *THEME_COLOURS}


def config_dir() -> Path:
    """The console's config directory (``CONSOLE_CONFIG_DIR`` wins)."""
    override = os.environ.get("CONSOLE_CONFIG_DIR")
    return Path(override) if override else Path(user_config_dir("trading-console"))


def user_theme_dir() -> Path:
    return config_dir() / "themes"


def load_user_themes(directory: Path, warnings: list[str] | None = None) -> list[Theme]:
    """Every valid ``*.toml`` theme in ``directory`` (sorted by file name).

    A bad file is skipped, never fatal: a one-line message naming the file is
    appended to ``warnings`` (when given) so the caller can show it. A missing
    directory simply means no user themes.
    """
    themes: list[Theme] = []
    if not directory.is_dir():
        return themes
    for path in sorted(directory.glob("*.toml")):
        try:
            themes.append(_load_theme_file(path))
        except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
            if warnings is not None:
                warnings.append(f"theme file {path.name} skipped: {exc}")
    return themes


def _load_theme_file(path: Path) -> Theme:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}")
    for key in ("name", "primary"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key!r} must be a non-empty string")
    colours = {key: _string(data, key) for key in THEME_COLOURS if key in data}
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(v, str) for v in variables.values()
    ):
        raise ValueError("[variables] must map names to strings")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("'dark' must be true or false")
    theme = Theme(
        name=data["name"], primary=colours["primary"], secondary=colours.get("secondary"),
        accent=colours.get("accent"), background=colours.get("background"),
        surface=colours.get("surface"), panel=colours.get("panel"), error=colours.get("error"),
        warning=colours.get("warning"), success=colours.get("success"),
        foreground=colours.get("foreground"), dark=dark, variables=dict(variables),
    )
    _check_colours(theme)
    return theme


def _string(data: dict[str, object], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a colour string")
    return value


def _check_colours(theme: Theme) -> None:
    """Parse every colour now, so a typo fails here and not when selected."""
    from textual.color import Color, ColorParseError

    try:
        theme.to_color_system().generate()
        for name in CONSOLE_VARIABLES:
            if name in theme.variables:
                Color.parse(theme.variables[name])
    except ColorParseError as exc:
        raise ValueError(str(exc)) from None
