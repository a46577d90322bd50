"""What happens during a run besides training and recording it, as hooks on its task loop (Avalanche's
plugin style, one level up: per task rather than per step). `benchmarks.engine.run.Run` calls them."""

from __future__ import annotations

from benchmarks.probing import PROBES, Prober


class RunObserver:
    """Hooks on a run's task loop; each does nothing unless an observer overrides it."""

    def started(self, run) -> None:
        """The strategy is built and the progress restored (a resumed run has rows already)."""

    def evaluated(self, run, task: int) -> None:
        """Task `task` is trained and evaluated (`run.strategy` as it is then), before it is recorded."""

    def recording(self, run, task: int) -> None:
        """Task `task`'s row is being recorded: an observer adds its own to `run.progress` here, atomically."""

    def saved(self, run, task: int) -> None:
        """Task `task` is saved: its checkpoint and results file are on disk."""

    def ended(self, run, record: dict) -> None:
        """The run finished, stopped after a task as asked, or failed (`record`: its results)."""


class ProbeObserver(RunObserver):
    """--probe: after each task, probes of the backbone's features; their rows go into the progress."""

    def __init__(self, data, task_split, config):
        self.prober = Prober(data, task_split, config.scenario, config.probe_per_class, config.data_seed,
                             config.eval_batch_size)
        self.rows, self.seconds = {}, 0.0

    def started(self, run) -> None:
        run.strategy.feature_cache.every_backbone = True  # probing reuses the features evaluation computed
        if run.progress.probing is None:
            run.progress.probing = {name: [] for name in PROBES}

    def evaluated(self, run, task: int) -> None:
        self.rows, self.seconds = self.prober.probe(run.strategy)

    def recording(self, run, task: int) -> None:
        for name, row in self.rows.items():
            run.progress.probing[name].append(row)
        run.progress.probe_seconds += self.seconds


class WandbObserver(RunObserver):
    """Logs the run to W&B through its `WandbTracker`: each task's row, then the run's summary and files."""

    def __init__(self, tracker):
        self.tracker = tracker

    def started(self, run) -> None:
        config = run.config
        tags = list(dict.fromkeys([config.method, config.label, config.scenario, config.benchmark]))
        # "label" (derpp-teacher, ...) is what the W&B Report groups runs by.
        self.tracker.start(config.run_name, {**run.config_record(), "label": config.label}, tags, run.run_dir,
                           run.progress.matrix, run.method.joint)

    def saved(self, run, task: int) -> None:
        self.tracker.log_task(run.progress.matrix, run.method.joint)

    def ended(self, run, record: dict) -> None:
        from benchmarks.results import RESULTS_FILE

        self.tracker.finish(record, run.method.joint, run.run_dir / RESULTS_FILE)


class TaskCallback(RunObserver):
    """Calls `on_task(matrix)` after every saved task (a Ray Tune trial reports its score there)."""

    def __init__(self, on_task):
        self.on_task = on_task

    def saved(self, run, task: int) -> None:
        self.on_task(run.progress.matrix)
