"""``console run --venue``: flags, the [venue] table, one-line failures, and a
paper-live session on the fake Binance server that replays; credentials
never reach the log, the config dump or an error."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import console, run_cli
from tests.venue_fakes import API_KEY, KEY_ENV, SECRET, FakeBinance, live, no_keyring  # noqa: F401  (fixtures)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_paper_live_session_logs_venue_bars_and_replays(live: tuple[FakeBinance, str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    f, url = live
    for k, v in KEY_ENV.items():  # keys in the environment must not travel in paper-live, nor be logged
        monkeypatch.setenv(k, v)
    db = tmp_path / "v.db"
    rc, out, err = console(capsys, "run", "--headless", "--venue", "binance", "--symbols", "BTC/USDT,ETH/USDT",
                           "--venue-url", url, "--events", "90", "--db", str(db))
    assert rc == 0, err
    sid = out.strip().splitlines()[-1]
    assert "source paper-live binance BTC/USDT,ETH/USDT 1m" in err
    con = sqlite3.connect(db)
    meta = con.execute("select config, data_source, speed from sessions where id = ?", [sid]).fetchone()
    setup = json.loads(meta[0])
    assert setup["source"]["kind"] == "venue" and setup["source"]["mode"] == "paper-live"
    assert setup["source"]["venue"] == "binance" and setup["source"]["url"] == url
    assert meta[1] == "venue:paper-live binance BTC/USDT,ETH/USDT 1m" and meta[2] == "live"
    bars = con.execute("select ts, symbol, payload from events where session = ? and kind = 'bar' order by seq",
                       [sid]).fetchall()
    row = next(r for r in f.klines["ETHUSDT"] if r[0] + 60_000 == bars[1][0])
    assert bars[1][1] == "ETH/USDT" and json.loads(bars[1][2])["close"] == float(row[4])
    con.close()
    # no request carried a key (public data), and nothing logged holds one
    assert not any(API_KEY in r or SECRET in r for r in f.raw)
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("v.db*"))
    assert API_KEY.encode() not in blob and SECRET.encode() not in blob
    f.stop()  # replay needs no venue
    rc, out, err = console(capsys, "replay", sid, "--db", str(db))
    assert rc == 0 and "verified" in out, out + err


def test_unreachable_venue_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    res = run_cli("run", "--headless", "--venue", "binance", "--symbols", "BTC/USDT", "--venue-url", url,
                  db=tmp_path / "u.db")
    assert res.returncode == 2
    assert res.stderr.splitlines() == [f"error: cannot reach binance at {url} while loading markets "
                                       f"(NetworkError): binance GET {url}/api/v3/exchangeInfo"]
    assert not (tmp_path / "u.db").exists()  # nothing logged


@pytest.mark.parametrize("args, message", [
    (["--venue", "nosuch", "--symbols", "A/B"], "unknown venue 'nosuch'"),
    (["--venue", "binance", "--symbols", "DOGE/USDT"], "binance: unknown symbol(s) DOGE/USDT"),
    (["--venue", "binance", "--symbols", "LUNA/USDT"], "market closed or delisted: LUNA/USDT"),
    (["--venue", "binance"], "no symbols"),
    (["--symbols", "BTC/USDT"], "--symbols and --venue-url need --venue NAME"),
    (["--mode", "paper-live"], "--venue-url and --mode paper-live need --venue NAME"),
    (["--venue", "binance", "--symbols", "BTC/USDT", "--data", "x.csv"], "drop --data"),
    (["--venue", "binance", "--symbols", "BTC/USDT", "--mode", "sim"], "--mode sim runs the simulator"),
    (["--venue", "binance", "--symbols", "BTC/USDT", "--resume", "x"], "--resume reopens the logged venue"),
])
def test_bad_venue_input_is_one_line(live: tuple[FakeBinance, str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    _f, url = live
    rc, out, err = console(capsys, "run", "--headless", *args, "--venue-url", url, "--db", str(tmp_path / "b.db"))
    assert rc == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_venue_mode_checks_the_keys_in_one_line(live: tuple[FakeBinance, str], tmp_path: Path, no_keyring: None,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _f, url = live
    args = ("run", "--headless", "--venue", "binance", "--mode", "venue", "--symbols", "BTC/USDT",
            "--venue-url", url, "--db", str(tmp_path / "k.db"))
    rc, _out, err = console(capsys, *args)
    assert rc == 2 and err.strip() == ("error: venue mode on binance needs API keys: set "
                                       "CONSOLE_VENUE_BINANCE_API_KEY and CONSOLE_VENUE_BINANCE_SECRET "
                                       "(or store them in the keyring, service 'trading-console')")
    monkeypatch.setenv("CONSOLE_VENUE_BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("CONSOLE_VENUE_BINANCE_SECRET", "wrong-secret-31337")
    rc, _out, err = console(capsys, *args)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "binance refused the API key" in err
    assert "wrong-secret-31337" not in err and API_KEY not in err
    assert not (tmp_path / "k.db").exists()  # nothing was logged


def test_venue_table_in_the_config(live: tuple[FakeBinance, str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    _f, url = live
    cfg = tmp_path / "v.toml"
    cfg.write_text(f'[venue]\nname = "binance"\nsymbols = ["BTC/USDT"]\nurl = "{url}"\nhistory = 5\n'
                   '[limits]\nmax_position_fraction = 0.15\n')
    rc, out, err = console(capsys, "run", "--headless", "--config", str(cfg), "--events", "8",
                           "--db", str(tmp_path / "c.db"))
    assert rc == 0, err
    assert "source paper-live binance BTC/USDT 1m" in err
    rc, out, err = console(capsys, "config", "show", "--config", str(cfg))
    assert rc == 0 and "max_position_fraction = 0.15" in out, err
    # --mode sim keeps the simulator whatever [venue] says
    rc, out, err = console(capsys, "run", "--headless", "--config", str(cfg), "--mode", "sim", "--events", "50",
                           "--seed", "1", "--db", str(tmp_path / "c.db"))
    assert rc == 0 and "source sim" in err, err
    cfg.write_text('[venue]\nname = "binance"\nsymbols = ["BTC/USDT"]\nsecret = "oops-123"\n')
    rc, out, err = console(capsys, "run", "--headless", "--config", str(cfg), "--db", str(tmp_path / "c.db"))
    assert rc == 2 and "keys never go in a config file" in err and "oops-123" not in err
    cfg.write_text('[venue]\nname = "binance"\nsymbol = "BTC/USDT"\n')
    rc, out, err = console(capsys, "run", "--headless", "--config", str(cfg), "--db", str(tmp_path / "c.db"))
    assert rc == 2 and "unknown key venue.symbol" in err


def test_resume_continues_from_the_logged_bar(live: tuple[FakeBinance, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    db = tmp_path / "r.db"
    rc, out, err = console(capsys, "run", "--headless", "--venue", "binance", "--symbols", "BTC/USDT,ETH/USDT",
                           "--venue-url", url, "--events", "20", "--db", str(db))
    assert rc == 0, err
    sid = out.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    last_bar = con.execute("select max(ts) from events where session = ? and kind = 'bar'", [sid]).fetchone()[0]
    rc, out, err = console(capsys, "run", "--headless", "--resume", sid, "--events", "12", "--db", str(db))
    assert rc == 0, err
    bars = con.execute("select ts, symbol from events where session = ? and kind = 'bar' order by seq",
                       [sid]).fetchall()
    con.close()
    assert len(bars) == len(set(bars))  # no bar twice
    after = [ts for ts, _s in bars if ts > last_bar]
    assert after and min(after) == last_bar + 60_000  # straight on from the logged bar
    rc, out, err = console(capsys, "replay", sid, "--db", str(db))
    assert rc == 0 and "verified" in out, out + err


def test_clock_skew_is_printed_and_logged(live: tuple[FakeBinance, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    f, url = live
    f.skew_ms = 7_000  # the venue's clock runs 7 s ahead of ours
    db = tmp_path / "s.db"
    rc, out, err = console(capsys, "run", "--headless", "--venue", "binance", "--symbols", "BTC/USDT",
                           "--venue-url", url, "--events", "5", "--db", str(db))
    assert rc == 0, err
    assert re.search(r"^data: binance clock is \+(6\.[89]|7\.0)s from ours; bar closes are judged on the "
                     r"venue's clock$", err, re.M), err
    sid = out.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    setup = json.loads(con.execute("select config from sessions where id = ?", [sid]).fetchone()[0])
    con.close()
    assert 6_500 <= setup["source"]["clock_skew_ms"] <= 7_000


def test_venue_lost_mid_session_stops_with_one_line(live: tuple[FakeBinance, str], tmp_path: Path) -> None:
    f, url = live
    f.down_after = 2  # markets and clock answer, then every request fails
    cfg = tmp_path / "v.toml"
    cfg.write_text(f'[venue]\nname = "binance"\nsymbols = ["BTC/USDT"]\nurl = "{url}"\nmax_failures = 1\n')
    res = run_cli("run", "--headless", "--config", str(cfg), db=tmp_path / "m.db")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1].startswith(
        "error: session stopped: binance error while fetching BTC/USDT 1m bars")
    assert (tmp_path / "m.db").exists()  # the session was logged, and closed as unclean


def test_ui_engine_process_runs_a_venue_session_and_halts_promptly(live: tuple[FakeBinance, str],
                                                                  tmp_path: Path) -> None:
    """The full-screen path: the engine runs in its own process (console.remote);
    a halt pressed while the feed waits for the next bar takes effect at once."""
    import threading
    import time

    from console.remote import RemoteSession
    from core.venues.base import VenueSpec

    _f, url = live
    spec = VenueSpec("binance", "paper-live", ("BTC/USDT",), url, history=10)
    opts = dict(db=tmp_path / "ui.db", seed=None, speed=None, data=None, symbol=None, config_path=None,
                max_events=None, keep_alive=True, venue=spec)
    remote = RemoteSession("new", opts)
    runner = threading.Thread(target=remote.run, daemon=True)
    runner.start()
    try:
        assert remote.source_name == "paper-live binance BTC/USDT 1m"
        deadline = time.monotonic() + 10
        while remote.latest.seq == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert remote.latest.speed == "live" and remote.latest.seq > 0
        t0 = time.monotonic()
        remote.submit("halt", "", "test")
        while remote.latest.trading_state != "HALTED" and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert remote.latest.trading_state == "HALTED"
        assert time.monotonic() - t0 < 1.0  # not held until the next poll or bar
    finally:
        remote.stop()
        runner.join(20)
        remote.join()
    assert remote.error == ""
