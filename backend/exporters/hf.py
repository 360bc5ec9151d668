"""Hugging Face ``datasets``: the layout the Hub uses, ``data/SPLIT-00000-of-00001.parquet``.

``image`` and ``mask`` are ``Image`` columns (PNG bytes embedded; masks 0/1), beside one
column per provenance field. The parquet schema carries the ``datasets`` feature types, so
``datasets.load_dataset("OUT")`` gives the same columns back; the folder can be pushed to the
Hub as it is. Rows are written in batches, so no export holds every image in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backend.config.extras import require
from backend.exporters import DatasetInfo, Item
from backend.exporters.layouts import binary
from backend.io.files import encode_png

INT_COLUMNS = {"sample_id", "source_image_id", "mask_version_id", "parent_sample_id", "model_id", "seed"}
BATCH = 64


PURPOSE = "the Hugging Face export (--format hf)"


def features(columns: list[str]) -> Any:
    """The ``datasets`` feature types of the columns (images, then provenance)."""
    datasets = require("datasets", "hf", PURPOSE)
    Value, Image = datasets.Value, datasets.Image
    return datasets.Features(
        {"image": Image(), "mask": Image(), **{c: Value("int64" if c in INT_COLUMNS else "string") for c in columns}}
    )


def parquet_name(split: str) -> str:
    return f"data/{split}-00000-of-00001.parquet"


class HfWriter:
    title = "Hugging Face datasets (parquet)"
    loading = (
        "`data/train-00000-of-00001.parquet` (and `data/test-...` for test-role pairs): columns "
        "`image` and `mask` (PNG; mask 0 = background, 1 = polyp) and one column per provenance "
        'field. `datasets.load_dataset("OUT")` loads it (splits `train`, `test`); the folder can '
        "be uploaded to the Hub as is."
    )

    def __init__(self, folder: Path):
        self.folder = folder
        require("datasets", "hf", PURPOSE)  # before any file is written
        self.pa = require("pyarrow", "hf", PURPOSE)
        self.pq = require("pyarrow.parquet", "hf", PURPOSE)
        self.schema = None
        self.writers: dict[str, Any] = {}
        self.pending: dict[str, list[dict]] = {}

    def add(self, item: Item, image: np.ndarray, mask: np.ndarray) -> tuple[str, str]:
        row = {k: v for k, v in item.row.items() if k not in ("image", "mask")}
        if self.schema is None:
            self.schema = features(list(row)).arrow_schema
        row["image"] = {"bytes": encode_png(image), "path": f"{item.name}.png"}
        row["mask"] = {"bytes": encode_png(binary(mask, 1)), "path": f"{item.name}_mask.png"}
        batch = self.pending.setdefault(item.split, [])
        batch.append({k: (None if v == "" and k in INT_COLUMNS else v) for k, v in row.items()})
        if len(batch) >= BATCH:
            self._flush(item.split)
        return (parquet_name(item.split),) * 2

    def _flush(self, split: str) -> None:
        rows = self.pending.pop(split, [])
        if not rows:
            return
        if split not in self.writers:
            path = self.folder / parquet_name(split)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[split] = self.pq.ParquetWriter(str(path), self.schema)
        self.writers[split].write_table(self.pa.Table.from_pylist(rows, schema=self.schema))

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        for split in list(self.pending):
            self._flush(split)
        for writer in self.writers.values():
            writer.close()
        return [parquet_name(s) for s in sorted(self.writers)]
