"""Every relative link and image in README.md and docs/*.md resolves: the file exists and a `#anchor`
names a heading of it (GitHub's slugs). External http(s) and mailto links are not checked.
The README stays a README a reader finishes: at most 350 lines."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets (a badge's image).
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+[\"'(][^)]*)?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=[\"']([^\"']+)[\"']", re.I)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower-case, punctuation but '-' and '_' dropped, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    text = path.read_text(encoding="utf-8")
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    result.update(re.findall(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", text))
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link, image and reference definition outside code."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (INLINE_LINK, REFERENCE_DEF, HTML_LINK):
            for match in pattern.finditer(line):
                found.append((number, match.group(1).strip("<>")))
    return found


def broken(path: Path, target: str) -> str | None:
    """Why a link from `path` to `target` does not resolve, or None when it does (or is external)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: not checked here
        return None
    file_part, _, anchor = target.partition("#")
    destination = path if not file_part else (path.parent / unquote(file_part)).resolve()
    if not destination.exists():
        return f"{file_part} does not exist"
    if anchor:
        if destination.is_dir() or destination.suffix.lower() != ".md":
            return f"#{anchor} on {file_part}, which is not a Markdown file"
        if unquote(anchor) not in anchors(destination):
            return f"no heading of {file_part or path.name} has the anchor #{anchor}"
    return None


def test_the_pages_have_links_to_check():
    assert len(PAGES) > 10
    readme_targets = [target for _, target in links(ROOT / "README.md")]
    assert "docs/cli.md" in readme_targets and any(t.startswith("docs/running.md#") for t in readme_targets)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    failures = [f"{page.relative_to(ROOT)}:{number}: ({target}) {why}"
                for number, target in links(page) if (why := broken(page, target))]
    assert not failures, "\n".join(failures)


def test_the_checker_catches_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## What survives what\n\n## Setup\n\n## Setup\n")
    page = tmp_path / "README.md"
    page.write_text("x")
    assert broken(page, "docs/a.md") is None
    assert broken(page, "docs/a.md#what-survives-what") is None
    assert broken(page, "docs/a.md#setup-1") is None
    assert broken(page, "https://example.com/none#x") is None
    assert "does not exist" in broken(page, "docs/b.md")
    assert "anchor" in broken(page, "docs/a.md#what-survives")
    assert "anchor" in broken(page, "#nowhere")
    text = "[a](docs/a.md) ![i](img.png \"t\") `[not](a-link.md)`\n```\n[nor](this.md)\n```\n[ref]: docs/c.md\n"
    page.write_text(text)
    assert [target for _, target in links(page)] == ["docs/a.md", "img.png", "docs/c.md"]


def test_slugs_follow_github():
    assert slug("W&B and reports") == "wb-and-reports"
    assert slug("Interruptions, resuming, determinism") == "interruptions-resuming-determinism"
    assert slug("Parallel grids (Ray), devices, precision") == "parallel-grids-ray-devices-precision"
    assert slug("The generative head (`--head lm`)") == "the-generative-head---head-lm"
    assert slug("Quick start") == "quick-start"


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 350, f"README.md has {lines} lines: move reference material to docs/"
