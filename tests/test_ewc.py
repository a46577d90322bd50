"""EWC and online EWC (Avalanche's plugin) against a hand computation of penalty and Fisher on real steps."""

from __future__ import annotations

import pytest
import torch
from avalanche.core import SupervisedPlugin
from torch.utils.data import DataLoader

from tests.method_harness import make_strategy

LAMBDA = 50.0


def fisher(strategy, dataset) -> dict[str, torch.Tensor]:
    """Mean over the task's batches (eval mode, in order) of the squared gradient of the run's loss."""
    model, task_of = strategy.model, strategy.task_split.task_of_class()
    model.eval()
    total = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in model.named_parameters()}
    batches = list(DataLoader(dataset, batch_size=strategy.train_mb_size))
    for x, y, _ in batches:
        model.zero_grad()
        strategy.output_space.loss(model(x), y, task_of[y]).backward()  # TIL: each example's own head
        for name, p in model.named_parameters():
            total[name] += p.grad.double() ** 2
    model.train()
    model.zero_grad()
    return {name: f / len(batches) for name, f in total.items()}


class PenaltyProbe(SupervisedPlugin):
    """After the method's plugin: the step's loss, CE and the hand penalty at the step's weights."""

    def __init__(self, anchors):
        super().__init__()
        self.anchors = anchors  # [(F, theta*)] of the earlier tasks
        self.rows = []

    def before_backward(self, strategy, **kwargs):
        params = dict(strategy.model.named_parameters())
        hand = sum(
            float((f * (params[name].detach().double() - star[name]) ** 2).sum())
            for f_of, star in self.anchors for name, f in f_of.items()
        )
        self.rows.append((float(strategy.loss.detach()), float(strategy.loss_terms["ce"]), LAMBDA / 2 * hand))


def weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().double().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_separate_penalty_is_half_lambda_times_fisher_weighted_squared_change(scenario):
    strategy, bench, plugin, _ = make_strategy("ewc", scenario, ewc_lambda=LAMBDA)
    anchors = []
    for task in range(2):
        strategy.train(bench.train_stream[task])
        anchors.append((fisher(strategy, bench.train_stream[task].dataset), weights(strategy.model)))
    assert set(anchors[0][0]) < set(anchors[1][0])  # task 1's head is a new parameter: task 0 has no F for it
    probe = PenaltyProbe(anchors)
    strategy.plugins.append(probe)
    strategy.train(bench.train_stream[2])
    assert len(probe.rows) == 12
    for loss, ce, penalty in probe.rows:
        assert loss - ce == pytest.approx(penalty, rel=1e-4)
    assert probe.rows[-1][2] > 1e-3  # the weights moved away from both anchors: the check has weight


def test_online_penalty_uses_the_decayed_sum_of_fishers_at_the_last_weights():
    gamma = 0.5
    strategy, bench, plugin, _ = make_strategy("online-ewc", "cil", ewc_lambda=LAMBDA, ewc_decay=gamma)
    fishers = []
    for task in range(2):
        strategy.train(bench.train_stream[task])
        fishers.append(fisher(strategy, bench.train_stream[task].dataset))
    running = {name: f + gamma * fishers[0].get(name, 0.0) for name, f in fishers[1].items()}
    probe = PenaltyProbe([(running, weights(strategy.model))])
    strategy.plugins.append(probe)
    strategy.train(bench.train_stream[2])
    for loss, ce, penalty in probe.rows:
        assert loss - ce == pytest.approx(penalty, rel=1e-4)
    assert list(plugin.importances) == [2]  # online keeps one running Fisher: the last task's
