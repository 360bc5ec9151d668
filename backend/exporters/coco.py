"""COCO instance segmentation: ``images/NAME.png`` and one ``annotations.json`` per split.

Each connected polyp region (8-connected) is one annotation whose ``segmentation`` is
compressed RLE exactly as pycocotools writes it (column-major run lengths, then COCO's
6-bits-per-character string), so pycocotools, detectron2 and mmdetection read it without
this package. ``iscrowd`` is 0: an RLE object, not a crowd region that evaluation ignores.
A pair without polyp pixels is an image with no annotation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from backend.exporters import LABEL, DatasetInfo, Item
from backend.io.files import atomic_write_bytes, atomic_write_text, encode_png

CATEGORY = {"id": 1, "name": LABEL, "supercategory": "lesion"}


def rle_counts(mask: np.ndarray) -> list[int]:
    """Run lengths of a binary mask in column-major order, starting with a run of zeros."""
    flat = (np.asarray(mask) > 0).ravel(order="F").astype(np.int8)
    if flat.size == 0:
        return []
    starts = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], starts, [flat.size]])).tolist()
    return [0] + counts if flat[0] else counts


def rle_string(counts: list[int]) -> str:
    """COCO's compressed counts: each count (minus the one two before it, from the fourth on)
    as little-endian 5-bit groups with a continuation bit, offset by 48 into printable ASCII."""
    out = []
    for i, value in enumerate(counts):
        x = value - counts[i - 2] if i > 2 else value
        while True:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: the sign is carried, as in pycocotools' rleToString
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
            if not more:
                break
    return "".join(out)


def regions(mask: np.ndarray) -> list[tuple[np.ndarray, list[int], int]]:
    """(binary region, [x, y, width, height], area) of each 8-connected polyp region."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    return [(labels == k, [int(v) for v in stats[k, :4]], int(stats[k, cv2.CC_STAT_AREA])) for k in range(1, n)]


class CocoWriter:
    title = "COCO instance segmentation (RLE masks)"
    loading = (
        "`images/NAME.png` and `annotations.json` (test-role pairs: `annotations_test.json`), "
        "category 1 = polyp, one annotation per connected region with a compressed-RLE "
        '`segmentation`. `pycocotools.coco.COCO("OUT/annotations.json")` reads it; '
        "`coco.annToMask(ann)` gives each region's mask. Each image entry carries its provenance "
        "under `diffgen`."
    )

    def __init__(self, folder: Path):
        self.folder = folder
        self.entries: dict[str, tuple[list[dict], list[dict]]] = {}

    def add(self, item: Item, image: np.ndarray, mask: np.ndarray) -> tuple[str, str]:
        rel = f"images/{item.name}.png"
        atomic_write_bytes(self.folder / rel, encode_png(image))
        images, anns = self.entries.setdefault(item.split, ([], []))
        image_id = len(images) + 1
        height, width = mask.shape[:2]
        images.append(
            {
                "id": image_id,
                "file_name": rel,
                "width": width,
                "height": height,
                "license": 1,
                "diffgen": {k: v for k, v in item.row.items() if k not in ("image", "mask")},
            }
        )
        for region, bbox, area in regions(mask):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": CATEGORY["id"],
                    "segmentation": {"size": [height, width], "counts": rle_string(rle_counts(region))},
                    "area": area,
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
        return rel, f"annotations{'_test' if item.split == 'test' else ''}.json#image_id={image_id}"

    def finish(self, items: list[Item], info: DatasetInfo) -> list[str]:
        names = []
        for split, (images, anns) in sorted(self.entries.items()):
            name = "annotations_test.json" if split == "test" else "annotations.json"
            atomic_write_text(
                self.folder / name,
                json.dumps(
                    {
                        "info": {
                            "description": info.description,
                            "version": info.version,
                            "year": datetime.now().year,
                            "contributor": "DiffGen Studio",
                            "date_created": datetime.now(UTC).isoformat(),
                        },
                        "licenses": [{"id": 1, "name": info.licence, "url": ""}],
                        "images": images,
                        "annotations": anns,
                        "categories": [CATEGORY],
                    },
                    default=str,
                ),
            )
            names.append(name)
        return names
