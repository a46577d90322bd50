"""The one data pipeline: raw splits -> classes kept -> validation split -> per-class limit -> class
order -> tasks -> token ids.

The CLI, the speed benchmark and the tests all build their streams here, so a stream is the
same whoever asks for it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data.registry import BenchmarkSpec, check_validation, limit_per_class, load_splits, with_validation
from benchmarks.data.sources import LabeledTexts, Splits
from benchmarks.data.stream import TokenizedSplits, class_order, split_classes, tokenize
from benchmarks.models.task_split import TaskSplit
from benchmarks.errors import UsageError


@dataclass(frozen=True)
class PreparedStream:
    spec: BenchmarkSpec
    task_split: TaskSplit
    data: TokenizedSplits
    max_length: int
    val_fraction: float | None  # the fraction of train held out for validation; None: the source's own split


def prepare_stream(
    spec: BenchmarkSpec, data_dir: Path | None, *, backbone: str, head: str, num_tasks: int | None = None,
    max_length: int | None = None, prompt_template: str | None = None, limit: int | None = None,
    class_order_seed: int | None = None, data_seed: int = 0, first_classes: int | None = None,
    val_fraction: float = 0.1, eval_split: str = "test", revision: str | None = None, trust_remote_code: bool = False,
) -> PreparedStream:
    """Tokenized splits of `spec` in `num_tasks` tasks (default: the benchmark's) for `backbone`'s tokenizer.

    `first_classes` (--classes) keeps only the first classes in the default (sorted) order, for small streams.
    A source without a validation split gets a stratified hold-out of `val_fraction` of its
    training examples (seeded by `data_seed`), so training never sees a validation example;
    `limit` then keeps at most that many training examples per class (seeded by `data_seed`).
    `eval_split` ("test" or "val") is the split the accuracy matrix is measured on. `revision` and
    `trust_remote_code`: the backbone's, whose tokenizer this is.
    """
    from benchmarks.models.loading import load_model, position_limit

    splits = load_splits(spec, data_dir, data_seed)
    if first_classes:
        available = len(set(splits.train.labels))
        if first_classes > available:
            raise UsageError(f"--classes {first_classes}: '{spec.name}' has {available} classes")
        keep = set(class_order(splits.train.labels, None)[:first_classes])
        splits = Splits(*(None if part is None else only_classes(part, keep) for part in (splits.train, splits.test, splits.val)))
    held_out = None if splits.val is not None else val_fraction
    splits = with_validation(splits, val_fraction, data_seed)
    check_validation(spec.name, splits)
    if limit:
        splits = Splits(limit_per_class(splits.train, limit, data_seed), splits.test, splits.val)
    task_split = split_classes(class_order(splits.train.labels, class_order_seed), num_tasks or spec.num_tasks)
    model, tokenizer = load_model(
        backbone, head, task_split.class_names, revision=revision, trust_remote_code=trust_remote_code
    )
    max_length = max_length or spec.max_length
    limit = position_limit(model, tokenizer)
    if max_length > limit:  # longer inputs would index past the position embeddings mid-run
        print(f"warning: max length {max_length} is more than backbone {backbone} takes: using {limit}", file=sys.stderr)
        max_length = limit
    data = tokenize(splits, task_split, tokenizer, max_length, prompt_template, eval_split)
    return PreparedStream(spec, task_split, data, max_length, held_out)


def only_classes(part: LabeledTexts, classes: set[str]) -> LabeledTexts:
    pairs = [(t, y) for t, y in zip(part.texts, part.labels) if y in classes]
    return LabeledTexts([t for t, _ in pairs], [y for _, y in pairs])
