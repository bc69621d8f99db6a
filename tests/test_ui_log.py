"""Pilot tests: the log can be read (issue 18, defects 4 and 6): scrolled back
it stays put, it filters, long lines wrap, a theme change recolours old lines."""

from __future__ import annotations

import pytest

from console.app import build_app
from console.panes.log import LogPane
from core.snapshot import LogLine
from tests.test_ui_fakes import T0, FakeSession, snapshot

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_CONFIG_DIR", str(tmp_path))


def _lines(start: int, n: int, text: str = "line") -> tuple[LogLine, ...]:
    return tuple(LogLine(start + i, T0 + i * 1000, "trade" if i % 2 else "info", f"{text} {start + i}")
                 for i in range(n))


async def _feed(pilot, session, start: int, batches: int, per: int = 20) -> None:
    for b in range(batches):
        session.latest = snapshot(seq=start + b, log=_lines(start + b * per, per))
        await pilot.pause(0.12)


def _view(app):
    return app.query_one("#log-lines")


@pytest.mark.asyncio
async def test_scrolled_back_the_log_stays_put_until_end():
    session = FakeSession(snapshot(log=_lines(0, 60)))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = _view(app)
        view.focus()
        await pilot.press("home")
        await pilot.pause()
        assert view.scroll_offset.y == 0
        await _feed(pilot, session, 1000, 3)
        assert view.scroll_offset.y == 0, "new lines must not snap a scrolled-back view to the bottom"
        assert "End follows" in str(app.query_one(LogPane).border_subtitle)
        await pilot.press("end")
        await pilot.pause()
        await _feed(pilot, session, 2000, 1)
        assert view.scroll_offset.y == view.max_scroll_y > 0
        assert "line 2019" in view.lines[-1].text


@pytest.mark.asyncio
async def test_slash_filters_the_log_and_escape_clears_it_without_halting():
    log = _lines(0, 20) + (LogLine(100, T0, "alert", "BREAKER daily_loss ARMED -> TRIPPED: 3.2%"),)
    session = FakeSession(snapshot(log=log))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash")  # from anywhere: the app binding focuses the filter
        await pilot.pause()
        await pilot.press(*"alert")  # 'a' and 'h'-free text; halting keys are text here
        await pilot.pause(0.4)  # refiltered once typing pauses
        pane = app.query_one(LogPane)
        assert [s.text for s in pane.lines if s.text.strip()][-1].endswith("TRIPPED: 3.2%")
        assert len(pane.lines) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert len(pane.lines) == 21 and pane.filter_text == ""
        await pilot.press("slash", *"high")  # an 'h' typed in the filter is text, not a halt
        await pilot.pause()
        assert session.submits == []


@pytest.mark.asyncio
async def test_long_lines_wrap_instead_of_being_cut():
    tail = "END-OF-A-LONG-LINE"
    long = LogLine(5, T0, "warn", "REJECT " + "x" * 200 + " " + tail)
    app = build_app(FakeSession(snapshot(log=(long,))), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        strips = app.query_one(LogPane).lines
        assert tail in "".join(s.text for s in strips)
        width = app.query_one("#log").scrollable_content_region.width
        assert len(strips) > 1 and all(s.cell_length <= width for s in strips), width


@pytest.mark.asyncio
async def test_a_theme_change_recolours_lines_already_written():
    app = build_app(FakeSession(snapshot()), start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")  # to console-light
        await pilot.pause()
        fg = app.current_theme.foreground or app.theme_variables["foreground"]
        colours = {str(seg.style.color.name).lower() for strip in app.query_one(LogPane).lines
                   for seg in strip if seg.style and seg.style.color and seg.text.strip()
                   and "session started" in seg.text}
        assert colours == {fg.lower()}, (colours, fg)


@pytest.mark.asyncio
async def test_a_busy_view_that_nobody_scrolled_keeps_following():
    session = FakeSession(snapshot(log=_lines(0, 10)))
    app = build_app(session, start_engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for b in range(3):  # three refreshes before the view could scroll: a busy UI thread
            app.apply_snapshot(snapshot(seq=3000 + b, log=_lines(100 + b * 25, 25)))
        pane = app.query_one(LogPane)
        assert pane.following and "scrolled back" not in str(pane.border_subtitle or "")
        await pilot.pause()
        view = _view(app)
        assert view.scroll_offset.y == view.max_scroll_y > 0
