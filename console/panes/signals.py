"""Signals pane: each model's latest view of each symbol."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from console.panes.common import Cell, KeyedTable, centred_bar, money, num, signed, when
from console.screens import InfoScreen
from console.story import DEFAULT_DRIVER, driving_models
from core.snapshot import SignalRow, Snapshot

SIGNAL_COLUMNS = (
    ("Symbol", "symbol"), ("Model", "model"), ("Value", "value"), ("", "bar"),
    ("Conf", "confidence"), ("Regime", "regime"), ("Ver", "version"), ("Status", "status"),
    ("Last", "last"), ("At", "ts"),
)
REGIME_MARK = {"bullish": "▲", "neutral": "■", "bearish": "▼"}
DRIVER_MARK = "▶"  # before the model whose part of the ensemble's view is the largest


class SignalsPane(Vertical):
    """One row per (symbol, model): value in -1..1 with a centred bar, the
    regime with its posteriors, model version and drift status. ``e``
    explains the selected row (its top feature or model contributions)."""

    BINDINGS = [Binding("e", "explain", "Explain signal")]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Signals"
        self._rows: dict[str, SignalRow] = {}
        self._drivers: dict[str, str] = {}  # symbol -> the model that drives its position

    def compose(self) -> ComposeResult:
        self._table = KeyedTable(SIGNAL_COLUMNS, sort_by=2, id="signals-table")
        yield self._table

    def apply(self, snap: Snapshot) -> None:
        driver = getattr(self.app, "driver", lambda: DEFAULT_DRIVER)()
        self._drivers = {sym: model for sym, (model, _) in driving_models(snap, driver).items()}
        self.border_subtitle = f"{DRIVER_MARK} drives its position" \
            if self._drivers else ""
        self._rows = {f"{s.symbol}/{s.model}": s for s in snap.signals}
        rows = {key: self._cells(s) for key, s in self._rows.items()}
        self._table.sync(rows)

    def explanation(self, key: str) -> str:
        s = self._rows.get(key)
        if s is None:
            return "no signal selected"
        head = f"{s.model} on {s.symbol}: {s.value:+.2f} (confidence {s.confidence:.0%})"
        if s.regime:
            head += f", regime {s.regime} (" + ", ".join(f"{k} {p:.0%}" for k, p in s.posterior) + ")"
        if s.status:
            head += f"\nmodel v{s.version}: {s.status}"
        if not s.explain:
            return head + "\nno contributions to show for this model"
        return head + "\n" + "\n".join(f"{name:>24} {v:+.5f}" for name, v in s.explain)

    def action_explain(self) -> None:
        table = self._table
        if table.row_count == 0:
            self.app.notify("no signals yet", timeout=3)
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        self.app.push_screen(InfoScreen("Why this signal", self.explanation(key)))

    def restyle(self) -> None:
        self._table.restyle()

    def _cells(self, s: SignalRow) -> tuple[Cell, ...]:
        app = self.app
        regime = ""
        if s.regime:  # the label and its posterior; all posteriors under `e`
            p = dict(s.posterior).get(s.regime)
            regime = f"{REGIME_MARK.get(s.regime, '')}{s.regime}" + (f" {p:.0%}" if p is not None else "")
        model: Cell = s.model
        if self._drivers.get(s.symbol) == s.model:
            model = Text(f"{DRIVER_MARK}{s.model}", style="bold")
        return (
            s.symbol, model, signed(app, s.value, f"{s.value:+.2f}"),
            signed(app, s.value, centred_bar(s.value)), num(f"{s.confidence:.0%}"),
            regime, num(str(s.version) if s.version else ""), s.status,
            num(money(s.last)), when(s.ts),
        )
