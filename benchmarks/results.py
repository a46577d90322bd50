"""The results contract, in one place: a run's settings (`RunConfig`, the record's `config`) and its
`results.json`, rewritten after every task. The engine writes it, `--resume` and the reports read it
through `read_results`, and records written by older versions complete as the runs they were.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from benchmarks import metrics
from benchmarks.atomic import write_atomically
from benchmarks.errors import UsageError
from benchmarks.method_registry import method as declared_method


@dataclass(frozen=True)
class RunConfig:
    benchmark: str
    scenario: str
    method: str
    seed: int
    method_source: str | None = None  # the file declaring a researcher's own method (--methods my_method.py)
    backbone: str = "minilm"
    head: str = "linear"
    pooling: str = "mean"  # classifier heads: mean over the non-padding tokens | cls (the first token)
    revision: str | None = None  # the backbone's hub revision (branch, tag or commit); None: the default branch
    trust_remote_code: bool = False  # let transformers run the backbone repository's own code
    num_tasks: int = 0
    max_length: int = 128
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int = 128
    lr: float = 2e-5
    head_lr: float = 1e-3
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    lm_eval: str | None = None  # generative head: generate | rank (None for classifier heads)
    prompt_template: str | None = None  # generative head: the prompt around {text}
    limit_per_class: int | None = None
    classes: int | None = None  # only the first N classes by name (smoke runs); None: all
    class_order_seed: int | None = None
    data_seed: int = 0
    eval_split: str = "test"  # the split of the accuracy matrix: test | val (model selection)
    val_fraction: float | None = None  # train held out for validation; None: the source's own val split
    variant: str = ""  # in a grid of settings, the values that tell this run from its method's others
    probe_per_class: int | None = None  # --probe: training examples per class of the probes; None: no probing
    hp: dict = field(default_factory=dict)

    @property
    def declared(self):
        """The run's `methods.declare.Method`."""
        return declared_method(self.method, self.method_source)

    @property
    def label(self) -> str:
        return self.declared.run_label(self.hp, self.head)

    @property
    def run_name(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.benchmark}-{self.scenario}-{self.label}{variant}-seed{self.seed}"


# Fields added after results were first written, with the value every older run had.
ADDED_FIELDS = {"precision": "fp32", "lm_eval": None, "prompt_template": None, "eval_split": "test",
                "val_fraction": None, "variant": "",
                "probe_per_class": None, "pooling": "mean", "revision": None, "trust_remote_code": False,
                "classes": None, "method_source": None}


# Method hyper-parameters added since, with the value every older run of a method that uses them had.
ADDED_HP = {"buffer_policy": "reservoir"}


def completed(config: dict) -> dict:
    """A saved config, completed with the values older runs had for the fields and hyper-parameters added since."""
    out = {**ADDED_FIELDS, **config}
    try:
        uses = declared_method(out.get("method"), out.get("method_source")).options()
    except UsageError:  # a method this installation does not know: its settings stay as recorded
        uses = ()
    out["hp"] = {**{k: v for k, v in ADDED_HP.items() if k in uses}, **out.get("hp", {})}
    return out


def recorded_config(record: dict) -> dict:
    """A results file's config, completed as `completed` does."""
    return completed(record.get("config", {}))


def default(name: str):
    """A RunConfig field's default: the CLI shows and uses these, so they are written once."""
    return next(f.default for f in fields(RunConfig) if f.name == name)


RESULTS_FILE = "results.json"


@dataclass
class Progress:
    """What a run has done so far: saved in its checkpoint, and what its results record is made of."""

    matrix: list = field(default_factory=list)  # one row of accuracies per completed task
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    examples: int = 0  # training examples seen, epochs counted
    started_at: str | None = None
    probing: dict | None = None  # under --probe: probe name -> its matrix rows
    probe_seconds: float = 0.0

    @classmethod
    def from_saved(cls, saved: dict) -> Progress:
        return cls(**saved)

    def saved(self) -> dict:
        return asdict(self)


def results_record(
    config: RunConfig, progress: Progress, status: str, buffer_bytes: int | None, error: str | None, provenance: dict
) -> dict:
    """The results contract; the summary metrics are null until the run has finished."""
    import torch

    matrix = progress.matrix
    joint = config.declared.joint
    summary = metrics.summary(matrix, joint=joint) if status == "finished" else dict.fromkeys(metrics.SUMMARY_KEYS)
    train_seconds = progress.train_seconds
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
        "eval_seconds": progress.eval_seconds,
        "train_examples_per_second": progress.examples / train_seconds if train_seconds else None,
        "threads": torch.get_num_threads(),  # CPU kernels sum in per-thread parts: part of reproducing a run
        "buffer_bytes": buffer_bytes,
        "config": asdict(config),
        "provenance": provenance,
    }
    if progress.probing is not None:
        record.update(probing_record(progress, joint, status == "finished"))
    if error:
        record["error"] = error
    return record


def probing_record(progress: Progress, joint: bool, finished: bool) -> dict:
    """The probing matrices (T x T: probes see every class) and their summaries, as for the accuracy matrix."""
    from benchmarks.probing import PROBES

    matrices = progress.probing
    summaries = {
        name: metrics.summary(matrices[name], joint=joint) if finished else dict.fromkeys(metrics.SUMMARY_KEYS)
        for name in PROBES
    }
    return {
        "probing_matrix": matrices["linear"],
        "ncm_probing_matrix": matrices["ncm"],
        "probing_summary": summaries,
        "probe_seconds": progress.probe_seconds,
    }


def write_json_atomically(path: Path, record: dict) -> None:
    write_atomically(path, json.dumps(record, indent=2).encode())


class Unreadable(Exception):
    """A results.json that cannot be read or breaks the contract; the message says why."""


def read_results(path: Path) -> dict:
    """A results.json, checked against the contract; written before `status` and `completed_tasks`
    existed, it reads as the finished run it was."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise Unreadable("not readable JSON") from None
    if isinstance(record, dict) and isinstance(record.get("accuracy_matrix"), list):
        record = {"status": "finished", "completed_tasks": len(record["accuracy_matrix"]), **record}
    broken = contract_violation(record)
    if broken:
        raise Unreadable(broken)
    return record


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
        "method": text, "benchmark": text, "scenario": text, "seed": integer, "num_tasks": integer, "status": text,
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


def trained_every_task(trials: list[dict], tasks: int) -> list[dict]:
    """The trials of a `selection` record the choice is made among: neither stopped by ASHA nor failed."""
    return [t for t in trials if t["tasks"] == tasks and t["error"] is None]


def _of(kind):
    """A test for a JSON value of `kind` (JSON's true and false are not numbers)."""
    return lambda v: isinstance(v, kind) and not isinstance(v, bool)
