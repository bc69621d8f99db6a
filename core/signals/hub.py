"""The signal hub: runs the signal-layer models beside the engine.

The hub watches what the engine logs (bar closes, the in-engine momentum
signal, headlines) and answers with *inputs* for the engine:

- ``ModelSignal`` for every model's view of a symbol after each bar close,
  including the ensemble's combination, which can drive positions
  (``strategy.signal = "ensemble"``);
- ``ModelActivated`` when a (re)fit that ran off the engine thread has
  finished: the new version takes effect at that logged seq, and its weights
  go to the artifact sink (stored with the session) under their sha256.

Because both are logged inputs, replay reproduces every decision without
re-running a model; the artifacts let a replay check that the models
themselves reproduce (same weights from the same seq, same views).

Fits run on a single worker thread (torch and BLAS limited to one thread) so
the engine loop is never blocked; when ``background`` is False (tests, replay
checks) they run inline. Fits are seeded, so the same window gives the same
weights; only *when* a fit finishes depends on the machine, and that moment
is the logged ``ModelActivated``.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from core.config import SignalsConfig
from core.events import BarClosed, BreakerChanged, Headline, ModelActivated, ModelSignal, Signal

NS = 1_000_000  # engine ms -> model ns
logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # "Model is not converging" is a status, not a shout
FITTED = ("hmm", "forest", "lstm", "pairs")  # models trained on a window
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


class SignalHub:
    def __init__(self, cfg: SignalsConfig, symbols: list[str], *, seed: int = 0,
                 bars_per_day: float = 1.0, background: bool = True,
                 artifact_sink: ArtifactSink | None = None, fit: bool = True) -> None:
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
        self.momentum: dict[str, tuple[float, float]] = {}  # symbol -> (value, confidence)
        self.closes: dict[str, deque[tuple[int, float]]] = {}
        self.bars = 0
        self.last_fit_bar = -1
        self.train_returns: list[float] = []
        self.pending: dict[str, tuple[str, Any, Any, bytes]] = {}  # sha -> (name, model, report, blob)
        self.versions: dict[str, int] = {}
        self._ready: list[ModelActivated] = []
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
        inputs += self.take_ready(int(getattr(ev, "ts", 0)))
        return inputs

    def take_ready(self, ts: int) -> list[ModelActivated]:
        """Activations of fits that have finished (any thread may have made
        them), stamped with the engine's market time now (``ts``, ms): an
        input's time never goes backwards."""
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
        for b in closed:  # every model sees every bar first (a pair emits both legs on its second)
            for name in self.names:
                model = self.active.get(name)
                if model is None or name == "ensemble" or self.status[name].state == "error":
                    continue
                try:
                    got = model.on_bar(b.ts * NS, b.symbol, b.close)
                except Exception as exc:  # a broken model is switched off, never the engine
                    self._fail(name, f"on_bar: {exc}")
                    continue
                for o in got:
                    if math.isfinite(o.value) and math.isfinite(o.confidence):
                        self.latest[(name, o.symbol)] = o
        inputs: list[object] = []
        for b in closed:
            outs = []
            for name in self.names:
                o = self.latest.get((name, b.symbol))
                if o is not None and name != "ensemble" and self.status[name].state == "active":
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

    def _signal(self, ts: int, o: Any) -> ModelSignal:
        detail = o.detail or {}
        scale = float(detail.get("risk_scale", 1.0)) if isinstance(detail, dict) else 1.0
        if o.model == "ensemble":  # the ensemble carries the regime's scale when one is known
            reg = self.latest.get(("hmm", o.symbol))
            if reg is not None and isinstance(reg.detail, dict):
                scale = float(reg.detail.get("risk_scale", 1.0))
        return ModelSignal(ts, o.symbol, o.model, float(o.value), float(o.confidence),
                           scale if math.isfinite(scale) else 0.0, self.status[o.model].version
                           if o.model in self.status else 0)

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
        if self.bars - self.last_fit_bar >= cfg.min_refit_bars:  # a fit that did not validate: try again
            due.update({m: "retry: the last fit did not validate" for m, st in self.status.items()
                        if st.note.startswith("refit not activated") and m not in due})
        due = {m: r for m, r in due.items() if m in FITTED and self.status[m].state != "training"}
        if not due:
            return
        frame = self._frame()
        if frame is None:
            return
        self.last_fit_bar = self.bars
        self.train_returns = self._returns(frame)
        for name, reason in sorted(due.items()):
            self.status[name].state = "training" if name not in self.active else self.status[name].state
            self.status[name].note = f"training: {reason}"
            job = (name, frame, reason, ts)
            if self._pool is None:
                self._fit(*job)
            else:
                self._pool.submit(self._fit, *job)  # _fit never raises: failures become a status

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

    def _fit(self, name: str, frame: Any, reason: str, ts: int) -> None:
        """Runs on the fit thread (or inline). Never raises: a failed fit is a status."""
        try:
            _one_thread(name)
            model = self._new(name)
            st = self.status[name]
            model.progress = lambda done, what: setattr(st, "note", f"training {done:.0%}: {what} ({reason})"[:200])
            report = model.fit(frame)
            model.progress = None  # not pickled with the weights
            val = float(report.metrics.get("val_sharpe", math.nan))
            if math.isfinite(val) and val <= 0.0:
                with self._lock:  # a model that does not validate does not go live
                    st = self.status[name]
                    st.note = f"refit not activated: validation Sharpe {val:.2f} <= 0 ({reason})"[:200]
                    if name not in self.active:
                        st.state = "waiting"
                return
            with self._lock:  # a version number only for a fit that worked
                version = self.versions.get(name, 0) + 1
                self.versions[name] = version
            model.version = version
            blob = model.to_bytes()
        except Exception as exc:
            with self._lock:
                self.status[name].state = "error" if name not in self.active else "active"
                self.status[name].note = f"fit failed: {exc}"[:200]
            return
        sha = hashlib.sha256(blob).hexdigest()
        vs = float(report.metrics.get("val_sharpe", math.nan)) * math.sqrt(self.bars_per_day)
        if self.artifact_sink is not None:
            try:  # queued in the log before the activation can be: a crash never leaves one without the other
                self.artifact_sink(sha, name, version, blob)
            except Exception as exc:
                with self._lock:
                    self.status[name].note = f"weights not stored, not activated: {exc}"[:200]
                return
        with self._lock:
            self.pending[sha] = (name, model, report, blob)
            self._ready.append(ModelActivated(ts, "", name, version, sha, vs, reason))

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
        rows = sorted((t, s, c) for s, dq in self.closes.items() for t, c in dq if t > end)
        for t, s, c in rows:
            try:
                model.on_bar(t * NS, s, c)
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
        params: dict[str, Any] = {"seed": self.seed}
        if name == "ensemble":
            params["auto_update"] = True
        return self.registry[name](params)

    def _fail(self, name: str, why: str) -> None:
        st = self.status.get(name)
        if st is not None:
            st.state = "error"
            st.note = why[:200]


def _one_thread(name: str) -> None:
    """Training inside the console: one thread for BLAS and torch (2 cores:
    oversubscription made an LSTM fit 100x slower)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if name != "lstm" and "torch" not in sys.modules:
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
                hub.last_fit_bar = hub.bars
                activations += 1
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
