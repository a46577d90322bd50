"""The training budget as a variable: when a section's runs differ in epochs per task, each method is compared
with the reference method trained for the same number of epochs (paired by seed), and A_T and Ā are drawn
against epochs.

It answers "does a longer budget change the order of two methods?" without a separate script: run the
methods at several `--epochs` values into one folder (or several folders under one) and report it.
"""

from __future__ import annotations

from reports.collect import MethodResult, Section, series_names
from reports.statistics import paired_difference

BUDGET_METRICS = [("final_average_accuracy", "A_T"), ("average_incremental_accuracy", "Ā")]


def by_budget(section: Section) -> dict[str, dict[int, MethodResult]] | None:
    """`{method: {epochs: its runs}}` for the section's continual methods (not joint), where at least two
    epoch counts were run; None otherwise. A method run with several other settings is one series per
    setting, named by the values that differ (`derpp (hp.alpha=0.5)`)."""
    continual = [m for m in section.methods if not m.joint and m.config and m.config.get("epochs") is not None]
    names = series_names(continual, "epochs")
    series: dict[str, dict[int, MethodResult]] = {}
    for m in continual:
        series.setdefault(names[id(m)], {})[m.config["epochs"]] = m
    epochs = {e for runs in series.values() for e in runs}
    return series if len(epochs) > 1 else None


def budget_table(section: Section, reference: str) -> tuple[str, tuple[list[str], list[list[str]]]] | None:
    """One row per epoch count and method: its A_T and Ā (mean ± std) and, for every method but the
    reference, the paired difference from the reference at the same epoch count with its 95% interval."""
    from reports.render import MISSING, fmt, paired_cells, points

    series = by_budget(section)
    if series is None:
        return None
    header = ["Epochs per task", "Method", "n"]
    for _, name in BUDGET_METRICS:
        header += [f"{name} (%)", f"Δ {name} vs {reference} (points)", "95% CI", "p"]
    rows = []
    for epochs in sorted({e for runs in series.values() for e in runs}):
        ref = series.get(reference, {}).get(epochs)
        for name, runs in series.items():
            m = runs.get(epochs)
            if m is None:
                continue
            row = [str(epochs), name, str(len(m.seeds))]
            for key, _ in BUDGET_METRICS:
                cells = [MISSING, MISSING, MISSING]
                if ref is not None and m is not ref:
                    cells = paired_cells(paired_difference(points(m, key), points(ref, key)))
                row += [fmt(m.stats[key]), *cells]
            rows.append(row)
    legend = (
        f"The training budget: each method against {reference} trained for the same number of epochs per task, "
        f"paired by seed (Δ: mean of method − {reference} in points; 95% CI: Student t; n.s.: the interval contains 0)."
    )
    return legend, (header, rows)


def budget_series(section: Section) -> dict[str, dict[str, dict[int, list[float]]]] | None:
    """`{metric name: {method: {epochs: per-seed values in %}}}` for the figure; None without a budget axis."""
    series = by_budget(section)
    if series is None:
        return None
    return {
        name: {method: {e: [100 * v for v in m.values[key].values() if v is not None] for e, m in runs.items()}
               for method, runs in series.items()}
        for key, name in BUDGET_METRICS
    }
