"""The signal hub: runs the signal-layer models beside the engine.

The hub watches what the engine logs (bar closes, the in-engine momentum
signal, headlines) and answers with *inputs* for the engine:

- ``ModelSignal`` for every model's view of a symbol after each bar close,
  including the ensemble's combination, which can drive positions
  (``strategy.signal = "ensemble"``);
- ``ModelFit`` for every (re)fit, whatever came of it: its validation
  figures, the fit gate's verdict and why;
- ``ModelActivated`` when a (re)fit that ran off the engine thread cleared
  the fit gate: the new version takes effect at that logged seq, and its
  weights go to the artifact sink (stored with the session) under their sha256.

When a fit enters is the one choice here that could depend on the machine.
In market time (``market_time=True``: as-fast-as-possible runs and price
files) a fit started at bar N enters after bar N + ``activation_lag_bars``
closes, the engine waiting for it if it is still running, so the same seed,
config and data give the same log byte for byte. Otherwise (paced live runs)
it enters at the first event boundary after it finishes.

The fit gate: a fit that reports a validation Sharpe goes live only if it is
positive, rests on at least ``min_val_bars`` validation bars and its
probabilistic Sharpe ratio against the deflated threshold for the number of
fits of that model so far is at least ``min_psr`` (Bailey and Lopez de Prado;
see ``core.signals.walkforward.probabilistic_sharpe``).

Because both are logged inputs, replay reproduces every decision without
re-running a model; the artifacts let a replay check that the models
themselves reproduce (same weights from the same seq, same views).

Fits run on a single worker thread (torch and BLAS limited to one thread) so
the engine loop is not blocked while they run; when ``background`` is False
(tests, replay checks) they run inline. Fits are seeded, so the same window
gives the same weights.

Timestamps: the engine's ``ts`` is market milliseconds; models take int
nanoseconds (``ts * 1_000_000``). Nothing here reads the wall clock. A
model's validation Sharpe (per-bar returns annualised by sqrt(252)) is
re-annualised for the engine's bar length (x sqrt(bars_per_day)) before it
goes into ``ModelActivated``, so the live-Sharpe breaker compares like with
like.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from core.config import SignalsConfig
from core.events import BarClosed, BreakerChanged, Headline, ModelActivated, ModelFit, ModelSignal, Signal

NS = 1_000_000  # engine ms -> model ns
logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # "Model is not converging" is a status, not a shout
FITTED = ("hmm", "forest", "lstm", "pairs", "drl", "cnn", "transformer", "sgd")  # models trained on a window (drl: loads its policy)
ONLINE = ("sentiment", "ensemble")  # models that learn as they go (no fit needed)

ArtifactSink = Callable[[str, str, int, bytes], None]  # (sha256, model, version, blob)


@dataclass
class ModelStatus:
    """What the Signals pane shows about a model besides its views."""

    name: str
    version: int = 0
    state: str = "waiting"  # waiting / training / active / error / disabled
    fitted_at: int = 0  # engine ts (ms) of the last bar of the training window
    activated_at: int = 0  # engine ts (ms) when the version became active
    val_sharpe: float = math.nan  # as logged (annualised for the engine's bars)
    drift: str = "ok"  # ok / drift: reason
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class FitResult:
    """What a fit produced (on whichever thread ran it): the fitted model and
    its report, or why it failed."""

    name: str
    reason: str
    model: Any
    report: Any
    error: str


@dataclass
class InFlight:
    """A fit started at market time ``started`` (ms); in market time it goes
    live at bar ``due`` (-1: live, when it finishes)."""

    started: int
    due: int
    future: Future[FitResult] | None = None
    result: FitResult | None = None


class SignalHub:
    def __init__(self, cfg: SignalsConfig, symbols: list[str], *, seed: int = 0,
                 bars_per_day: float = 1.0, background: bool = True,
                 artifact_sink: ArtifactSink | None = None, fit: bool = True,
                 market_time: bool = False) -> None:
        from core.signals.base import load_all

        self.cfg = cfg
        self.symbols = list(symbols)
        self.seed = seed
        self.bars_per_day = bars_per_day
        self.artifact_sink = artifact_sink
        self.registry = load_all()
        names = [m for m in cfg.models if m]
        self.names = [m for m in names if m in self.registry]
        self.status: dict[str, ModelStatus] = {m: ModelStatus(m) for m in self.names}
        for m in names:
            if m not in self.registry:
                self.status[m] = ModelStatus(m, state="error", note="model not available")
        self.active: dict[str, Any] = {}  # name -> fitted SignalModel
        for m in self.names:
            if m in ONLINE:
                self.active[m] = self._new(m)
                self.status[m].state = "active"
        self.latest: dict[tuple[str, str], Any] = {}  # (model, symbol) -> SignalOut
        self.side: dict[str, list[str]] = {}  # model -> the side views it makes (forest: forest_drop)
        self.momentum: dict[str, tuple[float, float]] = {}  # symbol -> (value, confidence)
        self.closes: dict[str, deque[tuple[int, float]]] = {}
        self.full: dict[str, deque[BarClosed]] = {}  # the same bars whole, for models that read OHLCV (drl)
        self.bars = 0
        self.last_fit_bar = -1  # bar of the last scheduled (not retry) round of fits
        self.last_retry_bar = -1  # bar of the last round of any fits
        self.train_returns: list[float] = []
        self.pending: dict[str, tuple[str, Any, Any, bytes]] = {}  # sha -> (name, model, report, blob)
        self.versions: dict[str, int] = {}
        self._ready: list[Any] = []  # live: ModelFit / ModelActivated inputs waiting for a boundary
        # market time: fits take effect at a fixed bar after they start (deterministic);
        # otherwise (paced live runs) when they finish
        self.market_time = market_time
        self._inflight: dict[str, InFlight] = {}  # name -> the fit running or waiting for its bar
        self._retry: set[str] = set()  # models whose last fit did not clear the gate
        self.trials: dict[str, int] = {}  # name -> fits that reported a validation Sharpe (the DSR's N)
        # called while the engine waits for a fit due now (False: stop waiting, the session ends)
        self.on_wait: Callable[[], bool] | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fit") if background else None
        self._want_fit: dict[str, str] = {}  # name -> reason
        self.fit_enabled = fit  # False when re-checking a log: weights come from its artifacts

    # ------------------------------------------------------------ engine side

    def after(self, ev: object, out: list[object]) -> list[object]:
        """Inputs to feed the engine after it processed ``ev`` into ``out``."""
        inputs: list[object] = []
        if isinstance(ev, ModelActivated):
            self._activate(ev)
        elif isinstance(ev, Headline):
            inputs += self._headline(ev)
        closed: list[BarClosed] = []
        for e in out:
            if isinstance(e, BarClosed):
                closed.append(e)
            elif isinstance(e, Signal) and e.model == "momentum":
                self.momentum[e.symbol] = (e.value, e.confidence)
            elif isinstance(e, BreakerChanged) and e.name.startswith("live_sharpe:") and e.new == "TRIPPED":
                name = e.name.split(":", 1)[1]
                if name in self.status:
                    self.status[name].state = "disabled"
                    self._want_fit[name] = f"live Sharpe breaker: {e.reason}"
        if closed:
            inputs += self._bars(closed)
            if self.market_time:  # fits due at this bar go live now, the engine waiting for them
                inputs += self._due(closed[0].ts)
        inputs += self.take_ready(int(getattr(ev, "ts", 0)))
        return inputs

    def take_ready(self, ts: int) -> list[object]:
        """Live runs: the records and activations of fits that have finished
        (any thread may have made them), stamped with the engine's market
        time now (``ts``, ms): an input's time never goes backwards. Always
        empty in market time (those enter at their due bar, in ``after``)."""
        with self._lock:
            ready, self._ready = self._ready, []
        return [a._replace(ts=max(ts, a.ts)) for a in ready]

    def close(self, wait: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)

    # ------------------------------------------------------------ bars

    def _bars(self, closed: list[BarClosed]) -> list[object]:
        ts = closed[0].ts
        self.bars += 1
        for b in closed:
            dq = self.closes.get(b.symbol)
            if dq is None:
                dq = self.closes[b.symbol] = deque(maxlen=self.cfg.history_bars)
            dq.append((b.ts, b.close))
            self.full.setdefault(b.symbol, deque(maxlen=self.cfg.history_bars)).append(b)
        for b in closed:  # every model sees every bar first (a pair emits both legs on its second)
            for name in self.names:
                model = self.active.get(name)
                if model is None or name == "ensemble" or self.status[name].state == "error":
                    continue
                try:
                    got = _feed(model, b)
                except Exception as exc:  # a broken model is switched off, never the engine
                    self._fail(name, f"on_bar: {exc}")
                    continue
                for o in got:
                    if math.isfinite(o.value) and math.isfinite(o.confidence):
                        if o.model != name:  # a side view (the forest's forest_drop): logged, not ensembled
                            sides = self.side.setdefault(name, [])
                            if o.model not in sides:
                                sides.append(o.model)
                        self.latest[(o.model, o.symbol)] = o
        inputs: list[object] = []
        for b in closed:
            outs = []
            for name in self.names:
                o = self.latest.get((name, b.symbol))
                if o is not None and name != "ensemble" and self.status[name].state == "active":
                    for side in self.side.get(name, ()):  # before the model's own view
                        so = self.latest.get((side, b.symbol))
                        if so is not None:
                            inputs.append(self._signal(b.ts, so, name))
                    outs.append(o)
                    inputs.append(self._signal(b.ts, o))
            inputs += self._ensemble(b, outs)
        self._schedule(ts)
        return inputs

    def _ensemble(self, b: BarClosed, outs: list[Any]) -> list[object]:
        ens = self.active.get("ensemble")
        if ens is None:
            return []
        from core.signals.base import SignalOut

        mom = self.momentum.get(b.symbol)
        views = list(outs)
        if mom is not None and mom[1] >= 1.0:
            views.append(SignalOut(b.ts * NS, b.symbol, "momentum", mom[0], 1.0))
        try:
            ens.on_bar(b.ts * NS, b.symbol, b.close)  # scores the last views by this bar's return
            o = ens.combine(b.symbol, views)
        except Exception as exc:
            self._fail("ensemble", f"combine: {exc}")
            return []
        self.latest[("ensemble", b.symbol)] = o
        return [self._signal(b.ts, o)]

    def _signal(self, ts: int, o: Any, parent: str = "") -> ModelSignal:
        """``o`` as a logged view; a side view (``parent`` its model) carries its model's version."""
        detail = o.detail or {}
        scale = float(detail.get("risk_scale", 1.0)) if isinstance(detail, dict) else 1.0
        if o.model == "ensemble":  # the ensemble carries the regime's scale when one is known
            reg = self.latest.get(("hmm", o.symbol))
            if reg is not None and isinstance(reg.detail, dict):
                scale = float(reg.detail.get("risk_scale", 1.0))
        owner = parent or o.model
        return ModelSignal(ts, o.symbol, o.model, float(o.value), float(o.confidence),
                           scale if math.isfinite(scale) else 0.0, self.status[owner].version
                           if owner in self.status else 0)

    def _headline(self, h: Headline) -> list[object]:
        model = self.active.get("sentiment")
        if model is None or h.symbol == "":
            return []
        try:
            got = model.on_headline(h.ts * NS, h.symbol, h.text)
        except Exception as exc:
            self._fail("sentiment", f"on_headline: {exc}")
            return []
        for o in got:
            self.latest[("sentiment", o.symbol)] = o
        return [self._signal(h.ts, o) for o in got]

    # ------------------------------------------------------------ fitting

    def _schedule(self, ts: int) -> None:
        cfg = self.cfg
        if self.bars < cfg.fit_bars or not self.fit_enabled:
            return
        due: dict[str, str] = dict(self._want_fit)
        self._want_fit.clear()
        if self.last_fit_bar < 0:
            due.update({m: "first fit" for m in self.names if m in FITTED})
        elif cfg.retrain_every and self.bars - self.last_fit_bar >= cfg.retrain_every:
            due.update({m: f"scheduled refit every {cfg.retrain_every} bars" for m in self.names if m in FITTED})
        elif cfg.drift_check_every and self.bars % cfg.drift_check_every == 0 \
                and self.bars - self.last_fit_bar >= cfg.min_refit_bars:
            why = self._drift()
            if why:
                due.update({m: why for m in self.names if m in FITTED})
        if self.bars - max(self.last_fit_bar, self.last_retry_bar) >= cfg.min_refit_bars:
            # a fit that did not validate: try again
            with self._lock:
                retry = sorted(self._retry)
            due.update({m: "retry: the last fit did not clear the gate" for m in retry if m not in due})
        with self._lock:
            busy = set(self._inflight)
        due = {m: r for m, r in due.items() if m in FITTED and m not in busy and self.status[m].state != "training"}
        if not due:
            return
        frame = self._frame()
        if frame is None:
            return
        self.last_retry_bar = self.bars
        if not all(r.startswith("retry") for r in due.values()):
            # retries alone do not move the schedule: a model that keeps failing the
            # gate must not put off the others' scheduled refits
            self.last_fit_bar = self.bars
        self.train_returns = self._returns(frame)
        lag = cfg.activation_lag_bars if self.market_time else -1
        for name, reason in sorted(due.items()):
            self.status[name].state = "training" if name not in self.active else self.status[name].state
            self.status[name].note = f"training: {reason}"
            job = InFlight(ts, self.bars + lag if lag >= 0 else -1)
            with self._lock:
                self._inflight[name] = job
            if not self.market_time:
                if self._pool is None:
                    self._live_fit(name, frame, reason, ts)
                else:
                    self._pool.submit(self._live_fit, name, frame, reason, ts)  # never raises
            elif self._pool is None:
                job.result = self._fit(name, frame, reason)
            else:
                job.future = self._pool.submit(self._fit, name, frame, reason)  # never raises

    def _frame(self) -> Any:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        cols = {s: pd.Series({t * NS: c for t, c in dq}) for s, dq in sorted(self.closes.items()) if len(dq) >= 2}
        if not cols:
            return None
        frame = pd.DataFrame(cols).sort_index().ffill().dropna()
        frame.index = frame.index.astype("int64")
        return frame if len(frame) >= 30 else None

    @staticmethod
    def _returns(frame: Any) -> list[float]:
        r = frame.pct_change().iloc[1:].to_numpy().ravel()
        return [float(x) for x in r if math.isfinite(x)]

    def _fit(self, name: str, frame: Any, reason: str) -> FitResult:
        """Runs on the fit thread (or inline). Never raises: a failed fit is a
        result. Touches no shared state but its status note (progress)."""
        model: Any = None
        try:
            _one_thread(name)
            model = self._new(name)
            st = self.status[name]
            model.progress = lambda done, what: setattr(st, "note", f"training {done:.0%}: {what} ({reason})"[:200])
            report = model.fit(frame)
            model.progress = None  # not pickled with the weights
            return FitResult(name, reason, model, report, "")
        except Exception as exc:
            if model is not None:
                model.progress = None
            return FitResult(name, reason, None, None, str(exc) or type(exc).__name__)

    def _gate(self, name: str, report: Any) -> tuple[str, float, int, float, int]:
        """The fit gate: ("" or why not, validation Sharpe (engine bars),
        validation bars, PSR against the deflated threshold, trials so far).
        A model that reports no validation Sharpe (regimes, cointegrated
        pairs) is not a return forecast and goes live on its own fit."""
        from core.signals.walkforward import ANNUAL, probabilistic_sharpe

        m = report.metrics
        val = float(m.get("val_sharpe", math.nan))
        vs = val * math.sqrt(self.bars_per_day)
        if not math.isfinite(val):
            return "", vs, 0, math.nan, self.trials.get(name, 0)
        n = int(m.get("val_sharpe_bars", 0) or 0)
        trials = self.trials[name] = self.trials.get(name, 0) + 1
        psr = probabilistic_sharpe(val / ANNUAL, n, float(m.get("val_skew", 0.0)),
                                   float(m.get("val_kurt", 3.0)), trials)
        cfg = self.cfg
        if val <= 0.0:
            why = f"validation Sharpe {vs:.2f} <= 0"
        elif n < cfg.min_val_bars:
            why = f"{n} validation bars < signals.min_val_bars {cfg.min_val_bars}"
        elif cfg.min_psr > 0.0 and not psr >= cfg.min_psr:
            why = (f"probabilistic Sharpe {psr:.3f} < signals.min_psr {cfg.min_psr:g} "
                   f"(Sharpe {vs:.2f} over {n} bars, deflated for {trials} fit(s))")
        else:
            why = ""
        return why, vs, n, psr, trials

    def _finish(self, res: FitResult, started: int, ts: int) -> list[object]:
        """A finished fit's logged inputs, at market time ``ts``: its
        ``ModelFit`` and, when it cleared the gate, its ``ModelActivated``.
        Called on the engine thread (market time) or the fit thread (live)."""
        name, reason = res.name, res.reason
        nan = math.nan
        with self._lock:
            self._inflight.pop(name, None)
            st = self.status[name]
            if res.model is None or res.report is None:
                st.state = "error" if name not in self.active else "active"
                st.note = f"fit failed: {res.error}"[:200]
                return [ModelFit(ts, "", name, 0, "failed", nan, 0, nan, self.trials.get(name, 0), started,
                                 reason, res.error[:200])]
            why, vs, n, psr, trials = self._gate(name, res.report)
            if why:  # a model that does not validate does not go live
                st.note = f"refit not activated: {why} ({reason})"[:200]
                if name not in self.active:
                    st.state = "waiting"
                self._retry.add(name)
                return [ModelFit(ts, "", name, 0, "rejected", vs, n, psr, trials, started, reason, why)]
            self._retry.discard(name)
            version = self.versions.get(name, 0) + 1  # a version number only for a fit that worked
        model = res.model
        try:
            model.version = version
            blob = model.to_bytes()
        except Exception as exc:
            with self._lock:
                st.state = "error" if name not in self.active else "active"
                st.note = f"fit failed: weights not serialisable: {exc}"[:200]
            return [ModelFit(ts, "", name, 0, "failed", vs, n, psr, trials, started, reason,
                             f"weights not serialisable: {exc}"[:200])]
        sha = hashlib.sha256(blob).hexdigest()
        if self.artifact_sink is not None:
            try:  # queued in the log before the activation can be: a crash never leaves one without the other
                self.artifact_sink(sha, name, version, blob)
            except Exception as exc:
                with self._lock:
                    st.note = f"weights not stored, not activated: {exc}"[:200]
                return [ModelFit(ts, "", name, 0, "failed", vs, n, psr, trials, started, reason,
                                 f"weights not stored: {exc}"[:200])]
        with self._lock:
            self.versions[name] = version
            self.pending[sha] = (name, model, res.report, blob)
        return [ModelFit(ts, "", name, version, "active", vs, n, psr, trials, started, reason, ""),
                ModelActivated(ts, "", name, version, sha, vs, reason)]

    def _live_fit(self, name: str, frame: Any, reason: str, ts: int) -> None:
        """Live (paced) runs: fit, then queue the result for the next event
        boundary, whenever that is (``take_ready``)."""
        done = self._finish(self._fit(name, frame, reason), ts, ts)
        with self._lock:
            self._ready += done

    def _due(self, ts: int) -> list[object]:
        """Market time: the fits due at this bar, in (due bar, name) order,
        waiting for any still running. Their results enter now, whatever the
        machine's load was."""
        due = sorted((f.due, n) for n, f in self._inflight.items() if f.due >= 0 and f.due <= self.bars)
        out: list[object] = []
        for _, name in due:
            job = self._inflight[name]
            res = job.result if job.future is None else self._wait(job.future)
            if res is None:  # the session is stopping: this fit never enters
                return out
            out += self._finish(res, job.started, ts)
        return out

    def _wait(self, future: Future[FitResult]) -> FitResult | None:
        """A running fit's result; meanwhile ``on_wait`` (the session: publish
        a snapshot, serve operator commands) every 50 ms. None if ``on_wait``
        says the session is stopping."""
        from concurrent.futures import TimeoutError as Pending

        while True:
            try:
                return future.result(timeout=0.05 if self.on_wait is not None else None)
            except Pending:
                assert self.on_wait is not None
                if not self.on_wait():
                    return None

    def _activate(self, a: ModelActivated) -> None:
        with self._lock:
            got = self.pending.pop(a.artifact, None)
        if got is None:
            return  # replayed activation without its fit here: the logged views stand
        name, model, report, _ = got
        self._prime(model)
        self.active[name] = model
        st = self.status[name]
        st.version, st.state, st.activated_at = a.version, "active", a.ts
        st.fitted_at = int(report.train_end) // NS
        st.val_sharpe, st.metrics, st.note = a.val_sharpe, dict(report.metrics), a.reason
        if "n_pairs" in report.metrics:
            st.note += f"; {int(report.metrics['n_pairs'])} cointegrated pair(s) in the window"
        st.drift = "ok"

    def load(self, name: str, blob: bytes, a: ModelActivated) -> None:
        """Activate a stored artifact (replay checks): same weights, same seq."""
        cls = type(self._new(name))
        model = cls.from_bytes(blob)
        from core.signals.base import FitReport

        with self._lock:
            self.pending[a.artifact] = (name, model, FitReport(name, a.version, 0, 0), blob)
        self._activate(a)

    def _prime(self, model: Any) -> None:
        """Bring a freshly fitted model's per-bar state up to now: feed it the
        bars that closed after its training window ended (while it trained)."""
        end = (model.fitted_at or 0) // NS
        rows = sorted((b.ts, b.symbol, b) for dq in self.full.values() for b in dq if b.ts > end)
        for _, _, b in rows:
            try:
                _feed(model, b)
            except Exception:
                break

    def _drift(self) -> str:
        """KS test of the latest returns against the training window's."""
        from core.signals.drift import ks_drift

        frame = self._frame()
        if frame is None or not self.train_returns:
            return ""
        n = self.cfg.drift_check_every
        recent = self._returns(frame.iloc[-(n + 1):])
        if len(recent) < 20:
            return ""
        drifted, stat, p = ks_drift(self.train_returns, recent, alpha=self.cfg.drift_alpha)
        label = f"KS {stat:.2f}, p={p:.3f}"
        for s in self.status.values():
            if s.name in FITTED:
                s.drift = f"drift ({label})" if drifted else "ok"
        return f"drift: returns changed ({label})" if drifted else ""

    def _new(self, name: str) -> Any:
        params: dict[str, Any] = {**self.cfg.params.get(name, {}), "seed": self.seed}  # [signals.<name>]
        if name == "ensemble":
            params["auto_update"] = True
        if name == "drl":
            params.update(self.cfg.drl)
        return self.registry[name](params)

    def _fail(self, name: str, why: str) -> None:
        st = self.status.get(name)
        if st is not None:
            st.state = "error"
            st.note = why[:200]


def _feed(model: Any, b: BarClosed) -> list[Any]:
    """One closed bar to a model: the whole bar to one that reads OHLCV, else its close."""
    if hasattr(model, "on_bar_ohlcv"):
        return list(model.on_bar_ohlcv(b.ts * NS, b.symbol, b.open, b.high, b.low, b.close, b.volume))
    return list(model.on_bar(b.ts * NS, b.symbol, b.close))


def _one_thread(name: str) -> None:
    """Training inside the console: one thread for BLAS and torch (2 cores:
    oversubscription made an LSTM fit 100x slower)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if name not in ("lstm", "cnn", "transformer") and "torch" not in sys.modules:
        return
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:
        pass


@dataclass(frozen=True)
class ModelCheck:
    """Result of re-running the models over a logged session."""

    views: int  # logged model views recomputed
    activations: int  # stored weights loaded at their logged seq
    mismatch: str  # "" when every view matched exactly
    unlogged: int = 0  # views of the last input that a crash kept out of the log
    pending: tuple[ModelSignal, ...] = ()  # those views, for resume to log first


def recheck(rows: Any, load_artifact: Callable[[str], bytes], cfg: SignalsConfig,
            symbols: list[str], *, seed: int, bars_per_day: float) -> ModelCheck:
    """Prove the models reproduce: feed a session's logged rows (decoded
    events in seq order, as ``(seq, event, is_input)``) to a hub that never
    fits, load each ``ModelActivated``'s stored weights at its logged seq, and
    compare every view it makes with the logged ``ModelSignal`` inputs."""
    hub = SignalHub(cfg, symbols, seed=seed, bars_per_day=bars_per_day, background=False, fit=False)
    try:
        return catch_up(hub, rows, load_artifact)
    finally:
        hub.close()


def catch_up(hub: SignalHub, rows: Any, load_artifact: Callable[[str], bytes]) -> ModelCheck:
    """Bring ``hub`` (not fitting) to the state the live hub had at the log's
    end, checking each logged view on the way: what ``recheck`` proves and
    what resume needs, so a resumed session's models continue exactly."""
    was = hub.fit_enabled
    hub.fit_enabled = False
    expected: list[ModelSignal] = []
    views = activations = 0
    current: object = None
    out: list[object] = []
    mismatch = ""

    def flush() -> None:
        nonlocal expected
        if current is not None:
            expected += [e for e in hub.after(current, out) if isinstance(e, ModelSignal)]

    for seq, ev, is_input in rows:
        if not is_input:
            out.append(ev)
            continue
        flush()
        current, out = ev, []
        if isinstance(ev, ModelActivated):
            if ev.model in hub.status:
                hub.load(ev.model, load_artifact(ev.artifact), ev)
                hub.versions[ev.model] = max(hub.versions.get(ev.model, 0), ev.version)
                hub.last_fit_bar = hub.last_retry_bar = hub.bars
                activations += 1
        elif isinstance(ev, ModelFit):
            if ev.model in hub.status and math.isfinite(ev.val_sharpe):  # the deflated Sharpe's trial count
                hub.trials[ev.model] = max(hub.trials.get(ev.model, 0), ev.trials)
        elif isinstance(ev, ModelSignal) and not mismatch:
            if not expected:
                mismatch = f"seq {seq}: logged {ev.model} view of {ev.symbol} that the models did not make now"
                continue
            want = expected.pop(0)
            if want != ev:
                mismatch = f"seq {seq}: logged {ev} but the models made {want}"
            views += 1
    flush()
    hub.fit_enabled = was
    # views past the log's end: the log stopped mid-step (a crash); the
    # engine's replay reports the same truncation for its decisions
    return ModelCheck(views if not mismatch else views - 1, activations, mismatch, len(expected),
                      tuple(expected))
