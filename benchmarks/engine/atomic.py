"""Files that are either the old version or the new one, never half of either."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable) -> None:
    """`write(f)` into a temporary file, flushed to disk (fsync), then renamed over `path`.

    A reader, a crash or a power cut leaves either the previous file or the complete new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
