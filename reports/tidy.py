"""results.csv: every finished run as one row, for pandas, R or a spreadsheet.

The report's tables are means over seeds; this file keeps each run, with its config and
provenance flattened into dotted columns (config.hp.beta, provenance.packages.torch), so
another cut of the results needs no JSON walking. Lists (the accuracy matrix) are JSON cells.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from reports.collect import eval_split, flatten


def row(record: dict) -> dict:
    flat = flatten({**record, "eval_split": eval_split(record)})
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in flat.items()}


def write_csv(records: list[dict], path: Path) -> None:
    """Columns in the order they first appear; a run without one (an older run: no provenance) has it empty."""
    rows = [row(r) for r in records]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
