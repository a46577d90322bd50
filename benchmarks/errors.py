"""The one exception type that means "the user asked for something we cannot do"."""


class UsageError(Exception):
    """Bad input: `run_benchmark.py` prints its message on one line and exits with code 2."""
