"""DER++ loss term by term against a hand computation (numpy, float64) on real training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.method_harness import make_strategy

TASK_SIZE = 3  # the small stream: 12 classes, 4 tasks of 3


def ce(logits: np.ndarray, y: np.ndarray) -> float:
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


def own_head_only(logits: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    """TIL: columns outside the example's task head are -inf."""
    owner = np.arange(logits.shape[1]) // TASK_SIZE
    return np.where(owner[None, :] == tasks[:, None], logits, -np.inf)


def hand_loss(step, targets: np.ndarray, widths: np.ndarray, alpha: float, beta: float, scenario: str) -> float:
    out = step.output.double().numpy()
    y, tasks, n = step.y.numpy(), step.task_ids.numpy(), step.num_new
    if scenario == "til":
        out_ce = own_head_only(out, tasks)
    else:
        out_ce = out
    total = ce(out_ce[:n], y[:n]) + beta * ce(out_ce[n:], y[n:])
    buf = out[n:]
    squared, count = 0.0, 0
    for i in range(len(buf)):
        cols = np.arange(widths[i])
        if scenario == "til":
            cols = cols[cols // TASK_SIZE == tasks[n + i]]
        squared += ((buf[i, cols] - targets[i, cols]) ** 2).sum()
        count += len(cols)
    return total + alpha * squared / max(count, 1)


def train_tasks(strategy, bench, tasks: int):
    for experience in bench.train_stream[:tasks]:
        strategy.train(experience)


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_stored_logits_loss_matches_hand_computation(scenario):
    alpha, beta = 0.3, 0.7
    strategy, bench, derpp, probe = make_strategy(
        "derpp", scenario, alpha=alpha, beta=beta, buffer_size=200, derpp_logits="stored"
    )
    train_tasks(strategy, bench, 2)
    replayed = [s for s in probe.steps if s.drawn is not None]
    assert replayed, "the buffer was never drawn from"
    mixed = 0
    for step in replayed:
        widths = step.drawn.width.numpy()
        mixed += len(set(widths)) > 1
        expected = hand_loss(step, step.drawn.logits.double().numpy(), widths, alpha, beta, scenario)
        assert step.loss == pytest.approx(expected, rel=1e-5)
    # Heads grew during task 1: some draws mixed 3-column (task 0) and 6-column (task 1) targets.
    assert mixed > 0


def test_stored_logits_ignore_padding_columns():
    """A task-0 target has 3 columns; the zero padding beyond them must not be distilled toward."""
    strategy, bench, derpp, probe = make_strategy("derpp", "cil", alpha=1.0, beta=0.0, buffer_size=200)
    train_tasks(strategy, bench, 2)
    step = next(s for s in probe.steps if s.drawn is not None and len(set(s.drawn.width.tolist())) > 1)
    widths = step.drawn.width.numpy()
    right = hand_loss(step, step.drawn.logits.double().numpy(), widths, 1.0, 0.0, "cil")
    wrong = hand_loss(step, step.drawn.logits.double().numpy(), np.full_like(widths, widths.max()), 1.0, 0.0, "cil")
    assert step.loss == pytest.approx(right, rel=1e-5)
    assert abs(right - wrong) > 1e-4


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_teacher_logits_loss_matches_hand_computation(scenario):
    alpha, beta = 0.4, 0.6
    strategy, bench, derpp, probe = make_strategy(
        "derpp", scenario, alpha=alpha, beta=beta, buffer_size=200, derpp_logits="teacher"
    )
    train_tasks(strategy, bench, 1)
    task0_steps = list(probe.steps)
    assert any(s.drawn is not None for s in task0_steps)  # replay CE already runs in task 0 ...
    assert all("mse" not in s.loss_terms for s in task0_steps)  # ... distillation does not
    teacher = derpp.teacher
    strategy.train(bench.train_stream[1])
    for step in probe.steps[len(task0_steps):]:
        with torch.no_grad():
            targets = teacher(step.drawn.ids).double().numpy()
        assert targets.shape[1] == TASK_SIZE  # the teacher has task 0's head only
        widths = np.full(len(step.drawn.y), targets.shape[1])
        expected = hand_loss(step, targets, widths, alpha, beta, scenario)
        assert step.loss == pytest.approx(expected, rel=1e-5)
    if scenario == "til":
        # Task-1 rows have no teacher head: they are never distilled toward an untrained copy.
        step = next(s for s in probe.steps[len(task0_steps):] if (s.drawn.task == 1).any() and (s.drawn.task == 0).any())
        mask = strategy.output_space.column_mask(torch.full_like(step.drawn.y, TASK_SIZE), step.drawn.task, TASK_SIZE)
        assert not mask[step.drawn.task == 1].any()
        assert mask[step.drawn.task == 0].all()


def test_teacher_is_frozen_eval_and_refreshed_each_task():
    strategy, bench, derpp, probe = make_strategy("derpp", "cil", derpp_logits="teacher", buffer_size=50)
    assert derpp.teacher is None
    teachers = []
    for experience in bench.train_stream[:3]:
        strategy.train(experience)
        teacher = derpp.teacher
        teachers.append(teacher)
        assert not teacher.training
        assert not any(p.requires_grad for p in teacher.parameters())
        # A snapshot of the model as it is now, i.e. at the start of the next task.
        for (name, p), q in zip(strategy.model.named_parameters(), teacher.parameters()):
            assert torch.equal(p.detach(), q), name
        assert len(teacher.heads) == len(strategy.model.heads)
    assert len({id(t) for t in teachers}) == 3
    # The previous teacher did not follow the model's later training.
    first = dict(teachers[0].named_parameters())["backbone.embeddings.word_embeddings.weight"]
    now = dict(strategy.model.named_parameters())["backbone.embeddings.word_embeddings.weight"]
    assert not torch.equal(first, now.detach())


def test_teacher_forwards_each_drawn_example_once_per_task():
    """Replayed examples drawn again reuse their teacher logits; a new teacher forwards them anew."""
    strategy, bench, derpp, probe = make_strategy("derpp", "cil", derpp_logits="teacher", buffer_size=30)
    strategy.train(bench.train_stream[0])  # no teacher yet
    for task in (1, 2):
        first, forwarded = len(probe.steps), []
        derpp.teacher.register_forward_pre_hook(lambda module, args: forwarded.extend(args[0].tolist()))
        strategy.train(bench.train_stream[task])
        drawn = [row for step in probe.steps[first:] for row in step.drawn.ids.tolist()]
        distinct = {tuple(row) for row in drawn}
        # Every distinct example once, though the buffer of 30 is drawn from about 3 times over.
        assert sorted(map(tuple, forwarded)) == sorted(distinct)
        assert len(drawn) > 2 * len(distinct)
        assert derpp.teacher_logits == {}  # the teacher taken at the end of this task has forwarded nothing


def test_new_task_ce_is_not_scaled_by_beta_in_til():
    """beta = 0 leaves CE(new) + alpha*MSE: a step's loss is at least the new-data CE."""
    strategy, bench, _, probe = make_strategy("derpp", "til", alpha=0.0, beta=0.0, buffer_size=100)
    train_tasks(strategy, bench, 2)
    for step in probe.steps:
        assert step.loss == pytest.approx(step.loss_terms["ce"], rel=1e-6)
        assert step.loss_terms["ce"] > 0.01
