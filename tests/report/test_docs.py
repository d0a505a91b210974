"""README.md and docs/: every relative link and image resolves in a clone, and every table is what
``make readme`` writes from the records."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.report import readme

ROOT = readme.README.parent
DOCUMENTS = [readme.README, *sorted(readme.DOCS.glob("*.md"))]
#: markdown links and images, and HTML src/href attributes
TARGETS = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


def relative_targets(text: str) -> list[str]:
    """The link and image targets of a document that point inside the repository."""
    targets = [a or b for a, b in TARGETS.findall(text)]
    return [t for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_relative_targets_finds_links_images_and_skips_urls_and_anchors():
    text = (
        '[a](docs/gpu.md) ![b](x.png#frag) <img src="docs/figures/f.png"> '
        "[c](https://example.org) [d](#top)"
    )
    assert relative_targets(text) == ["docs/gpu.md", "x.png#frag", "docs/figures/f.png"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(document: Path):
    missing = [
        target
        for target in relative_targets(document.read_text())
        if not (document.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{document.relative_to(ROOT)} links to missing files: {missing}"


@pytest.mark.parametrize("document", list(readme.DOCUMENTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_document_is_what_make_readme_writes(document: Path):
    assert document.read_text() == readme.render(document), (
        "run `make readme` and commit the result"
    )


def test_the_readme_is_read_in_five_minutes():
    text = re.sub(r"<!--.*?-->|<[^>]+>", " ", readme.README.read_text(), flags=re.S)
    paragraphs = [p for p in text.split("\n\n") if not p.lstrip().startswith(("|", "#", "```"))]
    assert len(text.split()) < 1200
    longest = max(paragraphs, key=lambda p: len(p.split()))
    assert len(longest.split()) <= 80, longest[:120]
