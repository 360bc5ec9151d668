"""What the large view draws over a picture: its own mask as an overlay (image / overlay / mask,
as napari and Grand Challenge flip them) and, on demand, the source's and the sample's mask
outlines in two colours. Qt-free numpy so that every pixel can be checked in a test.

The two outlines never hide each other: the source's is drawn just outside its mask, the
sample's just inside its own, so identical masks show as two adjacent lines, one of each colour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from diffgen_gui.render import MASK_COLOUR

MODES = ("image", "overlay", "mask")  # the order the flip key steps through
MODE_LABELS = {"image": "Image", "overlay": "Overlay", "mask": "Mask"}
SOURCE_OUTLINE = (0, 170, 255)  # sky blue and orange: told apart with any colour vision
SAMPLE_OUTLINE = (255, 140, 0)
WANTED_DASH = 4  # dash length of a wanted mask's outline, in outline widths (black and white)
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)  # 4-neighbours: a one-pixel line


@dataclass(frozen=True)
class OverlayStyle:
    """How the pictures are shown: the mask mode, the fill's opacity and whether to outline."""

    mode: str = "overlay"
    opacity: float = 0.4
    outlines: bool = False

    def flipped(self) -> OverlayStyle:
        """The next mode: image, overlay, mask, image..."""
        return replace(self, mode=MODES[(MODES.index(self.mode) + 1) % len(MODES)])

    def with_opacity(self, opacity: float) -> OverlayStyle:
        return replace(self, opacity=min(max(float(opacity), 0.0), 1.0))

    def with_outlines(self, on: bool) -> OverlayStyle:
        return replace(self, outlines=bool(on))


def fit_to_frame(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` and ``mask`` shown over a (width, height) frame: samples are made at the model's
    resolution, the source at its own; one frame lets one zoom show the same field in both.
    Nearest neighbour, so that no pixel is invented."""
    if rgb.shape[:2] == size[::-1]:
        return rgb, mask
    return (
        cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST),
        cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST),
    )


def composite(rgb: np.ndarray, mask: np.ndarray, opacity: float, colour: tuple[int, int, int] = MASK_COLOUR) -> np.ndarray:
    """(1 - opacity) * image + opacity * colour inside the mask, the image elsewhere (uint8 RGB)."""
    out = rgb.copy()
    inside = mask > 0
    mixed = (1.0 - opacity) * rgb[inside].astype(np.float32) + opacity * np.asarray(colour, np.float32)
    out[inside] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


def line_width(scale: float) -> int:
    """Outline width in image pixels that shows as about two screen pixels at ``scale`` (screen
    pixels per image pixel): a one-pixel line vanishes when a large image is shown smaller."""
    return max(1, round(2 / scale))


def inner_edge(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The mask's pixels within ``width`` 4-neighbour steps of its outside (the image border
    counts as outside)."""
    m = (mask > 0).astype(np.uint8)
    eroded = cv2.erode(m, CROSS, iterations=width, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (m > 0) & (eroded == 0)


def outer_edge(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The pixels outside the mask within ``width`` 4-neighbour steps of it."""
    m = (mask > 0).astype(np.uint8)
    return (cv2.dilate(m, CROSS, iterations=width, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0) & (m == 0)


def render(
    rgb: np.ndarray,
    own_mask: np.ndarray | None,
    style: OverlayStyle,
    source_mask: np.ndarray | None,
    sample_mask: np.ndarray | None,
    width: int = 1,
    wanted: np.ndarray | None = None,
) -> np.ndarray:
    """One pane of the large view: the picture in ``style.mode`` with its own mask, then (when
    ``style.outlines``) the source mask's outline outside it and the sample mask's inside it,
    ``width`` pixels wide; a mask-guided sample's ``wanted`` mask is outlined in every mode (what
    was asked for, beside what was made), dashed black and white just outside it."""
    if style.mode == "mask":
        shown = (
            np.zeros_like(rgb)
            if own_mask is None
            else np.repeat(np.where(own_mask > 0, 255, 0).astype(np.uint8)[..., None], 3, 2)
        )
    elif style.mode == "overlay" and own_mask is not None:
        shown = composite(rgb, own_mask, style.opacity)
    else:
        shown = rgb.copy()
    if style.outlines:
        if source_mask is not None:
            shown[outer_edge(source_mask, width)] = SOURCE_OUTLINE
        if sample_mask is not None:
            shown[inner_edge(sample_mask, width)] = SAMPLE_OUTLINE
    if wanted is not None:
        edge = outer_edge(wanted, width)
        yy, xx = np.nonzero(edge)
        white = ((xx + yy) // (WANTED_DASH * width)) % 2 == 0
        shown[yy, xx] = np.where(white[:, None], 255, 0).astype(np.uint8)
    return shown
