"""ER with a nearest-class-mean classifier on its buffer (iCaRL's nearest-mean-of-exemplars): trained as ER,
evaluated by the cosine similarity of an example's pooled backbone feature to each class's mean feature
over its buffer examples. See `methods.plugins.ncm`."""

from __future__ import annotations

from methods.declare import LEARNING_RATES, Method, RunContext
from methods.er import ReplaySettings, replay_batch, replay_buffer


def plugin(settings: ReplaySettings, run: RunContext):
    from methods.plugins.ncm import NCMReplayPlugin

    return NCMReplayPlugin(replay_buffer(settings, run), replay_batch(settings, run))


METHOD = Method(
    name="er-ncm", order=33, summary="ER trained, evaluated by the nearest class mean of the buffer's features",
    plugin=plugin, settings=ReplaySettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why="the generative head has no pooled sentence feature",
    keeps_examples=True, cost=2.0,
)
