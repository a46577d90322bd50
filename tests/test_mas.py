"""MAS, Avalanche's own plugin through one declaration file: its penalty on real steps, and runs that resume exactly."""

from __future__ import annotations

import pytest
import torch
from avalanche.core import SupervisedPlugin

from tests.method_harness import make_strategy
from tests.test_zoo_runs import run

LAMBDA = 20.0


class PenaltyProbe(SupervisedPlugin):
    """After the method's plugin: the step's loss, its CE and the penalty from the plugin's own importance and anchor."""

    def __init__(self, plugin):
        super().__init__()
        self.plugin, self.rows = plugin, []

    def before_backward(self, strategy, **kwargs):
        params = dict(strategy.model.named_parameters())
        hand = sum(float((omega.data.double() * (params[name].detach().double() - self.plugin.params[name].data.double()) ** 2).sum())
                   for name, omega in self.plugin.importance.items())
        self.rows.append((float(strategy.loss.detach()), float(strategy.loss_terms["ce"]), LAMBDA * hand))


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_the_penalty_is_lambda_times_importance_weighted_squared_change_from_the_last_tasks_weights(scenario):
    strategy, bench, plugin, _ = make_strategy("mas", scenario, mas_lambda=LAMBDA)
    for task in range(2):
        strategy.train(bench.train_stream[task])
    anchor = {name: p.detach().clone() for name, p in strategy.model.named_parameters()}
    assert all(torch.equal(plugin.params[name].data, anchor[name]) for name in plugin.params)
    assert all(bool((omega.data >= 0).all()) for omega in plugin.importance.values())
    assert sum(float(omega.data.sum()) for omega in plugin.importance.values()) > 0
    probe = PenaltyProbe(plugin)
    strategy.plugins.append(probe)
    strategy.train(bench.train_stream[2])
    for loss, ce, penalty in probe.rows:
        assert loss - ce == pytest.approx(penalty, rel=1e-4)
    assert probe.rows[-1][2] > 1e-6  # the weights moved away from the anchor: the check has weight


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_runs_and_resumes_bit_identically(scenario, tmp_path):
    full = run("mas", scenario, tmp_path / "full")
    assert full["status"] == "finished" and full["buffer_bytes"] is None  # it keeps no example of the stream
    run("mas", scenario, tmp_path / "part", stop_after_task=1)
    assert run("mas", scenario, tmp_path / "part", resume=True)["accuracy_matrix"] == full["accuracy_matrix"]
