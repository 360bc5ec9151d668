"""The mask editor: view an image with its mask, edit it, save versions, revert, flag.

All mask maths is in ``backend.masks.ops`` and the editing state in ``backend.masks.edit_session``;
this module turns mouse and keyboard input into calls on an :class:`EditSession` (one per
image, so undo history survives switching images). Tools, undo, redo and save are actions
with window-wide shortcuts (listed in the Edit menu), active while the editor is visible,
wherever the keyboard focus is.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCursor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.config.presets import load_preset
from backend.masks import ops as masks
from backend.workspace import queries
from diffgen_gui.edit_session import EditSession
from diffgen_gui.mask_panels import EditorStatusBar, ViewAdjustBox
from diffgen_gui.mask_tools import BUTTON_TEXT, COMMANDS, DISPLAY, HINTS, OPERATIONS, TOOLS, tool_cursor, version_label
from diffgen_gui.place_tool import PlaceTool
from diffgen_gui.polygon_tool import PolygonTool
from diffgen_gui.recovery_banner import RecoveryBanner
from diffgen_gui.state import WorkspaceState
from diffgen_gui.widgets.elided_label import ElidedLabel
from diffgen_gui.widgets.image_canvas import ImageCanvas, pixel_at

AUTOSAVE_MS = 3000
FILL_CONFIRM_FRACTION = 0.5  # a fill painting more of the frame than this asks first


class MaskEditor(QWidget):
    saved = Signal(int)  # image id whose new version was saved or reverted
    dirtyChanged = Signal()

    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.sessions: dict[int, EditSession] = {}
        self.session: EditSession | None = None
        self.tool = "brush"
        self.brush_size = 8
        self._rgb: np.ndarray | None = None
        self._last: QPointF | None = None
        self._stroking = False
        self._version_preview: tuple[int, np.ndarray] | None = None
        self.canvas = ImageCanvas()
        self.canvas.empty_text = "No image selected"
        self.canvas.pressed.connect(self._on_press)
        self.canvas.dragged.connect(self._on_drag)
        self.canvas.released.connect(self._on_release)
        self.canvas.doubleClicked.connect(lambda _p: self.close_polygon())
        self.polygon = PolygonTool(self.canvas)
        self.place = PlaceTool(self.ws, self.canvas, lambda: self.brush_size, self)  # a new polyp to generate
        self.canvas.hovered.connect(self._show_pixel)
        self.cursors = {key: tool_cursor(s) for key, _l, s in TOOLS if key != "pan"}
        self.cursors["pan"] = QCursor(Qt.CursorShape.OpenHandCursor)
        self._build()
        self._make_actions()
        self.set_tool("brush")
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_all)
        self.autosave_timer.start()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        bar = QHBoxLayout()
        self.tool_buttons: dict[str, QToolButton] = {}
        for key, _label, _s in TOOLS:
            self.tool_buttons[key] = QToolButton()
            bar.addWidget(self.tool_buttons[key])
        self.size_spin = QSpinBox(
            minimum=1,
            maximum=200,
            value=self.brush_size,
            prefix="radius ",
            suffix=" px",
            toolTip="Brush radius ([ smaller, ] larger)",
        )
        self.size_spin.valueChanged.connect(self._set_size)
        bar.addWidget(self.size_spin)
        bar.addStretch(1)
        self.undo_btn, self.redo_btn = QToolButton(), QToolButton()
        self.save_btn = QPushButton("Save version", toolTip="Store the edited mask as a new version (Ctrl+S)")
        self.save_btn.setObjectName("primary")
        self.save_btn.clicked.connect(self.save)
        view_bar = self._view_bar()  # undo, redo and save on the second row: the tools fit a 1024 px screen
        for w in (self.undo_btn, self.redo_btn, self.save_btn):
            view_bar.addWidget(w)
        left = QVBoxLayout()
        left.addLayout(bar)
        left.addLayout(view_bar)
        self.title = ElidedLabel(objectName="title")
        left.addWidget(self.title)
        self.banner = RecoveryBanner(self.ws)
        self.banner.versionAdded.connect(self._recovered_version)
        left.addWidget(self.banner)
        left.addWidget(self.canvas, 1)
        self.status = EditorStatusBar()
        self.canvas.viewChanged.connect(self.status.show_zoom)
        left.addWidget(self.status)
        self.place.hintChanged.connect(self.status.hint.setText)
        sidew = QWidget()
        side = QVBoxLayout(sidew)
        self.view_box = ViewAdjustBox()
        self.view_box.opacityChanged.connect(self.canvas.set_opacity)
        self.view_box.adjusted.connect(self.canvas.set_adjustment)
        side.addWidget(self.view_box)
        self.mask_boxes = (self._operations_box(), self._flag_box())  # hidden while placing: the image's own mask
        for box in (*self.mask_boxes, self.place.box):
            side.addWidget(box)
        side.addWidget(self._versions_box(), 1)
        sidew.setFixedWidth(260)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(left, 1)
        lay.addWidget(sidew)
        self._op_selected(self.op_combo.currentText())
        self._dilation_default = self._preset_dilation()
        self.state.modelsChanged.connect(self._models_changed)

    def _view_bar(self) -> QHBoxLayout:
        view_bar = QHBoxLayout()
        self.display_combo = QComboBox(toolTip="How the mask is shown")
        for label, mode in DISPLAY:
            self.display_combo.addItem(label, mode)
        self.display_combo.currentIndexChanged.connect(lambda _i: self.canvas.set_mode(self.display_combo.currentData()))
        view_bar.addWidget(self.display_combo)
        for text, tip, slot in (
            ("Fit", "Fit to window (0)", self.canvas.fit),
            ("1:1", "Actual pixels (1)", self.canvas.one_to_one),
        ):
            b = QToolButton(text=text, toolTip=tip)
            b.clicked.connect(slot)
            view_bar.addWidget(b)
        view_bar.addStretch(1)
        return view_bar

    def _operations_box(self) -> QGroupBox:
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
        ol.addWidget(self.op_combo)
        row = QHBoxLayout()
        row.addWidget(self.op_value, 1)
        row.addWidget(self.apply_btn)
        ol.addLayout(row)
        ol.addWidget(self.preview_check, 0, Qt.AlignmentFlag.AlignLeft)  # as wide as its text: a click beside it misses
        return ops

    def _flag_box(self) -> QGroupBox:
        flag = QGroupBox("Flag")
        fl = QVBoxLayout(flag)
        self.flag_check = QCheckBox("Flag this image / mask")
        self.flag_note = QLineEdit(placeholderText="why (e.g. mask misses the stalk)")
        self.flag_check.toggled.connect(lambda _c: self._store_flag())
        self.flag_note.editingFinished.connect(self._store_flag)
        fl.addWidget(self.flag_check)
        fl.addWidget(self.flag_note)
        return flag

    def _versions_box(self) -> QGroupBox:
        hist = QGroupBox("Mask versions")
        hl = QVBoxLayout(hist)
        self.versions = QListWidget(toolTip="Select a version to preview it (amber) over the current mask")
        self.versions.setWordWrap(True)
        self.versions.currentItemChanged.connect(lambda _c, _p: self.update_preview())
        self.revert_btn = QPushButton("Revert to selected", toolTip="Make the selected version current (undoable)")
        self.revert_btn.clicked.connect(self.revert_selected)
        hl.addWidget(self.versions, 1)
        hl.addWidget(self.revert_btn)
        return hist

    def _make_actions(self) -> None:
        """Tool and edit actions: window-wide shortcuts, shown in the Edit menu and on the buttons."""
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for key, label, shortcut in TOOLS:
            a = self._action(label, (shortcut,), lambda _c=False, k=key: self.set_tool(k))
            a.setCheckable(True)
            a.setIconText(BUTTON_TEXT.get(key, label))
            group.addAction(a)
            self.tool_actions[key] = a
            self.tool_buttons[key].setDefaultAction(a)
        self.commands = {
            name: self._action(text, keys, lambda _c=False, n=name: getattr(self, n)()) for name, text, keys in COMMANDS
        }
        self.undo_btn.setDefaultAction(self.commands["undo"])
        self.redo_btn.setDefaultAction(self.commands["redo"])

    def _action(self, text: str, keys: tuple[str, ...], slot) -> QAction:
        a = QAction(text, self)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setToolTip(f"{text.replace('&', '')} ({' / '.join(keys)})")
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def edit_actions(self) -> list[QAction | None]:
        """For the Edit menu (None: a separator)."""
        return [self.commands["undo"], self.commands["redo"], self.commands["save"], None, *self.tool_actions.values()]

    # -- loading -------------------------------------------------------------------------
    def _leave_current(self, next_id: int | None) -> None:
        if self.session is not None and self.session.image_id != next_id:
            self.polygon.cancel()
            if not self.session.dirty and not self.session.can_undo():
                self.sessions.pop(self.session.image_id, None)

    def load(self, image_id: int) -> None:
        """Show an image (its unsaved edits and undo history come back with it)."""
        self._leave_current(image_id)
        new = image_id not in self.sessions
        if new:
            s = EditSession(self.ws, image_id, self)
            s.changed.connect(self._on_changed)
            s.stateChanged.connect(self._update_buttons)
            self.sessions[image_id] = s
        self.session = self.sessions[image_id]
        self.preview_check.setChecked(False)
        self.status.pixel_label.clear()  # the last pixel shown was another image's
        self._rgb = self.ws.read_image(image_id)
        self.canvas.set_content(self._rgb, self.session.mask, keep_view=True)
        self.place.set_image(image_id, self._rgb.shape[1::-1])
        rec = self.ws.image(image_id)
        self.flag_check.blockSignals(True)
        self.flag_check.setChecked(rec.flagged)
        self.flag_check.blockSignals(False)
        self.flag_note.setText(rec.flag_note)
        self.banner.offer(self.session, new)
        self.refresh_versions()
        self._update_buttons()

    def clear(self) -> None:
        """Show no image (the one shown is filtered out); unsaved edits stay in their session."""
        self._leave_current(None)
        self.session = None
        self._rgb = None
        self.canvas.set_content(None, None)
        self.place.set_image(None, (0, 0))
        self.banner.hide()
        self.refresh_versions()
        self._update_buttons()

    @Slot(int)
    def _recovered_version(self, image_id: int) -> None:
        self.saved.emit(image_id)
        self.state.maskChanged.emit(image_id)
        self.refresh_versions()

    def refresh_versions(self) -> None:
        self.versions.blockSignals(True)
        self.versions.clear()
        current = self.ws.image(self.session.image_id).current_mask_id if self.session else None
        for mv in reversed(self.ws.mask_versions(self.session.image_id) if self.session else []):
            item = QListWidgetItem(
                f"v{mv.version}  {version_label(mv)}\n{mv.created_at[11:19]} UTC · "
                f"{mv.area:,} px" + ("  ● current" if mv.id == current else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, mv.id)
            if mv.id == current:
                f = item.font()
                f.setBold(True)
                item.setFont(f)
            self.versions.addItem(item)
        self.versions.blockSignals(False)
        self.update_preview()
        self._update_title()

    def _update_title(self) -> None:
        if self.session is None:
            self.title.setText("No image selected")
            return
        rec = self.ws.image(self.session.image_id)
        mask = "no mask"
        if self.session.base_id is not None:
            mv = self.ws.mask_version(self.session.base_id)
            mask = f"mask v{mv.version} ({version_label(mv)})"
        self.title.setText(
            f"{rec.name} · {rec.width}×{rec.height} px · {mask}" + (" · unsaved edits" if self.session.dirty else "")
        )

    # -- tools ---------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self.tool_actions[tool].setChecked(True)
        self.canvas.pan_with_left = tool == "pan"
        self.canvas.brush_radius = self.brush_size if tool in ("brush", "eraser") else 0
        self.canvas.set_tool_cursor(self.cursors[tool])
        if tool != "polygon":
            self.polygon.cancel()
        self.place.set_active(tool == "place")
        for box in self.mask_boxes:
            box.setVisible(tool != "place")
        self.status.hint.setText((self.place.hint() if tool == "place" else HINTS[tool]) + "  (F1: every key)")
        self._show_tool()
        self.canvas.update()

    def _show_tool(self) -> None:
        label = dict((k, lab) for k, lab, _s in TOOLS)[self.tool]
        self.status.show_tool(label, self.brush_size if self.tool in ("brush", "eraser") else None)

    def _set_size(self, v: int) -> None:
        self.brush_size = v
        if self.canvas.brush_radius > 0:  # a brush's circle is shown (brush, eraser, Place polyp's brush)
            self.canvas.brush_radius = v
            self.canvas.update()
        self._show_tool()

    @Slot(QPointF)
    def _show_pixel(self, pt: QPointF) -> None:
        x, y = pixel_at(pt)
        rgb_image = self._rgb
        inside = rgb_image is not None and 0 <= y < rgb_image.shape[0] and 0 <= x < rgb_image.shape[1]
        if rgb_image is None or not inside or self.session is None:
            self.status.pixel_label.clear()
            return
        rgb = " ".join(str(int(v)) for v in np.atleast_1d(rgb_image[y, x])[:3])
        self.status.show_pixel(x, y, rgb, int(self.session.mask[y, x]))

    def _on_press(self, pt: QPointF, button) -> None:
        if self.session is None or button != Qt.MouseButton.LeftButton:
            return
        if self.tool in ("brush", "eraser"):
            self._stroking = True
            self.session.begin_stroke()
            self._last = pt
            self._dab(pt)
        elif self.tool == "polygon":
            self.polygon.press(self.session, pt)
        elif self.tool == "place":
            self.place.press(pt, self.canvas.press_modifiers)
        elif self.tool == "fill":
            paint = not (QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.fill_at(pt, paint)

    def fill_at(self, pt: QPointF, paint: bool = True) -> bool:
        """Fill (or clear) the region under ``pt``; a fill over most of the frame asks first."""
        if self.session is None:
            return False
        new = masks.flood_fill(self.session.mask, pixel_at(pt), paint)
        added = int(np.count_nonzero((new > 0) & (self.session.mask == 0)))
        if (
            paint
            and added > FILL_CONFIRM_FRACTION * new.size
            and not self.confirm(
                "Fill most of the image?",
                f"This fill would paint {added / new.size:.0%} of the image (usually the background around the polyp). Fill it?",
            )
        ):
            return False
        return self.session.apply(new, "fill" if paint else "clear", counted=True)

    def _on_drag(self, pt: QPointF) -> None:
        if self._stroking:
            self._dab(pt)
            self._last = pt
        elif self.tool == "polygon":
            self.polygon.drag(pt)
        elif self.tool == "place":
            self.place.drag(pt)

    def _on_release(self, pt: QPointF) -> None:
        if self.session is None:
            return
        if self._stroking:
            self._stroking = False
            self.session.end_stroke(self.tool)
        elif self.tool == "polygon":
            self.polygon.release(self.session)
        elif self.tool == "place":
            self.place.release(pt)

    def _dab(self, pt: QPointF) -> None:
        if self.session is None:
            return
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
        if self.tool == "place":
            self.place.close_polygon()
        else:
            self.polygon.close(self.session, paint)

    # -- operations ------------------------------------------------------------------------
    def _op_selected(self, label: str) -> None:
        _op, pname, default, minimum, _fmt = OPERATIONS[label]
        if default is None:  # the dilation the inpainting preset of this workspace uses
            default = self._preset_dilation()
        self.op_value.blockSignals(True)
        self.op_value.setEnabled(pname is not None)
        self.op_value.setMinimum(minimum)
        self.op_value.setValue(default)
        self.op_value.setSuffix(" px" if pname in ("pixels", "radius", "min_size") else "")
        self.op_value.blockSignals(False)
        self.update_preview()

    def _preset_dilation(self) -> int:
        return int(load_preset(queries.default_preset(self.ws)).get("inpaint", {}).get("dilate", 20))

    @Slot()
    def _models_changed(self) -> None:
        """A first model sets the workspace's preset: an untouched Dilate value follows it."""
        if OPERATIONS[self.op_combo.currentText()][2] is None and self.op_value.value() == self._dilation_default:
            self._op_selected(self.op_combo.currentText())
        self._dilation_default = self._preset_dilation()

    def _operation(self) -> tuple[str, dict, str]:
        op, pname, _d, _m, fmt = OPERATIONS[self.op_combo.currentText()]
        return op, ({pname: self.op_value.value()} if pname else {}), fmt.format(self.op_value.value())

    def _selected_version(self) -> int | None:
        item = self.versions.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def update_preview(self) -> None:
        """The live operation preview, else the selected version over the current mask."""
        version = self._selected_version()
        self.revert_btn.setEnabled(self.session is not None and version is not None)
        if self.session is None:
            self.canvas.set_preview(None)
        elif self.preview_check.isChecked():
            op, params, _label = self._operation()
            self.canvas.set_preview(masks.apply_operation(self.session.mask, op, params))
        elif version is not None and version != self.session.base_id:
            if self._version_preview is None or self._version_preview[0] != version:
                self._version_preview = (version, self.ws.read_mask(version))
            self.canvas.set_preview(self._version_preview[1])
            self.status.hint.setText(
                f"Previewing {self.versions.currentItem().text().split()[0]} (amber) over "
                "the current mask; Revert to selected makes it current."
            )
        else:
            self.canvas.set_preview(None)

    def apply_operation(self) -> None:
        if self.session is None:
            return
        op, params, label = self._operation()
        self.session.apply(masks.apply_operation(self.session.mask, op, params), op, detail=label)
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
        version = self._selected_version()
        if version is not None:
            self.revert_to(version)

    def revert_to(self, mask_id: int) -> None:
        """Make an older version current; one undo brings the previous pixels back."""
        s = self.session
        if s is None:
            return
        s.revert_to(mask_id)
        self.refresh_versions()
        self.saved.emit(s.image_id)
        self.state.maskChanged.emit(s.image_id)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes / no (a method so tests can answer it)."""
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
        s, shown = self.session, self.isVisible()
        self.commands["undo"].setEnabled(bool(shown and s and s.can_undo()))
        self.commands["redo"].setEnabled(bool(shown and s and s.can_redo()))
        self.commands["save"].setEnabled(bool(shown and s and s.dirty))
        for a in self.tool_actions.values():
            a.setEnabled(shown)
        self.save_btn.setEnabled(bool(s and s.dirty))
        self.save_btn.setText("Save version*" if s and s.dirty else "Save version")
        self.polygon.check(self.session)
        self._update_title()
        self.dirtyChanged.emit()

    def showEvent(self, e) -> None:  # noqa: N802 - Qt API
        super().showEvent(e)
        self._update_buttons()

    def hideEvent(self, e) -> None:  # noqa: N802 - Qt API
        super().hideEvent(e)
        self._update_buttons()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """The actions' keys also when no window is active (no window manager, tests); the rest here."""
        pressed = QKeySequence(e.keyCombination())
        for a in self.actions():
            if a.isEnabled() and any(k.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch for k in a.shortcuts()):
                a.trigger()
                return
        key, shift = e.key(), bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self.tool == "place" and self.place.key(key, shift):
            return
        if key == Qt.Key.Key_BracketLeft:
            self.size_spin.setValue(max(1, round(self.brush_size / 1.25)))
        elif key == Qt.Key.Key_BracketRight:
            self.size_spin.setValue(max(self.brush_size + 1, round(self.brush_size * 1.25)))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self.close_polygon(paint=not shift)
        elif key == Qt.Key.Key_Escape:
            self.polygon.cancel()
            self.preview_check.setChecked(False)
        elif key == Qt.Key.Key_0:
            self.canvas.fit()
        elif key == Qt.Key.Key_1:
            self.canvas.one_to_one()
        else:
            super().keyPressEvent(e)
