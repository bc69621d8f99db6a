"""The ``[alerts]`` table of a run's TOML config (the engine ignores it; it is
the session edge's): which conditions raise an alert, how severe each is,
where alerts go, how repeats are folded, and the escalation.

Durations are seconds (a number) or a string ``"90s"``, ``"15m"``, ``"2h"``;
``0`` or ``"off"`` turns a timed feature off. See the README's "Alerts" for
the table with every key.
"""

from __future__ import annotations

import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError

# What raises an alert (``on`` lists some of these):
#   trip        a circuit breaker TRIPPED (the engine's stale_data and reject_storm breakers included)
#   warning     a circuit breaker reached WARNING
#   halt        trading moved to HALTED, from any source (key, CLI, breaker, dead-man switch)
#   state       any other trading-state change (REDUCING, back to ACTIVE)
#   stale_feed  no input reached the engine for ``stale_feed_after`` of wall time (and when it comes back)
#   venue       a burst of venue rejects, or the venue connection lost (the engine stopped on it)
#   engine_dead an engine found dead with its session open (SIGKILL, OOM, a crash): by ps / attach
#   unclean     the session ended on an error (its log is not closed clean)
#   dead_man    a dead-man rule fired: halted_open_after (the book HALTED with open positions that long)
#               or heartbeat_after (no console attached and no heartbeat that long); sent whenever such a
#               rule is on, whatever ``on`` lists, since saying so is part of the rule
KINDS = ("trip", "warning", "halt", "state", "stale_feed", "venue", "engine_dead", "unclean", "dead_man")
ALIASES = {"stopped": "unclean"}  # the name issue 17's first webhook used
SEVERITIES = ("info", "warning", "critical")
DEFAULT_SEVERITY = {"trip": "critical", "warning": "warning", "halt": "critical", "state": "info",
                    "stale_feed": "warning", "venue": "critical", "engine_dead": "critical",
                    "unclean": "critical", "dead_man": "critical"}
KNOWN = {"webhook", "timeout_s", "retries", "backoff_s", "on", "desktop", "bell", "command",
         "command_timeout_s", "repeat_after", "stale_feed_after", "venue_rejects", "venue_reject_window",
         "escalate_after", "escalate_severity", "escalate_max", "dead_man_halt_after", "severity",
         "halted_open_after", "halted_open_action", "heartbeat_after", "heartbeat_action"}
HALTED_OPEN_ACTIONS = ("alert", "flatten")
HEARTBEAT_ACTIONS = ("reduce", "halt")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def rank(severity: str) -> int:
    """info 0, warning 1, critical 2."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class AlertSettings:
    webhook: str = ""
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    on: tuple[str, ...] = KINDS
    desktop: bool = True  # notify-send, when it is on PATH (skipped quietly when not)
    bell: bool = True  # the terminal bell (and a notice) in every attached console
    command: tuple[str, ...] = ()  # argv of the command hook; the alert is its stdin (JSON)
    command_timeout_s: float = 10.0
    repeat_after_s: float = 300.0  # one alert per key per this many seconds; repeats are folded
    stale_feed_after_s: float = 300.0  # 0: off
    venue_rejects: int = 5  # this many venue rejects ...
    venue_reject_window_s: float = 60.0  # ... within this much market time is a burst
    escalate_after_s: float = 0.0  # 0: off; re-send an unacknowledged alert this often
    escalate_severity: str = "critical"  # escalation and the dead-man switch: this severity and above
    escalate_max: int = 3  # re-sends per alert at most
    dead_man_halt_after_s: float = 0.0  # 0: off; halt the book when an alert stays unacknowledged this long
    severity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    halted_open_after_s: float = 0.0  # 0: off; the book HALTED with open positions this long ...
    halted_open_action: str = "alert"  # ... then "alert" (again) or "flatten"
    heartbeat_after_s: float = 0.0  # 0: off; no console attached and no heartbeat this long ...
    heartbeat_action: str = "halt"  # ... then "reduce" or "halt"

    def wants(self, kind: str) -> bool:
        if kind == "dead_man":
            return "dead_man" in self.on or self.halted_open_after_s > 0 or self.heartbeat_after_s > 0
        return kind in self.on or (kind == "halt" and "state" in self.on)

    def severity_of(self, kind: str) -> str:
        return self.severity.get(kind, "warning")

    def escalates(self, severity: str) -> bool:
        return (self.escalate_after_s > 0 or self.dead_man_halt_after_s > 0) and \
            rank(severity) >= rank(self.escalate_severity)

    def to_json(self) -> dict[str, Any]:
        """For the engine's description file (0600): ``console ps`` alerts with it when it finds the
        engine dead, and a resume takes it over."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AlertSettings:
        names = set(cls.__dataclass_fields__)
        kw: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in names}
        return cls(**kw)


def duration(value: object, where: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``; ``"off"`` or 0 is 0."""
    if isinstance(value, bool):
        raise InputError(f"{where} must be a duration like \"15m\" or a number of seconds, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("off", "", "0"):
            return 0.0
        unit = _UNITS.get(text[-1:])
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1.0)
        except ValueError:
            raise InputError(f"{where} must be a duration like \"15m\", \"90s\" or \"2h\", got {value!r}") from None
    else:
        raise InputError(f"{where} must be a duration like \"15m\" or a number of seconds, got {value!r}")
    if not 0 <= seconds <= 30 * 86400:
        raise InputError(f"{where} must be between 0 and 30 days, got {value!r}")
    return seconds


def _number(raw: dict[str, Any], key: str, default: float, lo: float, hi: float, where: str,
            whole: bool = False) -> Any:
    v = raw.get(key, default)
    ok = isinstance(v, int) if whole else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not lo <= v <= hi:
        kind = "a whole number" if whole else "a number"
        raise InputError(f"{where}.{key} must be {kind} in [{lo:g}, {hi:g}], got {v!r}")
    return int(v) if whole else float(v)


def _command(raw: object, where: str, base: Path) -> tuple[str, ...]:
    """The hook's argv: a list of strings, or one string split the way a shell splits words (quotes
    respected) but never run by a shell, so nothing in an alert can become part of a command line."""
    if raw in ("", None, []):
        return ()
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise InputError(f"{where}.command: {exc}") from None
    elif isinstance(raw, list) and all(isinstance(a, str) for a in raw):
        argv = list(raw)
    else:
        raise InputError(f"{where}.command must be a string or a list of strings, got {raw!r}")
    if not argv:
        return ()
    prog = argv[0]
    if "/" in prog:
        path = (base / prog) if not Path(prog).is_absolute() else Path(prog)
        if not path.is_file():
            raise InputError(f"{where}.command: no such program {prog!r} (relative paths are from the config's folder)")
        argv[0] = str(path.resolve())
    else:
        found = shutil.which(prog)
        if found is None:
            raise InputError(f"{where}.command: program {prog!r} is not on PATH")
        argv[0] = found
    return tuple(argv)


def load_alerts(config_path: str | Path | None) -> AlertSettings | None:
    """The ``[alerts]`` table of the run's config, or None if there is none.
    Raises InputError naming the key that is wrong."""
    if config_path is None:
        return None
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the engine's own loader has said what is wrong with the file
    raw = data.get("alerts")
    if raw is None:
        return None
    where = f"{config_path}: [alerts]"
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a table")
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]}")
    hook = raw.get("webhook", "")
    if not isinstance(hook, str) or (hook and not hook.startswith(("http://", "https://"))):
        raise InputError(f"{where}.webhook must be an http(s) URL, got {hook!r}")
    timeout = _number(raw, "timeout_s", 5.0, 0.001, 60, where)
    retries = _number(raw, "retries", 3, 0, 10, where, whole=True)
    backoff = _number(raw, "backoff_s", 0.5, 0, 60, where)
    on = raw.get("on", list(KINDS))
    if not isinstance(on, list) or any(not isinstance(k, str) or ALIASES.get(k, k) not in KINDS for k in on):
        raise InputError(f"{where}.on must list some of {', '.join(KINDS)}, got {on!r}")
    for key in ("desktop", "bell"):
        if not isinstance(raw.get(key, True), bool):
            raise InputError(f"{where}.{key} must be true or false, got {raw[key]!r}")
    severity = dict(DEFAULT_SEVERITY)
    sev_raw = raw.get("severity", {})
    if not isinstance(sev_raw, dict):
        raise InputError(f"{where}.severity must be a table of kind = \"info\" | \"warning\" | \"critical\"")
    for kind, sev in sev_raw.items():
        kind = str(kind)
        if ALIASES.get(kind, kind) not in KINDS:
            raise InputError(f"{where}.severity: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        if sev not in SEVERITIES:
            raise InputError(f"{where}.severity.{kind} must be one of {', '.join(SEVERITIES)}, got {sev!r}")
        severity[ALIASES.get(kind, kind)] = sev
    esc_sev = raw.get("escalate_severity", "critical")
    if esc_sev not in SEVERITIES:
        raise InputError(f"{where}.escalate_severity must be one of {', '.join(SEVERITIES)}, got {esc_sev!r}")
    halted_action = raw.get("halted_open_action", "alert")
    if halted_action not in HALTED_OPEN_ACTIONS:
        raise InputError(f"{where}.halted_open_action must be \"alert\" or \"flatten\", got {halted_action!r}")
    beat_action = raw.get("heartbeat_action", "halt")
    if beat_action not in HEARTBEAT_ACTIONS:
        raise InputError(f"{where}.heartbeat_action must be \"reduce\" or \"halt\", got {beat_action!r}")
    base = Path(config_path).resolve().parent
    return AlertSettings(
        webhook=hook, timeout_s=timeout, retries=retries, backoff_s=backoff,
        on=tuple(dict.fromkeys(ALIASES.get(str(k), str(k)) for k in on)),
        desktop=raw.get("desktop", True), bell=raw.get("bell", True),
        command=_command(raw.get("command", ""), where, base),
        command_timeout_s=_number(raw, "command_timeout_s", 10.0, 0.001, 600, where),
        repeat_after_s=duration(raw.get("repeat_after", 300), f"{where}.repeat_after"),
        stale_feed_after_s=duration(raw.get("stale_feed_after", 300), f"{where}.stale_feed_after"),
        venue_rejects=_number(raw, "venue_rejects", 5, 1, 100_000, where, whole=True),
        venue_reject_window_s=duration(raw.get("venue_reject_window", 60), f"{where}.venue_reject_window"),
        escalate_after_s=duration(raw.get("escalate_after", 0), f"{where}.escalate_after"),
        escalate_severity=esc_sev,
        escalate_max=_number(raw, "escalate_max", 3, 0, 1000, where, whole=True),
        dead_man_halt_after_s=duration(raw.get("dead_man_halt_after", 0), f"{where}.dead_man_halt_after"),
        severity=severity,
        halted_open_after_s=duration(raw.get("halted_open_after", 0), f"{where}.halted_open_after"),
        halted_open_action=halted_action,
        heartbeat_after_s=duration(raw.get("heartbeat_after", 0), f"{where}.heartbeat_after"),
        heartbeat_action=beat_action)
