"""A method against the reference method, paired by seed.

Runs of two methods with the same seed start from the same seeded state (head, batch
order), so the per-seed difference removes the seed-to-seed spread that the mean ± std
table leaves in: a paired t-test says more than two overlapping stds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Paired:
    n: int  # seeds both methods have
    mean: float | None  # mean of (method - reference); None without a shared seed
    low: float | None  # 95% interval of that mean (Student t); None with fewer than 2 shared seeds
    high: float | None
    p: float | None  # two-sided paired t-test; None with fewer than 2 shared seeds, nan when every difference is 0

    @property
    def contains_zero(self) -> bool:
        """Not significant at 5%: the interval holds 0 (the same as p >= 0.05)."""
        return self.low is not None and self.low <= 0 <= self.high


def paired_difference(method: dict[int, float], reference: dict[int, float]) -> Paired:
    """Method minus reference over the seeds both have, in the units of the values."""
    seeds = sorted(s for s in method.keys() & reference.keys() if method[s] is not None and reference[s] is not None)
    a, b = [method[s] for s in seeds], [reference[s] for s in seeds]
    if not seeds:
        return Paired(0, None, None, None, None)
    mean = math.fsum(x - y for x, y in zip(a, b)) / len(seeds)
    if len(seeds) < 2:
        return Paired(1, mean, None, None, None)
    with warnings.catch_warnings():  # near-equal differences: scipy warns, the interval shows it anyway
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_rel(a, b)
        interval = test.confidence_interval(0.95)
    return Paired(len(seeds), mean, float(interval.low), float(interval.high), float(test.pvalue))
