"""Folder-of-PNG formats: Kvasir-SEG, nnU-Net v2 raw, MONAI (Medical Segmentation Decathlon).

Images are 8-bit RGB PNG, masks 8-bit grey PNG (lossless, as nnU-Net requires); every file is
re-encoded, so no metadata of a source travels with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from backend.exporters import LABEL, DatasetInfo, Item
from backend.io.files import atomic_write_bytes, atomic_write_text, encode_png


def binary(mask: np.ndarray, value: int) -> np.ndarray:
    """The mask with polyp pixels ``value`` and the rest 0."""
    return np.where(mask > 0, np.uint8(value), np.uint8(0))


class _PngPairs:
    """Writes each pair as two PNGs at the paths ``paths`` gives; masks as 0/``mask_value``."""

    mask_value = 1

    def __init__(self, folder: Path):
        self.folder = folder

    def paths(self, item: Item) -> tuple[str, str]:
        raise NotImplementedError

    def add(self, item: Item, image: np.ndarray, mask: np.ndarray) -> tuple[str, str]:
        image_rel, mask_rel = self.paths(item)
        atomic_write_bytes(self.folder / image_rel, encode_png(image))
        atomic_write_bytes(self.folder / mask_rel, encode_png(binary(mask, self.mask_value)))
        return image_rel, mask_rel

    def _write_json(self, name: str, data: dict) -> list[str]:
        atomic_write_text(self.folder / name, json.dumps(data, indent=2, default=str))
        return [name]


def _decathlon_paths(item: Item, image_suffix: str = "") -> tuple[str, str]:
    """imagesTr/labelsTr for training pairs, imagesTs/labelsTs for test pairs."""
    tag = "Ts" if item.split == "test" else "Tr"
    return f"images{tag}/{item.name}{image_suffix}.png", f"labels{tag}/{item.name}.png"


class KvasirWriter(_PngPairs):
    title = "Kvasir-SEG layout"
    loading = (
        "`images/NAME.png` (RGB) and `masks/NAME.png` (0 = background, 255 = polyp) with the same "
        "stems, as Kvasir-SEG and HyperKvasir ship them; `provenance.csv` says which split each "
        "pair belongs to."
    )
    mask_value = 255

    def paths(self, item: Item) -> tuple[str, str]:
        return f"images/{item.name}.png", f"masks/{item.name}.png"

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        return []


class NnUNetWriter(_PngPairs):
    title = "nnU-Net v2 raw dataset"
    loading = (
        "nnU-Net v2 raw layout: `imagesTr/CASE_0000.png` (RGB in one file, channels R, G, B), "
        "`labelsTr/CASE.png` (0 = background, 1 = polyp), test-role images in `imagesTs/` "
        "(their labels in `labelsTs/`), and `dataset.json`. Rename the folder to "
        "`DatasetNNN_Name` (NNN from 500 up) inside `$nnUNet_raw`, then run "
        "`nnUNetv2_plan_and_preprocess -d NNN --verify_dataset_integrity` and "
        "`nnUNetv2_train NNN 2d 0`."
    )

    def paths(self, item: Item) -> tuple[str, str]:
        return _decathlon_paths(item, "_0000")

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        return self._write_json(
            "dataset.json",
            {
                "channel_names": {"0": "R", "1": "G", "2": "B"},
                "labels": {"background": 0, LABEL: 1},
                "numTraining": sum(i.split == "train" for i in items),
                "file_ending": ".png",
                "name": info.name,
                "description": info.description,
                "license": info.licence,
                "release": info.version,
                "reference": "README.md and provenance.csv in this folder",
            },
        )


class MonaiWriter(_PngPairs):
    title = "MONAI / Medical Segmentation Decathlon datalist"
    loading = (
        "`dataset.json` is a Decathlon-style datalist: `training` and `test` lists of "
        '`{"image": ..., "label": ..., provenance...}` with paths relative to this folder '
        "(`imagesTr/`, `labelsTr/`; test-role pairs in `imagesTs/`, `labelsTs/`; labels 0/1). "
        'Load it with `monai.data.load_decathlon_datalist("OUT/dataset.json", True, "training")`.'
    )

    def paths(self, item: Item) -> tuple[str, str]:
        return _decathlon_paths(item)

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        def entry(item: Item) -> dict:
            rest = {k: v for k, v in item.row.items() if k not in ("image", "mask")}
            return {"image": item.row["image"], "label": item.row["mask"], **rest}

        train = [entry(i) for i in items if i.split == "train"]
        test = [entry(i) for i in items if i.split == "test"]
        return self._write_json(
            "dataset.json",
            {
                "name": info.name,
                "description": info.description,
                "licence": info.licence,
                "release": info.version,
                "reference": "README.md and provenance.csv in this folder",
                "tensorImageSize": "2D",
                "modality": {"0": "RGB"},
                "labels": {"0": "background", "1": LABEL},
                "numTraining": len(train),
                "numTest": len(test),
                "training": train,
                "test": test,
            },
        )
