"""Robust reading of images and masks into plain arrays.

Everything downstream sees 8-bit RGB images (HxWx3) and binary masks (HxW, 0/255).
Odd but usable inputs are converted here and the conversion is reported as a note;
unusable ones raise :class:`BadInputError` with a message that names the file.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import BadInputError
from backend.io.limits import DEFAULT_MAX_PIXELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MASK_THRESHOLD = 128  # JPEG masks are noisy: binarise at mid-grey
LABEL_MAX = 8  # a mask whose largest value is this small is a label map (0 = background)
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
SOURCE_RAWMODE = "diffgen_rawmode"  # key in Image.info: how the file stored its pixels
_BAND_ROWS = 256  # rows copied at a time from Pillow to numpy
_PILLOW_LIMIT = threading.Lock()


def _lift_pillow_limit(max_pixels: int) -> None:
    """Let Pillow open what our own header check (:func:`_check_pixels`) allows.

    Pillow refuses files over twice ``Image.MAX_IMAGE_PIXELS`` by itself; the limit the user
    chose is the policy, so Pillow's guard is raised to it when lower (never lowered).
    """
    with _PILLOW_LIMIT:
        if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < max_pixels:
            Image.MAX_IMAGE_PIXELS = (max_pixels + 1) // 2


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an image above the pixel limit from its header, before anything is decoded."""
    w, h = size
    if w * h > max_pixels:
        raise BadInputError(
            f"{path.name}: image is {w}x{h} = {w * h:,} pixels (file {path.stat().st_size / 1e3:,.0f} KB), "
            f"above the limit of {max_pixels:,} pixels: not decoded; raise the limit "
            f"(max_pixels, --max-pixels) if the image is meant"
        )


def _open(path: Path, notes: list[str], max_pixels: int) -> Image.Image:
    if not path.exists():
        raise BadInputError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path.name}: empty file (0 bytes)")
    im = None
    try:
        _lift_pillow_limit(max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)  # reads the header only
            _check_pixels(path, im.size, max_pixels)
            # Pillow decodes 16-bit RGB(A) straight to 8 bit; remember it so it can be noted.
            rawmode = str(im.tile[0].args[0] if isinstance(im.tile[0].args, tuple) else im.tile[0].args) if im.tile else ""
            frames = getattr(im, "n_frames", 1)
            im.load()  # forces decoding now, so truncated files fail here
    except BadInputError:
        _close(im)
        raise
    except UnidentifiedImageError:
        raise BadInputError(f"{path.name}: not an image file (unrecognised format)") from None
    except Image.DecompressionBombError as e:
        raise BadInputError(f"{path.name}: image too large ({e})") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure means this one file is unusable
        _close(im)
        raise BadInputError(f"{path.name}: corrupt or truncated image ({e})") from None
    if frames > 1:
        notes.append(f"{frames} frames (multi-page or animated file): only the first frame is used")
    im.info[SOURCE_RAWMODE] = rawmode
    return im


def _close(im: Image.Image | None) -> None:
    if im is not None:
        im.close()


@contextmanager
def _opened(path: str | Path, notes: list[str], max_pixels: int) -> Iterator[Image.Image]:
    """The decoded file, closed afterwards (a multi-page TIFF keeps its file open until then)."""
    im = _open(Path(path), notes, max_pixels)
    try:
        yield im
    finally:
        im.close()


def _to_array(im: Image.Image) -> np.ndarray:
    """Pixels as a writable numpy array, copied in bands of rows.

    ``np.asarray(im)`` goes through ``tobytes``, which briefly holds three full copies of the
    pixels; bands keep the peak at Pillow's buffer plus the array.
    """
    w, h = im.size
    first = np.asarray(im.crop((0, 0, w, min(_BAND_ROWS, h))))
    out = np.empty((h,) + first.shape[1:], first.dtype)
    out[: first.shape[0]] = first
    for y in range(_BAND_ROWS, h, _BAND_ROWS):
        out[y : y + _BAND_ROWS] = np.asarray(im.crop((0, y, w, min(y + _BAND_ROWS, h))))
    return out


def _scale_to_8bit(a: np.ndarray, hi: float) -> np.ndarray:
    """Values 0..hi mapped to 0..255, rounded."""
    if a.dtype == np.uint16:  # integer arithmetic: 4 bytes a pixel instead of float64's 8
        x = a.astype(np.uint32)
        x *= 255
        x += 32767
        x //= 65535
        return x.astype(np.uint8)
    return np.clip(a.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _high_bit_max(im: Image.Image, a: np.ndarray) -> float:
    """The value that stands for white in a high-bit-depth single-channel image."""
    return 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0


def _to_8bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """High-bit-depth single-channel modes scaled to 8 bit by their value range."""
    if im.mode in HIGH_BIT_MODES:
        a = _to_array(im)
        notes.append(f"{im.mode} (high bit depth) scaled to 8 bit")
        return Image.fromarray(_scale_to_8bit(a, _high_bit_max(im, a)), "L")
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


def _on_black(im: Image.Image) -> Image.Image:
    """An image with alpha composited on opaque black, as RGB."""
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = Image.new("RGB", rgba.size, (0, 0, 0))
    out.paste(rgba, mask=rgba.getchannel("A"))  # in place: no extra RGBA copies
    return out


def load_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """8-bit RGB array of an image file and the list of conversions applied.

    EXIF orientation is applied (phones and some scopes store rotated JPEGs), alpha is
    composited on black, grey/palette/CMYK/16-bit become 8-bit RGB. A file above
    ``max_pixels`` is refused from its header.
    """
    path = Path(path)
    notes: list[str] = []
    with _opened(path, notes, max_pixels) as opened:
        im = _to_8bit(_upright(opened, notes, ""), notes)
        if im.mode == "RGB":
            pass
        elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            notes.append(f"{im.mode} with alpha composited on black")
            im = _on_black(im)
        else:
            notes.append(f"{im.mode} converted to RGB")
            im = im.convert("RGB")
        if im is not opened:
            opened.close()  # frees the decoded pixels before the converted ones are copied out
        arr = _to_array(im)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadInputError(f"{path.name}: unexpected image shape {arr.shape}")
    return arr, notes


def _mask_values(im: Image.Image) -> np.ndarray:
    """HxW array of a mask's own values: grey as stored (any bit depth), colour as its brightest channel."""
    if im.mode in HIGH_BIT_MODES or im.mode == "L":
        return _to_array(im)
    if im.mode == "1":
        return _to_array(im.convert("L"))
    bands = im.convert("RGB").split()
    out = _to_array(bands[0])
    for band in bands[1:]:
        np.maximum(out, _to_array(band), out=out)
    return out


def _binarise(a: np.ndarray, hi: float, notes: list[str]) -> np.ndarray:
    """0/255 uint8 mask of a value array whose white is ``hi``.

    A small maximum (a label map such as 0/1) means label > 0; anything else is thresholded
    at mid-grey, which keeps 0/255 masks exact and anti-aliased or JPEG-noisy ones sensible.
    """
    top = a.max() if a.size else 0
    if top <= LABEL_MAX and (a.dtype.kind in "iu" or np.array_equal(a, np.round(a))):
        if top > 0:
            notes.append(f"label mask (values 0..{top:g}): every pixel above 0 read as polyp")
        fg = a > 0
    else:
        if a.dtype != np.uint8:
            notes.append(f"high bit depth mask (white = {hi:g}) scaled to 8 bit")
        a8 = a if a.dtype == np.uint8 else _scale_to_8bit(a, hi)
        counts = cv2.calcHist([a8], [0], None, [256], [0, 256]).ravel()  # no full-size copy
        if counts[1:255].any():
            notes.append(f"mask not binary ({int(np.count_nonzero(counts))} grey levels): thresholded at {MASK_THRESHOLD}")
        if a8.max() < MASK_THRESHOLD:
            notes.append(f"mask values are at most {a8.max()} of 255, all below the threshold {MASK_THRESHOLD}: read as empty")
        fg = a8 >= MASK_THRESHOLD
    out = fg.view(np.uint8)  # bool -> 0/1 in place, then 0/255
    out *= 255
    return out


def load_mask(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """Binary mask (HxW uint8, 0/255) of a mask file and notes on what was done.

    Colour masks use their maximum channel. Label maps (largest value <= ``LABEL_MAX``, e.g.
    0/1) count every non-zero pixel; other masks are thresholded at ``MASK_THRESHOLD`` of 255.
    """
    notes: list[str] = []
    with _opened(path, notes, max_pixels) as opened:
        im = _upright(opened, notes, " to mask")
        values = _mask_values(im)
        hi = _high_bit_max(im, values) if im.mode in HIGH_BIT_MODES else 255.0
    return _binarise(values, hi, notes), notes


def read_png_fast(path: str | Path, grey: bool = False) -> np.ndarray:
    """Read a file the workspace wrote itself (already clean); RGB or grey uint8."""
    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    arr = cv2.imread(str(path), flag)
    if arr is None:
        raise BadInputError(f"cannot read {path}")
    return arr if grey else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
