"""ER-ACE on real steps: the new rows' CE covers the current task's classes, the buffer rows' CE every class."""

from __future__ import annotations

import numpy as np
import pytest

from tests.method_harness import make_strategy
from tests.test_derpp import ce, own_head_only

TASK_SIZE = 3


def test_new_rows_compete_only_among_the_current_tasks_classes_in_cil():
    strategy, bench, plugin, probe = make_strategy("er-ace", "cil", buffer_size=40)
    for experience in bench.train_stream[:3]:
        strategy.train(experience)
    checked = 0
    for step in probe.steps:
        if step.drawn is None:
            continue
        out, y, n = step.output.double().numpy(), step.y.numpy(), step.num_new
        current = np.arange(TASK_SIZE * step.task, TASK_SIZE * (step.task + 1))
        old = np.arange(TASK_SIZE * step.task)
        assert np.isneginf(out[:n][:, old]).all() and np.isfinite(out[:n][:, current]).all()
        assert np.isfinite(out[n:]).all()  # the buffer rows keep every class seen
        new_ce = ce(out[:n][:, current], y[:n] - current[0])  # softmax over the current task's classes only
        assert step.loss == pytest.approx(new_ce + ce(out[n:], y[n:]), rel=1e-5)
        assert step.loss_terms["ce"] == pytest.approx(new_ce, rel=1e-5)
        checked += step.task > 0
    assert checked > 10  # tasks 1 and 2, where there are old classes to mask


def test_til_is_er():
    """Each row is scored by its own task's head: there is nothing else for the new rows to see."""
    strategy, bench, plugin, probe = make_strategy("er-ace", "til", buffer_size=40)
    for experience in bench.train_stream[:2]:
        strategy.train(experience)
    for step in probe.steps:
        out = own_head_only(step.output.double().numpy(), step.task_ids.numpy())
        n, y = step.num_new, step.y.numpy()
        replay = ce(out[n:], y[n:]) if step.drawn is not None else 0.0
        assert step.loss == pytest.approx(ce(out[:n], y[:n]) + replay, rel=1e-5)
