"""Watch a logged session: its inputs fed one at a time through a fresh engine.

``Playback`` is the read-only half: the engine is built from the logged
config (``core.build.engine_from_setup``, as replay does), every logged input
(ticks, bars, headlines, timers, operator commands, model views and
activations: the models themselves are never re-run) is fed to it, and every
decision it makes is compared with the logged one, as ``core.replay.verify``
does. The first difference stops playback there; it is reported with its seq.
The panes' snapshots come from ``core.session.Session.snapshot`` over that
engine, so they are the ones the live console showed.

``Watch`` paces a playback in market time at a speed, with pause, step and
seek, and has the shape the console app expects of a session (``latest``,
``run``, ``stop``, ``submit``). It never writes: ``submit`` does nothing and
the database is opened read-only. Seeking back rebuilds from the first input.

No textual here: tests drive both classes without a UI.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from core.build import engine_from_setup
from core.errors import InputError
from core.events import Command, Headline, ModelActivated, ModelFit, ModelSignal
from core.replay import Divergence, Verifier  # the one verifier, as console replay
from core.session import MAX_GAP_MS, MemorySink, Session
from core.view import describe
from core.snapshot import LogLine, SignalRow, Snapshot

Row = tuple[int, str, int, str, str, bool]  # seq, kind, ts, symbol, payload json, is input
FILL_COLUMNS = ("ts", "symbol", "order_id", "qty", "price", "commission")
SEEK_INPUTS = 100  # ] and [ move this many inputs
PUBLISH_S = 0.1  # snapshot rate while playing (the UI reads at about 10 Hz)


class Playback:
    """A logged session stepped input by input (see the module doc).

    Position is counted in inputs fed (``inputs``); ``input_seq`` is the seq
    of the last input fed and ``engine.seq`` the last seq it led to."""

    def __init__(self, db: Any, sid: str) -> None:
        from storage import fills_by_seq, session_meta

        self.db, self.sid = db, sid
        meta = session_meta(db, sid)
        self.setup: dict[str, Any] = meta["config"] if isinstance(meta["config"], dict) else {}
        self.source_name = str(meta.get("data_source") or "")
        self.clean_close = bool(meta.get("clean_close"))
        self.last_seq = int(meta.get("last_seq") or 0)
        self.fills = {seq: dict(zip(FILL_COLUMNS, row)) for seq, row in fills_by_seq(db, sid).items()}
        self.total_inputs = int(db.execute(
            "select count(*) from events where session = ? and input = 1", [sid]).fetchone()[0])
        self._rows: Iterator[Row] | None = None
        self.interrupted = False  # set from another thread: a long seek gives up (the app is quitting)
        self.restart()

    # ------------------------------------------------------------ position

    def restart(self) -> None:
        """Back to before the first input: a fresh engine, the log from the top."""
        from storage import iter_events

        try:
            self.engine = engine_from_setup(self.setup)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"session {self.sid}: logged config cannot build an engine ({exc})") from None
        self.view = Session(self.engine, (), MemorySink(), self.sid, source_name=self.source_name)
        self.models: dict[tuple[str, str], ModelSignal] = {}
        self.verifier = Verifier(self.engine, self.fills)  # the same checks as console replay
        self.inputs = 0
        self.input_seq = 0
        self.error = ""  # the log could not be read on
        if self._rows is not None:
            self._rows.close()  # type: ignore[attr-defined]
        self._rows = iter_events(self.db, self.sid)
        self._next = self._read()

    @property
    def at_end(self) -> bool:
        return self._next is None

    @property
    def stopped(self) -> bool:
        """Nothing more to feed: the end of the log, a divergence or a read error."""
        return self._next is None or self.divergence is not None or bool(self.error)

    @property
    def next_ts(self) -> int | None:
        """Market time (epoch ms) of the next input, None when stopped."""
        return None if self.stopped or self._next is None else self._next[2]

    def next_input_seq(self) -> int:
        """Seq of the next input to feed (one past the log at its end)."""
        return self.last_seq + 1 if self._next is None else self._next[0]

    def step(self, n: int = 1) -> int:
        """Feed up to ``n`` inputs (and check their decisions); returns how many were fed."""
        fed = 0
        while fed < n and not self.stopped and not self.interrupted:
            self._feed_one()
            fed += 1
        return fed

    def seek_inputs(self, delta: int) -> None:
        """Move ``delta`` inputs forward (or back: rebuilt from the first input)."""
        target = max(0, self.inputs + delta)
        if target < self.inputs:
            self.restart()
        self.step(target - self.inputs)

    def seek(self, seq: int) -> None:
        """To the state just after the last input at or before ``seq``
        (seq 0: before the first input)."""
        if seq < self.input_seq:
            self.restart()
        while not self.stopped and not self.interrupted and self._next is not None and self._next[0] <= seq:
            self._feed_one()

    # ------------------------------------------------------------ feeding

    def _read(self) -> Row | None:
        from storage import StorageError

        assert self._rows is not None
        try:
            return next(self._rows, None)
        except StorageError as exc:
            self.error = str(exc)
            return None

    @property
    def divergence(self) -> Divergence | None:
        return self.verifier.divergence

    @property
    def detail(self) -> str:
        """Which fields of the decision differ, when the divergence is one."""
        return self.verifier.detail

    @property
    def truncated(self) -> bool:
        """The log ends part-way through its last input's decisions."""
        return self._next is None and self.verifier.truncated

    @property
    def trades(self) -> int:
        return self.verifier.trades

    def _feed_one(self) -> None:
        """Feed the next input and check the decisions the log holds for it."""
        assert self._next is not None
        row = self._next
        v = self.verifier
        try:
            ok = v.row(*row)
        except Exception as exc:  # shown in the banner, like a live session's fault
            self.error = f"the engine failed on the input at seq {row[0]}: {exc!r}"
            return
        if not ok:
            return self._diverged()
        self.inputs += 1
        self.input_seq = row[0]
        self._note(row[0], v.made[0], v.made)
        self._next = self._read()
        while self._next is not None and not self._next[5]:
            if not v.row(*self._next):
                return self._diverged()
            self._next = self._read()
        if self._next is not None and v.pending:
            v.row(*self._next)  # refused before it is fed: the engine made a decision the log lacks
            return self._diverged()
        if self._next is None and not v.pending and not v.end():
            self._diverged()

    def _diverged(self) -> None:
        div = self.verifier.divergence
        assert div is not None
        detail = self.verifier.detail
        log = self.view.log
        log.append(LogLine(div.seq, self.engine.ts, "alert", f"DIVERGED: {div.reason}"
                           + (f" ({detail})" if detail else "")))
        log.append(LogLine(div.seq, self.engine.ts, "alert", f"  expected (log): {div.expected}"))
        log.append(LogLine(div.seq, self.engine.ts, "alert", f"  actual (now):   {div.actual or '-'}"))

    def _note(self, base: int, ev: object, out: list[object]) -> None:
        # the log-pane lines the live session wrote for the same input
        if isinstance(ev, ModelSignal):
            self.models[(ev.model, ev.symbol)] = ev
        if len(out) > 1 or isinstance(ev, (Headline, Command, ModelActivated, ModelFit)):
            for i, e in enumerate(out):
                line = describe(e)
                if line is not None:
                    self.view.log.append(LogLine(base + i, e.ts, line[0], line[1]))  # type: ignore[attr-defined]

    # ------------------------------------------------------------ view

    @property
    def problem(self) -> str:
        """One line for the banner: the divergence or read error, else ''."""
        if self.divergence is not None:
            d = self.divergence
            return f"DIVERGED at seq {d.seq}: {d.reason}" + (f" ({self.detail})" if self.detail else "")
        return self.error

    def snapshot(self) -> Snapshot:
        """What the panes show now; ``extra`` carries the replay position."""
        snap = self.view.snapshot()
        last = self.engine.portfolio.last
        models = tuple(SignalRow(m.symbol, m.model, m.value, m.confidence, last.get(m.symbol, 0.0), m.ts,
                                 version=m.version, status="logged view")
                       for _, m in sorted(self.models.items()))
        extra = {"replay": "read-only", "inputs": str(self.inputs), "total_inputs": str(self.total_inputs),
                 "last_seq": str(self.last_seq), "truncated": "yes" if self.truncated else "",
                 "clean_close": "yes" if self.clean_close else ""}
        return replace(snap, signals=snap.signals + models, finished=self.at_end, error=self.problem,
                       events_per_s=0.0, extra=extra)


class Watch:
    """A ``Playback`` paced in market time (``speed`` x; None: as fast as it
    goes), with pause, step and seek; see the module doc.

    The UI calls ``request`` (any thread); ``run`` (a worker thread) applies
    requests between inputs. Tests may call ``toggle_pause``, ``step``,
    ``seek`` and ``tick`` directly, with an injected clock."""

    latest: Snapshot  # swapped whole by the run loop; the UI only reads it

    def __init__(self, playback: Playback, speed: float | None = 60.0, *, paused: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.playback = playback
        self.session_id = playback.sid
        self.speed = speed
        self.paused = paused
        self.clock, self.sleep = clock, sleep
        self.stopping = False
        self._requests: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._anchor()
        self.publish()

    # ------------------------------------------------------------ the app's session API

    def submit(self, action: str, arg: str = "", reason: str = "") -> None:
        """Read-only: operator commands are never applied nor logged."""

    def stop(self) -> None:
        self.stopping = True
        self.playback.interrupted = True  # a rebuild in progress ends now

    def request(self, action: str, arg: int = 0) -> None:
        """Queue ``toggle_pause``, ``step`` (arg inputs), ``seek_inputs``
        (arg, signed) or ``seek`` (arg = seq) for the run loop (any thread)."""
        if action not in ("toggle_pause", "step", "seek_inputs", "seek"):
            raise ValueError(f"unknown watch action {action!r}")
        self._requests.put((action, arg))

    def run(self) -> None:
        """Play until ``stop()``; pauses itself at the end of the log."""
        while not self.stopping:
            self.tick()
        self.publish()

    # ------------------------------------------------------------ control

    def toggle_pause(self) -> None:
        if self.paused and self.playback.at_end:
            return  # nothing left to play
        self.paused = not self.paused
        self._anchor()
        self.publish()

    def step(self, n: int = 1) -> None:
        """Pause, then feed ``n`` inputs."""
        self.paused = True
        self.playback.step(n)
        self.publish()

    def seek_inputs(self, delta: int) -> None:
        if delta < 0:
            self._rebuilding()
        self.playback.seek_inputs(delta)
        self._anchor()
        self.publish()

    def seek(self, seq: int) -> None:
        if seq < self.playback.input_seq:
            self._rebuilding()
        self.playback.seek(seq)
        self._anchor()
        self.publish()

    def _rebuilding(self) -> None:
        # a long log takes seconds to rebuild: say so rather than look frozen
        self.latest = replace(self.latest, extra={**self.latest.extra, "status": "REBUILDING"})

    # ------------------------------------------------------------ pacing

    def _anchor(self) -> None:
        """Pace from here: the next input waits its market-time gap from the
        state shown now, not from when the view last played."""
        self._due = self.clock()
        ts = self.playback.engine.ts
        self._mark_ts: int | None = ts if ts > 0 else None

    def tick(self) -> None:
        """One turn of the run loop: apply requests, then feed what is due."""
        self._drain()
        pb = self.playback
        if pb.stopped and not self.paused:
            self.paused = True  # at the end (or a divergence): seeking back does not auto-play
            self.publish()
        if self.paused:
            self.sleep(0.02)
        elif self.speed is None:
            self._burst()
        else:
            self._paced()
        if self.clock() - self._published >= PUBLISH_S and self._state() != self._shown:
            self.publish()

    def _burst(self) -> None:
        end = self.clock() + 0.05  # then look at requests again
        while self.clock() < end and not self.playback.stopped and self._requests.empty():
            self.playback.step(64)

    def _paced(self) -> None:
        pb = self.playback
        ts = pb.next_ts
        if ts is None:
            return
        due = self._due
        if self._mark_ts is not None:
            due += min(max(ts - self._mark_ts, 0), MAX_GAP_MS) / 1000.0 / self.speed  # type: ignore[operator]
        now = self.clock()
        if now < due:
            self.sleep(min(due - now, 0.02))
            return
        pb.step(1)
        self._due = max(due, now - 0.5)  # a stall should not cause a burst
        self._mark_ts = ts

    def _drain(self) -> None:
        while not self._requests.empty():
            action, arg = self._requests.get()
            if action == "toggle_pause":
                self.toggle_pause()
            elif action == "step":
                self.step(arg)
            elif action == "seek_inputs":
                self.seek_inputs(arg)
            else:
                self.seek(arg)

    # ------------------------------------------------------------ view

    def status(self) -> str:
        pb = self.playback
        if pb.problem:
            return "DIVERGED" if pb.divergence is not None else "STOPPED"
        if pb.at_end:
            return "END"
        return "PAUSED" if self.paused else "PLAYING"

    def snapshot(self) -> Snapshot:
        snap = self.playback.snapshot()
        speed = "max" if self.speed is None else f"{self.speed:g}x"
        return replace(snap, speed=speed, extra={**snap.extra, "status": self.status()})

    def _state(self) -> tuple[object, ...]:
        pb = self.playback
        return id(pb.engine), pb.inputs, pb.problem, self.paused

    def publish(self) -> None:
        self._published = self.clock()
        self._shown = self._state()
        self.latest = self.snapshot()


def open_watch(db_path: Any, session_id: str, speed: float | None, paused: bool = False) -> Watch:
    """A watch over ``session_id`` (an id, a unique prefix or ``last``) in the
    database at ``db_path``, opened read-only."""
    from storage import open_db, resolve_session

    db = open_db(db_path, create=False, readonly=True)
    sid = resolve_session(db, session_id)
    return Watch(Playback(db, sid), speed, paused=paused)
