"""Counts in words: '1 sample', '2 samples'. One helper for every message, so no '1 samples' or
'from 1 images' slips through (issue 35)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str = "") -> str:
    """``n`` and its noun in the right number (``plural`` where adding 's' is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
