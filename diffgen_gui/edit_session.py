"""The GUI's handle on a :class:`backend.masks.edit_session.EditSession`: the same object, its
callbacks turned into signals (emitted in the GUI thread, where the session is used)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from backend.masks import edit_session
from backend.workspace import Workspace


class EditSession(QObject):
    """Signals ``changed(box)`` and ``stateChanged()``; everything else is the back-end
    session's (attributes not found here are looked up on it)."""

    changed = Signal(object)  # box or None
    stateChanged = Signal()  # dirty / undo / redo availability

    def __init__(self, ws: Workspace, image_id: int, parent: QObject | None = None):
        super().__init__(parent)
        self.core = edit_session.EditSession(ws, image_id, on_changed=self.changed.emit, on_state=self.stateChanged.emit)

    def __getattr__(self, name: str):
        if name == "core":  # not set yet (during QObject's own set-up)
            raise AttributeError(name)
        return getattr(self.core, name)
