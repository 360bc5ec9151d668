"""What a bundle's row must be, in this workspace, before import stores any of it.

A row names the image, mask version, parent sample, model and checkpoint it was made from:
each must be this workspace's (the fingerprint the shard recorded, the source image's hash
or the parent's file, must match), the source image must be a training image (a sample of a
held-out test image would break the held-out guarantee), and the two PNGs must be what the
workspace writes itself: an 8-bit RGB image and a binary 8-bit grey mask of the model's
size. The size is read from the PNG header before anything is decoded, so a decompression
bomb (a small file that claims gigapixels) never allocates its pixels.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from backend.errors import BadInputError
from backend.jobs.sample_row import SAMPLE_KINDS, SampleRow
from backend.workspace import Workspace
from backend.workspace.roles import BACKGROUND, TRAIN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SAMPLE_PIXELS = 4096 * 4096  # a sample whose model's size cannot be read is at most this large
MAX_CONFIG_BYTES = 1 << 20  # a model folder's config.json
MODES = {"image": ("RGB", "8-bit RGB"), "mask": ("L", "8-bit greyscale")}


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header (its first chunk, IHDR), None if it is no PNG."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def png_chunk_problem(data: bytes) -> str | None:
    """What is wrong with the PNG's chunk structure (None: nothing): every chunk's CRC is
    right and IEND ends the file (a decoder may stop before a broken or trailing part)."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            break
        kind = data[pos + 4 : pos + 8]
        if zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return f"the CRC of its {kind.decode('latin-1')!r} chunk is wrong"
        if kind == b"IEND":
            return None if end == len(data) else f"{len(data) - end:,} bytes follow its end"
        pos = end
    return "it is truncated (no IEND chunk)"


def check_png(data: bytes, what: str, size: int | None, bad: Any) -> None:
    """``data`` is a sound PNG sample ``image`` or ``mask`` (see the module's docstring) of
    ``size`` squared (None: unknown, then at most ``MAX_SAMPLE_PIXELS``); ``bad(problem)``
    makes the error."""
    dims = png_size(data)
    if dims is None:
        raise bad("not a PNG file")
    w, h = dims
    if size is not None and (w, h) != (size, size):
        raise bad(f"the PNG is {w}x{h}; this sample's model makes {size}x{size} images (not decoded)")
    if w * h > MAX_SAMPLE_PIXELS or w * h == 0:
        raise bad(f"the PNG is {w}x{h} = {w * h:,} pixels; a sample has 1 to {MAX_SAMPLE_PIXELS:,} (not decoded)")
    problem = png_chunk_problem(data)
    if problem is not None:
        raise bad(f"corrupt PNG ({problem})")
    mode, words = MODES[what]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
                if im.mode != mode or im.size != (w, h):
                    raise bad(f"the PNG's mode is {im.mode}; a sample's {what} is {words}")
                im.load()
                histogram = im.histogram()
    except BadInputError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure means this file is unusable
        raise bad(f"corrupt PNG ({e})") from None
    if what == "mask" and any(histogram[1:255]):
        raise bad("a mask holds 0 and 255 only; this one has other values")


@dataclass
class RowChecker:
    """Checks rows against one workspace (what it looks up is cached: a bundle's rows share
    their models and images)."""

    ws: Workspace
    _sizes: dict[int, int | None] = field(default_factory=dict)
    _rows: dict[tuple[str, int], Any] = field(default_factory=dict)

    def _row(self, table: str, row_id: int | None) -> Any:
        """The row ``row_id`` of ``table`` (None: no id given; False: this workspace has none)."""
        if row_id is None:
            return None
        key = (table, row_id)
        if key not in self._rows:
            found = self.ws.query(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
            self._rows[key] = found[0] if found else False
        return self._rows[key]

    def model_size(self, model_id: int | None) -> int | None:
        """The image size in the model's config.json (None: no model, or it cannot be read)."""
        if model_id is None:
            return None
        if model_id not in self._sizes:
            model = self._row("models", model_id)
            try:
                path = self.ws.path(model["path"]) / "config.json"
                if path.stat().st_size > MAX_CONFIG_BYTES:
                    raise ValueError("too large")
                size = json.loads(path.read_text(encoding="utf-8"))["model"]["image_size"]
                self._sizes[model_id] = size if isinstance(size, int) and not isinstance(size, bool) else None
            except (OSError, ValueError, KeyError, TypeError):
                self._sizes[model_id] = None
        return self._sizes[model_id]

    def check(self, row: SampleRow, where: str) -> None:
        """Refuse ``row`` (a :class:`BadInputError` naming ``where`` and the field) unless what
        it names is this workspace's and its images are sound."""

        def bad(name: str, problem: str) -> BadInputError:
            return BadInputError(f"{where}, field {name!r}: {problem}")

        def found(table: str, name: str, what: str) -> Any:
            value = getattr(row, name)
            rec = self._row(table, value)
            if rec is False:
                raise bad(name, f"names {what} {value}, which this workspace does not have (a bundle of another workspace?)")
            return rec

        image = found("images", "source_image_id", "image")
        # a mask-guided sample may be made from a background image (a frame without polyps) too
        roles = (TRAIN, BACKGROUND) if row.kind == SAMPLE_KINDS.get("synthesize") else (TRAIN,)
        if image is not None and image["role"] not in roles:
            raise bad(
                "source_image_id",
                f"image {row.source_image_id} is a background image (no polyp): only mask-guided synthesis makes samples from it"
                if image["role"] == BACKGROUND
                else f"image {row.source_image_id} is a held-out {image['role']} image: samples made from it "
                "would break the held-out guarantee",
            )
        if image is not None and row.checks.get("source_sha256", image["sha256"]) != image["sha256"]:
            raise bad(
                "checks",
                f"image {row.source_image_id} is not the image the sample was made from (a bundle of another workspace?)",
            )
        mask = found("mask_versions", "mask_version_id", "mask version")
        if mask is not None and mask["image_id"] != row.source_image_id:
            raise bad("mask_version_id", f"mask version {row.mask_version_id} is not a mask of image {row.source_image_id}")
        parent = found("samples", "parent_sample_id", "sample")
        if parent is not None and row.checks.get("parent_image", parent["image_path"]) != parent["image_path"]:
            raise bad(
                "checks", f"sample {row.parent_sample_id} is not the sample it was styled from (a bundle of another workspace?)"
            )
        if parent is not None and parent["source_image_id"] != row.source_image_id:
            raise bad("source_image_id", f"{row.source_image_id} is not the source image of sample {row.parent_sample_id}")
        found("models", "model_id", "model")
        checkpoint = found("checkpoints", "checkpoint_id", "checkpoint")
        if checkpoint is not None and checkpoint["model_id"] != row.model_id:
            raise bad("checkpoint_id", f"checkpoint {row.checkpoint_id} is not one of model {row.model_id}")
        size = self.model_size(row.model_id)
        for what, data in (("image", row.image_png), ("mask", row.mask_png)):
            check_png(data, what, size, lambda problem, w=what: bad(w, problem))
        if png_size(row.image_png) != png_size(row.mask_png):
            raise bad("mask", "its size differs from the image's")
