"""Run a grid of continual-learning runs: methods x scenarios x seeds on one benchmark.

    python run_benchmark.py --methods derpp er lwf finetune joint --benchmark clinc150

Each run writes OUTPUT/<benchmark>-<scenario>-<method>-seed<k>/results.json and, unless
--wandb disabled, a W&B run (offline runs under OUTPUT/wandb/). At the end a summary table is
printed and OUTPUT/report.md and report.html compare everything under OUTPUT. Bad input: one
line on stderr and exit code 2. The options are in `benchmarks.cli`; a method's own options come
from its declaration (docs/adding-a-method.md).
"""

from __future__ import annotations

import os
import shlex
import sys
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# avalanche imports qpsolvers, which warns at import that no QP solver is installed (none is used here).
warnings.filterwarnings("ignore", message="no QP solver found")

from benchmarks.cli import build_parser, check, parse_args, request  # noqa: E402,F401 (build_parser: docs, tests)
from benchmarks.errors import OutputUnwritable, UsageError  # noqa: E402


def main(argv=None) -> int:
    """0: every run finished; 1: some run failed (the others ran), or the output folder filled up;
    2: bad input; 130: interrupted."""
    args = parse_args(argv)  # before the heavy imports: --help and a bad flag answer at once
    from benchmarks.engine.grid import run_grid
    from benchmarks.engine.interrupt import EXIT_CODE, Interrupted, stop_on_signals

    try:
        check(args)
        command = shlex.join(["run_benchmark.py", *(sys.argv[1:] if argv is None else argv)])
        with stop_on_signals():
            failed = run_grid(request(args, command))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OutputUnwritable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted:
        print("interrupted: every completed task is saved; rerun with --resume to continue", file=sys.stderr)
        return EXIT_CODE
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
