"""Synaptic Intelligence (Zenke et al., ICML 2017): Avalanche's `SynapticIntelligencePlugin`, with one fix.

During a task each weight's path integral w = -sum_steps g * (theta_after - theta_before) is summed
(g: the step's gradient of the whole loss); after it, Omega += w / ((theta_end - theta_start)^2 + eps),
and the importance is min(Omega, 0.001) (Avalanche's clip). Then

    loss = CE(new) + lambda/2 * sum_i importance_i (theta_i - theta*_i)^2, theta*: the weights after the last task.

A head's parameters join when the head appears (importance 0 until its task ends). No forward
pass of its own: it runs on every head, the generative one included.
"""

from __future__ import annotations

from avalanche.training.plugins import SynapticIntelligencePlugin

from methods.plugins.stock import StockPlugin


class SI(SynapticIntelligencePlugin, StockPlugin):
    """The stock plugin, with its weight snapshots copied.

    Avalanche 0.6 takes a snapshot as `param.detach().cpu().flatten()`: on a CPU model that is a view
    of the parameter itself, which the optimizer then updates in place, so theta_before and theta*
    follow the weights and the path integral and the penalty are 0 (on CUDA `.cpu()` copies). The
    two hooks that keep a snapshot past the step (the task's start = theta*, and theta_before) copy it.
    """

    STATE = ("ewc_data", "syn_data")  # CPU tensors (the plugin keeps them there)

    def before_training_exp(self, strategy, **kwargs):
        super().before_training_exp(strategy, **kwargs)
        own_copies(self.ewc_data[0])

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        own_copies(self.syn_data["old_theta"])


def own_copies(snapshot: dict) -> None:
    for param in snapshot.values():
        param.data = param.data.clone()
