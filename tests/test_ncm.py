"""ER with a nearest-class-mean classifier: predictions against a hand computation over the buffer's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.method_harness import make_strategy


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_predicts_the_class_whose_buffer_mean_is_most_cosine_similar(scenario):
    strategy, bench, plugin, _ = make_strategy("er-ncm", scenario, buffer_size=30, buffer_policy="class-balanced")
    for experience in bench.train_stream[:2]:
        strategy.train(experience)
    strategy.eval(bench.test_stream[:2])
    model = strategy.model
    model.eval()
    with torch.no_grad():
        buffer = model.features(plugin.buffer.ids.long()).double().numpy()
        test = [bench.test_stream[t].dataset for t in range(2)]
        ids = torch.cat([torch.stack([test[t][i][0] for i in range(len(test[t]))]) for t in range(2)])
        y = np.concatenate([[test[t][i][1] for i in range(len(test[t]))] for t in range(2)])
        feats = model.features(ids).double().numpy()
    labels = plugin.buffer.y.numpy()
    assert sorted(set(labels)) == list(range(6)) and len(labels) == 30  # 5 examples of each class seen
    means = unit(np.stack([unit(buffer)[labels == c].mean(axis=0) for c in range(6)]))
    scores = unit(feats) @ means.T
    task = y // 3
    if scenario == "til":
        scores = np.where(np.arange(6)[None, :] // 3 == task[:, None], scores, -np.inf)
    hand = scores.argmax(axis=1)
    for t in range(2):
        assert strategy.accuracy[t] == pytest.approx(np.mean(hand[task == t] == y[task == t]))
    # ... and the heads would have predicted otherwise: the accuracy is the NCM's, not the heads'.
    with torch.no_grad():
        allowed = strategy.output_space.candidates(torch.as_tensor(task if scenario == "til" else 0 * task), 6)
        by_heads = model.predict(ids, allowed).numpy()
    assert (by_heads != hand).any()
    assert (np.array([plugin.predict(strategy, ids[i : i + 1], allowed[i : i + 1]).item() for i in range(len(y))]) == hand).all()
