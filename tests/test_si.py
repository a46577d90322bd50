"""SI (Avalanche's plugin): its importance and penalty against a hand computation on real steps."""

from __future__ import annotations

import pytest
import torch
from avalanche.core import SupervisedPlugin

from tests.method_harness import make_strategy

LAMBDA = 200.0
EPS = 1e-7  # Avalanche's default damping
CLIP = 0.001  # Avalanche clips the importance at this


class PathIntegral(SupervisedPlugin):
    """Sums -g * (theta_after - theta_before) over a task's steps, and the penalty at each step.

    In float32 as Avalanche: the importance divides by (change^2 + 1e-7), which scales a path of an
    almost unchanged weight by up to 1e7, float32 rounding of its steps included."""

    def __init__(self):
        super().__init__()
        self.path, self.before, self.start = {}, {}, {}
        self.importance, self.anchor, self.rows = None, None, []

    def before_training_exp(self, strategy, **kwargs):
        self.start = weights(strategy.model)
        self.path = {name: torch.zeros_like(w) for name, w in self.start.items()}

    def before_training_iteration(self, strategy, **kwargs):
        self.before = weights(strategy.model)

    def after_training_iteration(self, strategy, **kwargs):
        for name, p in strategy.model.named_parameters():
            self.path[name] -= p.grad * (p.detach() - self.before[name])

    def before_backward(self, strategy, **kwargs):
        if self.importance is None:
            return
        params = dict(strategy.model.named_parameters())
        hand = sum(float((imp.double() * (params[n].detach().double() - self.anchor[n].double()) ** 2).sum()) for n, imp in self.importance.items())
        self.rows.append((float(strategy.loss.detach()), float(strategy.loss_terms["ce"]), LAMBDA / 2 * hand))


def weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_importance_and_penalty_follow_the_path_integral():
    strategy, bench, plugin, _ = make_strategy("si", "cil", si_lambda=LAMBDA)
    probe = PathIntegral()
    strategy.plugins.append(probe)
    omega = {}
    for task in range(2):
        strategy.train(bench.train_stream[task])
        end = weights(strategy.model)
        for name, w in probe.path.items():
            omega[name] = omega.get(name, 0.0) + w / ((end[name] - probe.start[name]) ** 2 + EPS)
        probe.importance = {name: o.clamp(max=CLIP) for name, o in omega.items()}
        probe.anchor = end
        for name, o in probe.importance.items():
            torch.testing.assert_close(plugin.ewc_data[1][name].data.view_as(o), o, rtol=1e-5, atol=1e-9)
    # Task 1's head joined at task 1 with importance 0 from task 0.
    assert "heads.1.weight" in probe.importance and len(probe.path) == len(omega)
    clipped = sum(int((o > CLIP).sum()) for o in omega.values())
    assert clipped > 0 and any(bool((imp > 0).any() & (imp < CLIP).any()) for imp in probe.importance.values())
    probe.rows = []
    strategy.train(bench.train_stream[2])
    assert len(probe.rows) == 12
    for loss, ce, penalty in probe.rows:
        assert loss - ce == pytest.approx(penalty, rel=1e-3)
    assert probe.rows[-1][2] > 1e-4


def test_the_stock_plugin_learns_no_importance_on_cpu():
    """Why methods.plugins.si copies the snapshots: unchanged, Avalanche's SI keeps views of the weights on CPU."""
    from avalanche.training.plugins import SynapticIntelligencePlugin

    strategy, bench, _, _ = make_strategy("finetune", "cil")
    stock = SynapticIntelligencePlugin(LAMBDA)
    strategy.plugins.append(stock)
    strategy.train(bench.train_stream[0])
    assert all(float(p.data.abs().max()) == 0.0 for p in stock.ewc_data[1].values())
    assert all(float(t.data.abs().max()) == 0.0 for t in stock.syn_data["trajectory"].values())
