"""Keep a second process off a batch that is already running.

An exclusive ``flock`` on a small file beside the ledger, one per batch. The kernel drops the
lock when the process ends, however it ends, so a crash never leaves a stale lock behind (the
file may stay; it is then free). A batch that ends normally removes the file while it still
holds the lock; a process that opened the file just before that finds it unlinked once it gets
the lock, and starts over with a fresh file, so two processes never both hold "the" lock.
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

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise Busy(self.path, holder) from None
            if self._still_linked(fd):
                break
            os.close(fd)  # removed by the holder that just finished: lock the new file
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def _still_linked(self, fd: int) -> bool:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)

    def held(self) -> bool:
        """Whether a process holds the batch now (a shared probe, released at once)."""
        import fcntl

        if not os.path.exists(self.path):
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False  # removed by a holder that just finished
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            # Unlink while still holding the lock (see the module docstring).
            try:
                if self._still_linked(self._fd):
                    os.unlink(self.path)
            except OSError:
                pass  # a lock file that stays is harmless: the lock itself is gone
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BatchLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
