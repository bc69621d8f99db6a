"""Run a session: source -> engine -> log, with operator commands and a
published snapshot for whoever watches.

This is the only place that looks at the wall clock, and only to pace the feed
(``speed``) and to decide when to publish a snapshot; neither changes a
decision. Operator commands arrive on a thread-safe queue and enter the engine
as logged ``Command`` inputs at the next event boundary.

Build one for tests::

    from core.build import build_engine
    from core.config import EngineConfig
    from core.market.sim import Simulator
    from core.session import MemorySink, Session
    sim = Simulator(seed=1)
    s = Session(build_engine(EngineConfig(), sim.spec), sim, MemorySink(), "test",
                speed=None, max_events=20_000)
    s.run()          # or in a thread; s.submit("halt", reason="...") from another

``Session.on_end`` holds what must happen when ``run`` ends, before the
caller closes the log (venue mode finishes its venue thread there and logs
its last reports): each is called in order with whether the session ended
clean; one that raises becomes the session's one-line error, and the rest
still run.
"""

from __future__ import annotations

import gc
import queue
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core.breakers import TRIPPED
from core.build import is_compiled
from core.engine import Engine
from core.errors import one_line
from core.events import Command, CommandRejected, Headline, ModelActivated, ModelFit, VenueReport
from core.snapshot import LogLine, Snapshot
from core.view import View

ACTIONS = ("halt", "resume", "reduce", "flatten", "cancel_all", "reset_breaker",
           "flatten_symbol", "block_symbol", "unblock_symbol", "set_limit")  # set_limit: arg "NAME=VALUE"
SYMBOL_ACTIONS = ("flatten_symbol", "block_symbol", "unblock_symbol")  # these need a symbol
PUBLISH_S = 0.05  # snapshot period (20 Hz): the UI polls at 25 Hz and applies what it can (~14 Hz
# under a max-speed feed, benchmarks/ui_load.py); at 10 Hz the two clocks beat and it applied ~8
RATE_S = 0.5  # the inputs/s figure is taken over at least this long (steady in the header)
MAX_GAP_MS = 2_000  # idle market time (nights, weekends) is not waited out
GC_GEN0 = 10_000  # the collector's youngest generation's threshold while a session runs (run())


class Sink(Protocol):
    def write(self, seq_start: int, events: list[object]) -> None: ...
    def flush(self) -> None: ...
    def close(self, clean: bool) -> None: ...


class MemorySink:
    """Keeps every (seq, event) in memory: tests and benchmarks."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, object]] = []
        self.flushes = 0
        self.closed: bool | None = None

    def write(self, seq_start: int, events: list[object]) -> None:
        self.rows.extend(enumerate(events, seq_start))

    def flush(self) -> None:
        self.flushes += 1

    def close(self, clean: bool) -> None:
        self.closed = clean


class Session:
    def __init__(self, engine: Engine, source: Iterable[object], sink: Sink, session_id: str,
                 *, speed: float | None = None, max_events: int | None = None,
                 source_name: str = "", keep_alive: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, log_lines: int = 200,
                 hub: Any = None, asset_classes: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.hub = hub  # core.signals.hub.SignalHub: models beside the engine, or None
        self.asset_classes = asset_classes or {}
        self.source = source
        self.sink = sink
        self.session_id = session_id
        self.speed = speed
        self.max_events = max_events
        self.source_name = source_name
        self.keep_alive = keep_alive
        self.clock = clock
        self.sleep = sleep
        # (action, arg, reason, who, done, symbol): ``done(seq, refusal)`` is called once applied
        self.commands: queue.SimpleQueue[tuple[str, str, str, str, Any, str]] = queue.SimpleQueue()
        self.stopping = False
        self.finished = False
        self.error = ""
        self.inputs = 0
        self.view = View(engine, hub, asset_classes, log_lines)  # what the panes show
        self.log = self.view.log
        self.compiled = is_compiled()
        self._rate = 0.0
        self._rate_mark = (clock(), 0)
        self._published_at = clock()
        self.on_publish: Callable[[Snapshot], None] | None = None
        self.speed_label = ""  # shown instead of the speed when set ("live": a venue's feed)
        # venue mode: carries accepted orders to the venue and its reports back as inputs
        # (core.venues.execution.VenueExecution; None otherwise)
        self.venue: Any = None
        # called in order at the end of run(), before the caller closes the log: clean -> None
        self.on_end: list[Callable[[bool], None]] = []
        if hub is not None:
            hub.on_wait = self._waiting_for_fit
        self.latest = self.snapshot()

    # ------------------------------------------------------------ control

    def submit(self, action: str, arg: str = "", reason: str = "", who: str = "",
               done: Callable[[int, str], None] | None = None, symbol: str = "") -> None:
        """Queue an operator command (any thread). It takes effect, and is
        logged, at the engine's next event boundary; then ``done(seq, refusal)``
        is called (on the engine's thread) with the command's seq and the
        engine's reason for refusing it ("" when it was not refused).
        ``symbol``: the symbol of a one-symbol command (flatten_symbol,
        block_symbol, unblock_symbol), which needs one; "" for the others."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        if (action in SYMBOL_ACTIONS) != bool(symbol):
            raise ValueError(f"{action} needs a symbol" if action in SYMBOL_ACTIONS
                             else f"{action} is for the whole book; it takes no symbol")
        self.commands.put((action, arg, reason, who, done, symbol))

    def stop(self) -> None:
        self.stopping = True

    # ------------------------------------------------------------ loop

    def run(self) -> None:
        """Process the source until it ends, ``max_events`` or ``stop()``.

        The garbage collector, for the run (both put back at the end):
        - whatever exists when the session starts (the engine, its data, the
          models, the UI) is moved out of its generations (``gc.freeze``), so
          a full collection no longer walks it each time the log writer's
          backlog of events (tuples, which it tracks) pushes one. In the
          20-name S&P file session a full collection paused the engine up
          to 197 ms, now 82, and all of them took 2.0 s, now 0.4 (with the
          threshold below; benchmarks/gc_pauses.py, with and without
          ``--untuned``). The logged crossover (benchmarks/engine_logged.py)
          spent about a sixth of its time in the collector. Nothing is
          leaked: an object frozen and dropped meanwhile is collected after
          the unfreeze.
        - the youngest generation is collected every ``GC_GEN0`` allocations
          instead of 700: the events waiting for the writer survive it
          anyway (issue 15's notes: a sixth as many young collections, 8-10%
          off 200k logged bars)."""
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], GC_GEN0), *threshold[1:])
        gc.freeze()
        try:
            self._run_feed()
            self.finished = True
            self._drain_commands()
            while self.keep_alive and not self.stopping and not self.error:
                self._idle(0.05)
        except Exception as exc:  # a fault stops trading; say why, never trade unlogged
            self.error = f"session stopped: {str(exc) or type(exc).__name__}"  # MemoryError() says nothing
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)
            self._end()
            if self.hub is not None:
                self.hub.close()
            self.publish()

    def _end(self) -> None:
        """The end hooks (``on_end``), in order; a failure is the session's
        one-line error (the first error stays) and does not skip the rest."""
        for hook in self.on_end:
            try:
                hook(not self.error)
            except Exception as exc:
                if not self.error:
                    self.error = f"session stopped: {one_line(str(exc) or type(exc).__name__)}"

    def _run_feed(self) -> None:
        paced = self.speed is not None
        due = self.clock()
        last_ts = -1
        next_pub = due + PUBLISH_S
        for ev in self.source:
            if self.stopping or self.error:
                return
            self._drain_commands()
            if paced:
                ts: int = ev.ts  # type: ignore[attr-defined]
                if last_ts >= 0:
                    due += min(max(ts - last_ts, 0), MAX_GAP_MS) / 1000.0 / self.speed  # type: ignore[operator]
                last_ts = ts
                due = self._wait_until(due)
            self.step(ev)
            self.inputs += 1
            if self.max_events is not None and self.inputs >= self.max_events:
                return
            if paced or self.inputs & 255 == 0:
                now = self.clock()
                if now >= next_pub:
                    self.publish()
                    next_pub = now + PUBLISH_S

    def _wait_until(self, due: float) -> float:
        """Sleep until ``due`` in short slices, serving commands meanwhile.
        Returns the due time, pulled forward if we fell far behind (a stalled
        machine should not cause a burst)."""
        while not self.stopping:
            now = self.clock()
            if now >= due:
                return max(due, now - 0.5)
            self._drain_commands()
            self.publish_if_due()
            self.sleep(min(due - now, 0.02))
        return due

    def _waiting_for_fit(self) -> bool:
        """The engine waits for a model fit due at this bar (market time):
        operator commands still take effect (a halt must not wait for a
        fit) and the view stays fresh. False once the session is stopping."""
        self._drain_commands()
        self.publish_if_due()
        return not self.stopping and not self.error

    def publish_if_due(self) -> None:
        if self.clock() - self._published_at >= PUBLISH_S:
            self.publish()

    def _idle(self, seconds: float) -> None:
        self._drain_commands()
        self.sleep(seconds)
        self.publish_if_due()

    def _drain_commands(self) -> None:
        if self.venue is not None:
            for r in self.venue.take_inputs(self.engine.ts):  # the venue's reports: logged inputs here
                self.step(r)
        if self.hub is not None:
            for a in self.hub.take_ready(self.engine.ts):  # a fit finished: activate at this boundary
                self.step(a)
        if self.commands.empty():
            return
        confirm: list[tuple[Callable[[int, str], None], int, str]] = []
        while not self.commands.empty():
            action, arg, reason, who, done, symbol = self.commands.get()
            seq = self.engine.seq + 1
            out = self.step(Command(self.engine.ts, symbol, action, arg, reason, who))
            if done is not None:
                refused = [e.reason for e in out if isinstance(e, CommandRejected)]
                confirm.append((done, seq, "; ".join(refused)))
        if confirm:
            self.sink.flush()  # confirmed means durable: a crash after it cannot undo a halt
            for done, seq, refusal in confirm:
                done(seq, refusal)
        self.publish()  # the operator sees the effect now, not at the next tick

    def step(self, ev: object) -> list[object]:
        """One input through the engine; its events to the log, the venue
        and the view.

        Write-ahead: where orders leave the process (a venue), every accepted
        order is committed to the log (``sink.flush``) before the venue sees
        it, so a crash can never leave an order at the venue that the log does
        not hold. The paper broker lives inside the engine: its orders and
        fills exist nowhere but here, so the log's batched commits (every
        50 ms) are enough. A crash loses the same uncommitted tail of inputs
        and decisions together; the log is a prefix of the session, never an
        order without its input or a fill without its order, and ``--resume``
        goes on from it. Operator commands are committed before they are
        confirmed, everywhere (``_drain_commands``)."""
        eng = self.engine
        base = eng.seq + 1
        accepted = eng.orders_accepted
        out = eng.process(ev)
        self.sink.write(base, out)
        if self.venue is not None:
            if eng.orders_accepted != accepted:
                self.sink.flush()  # write-ahead: the order is durable before the venue sees it
            self.venue.after_step(base, out)
        if len(out) > 1 or isinstance(ev, (Headline, Command, ModelActivated, ModelFit, VenueReport)):
            self.view.note(base, out)
        if self.hub is not None:
            try:
                follow = self.hub.after(ev, out)
            except Exception as exc:  # the signal layer stops; the engine and its breakers go on
                self.hub.close()
                self.hub = None
                self.view.hub = None
                self.log.append(LogLine(eng.seq, eng.ts, "alert", f"SIGNALS stopped: {exc}"))
                return out
            for f in follow:  # model views, activations: logged inputs
                self.step(f)
        return out

    # ------------------------------------------------------------ view



    def publish(self) -> None:
        now = self.clock()
        t0, n0 = self._rate_mark
        if now - t0 >= RATE_S:
            self._rate = (self.inputs - n0) / (now - t0)
            self._rate_mark = (now, self.inputs)
        self._published_at = now
        self.latest = self.snapshot()
        if self.on_publish is not None:
            self.on_publish(self.latest)


    def snapshot(self) -> Snapshot:
        return self.view.build(session_id=self.session_id,
                               speed=self.speed_label or ("max" if self.speed is None else f"{self.speed:g}x"),
                               events_per_s=self._rate, source=self.source_name, finished=self.finished,
                               error=self.error, compiled=self.compiled)

    def tripped(self) -> list[str]:
        return [b.name for b in self.engine.breakers if b.state == TRIPPED]
