"""Read every results.json under a folder and aggregate the seeds of each setting.

A setting is everything in a run's config except its seed (and where it ran): two runs of
the same method with, say, different buffer sizes are two rows, never one mean. Sections
are (benchmark, scenario, number of tasks, evaluation split), so every matrix and curve in
a section has the same width, and hyper-parameter trials scored on the validation split
never share a table with test results.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.results import Unreadable, read_results, recorded_config
from benchmarks.method_registry import label_order

JOINT = "joint"  # trains once on every task: an upper bound, not a continual learner
METRICS = ["final_average_accuracy", "average_incremental_accuracy", "forgetting", "backward_transfer", "train_seconds"]
# Config keys that do not change what a run measures.
# eval_split is part of the section; variant names the hp values that already tell settings apart.
# Probing reads the model and changes nothing in its training: runs with and without it are one setting.
NOT_A_SETTING = {"seed", "device", "eval_batch_size", "eval_split", "variant", "probe_per_class"}
# A_T of the probes (benchmarks.probing), where a run has them.
PROBE_METRICS = {"probe_linear": "linear", "probe_ncm": "ncm"}
# The packages whose version a section's provenance line names.
KEY_PACKAGES = ["torch", "transformers", "avalanche-lib"]
UNKNOWN = "unknown"  # a run written before results carried provenance


class ReportError(Exception):
    """Input a report cannot be made from; the CLI prints it as one line."""


@dataclass(frozen=True)
class Stat:
    mean: float | None  # None: the metric is undefined for this method (joint forgetting)
    std: float | None  # sample std; None when fewer than 2 values
    n: int


def curve(R: list[list[float]], joint: bool) -> list[float]:
    """Average accuracy over the seen tasks after each task (joint: one value, over all tasks)."""
    if joint:
        return [float(np.mean(R[0]))]
    return [float(np.mean(R[i][: i + 1])) for i in range(len(R))]


@dataclass(frozen=True)
class MethodResult:
    label: str  # the method, plus the differing config values when a method has several settings
    method: str  # as filed: `derpp-teacher`, `joint`
    seeds: list[int]
    stats: dict[str, Stat]
    values: dict[str, dict[int, float | None]]  # metric -> seed -> value: what paired comparisons need
    mean_matrix: list[list[float]]
    curves: list[list[float]]  # one per run: the mean and the spread of the curve
    mean_probing_matrix: list[list[float]] | None = None  # the linear probe's, over the runs that probed
    selection: dict | None = None  # --select-on val: the search its runs' setting was chosen by (one per setting)
    config: dict | None = None  # the recorded config of its first run (the setting; seeds differ)
    protocol: dict | None = None  # the protocol its runs followed and their deviations; None: written before protocols

    @property
    def joint(self) -> bool:
        """Evaluated once, on all tasks: a one-row matrix, a one-point curve, in no paired comparison."""
        return self.method == JOINT

    @property
    def curve(self) -> list[float]:
        return np.mean(self.curves, axis=0).tolist()

    @property
    def curve_std(self) -> list[float] | None:
        """Sample std across seeds after each task; None for one run."""
        return np.std(self.curves, axis=0, ddof=1).tolist() if len(self.curves) > 1 else None


@dataclass(frozen=True)
class Section:
    benchmark: str
    scenario: str
    num_tasks: int
    methods: list[MethodResult]
    eval_split: str  # "test", or "val" for hyper-parameter trials
    provenance: dict[str, list[str]]  # see code_versions

    @property
    def title(self) -> str:
        title = f"{self.benchmark} · {self.scenario.upper()} · {self.num_tasks} tasks"
        return title + " · validation" if self.eval_split == "val" else title


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
            record = read_results(path)
        except Unreadable as e:
            raise ReportError(f"{path} is not a results file: {e}") from None
        if record["status"] == "finished":  # running, stopped and failed runs have no numbers yet
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
    """The suite's methods in their declared order (joint last), the others alphabetically before joint."""
    method, order = label.split(" ")[0], label_order()
    if method == JOINT:
        return (2, 0, label)
    return (0, order.index(method), label) if method in order else (1, 0, label)


def eval_split(record: dict) -> str:
    """Results written before runs could score the validation split were scored on test."""
    return record.get("eval_split") or record.get("config", {}).get("eval_split") or "test"


def commit(provenance: dict) -> str:
    """The short hash, marked when the working tree had uncommitted changes."""
    sha = provenance.get("git_commit")
    if not sha:
        return UNKNOWN
    return sha[:10] + ("+dirty" if provenance.get("git_dirty") else "")


def code_versions(runs: list[dict]) -> dict[str, list[str]]:
    """The distinct commits and key package versions behind a table; more than one of either is a warning."""
    provenance = [r.get("provenance") or {} for r in runs]
    versions = {"commit": sorted({commit(p) for p in provenance})}
    for package in KEY_PACKAGES:
        versions[package] = sorted({(p.get("packages") or {}).get(package) or UNKNOWN for p in provenance})
    return versions


def setting(record: dict) -> str:
    """The run's config without its seed; the method as filed (`derpp-teacher`, where the config says `derpp`)."""
    config = {k: v for k, v in recorded_config(record).items() if k not in NOT_A_SETTING}
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


def series_names(methods: list[MethodResult], along: str) -> dict[int, str]:
    """Each method's name (by `id`) with the config values, other than `along` and the variant, that tell it
    apart from the same method's other settings: the name of its series along `along`, e.g. `derpp (hp.alpha=0.5)`."""
    rest = {id(m): flatten({k: v for k, v in m.config.items() if k not in (along, "variant")}) for m in methods}
    names = {}
    for m in methods:
        siblings = [rest[id(o)] for o in methods if o.method == m.method]
        differing = sorted(k for k in set().union(*siblings) if len({repr(f.get(k)) for f in siblings}) > 1)
        names[id(m)] = m.method + (f" ({', '.join(f'{k}={rest[id(m)].get(k)}' for k in differing)})" if differing else "")
    return names


def metric(record: dict, name: str) -> float | None:
    """A contract number, or a probe's A_T (None for a run without probing)."""
    if name in PROBE_METRICS:
        return ((record.get("probing_summary") or {}).get(PROBE_METRICS[name]) or {}).get("final_average_accuracy")
    return record.get(name)


def mean_probing_matrix(runs: list[dict]) -> list[list[float]] | None:
    probed = [r["probing_matrix"] for r in runs if r.get("probing_matrix")]
    return np.mean(probed, axis=0).tolist() if probed else None


def aggregate(records: list[dict]) -> list[Section]:
    sections = defaultdict(lambda: defaultdict(list))
    for r in records:
        sections[(r["benchmark"], r["scenario"], r["num_tasks"], eval_split(r))][setting(r)].append(r)
    out = []
    for (benchmark, scenario, num_tasks, split), groups in sorted(sections.items()):
        names = labels(list(groups))
        methods = [
            MethodResult(
                label=names[key],
                method=runs[0]["method"],
                seeds=sorted(r["seed"] for r in runs),
                stats={m: stat([metric(r, m) for r in runs]) for m in [*METRICS, *PROBE_METRICS]},
                values={m: {r["seed"]: metric(r, m) for r in runs} for m in [*METRICS, *PROBE_METRICS]},
                mean_matrix=np.mean([r["accuracy_matrix"] for r in runs], axis=0).tolist(),
                curves=[curve(r["accuracy_matrix"], runs[0]["method"] == JOINT) for r in runs],
                mean_probing_matrix=mean_probing_matrix(runs),
                selection=runs[0].get("selection"),
                config=recorded_config(runs[0]),
                protocol=runs[0].get("protocol"),
            )
            for key, runs in groups.items()
        ]
        methods.sort(key=lambda m: method_rank(m.label))
        runs = [r for group in groups.values() for r in group]
        out.append(Section(benchmark, scenario, num_tasks, methods, split, code_versions(runs)))
    return out


def collect(directory: Path) -> list[Section]:
    return aggregate(load_results(directory))
