"""Read every results.json under a folder and aggregate the seeds of each setting.

A setting is everything in a run's config except its seed (and where it ran): two runs of
the same method with, say, different buffer sizes are two rows, never one mean. Sections
are (benchmark, scenario, number of tasks), so every matrix and curve in a section has
the same width.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHOD_ORDER = ["finetune", "lwf", "er", "derpp", "derpp-teacher", "joint"]
METRICS = ["final_average_accuracy", "average_incremental_accuracy", "forgetting", "backward_transfer", "train_seconds"]
REQUIRED = ["method", "benchmark", "scenario", "seed", "num_tasks", "accuracy_matrix", *METRICS]
# Config keys that do not change what a run measures.
NOT_A_SETTING = {"seed", "device", "eval_batch_size"}
# Config keys added after results were first written: an older run had the default.
ADDED_KEYS = {"precision": "fp32", "lm_eval": None, "prompt_template": None}


class ReportError(Exception):
    """Input a report cannot be made from; the CLI prints it as one line."""


@dataclass(frozen=True)
class Stat:
    mean: float | None  # None: the metric is undefined for this method (joint forgetting)
    std: float | None  # sample std; None when fewer than 2 values
    n: int


@dataclass(frozen=True)
class MethodResult:
    label: str  # the method, plus the differing config values when a method has several settings
    seeds: list[int]
    stats: dict[str, Stat]
    mean_matrix: list[list[float]]

    @property
    def joint(self) -> bool:
        """Joint training is evaluated once: a one-row matrix."""
        return len(self.mean_matrix) == 1 and len(self.mean_matrix[0]) > 1

    @property
    def curve(self) -> list[float]:
        """Average accuracy over the seen tasks after each task (joint: one value, over all tasks)."""
        R = self.mean_matrix
        if self.joint:
            return [float(np.mean(R[0]))]
        return [float(np.mean(R[i][: i + 1])) for i in range(len(R))]


@dataclass(frozen=True)
class Section:
    benchmark: str
    scenario: str
    num_tasks: int
    methods: list[MethodResult]

    @property
    def title(self) -> str:
        return f"{self.benchmark} · {self.scenario.upper()} · {self.num_tasks} tasks"


def load_results(directory: Path) -> list[dict]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"no such directory {directory}")
    paths = sorted(directory.rglob("results.json"))
    if not paths:
        raise ReportError(f"no results.json under {directory}")
    records = []
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ReportError(f"cannot read {path}: {e}") from e
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            raise ReportError(f"{path} is not a results file: no {', '.join(missing)}")
        if record.get("status", "finished") == "finished":  # running, stopped and failed runs have no numbers yet
            records.append(record)
    if not records:
        raise ReportError(f"no finished run under {directory}")
    return records


def stat(values: list) -> Stat:
    values = [v for v in values if v is not None]
    if not values:
        return Stat(None, None, 0)
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, len(values))


def method_rank(label: str) -> tuple:
    """finetune, lwf, er, derpp, derpp-teacher, joint, then the others alphabetically."""
    method = label.split(" ")[0]
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), label)


def setting(record: dict) -> str:
    """The run's config without its seed; the method as filed (`derpp-teacher`, where the config says `derpp`)."""
    config = {**ADDED_KEYS, **record.get("config", {})}
    config = {k: v for k, v in config.items() if k not in NOT_A_SETTING}
    return json.dumps({**config, "method": record["method"]}, sort_keys=True)


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def labels(settings: list[str]) -> dict[str, str]:
    """The method name; where one method has several settings, the config values that tell them apart."""
    by_method = defaultdict(list)
    for s in settings:
        by_method[json.loads(s)["method"]].append(s)
    out = {}
    for method, group in by_method.items():
        flat = [flatten(json.loads(s)) for s in group]
        differing = sorted(k for k in set().union(*flat) if len({repr(f.get(k)) for f in flat}) > 1)
        for s, f in zip(group, flat):
            out[s] = method if not differing else f"{method} ({', '.join(f'{k}={f.get(k)}' for k in differing)})"
    return out


def aggregate(records: list[dict]) -> list[Section]:
    sections = defaultdict(lambda: defaultdict(list))
    for r in records:
        sections[(r["benchmark"], r["scenario"], r["num_tasks"])][setting(r)].append(r)
    out = []
    for (benchmark, scenario, num_tasks), groups in sorted(sections.items()):
        names = labels(list(groups))
        methods = [
            MethodResult(
                label=names[key],
                seeds=sorted(r["seed"] for r in runs),
                stats={m: stat([r.get(m) for r in runs]) for m in METRICS},
                mean_matrix=np.mean([r["accuracy_matrix"] for r in runs], axis=0).tolist(),
            )
            for key, runs in groups.items()
        ]
        out.append(Section(benchmark, scenario, num_tasks, sorted(methods, key=lambda m: method_rank(m.label))))
    return out


def collect(directory: Path) -> list[Section]:
    return aggregate(load_results(directory))
