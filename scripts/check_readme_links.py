#!/usr/bin/env python3
"""Check the README's relative links: each names a file of the checkout, and each anchor
into a Markdown file names one of its headings.

The README lies outside the documentation site, so ``mkdocs build --strict`` does not
see its links; ``tox -e docs`` runs this after the build. Heading ids are made as mkdocs
makes them (Python-Markdown's ``toc``), which for the plain headings the README links to
are GitHub's ids too.

Exit status: 0 when every link resolves, 1 otherwise (each broken link printed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import markdown

ROOT = Path(__file__).resolve().parents[1]
#: The target of an inline link or image, ``[text](target)``.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_ids(page: Path) -> set[str]:
    """The ids Python-Markdown's ``toc`` gives the headings of ``page`` (fenced code excluded)."""
    html = markdown.markdown(page.read_text(encoding="utf-8"), extensions=["toc", "fenced_code", "tables"])
    return set(re.findall(r'<h[1-6] id="([^"]+)"', html))


def broken_links(readme: Path) -> list[str]:
    """Every relative link of ``readme`` whose file or anchor does not exist, with the reason."""
    broken = []
    for target in LINK.findall(readme.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        file = (readme.parent / path) if path else readme
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and file.suffix == ".md" and anchor not in heading_ids(file):
            broken.append(f"{target}: no heading of {file.relative_to(ROOT)} has the id {anchor!r}")
    return broken


def main() -> int:
    broken = broken_links(ROOT / "README.md")
    for problem in broken:
        print(f"README.md links to {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
