"""Where an alert goes: a webhook, a desktop notification, a command hook (the
terminal bell in attached consoles is the control server's broadcast).

Each sink takes the alert (a JSON-able dict) and returns ``(delivered,
attempts, error)``; none raises for a delivery that failed, and none ever
runs a shell: the command hook is an argv list, fed the alert as JSON on
stdin, so no alert text can become part of a command line.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from console.alert_config import AlertSettings
from core.errors import one_line

URGENCY = {"info": "low", "warning": "normal", "critical": "critical"}
DESKTOP_TIMEOUT_S = 5.0
ERROR_MAX = 300


def payload(alert: dict[str, Any]) -> bytes:
    return json.dumps(alert, sort_keys=True).encode()


def post_webhook(s: AlertSettings, alert: dict[str, Any],
                 sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int, str]:
    """A JSON POST, ``s.retries`` more times on failure, backing off ``s.backoff_s * 2**k``."""
    if not s.webhook:
        return False, 0, "no webhook configured"
    body = payload(alert)
    error = ""
    for attempt in range(1, s.retries + 2):
        req = urllib.request.Request(s.webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "trading-console-alerts"})
        try:
            with urllib.request.urlopen(req, timeout=s.timeout_s) as resp:  # noqa: S310 (http(s) only)
                if 200 <= resp.status < 300:
                    return True, attempt, ""
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", exc)) or type(exc).__name__
        if attempt <= s.retries:
            sleep(s.backoff_s * 2 ** (attempt - 1))
    return False, s.retries + 1, error


def notify_send_path() -> str | None:
    """notify-send on PATH, or None (desktop notifications are then skipped quietly)."""
    return shutil.which("notify-send")


def summary(alert: dict[str, Any]) -> str:
    again = f" (again, {alert['escalation']})" if alert.get("escalation") else ""
    return f"{alert.get('severity', '').upper()} {alert['kind']}{again}: session {alert['session']}"


def body(alert: dict[str, Any]) -> str:
    text = ("(held back by the rate limit) " if alert.get("delayed") else "") + str(alert["text"])
    if alert.get("suppressed"):
        text += f" (+{alert['suppressed']} like it since {alert.get('suppressed_since', '?')})"
    if alert.get("id"):
        text += f"\nacknowledge: console ack {alert['id']}"
    return text


def notify_desktop(program: str, alert: dict[str, Any]) -> tuple[bool, int, str]:
    # "--" ends the options: a text starting with "-" stays a text; the body is escaped because
    # notification servers read a subset of HTML in it
    argv = [program, f"--urgency={URGENCY.get(alert.get('severity', ''), 'normal')}",
            "--app-name=trading-console", "--", summary(alert), html.escape(body(alert), quote=False)]
    return _run(argv, b"", DESKTOP_TIMEOUT_S)


def run_hook(s: AlertSettings, alert: dict[str, Any]) -> tuple[bool, int, str]:
    """The command hook: ``s.command`` (an argv) with the alert as one JSON object on stdin,
    killed (its whole process group) after ``s.command_timeout_s``. Exit status 0 is delivered."""
    if not s.command:
        return False, 0, "no command configured"
    return _run(list(s.command), payload(alert) + b"\n", s.command_timeout_s)


def _run(argv: list[str], stdin: bytes, timeout: float) -> tuple[bool, int, str]:
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True, cwd="/")
    except OSError as exc:
        return False, 1, f"cannot run {argv[0]}: {exc.strerror or exc}"
    try:
        _, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return False, 1, f"{os.path.basename(argv[0])} timed out after {timeout:g} s (killed)"
    except OSError as exc:  # a hook that exits without reading its stdin: a broken pipe
        proc.kill()
        proc.wait()
        return False, 1, f"{os.path.basename(argv[0])}: {exc}"
    if proc.returncode != 0:
        tail = one_line(err.decode("utf-8", "replace").strip()[-ERROR_MAX:], ERROR_MAX) if err else ""
        return False, 1, f"{os.path.basename(argv[0])} exited {proc.returncode}" + (f": {tail}" if tail else "")
    return True, 1, ""
