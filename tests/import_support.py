"""Small image/mask files and a folder fingerprint, shared by the import tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 48, 64  # not square, so a transposed array cannot pass for the right one


def _rgb(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 3 + seed * 17, y * 4 + 40, (x + y) * 2], -1) % 256
    return np.clip(base + rng.integers(-20, 20, (H, W, 3)), 0, 255).astype(np.uint8)


def _mask(seed: int, shape=(H, W)) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    cx, cy = w * (0.3 + 0.05 * (seed % 5)), h * 0.5
    return np.where((x - cx) ** 2 + (y - cy) ** 2 < (min(h, w) * 0.3) ** 2, 255, 0).astype(np.uint8)


def _save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file below root: what 'never written to' is checked against."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
