"""One writer per session, enforced by the OS.

A session's writer holds an exclusive ``flock`` on ``<db>.locks/<id>.lock``
from before it writes anything until it closes; the file holds the writer's
pid. The kernel drops the lock when the process dies, however it dies, so a
crashed session can be resumed at once and a live one never can: a second
writer (``console run --resume ID`` while ID is still running) is refused in
one line naming the pid that holds it.

The file (and the directory, once empty) is removed when the lock is
released. A process that opened the file just before that would lock a file
no longer in the directory, so after locking the path is checked to still
name the locked file (else it tries again).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from storage.schema import StorageError, check_regular


class SessionBusy(StorageError):
    """Another live process is writing this session."""


def lock_path(db_path: str | os.PathLike[str], sid: str) -> Path:
    db = Path(db_path)
    return db.with_name(db.name + ".locks") / f"{sid}.lock"


class SessionLock:
    """Held from construction until ``release()`` (or the process's end)."""

    def __init__(self, db_path: str | os.PathLike[str], sid: str) -> None:
        self.sid = sid
        self.path = lock_path(db_path, sid)
        self._fd: int | None = None
        try:  # nothing is created beside a device or a FIFO given as the database
            check_regular(Path(db_path))
        except OSError as exc:
            raise StorageError(f"{db_path}: cannot access ({exc.strerror or exc})") from None
        for _ in range(20):
            fd = self._open()
            if fd is None:
                continue  # the directory was removed by a release meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise SessionBusy(self._busy_message()) from None
                raise StorageError(f"{self.path}: cannot lock ({exc.strerror or exc})") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return
            os.close(fd)  # released and removed meanwhile: take the new one
        raise StorageError(f"{self.path}: the lock file keeps changing; try again")

    def _open(self) -> int | None:
        try:
            self.path.parent.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self.path.parent}: cannot create the lock directory "
                               f"({exc.strerror or exc})") from None
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags, 0o644)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot open the lock file ({exc.strerror or exc})") from None

    def _busy_message(self) -> str:
        try:
            pid = self.path.read_text().strip() or "unknown"
        except OSError:
            pid = "unknown"
        return (f"session {self.sid} is being written by another process (pid {pid}); "
                f"stop it first (lock {self.path})")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the file and drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a stale file is harmless: the lock, not the file, is what counts
        os.close(fd)
        try:  # the directory too, once no session of this database holds a lock
            self.path.parent.rmdir()
        except OSError:
            pass
