"""Observable application state: small QObject models the views listen to.

Views never talk to each other; they change the workspace through these models and
react to their signals (as napari's layers and labelme's canvas do).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from backend.workspace import Workspace


class WorkspaceState(QObject):
    """The open workspace and what changed in it."""

    imagesChanged = Signal()  # images added (import), flags or roles changed
    maskChanged = Signal(int)  # image id whose current mask changed
    samplesChanged = Signal()  # new samples (a job finished)
    reviewChanged = Signal(int, str)  # sample id, decision
    clustersChanged = Signal()
    modelsChanged = Signal()  # a model was trained
    currentImageChanged = Signal(int)
    selectionChanged = Signal(list)  # image ids selected in the dataset grid
    jobRequested = Signal(str)  # "show the Generate form for this job kind" (welcome buttons)

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.current_image_id: int | None = None
        self.selected_ids: list[int] = []

    @Slot(list)
    def workspace_changed(self, changes: list) -> None:
        """A job ended that changed these parts of the workspace (``backend.jobs.queue.CHANGES``)."""
        signals = {
            "images": self.imagesChanged,
            "samples": self.samplesChanged,
            "clusters": self.clustersChanged,
            "models": self.modelsChanged,
        }
        for what in changes:
            if what == "masks":
                self.maskChanged.emit(-1)
            else:
                signals[what].emit()

    def set_selection(self, ids: list[int]) -> None:
        if ids != self.selected_ids:
            self.selected_ids = list(ids)
            self.selectionChanged.emit(self.selected_ids)

    def select_image(self, image_id: int) -> None:
        if image_id != self.current_image_id:
            self.current_image_id = image_id
            self.currentImageChanged.emit(image_id)

    def set_flag(self, image_id: int, flagged: bool, note: str) -> None:
        self.workspace.set_flag(image_id, flagged, note)
        self.imagesChanged.emit()

    def set_role(self, image_ids: list[int], role: str) -> int:
        changed = self.workspace.set_role(image_ids, role)
        self.imagesChanged.emit()
        return changed

    def set_review(self, sample_id: int, decision: str, note: str) -> None:
        self.workspace.set_review(sample_id, decision, note)
        self.reviewChanged.emit(sample_id, decision)
