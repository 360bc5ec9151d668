"""Mask editor: strokes, undo/redo, operations with preview, versions, recovery, keys."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from scipy import ndimage

from backend.masks.edit_session import recovery_paths
from backend.masks.ops import disk


def make_editor(state, qtbot, image_id=None):
    from diffgen_gui.mask_editor import MaskEditor

    ed = MaskEditor(state)
    qtbot.addWidget(ed)
    ed.resize(900, 600)
    ed.show()
    ed.load(image_id or state.workspace.image_ids()[0])
    ed.canvas.fit()
    return ed


def blank(ed):
    ed.session.apply(np.zeros_like(ed.session.mask), "clear")
    return ed.session.mask.copy()


def test_brush_stroke_undo_redo(state, qtbot):
    ed = make_editor(state, qtbot)
    original = ed.session.mask.copy()
    before = blank(ed)
    ed.size_spin.setValue(3)
    ed.paint_stroke([(10, 20), (40, 20)])
    m = ed.session.mask
    # hand-computed: a capsule of radius 3 around y=20, x in [10, 40]
    assert m[23, 25] == 255 and m[24, 25] == 0 and m[17, 25] == 255 and m[16, 25] == 0
    assert m[20, 7] == 255 and m[20, 6] == 0 and m[20, 43] == 255 and m[20, 44] == 0
    after = m.copy()
    qtbot.keyClick(ed, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(ed.session.mask, before)
    qtbot.keyClick(ed, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(ed.session.mask, after)
    ed.undo()
    ed.undo()  # the "clear" step
    np.testing.assert_array_equal(ed.session.mask, original)
    assert not ed.session.dirty


def _mouse(widget, kind, pos, buttons):
    btn = Qt.MouseButton.LeftButton
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos.toPoint())), btn, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_mouse_stroke_on_canvas_paints_under_the_cursor(state, qtbot):
    ed = make_editor(state, qtbot)
    blank(ed)
    c = ed.canvas
    to_widget = lambda x, y: QPointF((x + 0.5) * c.scale + c.offset.x(), (y + 0.5) * c.scale + c.offset.y())  # noqa: E731
    held = Qt.MouseButton.LeftButton
    _mouse(c, QEvent.Type.MouseButtonPress, to_widget(12, 50), held)
    for x in range(14, 41, 2):
        _mouse(c, QEvent.Type.MouseMove, to_widget(x, 50), held)
    _mouse(c, QEvent.Type.MouseButtonRelease, to_widget(40, 50), Qt.MouseButton.NoButton)
    m = ed.session.mask
    assert m[50, 12] == m[50, 26] == m[50, 40] == 255
    assert m[50 + ed.brush_size + 2, 26] == 0
    assert ed.session.history_labels()[-1].startswith("brush")


def test_hundred_undo_steps_with_bounded_memory(state, qtbot):
    ed = make_editor(state, qtbot)
    start = blank(ed)
    ed.size_spin.setValue(1)
    for i in range(60):  # paint a dot, erase it again: 120 real changes
        ed.paint_stroke([(i, (i * 7) % 60)])
        ed.paint_stroke([(i, (i * 7) % 60)], erase=True)
    assert len(ed.session.history_labels()) == 121
    assert sum(s.nbytes for s in ed.session._steps) < 20_000  # changed regions only, bit-packed
    for _ in range(120):
        assert ed.session.undo()
    np.testing.assert_array_equal(ed.session.mask, start)


def test_dilate_with_live_preview_then_apply(state, qtbot):
    ed = make_editor(state, qtbot)
    before = ed.session.mask.copy()
    ed.op_combo.setCurrentText("Dilate")
    ed.op_value.setValue(2)
    ed.preview_check.setChecked(True)
    assert ed.canvas._preview is not None
    first_preview = ed.canvas._preview
    ed.op_value.setValue(4)
    assert ed.canvas._preview is not first_preview  # live: follows the value
    np.testing.assert_array_equal(ed.session.mask, before)  # preview changes nothing
    ed.apply_btn.click()
    ref = ndimage.binary_dilation(before > 0, structure=disk(4).astype(bool))
    np.testing.assert_array_equal(ed.session.mask > 0, ref)
    assert ed.canvas._preview is None and ed.session.dirty


def test_save_version_and_revert(state, qtbot, demo_ws):
    image_id = max(demo_ws.image_ids(), key=lambda i: demo_ws.current_mask(i).area)
    ed = make_editor(state, qtbot, image_id)
    original = demo_ws.current_mask(image_id)
    orig_bytes = demo_ws.path(original.path).read_bytes()
    ed.op_combo.setCurrentText("Erode")
    ed.op_value.setValue(1)
    ed.apply_operation()
    edited = ed.session.mask.copy()
    with qtbot.waitSignal(state.maskChanged):
        new_id = ed.save()
    mv = demo_ws.mask_version(new_id)
    assert (mv.version, mv.operation, mv.parent_id) == (1, "edit", original.id)
    assert mv.params["edits"] == ["erode by 1 px"] and mv.params["label"] == "erode by 1 px"
    np.testing.assert_array_equal(demo_ws.read_mask(mv), edited)
    assert demo_ws.path(original.path).read_bytes() == orig_bytes  # never overwritten
    assert ed.versions.count() == 2 and not ed.session.dirty
    ed.revert_to(original.id)
    assert demo_ws.image(image_id).current_mask_id == original.id
    np.testing.assert_array_equal(ed.session.mask, demo_ws.read_mask(original))
    assert len(demo_ws.mask_versions(image_id)) == 2  # history kept


def test_autosave_recovery_offered_after_a_crash(state, qtbot, demo_ws):
    image_id = demo_ws.image_ids()[1]
    ed = make_editor(state, qtbot, image_id)
    ed.size_spin.setValue(4)
    ed.paint_stroke([(5, 5), (30, 30)])
    edited = ed.session.mask.copy()
    assert ed.autosave_all() == 1
    png, meta = recovery_paths(demo_ws, image_id)
    assert png.exists() and meta.exists()
    assert ed.autosave_all() == 0  # unchanged since: no rewrite
    # "crash": a new editor (new process) opens the same image
    ed2 = make_editor(state, qtbot, image_id)
    assert not ed2.banner.isHidden() and "recovered" in ed2.banner.label.text()
    ed2.banner.restore()
    np.testing.assert_array_equal(ed2.session.mask, edited)
    ed2.save()
    assert not png.exists() and not meta.exists()


def test_brush_size_keys_tools_and_flag(state, qtbot, demo_ws):
    ed = make_editor(state, qtbot)
    ed.size_spin.setValue(10)
    qtbot.keyClick(ed, Qt.Key.Key_BracketRight)
    assert ed.brush_size > 10
    qtbot.keyClick(ed, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(ed, Qt.Key.Key_BracketLeft)
    assert ed.brush_size < 10
    qtbot.keyClick(ed, Qt.Key.Key_P)
    assert ed.tool == "polygon"
    blank(ed)
    for x, y in ((10, 10), (30, 10), (30, 30), (10, 30)):
        ed._on_press(QPointF(x, y), Qt.MouseButton.LeftButton)
    qtbot.keyClick(ed, Qt.Key.Key_Return)
    assert ed.session.mask[20, 20] == 255 and ed.session.mask[40, 40] == 0
    qtbot.keyClick(ed, Qt.Key.Key_F)
    ed.confirm = lambda title, text: True  # it covers most of the frame: the user is asked, and agrees
    ed._on_press(QPointF(50, 50), Qt.MouseButton.LeftButton)  # fill the background around the square
    assert ed.session.mask[50, 50] == 255
    ed.flag_note.setText("stalk missing")
    ed.flag_check.setChecked(True)
    rec = demo_ws.image(ed.session.image_id)
    assert rec.flagged and rec.flag_note == "stalk missing"


def test_recovered_edit_never_hides_a_newer_version(state, qtbot, demo_ws):
    """The edit was made on v0; a dilate job then made v1; the app crashed. Restoring in place
    would silently replace v1's dilation: the banner says so and offers Keep both or Discard."""
    from backend.jobs.queue import JobStore
    from backend.jobs.runner import run_job

    image_id = demo_ws.image_ids()[2]
    ed = make_editor(state, qtbot, image_id)
    ed.paint_stroke([(3, 3), (12, 12)])
    edited = ed.session.mask.copy()
    assert ed.autosave_all() == 1
    job = JobStore(demo_ws).enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 2}, "images": [image_id]})
    assert run_job(demo_ws, job).status == "done"
    v1 = demo_ws.current_mask(image_id)
    v1_pixels = demo_ws.read_mask(v1).copy()
    assert v1.version == 1

    ed2 = make_editor(state, qtbot, image_id)  # the app restarts
    text = ed2.banner.label.text()
    assert not ed2.banner.isHidden()
    assert "made on v0" in text and "now v1 (dilate" in text
    assert ed2.banner.restore_btn.isHidden() and not ed2.banner.keep_both_btn.isHidden()
    ed2.banner.restore()  # refused while in conflict: nothing changes
    np.testing.assert_array_equal(ed2.session.mask, v1_pixels)
    ed2.banner.keep_both_btn.click()
    versions = demo_ws.mask_versions(image_id)
    assert [v.version for v in versions] == [0, 1, 2]
    v2 = versions[2]
    assert v2.operation == "recovered" and v2.parent_id == v1.id and v2.params["recovered_from"] == 0
    assert demo_ws.current_mask(image_id).id == v2.id
    np.testing.assert_array_equal(demo_ws.read_mask(v2) > 0, edited > 0)
    np.testing.assert_array_equal(demo_ws.read_mask(v1), v1_pixels)  # the newer work is kept
    np.testing.assert_array_equal(ed2.session.mask > 0, edited > 0)
    assert not ed2.session.dirty
    assert not any(p.exists() for p in recovery_paths(demo_ws, image_id))
    assert "v2  recovered" in ed2.versions.item(0).text()


def test_recovered_edit_in_conflict_can_be_discarded(state, qtbot, demo_ws):
    image_id = demo_ws.image_ids()[3]
    ed = make_editor(state, qtbot, image_id)
    ed.paint_stroke([(3, 3), (12, 12)])
    assert ed.autosave_all() == 1
    v1 = demo_ws.add_mask_version(image_id, np.zeros_like(ed.session.mask), "erode", {"pixels": 50})
    ed2 = make_editor(state, qtbot, image_id)
    assert "now v1 (erode" in ed2.banner.label.text()
    ed2.banner.discard()
    assert demo_ws.current_mask(image_id).id == v1.id and len(demo_ws.mask_versions(image_id)) == 2
    assert not any(p.exists() for p in recovery_paths(demo_ws, image_id))
