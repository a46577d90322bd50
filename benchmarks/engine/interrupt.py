"""Ctrl-C and SIGTERM (pre-emption) stop a grid without leaving half-written state.

The first signal raises `Interrupted` in the main thread, except inside a `critical()` block
(writing a checkpoint or a results file), where it is held until the block ends. A second
signal exits at once with code 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

EXIT_CODE = 130


class Interrupted(Exception):
    """A stop was asked for by SIGINT or SIGTERM."""


class _State:
    depth = 0  # nesting of critical() blocks
    requested = False


def _handle(signum, frame):
    if _State.requested:
        print("\ninterrupted twice: exiting now", file=sys.stderr, flush=True)
        os._exit(EXIT_CODE)
    _State.requested = True
    if _State.depth == 0:
        raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals():
    """Installs the handlers for the duration of a grid."""
    previous = {s: signal.signal(s, _handle) for s in (signal.SIGINT, signal.SIGTERM)}
    _State.requested = False
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def critical():
    """A block that a first signal does not cut short; the stop happens right after it."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if _State.depth == 0 and _State.requested:
        raise Interrupted("signal received while saving")
