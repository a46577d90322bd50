"""The CLI reference in docs/cli.md is `--help` itself, so that the two cannot drift apart.

    python -m benchmarks.cli_reference            print the block docs/cli.md holds
    python -m benchmarks.cli_reference --write    rewrite that block in docs/cli.md (make cli-reference)

tests/test_cli_help.py fails when docs/cli.md's block differs from the live `--help`.
"""

from __future__ import annotations

import sys
from pathlib import Path

START = "<!-- cli-reference: `python -m benchmarks.cli_reference --write` writes this block from --help -->"
END = "<!-- /cli-reference -->"
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"  # the page that holds the reference


def help_text() -> str:
    import run_benchmark

    return run_benchmark.build_parser().format_help()


def block() -> str:
    return f"{START}\n```text\n{help_text()}```\n{END}"


def doc_block(text: str) -> str | None:
    """The generated block in a page's text (markers included), or None when it has none."""
    start, end = text.find(START), text.find(END)
    return text[start : end + len(END)] if start >= 0 and end > start else None


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(block())
        return 0
    text = DOC.read_text(encoding="utf-8")
    old = doc_block(text)
    if old is None:
        print(f"error: {DOC} has no line {START!r}: put the two markers where the reference goes", file=sys.stderr)
        return 2
    DOC.write_text(text.replace(old, block()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
