"""A-GEM (Avalanche's plugin) on real steps: the applied gradient against the raw and the reference gradients."""

from __future__ import annotations

import pytest
import torch
from avalanche.core import SupervisedPlugin

from tests.method_harness import make_strategy


def flat_grad(model) -> torch.Tensor:
    return torch.cat([p.grad.detach().flatten().double().clone() for p in model.parameters()])


class Gradients(SupervisedPlugin):
    """The gradient after backward: placed before the method's plugin (raw) or after it (applied)."""

    def __init__(self):
        super().__init__()
        self.grads = []

    def after_backward(self, strategy, **kwargs):
        self.grads.append(flat_grad(strategy.model))


class Reference(SupervisedPlugin):
    """The reference gradient of the step, as a hand computation from the memory sample the plugin drew."""

    def __init__(self, plugin):
        super().__init__()
        self.plugin, self.grads = plugin, []

    def before_forward(self, strategy, **kwargs):
        if self.plugin.buffers:  # none during task 0
            self.grads.append(self.plugin.reference_gradients.double().clone())


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_applied_gradient_never_opposes_the_reference_gradient(scenario):
    strategy, bench, plugin, _ = make_strategy("agem", scenario, agem_patterns=12, agem_sample_size=6)
    raw, applied, reference = Gradients(), Gradients(), Reference(plugin)
    strategy.plugins.insert(0, raw)
    strategy.plugins += [applied, reference]
    strategy.train(bench.train_stream[0])
    assert len(plugin.buffers) == 1 and len(plugin.buffers[0]) == 12  # 12 of task 0's 30 examples kept
    assert torch.equal(raw.grads[-1], applied.grads[-1])  # no memory in task 0: nothing projected
    first = len(raw.grads)
    strategy.train(bench.train_stream[1])
    projected = kept = 0
    for g, out, ref in zip(raw.grads[first:], applied.grads[first:], reference.grads):
        dot = float(g @ ref)
        if dot >= 0:
            assert torch.equal(out, g)
            kept += 1
        else:
            expected = g - dot / float(ref @ ref) * ref
            torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-6)
            assert abs(float(out @ ref)) <= 1e-4 * float(g.norm() * ref.norm())  # projected onto the plane
            projected += 1
        assert float(out @ ref) >= -1e-4 * float(g.norm() * ref.norm())
    assert projected > 0 and kept > 0, (projected, kept)


def test_reference_gradient_is_the_run_loss_on_the_memory_sample():
    """TIL: the memory examples are scored by their own task's head, as the run's loss does."""
    strategy, bench, plugin, _ = make_strategy("agem", "til", agem_patterns=12, agem_sample_size=6)
    for experience in bench.train_stream[:2]:
        strategy.train(experience)
    model = strategy.model
    model.eval()  # no dropout: the same forward each time
    batch = next(plugin.buffer_dliter)
    x, y, task = batch[0], batch[1], batch[-1]
    assert len(y) == 6 and sorted(task.tolist()) == [0, 0, 0, 1, 1, 1]  # an equal share of each task

    def grad_of(loss):
        model.zero_grad()
        loss.backward()
        return flat_grad(model)

    by_criterion = grad_of(strategy._criterion(model(x), y))
    assert torch.equal(by_criterion, grad_of(strategy.output_space.loss(model(x), y, task)))
    assert not torch.allclose(by_criterion, grad_of(torch.nn.functional.cross_entropy(model(x), y)))  # not CIL's CE
