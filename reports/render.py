"""report.md and report.html from a results folder: a table, curves and heatmaps per section.

Both files show the same tables and point at the same PNGs (in `figures/`, by relative
path), so the folder can be copied or zipped as a whole.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from reports.collect import Section, Stat, collect
from reports.plots import accuracy_curves, evaluated_cells, heatmap

COLUMNS = [
    ("final_average_accuracy", "A_T (%)"),
    ("average_incremental_accuracy", "Ā (%)"),
    ("forgetting", "Forgetting (%)"),
    ("backward_transfer", "BWT (%)"),
    ("train_seconds", "Train (s)"),
]
MISSING = "–"


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


def draw(section: Section, figures: Path) -> list[tuple[str, str]]:
    """Writes the section's PNGs; returns (caption, path relative to the report) pairs."""
    base = slug(f"{section.benchmark}-{section.scenario}-{section.num_tasks}tasks")
    images = []

    def save(fig, name: str, caption: str) -> None:
        fig.savefig(figures / name, dpi=120)
        images.append((caption, f"{figures.name}/{name}"))

    curves = {m.label: m.curve for m in section.methods}
    fig = accuracy_curves(curves, section.num_tasks, section.title)
    save(fig, f"{base}-curves.png", "Average accuracy over seen tasks")
    for m in section.methods:
        title = f"{m.label}: accuracy (%), mean of {len(m.seeds)} seed{'s' if len(m.seeds) > 1 else ''}"
        fig = heatmap(evaluated_cells(m.mean_matrix, m.joint), title, row_labels=["all"] if m.joint else None)
        save(fig, f"{base}-{slug(m.label)}-heatmap.png", f"{m.label}: mean accuracy matrix")
    return images


INTRO = (
    "Mean ± sample standard deviation over seeds (n runs; the mean alone when n = 1). "
    "A_T: final average accuracy; Ā: average incremental accuracy; "
    "forgetting and BWT as in the Learn-or-Recall codebase; – where undefined (joint training)."
)


def markdown(sections: list[tuple[Section, list, list]], source: str) -> str:
    lines = ["# Continual-learning results", "", f"Results under `{source}`. {INTRO}", ""]
    for section, (header, rows), images in sections:
        lines += [f"## {section.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
        lines += [f"![{caption}]({path})\n" for caption, path in images]
    return "\n".join(lines)


STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:.5em 0}"
)


def html_page(sections: list[tuple[Section, list, list]], source: str) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Continual-learning results</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Continual-learning results</h1>",
        f"<p>Results under <code>{e(source)}</code>. {e(INTRO)}</p>",
    ]
    for section, (header, rows), images in sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
        parts += [
            f'<figure><img src="{e(path)}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>'
            for caption, path in images
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(results_dir, out_dir) -> Path:
    """Writes out_dir/report.md, out_dir/report.html and out_dir/figures/*.png; returns the .md path."""
    sections = collect(Path(results_dir))
    out_dir = Path(out_dir)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rendered = [(s, table(s), draw(s, figures)) for s in sections]
    source = str(results_dir)
    (out_dir / "report.html").write_text(html_page(rendered, source), encoding="utf-8")
    path = out_dir / "report.md"
    path.write_text(markdown(rendered, source), encoding="utf-8")
    return path
