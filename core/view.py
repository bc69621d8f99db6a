"""What the panes show (the snapshot builder): positions, orders, signals,
breakers, risk, books, options and the log pane's lines, built from the
engine's state and its logged figures (the risk pane's VaR and CVaR lines and
each position's share of VaR come from the last logged risk snapshot, so
replay proves the numbers on the screen). The session runner calls ``note``
with each input's events and ``build`` when it publishes; ``console watch``
builds the same view over a replayed engine.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from core.breakers import TRIPPED
from core.engine import SETTABLE_LIMITS, Engine
from core.events import (
    AllocationChanged, BookCross, BreakerChanged, Command, CommandRejected, Fill, Headline, LimitChanged,
    ModelActivated, ModelFit, OrderAccepted, OrderCancelled, OrderExpired, OrderIntent, OrderRejected, ParentDone,
    ParentOrder, ProtectivePut, Quarantined, RiskSnapshot, StateChanged, SymbolBlocked, VenueReport,
)
from core.kernels import contrib_of
# at import, not at the first open position: it loads scipy.stats (0.6 s here),
# which stalled the engine's thread mid-session at its first publish with a book
from core.risk.stress import PRICE_SCENARIOS, stress_test
from core.snapshot import (
    BookRow, BreakerRow, LogLine, ModelRow, OptionRow, OrderRow, PositionRow, RiskView, SignalRow, Snapshot,
    StressLine,
)


class View:
    def __init__(self, engine: Engine, hub: Any = None, asset_classes: dict[str, str] | None = None,
                 log_lines: int = 200) -> None:
        self.engine = engine
        self.hub = hub  # core.signals.hub.SignalHub whose models' rows are shown, or None
        self.asset_classes = asset_classes or {}
        self.log: deque[LogLine] = deque(maxlen=log_lines)
        self._stress_cache: tuple[Any, tuple[StressLine, ...]] = (((), ()), ())
        # (model, symbol) -> (what the explanation was of, the explanation)
        self._explain_cache: dict[tuple[str, str], tuple[Any, tuple[tuple[str, float], ...]]] = {}
        # drawdown times, from the logged risk snapshots (market ms)
        self._peak = (0.0, 0)  # (NAV, ts) of the running peak
        self._max_dd = (0.0, 0, 0)  # (drawdown, peak ts, trough ts)
        # the book's delta at each bar close of the current market day (overlay on)
        self._deltas: deque[float] = deque(maxlen=2_000)
        self._delta_day = -1

    def build(self, *, session_id: str, speed: str, events_per_s: float, source: str, finished: bool,
              error: str, compiled: bool) -> Snapshot:
        """What the panes show now."""
        eng = self.engine
        pf = eng.portfolio
        nav = pf.nav()
        positions = tuple(
            PositionRow(s, p.qty, p.avg_price, pf.last.get(s, p.avg_price), pf.market_value(s),
                        p.qty * (pf.last.get(s, p.avg_price) - p.avg_price), p.realized,
                        pf.market_value(s) / nav if nav else 0.0)
            for s, p in pf.positions.items() if p.qty != 0.0 or p.realized != 0.0)
        orders = tuple(OrderRow(p.parent_id, p.symbol, p.qty - p.filled, p.ref_price, p.origin,
                                p.start_ts, p.algo, 0.0, p.filled, 0)
                       for p in eng.broker.parents.values())
        orders += tuple(OrderRow(o.order_id, o.symbol, o.qty - o.filled, o.ref_price, o.origin, o.ts,
                                 o.order_type(), o.limit, o.filled, o.parent_id)
                        for o in eng.broker.open.values())
        signals = tuple(SignalRow(s.symbol, s.model, s.value, s.confidence,
                                  pf.last.get(s.symbol, 0.0), s.ts) for s in eng.signals.values())
        if self.hub is not None:
            signals += self._model_rows()
        breakers = tuple(BreakerRow(b.name, b.state, b.value, b.limit,
                                    b.value / b.limit if b.limit else 0.0, b.last_trip_ts, b.reason,
                                    b.unit)
                         for b in eng.breakers)
        gross = pf.gross()
        risk = RiskView(nav, pf.cash, gross, pf.net(), gross / nav if nav > 0 else float("inf"),
                        nav - eng.risk.day_open_nav, pf.realized, pf.unrealized(), eng.risk.drawdown,
                        eng.risk.max_drawdown, eng.risk.var_book if eng.new_rules else eng.risk.var95(), eng.risk.peak_nav,
                        (("commissions", f"{pf.commissions:,.2f}"),
                         ("orders accepted", str(eng.orders_accepted)),
                         ("halts", str(eng.halts)), ("bad prices", str(eng.bad_prices)),
                         *self._var_lines(),
                         ("DD peak at", _clock(self._peak[1])),
                         ("max DD peak→trough", f"{_clock(self._max_dd[1])} → {_clock(self._max_dd[2])}"
                          if self._max_dd[0] > 0 else "-"))
                        + self._limits_set() + self._greeks(),
                        self._contributions(),
                        self._sectors(nav), self._stress(nav),
                        eng.p.var_measure if eng.new_rules else "nav_parametric", eng.p.initial_cash,
                        eng.router.gate.max_sector_fraction)
        return Snapshot(
            session_id=session_id, seq=eng.seq, market_ts=eng.ts,
            speed=speed, events_per_s=events_per_s, source=source, trading_state=eng.state.state,
            risk=risk, positions=positions, open_orders=orders, signals=signals,
            breakers=breakers, rejections=tuple(sorted(eng.gate.counts.items())),
            log=tuple(self.log), finished=finished, error=error,
            compiled=compiled, books=self._book_rows(), options=self._option_rows(),
            blocked=tuple(sorted(eng.router.gate.blocked)),
            models=self._model_perf(), limits=self._limits(),
        )


    def note(self, base: int, out: list[object]) -> None:
        """The log-pane lines for one input's events."""
        why: dict[int, str] = {}  # intent seq -> its reason, for the ORDER line that accepts it
        for i, e in enumerate(out):
            if isinstance(e, RiskSnapshot):
                self._track_drawdown(e.nav, e.ts)
                if self.engine.overlay is not None:
                    self._track_delta(e.ts)
                continue
            if isinstance(e, OrderIntent):
                why[base + i] = e.reason
                continue
            if type(e) not in DESCRIBED:  # most events (bars, signals, positions): no line
                continue
            line = describe(e)
            if line is not None:
                level, text = line
                if isinstance(e, OrderAccepted) and why.get(e.intent_seq):
                    text += f" why: {why[e.intent_seq]}"  # the trader's first question
                self.log.append(LogLine(base + i, e.ts, level, text))  # type: ignore[attr-defined]

    def _track_drawdown(self, nav: float, ts: int) -> None:
        if nav >= self._peak[0]:
            self._peak = (nav, ts)
        elif self._peak[0] > 0:
            dd = 1.0 - nav / self._peak[0]
            if dd > self._max_dd[0]:
                self._max_dd = (dd, self._peak[1], ts)

    def _model_perf(self) -> tuple[ModelRow, ...]:
        """Each model with a live-Sharpe breaker: validation vs live Sharpe."""
        eng = self.engine
        vw = eng.views
        out = []
        for model, b in eng.brk.models.items():
            window = vw.returns.get(model)
            vs = vw.val_sharpe.get(model, math.nan)
            annual = math.sqrt(252.0 * eng.p.bars_per_day)
            symbols = tuple((sym, _sharpe(w, annual))
                            for sym, w in sorted(vw.symbol_returns.get(model, {}).items()))
            out.append(ModelRow(model, vw.versions.get(model, 0), vs, vw.live_sharpe.get(model, math.nan),
                                window.count if window is not None else 0,
                                window.capacity if window is not None else 0, b.state,
                                eng.p.live_sharpe_ratio * vs, symbols))
        return tuple(out)

    def _limits(self) -> tuple[tuple[str, float, float], ...]:
        eng = self.engine
        out = []
        for name, spec in SETTABLE_LIMITS.items():
            now = float(getattr(eng.router.gate, name)) if spec[0] == "gate" else eng.brk.by_name[spec[0]].limit
            out.append((name, now, eng.limits_configured.get(name, now)))
        return tuple(out)

    def _limits_set(self) -> tuple[tuple[str, str], ...]:
        """The limits the operator changed this session (set_limit): now, and
        what the config said. The breakers' limits show in their own rows too."""
        changed = self.engine.limits_configured
        return tuple((f"limit {name}", f"{limit_text(name, now)} (config {limit_text(name, was)})")
                     for name, now, was in self._limits() if name in changed)

    def _puts_delta(self) -> float:
        """The puts' delta in currency per 1.00 move of their underlyings (0 without the overlay)."""
        ov = self.engine.overlay
        pf = self.engine.portfolio
        delta = 0.0
        if ov is not None:
            for h in ov.holdings.values():
                delta += h.delta * h.units() * pf.last.get(h.symbol, 0.0)
        return delta

    def _track_delta(self, ts: int) -> None:
        """The book's delta (stock + puts) at each bar close of the market day, for its chart."""
        day = ts // 86_400_000
        if day != self._delta_day:
            self._delta_day = day
            self._deltas.clear()
        self._deltas.append(self.engine.portfolio.net() + self._puts_delta())

    def _greeks(self) -> tuple[tuple[str, str], ...]:
        """The book's delta (currency per 1.00 move, stock plus puts) and the
        puts' gamma (change of that delta per 1% move), vega (per vol point)
        and theta (per calendar day), from the marks of the last bar close;
        and the book's delta over the market day so far, as a chart."""
        eng = self.engine
        ov = eng.overlay
        pf = eng.portfolio
        if ov is None:
            return (("options overlay", "off ([hedge] protect)"),)
        gamma = vega = theta = 0.0
        for h in ov.holdings.values():
            s, u = pf.last.get(h.symbol, 0.0), h.units()
            gamma += h.gamma * u * s * s / 100.0
            vega += h.vega * u / 100.0
            theta += h.theta * u / 365.0
        delta = self._puts_delta()
        return (("delta $ stock + puts", f"{pf.net() + delta:,.0f}"),
                ("delta $ today", delta_chart(list(self._deltas))), ("delta $ puts", f"{delta:,.0f}"),
                ("gamma $ per 1%", f"{gamma:,.0f}"), ("vega $ per vol pt", f"{vega:,.0f}"),
                ("theta $ per day", f"{theta:,.0f}"),
                ("puts value / paid", f"{ov.value():,.0f} / {ov.cost_held():,.0f}"),
                ("puts P&L to date", f"{ov.pnl():+,.0f}"))

    def _option_rows(self) -> tuple[OptionRow, ...]:
        ov = self.engine.overlay
        if ov is None:
            return ()
        return tuple(OptionRow(h.option_id, h.symbol, h.contracts, h.units(), h.strike, h.expiry_ms, h.cost,
                               h.mark, h.vol, h.delta * h.units(), (h.mark - h.cost) * h.units())
                     for h in ov.holdings.values())

    def _book_rows(self) -> tuple[BookRow, ...]:
        eng = self.engine
        last = eng.portfolio.last
        rows: list[BookRow] = []
        for i, name in enumerate(eng.books):
            bp = eng.book_set.pf[i]
            mv = unreal = 0.0
            syms: list[tuple[str, float, float, float]] = []
            for s, p in bp.positions.items():
                px = last.get(s, p.avg_price)
                v, u = p.qty * px, p.qty * (px - p.avg_price)
                mv += v
                unreal += u
                if p.qty != 0.0 or p.realized != 0.0:
                    syms.append((s, p.qty, v, p.realized + u))
            rows.append(BookRow(name, eng.book_set.weights[i], mv, bp.realized, unreal, bp.commissions,
                                bp.realized + unreal - bp.commissions, tuple(syms)))
        ov = eng.overlay
        if rows and ov is not None and (ov.holdings or ov.premium_paid):
            # the puts are the overlay's, not a book's: their own row, so the rows still add up
            value, unreal = ov.value(), ov.value() - ov.cost_held()
            pnl = ov.pnl()
            syms = [(h.symbol, h.units(), h.mark * h.units(), (h.mark - h.cost) * h.units())
                    for h in ov.holdings.values()]
            rows.append(BookRow("puts (hedge)", 0.0, value, pnl - unreal + ov.commissions, unreal,
                                ov.commissions, pnl, tuple(syms)))
        return tuple(rows)

    def _model_rows(self) -> tuple[SignalRow, ...]:
        hub = self.hub
        pf = self.engine.portfolio
        rows = []
        for (model, sym), o in sorted(hub.latest.items()):
            st = hub.status.get(model)
            detail = o.detail if isinstance(o.detail, dict) else {}
            post = detail.get("posteriors") or detail.get("posterior") or {}
            posterior = tuple((str(k), float(v)) for k, v in post.items()) if isinstance(post, dict) else ()
            status = "" if st is None else st.state + ("" if st.drift == "ok" else f", {st.drift}")
            if st is not None and st.note.startswith("training"):
                status += f"; {st.note}"  # a refit in progress, with its progress
            explain: tuple[tuple[str, float], ...] = ()
            active = hub.active.get(model)
            if active is not None:
                # an explanation changes only with a new view or model version: computed
                # once per view, not at every publish (a net's SHAP pass is 0.1-0.3 s)
                key = (id(active), 0 if st is None else st.version, int(o.ts), float(o.value))
                hit = self._explain_cache.get((model, sym))
                if hit is not None and hit[0] == key:
                    explain = hit[1]
                else:
                    try:
                        explain = tuple((str(k), float(v)) for k, v in active.explain(sym)[:6])
                    except Exception:
                        explain = ()
                    self._explain_cache[(model, sym)] = (key, explain)
            rows.append(SignalRow(sym, model, float(o.value), float(o.confidence), pf.last.get(sym, 0.0),
                                  int(o.ts) // 1_000_000, str(detail.get("regime", "")), posterior,
                                  0 if st is None else st.version, status, explain))
        seen = {model for model, _ in hub.latest}
        for name, st in hub.status.items():  # models with no view yet: waiting, training, failed
            if name not in seen:
                note = f": {st.note}" if st.note else ""
                rows.append(SignalRow("*", name, 0.0, 0.0, 0.0, 0, "", (), st.version, st.state + note))
        return tuple(rows)

    def _contributions(self) -> tuple[tuple[str, float], ...]:
        """Each position's share of the headline VaR, from the last logged risk
        snapshot (sessions logged before it carried them: the engine's figures)."""
        r = self.engine.risk.last_risk
        by = contrib_of(r.var_contrib) if r is not None and self.engine.new_rules else self.engine.risk.var_contrib
        return tuple(sorted(by.items(), key=lambda kv: -abs(kv[1])))

    def _var_lines(self) -> tuple[tuple[str, str], ...]:
        """The other VaR/CVaR figures, each from the last logged risk snapshot
        (so replay proves them): of NAV's bar returns (parametric, historical)
        and of the book by Monte Carlo."""
        r = self.engine.risk.last_risk
        if r is None:
            return ()
        return (("VaR 95/99% NAV param", f"{r.var95:.2%} / {r.var99:.2%}"),
                ("VaR 95/99% NAV hist", f"{r.var_hist95:.2%} / {r.var_hist99:.2%}"),
                ("CVaR 95/99% NAV hist", f"{r.cvar_hist95:.2%} / {r.cvar_hist99:.2%}"),
                ("VaR 95/99% book MC", f"{r.var_mc95:.2%} / {r.var_mc99:.2%}"))

    def _sectors(self, nav: float) -> tuple[tuple[str, float], ...]:
        eng = self.engine
        by: dict[str, float] = {}
        for sym in eng.portfolio.open_symbols():
            sector = eng.sector_of(sym)
            by[sector] = by.get(sector, 0.0) + abs(eng.portfolio.market_value(sym))
        return tuple(sorted(((k, v / nav if nav > 0 else 0.0) for k, v in by.items()), key=lambda kv: -kv[1]))

    def _stress(self, nav: float) -> tuple[StressLine, ...]:
        """The book under the stress scenarios (core.risk.stress), recomputed
        only when the positions change (a publish is 10 Hz). Protective puts
        are repriced in full (BSM at the shocked price, their current vol and
        time left: no vol spike, so their gain is understated) under the price
        scenarios, and count by their delta in the VaR shocks."""
        eng = self.engine
        ov = eng.overlay
        book = tuple(sorted((s, eng.portfolio.market_value(s)) for s in eng.portfolio.open_symbols()))
        puts = tuple(sorted((h.option_id, h.contracts) for h in ov.holdings.values())) if ov is not None else ()
        key = (book, puts, nav > 0)
        if key == self._stress_cache[0]:
            return self._stress_cache[1]
        lines: tuple[StressLine, ...] = ()
        if book and not nav > 0:  # shocks as fractions of a NAV at or below zero mean nothing
            lines = (StressLine("n/a while NAV ≤ 0", float("nan"), float("nan")),)
        elif book:
            try:
                h = eng.p.bars_per_day ** 0.5  # bar returns to one-day scale for the VaR shocks
                rets = {}
                for s, _ in book:
                    w = eng.strategy.states[s].returns if s in eng.strategy.states else None
                    if w is not None and w.count >= 3:
                        rets[s] = [w.values[(w.pos - 1 - j) % w.capacity] * h for j in range(w.count)][::-1]
                kw: dict[str, Any] = {"nav": nav}
                if len(rets) == len(book):
                    kw["returns"] = rets
                classes = {s: self.asset_classes.get(s, "equity") for s, _ in book}
                rows = stress_test(dict(book), classes, **kw)
                if ov is not None and ov.holdings:
                    delta_book = {s: v + ov.delta_units(s) * eng.portfolio.last.get(s, 0.0) for s, v in book}
                    var_rows = stress_test(delta_book, classes, **kw)
                    n = len(PRICE_SCENARIOS)
                    out = []
                    for i, r in enumerate(rows):
                        pnl = r.pnl + self._puts_pnl(PRICE_SCENARIOS[i]) if i < n else var_rows[i].pnl
                        out.append(StressLine(r.name, pnl, pnl / nav if nav > 0 else float("nan"),
                                              r.unshocked))
                    lines = tuple(out)
                else:
                    lines = tuple(StressLine(r.name, r.pnl, r.pnl_fraction, r.unshocked) for r in rows)
            except Exception as exc:  # shown, never fatal; the pane is no place for a traceback's words
                lines = (StressLine(f"unavailable ({type(exc).__name__})", float("nan"), float("nan")),)
        self._stress_cache = (key, lines)
        return lines

    def _puts_pnl(self, scenario: Any) -> float:
        """The puts' P&L from their marks if ``scenario`` moved their underlyings."""
        from core.options import bsm_price
        from core.overlay import MS_PER_YEAR

        eng = self.engine
        ov = eng.overlay
        if ov is None:
            return 0.0
        hp = eng.p.hedge
        total = 0.0
        for h in ov.holdings.values():
            shock = scenario.shock(self.asset_classes.get(h.symbol, "equity")) or 0.0
            spot = eng.portfolio.last.get(h.symbol, 0.0) * (1.0 + shock)
            years = max(0.0, (h.expiry_ms - eng.ts) / MS_PER_YEAR)
            if spot > 0.0:
                total += (bsm_price(spot, h.strike, years, hp.rate, h.vol, hp.div, put=True) - h.mark) * h.units()
        return total



def _sharpe(w: Any, annual: float) -> float:
    """Annualised Sharpe of a full window of per-bar P&L (as core/views.py
    computes a model's); NaN until the window is full."""
    if not w.full():
        return math.nan
    sd = w.std()
    return w.mean_last(w.count) / sd * annual if sd > 0.0 else 0.0


def _clock(ts: int) -> str:
    if ts <= 0:
        return "-"
    return time.strftime("%m-%d %H:%M", time.gmtime(ts / 1000))


COUNT_LIMITS = ("max_orders_per_minute", "consecutive_losses", "reject_storm", "bad_data")


def limit_text(name: str, value: float) -> str:
    """A limit as an operator reads it: fractions of NAV in percent, counts,
    seconds, currency."""
    if not math.isfinite(value):
        return "n/a"
    if name in COUNT_LIMITS:
        return f"{value:,.0f}"
    if name == "stale_data_s":
        return f"{value:,.0f} s"
    if name == "max_order_notional":
        return f"{value:,.0f}"
    if name == "max_gross_leverage":
        return f"{value:.2f}x"
    return f"{value * 100.0:.2f}%"


def describe(e: object) -> tuple[str, str] | None:
    """A log-pane line for the events an operator cares about (the kinds in
    DESCRIBED), else None."""
    if isinstance(e, VenueReport):
        return _describe_venue(e)
    if isinstance(e, Fill):
        part = f", {e.remaining:+g} left" if e.remaining != 0.0 else ""
        return "trade", (f"FILL {e.symbol} {e.qty:+g} @ {e.price:,.4f} "
                         f"(order {e.order_id}{part}, fee {e.commission:.2f})")
    if isinstance(e, OrderAccepted):
        kind = f" limit {e.limit:,.4f}" if e.order_type == "limit" else ""
        parent = f" of #{e.parent_id}" if e.parent_id else ""
        return "info", f"ORDER {e.symbol} {e.qty:+g}{kind} ~{e.ref_price:,.4f} [{e.origin}{parent}]"
    if isinstance(e, ParentOrder):
        return "info", (f"PARENT {e.symbol} {e.qty:+g} ~{e.ref_price:,.4f} {e.algo} "
                        f"{e.slices} x {e.slice_ms / 1000:g}s [{e.origin}]")
    if isinstance(e, ParentDone):
        level = "info" if e.status == "filled" else "warn"
        return level, (f"PARENT #{e.parent_id} {e.symbol} {e.status}: {e.filled:+g} filled, "
                       f"{e.remaining:+g} left{': ' + e.reason if e.reason else ''}")
    if isinstance(e, OrderExpired):
        return "warn", f"EXPIRED order {e.order_id} {e.symbol} {e.remaining:+g}: {e.reason}"
    if isinstance(e, OrderRejected):
        return "warn", f"REJECT {e.symbol} {e.qty:+g}: {e.rule} ({e.value:.4g} vs {e.limit:.4g}) {e.reason}"
    if isinstance(e, OrderCancelled):
        return "warn", f"CANCEL order {e.order_id} {e.symbol} {e.remaining:+g}: {e.reason}"
    if isinstance(e, LimitChanged):
        by = f" (by {e.who})" if e.who else ""
        return "warn", f"LIMIT {e.name} {limit_text(e.name, e.old)} -> {limit_text(e.name, e.new)}: {e.reason}{by}"
    if isinstance(e, SymbolBlocked):
        return "warn", f"{'BLOCKED' if e.blocked else 'UNBLOCKED'} {e.symbol}: {e.reason}"
    if isinstance(e, StateChanged):
        return "alert", f"STATE {e.prev} -> {e.new}: {e.reason}"
    if isinstance(e, BreakerChanged):
        return ("alert" if e.new == TRIPPED else "warn"), f"BREAKER {e.name} {e.prev} -> {e.new}: {e.reason}"
    if isinstance(e, ProtectivePut):
        return _describe_put(e)
    if isinstance(e, AllocationChanged):
        return "info", f"ALLOCATION {e.book} {e.prev:.1%} -> {e.weight:.1%}: {e.reason}"
    if isinstance(e, BookCross):
        return "trade", (f"CROSS {e.symbol} {e.qty:g} @ {e.price:,.4f} between books "
                         f"(buy {e.buyers}; sell {e.sellers}; no order): {e.reason}")
    if isinstance(e, CommandRejected):
        return "warn", f"COMMAND {e.action} refused: {e.reason}"
    if isinstance(e, Command):
        return "info", f"OPERATOR {e.action}{' ' + e.arg if e.arg else ''}: {e.reason or 'operator'}"
    if isinstance(e, Headline):
        return "info", f"NEWS {e.symbol}: {e.text}"
    if isinstance(e, Quarantined):
        return "warn", f"QUARANTINE {e.symbol} {e.price!r} (last good {e.ref_price:,.4f}): {e.reason}"
    if isinstance(e, ModelActivated):
        return "info", f"MODEL {e.model} v{e.version} active (val Sharpe {e.val_sharpe:.2f}): {e.reason}"
    if isinstance(e, ModelFit):
        return describe_fit(e)
    return None


# the event classes describe() writes a line for (events are NamedTuples: the
# type is the kind); View.note skips the rest without asking
DESCRIBED: frozenset[type] = frozenset({
    VenueReport, Fill, OrderAccepted, ParentOrder, ParentDone, OrderExpired, OrderRejected, OrderCancelled,
    LimitChanged, SymbolBlocked, StateChanged, BreakerChanged, ProtectivePut, AllocationChanged, BookCross,
    CommandRejected, Command, Headline, Quarantined, ModelActivated, ModelFit,
})


def describe_fit(e: ModelFit) -> tuple[str, str]:
    figures = "no validation Sharpe" if math.isnan(e.val_sharpe) else (
        f"val Sharpe {e.val_sharpe:.2f} over {e.val_bars} bars, PSR {e.psr:.3f}, {e.trials} fit(s)")
    if e.outcome == "active":
        return "info", f"MODEL FIT {e.model} v{e.version} passed ({figures}): {e.reason}"
    level = "warn" if e.outcome == "failed" else "info"
    return level, f"MODEL FIT {e.model} {e.outcome} ({figures}): {e.detail}; {e.reason}"


def _describe_put(e: ProtectivePut) -> tuple[str, str]:
    put = f"{e.contracts:g} x {e.symbol} put {e.strike:,.2f} exp {_clock(e.expiry_ts)}"
    if e.action == "buy":
        return "trade", f"HEDGE BUY {put} @ {e.price:,.4f} (fair {e.fair:,.4f}), {e.cash:+,.2f}: {e.reason}"
    if e.action == "sell":
        return "trade", f"HEDGE SELL {put} @ {e.price:,.4f}, {e.cash:+,.2f}: {e.reason}"
    if e.action == "expire":
        return "trade", f"HEDGE EXPIRED {put} paid {e.price:,.4f} a unit, {e.cash:+,.2f}: {e.reason}"
    return "info", f"HEDGE DECLINED {e.symbol}: {e.reason}"


def _describe_venue(e: VenueReport) -> tuple[str, str] | None:
    k = e.kind
    if k in ("reject", "cancel", "expire"):
        return "warn", f"VENUE {k} {e.symbol} order {e.order_id}: {e.reason}"
    if k in ("disconnect", "stale"):
        return "alert", f"VENUE {k}: {e.reason}"
    if k == "reconnect":
        return "info", f"VENUE reconnect: {e.reason}"
    if k == "mismatch":
        return "alert", f"RECONCILE {e.symbol or '-'}: {e.reason}"
    if k == "reconciled":
        n = int(e.qty) if math.isfinite(e.qty) else -1
        return ("warn" if n else "info"), (f"RECONCILED with the venue: {n} difference(s)" if n
                                           else "RECONCILED with the venue: no difference")
    if k == "balance":
        return "info", f"BALANCE {e.symbol} {e.qty:,.8g} (free {e.remaining:,.8g})"
    return None  # acks, fills (the engine's Fill line says it), positions and orders found at a reconciliation


CHART_BLOCKS = "▁▂▃▄▅▆▇█"


def delta_chart(values: list[float], width: int = 24) -> str:
    """The last ``width`` values as block characters scaled from their low to
    their high, then that range: the book's intraday delta in one table cell."""
    if not values:
        return "-"
    tail = values[-width:]
    lo, hi = min(tail), max(tail)
    span = hi - lo
    n = len(CHART_BLOCKS) - 1
    bars = "".join(CHART_BLOCKS[int(round((v - lo) / span * n)) if span > 0 else n // 2] for v in tail)
    return f"{bars} {lo:,.0f}..{hi:,.0f}"

