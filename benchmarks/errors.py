"""The exception types that end an invocation with one line instead of a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class UsageError(Exception):
    """Bad input: `run_benchmark.py` prints its message on one line and exits with code 2."""


class OutputUnwritable(Exception):
    """The output folder stopped taking writes mid-run (full disk, quota, read-only): one line, exit code 1.

    Every finished task is already on disk (results file and checkpoint are replaced whole or not
    at all), so the message says what to free and that `--resume` continues.
    """


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def unwritable(path: os.PathLike, error: OSError) -> Exception:
    """`OutputUnwritable` naming the folder and the fix for the errors of a full or read-only disk;
    any other error unchanged."""
    if error.errno not in WRITE_ERRORS:
        return error
    path = Path(path)
    folder = path.parent
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free space on the disk of {folder} (or pass another --output)"
    else:
        fix = f"make {folder} writable (or pass another --output)"
    return OutputUnwritable(
        f"cannot write {path.name} in {folder}: {error.strerror or type(error).__name__}; {fix}, "
        "then rerun the same command with --resume: the finished tasks are kept"
    )


def first_line(error: BaseException) -> str:
    """A library exception's first line (or its type), for a one-line message about it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
