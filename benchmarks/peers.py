"""The same SMA(20)/SMA(50) stop-and-reverse crossover (fixed size: 100 units)
in peer frameworks, run from their own virtual environment so they never
become project dependencies.

    python3 -m venv benchmarks/.peers-venv
    benchmarks/.peers-venv/bin/pip install backtrader==1.9.78.123 nautilus_trader==1.221.0

``available()`` lists the peers importable from that venv; ``run(name, n)``
runs one in a subprocess over the same synthetic bars as ours (benchmarks/
synth.py) and returns its bars/s and order count. Timed: the framework's run
over data already loaded in memory (backtrader: ``cerebro.run()`` over a
preloaded pandas feed, including its own preload; NautilusTrader:
``engine.run()`` over ``Bar`` objects already added). Observers/analyzers and
logging are off in both.

    .venv/bin/python benchmarks/peers.py [--bars N]   # standalone: each peer once
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
VENV_PY = BENCH / ".peers-venv" / "bin" / "python"
PEERS = ("backtrader", "nautilus_trader")
SIZE = 100


def available() -> list[str]:
    if not VENV_PY.exists():
        return []
    code = ("import importlib.util, json; "
            f"print(json.dumps([m for m in {list(PEERS)!r} if importlib.util.find_spec(m)]))")
    try:
        out = subprocess.run([str(VENV_PY), "-c", code], capture_output=True, text=True, timeout=60).stdout
        return list(json.loads(out.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return []


def version(name: str) -> str:
    code = f"from importlib.metadata import version; print(version({name!r}))"
    out = subprocess.run([str(VENV_PY), "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "?"


def run(name: str, n: int, seed: int = 7) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(BENCH))
    proc = subprocess.run([str(VENV_PY), str(BENCH / "peers.py"), "--child", name, "--bars", str(n),
                           "--seed", str(seed)], env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"peer {name} failed (rc {proc.returncode}): " + " | ".join(tail))
    return json.loads(lines[-1])  # type: ignore[no-any-return]


# ------------------------------------------------------------ inside the peers' venv


def _backtrader(n: int, seed: int) -> dict[str, Any]:
    import backtrader as bt
    import pandas as pd

    import synth

    ts, o, h, lo, c, v = synth.bars(n, seed)
    df = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v},
                      index=pd.to_datetime(list(ts), unit="ms"))

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.indicators.SMA(self.data.close, period=20)
            self.slow = bt.indicators.SMA(self.data.close, period=50)
            self.side = 0
            self.orders = 0

        def next(self) -> None:
            d = self.fast[0] - self.slow[0]
            want = 1 if d > 0 else (-1 if d < 0 else self.side)
            if want != self.side:
                self.order_target_size(target=SIZE * want)
                self.orders += 1
                self.side = want

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(1_000_000.0)
    t = time.perf_counter()
    strat = cerebro.run()[0]
    dt = time.perf_counter() - t
    return {"rate": n / dt, "seconds": dt, "orders": strat.orders}


def _nautilus(n: int, seed: int) -> dict[str, Any]:
    from decimal import Decimal

    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.indicators import SimpleMovingAverage
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId, Venue
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    import synth

    instrument = TestInstrumentProvider.equity(symbol="SYN", venue="SIM")
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")

    class CrossConfig(StrategyConfig, frozen=True):  # type: ignore[call-arg, misc]
        instrument_id: InstrumentId
        bar_type: BarType

    class Cross(Strategy):  # type: ignore[misc]
        def __init__(self, config: CrossConfig) -> None:
            super().__init__(config)
            self.fast = SimpleMovingAverage(20)
            self.slow = SimpleMovingAverage(50)
            self.side = 0
            self.orders = 0
            self.net = 0

        def on_start(self) -> None:
            self.register_indicator_for_bars(self.config.bar_type, self.fast)
            self.register_indicator_for_bars(self.config.bar_type, self.slow)
            self.subscribe_bars(self.config.bar_type)

        def on_bar(self, bar: Bar) -> None:
            if not self.slow.initialized:
                return
            d = self.fast.value - self.slow.value
            want = 1 if d > 0 else (-1 if d < 0 else self.side)
            if want == self.side:
                return
            qty = SIZE * want - self.net  # to the target, like backtrader's order_target_size
            order = self.order_factory.market(self.config.instrument_id,
                                              OrderSide.BUY if qty > 0 else OrderSide.SELL,
                                              Quantity.from_int(abs(int(qty))))
            self.submit_order(order)
            self.net += int(qty)
            self.orders += 1
            self.side = want

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR", bypass_logging=True)))
    engine.add_venue(Venue("SIM"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USD, starting_balances=[Money(1_000_000, USD)])
    engine.add_instrument(instrument)
    ts, o, h, lo, c, v = synth.bars(n, seed)
    prec = instrument.price_precision
    bars = [Bar(bar_type, Price(round(o[i], prec), prec), Price(round(h[i], prec), prec),
                Price(round(lo[i], prec), prec), Price(round(c[i], prec), prec),
                Quantity.from_int(int(v[i])), ts[i] * 1_000_000, ts[i] * 1_000_000) for i in range(n)]
    engine.add_data(bars)
    strat = Cross(CrossConfig(instrument_id=instrument.id, bar_type=bar_type))
    engine.add_strategy(strat)
    t = time.perf_counter()
    engine.run()
    dt = time.perf_counter() - t
    orders = strat.orders
    engine.dispose()
    _ = Decimal
    return {"rate": n / dt, "seconds": dt, "orders": orders}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=PEERS)
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.child:
        fn = _backtrader if a.child == "backtrader" else _nautilus
        print(json.dumps(fn(a.bars, a.seed)), flush=True)
        return
    names = available()
    if not names:
        print(f"no peers: create {VENV_PY.parent.parent} (see this file's docstring)")
        return
    for name in names:
        r = run(name, a.bars, a.seed)
        print(f"{name} {version(name)}: {r['rate']:,.0f} bars/s, {r['orders']} orders ({a.bars:,} bars)")


if __name__ == "__main__":
    main()
