"""bf16 against fp32: what a faster precision costs in accuracy, measured rather than assumed.

Where a section holds the same method at fp32 and at another precision (`--precision bf16` or `auto`, into one
folder or several under one), each method's other-precision runs are paired by seed with its own fp32 runs:
the same seed draws the same batches and initial weights, so the per-seed difference is the precision's effect.
"""

from __future__ import annotations

import math

from reports.collect import MethodResult, Section, series_names
from reports.statistics import paired_difference

REFERENCE = "fp32"


def by_precision(section: Section) -> dict[str, dict[str, MethodResult]] | None:
    """`{method: {precision: its runs}}` for the methods run at fp32 and at least one other precision; None
    where there is none. A method run with several other settings is one series per setting."""
    recorded = [m for m in section.methods if m.config and m.config.get("precision")]
    names = series_names(recorded, "precision")
    series: dict[str, dict[str, MethodResult]] = {}
    for m in recorded:
        series.setdefault(names[id(m)], {})[m.config["precision"]] = m
    series = {name: runs for name, runs in series.items() if REFERENCE in runs and len(runs) > 1}
    return series or None


def precision_table(section: Section) -> tuple[str, tuple[list[str], list[list[str]]]] | None:
    """One row per method and precision: A_T, its paired difference from the same method at fp32 with the 95%
    interval, and the training time relative to fp32's over the seeds both have."""
    from reports.render import MISSING, fmt, paired_cells, points

    series = by_precision(section)
    if series is None:
        return None
    header = ["Method", "Precision", "n", "A_T (%)", f"Δ A_T vs {REFERENCE} (points)", "95% CI", "p",
              "Train (s)", f"Train time / {REFERENCE}'s"]
    rows = []
    for name, runs in series.items():
        reference = runs[REFERENCE]
        for precision in [REFERENCE, *sorted(p for p in runs if p != REFERENCE)]:
            m = runs[precision]
            cells, ratio = [MISSING] * 3, MISSING
            if m is not reference:
                difference = paired_difference(points(m, "final_average_accuracy"), points(reference, "final_average_accuracy"))
                cells = paired_cells(difference, digits=2)  # a precision's effect is small: hundredths show it
                ratio = time_ratio(m, reference)
            rows.append([name, precision, str(len(m.seeds)), fmt(m.stats["final_average_accuracy"]), *cells,
                         fmt(m.stats["train_seconds"], percent=False), ratio])
    legend = (
        f"Precision: each method against itself at {REFERENCE}, paired by seed (Δ: mean of the per-seed "
        f"differences in points, to the hundredth; 95% CI: Student t; n.s.: the interval contains 0). Training time: the mean "
        f"over the seeds both have, against {REFERENCE}'s on the same seeds; on one machine only if the runs shared one."
    )
    return legend, (header, rows)


def time_ratio(m: MethodResult, reference: MethodResult) -> str:
    """Training seconds summed over the seeds both have, against the reference's: a seed only one of them ran
    would weigh on one side alone."""
    seeds = [s for s, v in m.values["train_seconds"].items() if v and reference.values["train_seconds"].get(s)]
    if not seeds:
        return "no shared seed"
    ratio = math.fsum(m.values["train_seconds"][s] for s in seeds) / math.fsum(
        reference.values["train_seconds"][s] for s in seeds)
    return f"{ratio:.2f}"
