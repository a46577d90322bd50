"""One output folder, one writer: an invocation holds an OS lock on its --output until it ends.

Two grids writing one folder would delete, resume and overwrite each other's runs. The lock is
the kernel's (`flock`), so a holder that crashes, even by `kill -9`, releases it with its last
file descriptor; the lock file only tells a refused invocation who holds the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.errors import UsageError

LOCK_FILE = ".clbench.lock"


@contextlib.contextmanager
def hold(output: Path):
    """Creates `output` if needed and holds it, or refuses at once if another invocation does."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd = _lock(output / LOCK_FILE)
    except OSError as e:
        raise UsageError(f"output directory {output} is not writable ({e.strerror}): choose another --output") from None
    if fd is None:
        raise UsageError(f"{output} is in use by {_holder(output / LOCK_FILE)}: wait for it to end, or choose another --output")
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
    try:
        yield
    finally:
        os.unlink(output / LOCK_FILE)  # before the lock goes: a waiting opener then finds it gone
        os.close(fd)


def _lock(path: Path) -> int | None:
    """A descriptor of `path` holding its lock, or None if another process holds it.

    A holder removes the file as it ends; an opener that got the removed file locks nothing
    that others can see, so it checks that `path` is still the file it locked, and retries.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.ftruncate(fd, 0)
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip() or "another invocation"
    except OSError:  # it ended as we looked
        return "another invocation"
