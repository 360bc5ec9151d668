"""The parameters of the built-in "masks" job (the stage is :func:`backend.jobs.queue.run_masks`;
this module is light: the CLI reads its declarations to build flags without loading OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from backend.config.fields import REQUIRED, param
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams
from backend.workspace.selection import ImageSelection

if TYPE_CHECKING:
    from backend.workspace import Workspace

OPERATIONS = ("dilate", "erode", "fill_holes", "remove_islands", "smooth")  # backend.masks.ops.apply_operation's
OPERATION_VALUE = {"dilate": "pixels", "erode": "pixels", "remove_islands": "min_size", "smooth": "radius"}  # its one number


@dataclass(frozen=True)
class MaskParams(JobParams):
    """``operation`` (dilate, erode, fill_holes, remove_islands, smooth), its ``op_params``
    (e.g. ``{"pixels": 20}``) and the images (see :mod:`backend.workspace.selection`)."""

    operation: str = param(REQUIRED, label="Operation", help="the mask operation", choices=OPERATIONS, form="operation")
    op_params: dict[str, Any] = param(
        label="by",
        help="its value: pixels (dilate, erode), min_size (remove_islands) or radius (smooth)",
        unit="px",
        flag=(),  # a mapping: --param op_params={...}
        form="operation",
        widget="op_params",
        default_factory=dict,
    )
    selection: ImageSelection = shared.images()
    LEGACY_KEYS: ClassVar[frozenset[str]] = frozenset({"device"})  # early forms sent one with every job

    def image_ids(self, ws: Workspace) -> list[int]:
        # test images too: a test image's mask is what segmentation scores
        return self.selection.require(ws, f"a {self.operation} mask job", allow_test=True)

    def check(self, ws: Workspace) -> None:
        self.image_ids(ws)
