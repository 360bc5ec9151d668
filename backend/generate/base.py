"""The two protocols of the generation layer: what a generator says (:class:`Generator`) and
what the driver reads of its job's parameters (:class:`GenerationParams`). A new generator is
a class of this shape, its parameters, and a job kind (see the README's Development section)."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from backend.gates import GateConfig, GateScore
from backend.generate.config import GenerationConfig
from backend.generate.draw import Source
from backend.jobs.shards import Shard
from backend.workspace import Workspace


class GenerationParams(Protocol):
    """What the driver reads of a generator's job parameters (InpaintParams, SynthesizeParams)."""

    @property
    def model(self) -> str: ...
    @property
    def preset(self) -> str | None: ...
    @property
    def overrides(self) -> tuple[str, ...]: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def device(self) -> str | None: ...
    @property
    def set_name(self) -> str | None: ...
    @property
    def bundle(self) -> str | None: ...
    @property
    def pinned_models(self) -> tuple[str, ...]: ...

    def shard_spec(self) -> Shard | None: ...

    def image_ids(self, ws: Workspace) -> list[int]: ...

    def to_dict(self) -> dict[str, Any]: ...


class Generator(Protocol):
    """What makes one generator differ from another: its sources (what is known where), its
    settings, its samples' kind and set name. Everything else is the driver's."""

    kind: ClassVar[str]  # the job kind: names runs and bundles ("inpaint")
    sample_kind: ClassVar[str]  # the stored samples' kind ("inpainted")

    def config(self, preset: str) -> GenerationConfig:
        """The run's settings under ``preset`` (its ``[inpaint]`` section with the job's values on top)."""
        ...

    def sources(self, ws: Workspace, image_id: int, size: int, cfg: GenerationConfig) -> list[Source]:
        """The image's sources at the model's resolution ``size``; a BadInputError skips the image."""
        ...

    def base_set_name(self, target: str | None) -> str:
        """The set name for samples of a model of ``target`` (cluster, full, imported)."""
        ...

    def more_gates(self, src: Source, image: np.ndarray, thresholds: GateConfig) -> list[GateScore]:
        """Gates of this generator's own beside the shared ones (``backend.gates.score``), scored
        on each sample's image as it is made (mask-guided synthesis: adherence)."""
        ...
