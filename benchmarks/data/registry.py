"""Benchmarks as small declarations, and how a `--benchmark` value becomes `Splits`.

A registered benchmark reads its original files from `<data dir>/<name>/` when a data
directory is given (`--data-dir` or `$CLBENCH_DATA_DIR`), else the copy shipped in this package,
else its copy on the hub.
Any other value is a path to a .csv/.json/.jsonl file, or a hub data set name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.data.sources import FILE_SUFFIXES, LabeledTexts, Splits, load_banking77_dir, load_clinc150_dir, load_file, load_hub

DATA_DIR_ENV = "CLBENCH_DATA_DIR"
PACKAGED = Path(__file__).resolve().parent  # benchmarks/data/<name>/: copies shipped with the suite


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    num_tasks: int
    max_length: int
    hub_name: str
    hub_config: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    local_loader: Callable[[Path], Splits] | None = None
    packaged: Path | None = None  # the folder of a copy shipped in the package (read by local_loader)


REGISTRY = {
    spec.name: spec
    for spec in (
        # Learn-or-Recall splits: CLINC150 15 x 10 (max length 50), Banking77 7 x 11 (64).
        BenchmarkSpec(
            name="clinc150", num_tasks=15, max_length=50, hub_name="clinc_oos", hub_config="plus",
            text_column="text", label_column="intent", local_loader=load_clinc150_dir,
            packaged=PACKAGED / "clinc150",  # 284 KB gzipped, CC BY 3.0: quick starts need no data folder or network
        ),
        BenchmarkSpec(
            name="banking77", num_tasks=7, max_length=64, hub_name="PolyAI/banking77",
            text_column="text", label_column="label", local_loader=load_banking77_dir,
            packaged=PACKAGED / "banking77",  # 209 KB gzipped, CC BY 4.0
        ),
    )
}
GENERIC_DEFAULTS = dict(num_tasks=5, max_length=128)


def data_dir_from(arg: str | None) -> Path | None:
    value = arg or os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def resolve_spec(benchmark: str, text_column: str | None = None, label_column: str | None = None) -> BenchmarkSpec:
    """The declaration for `benchmark`; unregistered names get the generic defaults."""
    spec = REGISTRY.get(benchmark)
    if spec is None:
        spec = BenchmarkSpec(name=_short_name(benchmark), hub_name=benchmark, **GENERIC_DEFAULTS)
    overrides = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    spec = replace(spec, **overrides)
    if spec.text_column == spec.label_column:
        raise UsageError(
            f"--text-column and --label-column both name '{spec.text_column}': the label would be in the text; "
            "name two different columns"
        )
    return spec


def _short_name(benchmark: str) -> str:
    """A file-system-safe run-name prefix for a path or hub name."""
    stem = Path(benchmark).stem if benchmark.endswith(FILE_SUFFIXES) else benchmark
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)


def load_splits(spec: BenchmarkSpec, data_dir: Path | None, seed: int, test_fraction: float = 0.2) -> Splits:
    """Raw splits of `spec`; a source without a test split gets a seeded stratified one."""
    if spec.local_loader is not None and data_dir is not None:
        folder = data_dir / spec.name
        if not folder.is_dir():
            raise UsageError(f"no folder '{spec.name}' in data directory {data_dir}")
        splits = spec.local_loader(folder)
    elif spec.packaged is not None and data_dir is None:
        splits = spec.local_loader(spec.packaged)
    else:
        path = Path(spec.hub_name)
        if spec.hub_name.endswith(FILE_SUFFIXES):
            train, test, val = load_file(path, spec.text_column, spec.label_column)
        else:
            if spec.name in REGISTRY:
                failure = (
                    f"cannot load {spec.name}: pass --data-dir (or set ${DATA_DIR_ENV}) to a folder holding {spec.name}/; "
                    f"its hub copy '{spec.hub_name}' could not be loaded"
                )
            else:
                failure = (
                    f"unknown benchmark '{spec.hub_name}': not {' or '.join(REGISTRY)}, not a .csv/.json/.jsonl file, "
                    "and the Hugging Face hub could not load it"
                )
            train, test, val = load_hub(spec.hub_name, spec.hub_config, spec.text_column, spec.label_column, failure)
        if test is None:
            train, test = _stratified_split(train, test_fraction, seed, "test")
        splits = Splits(train, test, val)
    _validate(spec, splits)
    return splits


def with_validation(splits: Splits, fraction: float, seed: int) -> Splits:
    """`splits` with a validation split: the source's own, else a seeded stratified hold-out from train.

    Seeded by the data seed, not the run seed: every method and seed of a benchmark trains on the
    same examples and is validated on the same held-out ones.
    """
    if splits.val is not None:
        return splits
    # At least one example of every class, so that a small data set still has a usable split.
    size = max(math.ceil(fraction * len(splits.train)), len(set(splits.train.labels)))
    train, val = _stratified_split(splits.train, size, seed, "validation", "every class needs at least 2 training examples")
    return Splits(train, splits.test, val)


def check_validation(spec_name: str, splits: Splits) -> None:
    """A validation split that can rank settings: every class has a validation example, and no class only there."""
    train_classes, val_classes = set(splits.train.labels), set(splits.val.labels)
    for classes, problem in ((val_classes - train_classes, "has validation examples but no training example"),
                             (train_classes - val_classes, "has no validation example")):
        if classes:
            first = sorted(classes)[0]
            raise UsageError(
                f"class '{first}' of '{spec_name}' {problem}{_more(sorted(classes))}: "
                "raise --val-fraction or fix the data's val split"
            )


def _stratified_split(
    data: LabeledTexts, size: float | int, seed: int, part: str, fix: str = "every class needs at least 2 examples"
) -> tuple[LabeledTexts, LabeledTexts]:
    """(kept, held out): `size` (a fraction, or a number of examples) held out in proportion to every class, seeded."""
    from sklearn.model_selection import train_test_split

    try:
        kept, held = train_test_split(range(len(data)), test_size=size, random_state=seed, stratify=data.labels)
    except ValueError as e:
        raise UsageError(f"cannot make a stratified {part} split: {e} ({fix})") from None
    return _subset(data, kept), _subset(data, held)


def _subset(data: LabeledTexts, indices) -> LabeledTexts:
    return LabeledTexts([data.texts[i] for i in indices], [data.labels[i] for i in indices])


def _validate(spec: BenchmarkSpec, splits: Splits) -> None:
    train_classes, test_classes = set(splits.train.labels), set(splits.test.labels)
    if not train_classes:
        raise UsageError(f"benchmark '{spec.name}' has no training examples")
    test_only = sorted(test_classes - train_classes)
    if test_only:
        raise UsageError(
            f"class '{test_only[0]}' of '{spec.name}' has test examples but no training example{_more(test_only)}: "
            "add training examples of it or remove its test examples"
        )
    no_test = sorted(train_classes - test_classes)
    if no_test:
        raise UsageError(
            f"class '{no_test[0]}' of '{spec.name}' has no test example{_more(no_test)}: "
            "add test examples of it or remove its training examples"
        )


def _more(classes: list[str]) -> str:
    return f" ({len(classes)} such classes)" if len(classes) > 1 else ""


def limit_per_class(data: LabeledTexts, k: int, seed: int) -> LabeledTexts:
    """A seeded, stratified subsample: at most `k` training examples of every class."""
    import random

    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    keep = sorted(i for indices in by_class.values() for i in (indices if len(indices) <= k else rng.sample(indices, k)))
    return _subset(data, keep)
