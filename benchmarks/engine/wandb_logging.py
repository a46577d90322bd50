"""W&B logging of one benchmark run: accuracies per task, loss terms, the accuracy and forgetting matrices.

Avalanche's WandBLogger logs a matrix as a histogram, so the suite logs its own: each
matrix as an incremental `wandb.Table` (row "after task i", one column per task: each task
logs its new row, not a new copy of the table) and as a heatmap image when the run ends.
Accuracies and matrices are plotted against `task` (tasks trained so far, 1..T), the loss
terms against `iteration`: two x axes, because there are many iterations per task.

As W&B means them: `job_type` is the stage (`train` for a run, `report` for the grid's
report), the method and scenario are config and tags, the group is the output folder's (so
`--resume`d invocations share it), a resumed run continues its W&B run (its id is kept in
the run directory), and results files and reports are artifacts.

W&B is never the reason a benchmark run fails: the first error from wandb (no network,
bad key, ...) prints one warning line and turns logging off for the rest of that run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

os.environ.setdefault("WANDB_SILENT", "true")  # no banners between the benchmark's own lines

import wandb  # noqa: E402
from avalanche.core import SupervisedPlugin  # noqa: E402

from benchmarks.engine.logs import log  # noqa: E402
from benchmarks.errors import first_line  # noqa: E402
from benchmarks.metrics import SUMMARY_KEYS, forgetting_matrix  # noqa: E402
from reports.plots import evaluated_cells, heatmap  # noqa: E402

RUN_ID_FILE = "wandb_run_id"  # in the run directory: a resumed run continues this W&B run


def default_group(output: Path) -> str:
    """The output folder's name and a hash of its absolute path: the same for every invocation
    that writes there (a `--resume` included), different for two folders of the same name."""
    where = str(Path(output).resolve())
    return f"{safe_name(Path(where).name)}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


def safe_name(text: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)


def row_labels(tasks: int, joint: bool) -> list[str]:
    return ["all"] if joint else [str(i + 1) for i in range(tasks)]


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
        self.tables = {}

    def _init(self, **kwargs):
        os.makedirs(self.directory, exist_ok=True)
        return wandb.init(
            dir=self.directory, mode=self.mode, project=self.project, entity=self.entity, group=self.group,
            reinit="finish_previous", settings=wandb.Settings(console="off"),  # keep our stdout/stderr untouched
            **kwargs,
        )

    @guarded
    def start(self, name: str, config: dict, tags: list[str], run_dir: Path, matrix: list[list[float]], joint: bool) -> None:
        """Opens the run's W&B run, or continues it when `run_dir` holds its id (a resumed run).

        `matrix`: the rows of the tasks finished before this start. A W&B run that continues
        has them; a new one (offline mode cannot continue a run) gets them again first.
        """
        self.name = name
        id_file = run_dir / RUN_ID_FILE
        earlier = id_file.read_text().strip() if id_file.exists() else None
        self.run = self._init(name=name, job_type="train", config=config, tags=tags, id=earlier, resume="allow")
        id_file.write_text(self.run.id)
        if earlier and self.run.resumed:
            log.info(f"[{name}] W&B: continues run {earlier}")
        elif earlier:
            log.info(
                f"[{name}] W&B: {self.mode} mode cannot continue run {earlier}; this part is a new {self.mode} "
                "run with the same id (`wandb sync` uploads the parts in order of start)"
            )
        self.run.define_metric("task")
        self.run.define_metric("iteration")
        for prefix in ("acc", "matrix", "heatmap"):
            self.run.define_metric(f"{prefix}/*", step_metric="task")
        self.run.define_metric("train/*", step_metric="iteration")
        columns = ["after task"] + [f"task {j + 1}" for j in range(config["num_tasks"])]
        self.tables = {key: wandb.Table(columns=columns, log_mode="INCREMENTAL") for key in ("accuracy", "forgetting")}
        for k in range(1, len(matrix) + 1):
            if self.run.resumed:  # the W&B run has these rows: only the tables need them, to continue
                self._add_rows(matrix[:k], joint)
            else:
                self.log_task(matrix[:k], joint)

    def loss_logger(self) -> SupervisedPlugin:
        return LossLogger(self, self.log_every)

    @guarded
    def log_losses(self, means: dict[str, float], iteration: int) -> None:
        self.run.log({**{f"train/{k}": v for k, v in means.items()}, "iteration": iteration})

    def _add_rows(self, matrix: list[list[float]], joint: bool) -> None:
        """The last row of each matrix into its incremental table (forgetting: none for joint)."""
        label = row_labels(len(matrix), joint)[-1]
        self.tables["accuracy"].add_data(label, *matrix[-1])
        if not joint:  # one evaluation, nothing to forget
            self.tables["forgetting"].add_data(label, *forgetting_matrix(matrix)[-1])

    @guarded
    def log_task(self, matrix: list[list[float]], joint: bool) -> None:
        """After training a task: its row of accuracies, and the new row of both matrices."""
        task = len(matrix)
        seen = len(matrix[0]) if joint else task
        row = matrix[-1]
        record = {f"acc/task_{j + 1}": row[j] for j in range(seen)}
        record["acc/average_seen"] = sum(row[:seen]) / seen
        self._add_rows(matrix, joint)
        record["matrix/accuracy"] = self.tables["accuracy"]
        if not joint:
            record["matrix/forgetting"] = self.tables["forgetting"]
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

    def log_probing(self, results: dict, joint: bool) -> None:
        """The linear probe's matrix as a table and a heatmap, and each probe's A_T in the summary."""
        probing = results["probing_matrix"]
        rows = row_labels(len(probing), joint)
        fig = heatmap(probing, f"{self.name}: linear probe accuracy (%)", rows)
        columns = ["after task"] + [f"task {j + 1}" for j in range(len(probing[0]))]
        table = wandb.Table(columns=columns, data=[[label, *row] for label, row in zip(rows, probing)])
        self.run.log({"matrix/probing": table, "heatmap/probing": wandb.Image(fig), "task": len(probing)})
        for probe, summary in results["probing_summary"].items():
            if summary["final_average_accuracy"] is not None:
                self.run.summary[f"probe_{probe}/final_average_accuracy"] = summary["final_average_accuracy"]

    @guarded
    def finish(self, results: dict, joint: bool, results_file: Path) -> None:
        """The heatmaps of the matrix so far, the contract's numbers (run summary) and the results
        file as an artifact; then the run is closed (failed only when the run failed: a stopped
        run is resumable)."""
        if results["accuracy_matrix"]:
            self.log_heatmaps(results["accuracy_matrix"], joint)
        if results.get("probing_matrix"):
            self.log_probing(results, joint)
        for key in SUMMARY_KEYS:
            if results[key] is not None:
                self.run.summary[key] = results[key]
        self.run.summary["status"] = results["status"]
        artifact = wandb.Artifact(safe_name(f"results-{self.name}"), type="results", metadata={"status": results["status"]})
        artifact.add_file(str(results_file))
        self.run.log_artifact(artifact)
        self.run.finish(exit_code=1 if results["status"] == "failed" else 0)
        self.run = None

    @guarded
    def log_report(self, output: Path, files: list[Path]) -> None:
        """The grid's report (every run under OUTPUT) as an artifact of a `report` run in the group."""
        self.name = "the report"
        self.run = self._init(name=f"report-{self.group}", job_type="report")
        artifact = wandb.Artifact(safe_name(f"report-{self.group}"), type="report")
        for path in files:
            artifact.add_file(str(path), name=str(path.relative_to(output)))
        self.run.log_artifact(artifact)
        self.run.finish()
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
