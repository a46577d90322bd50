"""One continual-learning run: train task by task, evaluate every task after each, checkpoint, record."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.data.stream import TaskSplit, TokenizedSplits, build_benchmark
from benchmarks.engine import checkpoint
from benchmarks.engine.config import RunConfig
from benchmarks.engine.interrupt import Interrupted, critical
from benchmarks.engine.logs import RUN_LOG, log, log_to
from benchmarks.engine.progress import ProgressPlugin
from benchmarks.engine.provenance import finished, provenance
from benchmarks.engine.results import RESULTS_FILE, results_record, write_json_atomically
from benchmarks.engine.strategy import RunFailed, build_strategy
from benchmarks.probing import PROBES, Prober
from methods.registry import METHODS


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
    matrix of an uninterrupted run. `tracker` (a `reports.wandb_logging.WandbTracker`, or
    None) logs the run to W&B. `command` (the invocation) goes into the provenance record.
    `on_task(matrix)` is called after every task (a Ray Tune trial reports there); `extra_record` holds
    keys the results record carries besides the contract's (a tuned run's `selection`).
    """
    method = METHODS[config.method]
    bench = build_benchmark(data, task_split, config.scenario, joint=method.joint)
    T, num_experiences = task_split.num_tasks, len(bench.train_stream)
    extra = [ProgressPlugin(config.run_name, num_experiences)]
    if tracker:
        extra.append(tracker.loss_logger())
    strategy = build_strategy(config, task_split, extra_plugins=extra)
    prober = config.probe_per_class and Prober(
        data, task_split, config.scenario, config.probe_per_class, config.data_seed, config.eval_batch_size
    )
    strategy.feature_cache.every_backbone = bool(prober)  # probing reuses the features evaluation computed
    origin = provenance(command, strategy.model.backbone)  # the backbone's weights as loaded, before training

    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / checkpoint.FILE_NAME
    progress = {"matrix": [], "train_seconds": 0.0, "eval_seconds": 0.0, "examples": 0}
    if prober:
        progress.update(probing={name: [] for name in PROBES}, probe_seconds=0.0)
    if resume and ckpt.exists():
        progress = checkpoint.restore(ckpt, strategy)
        log.info(f"[{config.run_name}] resumed after task {len(progress['matrix'])}/{num_experiences}")
        origin["started_at"] = progress.get("started_at", origin["started_at"])
    progress.setdefault("started_at", origin["started_at"])
    matrix = progress["matrix"]
    if tracker:
        tags = list(dict.fromkeys([config.method, config.label, config.scenario, config.benchmark]))
        # "label" (derpp-teacher, ...) is what the W&B Report groups runs by.
        tracker.start(config.run_name, {**asdict(config), "label": config.label}, tags, run_dir, matrix, method.joint)

    def save(status: str, error: str | None = None) -> dict:
        plugin = strategy.method_plugin
        stamped = finished(origin) if status in ("finished", "failed") else origin
        record = results_record(config, progress, status, plugin.memory_bytes() if plugin else None, error, stamped)
        record.update(extra_record or {})
        write_json_atomically(run_dir / RESULTS_FILE, record)
        return record

    try:
        for i, experience in enumerate(bench.train_stream):
            if i < len(matrix):
                continue
            start = time.perf_counter()
            strategy.train(experience)
            train_time = time.perf_counter() - start
            # Tasks after i have no head yet: their classes cannot be predicted, accuracy 0 by construction.
            seen = T if method.joint else i + 1
            start = time.perf_counter()
            strategy.accuracy = {}
            strategy.eval(bench.test_stream[:seen])
            eval_time = time.perf_counter() - start
            row = [strategy.accuracy.get(j, 0.0) for j in range(T)]
            probe_rows, probe_time = prober.probe(strategy) if prober else ({}, 0.0)
            last_task = i + 1 == num_experiences
            with critical():  # progress, checkpoint and results file change together
                matrix.append(row)
                progress["train_seconds"] += train_time
                progress["eval_seconds"] += eval_time
                progress["examples"] += len(experience.dataset) * strategy.train_epochs
                for name, probe_row in probe_rows.items():
                    progress["probing"][name].append(probe_row)
                if prober:
                    progress["probe_seconds"] += probe_time
                if last_task:
                    results = save("finished")
                    ckpt.unlink(missing_ok=True)
                else:
                    checkpoint.save(ckpt, strategy, progress, asdict(config))
                    results = save("stopped" if stop_after_task == i + 1 else "running")
            if tracker:
                tracker.log_task(matrix, method.joint)
            if on_task:
                on_task(matrix)
            seen_accs = " ".join(f"{a:.2f}" for a in row[:seen])
            probed = f" probe {sum(probe_rows['linear'][:seen]) / seen:.3f}" if prober else ""
            log.info(
                f"[{config.run_name}] task {i + 1}/{num_experiences}: seen-task accuracy {sum(row[:seen]) / seen:.3f} "
                f"({seen_accs}){probed} train {progress['train_seconds']:.1f}s"
            )
            if stop_after_task == i + 1 and not last_task:
                log.info(f"[{config.run_name}] stopped after task {i + 1} (--stop-after-task); --resume continues it")
                break
    except RunFailed as e:
        with critical():
            results = save("failed", str(e))
        if tracker:
            tracker.finish(results, method.joint, run_dir / RESULTS_FILE)
        raise
    except Interrupted:
        with critical():
            save("stopped")
        raise
    if tracker:
        tracker.finish(results, method.joint, run_dir / RESULTS_FILE)
    return results
