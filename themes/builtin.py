"""The console's built-in themes.

Every theme sets the console's own variables (see ``CONSOLE_VARIABLES``) so
profit, loss and breaker states never fall back to a colour that means
something else in that theme (the colour-blind theme must not get green/red).
"""

from __future__ import annotations

from textual.theme import Theme

# The console's custom theme variables, used in console.tcss and for table cells.
CONSOLE_VARIABLES = (
    "pnl-up", "pnl-down", "breaker-armed", "breaker-warning", "breaker-tripped",
)


def _vars(up: str, down: str, armed: str, warning: str, tripped: str) -> dict[str, str]:
    return dict(zip(CONSOLE_VARIABLES, (up, down, armed, warning, tripped)))


CONSOLE_DARK = Theme(
    name="console-dark",
    primary="#3B8EEA", secondary="#1F4E79", accent="#E5C07B",
    background="#12161C", surface="#1A2029", panel="#232B36",
    foreground="#D7DCE2", error="#E0465E", warning="#E5A50A", success="#3FB950",
    dark=True,
    variables=_vars("#3FB950", "#F85149", "#3FB950", "#E5A50A", "#F85149"),
)

CONSOLE_LIGHT = Theme(
    name="console-light",
    primary="#0B5CAD", secondary="#5B8DB8", accent="#9A6700",
    background="#F4F6F8", surface="#FFFFFF", panel="#E3E8EE",
    foreground="#1F2328", error="#C62828", warning="#B35900", success="#1A7F37",
    dark=False,
    variables=_vars("#1A7F37", "#C62828", "#1A7F37", "#B35900", "#C62828"),
)

# Pure black/white with saturated, bright accents for low-vision use.
CONSOLE_CONTRAST = Theme(
    name="console-contrast",
    primary="#FFFF00", secondary="#00FFFF", accent="#FF00FF",
    background="#000000", surface="#000000", panel="#1A1A1A",
    foreground="#FFFFFF", error="#FF2020", warning="#FFD700", success="#00FF00",
    dark=True,
    variables=_vars("#00FF00", "#FF4040", "#00FF00", "#FFD700", "#FF2020"),
)

# Okabe-Ito palette: profit blue, loss orange; no red/green pair anywhere.
CONSOLE_COLORBLIND = Theme(
    name="console-colorblind",
    primary="#56B4E9", secondary="#0072B2", accent="#F0E442",
    background="#14171C", surface="#1C2027", panel="#262B33",
    foreground="#E6E6E6", error="#D55E00", warning="#F0E442", success="#56B4E9",
    dark=True,
    variables=_vars("#56B4E9", "#E69F00", "#56B4E9", "#F0E442", "#D55E00"),
)

BUILTIN_THEMES: tuple[Theme, ...] = (
    CONSOLE_DARK, CONSOLE_LIGHT, CONSOLE_CONTRAST, CONSOLE_COLORBLIND,
)
