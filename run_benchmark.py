"""Run a grid of continual-learning runs: methods x scenarios x seeds on one benchmark.

    python run_benchmark.py --methods derpp er lwf finetune joint --benchmark clinc150

Each run writes OUTPUT/<benchmark>-<scenario>-<method>-seed<k>/results.json and, unless
--wandb disabled, a W&B run (offline runs under OUTPUT/wandb/). At the end a summary table is
printed and OUTPUT/report.md and report.html compare everything under OUTPUT. Bad input: one
line on stderr and exit code 2.

This is the one module that reads the parsed arguments: it turns them into a typed
`benchmarks.request.GridRequest`, applies the protocol, checks it and hands it to the engine. The
options are in `benchmarks.cli`; a method's own come from its declaration (docs/adding-a-method.md).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# avalanche imports qpsolvers, which warns at import that no QP solver is installed (none is used here).
warnings.filterwarnings("ignore", message="no QP solver found")

from benchmarks import protocol  # noqa: E402
from benchmarks.cli import build_parser, check, flag_reader, method_files, owner  # noqa: E402
from benchmarks.engine.hardware import resolved_precision  # noqa: E402
from benchmarks.errors import OutputUnwritable, UsageError  # noqa: E402
from benchmarks.method_registry import is_file, load_file, method, suite_methods  # noqa: E402
from benchmarks.request import ChosenMethod, GridRequest, Stream  # noqa: E402
from benchmarks.settings import TRAINING, load_grid_file, parse  # noqa: E402

# Options the request takes as they are (the others are grouped, renamed or parsed on the way).
AS_GIVEN = ("pooling", "lm_eval", "eval_batch_size", "device", "output", "resume", "overwrite",
            "stop_after_task", "select_on", "budget", "select_by", "search_limit_per_class", "workers", "ray_address",
            "wandb", "wandb_project", "wandb_entity", "wandb_group")


def parse_args(argv=None) -> GridRequest:
    """The invocation as a typed request with its protocol applied (UsageError: bad input; argparse's own
    errors exit at once with their one line)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    files = method_files(argv)  # a method file adds its options to the parser
    args = build_parser(files=files).parse_args(argv)
    request = to_request(args, files, shlex.join(["run_benchmark.py", *argv]))
    return protocol.apply(request, args.protocol, given_flags(args, argv, files), flag_reader())


def given_flags(args: argparse.Namespace, argv: list[str], files: list[str]) -> set[str]:
    """The names of the options the command line gave (whatever their value)."""
    unset = object()
    quiet = build_parser(files=files)
    quiet.set_defaults(**dict.fromkeys(vars(args), unset))
    return {name for name, value in vars(quiet.parse_args(argv)).items() if value is not unset}


def to_request(args: argparse.Namespace, files: list[str], command: str) -> GridRequest:
    """The arguments, typed: every training and method value parsed by its declaration's kind."""
    sources = {load_file(f).name: str(Path(f).resolve()) for f in files}
    names = [load_file(m).name if is_file(m) else m for m in dict.fromkeys(args.methods)]
    chosen = {name: method(name, sources.get(name)) for name in names}
    known = {**suite_methods(), **chosen}
    options = [*TRAINING, *dict.fromkeys(n for m in known.values() for n in m.options())]
    return GridRequest(
        stream=Stream(**{f.name: getattr(args, f.name) for f in fields(Stream)}),
        methods=tuple(ChosenMethod(m, sources.get(name)) for name, m in chosen.items()),
        given={n: [parse(n, v, owner(n, known)) for v in getattr(args, n)] for n in options if getattr(args, n) is not None},
        grid_file=load_grid_file(args.grid, chosen) if args.grid else {},
        scenarios=tuple(dict.fromkeys(args.scenario)), seeds=tuple(dict.fromkeys(args.seeds)),
        probe_per_class=args.probe_per_class if args.probe else None, command=command,
        precision=resolved_precision(args.precision, args.device),
        **{name: getattr(args, name) for name in AS_GIVEN},
    )


def main(argv=None) -> int:
    """0: every run finished; 1: some run failed (the others ran), or the output folder filled up;
    2: bad input; 130: interrupted."""
    try:
        request = parse_args(argv)  # before the heavy imports: --help and a bad flag answer at once
        check(request)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from benchmarks.engine.grid import run_grid
    from benchmarks.engine.interrupt import EXIT_CODE, Interrupted, stop_on_signals

    try:
        with stop_on_signals():
            failed = run_grid(request)
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
