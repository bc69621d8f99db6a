"""Headline sentiment ("sentiment"): VADER with a finance lexicon and phrase rules.

Conventions:
- A headline's score is VADER's ``compound`` in [-1, 1] after two finance
  adjustments: ``PHRASES`` (regex rules applied first, in order, each replacing
  a phrase by a placeholder word with its own valence, so "rate cuts" is good
  news while a lone "cut" stays mildly negative; VADER's negation and booster
  rules still apply to the placeholder) and ``FINANCE_LEXICON`` (word
  valences on VADER's -4..+4 scale, e.g. "plunge", "probe", "beat", "downgrade").
- Per symbol: ``score = clip(score * decay + compound, -1, 1)`` on each
  headline and ``mass = mass * decay + 1``, where
  ``decay = 0.5 ** (dt / half_life)`` and ``dt`` is the difference of the
  market-time ``ts`` (int nanoseconds) values; the wall clock is never read.
  A ts earlier than the latest one seen for the symbol counts as dt = 0 (it
  never amplifies a score). ``confidence = 1 - 0.5 ** mass``, decayed likewise.
- ``on_headline`` returns the updated SignalOut; ``on_bar`` returns the decayed
  view at the bar's ts without changing state; ``fit`` is a no-op.
- Nothing here is random (``seed`` is accepted for uniformity and unused).
- ``load_news`` reads CSV or JSONL (ts|time|date|timestamp, symbol|ticker,
  headline|text|title); a bad row raises ``DataError`` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from core.errors import DataError
from core.signals.base import FitReport, SignalModel, SignalOut, register
from core.signals.hmm import _load_blob

FORMAT = "sentiment"
FORMAT_VERSION = 1
NS_PER_S = 1_000_000_000
DEFAULTS: dict[str, Any] = {"half_life_s": 3600.0, "seed": 0}

# Word valences on VADER's -4..+4 scale; they override VADER's own entries.
FINANCE_LEXICON: dict[str, float] = {
    "cut": -0.5, "cuts": -0.5,
    "plunge": -3.0, "plunges": -3.0, "plunged": -3.0, "plummet": -3.0, "plummets": -3.0,
    "plummeted": -3.0, "tumble": -2.5, "tumbles": -2.5, "tumbled": -2.5, "slump": -2.5,
    "slumps": -2.5, "slumped": -2.5, "sink": -1.5, "sinks": -1.5, "slide": -1.5, "slides": -1.5,
    "fall": -1.5, "falls": -1.5, "fell": -1.5, "drop": -1.5, "drops": -1.5, "dropped": -1.5,
    "decline": -1.5, "declines": -1.5, "selloff": -2.0, "sell-off": -2.0, "crash": -3.0,
    "collapse": -3.0, "collapses": -3.0,
    "fraud": -3.2, "probe": -1.8, "probes": -1.8, "investigation": -1.5, "subpoena": -1.8,
    "lawsuit": -1.5, "sued": -1.5, "scandal": -2.5, "recall": -1.5, "fined": -1.5,
    "beat": 2.0, "beats": 2.0, "miss": -2.0, "misses": -2.0, "missed": -2.0,
    "downgrade": -2.0, "downgrades": -2.0, "downgraded": -2.0,
    "upgrade": 2.0, "upgrades": 2.0, "upgraded": 2.0,
    "bankruptcy": -3.5, "bankrupt": -3.5, "insolvency": -3.0, "default": -2.5, "defaults": -2.5,
    "delisting": -2.5, "writedown": -2.0, "impairment": -1.8, "dilution": -1.5,
    "surge": 2.5, "surges": 2.5, "surged": 2.5, "soar": 2.5, "soars": 2.5, "soared": 2.5,
    "rally": 2.0, "rallies": 2.0, "rallied": 2.0, "jump": 1.5, "jumps": 1.5, "jumped": 1.5,
    "climb": 1.5, "climbs": 1.5, "rebound": 1.5, "rebounds": 1.5,
    "layoff": -2.0, "layoffs": -2.0, "bullish": 2.0, "bearish": -2.0,
    "outperform": 1.8, "underperform": -1.8, "overweight": 1.0, "underweight": -1.0,
    "profit": 1.9, "profits": 1.9, "inflation": -1.0, "recession": -2.5,
    "headwinds": -1.5, "tailwinds": 1.5, "upbeat": 2.0, "demand": 0.0,
}

# (pattern, placeholder, valence), applied in order before VADER.
PHRASES: list[tuple[str, str, float]] = [
    (r"\b(?:dividend|payout)s? (?:cut|cuts|slashed|suspended)\b|\b(?:cuts?|slash(?:es)?|suspends?) "
     r"(?:its |the )?(?:dividend|payout)s?\b", "xdivcutx", -2.5),
    (r"\b(?:job|jobs|staff|workforce) cuts?\b|\bcuts? (?:\d[\d,]* )?(?:jobs|staff|workforce)\b",
     "xjobcutx", -2.0),
    (r"\bguidance (?:raised|raises|lifted|boosted|hiked)\b|\b(?:raise[sd]?|raising|lifts?|lifted|"
     r"boost(?:s|ed)?|hikes?) (?:its |the )?(?:full[- ]year |annual |quarterly )?(?:guidance|outlook|forecast)s?\b",
     "xguideupx", 2.5),
    (r"\bguidance (?:cut|lowered|slashed|reduced)\b|\b(?:cuts?|lower(?:s|ed)?|slash(?:es|ed)?|reduce[sd]?) "
     r"(?:its |the )?(?:full[- ]year |annual |quarterly )?(?:guidance|outlook|forecast)s?\b",
     "xguidedownx", -2.5),
    (r"\b(?:interest[- ])?rates? cuts?\b|\bcuts? (?:interest )?rates\b", "xratecutx", 1.8),
    (r"\b(?:interest[- ])?rates? hikes?\b|\b(?:hikes?|raises?) (?:interest )?rates\b", "xratehikex", -1.2),
    (r"\btax cuts?\b", "xtaxcutx", 1.0),
    (r"\b(?:cost|spending) cuts?\b|\bcost[- ]cutting\b", "xcostcutx", 0.5),
    (r"\b(?:raises?|raised|lifts?|boosts?) (?:its |the )?(?:dividend|payout|price target|buyback)s?\b|"
     r"\b(?:dividend|payout|price target)s? (?:raised|hiked|increased)\b", "xdivupx", 2.0),
    (r"\b(?:record|all[- ]time|52[- ]week) highs?\b", "xhighx", 2.0),
    (r"\b(?:record|multi[- ]year|52[- ]week) lows?\b", "xlowx", -2.0),
    (r"\bchapter (?:11|7)\b", "xchapterx", -3.5),
    (r"\bprofit warnings?\b", "xprofwarnx", -2.5),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), w, v) for p, w, v in PHRASES]


def finance_analyzer() -> Any:
    """A VADER analyzer with the finance lexicon and phrase placeholders added.

    The lexicon is per instance, so VADER's module-level default stays untouched.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped, unused-ignore]

    sia = SentimentIntensityAnalyzer()
    sia.lexicon = dict(sia.lexicon)
    sia.lexicon.update(FINANCE_LEXICON)
    sia.lexicon.update({w: v for _, w, v in PHRASES})
    return sia


def apply_phrases(text: str) -> str:
    """Replace known finance phrases by their placeholder words (before VADER)."""
    for rx, word, _ in _COMPILED:
        text = rx.sub(word, text)
    return text


class HeadlineScorer:
    """Scores one headline: phrases first, then VADER with the finance lexicon."""

    def __init__(self) -> None:
        self._sia = finance_analyzer()

    def score(self, text: str) -> float:
        """VADER compound in [-1, 1] of ``text`` after the finance adjustments."""
        return float(self._sia.polarity_scores(apply_phrases(text))["compound"])


_SCORER: HeadlineScorer | None = None


def _scorer() -> HeadlineScorer:
    global _SCORER
    if _SCORER is None:
        _SCORER = HeadlineScorer()
    return _SCORER


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"sentiment: unknown param {unknown[0]!r} (known: {', '.join(sorted(DEFAULTS))})")
    p = {**DEFAULTS, **params}
    hl = p["half_life_s"]
    if isinstance(hl, bool) or not isinstance(hl, (int, float)) or not math.isfinite(hl) or hl <= 0:
        raise ValueError(f"sentiment: param half_life_s must be a positive number of seconds, got {hl!r}")
    p["half_life_s"] = float(hl)
    return p


def _check_ts(ts: Any, symbol: str) -> int:
    if isinstance(ts, bool) or not isinstance(ts, (int, np.integer)):
        raise DataError(f"sentiment: ts for {symbol} must be int nanoseconds, got {ts!r}")
    return int(ts)


@register("sentiment")
class SentimentModel(SignalModel):
    """Per-symbol decayed headline sentiment; see the module docstring."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._p = _check_params(self.params)
        self._hl_ns = self._p["half_life_s"] * NS_PER_S
        # symbol -> [score, mass, last_ts, n_headlines, last_compound, last_headline]
        self._s: dict[str, list[Any]] = {}
        self._last: dict[str, SignalOut] = {}

    def fit(self, closes: pd.DataFrame) -> FitReport:
        """No training: returns a report for the window (model version unchanged)."""
        idx = getattr(closes, "index", [])
        start, end = (int(idx[0]), int(idx[-1])) if len(idx) else (0, 0)
        return FitReport(model=self.name, version=self.version, train_start=start, train_end=end)

    def _decay(self, last_ts: int, ts: int) -> float:
        return float(0.5 ** (max(0, ts - last_ts) / self._hl_ns))

    def on_headline(self, ts: int, symbol: str, text: str) -> list[SignalOut]:
        t = _check_ts(ts, symbol)
        if not isinstance(text, str):
            raise DataError(f"sentiment: headline for {symbol} at ts {t} is not text: {text!r}")
        compound = _scorer().score(text)
        st = self._s.get(symbol)
        if st is None:
            st = self._s[symbol] = [0.0, 0.0, t, 0, 0.0, ""]
        k = self._decay(st[2], t)
        st[0] = float(np.clip(st[0] * k + compound, -1.0, 1.0))
        st[1] = st[1] * k + 1.0
        st[2] = max(st[2], t)
        st[3] += 1
        st[4], st[5] = compound, text
        out = self._view(t, symbol)
        self._last[symbol] = out
        return [out]

    def on_bar(self, ts: int, symbol: str, close: float) -> list[SignalOut]:
        if symbol not in self._s:
            return []
        out = self._view(_check_ts(ts, symbol), symbol)
        self._last[symbol] = out
        return [out]

    def _view(self, ts: int, symbol: str) -> SignalOut:
        score, mass, last_ts, n, compound, headline = self._s[symbol]
        k = self._decay(last_ts, ts)
        detail = {"last_compound": compound, "last_headline": headline[:160], "n_headlines": n,
                  "age_s": max(0, ts - last_ts) / NS_PER_S, "half_life_s": self._p["half_life_s"]}
        return SignalOut(ts=ts, symbol=symbol, model=self.name, value=score * k,
                         confidence=1.0 - 0.5 ** (mass * k), detail=detail)

    def state(self) -> list[SignalOut]:
        return [self._last[s] for s in sorted(self._last)]

    def explain(self, symbol: str) -> list[tuple[str, float]]:
        st = self._s.get(symbol)
        return [] if st is None else [("last headline compound", float(st[4])), ("score at last headline", float(st[0]))]

    def to_bytes(self) -> bytes:
        blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": dict(self.params),
                "version": self.version, "fitted_at": self.fitted_at,
                "symbols": {s: list(v) for s, v in self._s.items()},
                "last": {s: (o.ts, o.value, o.confidence, dict(o.detail)) for s, o in self._last.items()}}
        return pickle.dumps(blob, protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "SentimentModel":
        d = _load_blob(blob, FORMAT, FORMAT_VERSION)
        m = cls(d["params"])
        m.version, m.fitted_at = int(d["version"]), d["fitted_at"]
        m._s = {s: list(v) for s, v in d["symbols"].items()}
        m._last = {s: SignalOut(ts, s, m.name, val, conf, det) for s, (ts, val, conf, det) in d["last"].items()}
        return m


# ---- news files -------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    ts: int  # int nanoseconds, UTC market time
    symbol: str
    text: str


TS_KEYS = ("ts", "timestamp", "time", "date", "datetime")
SYMBOL_KEYS = ("symbol", "ticker")
TEXT_KEYS = ("headline", "text", "title")


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in row:
            return row[k]
    return None


def _parse_ts(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, (int, np.integer)):
        return int(value)
    s = str(value).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    stamp = pd.Timestamp(s)
    if pd.isna(stamp):
        raise ValueError("empty")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.as_unit("ns").value)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row with lower-cased keys) for a CSV or JSONL file."""
    suffix = path.suffix.lower()
    with path.open(newline="", encoding="utf-8") as fh:
        if suffix == ".csv":
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                raise DataError(f"{path}: empty file, expected a header row")
            for row in reader:
                if None in row:
                    raise DataError(f"{path}: line {reader.line_num}: more fields than the header has")
                yield reader.line_num, {str(k).strip().lower(): v for k, v in row.items()}
        elif suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: line {n}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
                yield n, {str(k).strip().lower(): v for k, v in obj.items()}
        else:
            raise DataError(f"{path}: unsupported news file type {suffix or '(none)'!r}, use .csv or .jsonl")


def load_news(path: str | Path) -> list[Headline]:
    """Read headlines from CSV or JSONL; sorted by ts (stable).

    ts may be int nanoseconds or an ISO date/time (naive means UTC). News from
    several sources is rarely in ts order, so rows are sorted rather than
    rejected. Raises ``DataError`` naming the file and line on the first bad row.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: news file not found")
    out: list[Headline] = []
    try:
        for line, row in _rows(p):
            raw_ts, sym, text = _pick(row, TS_KEYS), _pick(row, SYMBOL_KEYS), _pick(row, TEXT_KEYS)
            if raw_ts is None or sym is None or text is None:
                missing = [name for name, v in (("ts/time/date", raw_ts), ("symbol", sym), ("headline/text", text))
                           if v is None]
                raise DataError(f"{p}: line {line}: missing column {', '.join(missing)}")
            try:
                ts = _parse_ts(raw_ts)
            except (ValueError, TypeError, OverflowError):
                raise DataError(f"{p}: line {line}: bad ts {str(raw_ts)[:40]!r}") from None
            sym_s = str(sym).strip()
            if not sym_s:
                raise DataError(f"{p}: line {line}: empty symbol")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{p}: line {line}: empty headline")
            out.append(Headline(ts, sym_s, " ".join(text.split())))
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{p}: malformed CSV: {exc}") from None
    return sorted(out, key=lambda h: h.ts)
