"""A grid of runs (methods x scenarios x seeds on one stream): its plan, the resume rules, its execution.

Every refusal (an existing result without --resume or --overwrite, a changed setting or a damaged
file under --resume, an unwritable output folder, one held by another invocation) comes before
anything is written.
"""

from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from benchmarks.engine import checkpoint
from benchmarks.engine.config import RunConfig, recorded_config
from benchmarks.engine.lock import hold
from benchmarks.engine.logs import GRID_LOG, log, log_to
from benchmarks.engine.results import RESULTS_FILE, contract_violation
from benchmarks.engine.settings import KINDS, TRAINING, load_grid_file, method_space, parse, product, variant_names
from benchmarks.errors import OutputUnwritable, UsageError, unwritable
from methods.registry import run_label

START_OVER = "delete {run} to start that run over (--overwrite starts every run of the grid over)"


def run_grid(args: Namespace, command: str = "") -> int:
    """Runs the grid the CLI's `args` describe; returns how many runs failed. `command`: the invocation."""
    import torch

    from benchmarks.data.prepare import prepare_stream
    from benchmarks.data.registry import data_dir_from, resolve_spec
    from benchmarks.models.generative import DEFAULT_TEMPLATE

    grid_file = load_grid_file(args.grid, args.methods) if args.grid else {}
    lm = args.head == "lm"
    template = (args.prompt_template or DEFAULT_TEMPLATE) if lm else None

    def stream_for_split(eval_split: str, limit: int | None):
        return prepare_stream(
            resolve_spec(args.benchmark, args.text_column, args.label_column), data_dir_from(args.data_dir),
            backbone=args.backbone, head=args.head, num_tasks=args.tasks, max_length=args.max_length,
            prompt_template=template, limit=limit, first_classes=args.classes,
            class_order_seed=args.class_order_seed,
            data_seed=args.data_seed, val_fraction=args.val_fraction, eval_split=eval_split,
            revision=args.revision, trust_remote_code=args.trust_remote_code,
        )

    stream = stream_for_split(args.eval_split, args.limit_per_class)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible here; use --device cpu or auto")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    configs = run_configs(args, stream, device, template, grid_file)
    output = Path(args.output)
    group = args.wandb_group or ""
    if args.wandb != "disabled" and not group:
        from reports.wandb_logging import default_group

        group = default_group(output)  # the same for every invocation writing to --output
    with hold(output):  # one writer per output folder, from the plan (and a search) to the report
        extras = {}
        if args.select_on:
            configs, extras = tuned_configs(args, configs, grid_file, output, stream_for_split)
        extras = {c.run_name: {**protocol_record(args, c.method, grid_file), **extras.get(c.run_name, {})}
                  for c in configs}
        plan = plan_runs(configs, output, args.resume, args.overwrite)
        with log_to(output / GRID_LOG):
            return execute(args, plan, stream, output, group, command, extras)


def execute(args: Namespace, plan: list[tuple], stream, output: Path, group: str, command: str, extras: dict) -> int:
    """Runs the planned runs, then prints the summary and writes the report; returns how many runs failed.
    `extras`: run name -> keys its results record carries besides the contract's (a tuned run's selection)."""
    from benchmarks.engine.parallel import Job, run_on_ray, run_sequentially

    finished, failed, jobs = {}, [], []
    for config, action, previous in plan:
        run_dir = output / config.run_name
        if action == "skip":
            log.info(f"[{config.run_name}] skipped: {previous['status']} in an earlier invocation")
            if previous["status"] == "finished":
                finished[config.run_name] = previous
            continue
        if action == "new":
            for name in (RESULTS_FILE, "checkpoint.pt"):
                (run_dir / name).unlink(missing_ok=True)
        tracker = make_tracker(args, output, group)
        jobs.append(Job(config, run_dir, action == "resume", args.stop_after_task, tracker, command,
                        extras.get(config.run_name)))
    # smoothing=0: the ETA is the mean time of the runs finished so far times the runs left.
    bar = tqdm(total=len(jobs), desc="grid", unit="run", smoothing=0, disable=None, dynamic_ncols=True)

    def report(job: Job, outcome: str, payload) -> None:
        if outcome == "unwritable":  # a Ray run's full disk: the others would meet it too
            raise OutputUnwritable(payload)
        if outcome == "failed":
            log.error(f"error: {job.config.run_name} failed: {payload}")
            failed.append(job)
        elif outcome == "done":  # not "stopped": a Ray run cancelled by Ctrl-C
            finished[job.config.run_name] = payload
        bar.update()
        log.info(f"[grid] {len(finished) + len(failed)}/{len(plan)} runs done")

    with bar:
        if args.workers > 1 or args.ray_address:
            run_on_ray(jobs, stream.task_split, stream.data, args.workers, args.ray_address, report)
        else:
            run_sequentially(jobs, stream.task_split, stream.data, report)
    print_summary([finished[c.run_name] for c, _, _ in plan if c.run_name in finished])
    if args.wandb != "disabled":
        log.info(f"W&B: project {args.wandb_project}, group {group}, {args.wandb} run files under {output / 'wandb'}")
        if args.wandb == "offline":
            log.info(f"upload with: wandb sync {output / 'wandb'}/offline-run-*")
    report = write_report(output)
    if report and args.wandb != "disabled":
        files = [report, report.with_suffix(".html"), output / "results.csv", *sorted((output / "figures").glob("*.png"))]
        make_tracker(args, output, group).log_report(output, files)
    return len(failed)


def protocol_record(args: Namespace, method: str, grid_file: dict) -> dict:
    """The `protocol` of a run's results.json: name, sha256 of its file, and the deviations of the
    run's method (a grid file's values that differ from the protocol's are deviations too)."""
    from benchmarks.protocol import deviation

    record = args.protocol_record
    deviations = list(record["deviations"][method])
    for name, values in grid_file.get(method, {}).items():
        if name in args.protocol_values[method] and values != [args.protocol_values[method][name]]:
            value = args.protocol_values[method][name]
            deviations.append(deviation(name, value, values[0] if len(values) == 1 else values, "grid file"))
    return {"protocol": {"name": record["name"], "sha256": record["sha256"], "deviations": deviations}}


def run_configs(args: Namespace, stream, device: str, template: str | None, grid_file: dict) -> list[RunConfig]:
    """One config per scenario x method x setting x seed, each recording the values its method uses.

    A method's settings are the product of its values (`benchmarks.engine.settings`); runs of the
    same method label are named by the values that differ between them. A run asked for twice runs once.
    """
    from benchmarks.engine.config import default
    from methods.registry import defaults_for, method_hyperparameters

    from methods.registry import METHODS

    defaults = {**{name: default(name) for name in TRAINING}, **defaults_for(args.head)}
    given = {name: [parse(name, v) for v in getattr(args, name)] if getattr(args, name) else None for name in KINDS}
    lm = args.head == "lm"
    by_label: dict[str, list[tuple[str, dict]]] = {}
    for method in dict.fromkeys(args.methods):
        method_defaults = {**defaults, **args.protocol_values[method]}  # the protocol's values (apply_protocol)
        for setting in product(method_space(method, given, method_defaults, grid_file.get(method))):
            hp = method_hyperparameters(method, {**defaults_for(args.head), **setting}, args.head)
            named = {**{k: setting[k] for k in TRAINING}, **hp}
            entries = by_label.setdefault(run_label(method, hp), [])
            if (method, named) not in entries:
                entries.append((method, named))
    configs = []
    for entries in by_label.values():
        for (method, named), variant in zip(entries, variant_names([named for _, named in entries])):
            configs += [
                RunConfig(
                    benchmark=stream.spec.name, scenario=scenario, method=method, seed=seed, backbone=args.backbone,
                    head=METHODS[method].head or args.head, pooling=args.pooling, revision=args.revision,
                    trust_remote_code=args.trust_remote_code, num_tasks=stream.task_split.num_tasks, max_length=stream.max_length,
                    epochs=named["epochs"], batch_size=named["batch_size"], eval_batch_size=args.eval_batch_size,
                    lr=named["lr"], head_lr=named["head_lr"], device=device, precision=args.precision,
                    limit_per_class=args.limit_per_class, classes=args.classes, class_order_seed=args.class_order_seed,
                    data_seed=args.data_seed, lm_eval=args.lm_eval if lm else None, prompt_template=template,
                    eval_split=args.eval_split, val_fraction=stream.val_fraction, variant=variant,
                    probe_per_class=args.probe_per_class if args.probe else None,
                    hp={k: named[k] for k in named if k not in TRAINING},
                )
                for scenario in dict.fromkeys(args.scenario)
                for seed in dict.fromkeys(args.seeds)
            ]
    order = {m: i for i, m in enumerate(dict.fromkeys(args.methods))}
    return sorted(configs, key=lambda c: (list(dict.fromkeys(args.scenario)).index(c.scenario), order[c.method]))


def tuned_configs(args: Namespace, configs: list[RunConfig], grid_file: dict, output: Path, stream_for_split):
    """--select-on val: each (scenario, method) searched on the validation split (the first seed, and
    --search-limit-per-class examples per class if given), then one test run per seed with the chosen
    setting, named `tuned`; returns those configs and each run's `selection` record."""
    from dataclasses import replace

    from benchmarks.engine.selection import selections, with_setting
    from benchmarks.engine.settings import tunable
    from methods.registry import SEARCH_SPACES

    unique = {(c.scenario, c.label, c.seed): c for c in reversed(configs)}  # the first setting of each method
    configs = [c for c in configs if unique[(c.scenario, c.label, c.seed)] is c]
    if not (args.resume or args.overwrite):  # refuse to touch earlier results before the search, not after it
        plan_runs([replace(c, variant="tuned") for c in configs], output, resume=False, overwrite=False)
    val = stream_for_split("val", args.search_limit_per_class or args.limit_per_class)
    first_seed = list(dict.fromkeys(args.seeds))[0]
    bases = [
        replace(c, eval_split="val", limit_per_class=args.search_limit_per_class or c.limit_per_class)
        for c in configs if c.seed == first_seed
    ]
    spaces = {}
    for c in bases:
        given = {name: [parse(name, v) for v in getattr(args, name)] for name in tunable(c.method) if getattr(args, name)}
        spaces[c.label] = label_space(c, {**SEARCH_SPACES[c.method], **given, **grid_file.get(c.method, {})})
    chosen = selections(bases, spaces, args.budget, args.select_by, val, args.workers, args.ray_address, output,
                        args.overwrite)
    tuned = [with_setting(c, chosen[(c.scenario, c.label)]["chosen"], "tuned") for c in configs]
    return tuned, {c.run_name: {"selection": chosen[(c.scenario, c.label)]} for c in tuned}


def label_space(base: RunConfig, space: dict[str, list]) -> dict[str, list]:
    """`space` less the names that choose the label a run is filed under (DER++'s `derpp_logits`:
    derpp or derpp-teacher). Each label is searched on its own, with the value that names it, and its
    search is the same whichever other labels an invocation asks for (so a saved one is reused)."""

    def names_label(name: str, values: list) -> bool:
        allowed = KINDS.get(name)
        candidates = allowed if isinstance(allowed, tuple) else values
        return any(run_label(base.method, {**base.hp, name: v}) != base.label for v in candidates)

    return {name: values for name, values in space.items() if not names_label(name, values)}


def plan_runs(configs: list[RunConfig], output: Path, resume: bool, overwrite: bool) -> list[tuple]:
    """(config, "new" | "resume" | "skip", earlier results or None) per run; refuses to touch results silently."""
    plan = []
    for config in configs:
        path = output / config.run_name / RESULTS_FILE
        if overwrite or not path.exists():
            plan.append((config, "new", None))
            continue
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            raise UsageError(f"{path} is not a readable results file: {START_OVER.format(run=path.parent)}") from None
        status = previous.get("status", "finished") if isinstance(previous, dict) else "not a record"
        if not resume:
            raise UsageError(
                f"{path} exists ({status}): --resume skips finished runs and continues the others, --overwrite starts over"
            )
        broken = contract_violation(previous)
        if broken:
            raise UsageError(f"{path} is not a results file of this suite ({broken}): {START_OVER.format(run=path.parent)}")
        if status in ("finished", "failed"):
            plan.append((config, "skip", previous))
            continue
        now, then = asdict(config), recorded_config(previous)
        changed = [k for k in now if k != "device" and now[k] != then.get(k)]
        if changed:
            k = changed[0]
            raise UsageError(
                f"cannot resume {config.run_name}: it was started with {k}={then.get(k)!r}, not {now[k]!r}; "
                "use the same settings, another --output, or --overwrite"
            )
        ckpt = output / config.run_name / checkpoint.FILE_NAME
        damaged = ckpt.exists() and checkpoint.check(ckpt, now, previous["accuracy_matrix"])
        if damaged:
            raise UsageError(f"{ckpt} cannot continue this run: {damaged}; delete it to restart that run from task 1")
        plan.append((config, "resume", previous))
    return plan


def make_tracker(args: Namespace, output: Path, group: str):
    if args.wandb == "disabled":
        return None
    from reports.wandb_logging import WandbTracker

    return WandbTracker(args.wandb, output, args.wandb_project, args.wandb_entity, group)


def write_report(output: Path) -> Path | None:
    """The comparison of every run under OUTPUT, this invocation's and earlier ones; the report.md path."""
    from reports.collect import ReportError
    from reports.render import write_report as render

    try:
        path = render(output, output)
    except OSError as e:  # a full or read-only disk: the runs are saved, the report can be rewritten later
        raise unwritable(e.filename or output / "report.md", e) from None
    except ReportError as e:  # e.g. an unreadable results.json left in OUTPUT: the runs themselves are saved
        log.warning(f"warning: no report written: {e}")
        return None
    log.info(f"report: {path} and {path.with_suffix('.html')}")
    return path


def print_summary(rows: list[dict]) -> None:
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    header = f"{'method':<14} {'scenario':<8} {'seed':>4} {'A_T':>7} {'A-bar':>7} {'forget':>7} {'BWT':>7} {'seconds':>8}"
    log.info(header)
    for r in rows:
        log.info(
            f"{r['method']:<14} {r['scenario']:<8} {r['seed']:>4} {fmt(r['final_average_accuracy']):>7} "
            f"{fmt(r['average_incremental_accuracy']):>7} {fmt(r['forgetting']):>7} {fmt(r['backward_transfer']):>7} "
            f"{r['train_seconds'] + r['eval_seconds']:>8.1f}"
        )
