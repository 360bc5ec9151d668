"""Before/after contact sheet of styled samples: inpainted | styled | target, one row each,
with the mask outline drawn on the first two so the seam region is easy to find."""

from __future__ import annotations

import time

import cv2
import numpy as np

from backend.errors import DiffGenError
from backend.reports import tiles
from backend.workspace import SampleRecord, Workspace

HEADER = 22
COLUMNS = ("inpainted", "styled", "target")


def _target(ws: Workspace, styled: SampleRecord) -> np.ndarray:
    target = styled.params.get("target", "")
    if target.startswith("original:"):
        return ws.read_image(int(target.split(":", 1)[1]))
    from backend.io.images import load_rgb

    return load_rgb(target)[0]


def style_sheet(ws: Workspace, sample_ids: list[int] | None = None, limit: int = 8, tile: int = 160) -> str:
    """Write ``reports/style_sheet-<time>.png`` for the given styled samples (default: the
    latest ``limit``), record it in ``results`` and return its workspace-relative path."""
    styled = [ws.sample(i) for i in sample_ids] if sample_ids else ws.samples(kind="styled")[-limit:]
    pairs = [(s, s.parent_sample_id) for s in styled if s.kind == "styled" and s.parent_sample_id is not None]
    if not pairs:
        raise DiffGenError("no styled samples to show: run 'diffgen style' first")
    rows = []
    for s, parent_id in pairs:
        parent_img, parent_mask = ws.read_sample(parent_id)
        img, mask = ws.read_sample(s)
        rows.append(
            np.concatenate(
                [tiles.tile(parent_img, tile, parent_mask), tiles.tile(img, tile, mask), tiles.tile(_target(ws, s), tile)], axis=1
            )
        )
    header = np.full((HEADER, tile * len(COLUMNS), 3), 255, np.uint8)
    for k, name in enumerate(COLUMNS):
        cv2.putText(header, name, (k * tile + 6, HEADER - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.concatenate([header, *rows], axis=0)
    rel = ws.write_png(f"reports/style_sheet-{time.strftime('%Y%m%d-%H%M%S')}.png", sheet)
    ws.add_result("style_sheet", rel, {"samples": [s.id for s, _ in pairs], "columns": list(COLUMNS)})
    return rel
