"""Headlines from a file, merged in time order into a price source.

``console run --news FILE`` (CSV or JSONL: ts|timestamp|time|date, symbol|ticker,
headline|text|title; core.signals.sentiment.load_news reads it) feeds each row
as a ``Headline(ts, symbol, text, "file:NAME")`` input, logged like every input,
so ``console replay`` verifies the session and the sentiment model reads them.

Conventions:
- A file's ts is int nanoseconds or an ISO date/time (naive: UTC), as
  ``load_news`` reads it; the engine's ts is int milliseconds, so it is
  floored to the millisecond.
- Merge order: a headline goes in just before the first price-source event
  whose ts is later than its own, so the events of one timestamp (a file's
  bars and its bar close) come before a headline stamped at that same ts: a
  headline stamped exactly at a bar's time is seen after that bar closes.
  Headlines before the first price event come first; those after the price
  source's last event are not fed (a session ends with its prices).
- Headlines about symbols the session does not trade are skipped and counted
  in a data note; the remaining order is deterministic, so a resume's
  fast-forward over the inputs already consumed lands on the same event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.errors import DataError
from core.events import Headline

NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class NewsFile:
    path: str
    headlines: tuple[Headline, ...]
    skipped: int  # rows about symbols the session does not trade
    size: int
    sha256: str

    def notes(self) -> tuple[str, ...]:
        name = Path(self.path).name
        out = [f"news {name}: {len(self.headlines):,} headline(s) fed in time order"]
        if self.skipped:
            out.append(f"news {name}: {self.skipped:,} row(s) about symbols this session does not trade skipped")
        return tuple(out)


def load_news_file(path: str, symbols: Iterable[str]) -> NewsFile:
    """The headlines of ``path`` about ``symbols``, in ts order, with the
    file's size and sha256 (a resume checks them). A bad row: ``DataError``
    naming the file and line."""
    from core.signals.sentiment import load_news

    p = Path(path)
    rows = load_news(p)  # checks existence, type, each row
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from None
    wanted = set(symbols)
    source = f"file:{p.name}"
    kept = tuple(Headline(h.ts // NS_PER_MS, h.symbol, h.text, source) for h in rows if h.symbol in wanted)
    return NewsFile(str(p), kept, len(rows) - len(kept), len(data), hashlib.sha256(data).hexdigest())


def merge_news(prices: Iterable[Any], headlines: tuple[Headline, ...]) -> Iterator[Any]:
    """``prices`` (events with a ``ts``) with ``headlines`` (ts-sorted) merged
    in: each headline before the first price event with a later ts."""
    i, n = 0, len(headlines)
    for ev in prices:
        ts = ev.ts
        while i < n and headlines[i].ts < ts:
            yield headlines[i]
            i += 1
        yield ev
