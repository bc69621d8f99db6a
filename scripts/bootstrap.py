"""Set up .venv for ./run and ./test, only when it is missing or out of date.

Run by the system python3 (3.11+), standard library only. It creates .venv,
installs the project with its pinned dependencies (``pip install -e
'.[dev]'``, which compiles the hot path with mypyc) and writes a stamp keyed
on what the install depends on: pyproject.toml, setup.py, the sources of the
compiled modules (an editable install would otherwise keep loading a stale
compiled engine), CONSOLE_NO_COMPILE and the Python version. When the stamp
matches it prints nothing and returns at once.

While installing it shows one progress line (rewritten in place on a
terminal); the full pip output goes to .venv/install.log. A failure prints
the log's last lines and its path, and exits 1. A lock file serialises two
set-ups started at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_VERSION = "26.3"
MIN_PYTHON = (3, 11)


def venv_dir(root: Path = ROOT) -> Path:
    return root / ".venv"


def stamp_key(root: Path = ROOT, env: Mapping[str, str] | None = None) -> str:
    """What an install depends on, as one hash: a change means reinstall."""
    if env is None:
        env = os.environ
    h = hashlib.sha256()
    setup_py = (root / "setup.py").read_bytes()
    files = ["pyproject.toml", "setup.py"]
    files += sorted(set(re.findall(r'"(core/[\w/]+\.py)"', setup_py.decode())))
    for name in files:
        path = root / name
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<missing>")
        h.update(b"\0")
    no_compile = env.get("CONSOLE_NO_COMPILE", "") not in ("", "0")
    h.update(f"no_compile={no_compile}\0python={sys.version_info[:3]}\0pip={PIP_VERSION}".encode())
    return h.hexdigest()


def stamp_path(root: Path = ROOT) -> Path:
    return venv_dir(root) / ".setup-stamp"


def up_to_date(root: Path = ROOT) -> bool:
    python = venv_dir(root) / "bin" / "python"
    stamp = stamp_path(root)
    try:
        return python.exists() and stamp.read_text().strip() == stamp_key(root)
    except OSError:
        return False


class Progress:
    """One status line: the phase pip is in and the time so far."""

    PHASES = (
        (re.compile(r"^Collecting (\S+)"), "downloading {0}"),
        (re.compile(r"^\s*Building (?:editable|wheel) for (\S+)"), "building {0} (mypyc compiles the hot path)"),
        (re.compile(r"^Installing collected packages"), "installing packages"),
        (re.compile(r"^Successfully installed"), "finishing"),
    )

    def __init__(self, log: Path, fresh: bool = True) -> None:
        self.log = log
        self.fresh = fresh
        self.tty = sys.stderr.isatty()
        self.phase = "starting"
        self.start = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> Progress:
        msg = (f"setup: creating .venv and installing pinned dependencies, compiling the hot path "
               f"(first run only, several minutes; full log: {self.log})" if self.fresh else
               f"setup: .venv is out of date (pyproject.toml, setup.py or a compiled module changed, "
               f"or a set-up was cut short): installing again (full log: {self.log})")
        print(msg, file=sys.stderr, flush=True)
        if self.tty:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.tty:
            self._thread.join()
            print("\r\033[K", end="", file=sys.stderr, flush=True)

    def _read_phase(self, pos: int) -> int:
        try:
            with open(self.log, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            return pos
        for line in chunk.decode(errors="replace").splitlines():
            for pattern, text in self.PHASES:
                m = pattern.match(line)
                if m:
                    self.phase = text.format(*m.groups())[:60]
        return pos + len(chunk)

    def _tick(self) -> None:
        pos = 0
        while not self._done.wait(0.5):
            pos = self._read_phase(pos)
            line = f"setup: {int(time.monotonic() - self.start)} s, {self.phase}"
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def _run_logged(cmd: list[str], log: Path) -> None:
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                             stdin=subprocess.DEVNULL)
    if rc != 0:
        raise SetupFailed(f"`{' '.join(cmd[2:])}` exited {rc}")


class SetupFailed(Exception):
    pass


def install(root: Path = ROOT) -> None:
    venv = venv_dir(root)
    python = venv / "bin" / "python"
    venv.mkdir(exist_ok=True)
    log = venv / "install.log"
    with open(log, "a") as out:
        out.write(f"\n=== set-up {time.strftime('%Y-%m-%d %H:%M:%S')} ({sys.executable})\n")
    t0 = time.monotonic()
    with Progress(log, fresh=not python.exists()):
        if not python.exists() or subprocess.call([str(python), "-c", ""], stderr=subprocess.DEVNULL) != 0:
            # --clear: a venv whose interpreter no longer runs (moved, Python removed) is rebuilt
            _run_logged([sys.executable, "-m", "venv", "--clear", str(venv)], log)
            with open(log, "a") as out:  # --clear emptied the directory, log included
                out.write(f"=== venv created ({sys.executable})\n")
        key = stamp_key(root)
        stamp_path(root).unlink(missing_ok=True)
        _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     f"pip=={PIP_VERSION}"], log)
        _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     "-e", ".[dev]"], log)
    stamp_path(root).write_text(key + "\n")
    print(f"setup: done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)


def main() -> int:
    if sys.version_info < MIN_PYTHON:
        print(f"setup: needs Python {'.'.join(map(str, MIN_PYTHON))} or newer as python3, "
              f"found {sys.version.split()[0]} ({sys.executable})", file=sys.stderr)
        return 1
    if up_to_date():
        return 0
    venv = venv_dir()
    venv.mkdir(exist_ok=True)
    # lock the directory itself: `venv --clear` empties it but keeps it
    fd = os.open(venv, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a second set-up waits, then finds the stamp
        if up_to_date():
            return 0
        install()
    except SetupFailed as exc:
        log = venv_dir() / "install.log"
        try:
            tail = log.read_text(errors="replace").splitlines()[-25:]
        except OSError:
            tail = []
        print("\n".join(tail), file=sys.stderr)
        print(f"setup: failed: {exc}; the full log is {log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nsetup: interrupted; the next ./run or ./test starts it again", file=sys.stderr)
        return 130
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
