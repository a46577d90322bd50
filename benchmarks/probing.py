"""Probing the backbone after every task: did the encoder forget, or only the classifier?

The Learn-or-Recall study (Zheng et al., ACL 2024) finds that a pre-trained backbone keeps far
more than the observed accuracy shows. After each task we freeze the model (eval mode, no
gradient: its weights are untouched), pool features (the heads' own pooling) for a seeded
training subset of `per_class` examples of *every* class, future ones too, fit two probes on
them and score every task's evaluation examples. `P[i][j]` is the probe's accuracy on task j
after task i, CIL over all classes or TIL within task j's classes, as the run is scored. So the
probing matrix is T x T, and its summary numbers have the accuracy matrix's definitions.

- `linear`: multinomial logistic regression on standardised features (scikit-learn).
- `ncm`: nearest class mean by cosine similarity (the prototype view of a cosine head).

Probing reads training and evaluation texts only and draws no number from the run's RNGs, so a
run with probing trains exactly as one without.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.data.stream import TokenizedSplits
from benchmarks.models.task_split import TaskSplit
from benchmarks.models.fingerprint import weights_sha256

PROBES = ("linear", "ncm")


def probe_subset(train_y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of at most `per_class` training examples of each class, drawn with `seed` (sorted)."""
    generator = torch.Generator().manual_seed(seed)
    picked = [
        rows[torch.randperm(len(rows), generator=generator)[:per_class]]
        for rows in (torch.nonzero(train_y == c).flatten() for c in torch.unique(train_y))
    ]
    return torch.cat(picked).sort().values


def linear_probe(features: np.ndarray, y: np.ndarray):
    """A fitted classifier whose `decision_function` scores every class of `y`."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, y)


def ncm_scores(train: np.ndarray, y: np.ndarray, test: np.ndarray, num_classes: int) -> np.ndarray:
    """Cosine similarity of each test feature to each class's mean (unit-length) training feature."""
    unit = train / np.linalg.norm(train, axis=1, keepdims=True).clip(1e-12)
    means = np.stack([unit[y == c].mean(axis=0) for c in range(num_classes)])
    means /= np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)
    return test @ means.T / np.linalg.norm(test, axis=1, keepdims=True).clip(1e-12)


class Prober:
    """Probes a run's model after each task on the same training subset and evaluation examples."""

    def __init__(self, data: TokenizedSplits, task_split: TaskSplit, scenario: str, per_class: int, seed: int,
                 batch_size: int):
        rows = probe_subset(data.train_y, per_class, seed)
        self.train_ids, self.train_y = data.train_ids[rows], data.train_y[rows]
        self.eval_ids, self.eval_y = data.eval_ids, data.eval_y
        self.task_split, self.scenario, self.batch_size = task_split, scenario, batch_size
        self.features_of: tuple[str, np.ndarray, np.ndarray] | None = None  # (weights' sha256, train, test)

    def probe(self, strategy) -> tuple[dict[str, list[float]], float]:
        """One row of each probing matrix (probe -> accuracy per task), and the seconds it took."""
        start = time.perf_counter()
        train, test = self.backbone_features(strategy)
        num_classes = len(self.task_split.class_names)
        scores = {
            "linear": linear_probe(train, self.train_y.numpy()).decision_function(test),
            "ncm": ncm_scores(train, self.train_y.numpy(), test, num_classes),
        }
        rows = {name: self.accuracy_per_task(torch.from_numpy(s)) for name, s in scores.items()}
        return rows, time.perf_counter() - start

    def backbone_features(self, strategy) -> tuple[np.ndarray, np.ndarray]:
        """Training-subset and evaluation features; the last task's when the backbone has not changed
        since (SEQ*'s frozen encoder): hashing MiniLM's weights takes ~0.1 s, its features ~20 s."""
        weights = weights_sha256(strategy.model.backbone)
        if self.features_of is None or self.features_of[0] != weights:
            task = self.task_split.task_of_class()[self.eval_y]
            tasks = [torch.nonzero(task == t).flatten() for t in range(self.task_split.num_tasks)]
            by_length = (self.train_ids != strategy.model.pad_id).sum(dim=1).argsort(descending=True)
            self.features_of = (weights, self.features(strategy, self.train_ids, [by_length]),
                                self.features(strategy, self.eval_ids, tasks))
        return self.features_of[1:]

    def features(self, strategy, ids: torch.Tensor, groups: list[torch.Tensor]) -> np.ndarray:
        """Pooled backbone features of `ids` in eval mode, each group of rows in batches of `batch_size`.

        Evaluation examples go in evaluation's own batches (each task's test rows in order), so the
        features evaluation just computed are reused (`strategy.feature_cache`) and the rest are
        computed as evaluation would.
        """
        model = strategy.model
        was_training = model.training
        model.eval()
        strategy.feature_cache.start(model)
        out = torch.empty(len(ids), model.backbone.config.hidden_size)
        with torch.inference_mode(), strategy.autocast():
            for rows in groups:
                for batch in rows.split(self.batch_size):
                    x = ids[batch].to(strategy.device)
                    out[batch] = strategy.feature_cache.features(model, x, model.predict_chunk_rows).float().cpu()
        model.train(was_training)
        return out.numpy()

    def accuracy_per_task(self, scores: torch.Tensor) -> list[float]:
        """Accuracy on each task's evaluation examples: over all classes (CIL) or the task's own (TIL)."""
        task_of = self.task_split.task_of_class()
        task = task_of[self.eval_y]
        if self.scenario == "til":
            scores = self.task_split.restrict(scores, task)
        correct = scores.argmax(dim=1) == self.eval_y
        return [float(correct[task == t].float().mean()) for t in range(self.task_split.num_tasks)]
