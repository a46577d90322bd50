"""One continual-learning run: train task by task, evaluate every task after each, checkpoint, record.

The loop itself trains, evaluates, and saves the checkpoint and the results file together after each
task. What else happens during a run hangs on it as a `RunObserver` (`benchmarks.engine.observers`),
in the style of Avalanche's plugins: probing the backbone, logging to W&B, reporting to a Ray Tune trial.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.data.stream import TokenizedSplits, build_benchmark
from benchmarks.engine import checkpoint
from benchmarks.engine.interrupt import Interrupted, critical
from benchmarks.engine.logs import RUN_LOG, log, log_to
from benchmarks.engine.observers import ProbeObserver, RunObserver, TaskCallback, WandbObserver
from benchmarks.engine.progress import ProgressPlugin
from benchmarks.engine.provenance import finished, provenance
from benchmarks.engine.strategy import RunFailed, build_strategy
from benchmarks.models.task_split import TaskSplit
from benchmarks.results import RESULTS_FILE, Progress, RunConfig, results_record, write_json_atomically


class Run:
    """A run in progress: its config, strategy, progress and where it writes."""

    def __init__(self, config: RunConfig, task_split: TaskSplit, data: TokenizedSplits, run_dir: Path,
                 observers: list[RunObserver], plugins: list, command: str, extra_record: dict | None):
        self.config, self.task_split, self.run_dir = config, task_split, run_dir
        self.method = config.declared
        self.bench = build_benchmark(data, task_split, config.scenario, joint=self.method.joint)
        self.tasks = len(self.bench.train_stream)
        self.strategy = build_strategy(config, task_split, extra_plugins=[ProgressPlugin(config.run_name, self.tasks), *plugins])
        self.origin = provenance(command, self.strategy.model.backbone)  # the backbone's weights as loaded, before training
        self.observers, self.extra_record = observers, extra_record or {}
        self.progress = Progress(started_at=self.origin["started_at"])
        self.checkpoint = run_dir / checkpoint.FILE_NAME

    def restore(self) -> None:
        """Continues from the checkpoint, if there is one."""
        if self.checkpoint.exists():
            self.progress = checkpoint.restore(self.checkpoint, self.strategy)
            if self.progress.started_at is None:  # a checkpoint older than the field
                self.progress.started_at = self.origin["started_at"]
            self.origin["started_at"] = self.progress.started_at
            log.info(f"[{self.config.run_name}] resumed after task {len(self.progress.matrix)}/{self.tasks}")

    def train_and_evaluate(self, task: int) -> TaskDone:
        """Trains task `task`, then evaluates every task seen."""
        experience = self.bench.train_stream[task]
        start = time.perf_counter()
        self.strategy.train(experience)
        train_seconds = time.perf_counter() - start
        # Tasks after this one have no head yet: their classes cannot be predicted, accuracy 0 by construction.
        start = time.perf_counter()
        self.strategy.accuracy = {}
        self.strategy.eval(self.bench.test_stream[: self.seen(task)])
        row = [self.strategy.accuracy.get(j, 0.0) for j in range(self.task_split.num_tasks)]
        return TaskDone(row, train_seconds, time.perf_counter() - start, len(experience.dataset) * self.strategy.train_epochs)

    def record(self, done: TaskDone) -> None:
        self.progress.matrix.append(done.row)
        self.progress.train_seconds += done.train_seconds
        self.progress.eval_seconds += done.eval_seconds
        self.progress.examples += done.examples

    def seen(self, task: int) -> int:
        return self.task_split.num_tasks if self.method.joint else task + 1

    def save_task(self, status: str) -> dict:
        """After a task: the checkpoint (none once the run has finished) and the results file."""
        if status == "finished":
            self.checkpoint.unlink(missing_ok=True)
        else:
            checkpoint.save(self.checkpoint, self.strategy, self.progress, self.config_record())
        return self.save(status)

    def save(self, status: str, error: str | None = None) -> dict:
        """The results file as the run stands (mid-task: the checkpoint stays that of the last task)."""
        plugin = self.strategy.method_plugin
        stamped = finished(self.origin) if status in ("finished", "failed") else self.origin
        record = results_record(self.config, self.progress, status, plugin.memory_bytes() if plugin else None, error,
                                stamped)
        record.update(self.extra_record)
        write_json_atomically(self.run_dir / RESULTS_FILE, record)
        return record

    def config_record(self) -> dict:
        return asdict(self.config)

    def notify(self, hook: str, *args) -> None:
        for observer in self.observers:
            getattr(observer, hook)(self, *args)


def run(config: RunConfig, task_split: TaskSplit, data: TokenizedSplits, run_dir: Path, **options) -> dict:
    """`train_and_evaluate`, its log lines also appended to the run's `run.log`."""
    with log_to(run_dir / RUN_LOG):
        return train_and_evaluate(config, task_split, data, run_dir, **options)


def train_and_evaluate(
    config: RunConfig, task_split: TaskSplit, data: TokenizedSplits, run_dir: Path, tracker=None,
    resume: bool = False, stop_after_task: int | None = None, command: str = "", on_task=None,
    extra_record: dict | None = None,
) -> dict:
    """Trains and evaluates one (method, scenario, seed); returns the results record.

    After every task the run checkpoints into `run_dir` and rewrites `results.json` with its
    status, so that `resume=True` continues from the last completed task and reproduces the
    matrix of an uninterrupted run. `tracker` (a `benchmarks.engine.wandb_logging.WandbTracker`,
    or None) logs the run to W&B. `command` (the invocation) goes into the provenance record.
    `on_task(matrix)` is called after every task (a Ray Tune trial reports there); `extra_record` holds
    keys the results record carries besides the contract's (a tuned run's `selection`).
    """
    observers = [
        *([ProbeObserver(data, task_split, config)] if config.probe_per_class else []),
        *([WandbObserver(tracker)] if tracker else []),
        *([TaskCallback(on_task)] if on_task else []),
    ]
    run_dir.mkdir(parents=True, exist_ok=True)
    current = Run(config, task_split, data, run_dir, observers, [tracker.loss_logger()] if tracker else [], command,
                  extra_record)
    if resume:
        current.restore()
    current.notify("started")
    record = None
    try:
        for task in range(len(current.progress.matrix), current.tasks):
            done = current.train_and_evaluate(task)
            current.notify("evaluated", task)
            last = task + 1 == current.tasks
            status = "finished" if last else "stopped" if stop_after_task == task + 1 else "running"
            with critical():  # the progress, the checkpoint and the results file change together
                current.record(done)
                current.notify("recording", task)
                record = current.save_task(status)
            current.notify("saved", task)
            log_task(current, task, done.row)
            if status == "stopped":
                log.info(f"[{config.run_name}] stopped after task {task + 1} (--stop-after-task); --resume continues it")
                break
    except RunFailed as e:
        with critical():
            record = current.save("failed", str(e))
        current.notify("ended", record)
        raise
    except Interrupted:
        with critical():
            current.save("stopped")
        raise
    if record is not None:
        current.notify("ended", record)
    return record


def log_task(run: Run, task: int, row: list[float]) -> None:
    seen = run.seen(task)
    accuracies = " ".join(f"{a:.2f}" for a in row[:seen])
    probing = run.progress.probing
    probed = f" probe {sum(probing['linear'][-1][:seen]) / seen:.3f}" if probing else ""
    log.info(
        f"[{run.config.run_name}] task {task + 1}/{run.tasks}: seen-task accuracy {sum(row[:seen]) / seen:.3f} "
        f"({accuracies}){probed} train {run.progress.train_seconds:.1f}s"
    )


@dataclass(frozen=True)
class TaskDone:
    """A task trained and evaluated, not yet recorded."""

    row: list[float]  # accuracy on each task
    train_seconds: float
    eval_seconds: float
    examples: int  # training examples seen, epochs counted
