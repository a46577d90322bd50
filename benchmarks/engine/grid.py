"""A grid of runs (methods x scenarios x seeds on one stream): from the request to the report.

The plan and its resume rules are in `benchmarks.engine.plan`, the search of `--select-on val` in
`benchmarks.engine.selection`; here they are put together, the runs executed (one after another or
on Ray), the summary printed and the report written. An unwritable output folder, or one held by
another invocation, is refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from benchmarks.engine.lock import hold
from benchmarks.engine.logs import GRID_LOG, log, log_to
from benchmarks.engine.plan import plan_runs, protocol_record, run_configs
from benchmarks.request import GridRequest
from benchmarks.results import RESULTS_FILE
from benchmarks.errors import OutputUnwritable, UsageError, unwritable


def run_grid(request: GridRequest) -> int:
    """Runs the grid `request` describes; returns how many runs failed."""
    import torch

    from benchmarks.data.prepare import prepare_stream
    from benchmarks.data.registry import data_dir_from, resolve_spec
    from benchmarks.models.generative import DEFAULT_TEMPLATE

    spec = request.stream
    template = (spec.prompt_template or DEFAULT_TEMPLATE) if spec.head == "lm" else None

    def stream_for_split(eval_split: str, limit: int | None):
        return prepare_stream(
            resolve_spec(spec.benchmark, spec.text_column, spec.label_column), data_dir_from(spec.data_dir),
            backbone=spec.backbone, head=spec.head, num_tasks=spec.tasks, max_length=spec.max_length,
            prompt_template=template, limit=limit, first_classes=spec.classes, class_order_seed=spec.class_order_seed,
            data_seed=spec.data_seed, val_fraction=spec.val_fraction, eval_split=eval_split,
            revision=spec.revision, trust_remote_code=spec.trust_remote_code,
        )

    stream = stream_for_split(spec.eval_split, spec.limit_per_class)
    if request.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible here; use --device cpu or auto")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if request.device == "auto" else request.device
    configs = run_configs(request, stream, device, template)
    output = Path(request.output)
    group = request.wandb_group or ""
    if request.wandb != "disabled" and not group:
        from benchmarks.engine.wandb_logging import default_group

        group = default_group(output)  # the same for every invocation writing to --output
    with hold(output):  # one writer per output folder, from the plan (and a search) to the report
        extras = {}
        if request.select_on:
            from benchmarks.engine.selection import tuned_configs

            configs, extras = tuned_configs(request, configs, output, stream_for_split)
        extras = {c.run_name: {**protocol_record(request, c.method), **extras.get(c.run_name, {})} for c in configs}
        plan = plan_runs(configs, output, request.resume, request.overwrite)
        with log_to(output / GRID_LOG):
            return execute(request, plan, stream, output, group, extras)


def execute(request: GridRequest, plan: list[tuple], stream, output: Path, group: str, extras: dict) -> int:
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
        tracker = make_tracker(request, output, group)
        jobs.append(Job(config, run_dir, action == "resume", request.stop_after_task, tracker, request.command,
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
        if request.workers > 1 or request.ray_address:
            run_on_ray(jobs, stream.task_split, stream.data, request.workers, request.ray_address, report)
        else:
            run_sequentially(jobs, stream.task_split, stream.data, report)
    print_summary([finished[c.run_name] for c, _, _ in plan if c.run_name in finished])
    if request.wandb != "disabled":
        log.info(f"W&B: project {request.wandb_project}, group {group}, {request.wandb} run files under {output / 'wandb'}")
        if request.wandb == "offline":
            log.info(f"upload with: wandb sync {output / 'wandb'}/offline-run-*")
    report = write_report(output)
    if report and request.wandb != "disabled":
        files = [report, report.with_suffix(".html"), output / "results.csv", *sorted((output / "figures").glob("*.png"))]
        make_tracker(request, output, group).log_report(output, files)
    return len(failed)


def make_tracker(request: GridRequest, output: Path, group: str):
    if request.wandb == "disabled":
        return None
    from benchmarks.engine.wandb_logging import WandbTracker

    return WandbTracker(request.wandb, output, request.wandb_project, request.wandb_entity, group)


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
