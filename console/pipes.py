"""A reader that stops reading (``console replay ID | head -1``) is not an error.

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError,
which click turns into exit status 1: for ``replay`` that is the "diverged"
code. A terminal that has gone (a closed window: SIGHUP, then EIO on every
write) is the same. Instead stdout and stderr are wrapped so that, once
their reader has gone, further output is dropped (the descriptor is pointed
at the null device, so the interpreter's own flush at exit is quiet too) and
the command finishes with its real exit status.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, TextIO


class ClosedPipeSafe:
    """Delegates to ``stream``; a closed pipe or hung-up terminal on write or flush silences it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                if not _gone(exc):
                    raise
                self._silence()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except OSError as exc:
                if not _gone(exc):
                    raise
                self._silence()

    def _silence(self) -> None:
        self.reader_gone = True
        try:  # what is still buffered, and the flush at exit, go nowhere
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _gone(exc: OSError) -> bool:
    """The reader has gone: a closed pipe, or a terminal that hung up."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO


def guard_stdout() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once each)."""
    if sys.stdout is not None and not isinstance(sys.stdout, ClosedPipeSafe):
        sys.stdout = ClosedPipeSafe(sys.stdout)  # type: ignore[assignment, unused-ignore]
    if sys.stderr is not None and not isinstance(sys.stderr, ClosedPipeSafe):
        sys.stderr = ClosedPipeSafe(sys.stderr)  # type: ignore[assignment, unused-ignore]
