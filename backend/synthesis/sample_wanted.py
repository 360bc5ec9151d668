"""What Review shows of a mask-guided sample's request: the wanted mask it was made for (the
file its provenance names, ``params["wanted_mask"]``) and one line saying who placed it.

A sample's params arrive from the database (or a bundle): the path is resolved under the
workspace and refused otherwise, the file is read as a mask and brought to the frame it is shown
over; a problem is the line to show, never an exception in the view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from backend.errors import DiffGenError
from backend.io.images import read_png_fast
from backend.synthesis.wanted import WANTED_DIR

if TYPE_CHECKING:
    from backend.workspace import SampleRecord, Workspace

KEY = "wanted_mask"  # the generator records the wanted mask's workspace-relative PNG path here
HOW_KEY = "wanted_how"  # drawn | bank | file, where the generator records it
PLACED_BY = {
    "drawn": "placed by the user with Place polyp",
    "bank": "placed from the mask bank (a training mask, transformed)",
    "file": "given as a mask file",
}


@dataclass(frozen=True)
class SampleWanted:
    """``mask``: 0/255 at ``size`` (None when it could not be read); ``line``: what to say."""

    mask: np.ndarray | None
    line: str


def origin(params: dict, path: str) -> str:
    """drawn | bank | file: as recorded, else a file the editor stored (``wanted/image-N/drawn-*``) is drawn."""
    how = params.get(HOW_KEY)
    if how in PLACED_BY:
        return str(how)
    parts = Path(path).parts
    return "drawn" if len(parts) == 3 and parts[0] == WANTED_DIR and parts[2].startswith("drawn-") else ""


def sample_wanted(ws: Workspace, sample: SampleRecord, size: tuple[int, int]) -> SampleWanted | None:
    """The wanted mask of ``sample`` over a frame of ``size`` (width, height); None for a
    sample made without one (paper inpainting, style transfer)."""
    value = sample.params.get(KEY)
    if value is None:
        return None
    how = origin(sample.params, str(value))
    placed = f": {PLACED_BY[how]}" if how else ""
    try:
        mask = read_png_fast(ws.stored(value, "samples", sample.id, f"params.{KEY}"), grey=True)
    except DiffGenError as e:
        return SampleWanted(None, f"Wanted mask not shown ({e})")
    if mask.shape != (size[1], size[0]):
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return SampleWanted(np.where(mask > 127, 255, 0).astype(np.uint8), f"Wanted mask (dashed){placed}")
