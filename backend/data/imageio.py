"""Robust reading of images and masks into plain arrays.

Everything downstream sees 8-bit RGB images (HxWx3) and binary masks (HxW, 0/255).
Odd but usable inputs are converted here and the conversion is reported as a note;
unusable ones raise :class:`BadInputError` with a message that names the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import BadInputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MASK_THRESHOLD = 128  # JPEG masks are noisy: binarise at mid-grey
SOURCE_RAWMODE = "diffgen_rawmode"  # key in Image.info: how the file stored its pixels


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise BadInputError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path.name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
            # Pillow decodes 16-bit RGB(A) straight to 8 bit; remember it so it can be noted.
            rawmode = str(im.tile[0].args[0] if isinstance(im.tile[0].args, tuple) else im.tile[0].args) \
                if im.tile else ""
            im.load()  # forces decoding now, so truncated files fail here
        im.info[SOURCE_RAWMODE] = rawmode
        return im
    except UnidentifiedImageError:
        raise BadInputError(f"{path.name}: not an image file (unrecognised format)") from None
    except Image.DecompressionBombError as e:
        raise BadInputError(f"{path.name}: image too large ({e})") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure means this one file is unusable
        raise BadInputError(f"{path.name}: corrupt or truncated image ({e})") from None


def _to_8bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """High-bit-depth single-channel modes scaled to 8 bit by their value range."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        notes.append(f"{im.mode} (high bit depth) scaled to 8 bit")
        return Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if ";16" in im.info.get(SOURCE_RAWMODE, ""):
        notes.append(f"16 bits per channel ({im.mode}) reduced to 8 bit")
    return im


def _upright(im: Image.Image, notes: list[str], what: str) -> Image.Image:
    """Apply the EXIF orientation (phones and some scopes store rotated JPEGs)."""
    orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    if orientation in (None, 1):
        return im
    notes.append(f"EXIF orientation {orientation} applied{what}")
    return ImageOps.exif_transpose(im)


def load_rgb(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """8-bit RGB array of an image file and the list of conversions applied.

    EXIF orientation is applied (phones and some scopes store rotated JPEGs), alpha is
    composited on black, grey/palette/CMYK/16-bit become 8-bit RGB.
    """
    path = Path(path)
    notes: list[str] = []
    im = _to_8bit(_upright(_open(path), notes, ""), notes)
    if im.mode == "RGB":
        pass
    elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        notes.append(f"{im.mode} with alpha composited on black")
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(bg, rgba).convert("RGB")
    else:
        notes.append(f"{im.mode} converted to RGB")
        im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadInputError(f"{path.name}: unexpected image shape {arr.shape}")
    return np.ascontiguousarray(arr), notes


def load_mask(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Binary mask (HxW uint8, 0/255) of a mask file and notes on what was done.

    Colour masks use their maximum channel; values >= 128 count as foreground.
    """
    path = Path(path)
    notes: list[str] = []
    im = _to_8bit(_upright(_open(path), notes, " to mask"), notes)
    if im.mode not in ("L", "1"):
        im = im.convert("RGB")
        arr = np.asarray(im, dtype=np.uint8).max(axis=2)
    else:
        arr = np.asarray(im.convert("L"), dtype=np.uint8)
    values = np.unique(arr)
    if not set(values.tolist()) <= {0, 255}:
        notes.append(f"mask not binary ({len(values)} grey levels): thresholded at {MASK_THRESHOLD}")
    return np.where(arr >= MASK_THRESHOLD, 255, 0).astype(np.uint8), notes


def read_png_fast(path: str | Path, grey: bool = False) -> np.ndarray:
    """Read a file the workspace wrote itself (already clean); RGB or grey uint8."""
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    arr = cv2.imread(str(path), flag)
    if arr is None:
        raise BadInputError(f"cannot read {path}")
    return arr if grey else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
