"""The run log: one `logging` logger, on the console as before and in files that outlive the terminal.

Console lines are the bare messages (stdout, warnings and errors on stderr), written through
`tqdm.write` so that they never tear a progress bar. `log_to(path)` adds a timestamped file
for a block: each run's `run.log` in its directory, the invocation's `grid.log` in --output.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from benchmarks.errors import unwritable

RUN_LOG, GRID_LOG = "run.log", "grid.log"


class ConsoleHandler(logging.Handler):
    """stdout, or stderr from WARNING up, looked up at each line (pytest and Ray swap the streams)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            tqdm.write(self.format(record), file=stream)
            stream.flush()
        except Exception:
            self.handleError(record)


log = logging.getLogger("clbench")
log.setLevel(logging.INFO)
log.propagate = False  # the root logger (and whatever configured it) sees nothing of ours
if not log.handlers:
    log.addHandler(ConsoleHandler())


class LogFileHandler(logging.FileHandler):
    """A log file whose full or read-only disk ends the invocation with one line (`OutputUnwritable`),
    instead of logging's "--- Logging error ---" traceback on every line that follows."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            raise unwritable(self.baseFilename, error) from None
        super().handleError(record)


@contextmanager
def log_to(path: Path):
    """Appends the log's lines to `path` while the block runs (a resumed run continues its file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = LogFileHandler(path, mode="a", encoding="utf-8")
    except OSError as e:
        raise unwritable(path, e) from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        try:
            handler.close()
        except OSError:  # every line was flushed as it was written: a write that failed has raised already
            pass
