"""Counts in words (issue 35: '1 samples', 'from 1 images')."""

from __future__ import annotations

import re
from pathlib import Path

from backend.words import counted


def test_one_is_singular_every_other_count_plural():
    assert counted(1, "sample") == "1 sample"
    assert [counted(n, "image") for n in (0, 2, 1000)] == ["0 images", "2 images", "1000 images"]
    assert counted(1, "sample was", "samples were") == "1 sample was"
    assert counted(3, "sample was", "samples were") == "3 samples were"


def test_no_message_puts_a_bare_count_before_a_plural_noun():
    """'{n} samples' in an f-string is '1 samples' one day; every such count goes through counted()."""
    root = Path(__file__).resolve().parents[1]
    bare = re.compile(
        r"(?<!of )(?<!of the )(?<!/)(?<!x)\{(len\([^)]*\)|[a-z_.]+)\} (samples|images|clusters)\b"
    )  # "k of n images": n counts
    found = [
        f"{p.relative_to(root)}:{i}: {line.strip()}"
        for folder in ("backend", "diffgen_gui")
        for p in sorted((root / folder).rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert not found, "\n".join(found)
