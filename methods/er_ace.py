"""ER-ACE (Caccia et al., ICLR 2022): ER with an asymmetric cross-entropy.

    loss = CE(new rows; the current task's classes only) + CE(buffer rows; every class seen)

In TIL every row is scored by its own task's head already: ER-ACE is ER there. See `methods.plugins.er_ace`.
"""

from __future__ import annotations

from methods.declare import LEARNING_RATES, Method, RunContext
from methods.er import ReplaySettings, replay_batch, replay_buffer


def plugin(settings: ReplaySettings, run: RunContext):
    from methods.plugins.er_ace import ERACEPlugin

    return ERACEPlugin(replay_buffer(settings, run), replay_batch(settings, run))


METHOD = Method(
    name="er-ace", order=32, summary="ER-ACE, the new rows' CE over the current task's classes only",
    plugin=plugin, settings=ReplaySettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why="the generative head scores answer tokens, with no class columns to mask",
    keeps_examples=True, cost=2.0,
)
