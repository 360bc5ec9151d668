"""The parameters of a mask-guided synthesis job (light: the queue checks a job without torch).

A wanted mask says where the new polyps go. It comes from ``masks``: ``drawn`` (the masks drawn on
each image with the editor's Place polyp tool, :mod:`backend.synthesis.wanted`), ``bank`` (the
training images' masks transformed and placed, ``polyps`` of them per sample) or mask files (PNG
paths, one per image in the order of the images, or one for all)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from backend.config.fields import param
from backend.errors import BadInputError
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection, background_images

if TYPE_CHECKING:
    from backend.workspace import Workspace

MASK_SOURCES = ("drawn", "bank")  # or file paths
POLYPS = (1, 8)  # polyps per sample a bank draw may ask for


def polyps_span(text: str) -> tuple[int, int]:
    """``--polyps A-B`` or ``N`` -> (A, B), each within :data:`POLYPS` (argparse's type)."""
    import argparse

    low, _, high = text.partition("-")
    try:
        span = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--polyps: {text!r} is not A-B or N (e.g. 1-3)") from None
    if not POLYPS[0] <= span[0] <= span[1] <= POLYPS[1]:
        raise argparse.ArgumentTypeError(f"--polyps: {text!r} must be A-B with {POLYPS[0]} <= A <= B <= {POLYPS[1]}")
    return span


@dataclass(frozen=True)
class SynthesizeParams(JobParams, ShardedParams):
    """None: the value of the preset's ``[inpaint]`` section for the shared sampler settings.
    Each field's declaration (:func:`backend.config.fields.param`) gives its CLI flag and its
    row in the Generate form."""

    PRESET_SECTION: ClassVar[str] = "inpaint"  # the preset section whose values the None fields take

    selection: ImageSelection = shared.images()
    backgrounds: bool = param(
        False,
        label="Backgrounds",
        help="the background-role images (frames without polyps) instead of a selection",
        form=True,
    )
    masks: tuple[str, ...] = param(
        ("bank",),
        help="where the wanted masks come from: drawn (the Place polyp tool's), bank (the training masks placed) "
        "or PNG files (one per image, or one for all)",
        cli={"nargs": "+", "metavar": "drawn|bank|PNG"},
    )
    polyps: tuple[int, int] = param(
        (1, 1),
        *POLYPS,
        max_len=2,
        help="bank: polyps per sample, drawn from A to B (e.g. 1-3)",
        cli={"type": polyps_span, "metavar": "A-B", "action": "store", "default": (1, 1)},
    )
    beside_polyps: bool = param(
        False, label="Beside polyps", help="bank: a new polyp may overlap or touch an existing one", form=True
    )
    samples: int | None = shared.samples("samples per image (drawn, files: per wanted mask)")
    model: str = shared.model(
        "the image's cluster model (falls back to full), the full-set model, a model by name or a model folder"
    )
    preset: str | None = shared.preset("tiny | paper | diffuse-gen | a .toml file (default: the model's preset)")
    overrides: tuple[str, ...] = ()
    dilate: int | None = shared.dilate("pixels around the wanted mask whose image is generated")
    sampler: str | None = shared.sampler()
    synthesis_contrast: float | None = param(
        None,
        0.0,
        100.0,
        label="Mask contrast",
        help="how far each step's noise estimate is pushed away from the one told background under the new polyp "
        "(makes it stand out; 0: off, the sampler as inpainting runs it; default: the preset's "
        "inpaint.synthesis_contrast, 0.5)",
        flag=("--contrast",),
        cli={"metavar": "S"},
        form=True,
    )
    retries: int | None = shared.retries("redraw a sample that fails a retry gate with a new seed, up to K times")
    seed: int | None = shared.seed()
    device: str | None = shared.device()
    set_name: str | None = param(help="the samples' set (default: Mask-Diff)")
    shard: str | None = None
    bundle: str | None = None
    pinned_models: tuple[str, ...] = ()

    def image_ids(self, ws: Workspace) -> list[int]:
        """The chosen images (training or background ones by id), or every unflagged background image."""
        if self.backgrounds:
            if self.selection != ImageSelection():
                raise BadInputError("--backgrounds chooses the images itself: leave out --images, --cluster and --all")
            ids = [r.id for r in background_images(ws)]
            if not ids:
                raise BadInputError(
                    "no background images to synthesise onto: import frames without polyps with "
                    "'diffgen import DIR --role background'"
                )
            return ids
        return self.selection.require(ws, "synthesis", allow_background=True)

    def check(self, ws: Workspace) -> None:
        self.image_ids(ws)

    def queued(self, ws: Workspace) -> SynthesizeParams:
        """The run's seed fixed when it is queued (a stopped run resumes with the same seed)."""
        return replace(self, seed=secrets.randbits(31) if self.seed is None else self.seed)
