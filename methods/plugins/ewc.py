"""EWC (Kirkpatrick et al., PNAS 2017) and online EWC (Schwarz et al., ICML 2018): Avalanche's `EWCPlugin`, unchanged.

    loss = CE(new) + lambda/2 * sum_i F_i (theta_i - theta*_i)^2

summed over the earlier tasks (`separate`: each task's F and weights theta*), or once with a running
F = gamma * F + F_task anchored at the last task's weights (`online`). F is Avalanche's: after
a task, the mean over its training batches (in eval mode) of the squared gradient of the batch's
loss, the run's own (`strategy._criterion`, TIL: the example's own head). A head's parameters
enter the penalty from the task after the one that added them. Avalanche adds `ewc_lambda * sum`,
so the plugin is given lambda / 2, the paper's scale.
"""

from __future__ import annotations

from avalanche.training.plugins import EWCPlugin

from methods.plugins.stock import StockPlugin


class EWC(EWCPlugin, StockPlugin):
    STATE = ("saved_params", "importances")
