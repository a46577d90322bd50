"""From raw splits to an Avalanche benchmark: class order, classes per task, token ids.

Targets are global class ids (position in the class order) in both scenarios. In TIL each
experience also carries its task label, and the model scores an example only with its own
task's head (see `TaskSplit.restrict`); in CIL every experience has task label 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from benchmarks.data.sources import LabeledTexts, Splits
from benchmarks.errors import UsageError
from benchmarks.models.task_split import TaskSplit

SCENARIOS = ("cil", "til")


def class_order(labels: list[str], seed: int | None) -> list[str]:
    """The fixed default order (sorted label names, the same for every source) or a seeded permutation."""
    names = sorted(set(labels))
    if seed is not None:
        random.Random(seed).shuffle(names)
    return names


def split_classes(names: list[str], num_tasks: int) -> TaskSplit:
    """Consecutive classes per task; when classes % tasks != 0 the first tasks take one more."""
    if num_tasks < 1:
        raise UsageError(f"--tasks must be positive, got {num_tasks}")
    if len(names) < num_tasks:
        raise UsageError(f"{len(names)} classes cannot make {num_tasks} tasks: use --tasks {len(names)} or fewer")
    base, extra = divmod(len(names), num_tasks)
    return TaskSplit(tuple(names), tuple(base + (t < extra) for t in range(num_tasks)))


@dataclass(frozen=True)
class TokenizedSplits:
    """Token ids (padded to max length; the model trims each batch) and global class ids.

    `eval_*` is the split the accuracy matrix is measured on (test, or validation for model
    selection): only that one is tokenized, so a validation run never holds a test example.
    Evaluation examples are sorted by length (longest first); training examples keep their order.
    """

    train_ids: torch.Tensor
    train_y: torch.Tensor
    eval_ids: torch.Tensor
    eval_y: torch.Tensor



def tokenize(
    splits: Splits, task_split: TaskSplit, tokenizer, max_length: int, prompt_template: str | None = None,
    eval_split: str = "test",
) -> TokenizedSplits:
    """Tokenizes the training split and `eval_split` once; the result serves every method, seed and scenario.

    With a `prompt_template` (the generative head) each text becomes that prompt, without the
    tokenizer's special tokens, padded and truncated on the side the tokenizer is set to (left).
    """
    from benchmarks.models.generative import prompt

    class_id = {name: i for i, name in enumerate(task_split.class_names)}

    def encode(part: LabeledTexts):
        texts = [prompt(prompt_template, t) for t in part.texts] if prompt_template else part.texts
        ids = tokenizer(
            texts, truncation=True, max_length=max_length, padding="max_length", return_tensors="pt",
            add_special_tokens=prompt_template is None,
        )
        return ids["input_ids"], torch.tensor([class_id[y] for y in part.labels])

    train_ids, train_y = encode(splits.train)
    eval_ids, eval_y = encode(getattr(splits, eval_split))
    # Evaluation order does not change an accuracy: longest first, so that each eval batch
    # holds texts of similar length and is trimmed to little padding (1.5x faster on CLINC150).
    order = (eval_ids != tokenizer.pad_token_id).sum(dim=1).argsort(descending=True, stable=True)
    return TokenizedSplits(train_ids, train_y, eval_ids[order], eval_y[order])


def build_benchmark(data: TokenizedSplits, task_split: TaskSplit, scenario: str, joint: bool = False):
    """One Avalanche experience per task (joint: one training experience with every task)."""
    from avalanche.benchmarks import dataset_benchmark
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as tensor_dataset

    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario '{scenario}': use cil or til")
    task_of = task_split.task_of_class()

    def experience(ids, y, tasks):
        keep = torch.isin(task_of[y], torch.tensor(tasks))
        task_labels = task_of[y[keep]] if scenario == "til" else torch.zeros(int(keep.sum()), dtype=torch.long)
        return tensor_dataset(ids[keep], y[keep], task_labels=task_labels.tolist(), targets=y[keep].tolist())

    all_tasks = list(range(task_split.num_tasks))
    test = [experience(data.eval_ids, data.eval_y, [t]) for t in all_tasks]
    train = [experience(data.train_ids, data.train_y, all_tasks)] if joint else [
        experience(data.train_ids, data.train_y, [t]) for t in all_tasks
    ]
    return dataset_benchmark(train, test)
