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

from benchmarks.engine import checkpoint
from benchmarks.results import RunConfig
from benchmarks.engine.interrupt import Interrupted, critical, stop_on_signals
from benchmarks.engine.logs import GRID_LOG, log, log_to
from benchmarks.engine.run import run
from benchmarks.engine.strategy import RunFailed
from benchmarks.errors import OutputUnwritable, UsageError, first_line

REPO_ROOT = Path(__file__).resolve().parents[2]
RETRIES = 2  # attempts after a worker process or its node dies (not after an exception in the run)
STOP_SECONDS = 300  # how long Ctrl-C waits for the runs in flight to save `stopped`
# Every Ray worker's environment: this checkout's code, and Ray Tune trials run where the driver does
# (provenance reads the checkout).
WORKER_ENV = {
    "PYTHONPATH": str(REPO_ROOT), "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "PYTHONWARNINGS": "ignore:no QP solver found",  # avalanche's import-time warning, as in the driver
}


@dataclass(frozen=True)
class Job:
    config: RunConfig
    run_dir: Path
    resume: bool
    stop_after_task: int | None
    tracker: object | None  # a benchmarks.engine.wandb_logging.WandbTracker, or None
    command: str = ""  # the invocation, for the provenance record
    extra: dict | None = None  # keys the results record carries besides the contract's (a tuned run's selection)


# report(job, outcome, payload): outcome "done" with the results record, "failed" with the reason,
# "stopped" (a Ray run cancelled by Ctrl-C) with None, or "unwritable" (a Ray run's full disk) with the message.
Report = Callable[[Job, str, object], None]


def run_job(job: Job, task_split, data, threads: int | None = None) -> tuple[str, object]:
    """("done", results) or ("failed", why). `threads`: a Ray worker's budget; the worker then also
    appends its lines to the grid's grid.log, which the driver (another process) has open.

    A checkpoint in a new run's folder is this job's own (the plan deleted older ones): one
    left by an attempt whose Ray worker died, which the retry continues."""
    grid_log = nullcontext()
    if threads:
        import torch

        torch.set_num_threads(threads)
        grid_log = log_to(job.run_dir.parent / GRID_LOG)
    resume = job.resume or (job.run_dir / checkpoint.FILE_NAME).exists()
    try:
        with grid_log:
            results = run(job.config, task_split, data, job.run_dir, tracker=job.tracker, resume=resume,
                          stop_after_task=job.stop_after_task, command=job.command, extra_record=job.extra)
    except RunFailed as e:
        return "failed", str(e)
    return "done", results


def run_remote_job(job: Job, task_split, data, threads: int) -> tuple[str, object]:
    """`run_job` in a Ray worker, where the driver's Ctrl-C arrives as a cancel (a simulated
    SIGINT): the run then stops as on Ctrl-C, after saving, and reports "stopped"."""
    try:
        with stop_on_signals():
            return run_job(job, task_split, data, threads)
    except Interrupted:
        return "stopped", None
    except OutputUnwritable as e:  # the driver ends the grid with this one line
        return "unwritable", str(e)


def run_sequentially(jobs: list[Job], task_split, data, report: Report) -> None:
    for job in jobs:
        report(job, *run_job(job, task_split, data))


def threads_per_run(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def ray_started(workers: int, address: str | None):
    """A local Ray instance sized for `workers` runs, or the cluster at `address`; yields the threads per run.

    On a cluster every node needs this suite installed and the output directory on a shared file system.
    """
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every run's per-task lines, not "repeated 6x"; read at import
    import ray

    options = dict(runtime_env={"env_vars": WORKER_ENV}, include_dashboard=False, log_to_driver=True,
                   logging_level="ERROR")
    if address is None:  # a local instance sized for the grid, with a small object store (the data is a few MB)
        threads = threads_per_run(workers)
        options.update(num_cpus=workers * threads, object_store_memory=256 * 1024**2)
    start = time.perf_counter()
    try:
        ray.init(address=address, **options)
    except ConnectionError as e:  # a wrong address, or a token the cluster does not accept
        raise UsageError(
            f"cannot join the Ray cluster at {address} ({first_line(e)}): check --ray-address, and that "
            "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token) holds the cluster's token"
        ) from None
    try:
        if address is not None:
            threads = cluster_threads_per_run(workers)
        log.info(f"Ray: {workers} workers x {threads} threads (started in {time.perf_counter() - start:.1f}s)")
        yield threads
    finally:
        ray.shutdown()


def run_on_ray(jobs: list[Job], task_split, data, workers: int, address: str | None, report: Report) -> None:
    """At most `workers` runs at a time on a local Ray instance, or on the cluster at `address`.

    A run whose worker process or node dies is retried (`RETRIES`) and continues from its
    last checkpoint. On Ctrl-C every run in flight is cancelled, saves `stopped`, and the grid ends.
    """
    import ray

    with ray_started(workers, address) as threads:
        env = {**WORKER_ENV, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        remote_job = ray.remote(num_cpus=threads, max_retries=RETRIES, runtime_env={"env_vars": env})(run_remote_job)
        split_ref, data_ref = ray.put(task_split), ray.put(data)
        # Longest first (LPT): a costly run started last would leave the other workers idle at the end.
        queue, pending = sorted(jobs, key=lambda job: -job.config.declared.cost), {}
        try:
            while queue or pending:
                while queue and len(pending) < workers:
                    job = queue.pop(0)
                    pending[remote_job.remote(job, split_ref, data_ref, threads)] = job
                with critical():  # a Ctrl-C raised inside Ray's C++ wait would be a SystemError: raise it after
                    done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in done:
                    report(pending.pop(ref), *ray.get(ref))
        except Interrupted:
            for ref in pending:
                ray.cancel(ref)  # not force: a simulated SIGINT, after which the run saves `stopped`
            ray.wait(list(pending), num_returns=len(pending), timeout=STOP_SECONDS)
            raise


def cluster_threads_per_run(workers: int) -> int:
    """Threads per run on a cluster: the cores split between the workers, and no more than the
    smallest node has, so that a run fits on every node."""
    import ray

    cpus = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]]
    return max(1, min(int(min(cpus)), int(sum(cpus)) // workers))
