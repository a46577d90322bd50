"""Run a grid of continual-learning runs: methods x scenarios x seeds on one benchmark.

    python run_benchmark.py --methods derpp er lwf finetune joint --benchmark clinc150 --data-dir ../shared/data

Each run writes OUTPUT/<benchmark>-<scenario>-<method>-seed<k>/results.json and, unless
--wandb disabled, a W&B run (offline runs under OUTPUT/wandb/). At the end a summary table is
printed and OUTPUT/report.md and report.html compare everything under OUTPUT. Bad input: one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# avalanche imports qpsolvers, which warns at import that no QP solver is installed (none is used here).
warnings.filterwarnings("ignore", message="no QP solver found")

from benchmarks.engine.config import default  # noqa: E402
from benchmarks.errors import UsageError  # noqa: E402


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (no usage dump), exit code 2."""

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=["finetune"], help="finetune er derpp lwf joint seq-star")
    p.add_argument("--benchmark", default="clinc150", help="clinc150 | banking77 | .csv/.json/.jsonl path | HF hub name")
    p.add_argument("--scenario", nargs="+", default=["cil"], choices=["cil", "til"])
    p.add_argument("--tasks", type=int, help="number of tasks (default: the benchmark's, 5 for other data)")
    p.add_argument("--backbone", default=default("backbone"),
                   help="minilm | tiny-bert | HF encoder name or path; with --head lm: tiny-gpt2 | HF causal LM")
    p.add_argument("--head", default=default("head"), help="linear | cosine | lm (a causal LM writes the label name)")
    p.add_argument("--lm-eval", default="generate", choices=["generate", "rank"],
                   help="--head lm: greedy generation + exact match, or the most likely label name")
    p.add_argument("--prompt-template", help="--head lm: the prompt around {text} (default: 'Text: {text}\\nLabel:')")
    p.add_argument("--epochs", nargs="+", type=int)
    p.add_argument("--batch-size", nargs="+", type=int)
    p.add_argument("--eval-batch-size", type=int, default=default("eval_batch_size"))
    p.add_argument("--lr", nargs="+", type=float, help="learning rate of the backbone (AdamW)")
    p.add_argument("--head-lr", nargs="+", type=float, help="learning rate of the heads")
    p.add_argument("--max-length", type=int, help="tokens per text (default: the benchmark's)")
    p.add_argument("--buffer-size", nargs="+", type=int, help="replay buffer size in examples (er, derpp)")
    p.add_argument("--replay-batch-size", nargs="+", type=int, help="buffer examples per step (default: --batch-size)")
    p.add_argument("--alpha", nargs="+", type=float, help="DER++ weight of the logit MSE")
    p.add_argument("--beta", nargs="+", type=float, help="DER++ weight of the replay CE (0 gives DER)")
    p.add_argument("--derpp-logits", nargs="+", choices=["stored", "teacher"],
                   help="DER++ distillation targets (default: stored; teacher with --head lm)")
    p.add_argument("--derpp-topk", nargs="+", type=int, help="--head lm, stored logits: vocabulary entries kept per answer token")
    p.add_argument("--lwf-alpha", nargs="+", type=float)
    p.add_argument("--lwf-temperature", nargs="+", type=float)
    p.add_argument("--warmup-epochs", nargs="+", type=int,
                   help="seq-star: epochs of task 1 that train the encoder, frozen afterwards (default 3)")
    p.add_argument("--preallocate-heads", nargs="+", metavar="yes|no",
                   help="seq-star: every task's head from task 1 (default yes) or one per task (no)")
    p.add_argument("--probe", action="store_true",
                   help="after each task, probe the frozen backbone (linear and nearest-class-mean) on every task")
    p.add_argument("--probe-per-class", type=int, default=20, help="--probe: training examples per class (seeded)")
    p.add_argument("--grid", metavar="FILE.yaml", help="values per method and hyper-parameter, e.g. 'derpp: {beta: [0.5, 1]}'")
    p.add_argument("--select-on", choices=["val"],
                   help="choose each method's setting on the validation split (Ray Tune, ASHA), then run it on test")
    p.add_argument("--budget", type=int, default=8, help="--select-on: trials per method, the same for every method")
    p.add_argument("--select-by", default="average_incremental_accuracy",
                   choices=["average_incremental_accuracy", "final_average_accuracy"],
                   help="--select-on: the validation criterion")
    p.add_argument("--search-limit-per-class", type=int,
                   help="--select-on: training examples per class during the search only (default: --limit-per-class)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--output", default="results", help="output directory")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="skip finished runs, continue unfinished ones")
    existing.add_argument("--overwrite", action="store_true", help="start runs that already have results over")
    p.add_argument("--stop-after-task", type=int, metavar="K", help="stop each run cleanly after task K (resumable)")
    p.add_argument("--data-dir", help="folder holding clinc150/ and banking77/ (or set CLBENCH_DATA_DIR)")
    p.add_argument("--text-column", help="text column of a CSV/JSON/hub data set (default: text)")
    p.add_argument("--label-column", help="label column of a CSV/JSON/hub data set (default: label)")
    p.add_argument("--limit-per-class", type=int, help="keep at most K training examples per class (seeded)")
    p.add_argument("--class-order-seed", type=int, help="seeded permutation of the classes (default: sorted names)")
    p.add_argument("--data-seed", type=int, default=default("data_seed"),
                   help="seed of --limit-per-class and of a made test or validation split")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="training examples held out for validation where the data has no val split")
    p.add_argument("--eval-split", default=default("eval_split"), choices=["test", "val"],
                   help="the split the accuracy matrix is measured on")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default=default("precision"), choices=["fp32", "bf16"], help="bf16: autocast (CUDA or CPU)")
    p.add_argument("--workers", type=int, default=1, help="runs in parallel on Ray (1: no Ray)")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"],
                   help="offline: W&B runs under OUTPUT/wandb, upload later with `wandb sync`")
    p.add_argument("--wandb-project", default="clbench-text")
    p.add_argument("--wandb-entity", help="W&B user or team (default: yours)")
    p.add_argument("--wandb-group", help="W&B group of this invocation's runs (default: a new one, printed at the end)")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """Reject what cannot run before anything is loaded or written."""
    from benchmarks.engine.settings import KINDS, parse
    from benchmarks.models.loading import check_head_fits_backbone
    from methods.registry import METHODS

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method '{unknown[0]}': use one of {', '.join(METHODS)}")
    check_head_fits_backbone(args.head, args.backbone)
    if args.head == "lm" and "seq-star" in args.methods:
        raise UsageError("seq-star needs classifier heads (its recipe uses cosine heads): drop --head lm")
    if args.head == "lm" and args.probe:
        raise UsageError("--probe fits probes on pooled encoder features: --head lm has none, drop --probe")
    for name in ("tasks", "eval_batch_size", "limit_per_class", "max_length", "stop_after_task", "workers",
                 "probe_per_class", "budget", "search_limit_per_class"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value}")
    for name in KINDS:
        for value in getattr(args, name) or ():
            parse(name, value)
    check_method_options(args, METHODS)
    if args.select_on and args.eval_split == "val":
        raise UsageError("--select-on val chooses settings on val and measures them on test: drop --eval-split val")
    if not 0 < args.val_fraction < 1:
        raise UsageError(f"--val-fraction must be between 0 and 1 (exclusive), got {args.val_fraction}")
    if args.prompt_template is not None:
        from benchmarks.models.generative import check_template

        check_template(args.prompt_template)


def check_method_options(args: argparse.Namespace, methods: dict) -> None:
    """A method flag that none of --methods uses would silently change nothing: refuse it."""
    from methods.registry import HYPERPARAMETERS

    used = {name for method in args.methods for name in methods[method].uses}
    for name in HYPERPARAMETERS:
        if getattr(args, name) is not None and name not in used:
            owners = [m for m, spec in methods.items() if name in spec.uses]
            raise UsageError(
                f"--{name.replace('_', '-')} is an option of {', '.join(owners)}, and --methods "
                f"({' '.join(args.methods)}) runs none of them"
            )


def main(argv=None) -> int:
    """0: every run finished; 1: some run failed (the others ran); 2: bad input; 130: interrupted."""
    from benchmarks.engine.grid import run_grid
    from benchmarks.engine.interrupt import EXIT_CODE, Interrupted, stop_on_signals

    args = parse_args(argv)
    try:
        check(args)
        command = shlex.join(["run_benchmark.py", *(sys.argv[1:] if argv is None else argv)])
        with stop_on_signals():
            failed = run_grid(args, command)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Interrupted:
        print("interrupted: every completed task is saved; rerun with --resume to continue", file=sys.stderr)
        return EXIT_CODE
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
