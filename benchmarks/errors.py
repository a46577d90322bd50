"""The one exception type that means "the user asked for something we cannot do"."""


class UsageError(Exception):
    """Bad input: `run_benchmark.py` prints its message on one line and exits with code 2."""


def first_line(error: BaseException) -> str:
    """A library exception's first line (or its type), for a one-line message about it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
