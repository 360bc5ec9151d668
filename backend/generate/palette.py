"""The training set's colours at a model's resolution: what the colour gate
(:func:`backend.gates.off_colour`) takes as in distribution. One function, so that a run's
draws and redraws, a shard's bundle, styling and ``diffgen gates`` judge by the same palette."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from backend import gates
from backend.errors import DiffGenError
from backend.generate.pixels import to_model_resolution
from backend.workspace import TRAIN, Workspace

# (workspace, resolution, training set) -> palette. A run, a style job and a rescoring each score
# many samples against one palette; keyed by the images' hashes, so that moving an image between
# roles or importing more gives a new one. A palette is COLOURS booleans: kept for the process.
_PALETTES: dict[tuple[str, int, str], np.ndarray] = {}


def training_colours(ws: Workspace, size: int) -> np.ndarray:
    """:func:`backend.gates.colour_palette` of the train-role images (never the test role)
    resized to ``size`` as a source is (:func:`to_model_resolution`), so that a sample is
    compared with colours at the scale the model learned them. An image that cannot be read
    adds no colours (a run that uses it as a source says why)."""
    rows = ws.query("SELECT id, sha256 FROM images WHERE role = ? ORDER BY id", (TRAIN,))
    key = (str(ws.root), size, hashlib.sha256("|".join(sha for _, sha in rows).encode()).hexdigest())
    if key not in _PALETTES:
        images = (_at_size(ws, image_id, size) for image_id, _ in rows)
        _PALETTES[key] = gates.colour_palette(img for img in images if img is not None)
    return _PALETTES[key]


def _at_size(ws: Workspace, image_id: int, size: int) -> np.ndarray | None:
    try:
        image = ws.read_image(image_id)
    except (DiffGenError, OSError, ValueError, cv2.error):
        return None
    return to_model_resolution(image, np.zeros(image.shape[:2], np.uint8), size)[0]
