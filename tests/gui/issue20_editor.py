"""The issue-20 walk through the mask editor: tools and keys, search and the status bar,
versions, the polygon tool and the menus (steps of :mod:`walk_issue20`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from issue20_support import answer_box, at, reactivate, shot, wait


def editor_tools(j) -> Iterator:
    """Tool keys after clicking a thumbnail; the tool in the cursor and status bar; a big fill asks."""
    from journey_hook import click, key
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    w = j.win
    dv = w.dataset_view
    ed = dv.editor
    w.tabs.setCurrentWidget(dv)
    yield wait("thumbnails laid out", lambda: dv.grid.visualRect(dv.model.index(1, 0)).isValid())
    since = time.monotonic()
    w.activateWindow()
    yield wait("the window active", lambda: w.isActiveWindow() or time.monotonic() - since > 3, 5)
    assert w.isActiveWindow(), "Xvfb gave the window no focus: the window-level keys cannot be tried"
    click(dv.grid.viewport(), dv.grid.visualRect(dv.model.index(1, 0)).center())
    yield wait("the clicked image open", lambda: ed.session is not None and ed.session.image_id == dv.model.rows[1].image_id)
    assert dv.grid.hasFocus()
    letters = {"brush": Qt.Key.Key_B, "eraser": Qt.Key.Key_E, "polygon": Qt.Key.Key_P, "pan": Qt.Key.Key_H, "fill": Qt.Key.Key_F}
    for tool, k in letters.items():
        key(dv.grid, k)  # the focus stays in the grid
        assert ed.tool == tool, (tool, ed.tool)
        assert ed.status.tool_label.text().startswith("Tool: " + tool.capitalize()), ed.status.tool_label.text()
        assert ed.canvas.cursor().pixmap().cacheKey() == ed.cursors[tool].pixmap().cacheKey() or tool == "pan"
    yield shot("tool-fill-by-key")
    mask = ed.session.mask
    ys, xs = (mask == 0).nonzero()
    before = mask.copy()
    answer_box(j, "fill-asks-first", QMessageBox.StandardButton.No)
    click(ed.canvas, at(ed.canvas, int(xs[0]), int(ys[0])))  # the background around the polyp
    assert j.asked and "Fill" in j.asked[-1], j.asked
    assert (ed.session.mask == before).all(), "a refused fill changed the mask"
    yield from reactivate(j)
    key(dv.grid, Qt.Key.Key_B)
    assert ed.tool == "brush"


def editor_search_and_status(j) -> Iterator:
    """Search selects its first match and the name shows above the canvas; zoom, coordinates,
    pixel value; brightness / contrast of the view only."""
    from journey_hook import key
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    w = j.win
    dv = w.dataset_view
    ed = dv.editor
    target = dv.model.rows[3]
    QTest.keyClicks(dv.search, target.name)
    yield wait("the match selected", lambda: ed.session is not None and ed.session.image_id == target.image_id)
    rec = w.workspace.image(target.image_id)
    title = ed.title.text()
    assert target.name in title and f"{rec.width}×{rec.height}" in title and "mask v0" in title, title
    assert len(dv.model.rows) == 1 and dv.grid.currentIndex().row() == 0
    yield shot("search-selects-match")
    key(ed.canvas, Qt.Key.Key_1)
    assert ed.status.zoom_label.text() == "100 %", ed.status.zoom_label.text()
    key(ed.canvas, Qt.Key.Key_0)  # fit again
    assert ed.status.zoom_label.text().endswith(" %") and ed.status.zoom_label.text() != "100 %"
    x, y = 20, 30
    QTest.mouseMove(ed.canvas, at(ed.canvas, x, y))
    yield wait("the pixel under the mouse shown", lambda: ed.status.pixel_label.text().startswith(f"x {x}, y {y}"))
    rgb = w.workspace.read_image(target.image_id)[y, x]
    want = f"x {x}, y {y} · RGB {rgb[0]} {rgb[1]} {rgb[2]} · mask {int(ed.session.mask[y, x])}"
    assert ed.status.pixel_label.text() == want, (ed.status.pixel_label.text(), want)
    slider = ed.view_box.brightness
    QTest.mouseClick(
        slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(slider.width() - 3, slider.height() // 2)
    )
    yield wait("brighter view", lambda: ed.canvas.brightness > 0)
    assert (ed._rgb == w.workspace.read_image(target.image_id)).all(), "the view setting changed the data"
    yield shot("status-bar-and-brightness")
    ed.view_box.reset()
    dv.search.clear()
    yield wait("every image listed again", lambda: len(dv.model.rows) == 6)
    assert ed.session.image_id == target.image_id


def editor_versions(j) -> Iterator:
    """Versions named by what happened; the Dilate default from the preset; preview; revert undoable."""
    from journey_hook import choose, click, drag, key
    from PySide6.QtCore import QPointF, Qt

    from backend.config.presets import load_preset
    from backend.workspace import queries

    w = j.win
    dv = w.dataset_view
    ed = dv.editor
    ws = w.workspace
    image_id = ed.session.image_id
    h, wd = ed.session.mask.shape
    m = ed.canvas._transform()
    drag(ed.canvas, [m.map(QPointF(wd * f, h * 0.15)) for f in (0.1, 0.3, 0.5)])
    key(dv.grid, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    yield wait("v1 saved", lambda: len(ws.mask_versions(image_id)) == 2)
    choose(ed.op_combo, text="Dilate")
    preset = queries.default_preset(ws)
    want = int(load_preset(preset)["inpaint"]["dilate"])
    assert ed.op_value.value() == want, (ed.op_value.value(), preset, want)
    click(ed.apply_btn)
    key(dv.grid, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    yield wait("v2 saved", lambda: len(ws.mask_versions(image_id)) == 3)
    texts = [ed.versions.item(i).text() for i in range(ed.versions.count())]
    assert re.match(r"v2  dilate by \d+ px", texts[0]) and re.match(r"v1  brush [\d,]+ px changed", texts[1]), texts
    yield shot("versions-labelled")
    v2 = ed.session.mask.copy()
    v0 = ws.mask_versions(image_id)[0]
    item = ed.versions.item(2)
    click(ed.versions.viewport(), ed.versions.visualItemRect(item).center())
    yield wait("v0 previewed over the current mask", lambda: ed.canvas.preview_mask is not None)
    assert (ed.canvas.preview_mask == ws.read_mask(v0.id)).all()
    assert "Previewing v0" in ed.status.hint.text(), ed.status.hint.text()
    yield shot("version-preview")
    click(ed.revert_btn)
    assert ws.image(image_id).current_mask_id == v0.id
    assert (ed.session.mask == ws.read_mask(v0.id)).all()
    key(dv.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (ed.session.mask == v2).all(), "undo after a revert did not bring the pixels back"
    yield shot("revert-undone")
    key(dv.grid, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert (ed.session.mask == ws.read_mask(v0.id)).all() and not ed.session.dirty


def editor_polygon_and_menus(j) -> Iterator:
    """Polygon corners editable after closing; the Edit menu; Help > Keyboard shortcuts (F1)."""
    from journey_hook import click, drag, key
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtWidgets import QApplication

    w = j.win
    dv = w.dataset_view
    ed = dv.editor
    key(dv.grid, Qt.Key.Key_P)
    corners = [(4, 4), (24, 4), (24, 20), (4, 20)]
    for x, y in corners:
        click(ed.canvas, at(ed.canvas, x, y))
    key(ed.canvas, Qt.Key.Key_Return)
    assert len(ed.canvas.handles) == 4, ed.canvas.handles
    closed = ed.session.mask.copy()
    assert closed[12, 14] > 0
    yield shot("polygon-closed")
    drag(ed.canvas, [QPointF(at(ed.canvas, 24, 20)), QPointF(at(ed.canvas, 40, 36))])
    assert ed.session.mask[30, 30] > 0 and not (ed.session.mask == closed).all(), "the corner did not move"
    assert ed.session.can_undo()
    yield shot("polygon-corner-moved")
    menu = {a.text().replace("&", "") for a in w.edit_menu.actions() if a.text()}
    assert {"Undo", "Redo", "Save Mask Version", "Brush", "Eraser", "Polygon", "Fill", "Pan"} <= menu, menu
    key(dv.grid, Qt.Key.Key_F1)
    yield wait(
        "the shortcuts dialog", lambda: getattr(w, "shortcuts_dialog", None) is not None and w.shortcuts_dialog.isVisible()
    )
    t = w.shortcuts_dialog.table
    rows = [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]
    wheres = {r[0] for r in rows}
    assert {"Dataset", "Review", "Survey rater", "Edit menu", "File menu", "View menu"} <= wheres, wheres
    assert ("Edit menu", "B", "Brush") in rows and any(r[1] == "PgDn / PgUp" for r in rows), rows
    yield shot("help-keyboard-shortcuts")
    w.shortcuts_dialog.close()
    yield from reactivate(j)
    key(dv.grid, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # keep the polygon
    QApplication.processEvents()
