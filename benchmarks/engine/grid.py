"""A grid of runs (methods x scenarios x seeds on one stream): its plan, the resume rules, its execution.

Every refusal (an existing result without --resume or --overwrite, a changed setting or a damaged
file under --resume, an unwritable output folder, one held by another invocation) comes before
anything is written.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from argparse import Namespace
from dataclasses import asdict
from pathlib import Path

from benchmarks.engine import checkpoint
from benchmarks.engine.config import RunConfig, recorded_config
from benchmarks.engine.lock import hold
from benchmarks.engine.results import RESULTS_FILE, contract_violation
from benchmarks.engine.settings import KINDS, TRAINING, load_grid_file, method_space, parse, product, variant_names
from benchmarks.errors import UsageError
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
    stream = prepare_stream(
        resolve_spec(args.benchmark, args.text_column, args.label_column), data_dir_from(args.data_dir),
        backbone=args.backbone, head=args.head, num_tasks=args.tasks, max_length=args.max_length,
        prompt_template=template, limit=args.limit_per_class, class_order_seed=args.class_order_seed,
        data_seed=args.data_seed, val_fraction=args.val_fraction, eval_split=args.eval_split,
    )
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible here; use --device cpu or auto")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    configs = run_configs(args, stream, device, template, grid_file)
    output = Path(args.output)
    with hold(output):  # one writer per output folder, from the plan to the report
        return run_plan(args, command, stream, output, plan_runs(configs, output, args.resume, args.overwrite))


def run_plan(args: Namespace, command: str, stream, output: Path, plan: list[tuple]) -> int:
    """Runs what `plan_runs` planned; returns how many runs failed."""
    from benchmarks.engine.parallel import Job, run_on_ray, run_sequentially

    group = args.wandb_group or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    finished, failed, jobs = {}, [], []
    for config, action, previous in plan:
        run_dir = output / config.run_name
        if action == "skip":
            print(f"[{config.run_name}] skipped: {previous['status']} in an earlier invocation")
            if previous["status"] == "finished":
                finished[config.run_name] = previous
            continue
        if action == "new":
            for name in (RESULTS_FILE, "checkpoint.pt"):
                (run_dir / name).unlink(missing_ok=True)
        tracker = make_tracker(args, output, group)
        jobs.append(Job(config, run_dir, action == "resume", args.stop_after_task, tracker, command))

    def report(job: Job, outcome: str, payload) -> None:
        if outcome == "failed":
            print(f"error: {job.config.run_name} failed: {payload}", file=sys.stderr)
            failed.append(job)
        elif outcome == "done":  # not "stopped": a Ray run cancelled by Ctrl-C
            finished[job.config.run_name] = payload
        print(f"[grid] {len(finished) + len(failed)}/{len(plan)} runs done", flush=True)

    if args.workers > 1 or args.ray_address:
        run_on_ray(jobs, stream.task_split, stream.data, args.workers, args.ray_address, report)
    else:
        run_sequentially(jobs, stream.task_split, stream.data, report)
    print_summary([finished[c.run_name] for c, _, _ in plan if c.run_name in finished])
    if args.wandb != "disabled":
        print(f"W&B: project {args.wandb_project}, group {group}, {args.wandb} run files under {output / 'wandb'}")
        if args.wandb == "offline":
            print(f"upload with: wandb sync {output / 'wandb'}/offline-run-*")
    write_report(output)
    return len(failed)


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
        for setting in product(method_space(method, given, defaults, grid_file.get(method))):
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
                    head=METHODS[method].head or args.head, num_tasks=stream.task_split.num_tasks, max_length=stream.max_length,
                    epochs=named["epochs"], batch_size=named["batch_size"], eval_batch_size=args.eval_batch_size,
                    lr=named["lr"], head_lr=named["head_lr"], device=device, precision=args.precision,
                    limit_per_class=args.limit_per_class, class_order_seed=args.class_order_seed,
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


def write_report(output: Path) -> None:
    """The comparison of every run under OUTPUT, this invocation's and earlier ones."""
    from reports.collect import ReportError
    from reports.render import write_report as render

    try:
        path = render(output, output)
    except ReportError as e:  # e.g. an unreadable results.json left in OUTPUT: the runs themselves are saved
        print(f"warning: no report written: {e}", file=sys.stderr)
        return
    print(f"report: {path} and {path.with_suffix('.html')}")


def print_summary(rows: list[dict]) -> None:
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    header = f"{'method':<14} {'scenario':<8} {'seed':>4} {'A_T':>7} {'A-bar':>7} {'forget':>7} {'BWT':>7} {'seconds':>8}"
    print(header)
    for r in rows:
        print(
            f"{r['method']:<14} {r['scenario']:<8} {r['seed']:>4} {fmt(r['final_average_accuracy']):>7} "
            f"{fmt(r['average_incremental_accuracy']):>7} {fmt(r['forgetting']):>7} {fmt(r['backward_transfer']):>7} "
            f"{r['train_seconds'] + r['eval_seconds']:>8.1f}"
        )
