"""Deterministic procedural demo dataset: endoscopy-like tissue with polyp-like blobs.

It lets every stage run out of the box (real data cannot be shipped). The look follows
the recipe in ``resources/demo_recipe.json``: several *styles* (tissue colour, folds,
lighting) so that clustering has something to find, 1-3 polyps per image (every image has one, as Kvasir-SEG), a dark lumen,
vignetting with the black corners of an endoscope, and specular highlights. Same seed,
same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from backend.config.fields import check_section, setting
from backend.config.paths import DEMO_COUNT, resource
from backend.io.files import atomic_write_bytes, encode_png, refuse_overwrite


@dataclass(frozen=True)
class DemoItem:
    image: np.ndarray  # HxWx3 uint8 RGB
    mask: np.ndarray  # HxW uint8 0/255
    style: str
    n_polyps: int


def load_recipe() -> dict:
    return json.loads(resource("demo_recipe.json").read_text())


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Band-limited noise in [-1, 1]: white noise blurred at ``scale`` pixels."""
    white = rng.standard_normal((size, size)).astype(np.float32)
    n = cv2.GaussianBlur(white, (0, 0), sigmaX=max(scale, 0.5), borderType=cv2.BORDER_REFLECT)
    return n / (np.abs(n).max() + 1e-6)


def _blob(rng: np.random.Generator, size: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Irregular round shape: a circle whose radius wobbles with a few harmonics."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    rad = np.full_like(ang, r)
    for k in range(2, 6):
        rad += r * rng.uniform(0, 0.12 / (k - 1)) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    ex = rng.uniform(0.75, 1.0)  # slight ellipticity
    d = np.hypot((xx - cx) / ex, yy - cy)
    return d / rad  # < 1 inside


def generate_item(seed: int, index: int, size: int = 256, recipe: dict | None = None) -> DemoItem:
    recipe = recipe or load_recipe()
    rng = np.random.default_rng([seed, index])
    style = recipe["styles"][int(rng.integers(len(recipe["styles"])))]
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s

    # Tissue: base colour modulated by multi-scale noise and folds around a dark lumen.
    base = np.asarray(style["tissue"], np.float32) / 255
    dark = np.asarray(style["tissue_dark"], np.float32) / 255
    lx, ly = rng.uniform(0.25, 0.75, 2)
    dist = np.hypot(xx - lx, yy - ly)
    warp = 0.04 * _smooth_noise(rng, s, s / 10)
    folds = 0.5 + 0.5 * np.sin((dist + warp) * rng.uniform(18, 30) * np.pi)
    folds = folds**3 * style["folds"]
    tex = 0.55 * _smooth_noise(rng, s, s / 40) + 0.45 * _smooth_noise(rng, s, s / 12)
    shade = np.clip(0.55 + 0.25 * tex - folds * 0.6, 0, 1)[..., None]
    img = dark + (base - dark) * shade * 1.6
    lumen = np.exp(-((dist / rng.uniform(0.08, 0.16)) ** 2))[..., None]
    img = img * (1 - 0.85 * lumen)
    # Fine vessels: thin dark lines from thresholded noise.
    v = _smooth_noise(rng, s, max(s / 64, 1.0))
    vessels = np.clip(1 - np.abs(v) * 12, 0, 1)[..., None] * 0.18
    img = img * (1 - vessels * np.array([0.2, 0.8, 0.8], np.float32))

    # Polyps: raised blobs, lit from the top-left, slightly different colour.
    mask = np.zeros((s, s), np.uint8)
    n_polyps = int(rng.choice(recipe["polyps_per_image"]))
    rmin, rmax = recipe["polyp_radius_fraction"]
    pc = np.asarray(style["polyp"], np.float32) / 255
    for _ in range(n_polyps):
        r = rng.uniform(rmin, rmax) * s
        cx, cy = rng.uniform(r * 0.6, s - r * 0.6, 2)
        d = _blob(rng, s, cx, cy, r)
        inside = d < 1
        height = np.clip(1 - d**2, 0, 1)
        gy, gx = np.gradient(height)
        light = np.clip(0.8 + 0.25 * height + (-gx - gy) * r * 0.2, 0.4, 1.3)
        ptex = 1 + 0.12 * _smooth_noise(rng, s, max(r / 6, 1.0))
        col = pc[None, None, :] * (light * ptex)[..., None]
        alpha = np.clip((1 - d) * r / 2.5, 0, 1)[..., None]  # soft edge over ~2.5 px
        img = img * (1 - alpha) + col * alpha
        rim = np.clip(1 - np.abs(d - 1) * r / 3, 0, 1)[..., None] * 0.25
        img = img * (1 - rim)
        mask[inside] = 255

    # Specular highlights: small bright spots, more on polyps.
    n_hi = int(rng.integers(*recipe["highlights"]))
    hi = np.zeros((s, s), np.float32)
    for _ in range(n_hi):
        if mask.any() and rng.random() < 0.5:
            ys, xs = np.nonzero(mask)
            j = int(rng.integers(len(ys)))
            cx, cy = xs[j], ys[j]
        else:
            cx, cy = rng.uniform(0, s, 2)
        ax = (max(1, int(rng.uniform(0.004, 0.015) * s)), max(1, int(rng.uniform(0.003, 0.01) * s)))
        cv2.ellipse(hi, (int(cx), int(cy)), ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    glow = cv2.GaussianBlur(hi, (0, 0), sigmaX=max(s / 300, 0.6))[..., None]
    img = img * (1 - glow) + glow

    # Lighting and endoscope vignetting (dark, slightly octagonal corners).
    vig = np.clip(1.25 - 1.6 * np.hypot(xx - 0.5, yy - 0.5) ** 2 * 2.2, 0, 1)[..., None]
    corner = (np.abs(xx - 0.5) + np.abs(yy - 0.5) < 0.92)[..., None]
    img = img * vig * style["light"] * corner
    img += rng.normal(0, 0.012, img.shape).astype(np.float32)  # sensor noise
    image = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    mask = np.where(corner[..., 0], mask, 0).astype(np.uint8)
    return DemoItem(image, mask, style["name"], n_polyps)


@dataclass(frozen=True)
class DemoDataSpec:
    """How many demo pairs of which side: the bounds of ``diffgen demo-data``'s arguments."""

    count: int = setting(DEMO_COUNT, 1, 100_000)
    size: int = setting(256, 32, 2048, unit="px")
    seed: int = setting(0, 0, 2**32 - 1)


def write_demo_dataset(
    out: str | Path,
    count: int = DEMO_COUNT,
    size: int = 256,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``count`` image/mask pairs in the Kvasir layout (``images/``, ``masks/``). A folder
    that already holds a dataset is refused unless ``overwrite``: procedural images written into
    a real dataset would later be imported as real ones."""
    check_section(DemoDataSpec, {"count": count, "size": size, "seed": seed}, "demo-data")
    out = Path(out)
    if not overwrite:
        refuse_overwrite([d for d in (out / "images", out / "masks") if d.is_dir() and any(d.iterdir())], f"demo data into {out}")
    recipe = load_recipe()
    for i in range(count):
        item = generate_item(seed, i, size, recipe)
        name = f"demo_{i:04d}"
        bgr = cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)
        ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise OSError("JPEG encoding failed")
        atomic_write_bytes(out / "images" / f"{name}.jpg", jpg.tobytes())
        atomic_write_bytes(out / "masks" / f"{name}.png", encode_png(item.mask))
        if progress:
            progress(i + 1, count, name)
    return out
