"""The results contract: one `results.json` per run, rewritten after every task."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks import metrics
from benchmarks.engine.atomic import write_atomically
from benchmarks.engine.config import RunConfig

RESULTS_FILE = "results.json"


def results_record(
    config: RunConfig, progress: dict, status: str, buffer_bytes: int | None, error: str | None, provenance: dict
) -> dict:
    """The results contract; the summary metrics are null until the run has finished."""
    matrix = progress["matrix"]
    joint = config.declared.joint
    summary = metrics.summary(matrix, joint=joint) if status == "finished" else dict.fromkeys(metrics.SUMMARY_KEYS)
    train_seconds = progress["train_seconds"]
    record = {
        "method": config.label,
        "benchmark": config.benchmark,
        "scenario": config.scenario,
        "seed": config.seed,
        "backbone": config.backbone,
        "head": config.head,
        "num_tasks": config.num_tasks,
        "eval_split": config.eval_split,
        "status": status,
        "completed_tasks": len(matrix),
        "accuracy_matrix": matrix,
        **summary,
        "train_seconds": train_seconds,
        "eval_seconds": progress["eval_seconds"],
        "train_examples_per_second": progress["examples"] / train_seconds if train_seconds else None,
        "threads": torch.get_num_threads(),  # CPU kernels sum in per-thread parts: part of reproducing a run
        "buffer_bytes": buffer_bytes,
        "config": asdict(config),
        "provenance": provenance,
    }
    if "probing" in progress:
        record.update(probing_record(progress, joint, status == "finished"))
    if error:
        record["error"] = error
    return record


def probing_record(progress: dict, joint: bool, finished: bool) -> dict:
    """The probing matrices (T x T: probes see every class) and their summaries, as for the accuracy matrix."""
    from benchmarks.probing import PROBES

    matrices = progress["probing"]
    summaries = {
        name: metrics.summary(matrices[name], joint=joint) if finished else dict.fromkeys(metrics.SUMMARY_KEYS)
        for name in PROBES
    }
    return {
        "probing_matrix": matrices["linear"],
        "ncm_probing_matrix": matrices["ncm"],
        "probing_summary": summaries,
        "probe_seconds": progress["probe_seconds"],
    }


def write_json_atomically(path: Path, record: dict) -> None:
    write_atomically(path, json.dumps(record, indent=2).encode())


STATUSES = ("running", "stopped", "finished", "failed")


def contract_violation(record) -> str | None:
    """What makes `record` unusable for --resume (which skips or continues it), or None.

    A file can be valid JSON yet not a record: hand-edited, or written by other code. Resuming
    from it would crash mid-grid or mix wrong numbers into the summary and the report.
    """
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    text, integer, number, listed, mapping = (_of(kind) for kind in (str, int, (int, float), list, dict))
    expected = {
        "method": text, "scenario": text, "seed": integer, "num_tasks": integer, "status": text,
        "completed_tasks": integer, "accuracy_matrix": listed, "config": mapping, "train_seconds": number,
        "eval_seconds": number, **dict.fromkeys(metrics.SUMMARY_KEYS, lambda v: v is None or number(v)),
    }
    for key, valid in expected.items():
        if key not in record:
            return f"no '{key}'"
        if not valid(record[key]):
            return f"'{key}' is {json.dumps(record[key])[:40]}"
    if record["status"] not in STATUSES:
        return f"'status' is {record['status']!r}, not one of {', '.join(STATUSES)}"
    matrix, T = record["accuracy_matrix"], record["num_tasks"]
    if len(matrix) != record["completed_tasks"] or len(matrix) > T:
        return f"the accuracy matrix has {len(matrix)} rows for {record['completed_tasks']} completed tasks of {T}"
    for i, row in enumerate(matrix):
        if not (listed(row) and len(row) == T and all(number(a) and 0 <= a <= 1 for a in row)):
            return f"row {i + 1} of the accuracy matrix is not {T} accuracies in [0, 1]"
    return None


def _of(kind):
    """A test for a JSON value of `kind` (JSON's true and false are not numbers)."""
    return lambda v: isinstance(v, kind) and not isinstance(v, bool)
