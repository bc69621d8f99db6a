"""Alerts from background engines, end to end (issue 17): the dead-man switch
halts a detached engine through its control socket (a logged command that
replays), ``console ack`` and ``console alerts``, and an engine SIGKILLed is
reported dead by ``console ps`` once, through its command hook; its resume
keeps its alerts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.test_control import cli, detach, pid_gone, rundir, wait_for  # noqa: F401  (a fixture)

from console.control import find


def hook_config(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    out = tmp_path / "hook.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(f"#!{sys.executable}\nimport sys\nopen(sys.argv[1], 'a').write(sys.stdin.read())\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(f"[alerts]\ndesktop = false\ncommand = [{json.dumps(str(hook))}, {json.dumps(str(out))}]\n"
                   f"stale_feed_after = 0\n{extra}")
    return cfg, out


def received(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_an_unacknowledged_alert_is_sent_again_and_the_dead_man_switch_halts_through_the_socket(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg, out = hook_config(tmp_path, 'escalate_after = "1s"\ndead_man_halt_after = "2s"\n'
                                     'on = ["state", "halt"]\n[alerts.severity]\nstate = "critical"\n')
    db = tmp_path / "dm.db"
    sid = detach(db, "--seed", "4", "--speed", "20", "--config", str(cfg))
    r = cli("reduce", sid, "--reason", "watch me")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: json.loads(cli("ps", "--json").stdout)[0]["state"] == "HALTED", timeout=60)
    got = received(out)
    reduce = next(a for a in got if a["text"].startswith("STATE ACTIVE -> REDUCING"))
    assert reduce["severity"] == "critical" and reduce["session"] == sid
    assert any(a["id"] == reduce["id"] and a.get("escalation") == 1 for a in got)  # sent again after 1 s
    wait_for(lambda: any(a["kind"] == "halt" for a in received(out)))
    listed = json.loads(cli("alerts", "--db", str(db), "--json").stdout)
    assert {a["kind"] for a in listed} >= {"state", "halt"}
    r = cli("ack", str(reduce["id"]), "--db", str(db))
    assert r.returncode == 0 and f"acknowledged alert {reduce['id']} (session {sid}, via the engine)" in r.stdout
    r = cli("ack", str(reduce["id"]), "--db", str(db))
    assert r.returncode == 0 and f"alert {reduce['id']} was already acknowledged by " in r.stdout
    assert cli("ack", "--session", sid, "--db", str(db)).returncode == 0  # the halt's alert too
    assert cli("ack", "999", "--db", str(db)).returncode == 2
    assert cli("stop", sid).returncode == 0
    con = sqlite3.connect(db)
    cmds = con.execute("select json_extract(payload, '$.action'), json_extract(payload, '$.who'), "
                       "json_extract(payload, '$.reason') from events where kind = 'command'").fetchall()
    assert [c[0] for c in cmds] == ["reduce", "halt"]
    assert " via dead-man switch (peer uid " in cmds[1][1]
    assert cmds[1][2].startswith(f"dead-man switch: alert {reduce['id']} (state: STATE ACTIVE -> REDUCING")
    acks = con.execute("select alert_id, via from alert_acks order by id").fetchall()
    assert acks[0] == (reduce["id"], "control socket") and len(acks) >= 2
    log = Path(str(db) + ".engine.log").read_text()
    assert "dead-man switch halted the book at seq" in log and "control: ack by " in log
    assert cli("replay", sid, "--db", str(db)).returncode == 0  # the dead-man's halt is an input like any


def test_a_killed_engine_is_reported_dead_once_by_ps_and_its_resume_keeps_its_alerts(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg, out = hook_config(tmp_path, 'on = ["engine_dead", "halt"]\n')
    db = tmp_path / "k.db"
    sid = detach(db, "--seed", "6", "--speed", "20", "--config", str(cfg))
    e = find(sid)
    desc = json.loads(e.path.read_text())
    assert desc["alerts"]["command"][1] == str(out) and stat.S_IMODE(os.stat(e.path).st_mode) == 0o600
    os.kill(e.pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(e.pid))
    rows = json.loads(cli("ps", "--json").stdout)
    assert rows[0]["status"] == "dead"
    wait_for(lambda: len(received(out)) == 1)
    dead = received(out)[0]
    assert dead["kind"] == "engine_dead" and dead["severity"] == "critical" and dead["session"] == sid
    assert f"(pid {e.pid}) is dead with its session open" in dead["text"] and "--resume" in dead["text"]
    assert cli("ps").returncode == 0 and cli("halt", sid, "--reason", "x").returncode == 2
    time.sleep(1.0)
    assert len(received(out)) == 1  # raised once, however many look
    r = cli("ack", str(dead["id"]), "--db", str(db))
    assert r.returncode == 0 and "via the database" in r.stdout
    assert detach(db, "--resume", sid) == sid  # the description the dead engine left gives the alerts back
    assert cli("halt", sid, "--reason", "after the resume").returncode == 0
    wait_for(lambda: any(a["kind"] == "halt" for a in received(out)))
    assert cli("stop", sid).returncode == 0
    con = sqlite3.connect(db)
    assert con.execute("select via from alert_acks").fetchall() == [("cli (engine not running)",)]


@pytest.mark.asyncio
async def test_an_attached_console_rings_on_a_re_sent_alert_and_k_acknowledges_it(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    from console.app import build_app
    from console.attach_alerts import wire
    from console.control import AttachedSession

    cfg, out = hook_config(tmp_path, 'on = ["halt"]\nescalate_after = "1s"\nescalate_max = 100\n')
    db = tmp_path / "pk.db"
    sid = detach(db, "--seed", "8", "--speed", "20", "--config", str(cfg))
    remote = AttachedSession(find(sid), via="console attach")
    app = build_app(remote)
    feed = wire(app, remote)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("h")
        for _ in range(200):
            await pilot.pause(0.05)
            if any(a.get("escalation") for a in feed.shown):
                break
        first = feed.shown[0]
        assert first["kind"] == "halt" and first["session"] == sid
        assert any(a.get("escalation") == 1 and a["id"] == first["id"] for a in feed.shown)
        assert bells  # the re-sent halt rang here (the first one rang from the snapshot)
        assert any(n.title == f"Alert {first['id']}: halt" for n in app._notifications)
        await pilot.press("A")
        for _ in range(100):
            await pilot.pause(0.05)
            if any("acknowledged alert(s)" in n.message for n in app._notifications):
                break
        assert any(f"acknowledged alert(s) {first['id']}" in n.message for n in app._notifications)
        await pilot.pause(1.5)  # a re-send queued just before the ack lands meanwhile
        sent = len(received(out))
        await pilot.pause(2.5)
        assert len(received(out)) == sent  # acknowledged: no more re-sends
    remote.stop()
    assert cli("stop", sid).returncode == 0
    who = sqlite3.connect(db).execute("select who from alert_acks").fetchall()
    assert len(who) == 1 and " via console attach (peer uid " in who[0][0]


def test_the_heartbeat_rule_halts_a_detached_engine_nobody_watches_and_the_log_replays(
        rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg, out = hook_config(tmp_path, 'heartbeat_after = "3s"\nheartbeat_action = "halt"\non = ["halt"]\n')
    db = tmp_path / "hb.db"
    sid = detach(db, "--seed", "5", "--speed", "20", "--config", str(cfg))
    r = cli("heartbeat", sid, "--json")
    assert r.returncode == 0, r.stderr
    beat = json.loads(r.stdout)
    assert beat["ok"] and beat["session"] == sid and beat["heartbeats"] == 1 and beat["heartbeat_after_s"] == 3.0
    wait_for(lambda: json.loads(cli("ps", "--json").stdout)[0]["state"] == "HALTED", timeout=60)
    wait_for(lambda: any(a["kind"] == "dead_man" for a in received(out)))
    time.sleep(2.0)  # silence goes on: still once
    dead = [a for a in received(out) if a["kind"] == "dead_man"]
    assert len(dead) == 1 and dead[0]["severity"] == "critical" and dead[0]["session"] == sid
    assert dead[0]["text"].startswith("DEAD-MAN no console attached and no heartbeat for 3 s; halted the book at seq ")
    r = cli("heartbeat", sid)
    assert r.returncode == 0 and f"heartbeat 2 to session {sid}; the dead-man rule acts after 3 s" in r.stdout
    assert cli("heartbeat", "nosuch").returncode == 2
    log = Path(str(db) + ".engine.log")
    wait_for(lambda: "the rule is armed again" in log.read_text())  # the watch's next tick sees the heartbeat
    assert cli("stop", sid).returncode == 0
    con = sqlite3.connect(db)
    cmds = con.execute("select seq, json_extract(payload, '$.action'), json_extract(payload, '$.who'), "
                       "json_extract(payload, '$.reason') from events where kind = 'command'").fetchall()
    assert [c[1] for c in cmds] == ["halt"]
    assert " via dead-man switch (peer uid " in cmds[0][2]
    assert cmds[0][3].startswith("dead-man switch (heartbeat_after 3 s): no console attached and no heartbeat for ")
    assert dead[0]["text"].endswith(f"halted the book at seq {cmds[0][0]}")
    text = log.read_text()
    assert text.count("alerts: dead-man heartbeat_after: no console attached and no heartbeat") == 1
    assert " via cli (peer uid " in text.split("a heartbeat from ", 1)[1].split("\n", 1)[0]
    assert cli("replay", sid, "--db", str(db)).returncode == 0  # the rule's halt is an input like any
