"""The banner that offers unsaved mask edits recovered after a crash: restore them, keep both
(when the mask changed since the edit began), or discard them."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from backend.errors import DiffGenError
from backend.masks.edit_session import read_recovery
from backend.workspace import Workspace
from diffgen_gui.edit_session import EditSession


class RecoveryBanner(QFrame):
    versionAdded = Signal(int)  # image id: "keep both" stored the recovered edits as a new version

    def __init__(self, ws: Workspace):
        super().__init__(objectName="banner")
        self.ws = ws
        self.session: EditSession | None = None
        self._recovered: tuple[np.ndarray, dict] | None = None
        bl = QHBoxLayout(self)
        self.label = QLabel(wordWrap=True)
        self.restore_btn = QPushButton("Restore", toolTip="Put the recovered edits back into the editor")
        self.keep_both_btn = QPushButton(
            "Keep both", toolTip="Save the recovered edits as a new version on top; the newer version stays in the history"
        )
        discard = QPushButton("Discard", toolTip="Delete the recovered edits")
        self.restore_btn.clicked.connect(self.restore)
        self.keep_both_btn.clicked.connect(self.keep_both)
        discard.clicked.connect(self.discard)
        bl.addWidget(self.label, 1)
        for b in (self.restore_btn, self.keep_both_btn, discard):
            bl.addWidget(b)
        self.hide()

    def offer(self, session: EditSession, new_session: bool) -> None:
        """Show the recovered edits of ``session``'s image, if any differ from its mask."""
        self.session = session
        self._recovered = read_recovery(self.ws, session.image_id) if new_session else None
        if self._recovered is not None and (
            self._recovered[0].shape != session.mask.shape or (self._recovered[0] == session.mask).all()
        ):
            self._recovered = None
        if self._recovered is None:
            self.hide()
            return
        meta = self._recovered[1]
        when = time.strftime("%H:%M:%S", time.localtime(meta.get("saved_at", 0)))
        text = f"Unsaved edits of this mask from {when} were recovered (the program stopped before they were saved)."
        conflict = self.conflict(meta)
        if conflict:
            text += " " + conflict
        self.label.setText(text)
        self.restore_btn.setVisible(not conflict)
        self.keep_both_btn.setVisible(bool(conflict))
        self.show()

    def conflict(self, meta: dict) -> str:
        """Why restoring in place would hide newer work ('' when the edit's base is still current)."""
        base_id, current_id = meta.get("base_mask_id"), self.session.base_id if self.session else None
        if base_id == current_id or current_id is None:
            return ""
        current = self.ws.mask_version(current_id)
        try:
            base = f"v{self.ws.mask_version(base_id).version}" if base_id is not None else "an empty mask"
        except DiffGenError:
            base = "a version that no longer exists"
        return (
            f"They were made on {base}, but the mask is now v{current.version} ({current.operation}, "
            "made after the edit began). Keep both (the recovered edits become a new version on top) "
            "or discard them."
        )

    def restore(self) -> None:
        if self._recovered is not None and self.session is not None:
            if self.conflict(self._recovered[1]):
                return  # only "Keep both" or "Discard" can resolve a conflict
            self.session.apply(self._recovered[0], "recovered edits", counted=True)
        self._done()

    def keep_both(self) -> None:
        if self._recovered is not None and self.session is not None:
            self.session.keep_recovered(*self._recovered)
            self.versionAdded.emit(self.session.image_id)
        self._done()

    def discard(self) -> None:
        if self.session is not None:
            self.session.discard_recovery()
        self._done()

    def _done(self) -> None:
        self._recovered = None
        self.hide()
