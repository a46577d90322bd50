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
import textwrap
import sys
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# avalanche imports qpsolvers, which warns at import that no QP solver is installed (none is used here).
warnings.filterwarnings("ignore", message="no QP solver found")

from benchmarks.engine.config import default  # noqa: E402
from benchmarks.engine.hardware import resolved_precision  # noqa: E402
from benchmarks.errors import OutputUnwritable, UsageError  # noqa: E402


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (no usage dump), exit code 2."""

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


EPILOG = """\
examples:
  clbench --methods derpp er lwf finetune --benchmark clinc150 --seeds 0 1 2 --output runs/clinc
  clbench --methods derpp er --scenario til --output runs/clinc-til          task-incremental
  clbench --methods er --benchmark my.csv --text-column sentence --label-column intent --tasks 4
  clbench --methods derpp --alpha 0.1 0.5 --beta 0.5 1 --output runs/sweep   4 DER++ settings
  clbench --methods derpp er --output runs/clinc --resume                    continue an interrupted grid
  python -m reports runs/clinc                                               rewrite the comparison report

`python run_benchmark.py` is the same command. Each run writes OUTPUT/<run name>/results.json and
run.log; the invocation writes OUTPUT/grid.log and OUTPUT/report.md.
exit codes: 0 every run finished, 1 some run failed (the others ran) or the output disk is full,
2 bad input, 130 interrupted.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A fixed width, so that `--help` and docs/cli.md's copy of it (benchmarks.cli_reference) agree everywhere."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=100)

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)  # never "--batch-" / "size"


def shown(text: str, value) -> str:
    """`text (default: value)`; None reads as "none"."""
    value = "none" if value is None else " ".join(map(str, value)) if isinstance(value, list) else value
    return f"{text} (default: {value})"


def build_parser(parser_class=ArgumentParser) -> argparse.ArgumentParser:
    from methods.registry import HYPERPARAMETERS as HP

    p = parser_class(
        prog="clbench", usage="%(prog)s [--methods M ...] [--benchmark B] [options]",
        description=__doc__.split("\n")[0], epilog=EPILOG, formatter_class=HelpFormatter,
    )
    protocol = p.add_argument_group("protocol (docs/protocols.md)")
    protocol.add_argument("--protocol", metavar="NAME", help=shown(
        "a published setting: plm4cl | lor | der | suite, or a FILE.yaml; its settings become the defaults, and "
        "the flags that change one are recorded in results.json as deviations", "suite: the defaults below"))
    data = p.add_argument_group("data")
    data.add_argument("--benchmark", metavar="NAME", default="clinc150",
                      help=shown("clinc150 | banking77 | a .csv/.json/.jsonl path | a HF hub data set", "clinc150"))
    data.add_argument("--scenario", nargs="+", default=["cil"], choices=["cil", "til"],
                      help=shown("class- or task-incremental; several run side by side", ["cil"]))
    data.add_argument("--tasks", metavar="N", type=int,
                      help=shown("number of tasks", "the benchmark's: clinc150 15, banking77 7, other data 5"))
    data.add_argument("--data-dir", metavar="DIR", help=shown(
        "folder holding clinc150/ and banking77/", "$CLBENCH_DATA_DIR, else the copies packaged in the suite"))
    data.add_argument("--text-column", metavar="C", help=shown("text column of a CSV/JSON/hub data set", "text"))
    data.add_argument("--label-column", metavar="C", help=shown("label column of a CSV/JSON/hub data set", "label"))
    data.add_argument("--max-length", metavar="L", type=int,
                      help=shown("tokens per text", "the benchmark's: clinc150 50, banking77 64, other data 128"))
    data.add_argument("--classes", type=int, metavar="N",
                      help=shown("keep only the first N classes by name (smoke runs)", "all"))
    data.add_argument("--limit-per-class", type=int, metavar="K",
                      help=shown("keep at most K training examples per class (seeded)", "all"))
    data.add_argument("--class-order-seed", type=int, metavar="S",
                      help=shown("seeded permutation of the classes", "none: sorted names"))
    data.add_argument("--data-seed", type=int, default=default("data_seed"), metavar="S",
                      help=shown("seed of --limit-per-class and of a made test or validation split", default("data_seed")))
    data.add_argument("--val-fraction", metavar="F", type=float, default=0.1,
                      help=shown("training examples held out for validation where the data has no val split", 0.1))
    data.add_argument("--eval-split", default=default("eval_split"), choices=["test", "val"],
                      help=shown("the split the accuracy matrix is measured on", default("eval_split")))

    model = p.add_argument_group("model")
    model.add_argument("--backbone", metavar="NAME", default=default("backbone"), help=shown(
        "minilm | tiny-bert | HF encoder name or path; with --head lm: tiny-gpt2 | HF causal LM", default("backbone")))
    model.add_argument("--head", metavar="HEAD", default=default("head"),
                       help=shown("linear | cosine | lm (a causal LM writes the label name)", default("head")))
    model.add_argument("--pooling", default=default("pooling"), choices=["mean", "cls"], help=shown(
        "classifier heads' features: the mean over the tokens, or the first ([CLS]) token's output", default("pooling")))
    model.add_argument("--revision", help=shown("the backbone's hub revision: a branch, tag or commit", "the default branch"))
    model.add_argument("--trust-remote-code", action="store_true",
                       help=shown("let transformers run code from the backbone's repository", "off"))
    model.add_argument("--lm-eval", default="generate", choices=["generate", "rank"],
                       help=shown("--head lm: greedy generation + exact match, or the most likely label name", "generate"))
    model.add_argument("--prompt-template", metavar="T", help=shown("--head lm: the prompt around {text}", "'Text: {text}\\nLabel:'"))

    methods = p.add_argument_group("methods", "each run trains one method; the options below each method are its own")
    methods.add_argument("--methods", metavar="M", nargs="+", default=["finetune"],
                         help=shown("finetune | er | derpp | lwf | seq-star | joint (the union of all tasks)", ["finetune"]))
    replay = p.add_argument_group("er, derpp: replay")
    replay.add_argument("--buffer-size", nargs="+", type=int, metavar="M",
                        help=shown("buffer size in examples", HP["buffer_size"]))
    replay.add_argument("--buffer-policy", nargs="+", metavar="P", help=shown(
        "reservoir (every step) | class-balanced (at the end of each task, random examples per class)",
        HP["buffer_policy"]))
    replay.add_argument("--replay-batch-size", nargs="+", type=int, metavar="B",
                        help=shown("buffer examples per step", "--batch-size"))
    derpp = p.add_argument_group("derpp: DER++, CE(new) + beta * CE(buffer) + alpha * MSE(buffer logits, targets)")
    derpp.add_argument("--alpha", metavar="A", nargs="+", type=float, help=shown("weight of the logit MSE", HP["alpha"]))
    derpp.add_argument("--beta", metavar="B", nargs="+", type=float, help=shown("weight of the replay CE (0 gives DER)", HP["beta"]))
    derpp.add_argument("--derpp-logits", nargs="+", choices=["stored", "teacher"],
                       help=shown("distillation targets", "stored; teacher with --head lm"))
    derpp.add_argument("--derpp-topk", nargs="+", type=int, metavar="K",
                       help=shown("--head lm, stored logits: vocabulary entries kept per answer token", HP["derpp_topk"]))
    lwf = p.add_argument_group("lwf: LwF, CE(new) + alpha * KL_T(current, previous model)")
    lwf.add_argument("--lwf-alpha", nargs="+", type=float, metavar="A",
                     help=shown("weight of the distillation term", HP["lwf_alpha"]))
    lwf.add_argument("--lwf-temperature", nargs="+", type=float, metavar="T",
                     help=shown("distillation temperature", HP["lwf_temperature"]))

    seq_star = p.add_argument_group("seq-star: SEQ*, cosine heads, encoder warm-up on task 1 then frozen, old heads frozen")
    seq_star.add_argument("--warmup-epochs", nargs="+", type=int, metavar="E",
                          help=shown("epochs of task 1 that train the encoder, before --epochs on the frozen one",
                                     HP["warmup_epochs"]))
    seq_star.add_argument("--preallocate-heads", nargs="+", metavar="yes|no",
                          help=shown("every task's head from task 1 (future classes as negatives) or one per task",
                                     "yes" if HP["preallocate_heads"] else "no"))

    training = p.add_argument_group("training (every method; each training and method option takes several values)")
    training.add_argument("--epochs", metavar="E", nargs="+", type=int, help=shown("epochs per task", default("epochs")))
    training.add_argument("--batch-size", metavar="B", nargs="+", type=int, help=shown("new examples per step", default("batch_size")))
    training.add_argument("--lr", metavar="LR", nargs="+", type=float, help=shown("learning rate of the backbone (AdamW)", default("lr")))
    training.add_argument("--head-lr", metavar="LR", nargs="+", type=float, help=shown("learning rate of the heads", default("head_lr")))
    training.add_argument("--eval-batch-size", metavar="B", type=int, default=default("eval_batch_size"),
                          help=shown("examples per evaluation batch", default("eval_batch_size")))

    grid = p.add_argument_group("grid & resume (a grid: scenarios x methods x settings x seeds)")
    grid.add_argument("--seeds", metavar="S", nargs="+", type=int, default=[0], help=shown("one run per seed", [0]))
    grid.add_argument("--grid", metavar="FILE.yaml",
                      help=shown("values per method and hyper-parameter, e.g. 'derpp: {beta: [0.5, 1]}'", "none"))
    grid.add_argument("--output", metavar="DIR", default="results", help=shown("output directory", "results"))
    grid.add_argument("--select-on", choices=["val"], help=shown(
        "choose each method's setting on the validation split (Ray Tune trials, ASHA over tasks), then run it on test",
        "off: the given settings"))
    grid.add_argument("--budget", metavar="N", type=int, default=8,
                      help=shown("--select-on: trials per method and scenario, the same for every method", 8))
    grid.add_argument("--select-by", default="average_incremental_accuracy",
                      choices=["average_incremental_accuracy", "final_average_accuracy"],
                      help=shown("--select-on: the validation criterion", "average_incremental_accuracy"))
    grid.add_argument("--search-limit-per-class", metavar="K", type=int,
                      help=shown("--select-on: training examples per class during the search only", "--limit-per-class"))
    existing = grid.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help=shown("skip finished runs, continue unfinished ones", "off: existing results stop the invocation"))
    existing.add_argument("--overwrite", action="store_true", help=shown("start runs that already have results over", "off"))
    grid.add_argument("--stop-after-task", type=int, metavar="K",
                      help=shown("stop each run cleanly after task K (resumable)", "none"))

    probing = p.add_argument_group("probing (how much the backbone itself still knows after each task)")
    probing.add_argument("--probe", action="store_true", help=shown(
        "after each task, fit a linear and a nearest-class-mean probe on the frozen backbone's features", "off"))
    probing.add_argument("--probe-per-class", metavar="K", type=int, default=20,
                         help=shown("--probe: training examples per class, of every class (seeded)", 20))

    logging = p.add_argument_group("logging (W&B)")
    logging.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"],
                         help=shown("offline: W&B runs under OUTPUT/wandb, upload later with `wandb sync`", "offline"))
    logging.add_argument("--wandb-project", metavar="P", default="clbench-text", help=shown("W&B project", "clbench-text"))
    logging.add_argument("--wandb-entity", metavar="E", help=shown("W&B user or team", "your default entity"))
    logging.add_argument("--wandb-group", metavar="G", help=shown("W&B group of the runs", "derived from --output"))

    hardware = p.add_argument_group("hardware")
    hardware.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                          help=shown("auto: CUDA when there is one", "auto"))
    hardware.add_argument("--precision", default=default("precision"), choices=["fp32", "bf16", "auto"],
                          type=resolved_precision, help=shown("bf16: autocast (CUDA or CPU) over fp32 weights; auto: "
                                                              "bf16 where computed natively, else fp32", default("precision")))
    hardware.add_argument("--workers", metavar="N", type=int, default=1, help=shown("runs in parallel on Ray (1: no Ray)", 1))
    hardware.add_argument("--ray-address", metavar="ADDR", help=shown("join this Ray cluster", "a local Ray instance"))
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """The CLI's arguments, with the protocol applied (see `apply_protocol`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_protocol(args, given_flags(args, argv))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return args


def given_flags(args: argparse.Namespace, argv) -> set[str]:
    """The names of the options the command line gave (whatever their value)."""
    unset = object()
    quiet = build_parser()
    quiet.set_defaults(**dict.fromkeys(vars(args), unset))
    return {name for name, value in vars(quiet.parse_args(argv)).items() if value is not unset}


class ProtocolValueParser(ArgumentParser):
    """Reads a protocol's run setting as its flag would be read: a bad value is a UsageError."""

    def error(self, message):
        raise UsageError(message)


def apply_protocol(args: argparse.Namespace, given: set[str]) -> None:
    """Makes the protocol's settings (`--protocol`, default suite) the defaults of `args`.

    Run settings it fixes are set where no flag was given (a substitute where the protocol names
    one); its training and method values become the defaults of `benchmarks.engine.grid.run_configs`
    (`args.protocol_values`, per method). Every given flag that differs from the protocol, and every
    substitute, is a deviation: `args.protocol_record` holds them per method, for results.json.
    """
    from benchmarks.engine.settings import parse
    from benchmarks.protocol import DEFAULT, deviation, load
    from methods.registry import METHODS

    protocol = load(args.protocol or DEFAULT)
    if "select_on" in given and not protocol.selectable:
        raise UsageError(f"--protocol {protocol.name} fixes its hyper-parameters as published: drop --select-on "
                         "(protocols der and suite select on validation)")
    strict = build_parser(ProtocolValueParser)

    def flag_value(name: str, value):
        values = value if isinstance(value, list) else [value]
        try:
            return getattr(strict.parse_args([f"--{name.replace('_', '-')}", *map(str, values)]), name)
        except UsageError as e:
            raise UsageError(f"protocol {protocol.name}: {name}: {e}") from None

    shared = []
    if protocol.benchmarks and args.benchmark not in protocol.benchmarks:
        shared.append(deviation("benchmark", " | ".join(protocol.benchmarks), args.benchmark, "flag"))
    for name, value in protocol.run_settings(args.benchmark).items():
        value = flag_value(name, value)
        if name in given:
            if getattr(args, name) != value:
                shared.append(deviation(name, value, getattr(args, name), "flag"))
        elif name in protocol.substitutes:
            setattr(args, name, flag_value(name, protocol.substitutes[name]))
            shared.append(deviation(name, value, getattr(args, name), "substitution"))
        else:
            setattr(args, name, value)
    args.protocol_values, deviations = {}, {}
    for method in dict.fromkeys(args.methods):
        values = protocol.values(method, args.benchmark) if method in METHODS else {}  # check() refuses the others
        args.protocol_values[method] = values
        deviations[method] = list(shared)
        for name, value in values.items():
            if getattr(args, name) is not None:
                used = [parse(name, v) for v in getattr(args, name)]
                if used != [value]:
                    deviations[method].append(deviation(name, value, used[0] if len(used) == 1 else used, "flag"))
    args.protocol_record = {"name": protocol.name, "sha256": protocol.sha256, "deviations": deviations}


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
    if args.head == "lm" and "class-balanced" in (args.buffer_policy or ()):
        raise UsageError("--buffer-policy class-balanced stores class logits: use it with a classifier head, not --head lm")
    if args.head == "lm" and args.probe:
        raise UsageError("--probe fits probes on pooled encoder features: --head lm has none, drop --probe")
    for name in ("tasks", "classes", "eval_batch_size", "limit_per_class", "max_length", "stop_after_task", "workers",
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
    """0: every run finished; 1: some run failed (the others ran), or the output folder filled up;
    2: bad input; 130: interrupted."""
    args = parse_args(argv)  # before the heavy imports: --help and a bad flag answer at once
    from benchmarks.engine.grid import run_grid
    from benchmarks.engine.interrupt import EXIT_CODE, Interrupted, stop_on_signals

    try:
        check(args)
        command = shlex.join(["run_benchmark.py", *(sys.argv[1:] if argv is None else argv)])
        with stop_on_signals():
            failed = run_grid(args, command)
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
