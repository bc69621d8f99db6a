"""The paper-live feed: the fake Binance server's bars through ccxt into the
engine's input stream, on a test clock; then a whole session, replayed."""

from __future__ import annotations

from itertools import islice

import pytest

from core.build import engine_from_setup, engine_setup
from core.config import EngineConfig
from core.events import Bar, Timer, VenueReport
from core.market.spec import InstrumentSpec, MarketSpec
from core.replay import verify
from core.session import MemorySink, Session
from core.venues.base import VenueError, VenueSpec
from core.venues.ccxt_client import CcxtDataClient
from core.venues.feed import VenueFeed
from tests.venue_fakes import FakeBinance, fake  # noqa: F401  (a fixture)

DAY_MS = 86_400_000


class Clock:
    """Our wall clock and the fake server's, moved together by sleep()."""

    def __init__(self, fake: FakeBinance, skew_ms: int = 0) -> None:
        self.fake = fake
        self.skew_ms = skew_ms  # the venue's clock minus ours
        self.ms = fake.now_ms - skew_ms
        self.slept = 0.0

    def __call__(self) -> float:
        return self.ms / 1000.0

    def sleep(self, s: float) -> None:
        self.slept += s
        self.ms += int(s * 1000)
        self.fake.now_ms = self.ms + self.skew_ms


def make_feed(url: str, clock: Clock, history: int = 30, **kw: object) -> VenueFeed:
    spec = VenueSpec("binance", "paper-live", ("BTC/USDT", "ETH/USDT"), url, history=history, poll_s=5.0,
                     timeout_s=3.0, **kw)  # type: ignore[arg-type]
    return VenueFeed(CcxtDataClient(spec), spec, clock=clock, sleep=clock.sleep)


def test_history_then_live_bars_in_file_order(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=30)
    it = iter(feed)
    first = list(islice(it, 30 * 3 + 2))  # two days' timers, 30 closes x (2 bars + timer)
    assert first[0] == Timer(first[0].ts, "", "day")
    bars = [e for e in first if isinstance(e, Bar)]
    closes = sorted({b.ts for b in bars})
    assert len(closes) == 30 and all(b - a == 60_000 for a, b in zip(closes, closes[1:]))
    assert closes[-1] <= f.now_ms  # the forming bar is not in
    days = [e for e in first if isinstance(e, Timer) and e.name == "day"]
    assert len(days) == 2 and days[1].ts // DAY_MS == days[0].ts // DAY_MS + 1  # the fixture crosses midnight
    # each close: its bars (by symbol), then its bar timer
    for ts in closes:
        block = [e for e in first if e.ts == ts and not (isinstance(e, Timer) and e.name == "day")]
        assert [getattr(e, "symbol", "") for e in block] == ["BTC/USDT", "ETH/USDT", ""]
        assert block[-1] == Timer(ts, "", "bar")
    # a new bar at the venue arrives once it has closed, exactly once
    f.add_bar("BTCUSDT", 70_000.0)
    f.add_bar("ETHUSDT", 3_500.0)
    live = list(islice(it, 3))
    assert [type(e).__name__ for e in live] == ["Bar", "Bar", "Timer"]
    assert live[0].ts == closes[-1] + 60_000 and live[0].close == float(f.klines["BTCUSDT"][-2][4])
    assert clock.slept > 0


def test_outage_timers_then_one_line_after_max_failures(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=3, max_failures=4)
    it = iter(feed)
    head = list(islice(it, 1 + 3 * 3))
    last = max(e.ts for e in head)
    f.down = True
    rest: list[object] = []
    with pytest.raises(VenueError) as err:
        for e in it:
            rest.append(e)
    assert "\n" not in str(err.value) and "binance" in str(err.value)
    # the disconnect is a logged input, once; then the bar closes that passed came as timers only (the
    # stale breaker sees them)
    gone, rest = rest[0], rest[1:]
    assert isinstance(gone, VenueReport) and gone.kind == "disconnect" and gone.ts == last
    assert gone.reason.startswith("feed: binance") and "\n" not in gone.reason
    assert rest and all(isinstance(e, Timer) and e.name == "bar" for e in rest)
    assert [e.ts for e in rest] == [last + 60_000 * (i + 1) for i in range(len(rest))]
    assert feed.failures == 4
    assert clock.slept >= 5 + 10 + 20  # backoff doubles


def test_recovery_resets_failures_and_skips_the_missed_closes(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=2, max_failures=8)
    it = iter(feed)
    list(islice(it, 1 + 2 * 3))
    f.down = True
    gone, *outage = list(islice(it, 3))  # the disconnect, then bar timers while away
    assert isinstance(gone, VenueReport) and gone.kind == "disconnect"
    assert all(isinstance(e, Timer) for e in outage)
    f.down = False
    for _ in range(3):
        f.add_bar("BTCUSDT", 70_000.0)
        f.add_bar("ETHUSDT", 3_500.0)
    back = next(it)
    assert isinstance(back, VenueReport) and back.kind == "reconnect" and back.ts == outage[-1].ts
    assert back.reason.startswith("feed: binance back after")
    nxt = next(e for e in it if isinstance(e, Bar))
    assert nxt.ts == outage[-1].ts + 60_000 and feed.failures == 0 and feed.missed == len(outage) == 2


def test_venue_clock_skew_is_measured_and_noted(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f, skew_ms=-4_000)  # the venue's clock is 4 s behind ours
    feed = make_feed(url, clock, history=2)
    feed.connect()
    assert feed.skew_ms == -4_000 and "clock is -4.0s from ours" in feed.notes[0]


def test_a_paper_live_session_replays(fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=35)
    feed.connect()
    spec = MarketSpec((InstrumentSpec("BTC/USDT", "crypto", 1e-5, "crypto"),
                       InstrumentSpec("ETH/USDT", "crypto", 1e-4, "crypto")), 60_000, 1440.0)
    setup = engine_setup(EngineConfig(), spec, feed.spec.to_dict())
    sink = MemorySink()
    s = Session(engine_from_setup(setup), feed, sink, "venue-test", speed=None, max_events=3 * 35 + 2)
    feed.sleep = s._idle  # as console/venue_run.attach does
    s.submit("halt", reason="operator check")
    s.run()
    assert s.error == "" and s.inputs == 3 * 35 + 2
    from core.codec import to_row

    rows = []
    for seq, ev in sink.rows:
        kind, ts, sym, payload = to_row(ev)
        rows.append((seq, kind, ts, sym, payload, kind in ("tick", "bar", "timer", "command")))
    assert any(r[1] == "bar" and r[3] == "ETH/USDT" for r in rows)
    report = verify(engine_from_setup(setup), rows)
    assert report.verified, report.divergence


def test_waiting_for_the_venue_serves_commands_in_short_slices() -> None:
    import time as _time

    from console.venue_run import IDLE_SLICE_S, attach

    class FakeSession:
        stopping = False

        def __init__(self) -> None:
            self.calls: list[float] = []

        def _idle(self, s: float) -> None:
            self.calls.append(s)
            _time.sleep(s)

    class Feed:
        sleep = should_stop = None

    sess, feed = FakeSession(), Feed()
    attach(feed, sess)
    feed.sleep(0.3)  # type: ignore[misc]
    assert len(sess.calls) >= 5 and max(sess.calls) <= IDLE_SLICE_S
    assert feed.should_stop() is False  # type: ignore[misc]
    sess.stopping = True
    assert feed.should_stop() is True  # type: ignore[misc]


def test_venue_sdks_load_only_for_a_venue() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import core.venues, core.venues.feed, core.venues.reconcile, console.venue_run, console.venue_cli, "
            "console.cli, console.setup_run\nimport sys\nprint(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    mods = {m.split(".")[0] for m in out.split()}
    assert not mods & {"ccxt", "alpaca", "keyring", "aiohttp", "requests"}


def test_a_bar_fetched_while_forming_is_not_taken_as_closed(fake: tuple[FakeBinance, str]) -> None:
    """The poll starts just before a bar closes and returns that bar still
    forming; the clock passes its end before the poll returns. It must wait
    for the next poll (with its final prices), not enter half-made."""
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=2)
    feed.connect()
    forming = f.klines["BTCUSDT"][-1]  # opened at now - 30 s
    end = forming[0] + 60_000
    client = feed.client
    real_poll = client.poll_bars

    def slow_poll(since: int) -> list[Bar]:
        out = real_poll(since)
        clock.ms = end + 100  # the poll took long: the bar ended meanwhile
        f.now_ms = clock.ms
        return out

    client.poll_bars = slow_poll  # type: ignore[method-assign]
    it = iter(feed)
    first = list(islice(it, 1 + 2 * 3))
    assert max(e.ts for e in first) == forming[0]  # the bars closed before the poll began
    client.poll_bars = real_poll  # type: ignore[method-assign]
    forming[4] = "99999.00000000"  # its final close, published after it ended
    nxt = next(e for e in it if isinstance(e, Bar))
    assert nxt.ts == end and nxt.close == 99999.0


def test_outage_before_any_bar_makes_no_timers_and_across_midnight_a_day_timer(
        fake: tuple[FakeBinance, str]) -> None:
    f, url = fake
    clock = Clock(f)
    feed = make_feed(url, clock, history=3, max_failures=3)
    f.down_after = len(f.requests) + 2  # markets and clock answer; the first poll fails
    with pytest.raises(VenueError):
        list(iter(feed))
    assert feed.missed == 0  # no market yet, nothing to be stale

    g = FakeBinance()
    url2 = g.start()
    try:
        # the fixture crosses midnight at its 21st bar; the venue goes away just before
        midnight = (g.klines["BTCUSDT"][0][0] // DAY_MS + 1) * DAY_MS
        g.now_ms = midnight - 30_000  # the bar ending at midnight is forming
        clock2 = Clock(g)
        feed2 = make_feed(url2, clock2, history=3, max_failures=6)
        it = iter(feed2)
        head = list(islice(it, 1 + 3 * 3))
        assert head[-1] == Timer(midnight - 60_000, "", "bar")
        g.down = True
        gone, *gap = list(islice(it, 4))
        assert isinstance(gone, VenueReport) and gone.kind == "disconnect" and gone.ts == midnight - 60_000
        assert gap == [Timer(midnight, "", "day"), Timer(midnight, "", "bar"), Timer(midnight + 60_000, "", "bar")]
    finally:
        g.stop()
