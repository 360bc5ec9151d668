"""A workspace with planted copies for the audit tests: demo training and test images, and as
"samples" exact, perturbed and mirrored copies of training images and genuine real images that
the workspace has never seen."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from backend.data.demo import generate_item, write_demo_dataset
from backend.data.importer import import_dataset
from backend.workspace import TEST, Workspace

SIZE, TRAIN_N, TEST_N, FRESH_N, SEED = 64, 40, 20, 40, 7


def perturbed(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise, a 2 px shift and a JPEG round trip (quality 75), all three."""
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    shift = np.float32([[1, 0, 2], [0, 1, 2]])
    moved = cv2.warpAffine(noisy, shift, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REFLECT)
    ok, jpg = cv2.imencode(".jpg", moved, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    return cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED)


def planted_workspace(root: Path) -> tuple[Workspace, dict[str, list[int]]]:
    """The workspace and its samples' ids by set: Exact, Perturbed, Mirrored, Fresh-real."""
    ws = Workspace.create(root / "ws")
    import_dataset(ws, write_demo_dataset(root / "data", count=TRAIN_N + TEST_N, size=SIZE, seed=SEED))
    images = ws.images()
    ws.set_role([r.id for r in images[TRAIN_N:]], TEST, "audit test: held out")
    train = images[:TRAIN_N]
    rng = np.random.default_rng(0)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    made: dict[str, list[int]] = {}

    def add(set_name: str, rgb: np.ndarray) -> None:
        made.setdefault(set_name, []).append(ws.add_sample("external", set_name, rgb, mask).id)

    for i, rec in enumerate(train[:30]):
        rgb = ws.read_image(rec)
        if i < 10:
            add("Exact", rgb)
        elif i < 20:
            add("Perturbed", perturbed(rgb, rng))
        else:
            add("Mirrored", np.ascontiguousarray(rgb[:, ::-1] if i % 2 else rgb[::-1]))
    for j in range(FRESH_N):  # real images of the same kind the workspace has never held
        add("Fresh-real", generate_item(SEED, TRAIN_N + TEST_N + j, SIZE).image)
    return ws, made
