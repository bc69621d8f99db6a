"""Alert sinks beside the webhook (issue 17): a desktop notification through
notify-send when it is on PATH (a fake one in a temp dir here), a command hook
fed the alert as JSON on stdin, the rate limit, severities and the [alerts]
config. Every sink failure is recorded and never reaches the engine."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
import time
from pathlib import Path

import pytest

from console import alert_sinks
from console.alert_config import AlertSettings, duration, load_alerts
from console.webhooks import Alerter
from core.errors import InputError
from core.events import BreakerChanged, OrderRejected, StateChanged

NASTY = "x'; touch PWNED; $(touch PWNED2) `touch PWNED3` <b>bold</b> & -v"


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notify-send first on PATH that writes its argv, one JSON list a line, to ``calls.jsonl``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    script(bin_dir / "notify-send",
           f"import json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.fixture
def no_notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def recording_hook(tmp_path: Path) -> tuple[Path, Path]:
    """A hook that appends its stdin to ``stdin.jsonl`` and its argv to ``argv.jsonl``."""
    out = tmp_path / "stdin.jsonl"
    hook = script(tmp_path / "hook.py",
                  "import json, sys\n"
                  "data = sys.stdin.read()\n"
                  f"open({str(out)!r}, 'a').write(data)\n"
                  f"open({str(tmp_path / 'argv.jsonl')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    return hook, out


def rows(db: Path) -> list[tuple]:  # type: ignore[type-arg]
    return sqlite3.connect(db).execute(
        "select kind, channel, target, delivered, attempts, error, alert_id, severity from alerts order by id"
    ).fetchall()


def trip(name: str = "drawdown", ts: int = 1) -> BreakerChanged:
    return BreakerChanged(ts, "", name, "ARMED", "TRIPPED", 0.2, 0.1, f"dd 20% {NASTY}")


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_trip_goes_to_notify_send_critical_with_its_text_escaped_and_never_through_a_shell(
        tmp_path: Path, fake_notify: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = Alerter(AlertSettings(), tmp_path / "n.db", "s-1", note=lambda _t: None)
    assert a.notify_send is not None and a.notify_send.startswith(str(tmp_path))
    a.start()
    a.notice(41, [trip(), StateChanged(2, "", "HALTED", "REDUCING", "operator", 40)])
    a.close()
    calls = [json.loads(line) for line in fake_notify.read_text().splitlines()]
    assert len(calls) == 2
    urgency, app, dashdash, title, body = calls[0]
    assert (urgency, app, dashdash) == ("--urgency=critical", "--app-name=trading-console", "--")
    assert title == "CRITICAL trip: session s-1"
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; -v" in body and "console ack 1" in body  # markup escaped, the ack hint
    assert calls[1][0] == "--urgency=low"  # a move to REDUCING: info
    assert not list(tmp_path.glob("PWNED*")) and not list(Path("/").glob("PWNED*"))
    got = rows(tmp_path / "n.db")
    assert [(r[0], r[1], r[3], r[6], r[7]) for r in got] == [
        ("trip", "desktop", 1, 1, "critical"), ("state", "desktop", 1, 2, "info")]


def test_without_notify_send_desktop_is_skipped_quietly_and_doctor_says_so(
        tmp_path: Path, no_notify: None) -> None:
    notes: list[str] = []
    a = Alerter(AlertSettings(repeat_after_s=0), tmp_path / "q.db", "s-2", note=notes.append)
    assert a.notify_send is None
    a.start()
    for i in range(3):
        a.notice(i, [trip(ts=i)])
    a.close()
    assert notes == ["alerts: notify-send is not on PATH; no desktop notifications"]  # once, at start
    assert all(r[1] != "desktop" for r in rows(tmp_path / "q.db"))
    from click.testing import CliRunner

    from console.cli import cli

    out = CliRunner().invoke(cli, ["doctor", "--db", str(tmp_path / "none.db")], env={"COLUMNS": "200"}).output
    assert "notify-send" in out and "not on PATH" in out


def test_the_command_hook_gets_the_alert_as_json_on_stdin_with_its_argv_as_configured(tmp_path: Path) -> None:
    hook, out = recording_hook(tmp_path)
    cfg = tmp_path / "a.toml"
    cfg.write_text("[alerts]\ndesktop = false\ncommand = \"./hook.py --tag 'two words'\"\n")
    s = load_alerts(cfg)
    assert s is not None and s.command == (str(hook), "--tag", "two words")  # relative to the config's folder
    a = Alerter(s, tmp_path / "h.db", "s-3", note=lambda _t: None)
    a.start()
    a.notice(7, [trip()])
    a.close()
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == 1
    alert = got[0]
    assert alert["kind"] == "trip" and alert["seq"] == 7 and alert["session"] == "s-3" and alert["id"] == 1
    assert alert["severity"] == "critical" and NASTY in alert["text"]  # the text intact, as data
    assert json.loads((tmp_path / "argv.jsonl").read_text()) == ["--tag", "two words"]
    assert not list(tmp_path.glob("PWNED*"))
    assert [(r[1], r[2], r[3]) for r in rows(tmp_path / "h.db")] == [("command", str(hook), 1)]


def test_a_hook_that_hangs_fails_or_raises_is_recorded_and_the_next_alert_still_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hang = script(tmp_path / "hang.py", "import time\ntime.sleep(30)\n")
    fail = script(tmp_path / "fail.py", "import sys\nsys.stderr.write('no route\\nto pager')\nsys.exit(3)\n")
    db = tmp_path / "f.db"
    notes: list[str] = []
    slow = Alerter(AlertSettings(desktop=False, command=(str(hang),), command_timeout_s=0.3), db, "s-4",
                   note=notes.append)
    slow.start()
    t0 = time.perf_counter()
    slow.notice(1, [trip("a"), trip("b")])
    assert time.perf_counter() - t0 < 0.05  # the engine's thread only queues
    slow.close()
    bad = Alerter(AlertSettings(desktop=False, command=(str(fail),)), db, "s-5", note=notes.append)
    bad.start()
    bad.notice(1, [trip()])
    bad.close()
    boom = Alerter(AlertSettings(desktop=False, command=(str(fail),)), db, "s-6", note=notes.append)

    def raises(*_a: object) -> tuple[bool, int, str]:
        raise RuntimeError("sink bug")

    monkeypatch.setattr(alert_sinks, "run_hook", raises)
    boom.start()
    boom.notice(1, [trip()])
    boom.close()
    got = rows(db)
    assert [(r[1], r[3]) for r in got] == [("command", 0)] * 4
    assert all("timed out after 0.3 s (killed)" in r[5] for r in got[:2])  # both alerts tried: the second too
    assert got[2][5] == "fail.py exited 3: no route\\nto pager"
    assert got[3][5] == "RuntimeError: sink bug"
    assert len(notes) == 4 and all(n.startswith("alerts: command failed for alert") for n in notes)


def test_repeats_of_a_key_are_folded_within_repeat_after_and_counted_in_the_next(tmp_path: Path) -> None:
    clock = Clock()
    hook, out = recording_hook(tmp_path)
    db = tmp_path / "r.db"
    a = Alerter(AlertSettings(desktop=False, command=(str(hook),), repeat_after_s=300), db, "s-7",
                clock=clock, note=lambda _t: None)
    assert a.put("trip", "first", 1, key="trip:x")
    clock.t += 10
    assert not a.put("trip", "flap", 2, key="trip:x")
    clock.t += 10
    assert not a.put("trip", "flap", 3, key="trip:x")
    assert a.put("trip", "other breaker", 4, key="trip:y")  # another key is not folded
    clock.t += 281  # 301 s after the first one sent
    assert a.put("trip", "again", 5, key="trip:x")
    assert not a.put("trip", "flap 6", 6, key="trip:x")  # the window restarts at each one sent
    clock.t += 299
    assert not a.put("trip", "flap 7", 7, key="trip:x")
    a.flush_folded()  # the window is not over
    clock.t += 1
    a.flush_folded()  # it is, and nothing came since: the last repeat goes out now
    a.flush_folded()
    assert not a.put("trip", "flap 8", 8, key="trip:x")  # a new window began with it
    a.start()
    a.close()
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["text"] for g in got] == ["first", "other breaker", "again", "flap 7"]
    assert got[2]["suppressed"] == 2 and got[2]["suppressed_since"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_000_010))
    assert (got[3]["seq"], got[3]["suppressed"], got[3]["delayed"]) == (7, 1, True)
    last = sqlite3.connect(db).execute("select channel, target, text, error from alerts order by id desc").fetchone()
    assert last[:2] == ("rate-limit", "trip:x") and last[2].startswith("1 repeat(s) of trip:x") and "300 s" in last[3]


def test_venue_rejects_in_a_burst_raise_one_alert(tmp_path: Path) -> None:
    a = Alerter(AlertSettings(desktop=False, venue_rejects=3, venue_reject_window_s=60), tmp_path / "v.db", "s-8")

    def rej(ts_s: float, rule: str = "venue") -> OrderRejected:
        return OrderRejected(int(ts_s * 1000), "BTC/USDT", 1, 1.0, rule, 0.0, 0.0, "insufficient balance")

    a.notice(1, [rej(0), rej(100), rej(200), rej(201, "max_position")])  # spread out, or not the venue's
    assert a.queue.empty()
    a.notice(10, [rej(300), rej(310), rej(320)])
    got = a.queue.get_nowait()
    assert got is not None and (got["kind"], got["key"], got["seq"], got["severity"]) == (
        "venue", "venue:rejects", 12, "critical")
    assert "3 rejects within 60 s" in got["text"] and "insufficient balance" in got["text"]
    assert a.queue.empty()


def test_alerts_config_keys_severities_durations_and_their_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[alerts]\nbell = false\non = ["trip", "stopped", "state"]\nrepeat_after = "90s"\n'
                 'escalate_after = "10m"\ndead_man_halt_after = "1h"\nescalate_severity = "warning"\n'
                 '[alerts.severity]\nstale_feed = "critical"\nstopped = "info"\n')
    s = load_alerts(p)
    assert s is not None and not s.bell and s.on == ("trip", "unclean", "state")
    assert s.wants("halt") and not s.wants("venue")  # "state" covers halts
    assert (s.repeat_after_s, s.escalate_after_s, s.dead_man_halt_after_s) == (90, 600, 3600)
    assert s.severity_of("stale_feed") == "critical" and s.severity_of("unclean") == "info"
    assert s.escalates("warning") and not s.escalates("info")
    assert AlertSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    assert not AlertSettings().escalates("critical")  # escalation is off by default
    assert duration("off", "x") == 0 and duration(45, "x") == 45 and duration("2h", "x") == 7200
    for bad, why in (('[alerts.severity]\ntrip = "loud"', "severity.trip must be one of"),
                     ('[alerts.severity]\nnope = "info"', "unknown kind 'nope'"),
                     ('dead_man_halt_after = "soon"', "dead_man_halt_after must be a duration"),
                     ('escalate_after = "40d"', "between 0 and 30 days"),
                     ('command = "no-such-program-xyz --x"', "'no-such-program-xyz' is not on PATH"),
                     ('command = "./missing.sh"', "no such program './missing.sh'"),
                     ('command = "\'unclosed"', "command: No closing quotation"),
                     ("desktop = 1", "desktop must be true or false"),
                     ('on = [["trip"]]', "on must list some of"),
                     ("venue_rejects = 0", "venue_rejects must be a whole number")):
        body = bad if bad.startswith("[") else f"[alerts]\n{bad}"
        p.write_text(body + "\n")
        with pytest.raises(InputError, match=why.replace("(", r"\(").replace(")", r"\)")):
            load_alerts(p)


def test_a_session_that_ends_on_an_error_raises_unclean_or_venue_in_a_venue_mode(tmp_path: Path) -> None:
    from console.service import alert_unclean

    a = Alerter(AlertSettings(desktop=False), tmp_path / "u.db", "s-9")
    assert not alert_unclean(a, "sim", "", 5, 1)  # a clean end: nothing
    assert alert_unclean(a, "sim", "session stopped: disk full", 5, 1)
    assert alert_unclean(a, "paper-live", "session stopped: cannot reach binance (timed out)", 9, 2)
    got = [a.queue.get_nowait() for _ in range(2)]
    assert [(g["kind"], g["severity"], g["seq"]) for g in got] == [("unclean", "critical", 5), ("venue", "critical", 9)]
    assert got[1]["text"] == ("VENUE connection lost or refused; engine stopped unclean: "
                              "session stopped: cannot reach binance (timed out)")
