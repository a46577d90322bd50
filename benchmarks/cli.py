"""The command line's parser (each method's options derived from its declaration) and the checks that
refuse, on the typed request, what cannot run. run_benchmark.py parses with it, turns the arguments into a
`benchmarks.request.GridRequest`, and hands that over; no module here reads an argparse Namespace.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from benchmarks.results import default
from benchmarks.errors import UsageError
from benchmarks.method_registry import is_file, load_file, suite_methods
from benchmarks.request import GridRequest
from methods.declare import Method, flag

class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (no usage dump), exit code 2."""

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


DESCRIPTION = "Run a grid of continual-learning runs: methods x scenarios x seeds on one benchmark."
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


def build_parser(parser_class=ArgumentParser, files=()) -> argparse.ArgumentParser:
    """The CLI; `files`: researchers' method files named by --methods, whose options it adds."""
    known = {**suite_methods(), **{m.name: m for m in map(load_file, files)}}
    p = parser_class(
        prog="clbench", usage="%(prog)s [--methods M ...] [--benchmark B] [options]",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter,
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
    methods.add_argument("--methods", metavar="M", nargs="+", default=["finetune"], help=shown(
        f"{' | '.join(known)}, or a file that declares a method (docs/adding-a-method.md)", ["finetune"]))
    add_method_options(p, known)

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
    hardware.add_argument("--precision", default=default("precision"), choices=["fp32", "bf16", "auto"], help=shown(
        "bf16: autocast (CUDA or CPU) over fp32 weights; auto: bf16 where the device computes it natively (AMX, "
        "AVX512-BF16, a recent GPU), else fp32; results.json records which", default("precision")))
    hardware.add_argument("--workers", metavar="N", type=int, default=1, help=shown("runs in parallel on Ray (1: no Ray)", 1))
    hardware.add_argument("--ray-address", metavar="ADDR", help=shown("join this Ray cluster", "a local Ray instance"))
    return p


def add_method_options(p: argparse.ArgumentParser, known: dict[str, Method]) -> None:
    """One flag per option of the `known` methods, in a group per method (shared options: per group
    of the methods that share them, e.g. "er, derpp: replay"); each flag takes several values."""
    owners: dict[str, list[str]] = {}
    for method in known.values():
        for name in method.options():
            owners.setdefault(name, []).append(method.name)
    groups, done = {}, set()
    for method in known.values():
        for name, option in method.options().items():
            if name in done:
                continue
            done.add(name)
            title = f"{', '.join(owners[name])}: {option.group}" if option.group else f"{method.name}: {method.summary}"
            group = groups.get(title) or groups.setdefault(title, p.add_argument_group(title))
            value = method.defaults("linear")[name]
            value = ("yes" if value else "no") if isinstance(value, bool) else value
            kind = option.kind
            # Choices and switches stay strings: `benchmarks.settings.parse` says what they may be.
            typed = {} if isinstance(kind, tuple) or kind == "switch" else {"type": int if kind in ("count", "count0") else float}
            metavar = option.metavar or ("{" + ",".join(kind) + "}" if isinstance(kind, tuple) else None)
            group.add_argument(flag(name), nargs="+", metavar=metavar, help=shown(option.help, option.shown or value),
                               **typed)


def method_files(argv: list[str]) -> list[str]:
    """The method files --methods names (read before the full parser exists: they add options to it)."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--methods", nargs="+", default=[])
    return [m for m in early.parse_known_args(argv)[0].methods if is_file(m)]


class StrictParser(ArgumentParser):
    """Reads a value as its flag would, for a protocol's run settings: a bad value is a UsageError."""

    def error(self, message):
        raise UsageError(message)


def flag_reader():
    """`read(name, value)`: `value` (one or a list) as flag `name` would read it."""
    strict = build_parser(StrictParser)

    def read(name: str, value):
        values = value if isinstance(value, list) else [value]
        return getattr(strict.parse_args([flag(name), *map(str, values)]), name)

    return read


POSITIVE = ("eval_batch_size", "stop_after_task", "workers", "probe_per_class", "budget", "search_limit_per_class")
POSITIVE_DATA = ("tasks", "classes", "limit_per_class", "max_length")


def check(request: GridRequest) -> None:
    """Reject what cannot run before anything is loaded or written."""
    from benchmarks.models.loading import check_head_fits_backbone

    stream = request.stream
    check_head_fits_backbone(stream.head, stream.backbone)
    for chosen in request.methods:
        for scenario in request.scenarios:
            refusal = chosen.method.refusal(scenario, stream.head)
            if refusal:
                raise UsageError(refusal)
    if stream.head == "lm" and request.probe_per_class is not None:
        raise UsageError("--probe fits probes on pooled encoder features: --head lm has none, drop --probe")
    for name in (*POSITIVE_DATA, *POSITIVE):
        value = getattr(stream if name in POSITIVE_DATA else request, name)
        if value is not None and value < 1:
            raise UsageError(f"{flag(name)} must be positive, got {value}")
    check_method_options(request)
    if request.select_on and stream.eval_split == "val":
        raise UsageError("--select-on val chooses settings on val and measures them on test: drop --eval-split val")
    if not 0 < stream.val_fraction < 1:
        raise UsageError(f"--val-fraction must be between 0 and 1 (exclusive), got {stream.val_fraction}")
    if stream.prompt_template is not None:
        from benchmarks.models.generative import check_template

        check_template(stream.prompt_template)


def check_method_options(request: GridRequest) -> None:
    """Each method's own checks, and no option that none of --methods uses: it would silently change nothing."""
    methods = {c.name: c.method for c in request.methods}
    for method in methods.values():
        given = {name: request.given[name] for name in method.options() if name in request.given}
        refusal = method.check and method.check(given, request.stream.head)
        if refusal:
            raise UsageError(refusal)
    known = {**suite_methods(), **methods}
    for name in request.given:
        owners = [m.name for m in known.values() if name in m.options()]
        if owners and not any(name in m.options() for m in methods.values()):
            raise UsageError(
                f"{flag(name)} is an option of {', '.join(owners)}, and --methods ({' '.join(methods)}) runs none of them"
            )


def owner(name: str, methods: dict[str, Method]) -> Method | None:
    """The method among `methods` that has option `name` (None: a training value)."""
    return next((m for m in methods.values() if name in m.options()), None)
