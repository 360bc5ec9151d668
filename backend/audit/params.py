"""The memorisation audit's settings and the parameters of its job (light: queueing an audit
loads no image library; the stage is :func:`backend.audit.job.run_audit`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backend.config.fields import param
from backend.errors import BadInputError
from backend.jobs.params import JobParams, absolute


@dataclass(frozen=True)
class AuditConfig:
    """The audit's settings; ``side``, ``k`` and ``grow`` define the distances (and the fingerprint)."""

    side: int = 32  # frames are compared downsampled to side x side RGB
    k: int = 5  # calibration: the mean distance to the k next nearest training images
    percentile: float = 1.0  # memorised: below this percentile of the real images' scores
    grow: int = 1  # px at `side` a real image's mask grows by to make its calibration region
    shift: int = 1  # px at `side` a frame may be shifted each way and still match (2 px of a 64 px image)

    def __post_init__(self) -> None:
        for name, value, lo, hi in (
            ("side", self.side, 8, 256),
            ("k", self.k, 1, 100),
            ("grow", self.grow, 0, 16),
            ("shift", self.shift, 0, 4),
        ):
            if not lo <= value <= hi:
                raise BadInputError(f"audit {name} must be between {lo} and {hi}, not {value}")
        if not 0 < self.percentile < 50:
            raise BadInputError(f"audit percentile must be above 0 and below 50, not {self.percentile}")

    @property
    def frame_method(self) -> str:
        return f"pixel{self.side}-frame"

    @property
    def region_method(self) -> str:
        return f"pixel{self.side}-region"

    def settings(self) -> str:
        return f"side={self.side};k={self.k};grow={self.grow};shift={self.shift};flips=h,v"


@dataclass(frozen=True)
class AuditParams(JobParams):
    """``diffgen audit``'s flags, as declared here. None: :class:`AuditConfig`'s value, which
    checks the ranges (:meth:`validate`, so that a queued audit is refused before it waits)."""

    set_name: str | None = param(
        None, label="Set", help="audit the samples of this set only (default: all)", flag=("--set",), cli={"metavar": "NAME"}
    )
    percentile: float | None = param(None, help="memorised below this percentile of real images' scores (default 1)")
    side: int | None = param(None, help="frames are compared downsampled to SIDE x SIDE (default 32)")
    k: int | None = param(None, help="score: nearest distance over the mean of the next K (default 5)")
    fid_inception: str | None = param(
        None,
        help="also compare FID Inception features (pytorch-fid's state dict or its folder; default: the configured one, if any)",
        cli={"metavar": "PTH"},
    )
    pixels_only: bool = param(
        False, help="compare pixels only, even where FID Inception weights are configured (e.g. random stand-ins)"
    )
    device: str | None = param(None, help="device of the feature network (cuda / cpu; default: cuda when present)")

    def config(self) -> AuditConfig:
        given: dict[str, Any] = {"percentile": self.percentile, "side": self.side, "k": self.k}
        return replace(AuditConfig(), **{k: v for k, v in given.items() if v is not None})

    def validate(self) -> None:
        self.config()
        if self.pixels_only and self.fid_inception:
            raise BadInputError("--pixels-only and --fid-inception: choose one (the embedding check needs the weights)")

    def queued(self, ws: Any) -> AuditParams:
        """The weights path made absolute: the job's row names it, whatever folder the app ran in."""
        if self.fid_inception is None:
            return self
        return replace(self, fid_inception=absolute(self.fid_inception))
