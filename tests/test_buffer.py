"""Reservoir buffer: bounded, uniform, and its stored logits are the model's outputs at insertion."""

from __future__ import annotations

import torch

from methods.buffer import ReservoirBuffer
from tests.method_harness import make_strategy


def stream(n: int, start: int = 0):
    ids = torch.arange(start, start + n).unsqueeze(1).repeat(1, 4)
    return ids, torch.arange(start, start + n), torch.zeros(n, dtype=torch.long)


def test_never_exceeds_capacity_and_counts_seen():
    buffer = ReservoirBuffer(capacity=10, seed=0)
    for start in range(0, 100, 7):
        buffer.add(*stream(7, start))
        assert len(buffer) <= 10
    assert buffer.seen == 105 and len(buffer) == 10
    assert len(buffer.sample(32).y) == 10  # a draw larger than the buffer returns all of it
    assert len(set(buffer.sample(5).y.tolist())) == 5  # distinct examples


def test_inclusion_is_uniform_over_the_stream():
    """Each of 50 examples should be kept with probability 10/50 = 0.2.

    2000 seeded streams: the standard error of a frequency is sqrt(0.2*0.8/2000) = 0.009;
    the tolerance 0.045 is five standard errors.
    """
    runs, n, capacity = 2000, 50, 10
    counts = torch.zeros(n)
    for seed in range(runs):
        buffer = ReservoirBuffer(capacity, seed=seed)
        for start in range(0, n, 8):
            buffer.add(*stream(min(8, n - start), start))
        counts[buffer.y[: len(buffer)]] += 1
    freq = counts / runs
    assert torch.all((freq - 0.2).abs() < 0.045), freq
    # Early and late examples alike (a FIFO or keep-first buffer fails this).
    assert abs(freq[:25].mean() - freq[25:].mean()) < 0.02


def test_same_seed_same_buffer():
    a, b = ReservoirBuffer(5, seed=3), ReservoirBuffer(5, seed=3)
    for buffer in (a, b):
        buffer.add(*stream(40))
    assert torch.equal(a.y, b.y) and torch.equal(a.sample(3).y, b.sample(3).y)


def test_stored_logits_are_the_outputs_at_insertion():
    strategy, bench, replay, probe = make_strategy("derpp", "cil", buffer_size=10_000)
    strategy.train(bench.train_stream[0])
    outputs = torch.cat([s.output[: s.num_new] for s in probe.steps])
    labels = torch.cat([s.y[: s.num_new] for s in probe.steps])
    buffer = replay.buffer
    assert len(buffer) == len(outputs) == len(bench.train_stream[0].dataset)
    assert torch.equal(buffer.y[: len(buffer)].long(), labels)
    stored = buffer.logits[: len(buffer), : outputs.shape[1]].float()
    torch.testing.assert_close(stored, outputs.float(), rtol=1e-3, atol=1e-3)  # kept in fp16
    assert (buffer.width[: len(buffer)] == 3).all()
    assert buffer.nbytes() > 0
