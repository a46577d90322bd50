"""Evaluation features (benchmarks.models.feature_cache): a frozen backbone's forwarded once, the same matrix."""

from __future__ import annotations

import torch

from tests.method_harness import make_strategy


def seq_star_matrix(cached: bool, scenario: str = "cil"):
    """SEQ* on the small stream, every seen task evaluated after each task: (accuracy rows, strategy, backbone calls)."""
    strategy, bench, _, _ = make_strategy("seq-star", scenario, warmup_epochs=1, preallocate_heads=True)
    strategy.feature_cache.enabled = cached
    calls = []
    strategy.model.backbone.register_forward_hook(lambda *_: calls.append(strategy.is_eval))
    rows = []
    for task, experience in enumerate(bench.train_stream):
        strategy.train(experience)
        strategy.accuracy = {}
        strategy.eval(bench.test_stream[: task + 1])
        rows.append([strategy.accuracy[j] for j in range(task + 1)])
    return rows, strategy, sum(calls)


def test_seq_star_gives_the_same_matrix_with_and_without_the_cache_forwarding_each_test_batch_once():
    for scenario in ("cil", "til"):
        cached, strategy, cached_calls = seq_star_matrix(True, scenario)
        uncached, _, uncached_calls = seq_star_matrix(False, scenario)
        assert cached == uncached
        # 4 tasks of 90 test rows, one batch each: forwarded once (4 misses) instead of 1 + 2 + 3 + 4 times
        assert (strategy.feature_cache.misses, strategy.feature_cache.hits) == (4, 6)
        chunks = -(-90 // strategy.model.predict_chunk_rows)  # the backbone runs once per chunk of a batch
        assert uncached_calls - cached_calls == 6 * chunks
        assert strategy.feature_cache.nbytes() == 4 * 90 * strategy.model.backbone.config.hidden_size * 4


def test_a_changed_backbone_never_hits_a_stale_entry():
    strategy, bench, _, _ = make_strategy("seq-star", "cil", warmup_epochs=1, preallocate_heads=True)
    strategy.train(bench.train_stream[0])
    strategy.eval(bench.test_stream[:1])
    before = strategy.accuracy[0]
    with torch.no_grad():  # the backbone stays frozen (no gradient), but its weights change
        strategy.model.backbone.get_input_embeddings().weight.mul_(-1.0)
    strategy.eval(bench.test_stream[:1])
    changed = strategy.accuracy[0]
    strategy.feature_cache.enabled = False
    strategy.eval(bench.test_stream[:1])
    assert changed == strategy.accuracy[0] != before
    assert strategy.feature_cache.hits == 0


def test_a_backbone_that_trains_is_never_cached():
    strategy, bench, _, _ = make_strategy("finetune", "cil")
    for experience in bench.train_stream[:2]:
        strategy.train(experience)
        strategy.eval(bench.test_stream[:2])
    assert strategy.feature_cache.weights is None and not strategy.feature_cache.entries
