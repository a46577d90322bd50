"""Files that are either the old version or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.errors import unwritable


def write_atomically(path: Path, data: bytes) -> None:
    """`data` into a temporary file, flushed to disk (fsync), then renamed over `path`.

    A reader, a crash or a power cut leaves either the previous file or the complete new one. A full
    or read-only disk leaves the previous file and no temporary one, and raises `OutputUnwritable`.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise unwritable(path, e) from None
