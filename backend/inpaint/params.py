"""The parameters of an inpainting job (the stage is :mod:`backend.inpaint.job`; this module is
light, so the queue can check a job without loading torch)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from backend.config.fields import param
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection

if TYPE_CHECKING:
    from backend.workspace import Workspace


@dataclass(frozen=True)
class InpaintParams(JobParams, ShardedParams):
    """None: the value of the preset's ``[inpaint]`` section (the model's own preset when
    ``preset`` is None), after ``overrides`` (``inpaint.field=value``). Each field's declaration
    (:func:`backend.config.fields.param`) gives its CLI flag and its row in the Generate form."""

    PRESET_SECTION: ClassVar[str] = "inpaint"  # the preset section whose values the None fields take

    selection: ImageSelection = shared.images()
    model: str = shared.model(
        "the image's cluster model (falls back to full), the full-set model, a model by name "
        "(diffgen info lists them), or a model folder"
    )
    preset: str | None = shared.preset("tiny | paper | diffuse-gen | a .toml file (default: the model's preset)")
    overrides: tuple[str, ...] = ()
    samples: int | None = shared.samples("samples per image (paper: 3)")
    dilate: int | None = shared.dilate("mask dilation radius at the model resolution (paper: 20)")
    sampler: str | None = shared.sampler()
    respacing: int | None = param(
        None,
        1,
        100_000,
        unit="steps",
        label="Respacing",
        help="reverse-process steps (paper: 200)",
        cli={"metavar": "T"},
        form=True,
    )
    jump_length: int | None = param(
        None,
        1,
        100_000,
        unit="steps",
        label="Jumps",
        help="RePaint jump length: steps gone back at each jump (paper: 10)",
        form="jumps",
    )
    jump_n_sample: int | None = param(
        None, 1, 1000, label="×", help="RePaint resampling count at each jump point (paper: 5)", form="jumps"
    )
    min_island: int | None = param(
        None, 0, 1 << 20, unit="px", help="drop generated mask blobs smaller than this", cli={"metavar": "PX"}
    )
    fill_holes: bool | None = param(help="keep holes in generated masks", flag=("--no-fill-holes",))
    retries: int | None = shared.retries(
        "redraw a sample that fails a quality gate of inpaint.retry_gates (default no_polyp) with a "
        "new seed, up to K times (paper: 0); every attempt is recorded in the sample's provenance"
    )
    batch: int | None = param(
        None, 1, 4096, help="samples per model call (halves itself on GPU OOM)", cli={"metavar": "B"}
    )  # rows per model call (InpaintConfig.batch_size)
    seed: int | None = shared.seed()  # None: a random one, recorded
    device: str | None = shared.device()
    weights: str | None = param(
        help="EMA or raw weights (default: the preset's inpaint.weights, paper ema, diffuse-gen raw; "
        "raw also suits runs too short for the average to settle)",
        choices=("ema", "raw"),
    )
    set_name: str | None = None  # default: Diff / Full-Diff / Custom-Diff by the model's target
    sheet: bool = param(
        False,
        help="do not write the contact sheet PNG into reports/ (a shard never writes one)",
        flag=("--no-sheet",),
        cli={"default": True},  # `diffgen inpaint` writes one unless told not to
    )  # also write a contact sheet into reports/ (not by a shard)
    shard: str | None = None  # "K/N": this share of the sorted images, into a bundle (backend.jobs.bundles)
    bundle: str | None = None  # the shard's bundle folder; None: WS/bundles/RUN-K-of-N
    pinned_models: tuple[str, ...] = ()  # NAME@step-N | NAME@job-N, fixed when queued (backend.diffusion.model_pin)

    def image_ids(self, ws: Workspace) -> list[int]:
        return self.selection.require(ws, "inpainting")

    def check(self, ws: Workspace) -> None:
        self.image_ids(ws)

    def queued(self, ws: Workspace) -> InpaintParams:
        """The run's seed and models fixed when it is queued: the job shows the models it will use
        and refuses others when it starts; a run the app stopped resumes with the same seed, so the
        images it finished are skipped."""
        from backend.diffusion.model_pin import pin_models  # the workspace's modules: not for `diffgen --help`

        pins = self.pinned_models or pin_models(ws, self.image_ids(ws), self.model)
        return replace(self, seed=secrets.randbits(31) if self.seed is None else self.seed, pinned_models=pins)
