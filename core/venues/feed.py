"""A venue's market data as the engine's input stream (``paper-live``).

``VenueFeed`` polls a ``DataClient`` for closed bars and yields them exactly
as a price file does: ``Timer(ts, "", "day")`` when the UTC date changes, the
bars of one close time (sorted by symbol), then ``Timer(ts, "", "bar")``. The
session logs every one as an input, so replay needs no venue.

This is the session edge: it reads the wall clock (to know which bars have
closed and when to poll) and sleeps. Neither is seen by the engine: a bar
enters with the venue's timestamp (the bar's end), and a timer with the end
of the bar it closes.

Faults: a failed poll is retried with doubling waits (``poll_s`` up to 60 s);
while the venue is away, each bar close that passes still yields its bar
timer (so the stale-data breaker sees the outage grow), and those bars are not
fetched later (the engine's time has passed them; ``missed`` counts them).
The first failure and the recovery are logged inputs: a ``VenueReport``
of kind ``disconnect`` (``reason`` the venue's one-line error) and
``reconnect`` (how long it was away), timestamped at the last close, which
the engine ignores. After ``max_failures`` failures in a row the feed
raises the last ``VenueError`` (the session stops with that line). The venue's clock is
compared with ours at the start: a skew is added to our clock when deciding
which bars have closed, and reported in ``notes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from core.events import Bar, InputEvent, Timer, VenueReport
from core.venues.base import DataClient, VenueError, VenueSpec

DAY_MS = 86_400_000
GRACE_MS = 1_500  # after a bar's end, before asking for it: venues publish a moment late
MAX_BACKOFF_S = 60.0
SKEW_NOTE_MS = 1_000


class VenueFeed:
    def __init__(self, client: DataClient, spec: VenueSpec, *, start_after_ms: int = 0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.client = client
        self.spec = spec
        self.tf = spec.bar_ms
        self.last = start_after_ms  # end of the newest bar (or timer) yielded
        self.clock = clock
        self.sleep = sleep
        self.should_stop = should_stop
        self.skew_ms = 0
        self.notes: list[str] = []
        self.missed = 0  # bar closes passed while the venue was away (a timer each, their bars never come)
        self.failures = 0
        self.down_since = 0.0  # our clock when the venue went away
        self.connected = False
        self.started = False  # a bar (or its day timer) has been yielded
        self.day = 0  # UTC day number of the last close yielded

    def now_ms(self) -> int:
        return int(self.clock() * 1000) + self.skew_ms

    def connect(self) -> None:
        """Check the venue and the symbols; measure the clock skew. Raises
        ``VenueError`` (one line) when the venue cannot be used."""
        if self.connected:
            return
        self.client.connect()
        self.client.subscribe(self.spec.symbols, self.spec.timeframe)
        venue_ms = getattr(self.client, "venue_ms", None)
        if callable(venue_ms):
            try:
                theirs = int(venue_ms())
            except VenueError:
                theirs = 0  # no clock endpoint: trust ours
            if theirs > 0:
                ours = int(self.clock() * 1000)
                skew = theirs - ours
                if abs(skew) >= SKEW_NOTE_MS:
                    self.skew_ms = skew
                    self.notes.append(f"{self.spec.name} clock is {skew / 1000:+.1f}s from ours; "
                                      f"bar closes are judged on the venue's clock")
        self.connected = True

    def __iter__(self) -> Iterator[InputEvent]:
        self.connect()
        try:
            yield from self._events()
        finally:
            self.client.close()

    def _events(self) -> Iterator[InputEvent]:
        self.started = self.last != 0  # a resumed feed continues the logged day
        if not self.started:
            self.last = (self.now_ms() // self.tf - max(self.spec.history, 0)) * self.tf
        self.day = self.last // DAY_MS
        while not self.should_stop():
            now = self.now_ms()  # before the poll: a bar fetched while still forming never counts as closed
            try:
                bars = self.client.poll_bars(self.last)
            except VenueError as exc:
                self.failures += 1
                if self.failures >= self.spec.max_failures:
                    raise
                if self.failures == 1:
                    self.down_since = self.clock()
                    yield VenueReport(self.last, "", "disconnect", 0, 0.0, 0.0, 0.0, 0.0, "", f"feed: {exc}")
                yield from self._outage()
                self._wait(min(self.spec.poll_s * 2 ** (self.failures - 1), MAX_BACKOFF_S))
                continue
            if self.failures:
                yield VenueReport(self.last, "", "reconnect", 0, 0.0, 0.0, 0.0, 0.0, "",
                                  f"feed: {self.spec.name} back after {self.clock() - self.down_since:.0f}s, "
                                  f"{self.failures} failed poll(s)")
            self.failures = 0
            closed: dict[int, list[Bar]] = {}
            for b in bars:
                if b.ts > now:
                    continue  # still forming
                if b.ts <= self.last:
                    continue  # yielded already, or a close the outage timers passed
                closed.setdefault(b.ts, []).append(b)
            for ts in sorted(closed):
                yield from self._day(ts)
                yield from sorted(closed[ts], key=lambda b: b.symbol)
                yield Timer(ts, "", "bar")
                self.last = ts
            self._wait_next()

    def _day(self, ts: int) -> Iterator[InputEvent]:
        """The day timer before the first close of a UTC date (and of the feed)."""
        if not self.started or ts // DAY_MS != self.day:
            self.started, self.day = True, ts // DAY_MS
            yield Timer(ts, "", "day")

    def _outage(self) -> Iterator[InputEvent]:
        """Bar closes that passed while the venue was away: timers only (none
        before the first bar: there is no market to be stale yet)."""
        now = self.now_ms()
        while self.started and self.last + self.tf + GRACE_MS <= now:
            self.last += self.tf
            self.missed += 1
            yield from self._day(self.last)
            yield Timer(self.last, "", "bar")

    def _wait_next(self) -> None:
        """Until a moment after the next bar close; if that bar is overdue
        (the venue is late), poll again after ``poll_s``."""
        due = self.last + self.tf + GRACE_MS
        if due <= self.now_ms():
            self._wait(self.spec.poll_s)
        else:
            self._wait_until(due)

    def _wait_until(self, due_ms: int) -> None:
        while not self.should_stop():
            left = (due_ms - self.now_ms()) / 1000.0
            if left <= 0:
                return
            self.sleep(min(left, self.spec.poll_s))

    def _wait(self, seconds: float) -> None:
        self._wait_until(self.now_ms() + int(seconds * 1000))
