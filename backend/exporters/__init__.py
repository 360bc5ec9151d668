"""The export formats: one writer per layout that segmentation tools train from.

A writer fills a (staging) folder pair by pair (``add``, streaming: no format holds every
image in memory) and writes its index files at the end (``finish``). ``backend.exporters.job``
chooses the pairs, writes the provenance and the data card, and renames the folder into place.

| format | layout | masks |
|---|---|---|
| ``kvasir`` | ``images/NAME.png``, ``masks/NAME.png`` (Kvasir-SEG) | 0/255 |
| ``nnunet`` | nnU-Net v2 raw: ``imagesTr/NAME_0000.png``, ``labelsTr/NAME.png``, ``dataset.json`` | 0/1 |
| ``coco`` | ``images/NAME.png``, ``annotations.json`` (one object per connected region, RLE) | RLE |
| ``hf`` | Hugging Face ``data/SPLIT-00000-of-00001.parquet`` (image, mask, provenance columns) | 0/1 |
| ``monai`` | ``imagesTr/``, ``labelsTr/``, Decathlon datalist ``dataset.json`` | 0/1 |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from backend.errors import BadInputError

if TYPE_CHECKING:  # numpy loads with a writer, not for the CLI's --help (FORMATS)
    import numpy as np

FORMATS = {
    "kvasir": "backend.exporters.layouts:KvasirWriter",
    "nnunet": "backend.exporters.layouts:NnUNetWriter",
    "coco": "backend.exporters.coco:CocoWriter",
    "hf": "backend.exporters.hf:HfWriter",
    "monai": "backend.exporters.layouts:MonaiWriter",
}
LABEL = "polyp"


@dataclass(frozen=True)
class Item:
    """One exported pair: its unique stem, split (train | test) and provenance row."""

    name: str
    split: str
    row: dict[str, Any]


@dataclass(frozen=True)
class DatasetInfo:
    """What index files say about the whole export (name, description, licence)."""

    name: str
    description: str
    licence: str
    version: str


class Writer(Protocol):
    title: str  # the format in words, for the data card
    loading: str  # Markdown: the layout and how to load it

    def add(self, item: Item, image: np.ndarray, mask: np.ndarray) -> tuple[str, str]:
        """Write one pair; returns the (image, mask) paths relative to the folder."""

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        """Write the index files; returns their names."""


def make_writer(fmt: str, folder: Path) -> Writer:
    if fmt not in FORMATS:
        raise BadInputError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    module, _, cls = FORMATS[fmt].partition(":")
    return getattr(importlib.import_module(module), cls)(folder)
