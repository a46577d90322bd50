"""A small real stream for method tests: 12 CLINC150 intents, 4 tasks of 3, tiny-bert."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from benchmarks.data.prepare import only_classes, prepare_stream
from benchmarks.data.registry import limit_per_class, load_splits, resolve_spec
from benchmarks.data.stream import class_order

# $CLBENCH_DATA_DIR, else the copies packaged in the suite (as tests/conftest.py's data_dir)
DATA_DIR = Path(os.environ.get("CLBENCH_DATA_DIR") or Path(__file__).resolve().parents[1] / "benchmarks" / "data")


@lru_cache(maxsize=None)
def small_clinc(num_classes: int = 12, num_tasks: int = 4, per_class: int = 30, head: str = "linear"):
    """(task_split, tokenized data): the first `num_classes` intents in the default order.

    `head="lm"`: prompts for tiny-gpt2 (default template); else texts for tiny-bert.
    """
    from benchmarks.models.generative import DEFAULT_TEMPLATE

    lm = head == "lm"
    stream = prepare_stream(
        resolve_spec("clinc150"), DATA_DIR, backbone="tiny-gpt2" if lm else "tiny-bert", head=head,
        num_tasks=num_tasks, max_length=32 if lm else 24, prompt_template=DEFAULT_TEMPLATE if lm else None,
        limit=per_class, first_classes=num_classes,
    )
    return stream.task_split, stream.data


def write_small_clinc_csv(path: Path, num_classes: int = 10, per_class_train: int = 30) -> Path:
    """A CSV of real CLINC150 texts with a `split` column, for the generic loader."""
    import csv

    splits = load_splits(resolve_spec("clinc150"), DATA_DIR, seed=0)
    classes = set(class_order(splits.train.labels, None)[:num_classes])
    train = limit_per_class(only_classes(splits.train, classes), per_class_train, seed=0)
    test = only_classes(splits.test, classes)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for part, name in ((train, "train"), (test, "test")):
            writer.writerows([t, y, name] for t, y in zip(part.texts, part.labels))
    return path
