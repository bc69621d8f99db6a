"""A risk snapshot's display figures at a cadence (``risk.figures_every``).

The NAV's parametric and historical VaR, its CVaR and each position's share of
the book VaR (``var_contrib``) are made on a figures bar (the first bar close,
then every ``figures_every``-th) and stand in between; the text of the shares
is made again at once when a position comes or goes. Nothing decides on them,
so a session at the default cadence must make every decision a session with
figures every bar makes, and its snapshots must carry exactly the every-bar
figures of their figures bar.
"""

from __future__ import annotations

import pytest

from core.codec import encode_payload, kind_of
from core.config import FIGURES_AT_SPEED, EngineConfig, RiskConfig, config_from_dict, logged_config, resolve_figures
from core.events import RiskSnapshot
from core.kernels import contrib_of
from tests.test_golden_configs import CASES, run_case

EVERY_BAR = ("ts", "symbol", "nav", "cash", "gross", "net", "leverage", "day_pnl", "drawdown", "max_drawdown",
             "var_mc95", "var_mc99", "var_book95")
DISPLAY = ("var95", "var99", "var_hist95", "var_hist99", "cvar_hist95", "cvar_hist99")


def text(ev: object) -> str:
    return f"{kind_of(ev)}\t{ev.ts}\t{ev.symbol}\t{encode_payload(ev)}"  # type: ignore[attr-defined]


def check_cadence(every_bar: list[object], cadenced: list[object], every: int) -> int:
    """``cadenced`` is ``every_bar`` with display figures every ``every`` bars;
    returns how many snapshots carried figures from an earlier bar."""
    assert len(cadenced) == len(every_bar)
    bar = -1
    due: RiskSnapshot | None = None
    contrib = ""
    carried = 0
    for a, b in zip(every_bar, cadenced, strict=True):
        if not isinstance(a, RiskSnapshot):
            assert text(a) == text(b)  # every decision and every other row, byte for byte
            continue
        assert isinstance(b, RiskSnapshot)
        bar += 1
        if bar % every == 0:
            due = a
        assert due is not None
        if bar % every == 0 or set(contrib_of(a.var_contrib)) != set(contrib_of(contrib)):
            contrib = a.var_contrib
        for f in EVERY_BAR:
            assert repr(getattr(b, f)) == repr(getattr(a, f)), (bar, f)
        for f in DISPLAY:
            assert repr(getattr(b, f)) == repr(getattr(due, f)), (bar, f)
        assert b.var_contrib == contrib, bar
        carried += any(repr(getattr(b, f)) != repr(getattr(a, f)) for f in DISPLAY) or b.var_contrib != a.var_contrib
    return carried


@pytest.mark.parametrize("case", sorted(set(CASES) - {"legacy_v1"}))
def test_the_default_cadence_decides_as_every_bar_and_carries_the_due_figures(case: str) -> None:
    every = FIGURES_AT_SPEED
    assert every > 1
    carried = check_cadence(run_case(case), run_case(case, figures_every=every), every)
    assert carried > 100  # the figures did stand in: the check compared something


def test_a_position_coming_or_going_makes_the_shares_text_at_once() -> None:
    rows = run_case("books", figures_every=10)
    snaps = [r for r in rows if isinstance(r, RiskSnapshot)]
    moved = 0
    for i in range(1, len(snaps)):
        now, before = set(contrib_of(snaps[i].var_contrib)), set(contrib_of(snaps[i - 1].var_contrib))
        if now != before and i % 10:
            moved += 1
    assert moved > 0  # between figures bars, the named positions changed with the book


def test_breaker_rules_1_make_the_figures_every_bar_whatever_the_cadence() -> None:
    assert text_rows("legacy_v1", 10) == text_rows("legacy_v1", 1)


def text_rows(case: str, every: int) -> list[str]:
    return [text(r) for r in run_case(case, figures_every=every)]


def test_auto_is_made_definite_before_logging_by_how_bars_come() -> None:
    auto = EngineConfig()
    assert auto.risk.figures_every == 0
    assert resolve_figures(auto, at_speed=True).risk.figures_every == FIGURES_AT_SPEED
    assert resolve_figures(auto, at_speed=False).risk.figures_every == 1  # paced or live: every bar
    chosen = EngineConfig(risk=RiskConfig(figures_every=3))
    assert resolve_figures(chosen, at_speed=False).risk.figures_every == 3  # a chosen cadence stands


def test_a_logged_config_without_the_key_replays_with_figures_every_bar() -> None:
    old = config_from_dict({}).to_dict()
    del old["risk"]["figures_every"]
    assert logged_config(old).risk.figures_every == 1


def test_a_negative_cadence_is_refused_naming_the_field() -> None:
    with pytest.raises(Exception, match=r"risk.figures_every must be >= 0 \(0: auto\), got -1"):
        config_from_dict({"risk": {"figures_every": -1}})
