"""Editing one image's mask: the working copy, undo/redo by changed regions, save, recovery.

Undo steps keep only the box that changed, bit-packed, so hundreds of steps on a large
mask cost little memory; the oldest steps are dropped beyond a memory budget. Unsaved
edits are written to ``recovery/`` in the workspace (atomically) every few seconds and
offered back when the image is opened again after a crash.

Qt-free: whoever shows the mask passes plain callbacks (the desktop app wraps them in
signals, see ``diffgen_gui.edit_session``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.io.files import atomic_write_bytes, atomic_write_text, encode_png
from backend.io.images import read_png_fast
from backend.workspace import Workspace

MAX_STEPS = 200
MAX_UNDO_BYTES = 32 * 1024 * 1024
MAX_LABEL_PARTS = 6
Box = tuple[slice, slice]


@dataclass(frozen=True)
class Step:
    box: Box
    shape: tuple[int, int]
    before: np.ndarray  # packed bits
    after: np.ndarray
    kind: str  # brush, dilate, revert to v2, ...
    pixels: int | None  # changed pixels, for edits whose size is what matters (strokes, fills)
    detail: str = ""  # e.g. "by 20 px" for an operation

    @staticmethod
    def make(box: Box, before: np.ndarray, after: np.ndarray, kind: str, counted: bool, detail: str = "") -> "Step":
        pixels = int(np.count_nonzero((before > 0) != (after > 0))) if counted else None
        return Step(box, before.shape, np.packbits(before > 0), np.packbits(after > 0), kind, pixels, detail)

    @property
    def label(self) -> str:
        return f"{self.kind} {changed(self.pixels) if self.pixels is not None else self.detail}".strip()

    def patch(self, which: str) -> np.ndarray:
        bits = self.before if which == "before" else self.after
        n = self.shape[0] * self.shape[1]
        return np.unpackbits(bits, count=n).reshape(self.shape) * np.uint8(255)

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


def changed(pixels: int) -> str:
    """A count of changed pixels, said so: beside a brush radius or a dilation in px, a bare
    "9 px" read as a size (issue 35)."""
    return f"{pixels:,} px changed"


def summarise(steps: list[Step]) -> str:
    """What a run of steps did, for a version's label: consecutive counted steps of one kind
    are merged ("brush 3,702 px changed, dilate by 20 px")."""
    parts: list[tuple[str, int | None, str]] = []
    for s in steps:
        if parts and s.pixels is not None and parts[-1][0] == s.kind and parts[-1][1] is not None:
            parts[-1] = (s.kind, parts[-1][1] + s.pixels, "")
        else:
            parts.append((s.kind, s.pixels, s.detail))
    text = [f"{k} {changed(p) if p is not None else d}".strip() for k, p, d in parts]
    if len(text) > MAX_LABEL_PARTS:
        text = text[:MAX_LABEL_PARTS] + [f"+{len(text) - MAX_LABEL_PARTS} more"]
    return ", ".join(text)


def changed_box(a: np.ndarray, b: np.ndarray) -> Box | None:
    """Smallest box containing every pixel where ``a`` and ``b`` differ."""
    diff = a != b
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    if rows.size == 0:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def recovery_paths(ws: Workspace, image_id: int) -> tuple[Path, Path]:
    base = ws.path("recovery") / f"image-{image_id}"
    return base.with_suffix(".png"), base.with_suffix(".json")


def read_recovery(ws: Workspace, image_id: int) -> tuple[np.ndarray, dict] | None:
    png, meta = recovery_paths(ws, image_id)
    if not (png.exists() and meta.exists()):
        return None
    try:
        return read_png_fast(png, grey=True), json.loads(meta.read_text())
    except Exception:  # noqa: BLE001 - an unreadable recovery file is simply not offered
        return None


def images_with_recovery(ws: Workspace) -> list[int]:
    folder = ws.path("recovery")
    if not folder.is_dir():
        return []
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("image-*.json"))


def _nothing(*_args) -> None:
    pass


class EditSession:
    """The working mask of one image. ``mask`` is mutated in place (views share it).

    ``on_changed(box)`` is called after the pixels inside ``box`` (None: anywhere) changed;
    ``on_state()`` after dirty / undo / redo availability may have changed.
    """

    def __init__(
        self,
        ws: Workspace,
        image_id: int,
        on_changed: Callable[[Box | None], None] = _nothing,
        on_state: Callable[[], None] = _nothing,
    ):
        self.ws, self.image_id = ws, image_id
        self.on_changed, self.on_state = on_changed, on_state
        rec = ws.image(image_id)
        self.base_id = rec.current_mask_id
        if self.base_id is None:
            self.mask = np.zeros((rec.height, rec.width), np.uint8)
        else:
            self.mask = np.ascontiguousarray(ws.read_mask(self.base_id))
        self._steps: list[Step] = []
        self._index = 0  # steps[:index] are applied
        self._saved_index = 0
        self._autosaved_rev = 0
        self._rev = 0
        self._stroke_start: np.ndarray | None = None
        self._stroke_box: list[int] | None = None

    # -- state -------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._index != self._saved_index

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._steps)

    def history_labels(self) -> list[str]:
        return [s.label for s in self._steps[: self._index]]

    def last_step(self) -> Step | None:
        """The step an undo would take back."""
        return self._steps[self._index - 1] if self._index else None

    def unsaved_steps(self) -> list[Step]:
        """The applied steps since the last save (all of them when that state is gone)."""
        start = self._saved_index if 0 <= self._saved_index <= self._index else 0
        return self._steps[start : self._index]

    # -- editing -----------------------------------------------------------------------
    def begin_stroke(self) -> None:
        self._stroke_start = self.mask.copy()
        self._stroke_box = None

    def stroke_patch(self, box: Box, hit: np.ndarray, paint: bool) -> None:
        """Paint (or erase) the pixels ``hit`` inside ``box`` during a stroke."""
        self.mask[box][hit] = 255 if paint else 0
        y, x = box
        b = self._stroke_box
        self._stroke_box = (
            [y.start, y.stop, x.start, x.stop]
            if b is None
            else [min(b[0], y.start), max(b[1], y.stop), min(b[2], x.start), max(b[3], x.stop)]
        )
        self.on_changed(box)

    def end_stroke(self, kind: str) -> None:
        """End a stroke; it becomes one step labelled ``kind`` and the pixels it changed."""
        start, b = self._stroke_start, self._stroke_box
        self._stroke_start = self._stroke_box = None
        if start is None or b is None:
            return
        box = (slice(b[0], b[1]), slice(b[2], b[3]))
        if np.array_equal(start[box], self.mask[box]):
            return
        self._push(Step.make(box, start[box], self.mask[box], kind, counted=True))

    def apply(self, new_mask: np.ndarray, kind: str, detail: str = "", counted: bool = False) -> bool:
        """Replace the mask by ``new_mask`` as one undoable step; False if nothing changed.
        ``counted``: the label gives the changed pixels (fills, polygons), else ``detail``."""
        new_mask = np.where(new_mask > 0, 255, 0).astype(np.uint8)
        box = changed_box(self.mask, new_mask)
        if box is None:
            return False
        step = Step.make(box, self.mask[box], new_mask[box], kind, counted, detail)
        self.mask[box] = new_mask[box]
        self._push(step)
        self.on_changed(box)
        return True

    def _push(self, step: Step) -> None:
        del self._steps[self._index :]
        if self._saved_index > self._index:
            self._saved_index = -1  # the saved state is no longer reachable
        self._steps.append(step)
        self._index += 1
        total = sum(s.nbytes for s in self._steps)
        while len(self._steps) > 1 and (len(self._steps) > MAX_STEPS or total > MAX_UNDO_BYTES):
            total -= self._steps.pop(0).nbytes
            self._index -= 1
            self._saved_index -= 1
        self._rev += 1
        self.on_state()

    def undo(self) -> bool:
        if not self.can_undo():
            return False
        self._index -= 1
        step = self._steps[self._index]
        self.mask[step.box] = step.patch("before")
        self._rev += 1
        self.on_changed(step.box)
        self.on_state()
        return True

    def redo(self) -> bool:
        if not self.can_redo():
            return False
        step = self._steps[self._index]
        self.mask[step.box] = step.patch("after")
        self._index += 1
        self._rev += 1
        self.on_changed(step.box)
        self.on_state()
        return True

    # -- persistence -------------------------------------------------------------------
    def save(self) -> int:
        """Store the working mask as a new version (the old ones stay), labelled by what the
        edits since the last save did; returns its id."""
        label = summarise(self.unsaved_steps()) or "edit"
        mv = self.ws.add_mask_version(
            self.image_id, self.mask, "edit", {"label": label, "edits": self.history_labels()[-50:]}, parent_id=self.base_id
        )
        self.base_id = mv.id
        self._saved_index = self._index
        self.discard_recovery()
        self.on_state()
        return mv.id

    def revert_to(self, mask_id: int) -> None:
        """Make an existing version current again, as an undoable step: undo brings the
        previous pixels back (as unsaved edits of the selected version)."""
        mv = self.ws.mask_version(mask_id)
        pixels = self.ws.read_mask(mv)
        self.ws.set_current_mask(self.image_id, mask_id)
        self.base_id = mask_id
        self.apply(pixels, f"revert to v{mv.version}")
        self._saved_index = self._index  # the working mask now equals the selected version
        self.discard_recovery()
        self.on_state()

    def reload(self) -> None:
        """Load the image's current version, dropping edits and history."""
        rec = self.ws.image(self.image_id)
        self.base_id = rec.current_mask_id
        self.mask[...] = self.ws.read_mask(self.base_id) if self.base_id else 0
        self._steps.clear()
        self._index = self._saved_index = 0
        self._rev += 1
        self.discard_recovery()
        self.on_changed(None)
        self.on_state()

    def keep_recovered(self, recovered: np.ndarray, meta: dict) -> int:
        """Store a recovered edit as a new version on top of the current one (which stays in the
        history), marked with the version it was made on; returns its id. Used when the mask
        changed (a job, another window) after the edit began, so neither is lost."""
        base = meta.get("base_mask_id")
        params = {"recovered_from_id": base, "edits": list(meta.get("edits", []))[-50:]}
        if base is not None:
            params["recovered_from"] = self.ws.mask_version(base).version
        mv = self.ws.add_mask_version(
            self.image_id, recovered, "recovered", params, parent_id=self.ws.image(self.image_id).current_mask_id
        )
        self.reload()
        return mv.id

    def autosave(self) -> bool:
        """Write unsaved edits to the recovery file if they changed since the last write."""
        if not self.dirty:
            if self._autosaved_rev:
                self.discard_recovery()
            return False
        if self._rev == self._autosaved_rev:
            return False
        png, meta = recovery_paths(self.ws, self.image_id)
        atomic_write_bytes(png, encode_png(self.mask))
        atomic_write_text(
            meta,
            json.dumps(
                {"image_id": self.image_id, "base_mask_id": self.base_id, "saved_at": time.time(), "edits": self.history_labels()}
            ),
        )
        self._autosaved_rev = self._rev
        return True

    def discard_recovery(self) -> None:
        for p in recovery_paths(self.ws, self.image_id):
            p.unlink(missing_ok=True)
        self._autosaved_rev = 0
