"""W&B logging of one benchmark run: accuracies per task, loss terms, the accuracy and forgetting matrices.

Avalanche's WandBLogger logs a matrix as a histogram, so the suite logs its own: each
matrix as a `wandb.Table` (row "after task i", one column per task) after every task, and as
a heatmap image when the run ends. Accuracies and matrices are plotted against `task` (tasks trained so
far, 1..T), the loss terms against `iteration`: two x axes, because there are many
iterations per task.

W&B is never the reason a benchmark run fails: the first error from wandb (no network,
bad key, ...) prints one warning line and turns logging off for the rest of that run.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("WANDB_SILENT", "true")  # no banners between the benchmark's own lines

import wandb  # noqa: E402
from avalanche.core import SupervisedPlugin  # noqa: E402

from benchmarks.engine.logs import log  # noqa: E402
from benchmarks.errors import first_line  # noqa: E402
from benchmarks.metrics import SUMMARY_KEYS, forgetting_matrix  # noqa: E402
from reports.plots import evaluated_cells, heatmap  # noqa: E402


def row_labels(tasks: int, joint: bool) -> list[str]:
    return ["all"] if joint else [str(i + 1) for i in range(tasks)]


def matrix_table(matrix, row_labels) -> wandb.Table:
    columns = ["after task"] + [f"task {j + 1}" for j in range(len(matrix[0]))]
    return wandb.Table(columns=columns, data=[[label, *row] for label, row in zip(row_labels, matrix)])


def guarded(method):
    """Runs a wandb call unless logging is off; on any error, warns once and turns logging off."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.off:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            self.off = True
            log.warning(f"warning: W&B logging is off for {self.name} ({type(e).__name__}: {first_line(e)})")
            if self.run is not None:
                try:
                    self.run.finish(exit_code=1)
                except Exception:
                    pass  # the warning above already says logging stopped
            return None

    return wrapper


class WandbTracker:
    """One W&B run per (benchmark, scenario, method, seed); `benchmarks.engine.run.run` calls it."""

    def __init__(self, mode: str, directory, project: str, entity: str | None, group: str, log_every: int = 50):
        self.mode, self.directory, self.project, self.entity, self.group = mode, directory, project, entity, group
        self.log_every = log_every
        self.run = None
        self.off = False
        self.name = "this run"

    @guarded
    def start(self, name: str, job_type: str, config: dict) -> None:
        self.name = name
        os.makedirs(self.directory, exist_ok=True)
        self.run = wandb.init(
            dir=self.directory, mode=self.mode, project=self.project, entity=self.entity, group=self.group,
            name=name, job_type=job_type, config=config, reinit="finish_previous",
            settings=wandb.Settings(console="off"),  # keep our stdout/stderr untouched
        )
        self.run.define_metric("task")
        self.run.define_metric("iteration")
        for prefix in ("acc", "matrix", "heatmap"):
            self.run.define_metric(f"{prefix}/*", step_metric="task")
        self.run.define_metric("train/*", step_metric="iteration")

    def loss_logger(self) -> SupervisedPlugin:
        return LossLogger(self, self.log_every)

    @guarded
    def log_losses(self, means: dict[str, float], iteration: int) -> None:
        self.run.log({**{f"train/{k}": v for k, v in means.items()}, "iteration": iteration})

    @guarded
    def log_task(self, matrix: list[list[float]], joint: bool) -> None:
        """After training a task: its row of accuracies, and both matrices so far as tables."""
        task = len(matrix)
        seen = len(matrix[0]) if joint else task
        row = matrix[-1]
        record = {f"acc/task_{j + 1}": row[j] for j in range(seen)}
        record["acc/average_seen"] = sum(row[:seen]) / seen
        rows = row_labels(task, joint)
        record["matrix/accuracy"] = matrix_table(matrix, rows)
        if not joint:  # one evaluation, nothing to forget
            record["matrix/forgetting"] = matrix_table(forgetting_matrix(matrix), rows)
        self.run.log({**record, "task": task})

    def log_heatmaps(self, matrix: list[list[float]], joint: bool) -> None:
        """Both matrices as images, once per run: the last heatmap holds every earlier one as its
        first rows, and drawing and encoding two 15 x 15 figures after every task cost ~1.7 s."""
        rows = row_labels(len(matrix), joint)
        fig = heatmap(evaluated_cells(matrix, joint), f"{self.name}: accuracy (%)", rows)
        record = {"heatmap/accuracy": wandb.Image(fig)}
        if not joint:
            # Forgetting is negative where a task improved later: a diverging scale centred on 0.
            F = forgetting_matrix(matrix)
            fig = heatmap(F, f"{self.name}: forgetting (%)", rows, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
            record["heatmap/forgetting"] = wandb.Image(fig)
        self.run.log({**record, "task": len(matrix)})

    @guarded
    def finish(self, results: dict, joint: bool) -> None:
        """The heatmaps of the matrix so far and the contract's numbers (run summary); then the run is closed."""
        if results["accuracy_matrix"]:
            self.log_heatmaps(results["accuracy_matrix"], joint)
        for key in SUMMARY_KEYS:
            if results[key] is not None:
                self.run.summary[key] = results[key]
        self.run.summary["status"] = results["status"]
        self.run.finish(exit_code=0 if results["status"] == "finished" else 1)
        self.run = None


class LossLogger(SupervisedPlugin):
    """Means of `strategy.loss` and of each `strategy.loss_terms` entry over every `every` iterations."""

    def __init__(self, tracker: WandbTracker, every: int):
        super().__init__()
        self.tracker, self.every = tracker, every
        self.sums, self.counts = {}, {}
        self.iteration = 0

    def after_training_iteration(self, strategy, **kwargs):
        self.iteration += 1
        for key, value in {"loss": strategy.loss, **strategy.loss_terms}.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.detach()
            self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts["loss"] == self.every:
            self.flush()

    def after_training_exp(self, strategy, **kwargs):
        """The last iterations of a task form a shorter interval, so no task ends unlogged."""
        if self.counts:
            self.flush()

    def flush(self):
        self.tracker.log_losses({k: float(s) / self.counts[k] for k, s in self.sums.items()}, self.iteration)
        self.sums, self.counts = {}, {}
