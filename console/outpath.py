"""Writing a file at a path the user named (``report --out``, ``export``).

A user-named path may hold anything: a device node, a FIFO, a symlink into
the system, a file someone wants kept. The rules, for every command that
writes one:

- the target is absent or a regular file; anything else (a symlink, even to a
  regular file, a directory, a device, a FIFO, a socket) is refused;
- an existing regular file is kept unless ``force``;
- the data goes to ``<name>.part`` first, created exclusively (``O_EXCL``
  with ``O_NOFOLLOW``: never through a symlink, never into a FIFO or a
  device left at that name), and is renamed onto the target only after the
  target has been checked again, so a rename never lands on a device.

Refusals are ``InputError`` (one line, exit 2).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from core.errors import InputError

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_target(path: Path, force: bool, flag: str = "--force") -> None:
    """Refuse ``path`` unless it is absent, or a regular file and ``force``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{path}: cannot check the output path ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is {_kind(st.st_mode)}, not a regular file; refusing to write there")
    if not force:
        raise InputError(f"{path} exists; use {flag} to overwrite")


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def create_part(path: Path) -> BinaryIO:
    """Open ``<path>.part`` for writing, created afresh: a regular ``.part``
    left by an earlier failed run is replaced, anything else is refused."""
    part = part_path(path)
    try:
        st = os.lstat(part)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"{part}: cannot check the output path ({exc.strerror or exc})") from None
    else:
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{part}: is {_kind(st.st_mode)}, not a regular file; remove it or write elsewhere")
        part.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(part, flags, 0o666)
    except OSError as exc:
        raise InputError(f"{part}: cannot create ({exc.strerror or exc})") from None
    return os.fdopen(fd, "wb")


def commit_part(path: Path, force: bool) -> None:
    """Rename ``<path>.part`` onto ``path``, checking ``path`` again first
    (it may have changed while the data was written)."""
    check_target(path, force)
    os.replace(part_path(path), path)
