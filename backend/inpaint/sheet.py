"""The inpainting contact sheet: what a reviewer looks at first after a run."""

from __future__ import annotations

import cv2
import numpy as np

from backend.errors import WorkspaceError
from backend.generate.pixels import to_model_resolution
from backend.inpaint.config import dilate_region
from backend.workspace import Workspace

HEADER_H, PAD = 22, 4


def _tile(arr: np.ndarray, size: int) -> np.ndarray:
    rgb = arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_NEAREST)


def outline(image: np.ndarray, region: np.ndarray, colour: tuple[int, int, int] = (255, 230, 0)) -> np.ndarray:
    """The image with the border of ``region`` drawn (yellow unless told)."""
    out = image.copy()
    contours, _ = cv2.findContours((region > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, colour, 1)
    return out


def sheet_block(columns: list[tuple[np.ndarray, np.ndarray]], labels: list[str], tile: int) -> np.ndarray:
    """One image's block of a contact sheet: a labelled row of column pairs (top over bottom),
    each picture scaled to ``tile`` px."""
    cols = [np.vstack([_tile(a, tile), np.full((PAD, tile, 3), 255, np.uint8), _tile(b, tile)]) for a, b in columns]
    sep = np.full((cols[0].shape[0], PAD, 3), 255, np.uint8)
    body = np.hstack([c for col in cols for c in (col, sep)][:-1])
    head = np.full((HEADER_H, body.shape[1], 3), 255, np.uint8)
    for j, text in enumerate(labels):
        cv2.putText(head, text[:24], (j * (tile + PAD) + 3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, body, np.full((2 * PAD, body.shape[1], 3), 255, np.uint8)])


def stack_blocks(blocks: list[np.ndarray]) -> np.ndarray:
    """The blocks one under another, padded white to the widest."""
    width = max(b.shape[1] for b in blocks)
    return np.vstack([np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks])


def write_contact_sheet(ws: Workspace, items: list[tuple[int, list[int]]], tile: int = 160) -> str:
    """A PNG in ``reports/``: per image, a row of images (source | source with the dilated
    region outlined | samples) over a row of their masks (source mask | region | sample masks).
    Recorded as a ``report`` result; returns its workspace-relative path."""
    blocks = []
    for image_id, sample_ids in items:
        samples = [ws.sample(i) for i in sample_ids]
        p, mask_id = samples[0].params, samples[0].mask_version_id
        if mask_id is None:
            raise WorkspaceError(f"sample {samples[0].id} records no source mask: not an inpainting sample")
        image, mask = to_model_resolution(ws.read_image(image_id), ws.read_mask(mask_id), int(p["resolution"]))
        region = dilate_region(mask, int(p["dilation"]), p.get("dilation_shape", "disk"))
        pairs = [(image, mask), (outline(image, region), region)] + [ws.read_sample(s) for s in samples]
        reach = (
            f"{p['dilation']}x{p['dilation']} ellipse" if p.get("dilation_shape") == "ellipse_kernel" else f"+{p['dilation']} px"
        )
        labels = [f"source {ws.image(image_id).name}", f"region: {reach}"] + [
            f"sample {s.params['sample_index'] + 1} ({s.set_name})" for s in samples
        ]
        blocks.append(sheet_block(pairs, labels, tile))
    sheet = stack_blocks(blocks)
    first = min(i for ids in (v for _, v in items) for i in ids)
    rel = ws.write_png(f"reports/inpaint_sheet_{first:06d}_{len(items)}img.png", sheet)
    ws.add_result(
        "report", "inpaint_sheet", {"path": rel, "images": [i for i, _ in items], "samples": [s for _, v in items for s in v]}
    )
    return rel
