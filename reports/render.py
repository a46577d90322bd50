"""report.md, report.html and results.csv from a results folder.

Per section: a table of means over seeds, each method paired by seed with a reference
method, the code the runs came from, curves and heatmaps. Both pages show the same tables
and point at the same PNGs (in `figures/`, by relative path), so the folder can be copied
or zipped as a whole.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.results import trained_every_task
from reports.collect import KEY_PACKAGES, MethodResult, ReportError, Section, Stat, aggregate, load_results
from reports.budget import budget_series, budget_table
from reports.precision import precision_table
from reports.plots import accuracy_curves, against_budget, evaluated_cells, heatmap
from reports.statistics import Paired, paired_difference
from reports.tidy import write_csv

COLUMNS = [
    ("final_average_accuracy", "A_T (%)"),
    ("average_incremental_accuracy", "Ā (%)"),
    ("forgetting", "Forgetting (%)"),
    ("backward_transfer", "BWT (%)"),
    ("train_seconds", "Train (s)"),
]
PAIRED = [("final_average_accuracy", "A_T"), ("average_incremental_accuracy", "Ā")]
MISSING = "–"
NOT_SIGNIFICANT = "n.s."
DEFAULT_REFERENCE = "er"


def fmt(s: Stat, percent: bool = True) -> str:
    """mean ± sample std; the mean alone for one seed; "–" where the metric is undefined."""
    if s.mean is None:
        return MISSING
    scale = 100 if percent else 1
    text = f"{scale * s.mean:.1f}"
    return text if s.std is None else f"{text} ± {scale * s.std:.1f}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def table(section: Section) -> tuple[list[str], list[list[str]]]:
    header = ["Method", "n"] + [name for _, name in COLUMNS]
    rows = [
        [m.label, str(len(m.seeds))] + [fmt(m.stats[key], percent=key != "train_seconds") for key, _ in COLUMNS]
        for m in section.methods
    ]
    return header, rows


def points(m: MethodResult, key: str) -> dict[int, float | None]:
    return {seed: None if v is None else 100 * v for seed, v in m.values[key].items()}


def pvalue(p: float | None) -> str:
    if p is None or math.isnan(p):  # nan: every difference 0, nothing to test
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def paired_cells(d: Paired, digits: int = 1) -> list[str]:
    """Mean difference, its interval (marked where it holds 0), p; in words where the seeds allow no test."""
    def signed(x: float) -> str:  # + 0.0: a difference that rounds to zero reads +0.0, never -0.0
        return f"{round(x, digits) + 0.0:+.{digits}f}"

    if d.n == 0:
        return [MISSING, "no shared seed", MISSING]
    if d.n == 1:
        return [signed(d.mean), "1 shared seed: no interval", MISSING]
    interval = f"[{signed(d.low)}, {signed(d.high)}]" + (f" {NOT_SIGNIFICANT}" if d.contains_zero else "")
    return [signed(d.mean), interval, pvalue(d.p)]


def reference_of(section: Section, reference: str) -> MethodResult | str:
    """The row named `reference` (a label, or a method with one setting here); else why there is none."""
    found = [m for m in section.methods if m.label == reference] or [m for m in section.methods if m.method == reference]
    if not found:
        return f"No {reference} runs in this section: no paired comparison."
    if len(found) > 1:
        return f"{reference} has {len(found)} settings here: name one with --reference, e.g. '{found[0].label}'."
    return found[0]


def paired_table(section: Section, reference: str) -> tuple[str, tuple[list[str], list[list[str]]] | None]:
    """Each method except the reference and joint training against the reference: the legend and the table,
    or the line saying why there is no table."""
    ref = reference_of(section, reference)
    if isinstance(ref, str):
        return ref, None
    others = [m for m in section.methods if m is not ref and not m.joint]
    if not others:
        return f"No method besides {ref.label} (and joint training) to pair with it.", None
    header = ["Method", "n"]
    for _, name in PAIRED:
        header += [f"Δ {name} (points)", "95% CI", "p"]
    rows = []
    for m in others:
        diffs = [paired_difference(points(m, key), points(ref, key)) for key, _ in PAIRED]
        rows.append([f"{m.label} − {ref.label}", str(diffs[0].n)] + [c for d in diffs for c in paired_cells(d)])
    legend = (
        f"Paired by seed with {ref.label}: Δ is the mean of (method − {ref.label}) in accuracy points over the "
        f"n seeds both have; 95% CI: Student t on those differences; p: paired t-test; "
        f"{NOT_SIGNIFICANT}: the interval contains 0 (not significant at 5%). Joint training is an upper bound, not paired."
    )
    return legend, (header, rows)


PROBING_NOTE = (
    "Probing: after each task a linear probe (logistic regression) and a nearest-class-mean probe (cosine) are "
    "fitted on the frozen backbone's features of a per-class training subset of every class, and scored as the "
    "run is (CIL: all classes; TIL: within the task). Gap: linear probe A_T − observed A_T, per seed, then averaged: "
    "what the backbone still separates that the model's own heads do not."
)


def probing_tables(section: Section) -> list[tuple[list[str], list[list[str]]]]:
    """Observed vs probed A_T per method, and the gap per task after the last task; none if no run probed."""
    probed = [m for m in section.methods if m.mean_probing_matrix]
    if not probed:
        return []
    header = ["Method", "n", "Observed A_T (%)", "Linear probe A_T (%)", "NCM probe A_T (%)", "Gap (points)"]
    rows = []
    for m in probed:
        observed, linear = points(m, "final_average_accuracy"), points(m, "probe_linear")
        gaps = [linear[s] - observed[s] for s in m.seeds if linear[s] is not None and observed[s] is not None]
        gap = f"{sum(gaps) / len(gaps):+.1f}" if gaps else MISSING
        rows.append([m.label, str(m.stats["probe_linear"].n), fmt(m.stats["final_average_accuracy"]),
                     fmt(m.stats["probe_linear"]), fmt(m.stats["probe_ncm"]), gap])
    tasks = ["Method"] + [f"T{j + 1}" for j in range(section.num_tasks)]
    per_task = [
        [m.label] + [f"{100 * (p - o):+.1f}" for p, o in zip(m.mean_probing_matrix[-1], m.mean_matrix[-1])]
        for m in probed
    ]
    return [(header, rows), (tasks, per_task)]


def selection_table(section: Section) -> tuple[list[str], list[list[str]]] | None:
    """What each tuned method's setting was chosen from: the search behind its test runs; None if none was tuned."""
    tuned = [m for m in section.methods if m.selection]
    if not tuned:
        return None
    header = ["Method", "Budget", "Trained every task", "Chosen setting", "Criterion on val (%)"]
    rows = []
    for m in tuned:
        s = m.selection
        complete = trained_every_task(s["trials"], 1 if m.joint else section.num_tasks)
        chosen = next(t for t in s["trials"] if t["setting"] == s["chosen"])
        setting = ", ".join(f"{k}={v}" for k, v in s["chosen"].items())
        rows.append([m.label, str(s["budget"]), f"{len(complete)} of {len(s['trials'])}", setting,
                     f"{100 * chosen['score']:.1f} ({s['criterion']})"])
    return header, rows


METRIC_NAMES = {"final_average_accuracy": "A_T", "average_incremental_accuracy": "Ā", "forgetting": "Forgetting",
                "backward_transfer": "BWT"}


def published_table(section: Section) -> tuple[str, tuple[list[str], list[list[str]]]] | None:
    """The numbers the section's protocols publish beside ours, and a caption naming the deviations
    (the backbone first); None when no run followed a shipped protocol with a matching published number.

    A published row matches the runs of its protocol with its benchmark, scenario, number of tasks,
    method as filed (`derpp-teacher` for teacher logits) and, where it gives one, buffer size."""
    from benchmarks.protocol import known, load

    rows, deviations, notes = [], [], []
    names = dict.fromkeys(m.protocol["name"] for m in section.methods if m.protocol)
    for name in [n for n in names if n in known()]:
        protocol = load(name)
        for row in protocol.published:
            if (row["benchmark"], row["scenario"], row.get("tasks", section.num_tasks)) != (
                section.benchmark, section.scenario, section.num_tasks
            ):
                continue
            for m in section.methods:
                if not m.protocol or m.protocol["name"] != name or m.method != row["method"]:
                    continue
                if "buffer_size" in row and m.config["hp"].get("buffer_size") != row["buffer_size"]:
                    continue
                ours = m.stats[row["metric"]]
                difference = MISSING if ours.mean is None else f"{100 * ours.mean - row['value']:+.1f}"
                rows.append([m.label, name, row.get("backbone", MISSING), str(row.get("buffer_size", MISSING)),
                             METRIC_NAMES[row["metric"]], f"{row['value']:.2f}", fmt(ours), str(ours.n), difference,
                             row["source"]])
                deviations += [d for d in m.protocol["deviations"] if d not in deviations]
                if m.protocol["sha256"] != protocol.sha256 and name not in notes:
                    notes.append(name)
    if not rows:
        return None
    deviations.sort(key=lambda d: d["setting"] != "backbone")
    listed = "; ".join(f"{d['setting']} {d['protocol']} → {d['used']} ({d['reason']})" for d in deviations)
    caption = f"Published vs ours. Deviations from the protocol: {listed or 'none'}."
    caption += "".join(f" The {n} protocol file has changed since these runs (its sha256 differs)." for n in notes)
    header = ["Method", "Protocol", "Published backbone", "Buffer", "Metric", "Published (%)", "Ours (%)", "n",
              "Ours − published (points)", "Source"]
    return caption, (header, rows)


SELECTION_NOTE = (
    "Each tuned method's setting was chosen on the validation split, by the criterion, among `Budget` settings "
    "drawn from its search space; trials stopped early by ASHA did not train every task. "
    "Every trial's setting and scores: `selection` in the runs' results.json."
)


def provenance_lines(section: Section) -> tuple[str, list[str]]:
    """The commits and package versions behind the table, and a warning for each that is not one value."""
    v = section.provenance
    commits = v["commit"]
    line = f"Code: {'commit' if len(commits) == 1 else 'commits'} {', '.join(commits)}"
    line += "".join(f" · {package} {', '.join(v[package])}" for package in KEY_PACKAGES)
    warnings = [f"warning: this table mixes {len(commits)} commits"] if len(commits) > 1 else []
    warnings += [f"warning: this table mixes several versions of {p}" for p in KEY_PACKAGES if len(v[p]) > 1]
    return line, warnings


@dataclass(frozen=True)
class Rendered:
    """One section as both pages show it."""

    section: Section
    table: tuple[list[str], list[list[str]]]
    paired_note: str  # the paired table's legend, or why there is no paired table
    paired: tuple[list[str], list[list[str]]] | None
    probing: list[tuple[list[str], list[list[str]]]]  # observed vs probe A_T, and the gap per task
    selection: tuple[list[str], list[list[str]]] | None  # the tuned methods' chosen settings
    published: tuple[str, tuple[list[str], list[list[str]]]] | None  # caption and table: published vs ours
    budget: tuple[str, tuple[list[str], list[list[str]]]] | None  # legend and table: methods vs the reference per epochs
    precision: tuple[str, tuple[list[str], list[list[str]]]] | None  # legend and table: each method vs itself at fp32
    provenance: str
    warnings: list[str]
    images: list[tuple[str, str]]


def render(section: Section, reference: str, figures: Path) -> Rendered:
    note, paired = paired_table(section, reference)
    return Rendered(
        section, table(section), note, paired, probing_tables(section), selection_table(section),
        published_table(section), budget_table(section, reference), precision_table(section), *provenance_lines(section),
        draw(section, figures),
    )


def draw(section: Section, figures: Path) -> list[tuple[str, str]]:
    """Writes the section's PNGs; returns (caption, path relative to the report) pairs."""
    split = "" if section.eval_split == "test" else f"-{section.eval_split}"
    base = slug(f"{section.benchmark}-{section.scenario}-{section.num_tasks}tasks{split}")
    images = []

    def save(fig, name: str, caption: str) -> None:
        fig.savefig(figures / name, dpi=120)
        images.append((caption, f"{figures.name}/{name}"))

    budget = budget_series(section)
    if budget:
        save(against_budget(budget, section.title), f"{base}-budget.png",
             "A_T and Ā against epochs per task (band: 95% interval of the mean over seeds)")
    curves = {m.label: m.curve for m in section.methods}
    stds = {m.label: m.curve_std for m in section.methods}
    fig = accuracy_curves(curves, section.num_tasks, section.title, stds)
    save(fig, f"{base}-curves.png", "Average accuracy over seen tasks (band: ±1 std over seeds)")
    for m in section.methods:
        title = f"{m.label}: accuracy (%), mean of {len(m.seeds)} seed{'s' if len(m.seeds) > 1 else ''}"
        fig = heatmap(evaluated_cells(m.mean_matrix, m.joint), title, row_labels=["all"] if m.joint else None)
        save(fig, f"{base}-{slug(m.label)}-heatmap.png", f"{m.label}: mean accuracy matrix")
        if m.mean_probing_matrix:  # every cell is measured: probes see every class from task 1
            title = f"{m.label}: linear probe accuracy (%)"
            fig = heatmap(m.mean_probing_matrix, title, row_labels=["all"] if m.joint else None)
            save(fig, f"{base}-{slug(m.label)}-probing.png", f"{m.label}: mean probing matrix (linear probe)")
    return images


INTRO = (
    "Mean ± sample standard deviation over seeds (n runs; the mean alone when n = 1). "
    "A_T: final average accuracy; Ā: average incremental accuracy; "
    "forgetting and BWT as in the Learn-or-Recall codebase; – where undefined (joint training)."
)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows] + [""]


def markdown(sections: list[Rendered], source: str) -> str:
    lines = ["# Continual-learning results", "", f"Results under `{source}`. {INTRO}", ""]
    for r in sections:
        lines += [f"## {r.section.title}", "", *markdown_table(*r.table), r.paired_note, ""]
        if r.paired:
            lines += markdown_table(*r.paired)
        if r.published:
            lines += ["### Published vs ours", "", r.published[0], "", *markdown_table(*r.published[1])]
        if r.budget:
            lines += ["### Training budget", "", r.budget[0], "", *markdown_table(*r.budget[1])]
        if r.precision:
            lines += ["### Precision", "", r.precision[0], "", *markdown_table(*r.precision[1])]
        if r.selection:
            lines += ["### Chosen on validation", "", SELECTION_NOTE, "", *markdown_table(*r.selection)]
        if r.probing:
            lines += ["### Probing vs observed", "", PROBING_NOTE, ""]
            lines += markdown_table(*r.probing[0])
            lines += ["Gap per task after the last task (linear probe − observed, points, mean over seeds):", ""]
            lines += markdown_table(*r.probing[1])
        lines += [r.provenance, ""]
        lines += [f"**{w}**\n" for w in r.warnings]
        lines += [f"![{caption}]({path})\n" for caption, path in r.images]
    return "\n".join(lines)


STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:.5em 0}"
    "tbody+tbody th{background:#f4f4f4}.warning{color:#b00}"
)


def html_row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"


def html_page(sections: list[Rendered], source: str) -> str:
    """The paired comparison is a second body of the section's table: one table per section."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Continual-learning results</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Continual-learning results</h1>",
        f"<p>Results under <code>{e(source)}</code>. {e(INTRO)}</p>",
    ]
    for r in sections:
        header, rows = r.table
        parts.append(f"<h2>{e(r.section.title)}</h2>")
        parts.append(f"<table><thead>{html_row(header, 'th')}</thead><tbody>")
        parts += [html_row(cells) for cells in rows]
        parts.append("</tbody>")
        if r.paired:
            header, rows = r.paired
            parts += ["<tbody>", html_row(header, "th"), *[html_row(cells) for cells in rows], "</tbody>"]
        parts.append("</table>")
        parts.append(f"<p>{e(r.paired_note)}</p>")
        if r.published:
            caption, (header, rows) = r.published
            parts += ["<h3>Published vs ours</h3>", f"<p>{e(caption)}</p>",
                      f"<table><thead>{html_row(header, 'th')}</thead><tbody>", *[html_row(c) for c in rows],
                      "</tbody></table>"]
        for title, part in (("Training budget", r.budget), ("Precision", r.precision)):
            if part:
                legend, (header, rows) = part
                parts += [f"<h3>{title}</h3>", f"<p>{e(legend)}</p>",
                          f"<table><thead>{html_row(header, 'th')}</thead><tbody>", *[html_row(c) for c in rows],
                          "</tbody></table>"]
        if r.selection:
            header, rows = r.selection
            parts += ["<h3>Chosen on validation</h3>", f"<p>{e(SELECTION_NOTE)}</p>",
                      f"<table><thead>{html_row(header, 'th')}</thead><tbody>", *[html_row(c) for c in rows],
                      "</tbody></table>"]
        if r.probing:
            parts += ["<h3>Probing vs observed</h3>", f"<p>{e(PROBING_NOTE)}</p>"]
            for header, rows in r.probing:
                parts += [f"<table><thead>{html_row(header, 'th')}</thead><tbody>",
                          *[html_row(cells) for cells in rows], "</tbody></table>"]
        parts.append(f"<p>{e(r.provenance)}</p>")
        parts += [f'<p class="warning"><strong>{e(w)}</strong></p>' for w in r.warnings]
        parts += [
            f'<figure><img src="{e(path)}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>'
            for caption, path in r.images
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(results_dir, out_dir, reference: str | None = None) -> Path:
    """Writes out_dir/report.md, report.html, results.csv and figures/*.png; returns the .md path.

    `reference` (default er) is the method the others are paired with; one named that no
    run under results_dir has is an error, while the default may be absent (no paired tables).
    """
    records = load_results(Path(results_dir))
    sections = aggregate(records)
    if reference and not any(reference in (m.label, m.method) for s in sections for m in s.methods):
        known = sorted({m.method for s in sections for m in s.methods})
        raise ReportError(f"--reference {reference}: no such method under {results_dir} (there: {', '.join(known)})")
    out_dir = Path(out_dir)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rendered = [render(s, reference or DEFAULT_REFERENCE, figures) for s in sections]
    write_csv(records, out_dir / "results.csv")
    source = str(results_dir)
    (out_dir / "report.html").write_text(html_page(rendered, source), encoding="utf-8")
    path = out_dir / "report.md"
    path.write_text(markdown(rendered, source), encoding="utf-8")
    return path
