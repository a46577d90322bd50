"""Run a grid of continual-learning runs: methods x scenarios x seeds on one benchmark.

    python run_benchmark.py --methods derpp er lwf finetune joint --benchmark clinc150 --data-dir ../shared/data

Each run writes OUTPUT/<benchmark>-<scenario>-<method>-seed<k>/results.json and, unless
--wandb disabled, a W&B run (offline runs under OUTPUT/wandb/). At the end a summary table is
printed and OUTPUT/report.md and report.html compare everything under OUTPUT. Bad input: one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# avalanche imports qpsolvers, which warns at import that no QP solver is installed (none is used here).
warnings.filterwarnings("ignore", message="no QP solver found")

from benchmarks.errors import UsageError  # noqa: E402


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (no usage dump), exit code 2."""

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=["finetune"], help="finetune er derpp lwf joint")
    p.add_argument("--benchmark", default="clinc150", help="clinc150 | banking77 | .csv/.json/.jsonl path | HF hub name")
    p.add_argument("--scenario", nargs="+", default=["cil"], choices=["cil", "til"])
    p.add_argument("--tasks", type=int, help="number of tasks (default: the benchmark's, 5 for other data)")
    p.add_argument("--backbone", default="minilm",
                   help="minilm | tiny-bert | HF encoder name or path; with --head lm: tiny-gpt2 | HF causal LM")
    p.add_argument("--head", default="linear", help="linear | cosine | lm (a causal LM writes the label name)")
    p.add_argument("--lm-eval", default="generate", choices=["generate", "rank"],
                   help="--head lm: greedy generation + exact match, or the most likely label name")
    p.add_argument("--prompt-template", help="--head lm: the prompt around {text} (default: 'Text: {text}\\nLabel:')")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-5, help="learning rate of the backbone (AdamW)")
    p.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the heads")
    p.add_argument("--max-length", type=int, help="tokens per text (default: the benchmark's)")
    p.add_argument("--buffer-size", type=int, help="replay buffer size in examples (er, derpp)")
    p.add_argument("--replay-batch-size", type=int, help="buffer examples per step (default: --batch-size)")
    p.add_argument("--alpha", type=float, help="DER++ weight of the logit MSE")
    p.add_argument("--beta", type=float, help="DER++ weight of the replay CE (0 gives DER)")
    p.add_argument("--derpp-logits", choices=["stored", "teacher"],
                   help="DER++ distillation targets (default: stored; teacher with --head lm)")
    p.add_argument("--derpp-topk", type=int, help="--head lm, stored logits: vocabulary entries kept per answer token")
    p.add_argument("--lwf-alpha", type=float)
    p.add_argument("--lwf-temperature", type=float)
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
    p.add_argument("--data-seed", type=int, default=0, help="seed of --limit-per-class and of a made test split")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast (CUDA or CPU)")
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
    from methods.registry import METHODS
    from benchmarks.models import check_head_fits_backbone

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method '{unknown[0]}': use one of {', '.join(METHODS)}")
    check_head_fits_backbone(args.head, args.backbone)
    for name in ("tasks", "epochs", "batch_size", "eval_batch_size", "buffer_size", "replay_batch_size", "derpp_topk",
                 "limit_per_class", "max_length", "stop_after_task", "workers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value}")
    for name in ("alpha", "beta", "lwf_alpha", "lwf_temperature", "lr", "head_lr"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    for name in ("alpha", "beta", "lwf_alpha", "lr", "head_lr"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative, got {value}")
    if args.lwf_temperature is not None and args.lwf_temperature <= 0:
        raise UsageError(f"--lwf-temperature must be positive, got {args.lwf_temperature}")
    if args.prompt_template is not None:
        from benchmarks.generative import check_template

        check_template(args.prompt_template)


def hyperparameters(args: argparse.Namespace) -> dict:
    from methods.registry import defaults_for

    return {k: default if getattr(args, k) is None else getattr(args, k) for k, default in defaults_for(args.head).items()}


def main(argv=None) -> int:
    """0: every run finished; 1: some run failed (the others ran); 2: bad input; 130: interrupted."""
    from benchmarks.interrupt import EXIT_CODE, Interrupted, stop_on_signals

    args = parse_args(argv)
    try:
        check(args)
        with stop_on_signals():
            failed = run_grid(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Interrupted:
        print("interrupted: every completed task is saved; rerun with --resume to continue", file=sys.stderr)
        return EXIT_CODE
    return 1 if failed else 0


def run_grid(args: argparse.Namespace) -> int:
    """Runs the grid; returns how many runs failed."""
    import torch

    from benchmarks.harness import RunConfig
    from benchmarks.generative import DEFAULT_TEMPLATE
    from benchmarks.models import load_model
    from benchmarks.parallel import Job, run_on_ray, run_sequentially
    from benchmarks.registry import data_dir_from, limit_per_class, load_splits, resolve_spec
    from benchmarks.sources import Splits
    from benchmarks.stream import class_order, split_classes, tokenize
    from methods.registry import method_hyperparameters

    spec = resolve_spec(args.benchmark, args.text_column, args.label_column)
    splits = load_splits(spec, data_dir_from(args.data_dir), args.data_seed)
    if args.limit_per_class:
        splits = Splits(limit_per_class(splits.train, args.limit_per_class, args.data_seed), splits.test, splits.val)
    task_split = split_classes(class_order(splits.train.labels, args.class_order_seed), args.tasks or spec.num_tasks)
    max_length = args.max_length or spec.max_length
    lm = args.head == "lm"
    template = (args.prompt_template or DEFAULT_TEMPLATE) if lm else None
    _, tokenizer = load_model(args.backbone, args.head, task_split.class_names)
    data = tokenize(splits, task_split, tokenizer, max_length, template)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible here; use --device cpu or auto")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    hp = hyperparameters(args)

    configs = [
        RunConfig(
            benchmark=spec.name, scenario=scenario, method=method, seed=seed, backbone=args.backbone,
            head=args.head, num_tasks=task_split.num_tasks, max_length=max_length, epochs=args.epochs,
            batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, lr=args.lr, head_lr=args.head_lr,
            device=device, precision=args.precision, limit_per_class=args.limit_per_class, class_order_seed=args.class_order_seed,
            data_seed=args.data_seed, lm_eval=args.lm_eval if lm else None, prompt_template=template,
            hp=method_hyperparameters(method, hp, args.head),
        )
        for scenario in args.scenario
        for method in args.methods
        for seed in args.seeds
    ]
    output = Path(args.output)
    plan = plan_runs(configs, output, args.resume, args.overwrite)  # every refusal comes before any write
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
            for name in ("results.json", "checkpoint.pt"):
                (run_dir / name).unlink(missing_ok=True)
        tracker = make_tracker(args, output, group)
        jobs.append(Job(config, run_dir, action == "resume", args.stop_after_task, tracker))

    def report(job: Job, outcome: str, payload) -> None:
        if outcome == "failed":
            print(f"error: {job.config.run_name} failed: {payload}", file=sys.stderr)
            failed.append(job)
        else:
            finished[job.config.run_name] = payload
        print(f"[grid] {len(finished) + len(failed)}/{len(plan)} runs done", flush=True)

    if args.workers > 1 or args.ray_address:
        run_on_ray(jobs, task_split, data, args.workers, args.ray_address, report)
    else:
        run_sequentially(jobs, task_split, data, report)
    rows = [finished[c.run_name] for c, _, _ in plan if c.run_name in finished]
    print_summary(rows)
    if args.wandb != "disabled":
        print(f"W&B: project {args.wandb_project}, group {group}, {args.wandb} run files under {output / 'wandb'}")
        if args.wandb == "offline":
            print(f"upload with: wandb sync {output / 'wandb'}/offline-run-*")
    write_report(output)
    return len(failed)


def plan_runs(configs: list, output: Path, resume: bool, overwrite: bool) -> list[tuple]:
    """(config, "new" | "resume" | "skip", earlier results or None) per run; refuses to touch results silently."""
    import json
    from dataclasses import asdict

    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output):
            pass
    except OSError as e:
        raise UsageError(f"output directory {output} is not writable ({e.strerror}): choose another --output") from None
    plan = []
    for config in configs:
        path = output / config.run_name / "results.json"
        if overwrite or not path.exists():
            plan.append((config, "new", None))
            continue
        try:
            previous = json.loads(path.read_text())
            status = previous.get("status", "finished")
        except (OSError, ValueError, AttributeError):
            raise UsageError(f"{path} is not a readable results file: --overwrite replaces it") from None
        if not resume:
            raise UsageError(
                f"{path} exists ({status}): --resume skips finished runs and continues the others, --overwrite starts over"
            )
        if status in ("finished", "failed"):
            plan.append((config, "skip", previous))
            continue
        now, then = asdict(config), previous.get("config", {})
        changed = [k for k in now if k != "device" and now[k] != then.get(k)]
        if changed:
            k = changed[0]
            raise UsageError(
                f"cannot resume {config.run_name}: it was started with {k}={then.get(k)!r}, not {now[k]!r}; "
                "use the same settings, another --output, or --overwrite"
            )
        plan.append((config, "resume", previous))
    return plan


def make_tracker(args: argparse.Namespace, output: Path, group: str):
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


if __name__ == "__main__":
    sys.exit(main())
