"""The mask editor: view an image with its mask, edit it, save versions, revert, flag.

All mask maths is in ``backend.masks``; this module turns mouse and keyboard input into
calls on an :class:`EditSession` (one per image, so undo history survives switching images).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSlider, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget, QButtonGroup)

from backend import masks
from backend.errors import DiffGenError
from diffgen_gui.edit_session import EditSession, read_recovery
from diffgen_gui.state import WorkspaceState
from diffgen_gui.widgets.image_canvas import ImageCanvas

AUTOSAVE_MS = 3000
TOOLS = [("pan", "Pan", "H"), ("brush", "Brush", "B"), ("eraser", "Eraser", "E"),
         ("polygon", "Polygon", "G"), ("fill", "Fill", "F")]
OPERATIONS = {  # label -> (backend operation, parameter name, default, minimum)
    "Dilate": ("dilate", "pixels", 3, 1), "Erode": ("erode", "pixels", 3, 1),
    "Fill holes": ("fill_holes", None, 0, 0), "Remove small islands": ("remove_islands", "min_size", 50, 1),
    "Smooth": ("smooth", "radius", 2, 1),
}
DISPLAY = [("Fill", "fill"), ("Contour only", "contour"), ("Mask only", "mask"), ("Side by side", "side")]


class MaskEditor(QWidget):
    saved = Signal(int)        # image id whose new version was saved or reverted
    dirtyChanged = Signal()

    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.sessions: dict[int, EditSession] = {}
        self.session: EditSession | None = None
        self.tool = "brush"
        self.brush_size = 8
        self._last: QPointF | None = None
        self._stroking = False
        self._recovered = None
        self.canvas = ImageCanvas()
        self.canvas.pressed.connect(self._on_press)
        self.canvas.dragged.connect(self._on_drag)
        self.canvas.released.connect(self._on_release)
        self.canvas.doubleClicked.connect(lambda _p: self.close_polygon())
        self._build()
        self.set_tool("brush")
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_all)
        self.autosave_timer.start()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        bar = QHBoxLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for key, label, shortcut in TOOLS:
            b = QToolButton(text=label, checkable=True, toolTip=f"{label} ({shortcut})")
            b.clicked.connect(lambda _c=False, k=key: self.set_tool(k))
            self.tool_group.addButton(b)
            self.tool_buttons[key] = b
            bar.addWidget(b)
        self.size_spin = QSpinBox(minimum=1, maximum=200, value=self.brush_size, suffix=" px",
                                  toolTip="Brush radius ([ smaller, ] larger)")
        self.size_spin.valueChanged.connect(self._set_size)
        bar.addWidget(self.size_spin)
        bar.addStretch(1)
        view_bar = QHBoxLayout()
        self.display_combo = QComboBox(toolTip="How the mask is shown")
        for label, mode in DISPLAY:
            self.display_combo.addItem(label, mode)
        self.display_combo.currentIndexChanged.connect(lambda _i: self.canvas.set_mode(self.display_combo.currentData()))
        view_bar.addWidget(self.display_combo)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=40,
                               toolTip="Mask fill opacity")
        self.opacity.setFixedWidth(90)
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        view_bar.addWidget(QLabel("Opacity"))
        view_bar.addWidget(self.opacity)
        for text, tip, slot in (("Fit", "Fit to window (0)", self.canvas.fit),
                                ("1:1", "Actual pixels (1)", self.canvas.one_to_one)):
            b = QToolButton(text=text, toolTip=tip)
            b.clicked.connect(slot)
            view_bar.addWidget(b)
        view_bar.addStretch(1)
        self.undo_btn = QToolButton(text="Undo", toolTip="Undo (Ctrl+Z)")
        self.undo_btn.clicked.connect(self.undo)
        self.redo_btn = QToolButton(text="Redo", toolTip="Redo (Ctrl+Shift+Z / Ctrl+Y)")
        self.redo_btn.clicked.connect(self.redo)
        self.save_btn = QPushButton("Save version", toolTip="Store the edited mask as a new version (Ctrl+S)")
        self.save_btn.setObjectName("primary")
        self.save_btn.clicked.connect(self.save)
        for w in (self.undo_btn, self.redo_btn, self.save_btn):
            bar.addWidget(w)

        self.banner = QFrame(objectName="banner")
        bl = QHBoxLayout(self.banner)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.restore_btn = QPushButton("Restore", toolTip="Put the recovered edits back into the editor")
        self.keep_both_btn = QPushButton("Keep both", toolTip="Save the recovered edits as a new version on top;"
                                                              " the newer version stays in the history")
        discard = QPushButton("Discard", toolTip="Delete the recovered edits")
        self.restore_btn.clicked.connect(self.restore_recovery)
        self.keep_both_btn.clicked.connect(self.keep_both_recovery)
        discard.clicked.connect(self.discard_recovery)
        bl.addWidget(self.banner_label, 1)
        bl.addWidget(self.restore_btn)
        bl.addWidget(self.keep_both_btn)
        bl.addWidget(discard)
        self.banner.hide()

        left = QVBoxLayout()
        left.addLayout(bar)
        left.addLayout(view_bar)
        left.addWidget(self.banner)
        left.addWidget(self.canvas, 1)
        self.status = QLabel(objectName="hint")
        left.addWidget(self.status)

        side = QVBoxLayout()
        ops = QGroupBox("Operations")
        ol = QVBoxLayout(ops)
        self.op_combo = QComboBox()
        self.op_combo.addItems(list(OPERATIONS))
        self.op_value = QSpinBox(minimum=1, maximum=500)
        self.preview_check = QCheckBox("Live preview")
        self.apply_btn = QPushButton("Apply")
        self.op_combo.currentTextChanged.connect(self._op_selected)
        self.op_value.valueChanged.connect(lambda _v: self.update_preview())
        self.preview_check.toggled.connect(lambda _c: self.update_preview())
        self.apply_btn.clicked.connect(self.apply_operation)
        row = QHBoxLayout()
        row.addWidget(self.op_combo, 1)
        row.addWidget(self.op_value)
        ol.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.preview_check)
        row.addWidget(self.apply_btn)
        ol.addLayout(row)
        side.addWidget(ops)

        flag = QGroupBox("Flag")
        fl = QVBoxLayout(flag)
        self.flag_check = QCheckBox("Flag this image / mask")
        self.flag_note = QLineEdit(placeholderText="why (e.g. mask misses the stalk)")
        self.flag_check.toggled.connect(lambda _c: self._store_flag())
        self.flag_note.editingFinished.connect(self._store_flag)
        fl.addWidget(self.flag_check)
        fl.addWidget(self.flag_note)
        side.addWidget(flag)

        hist = QGroupBox("Mask versions")
        hl = QVBoxLayout(hist)
        self.versions = QListWidget()
        self.versions.setWordWrap(True)
        self.revert_btn = QPushButton("Revert to selected")
        self.revert_btn.clicked.connect(self.revert_selected)
        hl.addWidget(self.versions, 1)
        hl.addWidget(self.revert_btn)
        side.addWidget(hist, 1)

        sidew = QWidget()
        sidew.setLayout(side)
        sidew.setFixedWidth(260)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(left, 1)
        lay.addWidget(sidew)
        self._op_selected(self.op_combo.currentText())
        self._update_buttons()

    # -- loading -------------------------------------------------------------------------
    def load(self, image_id: int) -> None:
        """Show an image (its unsaved edits and undo history come back with it)."""
        if self.session is not None and self.session.image_id != image_id:
            self.canvas.polyline = []
            if not self.session.dirty and not self.session.can_undo():
                self.sessions.pop(self.session.image_id, None)
        new = image_id not in self.sessions
        if new:
            s = EditSession(self.ws, image_id, self)
            s.changed.connect(self._on_changed)
            s.stateChanged.connect(self._update_buttons)
            self.sessions[image_id] = s
        self.session = self.sessions[image_id]
        self.preview_check.setChecked(False)
        self.canvas.set_content(self.ws.read_image(image_id), self.session.mask, keep_view=True)
        rec = self.ws.image(image_id)
        self.flag_check.blockSignals(True)
        self.flag_check.setChecked(rec.flagged)
        self.flag_check.blockSignals(False)
        self.flag_note.setText(rec.flag_note)
        self._offer_recovery(new)
        self.refresh_versions()
        self._update_buttons()

    def _offer_recovery(self, new_session: bool) -> None:
        self._recovered = read_recovery(self.ws, self.session.image_id) if new_session else None
        if self._recovered is not None and (self._recovered[0].shape != self.session.mask.shape
                                            or (self._recovered[0] == self.session.mask).all()):
            self._recovered = None
        if self._recovered is None:
            self.banner.hide()
            return
        meta = self._recovered[1]
        when = time.strftime("%H:%M:%S", time.localtime(meta.get("saved_at", 0)))
        text = (f"Unsaved edits of this mask from {when} were recovered "
                "(the program stopped before they were saved).")
        conflict = self._recovery_conflict(meta)
        if conflict:
            text += " " + conflict
        self.banner_label.setText(text)
        self.restore_btn.setVisible(not conflict)
        self.keep_both_btn.setVisible(bool(conflict))
        self.banner.show()

    def _recovery_conflict(self, meta: dict) -> str:
        """Why restoring in place would hide newer work ('' when the edit's base is still current)."""
        base_id, current_id = meta.get("base_mask_id"), self.session.base_id
        if base_id == current_id or current_id is None:
            return ""
        current = self.ws.mask_version(current_id)
        try:
            base = f"v{self.ws.mask_version(base_id).version}" if base_id is not None else "an empty mask"
        except DiffGenError:
            base = "a version that no longer exists"
        return (f"They were made on {base}, but the mask is now v{current.version} ({current.operation}, "
                "made after the edit began). Keep both (the recovered edits become a new version on top) "
                "or discard them.")

    def restore_recovery(self) -> None:
        if self._recovered is not None and self.session is not None:
            if self._recovery_conflict(self._recovered[1]):
                return  # only "Keep both" or "Discard" can resolve a conflict
            self.session.apply(self._recovered[0], "recovered edits")
        self._recovered = None
        self.banner.hide()

    def keep_both_recovery(self) -> None:
        if self._recovered is not None and self.session is not None:
            self.session.keep_recovered(*self._recovered)
            self.saved.emit(self.session.image_id)
            self.state.maskChanged.emit(self.session.image_id)
            self.refresh_versions()
        self._recovered = None
        self.banner.hide()

    def discard_recovery(self) -> None:
        if self.session is not None:
            self.session.discard_recovery()
        self._recovered = None
        self.banner.hide()

    def refresh_versions(self) -> None:
        self.versions.clear()
        if self.session is None:
            return
        current = self.ws.image(self.session.image_id).current_mask_id
        for mv in reversed(self.ws.mask_versions(self.session.image_id)):
            params = {k: v for k, v in mv.params.items() if k not in ("source", "notes", "edits")}
            text = (f"v{mv.version}  {mv.operation}" + (f" {params}" if params else "")
                    + f"\n{mv.created_at[11:19]} UTC · {mv.area} px" + ("  ● current" if mv.id == current else ""))
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, mv.id)
            if mv.id == current:
                f = item.font()
                f.setBold(True)
                item.setFont(f)
            self.versions.addItem(item)

    # -- tools ---------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self.tool_buttons[tool].setChecked(True)
        self.canvas.pan_with_left = tool == "pan"
        self.canvas.brush_radius = self.brush_size if tool in ("brush", "eraser") else 0
        if tool != "polygon":
            self.canvas.polyline = []
        hints = {"pan": "Drag to pan, wheel to zoom.", "brush": "Paint the polyp. Right-drag pans.",
                 "eraser": "Erase. Right-drag pans.",
                 "polygon": "Click the corners; double-click or Enter fills, Shift+Enter cuts out, Esc cancels.",
                 "fill": "Click a region to fill it (Shift+click clears it)."}
        self.status.setText(hints[tool] + "   [ ] brush size · ←/→ previous/next image · Ctrl+S save")
        self.canvas.update()

    def _set_size(self, v: int) -> None:
        self.brush_size = v
        if self.tool in ("brush", "eraser"):
            self.canvas.brush_radius = v
            self.canvas.update()

    def _on_press(self, pt: QPointF, button) -> None:
        if self.session is None or button != Qt.MouseButton.LeftButton:
            return
        if self.tool in ("brush", "eraser"):
            self._stroking = True
            self.session.begin_stroke()
            self._last = pt
            self._dab(pt)
        elif self.tool == "polygon":
            self.canvas.polyline.append(pt)
            self.canvas.update()
        elif self.tool == "fill":
            from PySide6.QtWidgets import QApplication

            paint = not (QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
            new = masks.flood_fill(self.session.mask, (round(pt.x()), round(pt.y())), paint)
            self.session.apply(new, "flood fill" if paint else "flood clear")

    def _on_drag(self, pt: QPointF) -> None:
        if self._stroking:
            self._dab(pt)
            self._last = pt

    def _on_release(self, pt: QPointF) -> None:
        if self._stroking:
            self._stroking = False
            self.session.end_stroke(f"{self.tool} {self.brush_size}px")

    def _dab(self, pt: QPointF) -> None:
        a = self._last or pt
        region = masks.stroke_region(self.session.mask.shape, [(a.x(), a.y()), (pt.x(), pt.y())], self.brush_size)
        if region is not None:
            self.session.stroke_patch(region[0], region[1], paint=self.tool == "brush")

    def paint_stroke(self, points: list[tuple[float, float]], erase: bool = False) -> None:
        """Paint a whole stroke (scripting, tests, benchmarks): same path as the mouse."""
        self.set_tool("eraser" if erase else "brush")
        pts = [QPointF(x, y) for x, y in points]
        self._on_press(pts[0], Qt.MouseButton.LeftButton)
        for p in pts[1:]:
            self._on_drag(p)
        self._on_release(pts[-1])

    def close_polygon(self, paint: bool = True) -> None:
        pts = [(p.x(), p.y()) for p in self.canvas.polyline]
        self.canvas.polyline = []
        self.canvas.update()
        if self.session is not None and len(pts) >= 3:
            self.session.apply(masks.fill_polygon(self.session.mask, pts, paint), "polygon" if paint else "polygon cut")

    # -- operations ------------------------------------------------------------------------
    def _op_selected(self, label: str) -> None:
        _op, pname, default, minimum = OPERATIONS[label]
        self.op_value.blockSignals(True)
        self.op_value.setEnabled(pname is not None)
        self.op_value.setMinimum(minimum)
        self.op_value.setValue(default)
        self.op_value.setSuffix(" px" if pname in ("pixels", "radius", "min_size") else "")
        self.op_value.blockSignals(False)
        self.update_preview()

    def _operation(self) -> tuple[str, dict]:
        op, pname, _d, _m = OPERATIONS[self.op_combo.currentText()]
        return op, ({pname: self.op_value.value()} if pname else {})

    def update_preview(self) -> None:
        if self.session is None or not self.preview_check.isChecked():
            self.canvas.set_preview(None)
            return
        op, params = self._operation()
        self.canvas.set_preview(masks.apply_operation(self.session.mask, op, params))

    def apply_operation(self) -> None:
        if self.session is None:
            return
        op, params = self._operation()
        self.session.apply(masks.apply_operation(self.session.mask, op, params),
                           f"{op} {params}" if params else op)
        self.preview_check.setChecked(False)

    # -- undo / save / revert ------------------------------------------------------------------
    def undo(self) -> None:
        if self.session is not None:
            self.session.undo()

    def redo(self) -> None:
        if self.session is not None:
            self.session.redo()

    def save(self) -> int | None:
        if self.session is None or not self.session.dirty:
            return None
        mask_id = self.session.save()
        self.refresh_versions()
        self.saved.emit(self.session.image_id)
        self.state.maskChanged.emit(self.session.image_id)
        return mask_id

    def revert_selected(self) -> None:
        item = self.versions.currentItem()
        if item is not None:
            self.revert_to(item.data(Qt.ItemDataRole.UserRole))

    def revert_to(self, mask_id: int) -> None:
        s = self.session
        if s is None:
            return
        if s.dirty and not self.confirm("Discard unsaved edits?",
                                        "Reverting drops the unsaved edits of this mask. Continue?"):
            return
        self.ws.set_current_mask(s.image_id, mask_id)
        s.reload()
        self.refresh_versions()
        self.saved.emit(s.image_id)
        self.state.maskChanged.emit(s.image_id)

    def confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def unsaved(self) -> list[EditSession]:
        return [s for s in self.sessions.values() if s.dirty]

    def save_all(self) -> int:
        n = 0
        for s in self.unsaved():
            s.save()
            self.state.maskChanged.emit(s.image_id)
            n += 1
        self.refresh_versions()
        return n

    def discard_all(self) -> None:
        for s in self.unsaved():
            s.discard_recovery()
        self.sessions.clear()
        self.session = None

    def autosave_all(self) -> int:
        return sum(s.autosave() for s in list(self.sessions.values()))

    def _store_flag(self) -> None:
        if self.session is not None:
            self.state.set_flag(self.session.image_id, self.flag_check.isChecked(), self.flag_note.text())

    # -- feedback --------------------------------------------------------------------------
    def _on_changed(self, box) -> None:
        if self.sender() is self.session:
            self.canvas.mask_updated(box)
            if self.preview_check.isChecked() and not self._stroking:
                self.update_preview()

    def _update_buttons(self) -> None:
        s = self.session
        self.undo_btn.setEnabled(bool(s and s.can_undo()))
        self.redo_btn.setEnabled(bool(s and s.can_redo()))
        self.save_btn.setEnabled(bool(s and s.dirty))
        self.save_btn.setText("Save version*" if s and s.dirty else "Save version")
        self.dirtyChanged.emit()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key, mods = e.key(), e.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        tools = {getattr(Qt.Key, f"Key_{s}"): k for k, _l, s in TOOLS}
        if ctrl and key == Qt.Key.Key_Z:
            self.redo() if shift else self.undo()
        elif ctrl and key == Qt.Key.Key_Y:
            self.redo()
        elif ctrl and key == Qt.Key.Key_S:
            self.save()
        elif key == Qt.Key.Key_BracketLeft:
            self.size_spin.setValue(max(1, round(self.brush_size / 1.25)))
        elif key == Qt.Key.Key_BracketRight:
            self.size_spin.setValue(max(self.brush_size + 1, round(self.brush_size * 1.25)))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self.close_polygon(paint=not shift)
        elif key == Qt.Key.Key_Escape:
            self.canvas.polyline = []
            self.preview_check.setChecked(False)
            self.canvas.update()
        elif key == Qt.Key.Key_0:
            self.canvas.fit()
        elif key == Qt.Key.Key_1:
            self.canvas.one_to_one()
        elif not ctrl and key in tools:
            self.set_tool(tools[key])
        else:
            super().keyPressEvent(e)
