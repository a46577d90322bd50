"""What a model's outputs mean under a scenario: one class per head kind x scenario.

Every place that makes a loss, a prediction or a distillation target asks the run's output
space instead of branching on the head or the scenario:

- `logits(model, ids, y)`: the training forward (the generative head is fed the answer: teacher forcing);
- `loss(logits, y, task)`: the CE the model is trained with;
- `candidates(task, num_classes)`: the classes a prediction may choose;
- `mse(student, target, y, task, width, index)`: DER's logit MSE over the entries a target has;
- `kd_pairs(new, old, y)`: the (student, teacher) logit groups that LwF distils, one softmax each.

Classifier logits are [batch, classes so far] (the concatenated task heads); generative logits
are [batch, answer positions, vocabulary]. In TIL an example is scored by its own task's head
only; the generative head shares one vocabulary, so there TIL restricts only the candidates.
Adding a head or a scenario is one new class here and one entry in `SPACES`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.models.task_split import TaskSplit


class OutputSpace:
    """The interface, and what CIL means for any head: every class seen so far is a candidate."""

    def __init__(self, task_split: TaskSplit, model):
        self.task_split = task_split
        self.model = model

    keeps_teacher_logits: bool  # may a plugin keep a teacher's logits per example for a whole task?

    def candidates(self, task: torch.Tensor, num_classes: int) -> torch.Tensor:
        """[batch, num_classes] classes a prediction may choose."""
        return torch.ones(len(task), num_classes, dtype=torch.bool, device=task.device)

    def logits(self, model, ids: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, y: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mse(self, student, target, y, task, width=None, index=None) -> torch.Tensor:
        raise NotImplementedError

    def kd_pairs(self, new: torch.Tensor, old: torch.Tensor, y: torch.Tensor) -> list[tuple]:
        raise NotImplementedError


class ClassifierCIL(OutputSpace):
    """Class logits of the concatenated heads; every class seen so far competes."""

    keeps_teacher_logits = True  # a row of class logits depends on the token ids alone, and is small

    def logits(self, model, ids, y):
        return model(ids)

    def loss(self, logits, y, task):
        return F.cross_entropy(logits, y)

    def mse(self, student, target, y, task, width=None, index=None) -> torch.Tensor:
        """Over the columns the target has: the first `width[i]` of row i (all of them when None)."""
        columns = target.shape[1]
        if width is None:
            width = torch.full_like(y, columns)
        return masked_mse(student[:, :columns], target, self.column_mask(width, task, columns))

    def column_mask(self, width: torch.Tensor, task: torch.Tensor, columns: int) -> torch.Tensor:
        """Row i compares columns < width[i]."""
        cols = torch.arange(columns, device=width.device)
        return cols.unsqueeze(0) < width.unsqueeze(1)

    def kd_pairs(self, new, old, y):
        """One softmax over all the old model's columns."""
        return [(new[:, : old.shape[1]], old)]


class ClassifierTIL(ClassifierCIL):
    """Class logits, each example scored by its own task's head only."""

    def loss(self, logits, y, task):
        return F.cross_entropy(self.task_split.restrict(logits, task), y)

    def candidates(self, task, num_classes):
        return self.task_split.allowed(task, num_classes)

    def column_mask(self, width, task, columns):
        """Row i compares columns < width[i] of its own task head only."""
        owner = self.task_split.task_of_class()[:columns].to(width.device)
        return super().column_mask(width, task, columns) & (owner.unsqueeze(0) == task.unsqueeze(1))

    def kd_pairs(self, new, old, y):
        """One softmax per old task head."""
        heads = [self.task_split.columns(t) for t in range(self.task_split.num_tasks)]
        return [(new[:, cols], old[:, cols]) for cols in heads if cols.stop <= old.shape[1]]


class GenerativeCIL(OutputSpace):
    """Vocabulary logits at the answer positions (`model` is an `AnswerGenerator`, which knows
    each class's answer tokens); every label seen so far is a candidate."""

    keeps_teacher_logits = False  # vocabulary-wide rows: too large to keep per buffer example

    def logits(self, model, ids, y):
        return model(ids, y)

    def loss(self, logits, y, task):
        """CE over the answer tokens (the same in both scenarios: one shared vocabulary)."""
        return self.model.loss(logits, y)

    def mse(self, student, target, y, task, width=None, index=None):
        """At the answer positions only; `index`: the vocabulary ids of stored top-k targets."""
        if index is not None:
            student = student.gather(-1, index)
        # Selecting the answer positions first: 2.4x cheaper than masking full vocabulary rows.
        positions = self.model.answer_mask(y)
        return F.mse_loss(student[positions], target[positions])

    def kd_pairs(self, new, old, y):
        """The vocabulary distribution at every answer position."""
        positions = self.model.answer_mask(y)
        return [(new[positions], old[positions])]


class GenerativeTIL(GenerativeCIL):
    """Answers as in CIL; the ranked candidates are the example's own task's labels."""

    def candidates(self, task, num_classes):
        return self.task_split.allowed(task, num_classes)


SPACES = {
    ("classifier", "cil"): ClassifierCIL, ("classifier", "til"): ClassifierTIL,
    ("generative", "cil"): GenerativeCIL, ("generative", "til"): GenerativeTIL,
}


def output_space(model, scenario: str, task_split: TaskSplit):
    """The output space of `model` (a classifier or an `AnswerGenerator`) under `scenario`."""
    from benchmarks.models.generative import AnswerGenerator

    kind = "generative" if isinstance(model, AnswerGenerator) else "classifier"
    return SPACES[kind, scenario](task_split, model)


def masked_mse(student: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the selected entries only."""
    mask = mask.to(student.dtype)
    return ((student - target) ** 2 * mask).sum() / mask.sum().clamp(min=1.0)
