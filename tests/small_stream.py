"""A small real stream for method tests: 12 CLINC150 intents, 4 tasks of 3, tiny-bert."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from benchmarks.registry import limit_per_class, load_splits, resolve_spec
from benchmarks.sources import LabeledTexts, Splits
from benchmarks.stream import class_order, split_classes, tokenize

DATA_DIR = Path(os.environ.get("CLBENCH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def _keep(part: LabeledTexts, classes: set[str]) -> LabeledTexts:
    pairs = [(t, y) for t, y in zip(part.texts, part.labels) if y in classes]
    return LabeledTexts([t for t, _ in pairs], [y for _, y in pairs])


@lru_cache(maxsize=None)
def small_clinc(num_classes: int = 12, num_tasks: int = 4, per_class: int = 30, head: str = "linear"):
    """(task_split, tokenized data): the first `num_classes` intents in the default order.

    `head="lm"`: prompts for tiny-gpt2 (default template); else texts for tiny-bert.
    """
    from benchmarks.generative import DEFAULT_TEMPLATE
    from benchmarks.models import load_model

    splits = load_splits(resolve_spec("clinc150"), DATA_DIR, seed=0)
    classes = set(class_order(splits.train.labels, None)[:num_classes])
    train = limit_per_class(_keep(splits.train, classes), per_class, seed=0)
    splits = Splits(train, _keep(splits.test, classes))
    task_split = split_classes(class_order(train.labels, None), num_tasks)
    lm = head == "lm"
    _, tokenizer = load_model("tiny-gpt2" if lm else "tiny-bert", head, task_split.class_names)
    return task_split, tokenize(splits, task_split, tokenizer, 32 if lm else 24, DEFAULT_TEMPLATE if lm else None)


def write_small_clinc_csv(path: Path, num_classes: int = 10, per_class_train: int = 30) -> Path:
    """A CSV of real CLINC150 texts with a `split` column, for the generic loader."""
    import csv

    splits = load_splits(resolve_spec("clinc150"), DATA_DIR, seed=0)
    classes = set(class_order(splits.train.labels, None)[:num_classes])
    train = limit_per_class(_keep(splits.train, classes), per_class_train, seed=0)
    test = _keep(splits.test, classes)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for part, name in ((train, "train"), (test, "test")):
            writer.writerows([t, y, name] for t, y in zip(part.texts, part.labels))
    return path
