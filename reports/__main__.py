"""Compare the runs under a folder.

    python -m reports DIR [--out OUT] [--reference METHOD]
    python -m reports DIR --wandb-report [--wandb-project P] [--wandb-entity E] [--wandb-group G]

Writes OUT/report.md, OUT/report.html, OUT/results.csv (one row per run) and OUT/figures/
(OUT defaults to DIR); every method is paired by seed with the reference method (default
er). With --wandb-report also saves a W&B Report (needs network and a W&B login). Bad input
(a --reference no run has, too) or a report that cannot be saved: one `error: ...` line on
stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.errors import first_line
from reports.collect import ReportError, collect
from reports.render import write_report


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n")[0])
    p.add_argument("dir", help="folder searched (recursively) for results.json files")
    p.add_argument("--out", help="where report.md, report.html, results.csv and figures/ go (default: DIR)")
    p.add_argument(
        "--reference", help="the method (or label) every other is compared with, paired by seed (default: er, if present)"
    )
    p.add_argument("--wandb-report", action="store_true", help="also save a W&B Report comparing the runs")
    p.add_argument("--wandb-project", default="clbench-text")
    p.add_argument("--wandb-entity", help="default: your W&B default entity")
    p.add_argument("--wandb-group", help="the group printed by run_benchmark.py (default: all runs of the project)")
    return p.parse_args(argv)


def save_wandb_report(args: argparse.Namespace) -> str:
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    from reports.wandb_report import build_report

    sections = collect(args.dir)
    try:
        entity = args.wandb_entity or wandb.Api().default_entity
        report = build_report(sections, args.wandb_project, entity, args.wandb_group)
        report.save()
        return report.url
    except Exception as e:  # no network, no login, unknown project: all mean "not saved"
        raise ReportError(f"the W&B report was not saved ({first_line(e)})") from e


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        path = write_report(args.dir, args.out or args.dir, args.reference)
        print(f"report: {path} and {path.with_suffix('.html')}")
        if args.wandb_report:
            print(f"W&B report: {save_wandb_report(args)}")
    except (ReportError, OSError) as e:  # OSError: OUT cannot be written
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
