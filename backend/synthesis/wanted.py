"""Wanted masks: where a mask-guided sample's polyps must be.

A drawn wanted mask is stored as a PNG under ``WS/wanted/image-<id>/`` (never in the image's own
mask history: it is a request, not a label); a sample's provenance names the file it was made
from. Every mask that arrives (a drawn one, a file) is checked: binary, the image's size, not
empty, inside the endoscope's field of view."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.errors import BadInputError
from backend.io.files import write_png
from backend.synthesis.fov import check_in_view

if TYPE_CHECKING:
    from backend.workspace import Workspace

WANTED_DIR = "wanted"


@dataclass(frozen=True)
class WantedMask:
    """``mask`` (H,W) uint8 0/255 at the source image's resolution; ``how``: drawn | bank | file;
    ``detail``: what provenance records of how it was made (file, transforms, positions)."""

    mask: np.ndarray
    how: str
    detail: dict[str, Any] = field(default_factory=dict)


def drawn_folder(ws: Workspace, image_id: int) -> Path:
    return ws.path(f"{WANTED_DIR}/image-{int(image_id)}")


def check_wanted(mask: np.ndarray, size: tuple[int, int], what: str) -> np.ndarray:
    """``mask`` as 0/255 uint8 of ``size`` (width, height); refused with a message naming ``what``."""
    if mask.ndim != 2 or (mask.shape[1], mask.shape[0]) != tuple(size):
        raise BadInputError(f"{what}: the wanted mask is {mask.shape[1::-1]}, the image {tuple(size)}; draw it on this image")
    binary = np.where(mask > 127, 255, 0).astype(np.uint8)
    if not binary.any():
        raise BadInputError(f"{what}: the wanted mask is empty; draw where the polyp should be")
    return binary


def save_drawn(ws: Workspace, image_id: int, mask: np.ndarray, size: tuple[int, int]) -> Path:
    """Store a drawn wanted mask for ``image_id`` (a new file, never over another); one on the
    black border around the endoscope's view is refused (:func:`fov.check_in_view`)."""
    binary = check_wanted(mask, size, f"image {image_id}")
    check_in_view(binary, ws.read_image(image_id), f"image {image_id}")
    folder = drawn_folder(ws, image_id)
    folder.mkdir(parents=True, exist_ok=True)
    return write_png(folder / f"drawn-{secrets.token_hex(4)}.png", binary)


def store_wanted(ws: Workspace, image_id: int, mask: np.ndarray, how: str) -> Path:
    """Store a (checked, 0/255) wanted mask of ``how`` (bank, file) for ``image_id`` under a name
    of its content, so that a re-run names the same file (its samples then count as finished)."""
    folder = drawn_folder(ws, image_id)
    path = folder / f"{how}-{hashlib.sha256(mask.tobytes() + repr(mask.shape).encode()).hexdigest()[:16]}.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_png(path, mask)
    return path


def drawn_paths(ws: Workspace, image_id: int) -> list[Path]:
    folder = drawn_folder(ws, image_id)
    return sorted(folder.glob("drawn-*.png")) if folder.is_dir() else []
