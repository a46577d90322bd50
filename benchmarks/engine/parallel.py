"""Runs a grid's independent runs one after another, or side by side on Ray.

Every run seeds itself and writes its own run directory, so the order and the worker a
run lands on change nothing in its results. On Ray each run gets a thread budget (the
machine's cores split between the workers): several torch processes each using every
core slow each other down many times over.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from benchmarks.engine.config import RunConfig
from benchmarks.engine.logs import GRID_LOG, log, log_to
from benchmarks.engine.run import run
from benchmarks.engine.strategy import RunFailed
from methods.registry import METHODS

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Job:
    config: RunConfig
    run_dir: Path
    resume: bool
    stop_after_task: int | None
    tracker: object | None  # a reports.wandb_logging.WandbTracker, or None
    command: str = ""  # the invocation, for the provenance record
    extra: dict | None = None  # keys the results record carries besides the contract's (a tuned run's selection)


# report(job, outcome, payload): outcome "done" with the results record, or "failed" with the reason.
Report = Callable[[Job, str, object], None]


def run_job(job: Job, task_split, data, threads: int | None = None) -> tuple[str, object]:
    """("done", results) or ("failed", why). `threads`: a Ray worker's budget; the worker then also
    appends its lines to the grid's grid.log, which the driver (another process) has open."""
    grid_log = nullcontext()
    if threads:
        import torch

        torch.set_num_threads(threads)
        grid_log = log_to(job.run_dir.parent / GRID_LOG)
    try:
        with grid_log:
            results = run(job.config, task_split, data, job.run_dir, tracker=job.tracker, resume=job.resume,
                          stop_after_task=job.stop_after_task, command=job.command, extra_record=job.extra)
    except RunFailed as e:
        return "failed", str(e)
    return "done", results


def run_sequentially(jobs: list[Job], task_split, data, report: Report) -> None:
    for job in jobs:
        report(job, *run_job(job, task_split, data))


def threads_per_run(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def ray_started(workers: int, threads: int, address: str | None):
    """A local Ray instance sized for `workers` runs of `threads` threads, or the cluster at `address`.

    On a cluster every node needs this suite installed and the output directory on a shared file system.
    """
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every run's per-task lines, not "repeated 6x"; read at import
    import ray

    env = {
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO_ROOT),
        "PYTHONWARNINGS": "ignore:no QP solver found",  # avalanche's import-time warning, as in the driver
        "RAY_CHDIR_TO_TRIAL_DIR": "0",  # Ray Tune trials run where the driver does (provenance reads the checkout)
    }
    options = dict(runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=True, logging_level="ERROR")
    if address is None:  # a local instance sized for the grid, with a small object store (the data is a few MB)
        options.update(num_cpus=workers * threads, object_store_memory=256 * 1024**2)
    start = time.perf_counter()
    ray.init(address=address, **options)
    log.info(f"Ray: {workers} workers x {threads} threads (started in {time.perf_counter() - start:.1f}s)")
    try:
        yield
    finally:
        ray.shutdown()


def run_on_ray(jobs: list[Job], task_split, data, workers: int, address: str | None, report: Report) -> None:
    """At most `workers` runs at a time on a local Ray instance, or on the cluster at `address`."""
    import ray

    threads = threads_per_run(workers)
    with ray_started(workers, threads, address):
        remote_job = ray.remote(num_cpus=threads, max_retries=0)(run_job)
        split_ref, data_ref = ray.put(task_split), ray.put(data)
        # Longest first (LPT): a costly run started last would leave the other workers idle at the end.
        queue, pending = sorted(jobs, key=lambda job: -METHODS[job.config.method].cost), {}
        try:
            while queue or pending:
                while queue and len(pending) < workers:
                    job = queue.pop(0)
                    pending[remote_job.remote(job, split_ref, data_ref, threads)] = job
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    report(pending.pop(ref), *ray.get(ref))
        finally:
            for ref in pending:  # interrupted: each cut run keeps its last checkpoint, --resume continues it
                ray.cancel(ref, force=True)
