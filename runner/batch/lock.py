"""Keep a second process off a batch that is already running.

An exclusive ``flock`` on a small file beside the ledger, one per batch. The kernel drops the
lock when the process ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import os


class Busy(Exception):
    def __init__(self, path: str, holder: str):
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by {holder}")


class BatchLock:
    def __init__(self, ledger_path: str, batch_id: str):
        self.path = f"{ledger_path}.{batch_id[:16]}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise Busy(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def held(self) -> bool:
        """Whether a process holds the batch now (a shared probe, released at once)."""
        import fcntl

        if not os.path.exists(self.path):
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BatchLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
