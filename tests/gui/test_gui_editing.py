"""Dataset tab and mask editor as users work in them: tool keys wherever the focus is, the
search selecting its match, what is shown about the image and the pointer, versions named by
what happened, preview before revert, undo across revert, polygon corners, preset dilation."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from backend.diffusion.registry import register_model


@pytest.fixture
def window(demo_ws, qtbot):
    from diffgen_gui.main_window import MainWindow

    w = MainWindow(demo_ws)
    w.ask_unsaved = lambda n: "discard"  # pytest-qt closes the window before this fixture's teardown
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(w.isActiveWindow)
    yield w
    w.close()


def _click_thumbnail(qtbot, dv, row: int) -> None:
    qtbot.waitUntil(lambda: dv.grid.visualRect(dv.model.index(row)).isValid())
    qtbot.mouseClick(dv.grid.viewport(), Qt.MouseButton.LeftButton, pos=dv.grid.visualRect(dv.model.index(row)).center())


def test_tool_keys_work_with_the_focus_in_the_thumbnail_grid(window, qtbot):
    dv = window.dataset_view
    _click_thumbnail(qtbot, dv, 2)
    assert dv.grid.hasFocus() and dv.editor.session.image_id == dv.model.rows[2].image_id
    for key, tool in (
        (Qt.Key.Key_F, "fill"),
        (Qt.Key.Key_B, "brush"),
        (Qt.Key.Key_P, "polygon"),
        (Qt.Key.Key_E, "eraser"),
        (Qt.Key.Key_H, "pan"),
    ):
        qtbot.keyClick(dv.grid, key)
        assert dv.editor.tool == tool
        assert dv.editor.status.tool_label.text().startswith(f"Tool: {tool.capitalize()}")
    qtbot.keyClick(dv.search, Qt.Key.Key_B)  # typing in the search box types
    assert dv.search.text() == "b" and dv.editor.tool == "pan"


def test_tool_keys_belong_to_the_dataset_tab(window, qtbot):
    ed = window.dataset_view.editor
    window.tabs.setCurrentWidget(window.review_view)
    qtbot.keyClick(window.review_view, Qt.Key.Key_F)
    assert ed.tool == "brush" and not ed.tool_actions["fill"].isEnabled()
    window.tabs.setCurrentWidget(window.dataset_view)
    assert ed.tool_actions["fill"].isEnabled()


def test_each_tool_has_its_own_cursor(state, qtbot):
    from diffgen_gui.mask_editor import MaskEditor

    ed = MaskEditor(state)
    qtbot.addWidget(ed)
    images = {}
    for tool in ("brush", "eraser", "polygon", "fill"):
        ed.set_tool(tool)
        images[tool] = ed.canvas.cursor().pixmap().toImage()
    assert all(not img.isNull() for img in images.values())
    assert len({bytes(img.constBits()) for img in images.values()}) == 4
    ed.set_tool("pan")
    assert ed.canvas.cursor().shape() == Qt.CursorShape.OpenHandCursor


def test_a_fill_over_most_of_the_frame_asks_first(window):
    ed = window.dataset_view.editor
    before = ed.session.mask.copy()
    assert before.mean() < 0.5 * 255
    asked = []
    ed.confirm = lambda title, text: asked.append(text) or False
    background = QPointF(*np.argwhere(before == 0)[0][::-1].astype(float))
    ed.set_tool("fill")
    ed._on_press(background, Qt.MouseButton.LeftButton)
    assert asked and "% of the image" in asked[0]
    np.testing.assert_array_equal(ed.session.mask, before)  # refused: nothing filled
    ed.confirm = lambda title, text: True
    assert ed.fill_at(background)
    assert (ed.session.mask > 0).mean() > 0.5


def test_search_selects_its_first_match_and_the_name_is_shown(window, demo_ws):
    dv = window.dataset_view
    dv.select_row(0)
    dv.search.setText("0007")
    assert [r.name for r in dv.model.rows] == ["demo_0007"]
    assert dv.editor.session.image_id == dv.model.rows[0].image_id
    rec = demo_ws.image(dv.model.rows[0].image_id)
    assert dv.editor.title.text().startswith(f"demo_0007 · {rec.width}×{rec.height} px · mask v0")
    dv.search.setText("no such image")
    assert dv.editor.session is None and dv.editor.canvas.image_size() == (0, 0)
    assert dv.editor.title.text() == "No image selected"
    dv.search.setText("")
    assert dv.editor.session is not None


def test_status_shows_zoom_pointer_and_pixel_values(window, qtbot, demo_ws):
    ed = window.dataset_view.editor
    c = ed.canvas
    ed.canvas.one_to_one()
    assert ed.status.zoom_label.text() == "100 %"
    image_id = ed.session.image_id
    rgb, mask = demo_ws.read_image(image_id), ed.session.mask
    y0, x0 = np.argwhere(mask > 0)[0]
    pos = QPointF((x0 + 0.5) * c.scale + c.offset.x(), (y0 + 0.5) * c.scale + c.offset.y()).toPoint()
    qtbot.mouseMove(c, pos)
    x, y = (int(np.floor((v - o) / c.scale)) for v, o in ((pos.x(), c.offset.x()), (pos.y(), c.offset.y())))
    r, g, b = rgb[y, x]
    assert ed.status.pixel_label.text() == f"x {x}, y {y} · RGB {r} {g} {b} · mask {mask[y, x]}"
    window.dataset_view.step(+1)  # another image: no pixel value of the last one stays
    assert ed.session.image_id != image_id and ed.status.pixel_label.text() == ""


def test_the_hint_is_elided_beside_the_pixel_value_not_cut_under_it(window, qtbot):
    """A status bar message is cut off mid-word where the permanent labels begin ("(F1: everyx 20")."""
    ed = window.dataset_view.editor
    ed.set_tool("polygon")
    ed.status.pixel_label.setText("x 40, y 36 · RGB 155 92 59 · mask 0")
    window.resize(1000, window.height())
    qtbot.waitUntil(lambda: ed.status.hint.width() < ed.status.hint.fontMetrics().horizontalAdvance(ed.status.hint.text()))
    shown = ed.status.hint.elided()
    assert shown.startswith("Click the corn") and "…" in shown and ed.status.hint.toolTip() == ed.status.hint.text()
    hint = ed.status.hint.geometry()
    assert hint.right() < ed.status.pixel_label.geometry().left(), (hint, ed.status.pixel_label.geometry())


def test_brightness_and_contrast_change_the_view_only(window, demo_ws):
    ed = window.dataset_view.editor
    image_id = ed.session.image_id
    source = demo_ws.read_image(image_id).copy()
    mask = ed.session.mask.copy()

    def shown():
        img = ed.canvas._image.convertToFormat(ed.canvas._image.Format.Format_RGB888)
        rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
        return rows[:, : img.width() * 3].copy()  # the converted image is freed on return

    plain = shown().astype(int)
    ed.view_box.brightness.setValue(50)
    assert (shown().astype(int) >= plain).all() and (shown().astype(int) > plain).any()
    ed.view_box.contrast.setValue(200)
    ed.view_box.reset()
    np.testing.assert_array_equal(shown(), plain)
    np.testing.assert_array_equal(demo_ws.read_image(image_id), source)
    np.testing.assert_array_equal(ed.session.mask, mask)


def test_versions_are_named_previewed_and_revert_can_be_undone(window, demo_ws):
    ed = window.dataset_view.editor
    image_id = ed.session.image_id
    v0 = demo_ws.current_mask(image_id)
    ed.size_spin.setValue(3)
    ed.paint_stroke([(5, 5), (25, 5)])
    painted = int(np.count_nonzero(ed.session.mask != demo_ws.read_mask(v0)))
    ed.op_combo.setCurrentText("Dilate")
    ed.op_value.setValue(2)
    ed.apply_operation()
    edited = ed.session.mask.copy()
    ed.save()
    # issue 35: "brush 9 px, dilate 6 px" beside a brush field of 8 px: each number says what it is
    assert ed.versions.item(0).text().startswith(f"v1  brush {painted:,} px changed, dilate by 2 px")
    ed.set_tool("brush")
    assert ed.size_spin.text() == "radius 3 px" and ed.status.tool_label.text() == "Tool: Brush, radius 3 px"
    ed.versions.setCurrentRow(1)  # v0: previewed over the current mask
    np.testing.assert_array_equal(ed.canvas.preview_mask, demo_ws.read_mask(v0))
    np.testing.assert_array_equal(ed.session.mask, edited)
    assert ed.revert_btn.isEnabled()
    ed.revert_selected()
    assert demo_ws.current_mask(image_id).id == v0.id
    np.testing.assert_array_equal(ed.session.mask, demo_ws.read_mask(v0))
    assert ed.session.history_labels()[-1] == "revert to v0" and not ed.session.dirty
    ed.undo()
    np.testing.assert_array_equal(ed.session.mask, edited)
    assert ed.session.dirty and "unsaved edits" in ed.title.text()


def test_dilation_starts_at_the_workspace_preset(state, qtbot, demo_ws):
    from diffgen_gui.mask_editor import MaskEditor

    def default():
        ed = MaskEditor(state)
        qtbot.addWidget(ed)
        ed.op_combo.setCurrentText("Dilate")
        return ed.op_value.value()

    assert default() == 20  # no model yet: the paper's
    register_model(demo_ws, "tiny-full", "full", "tiny", {}, demo_ws.path("models/t"))
    assert default() == 3  # the tiny preset the workspace's model was trained with


def test_an_untouched_dilation_follows_the_first_model(state, qtbot, demo_ws):
    from diffgen_gui.mask_editor import MaskEditor

    shown, typed = MaskEditor(state), MaskEditor(state)
    for ed in (shown, typed):
        qtbot.addWidget(ed)
        ed.op_combo.setCurrentText("Dilate")
        assert ed.op_value.value() == 20  # no model yet: the paper's
    typed.op_value.setValue(7)
    register_model(demo_ws, "tiny-full", "full", "tiny", {}, demo_ws.path("models/t"))
    state.modelsChanged.emit()  # what the queue says when a training job ends
    assert shown.op_value.value() == 3 and typed.op_value.value() == 7  # a value the user chose stays


def test_polygon_corners_can_be_moved_after_closing(window, qtbot):
    from backend.masks import ops as masks

    ed = window.dataset_view.editor
    ed.session.apply(np.zeros_like(ed.session.mask), "clear")
    ed.canvas.one_to_one()
    ed.set_tool("polygon")
    corners = [(10, 10), (30, 10), (30, 30), (10, 30)]
    for x, y in corners:
        ed._on_press(QPointF(x, y), Qt.MouseButton.LeftButton)
    qtbot.keyClick(ed, Qt.Key.Key_Return)
    n_steps = len(ed.session.history_labels())
    assert len(ed.canvas.handles) == 4
    ed._on_press(QPointF(31, 31), Qt.MouseButton.LeftButton)  # grab the corner at (30, 30)
    ed._on_drag(QPointF(45, 50))
    ed._on_release(QPointF(45, 50))
    moved = [(10, 10), (30, 10), (45, 50), (10, 30)]
    expected = masks.fill_polygon(np.zeros_like(ed.session.mask), moved)
    np.testing.assert_array_equal(ed.session.mask, expected)
    assert len(ed.session.history_labels()) == n_steps  # the polygon step was replaced, not stacked
    ed.undo()
    np.testing.assert_array_equal(ed.session.mask, 0)
    assert ed.canvas.handles == []  # undone: nothing left to move
