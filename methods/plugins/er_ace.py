"""ER-ACE (Caccia et al., ICLR 2022): ER with an asymmetric cross-entropy.

    loss = CE(new rows; the current task's classes only) + CE(buffer rows; every class seen)

The new rows' logits of earlier tasks' classes are masked (-inf) before the strategy's criterion,
so new examples do not push old classes' logits down, the abrupt change to old classes'
representations that ER suffers when a task starts. (The authors' code masks the classes of the
incoming batch; here, as in the paper's notation, the current task's.) In TIL every row is already
scored by its own task's head only: ER-ACE is ER there.
"""

from __future__ import annotations

import torch

from methods.plugins.replay import ReplayPlugin


class ERACEPlugin(ReplayPlugin):
    def after_forward(self, strategy, **kwargs):
        n, logits = strategy.num_new, strategy.mb_output
        current = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
        current[list(strategy.experience.classes_in_this_experience)] = True
        strategy.mb_output = torch.cat([logits[:n].masked_fill(~current, float("-inf")), logits[n:]])
