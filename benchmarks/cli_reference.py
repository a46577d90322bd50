"""The README's CLI reference is `--help` itself, so that the two cannot drift apart.

    python -m benchmarks.cli_reference            print the block the README holds
    python -m benchmarks.cli_reference --write    rewrite that block in README.md (make cli-reference)

tests/test_cli_help.py fails when the README's block differs from the live `--help`.
"""

from __future__ import annotations

import sys
from pathlib import Path

START = "<!-- cli-reference: `python -m benchmarks.cli_reference --write` writes this block from --help -->"
END = "<!-- /cli-reference -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def help_text() -> str:
    import run_benchmark

    return run_benchmark.build_parser().format_help()


def block() -> str:
    return f"{START}\n```text\n{help_text()}```\n{END}"


def readme_block(text: str) -> str | None:
    """The generated block in a README's text (markers included), or None when it has none."""
    start, end = text.find(START), text.find(END)
    return text[start : end + len(END)] if start >= 0 and end > start else None


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(block())
        return 0
    text = README.read_text(encoding="utf-8")
    old = readme_block(text)
    if old is None:
        print(f"error: {README} has no line {START!r}: put the two markers where the reference goes", file=sys.stderr)
        return 2
    README.write_text(text.replace(old, block()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
