"""The editor's Place polyp tool, its back-end half: a drawn shape becomes a stored wanted mask
and the parameters of a ``synthesize`` job for that one image (the job the Generate form and
``diffgen synthesize --masks drawn`` queue too).

The request is checked before the file is written: a shape that is empty or leaves the frame, an
image the generator may not use (held out for testing) is refused with a message, and no wanted
mask is left behind for a job that was never queued."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backend.synthesis.drawn_shape import DrawnShape, placed_mask
from backend.synthesis.params import SynthesizeParams
from backend.synthesis.wanted import save_drawn
from backend.workspace.selection import ImageSelection

if TYPE_CHECKING:
    from backend.workspace import Workspace

MAX_PLACED_SAMPLES = 100  # one click in the editor; larger runs go through the Generate form


@dataclass(frozen=True)
class PlaceRequest:
    """What the tool queues: the job's parameters and the wanted mask file it stored."""

    params: SynthesizeParams
    wanted: Path


def place_request(ws: Workspace, image_id: int, shape: DrawnShape | None, samples: int) -> PlaceRequest:
    """Check the shape and the job, then store the shape's mask as a drawn wanted mask of
    ``image_id`` (never in its mask history); raises a ``DiffGenError`` with the message to show."""
    rec = ws.image(image_id)
    size = (rec.width, rec.height)
    mask = placed_mask(shape, size)
    selection = ImageSelection(images=(int(image_id),))
    selection.require(ws, "Place polyp", allow_background=True)
    wanted = save_drawn(ws, image_id, mask, size)  # checked (empty, size, field of view) before it is written
    params = SynthesizeParams(  # this shape only: an earlier shape of the image is not drawn again
        selection=selection, masks=(str(wanted),), samples=min(max(int(samples), 1), MAX_PLACED_SAMPLES)
    )
    return PlaceRequest(params, wanted)
