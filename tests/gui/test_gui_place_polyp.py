"""The mask editor's Place polyp tool (issue 34): shapes drawn by mouse, moved, scaled and turned
by keys and drags (checked against hand-computed coordinates), the stored wanted mask, the queued
``synthesize`` job, the refusals; Review's outline of a sample's wanted mask."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from synth_child import register

from backend.io.images import read_png_fast
from backend.jobs import queue as jobs
from backend.jobs.queue import JobStore
from backend.synthesis.wanted import drawn_paths

SYNTH_CHILD = [sys.executable, str(Path(__file__).with_name("synth_child.py"))]
NONE = Qt.KeyboardModifier.NoModifier


def make_editor(state, qtbot, queue=None):
    from diffgen_gui.mask_editor import MaskEditor

    ed = MaskEditor(state)
    qtbot.addWidget(ed)
    ed.resize(1000, 700)
    ed.show()
    ed.load(state.workspace.image_ids()[0])
    ed.canvas.fit()
    ed.place.queue = queue
    qtbot.keyClick(ed, Qt.Key.Key_G)  # the tool's key
    assert ed.tool == "place"
    return ed


def widget_at(canvas, x: float, y: float) -> QPointF:
    """The widget position of image point (x, y) (pixel centres at integers)."""
    return canvas.offset + QPointF(x + 0.5, y + 0.5) * canvas.scale


def mouse_drag(canvas, points, modifiers=NONE) -> None:
    """A left-button drag through image points, as real mouse events with ``modifiers`` held."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    pts = [widget_at(canvas, x, y) for x, y in points]

    def send(kind, p, button, buttons):
        QApplication.sendEvent(canvas, QMouseEvent(kind, p, canvas.mapToGlobal(p), button, buttons, modifiers))

    send(QEvent.Type.MouseButtonPress, pts[0], left, left)
    for p in pts[1:]:
        send(QEvent.Type.MouseMove, p, none, left)
    send(QEvent.Type.MouseButtonRelease, pts[-1], left, none)


def choose_shape(ed, kind: str) -> None:
    ed.place.kind.setCurrentIndex(ed.place.kind.findData(kind))


class StoreQueue:
    """The queue's enqueue without a worker: the job stays queued to be read back."""

    def __init__(self, ws):
        self.store = JobStore(ws)

    def enqueue(self, kind, params):
        return self.store.enqueue(kind, params)


def test_polygon_drawn_then_moved_scaled_turned_by_keys(state, qtbot):
    ed = make_editor(state, qtbot)
    choose_shape(ed, "polygon")
    for x, y in [(20, 20), (40, 20), (40, 30), (20, 30)]:  # a 20 x 10 box about (30, 25)
        mouse_drag(ed.canvas, [(x, y)])
    qtbot.keyClick(ed, Qt.Key.Key_Return)
    s = ed.place.shape
    assert s is not None and s.kind == "polygon" and s.centre == pytest.approx((30, 25))
    assert "PgUp/PgDn scale" in ed.status.hint.text() and "Ctrl+drag move" in ed.status.hint.text()
    qtbot.keyClick(ed, Qt.Key.Key_Right)
    qtbot.keyClick(ed, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)  # 10 px
    assert ed.place.shape.centre == pytest.approx((31, 35))
    qtbot.keyClick(ed, Qt.Key.Key_PageUp)
    assert ed.place.shape.scale == pytest.approx(1.1)
    qtbot.keyClick(ed, Qt.Key.Key_PageDown)
    for _ in range(18):  # 18 x 5 degrees: a quarter turn clockwise
        qtbot.keyClick(ed, Qt.Key.Key_Period)
    # the 20 x 10 box stood up: corner (-10, -5) -> (5, -10) about (31, 35)
    corners = ed.place.shape.image_strokes()[0]
    assert corners[0] == pytest.approx((36, 25)) and corners[2] == pytest.approx((26, 45))
    shown = ed.canvas.wanted_mask
    ys, xs = np.nonzero(shown)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (26, 36, 25, 45)  # what the canvas shows is the shape
    assert ed.session.dirty is False and not ed.session.can_undo()  # the image's own mask was not touched


def test_ellipse_and_brush_by_mouse_move_and_turn_by_drags(state, qtbot):
    ed = make_editor(state, qtbot)
    choose_shape(ed, "ellipse")
    mouse_drag(ed.canvas, [(10, 20), (20, 25), (30, 30)])  # box 20 x 10 about (20, 25)
    e = ed.place.shape
    assert e.kind == "ellipse" and e.centre == pytest.approx((20, 25))
    mouse_drag(ed.canvas, [(20, 25), (25, 30), (30, 35)], Qt.KeyboardModifier.ControlModifier)  # move by (10, 10)
    assert ed.place.shape.centre == pytest.approx((30, 35))
    # Shift+drag from 10 px right of the centre to 20 px below it: twice as large, a quarter turn
    mouse_drag(ed.canvas, [(40, 35), (35, 50), (30, 55)], Qt.KeyboardModifier.ShiftModifier)
    t = ed.place.shape
    assert t.scale == pytest.approx(2.0) and t.angle == pytest.approx(90.0) and t.centre == pytest.approx((30, 35))
    xs = [p[0] for p in t.image_strokes()[0]]
    assert min(xs) == pytest.approx(20, abs=0.05) and max(xs) == pytest.approx(40, abs=0.05)  # 2 x b = 10 each side
    qtbot.keyClick(ed, Qt.Key.Key_Delete)
    assert ed.place.shape is None and ed.canvas.wanted_mask is None
    assert ed.canvas.brush_radius == 0  # no brush circle while an ellipse is drawn
    choose_shape(ed, "brush")
    ed.size_spin.setValue(3)
    assert ed.canvas.brush_radius == 3  # the circle shows the brush's size
    mouse_drag(ed.canvas, [(10, 10), (20, 10)])
    mouse_drag(ed.canvas, [(10, 20), (20, 20)])  # a second stroke adds to the brush shape
    b = ed.place.shape
    assert b.kind == "brush" and len(b.strokes) == 2 and b.radius == 3
    m = ed.canvas.wanted_mask
    assert m[10, 15] == 255 and m[20, 15] == 255 and m[15, 15] == 0 and m[10, 24] == 0


def test_queue_stores_the_wanted_mask_and_queues_synthesize(state, qtbot, demo_ws):
    q = StoreQueue(demo_ws)
    ed = make_editor(state, qtbot, q)
    image_id = ed.session.image_id
    history = [mv.id for mv in demo_ws.mask_versions(image_id)]
    choose_shape(ed, "polygon")
    for x, y in [(20, 20), (40, 20), (40, 30), (20, 30)]:
        mouse_drag(ed.canvas, [(x, y)])
    ed.canvas.doubleClicked.emit(QPointF(20, 30))  # a double-click closes the polygon
    ed.place.samples.setValue(3)
    assert ed.place.queue_btn.text() == "Queue 3 samples"
    ed.place.queue_btn.click()
    (path,) = drawn_paths(demo_ws, image_id)
    expected = np.zeros((64, 64), np.uint8)
    expected[20:31, 20:41] = 255  # the polygon's pixels, edges included
    np.testing.assert_array_equal(read_png_fast(path, grey=True), expected)
    (job,) = q.store.list()
    assert job.kind == "synthesize" and job.status == "queued"
    assert job.params["masks"] == [str(path)] and job.params["images"] == [image_id] and job.params["samples"] == 3
    assert f"Queued job {job.id}: 3 samples" in ed.place.message.text()
    assert [mv.id for mv in demo_ws.mask_versions(image_id)] == history  # a request, not a new mask version
    assert not ed.session.dirty


def test_refusals_store_and_queue_nothing(state, qtbot, demo_ws):
    q = StoreQueue(demo_ws)
    ed = make_editor(state, qtbot, q)
    image_id = ed.session.image_id
    ed.place.queue_btn.click()
    assert ed.place.message.text().startswith("Not queued: no polyp shape drawn yet")
    choose_shape(ed, "ellipse")
    mouse_drag(ed.canvas, [(10, 10), (20, 20)])
    for _ in range(10):
        qtbot.keyClick(ed, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # 100 px: off the 64 px image
    ed.place.queue_btn.click()
    assert "lies outside the image (64×64 px): move it onto the image" in ed.place.message.text()
    assert "lies outside the image" in ed.status.hint.text()
    for _ in range(5):
        qtbot.keyClick(ed, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)  # x 60 to 70: the edge cuts it
    ed.place.queue_btn.click()
    assert "part of the drawn shape lies outside the image" in ed.place.message.text()
    state.set_role([image_id], "test")
    for _ in range(3):
        qtbot.keyClick(ed, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    ed.place.queue_btn.click()
    assert f"image {image_id} (" in ed.place.message.text() and "is a held-out test image" in ed.place.message.text()
    assert drawn_paths(demo_ws, image_id) == [] and q.store.list() == []


def test_review_outlines_the_wanted_mask_of_a_sample(state, qtbot, demo_ws):
    from diffgen_gui.review_view import ReviewView

    image_id = demo_ws.image_ids()[0]
    rec = demo_ws.image(image_id)
    wanted = np.zeros((64, 64), np.uint8)
    wanted[10:20, 30:50] = 255
    from backend.synthesis.wanted import save_drawn

    path = save_drawn(demo_ws, image_id, wanted, (64, 64))
    rel = path.relative_to(demo_ws.root).as_posix()
    rgb = demo_ws.read_image(rec)
    s = demo_ws.add_sample("synthesized", "Mask-Diff", rgb, wanted, source_image_id=image_id, params={"wanted_mask": rel})
    plain = demo_ws.add_sample("inpainted", "Diff", rgb, wanted, source_image_id=image_id)
    v = ReviewView(state)
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    tiles = {t.sample_id: t for t in v.tiles}
    np.testing.assert_array_equal(tiles[s.id].canvas.wanted_mask, wanted)
    assert "Wanted mask (dashed): placed by the user with Place polyp" in tiles[s.id].label.text()
    assert tiles[plain.id].canvas.wanted_mask is None and "Wanted" not in tiles[plain.id].label.text()
    v.go_to(s.id)
    qtbot.keyClick(v, Qt.Key.Key_Space)  # the large view
    assert v.viewer.isVisible() and "Wanted mask (dashed): placed by the user" in v.viewer.title.text()
    shown = v.viewer.rendered["sample"]
    # the dashed outline just outside the wanted box: black or white pixels on its border ring
    ring = shown[9, 30:50]
    assert all(tuple(px) in ((0, 0, 0), (255, 255, 255)) for px in ring), ring
    assert (ring == 255).all(axis=1).any() and (ring == 0).all(axis=1).any()  # dashes of both colours
    qtbot.keyClick(v.viewer, Qt.Key.Key_O)  # overlay -> mask: the outline stays
    assert tuple(v.viewer.rendered["sample"][9, 30]) in ((0, 0, 0), (255, 255, 255))


def test_a_wanted_mask_path_outside_the_workspace_is_said_not_read(state, qtbot, demo_ws):
    from diffgen_gui.review_view import ReviewView

    image_id = demo_ws.image_ids()[0]
    rgb = demo_ws.read_image(image_id)
    mask = np.zeros((64, 64), np.uint8)
    s = demo_ws.add_sample(
        "synthesized", "Mask-Diff", rgb, mask, source_image_id=image_id, params={"wanted_mask": "../../etc/passwd"}
    )
    v = ReviewView(state)
    qtbot.addWidget(v)
    v.show()
    (tile,) = [t for t in v.tiles if t.sample_id == s.id]
    assert tile.canvas.wanted_mask is None
    assert "Wanted mask not shown" in tile.label.text() and "outside the workspace" in tile.label.text()


def test_placed_polyp_runs_through_the_app_queue_into_review(state, qtbot, demo_ws, qapp, monkeypatch):
    """The real JobQueue and worker with a stand-in generator in the job's child process."""
    from diffgen_gui.review_view import ReviewView
    from diffgen_gui.worker import JobQueue

    for kind, spec in register("synth_child").items():
        monkeypatch.setitem(jobs.REGISTRY, kind, spec)
    q = JobQueue(demo_ws, launcher=SYNTH_CHILD)
    try:
        ed = make_editor(state, qtbot, q)
        choose_shape(ed, "ellipse")
        mouse_drag(ed.canvas, [(16, 16), (40, 36)])
        ed.place.samples.setValue(2)
        with qtbot.waitSignal(q.finished, timeout=60000) as blocker:
            job_id = ed.place.queue_samples()
        assert blocker.args[:2] == [job_id, "done"], blocker.args
        samples = demo_ws.samples()
        assert len(samples) == 2 and all(s.params["wanted_mask"].startswith("wanted/image-") for s in samples)
        v = ReviewView(state)
        qtbot.addWidget(v)
        v.show()
        assert all(t.canvas.wanted_mask is not None for t in v.tiles if t.sample_id is not None)
    finally:
        assert q.shutdown(10000)


def test_the_place_polyp_panel_fits_a_1024_by_700_screen_uncut(window, qtbot):
    """Its panel takes the place of the mask operations and the flag (which act on the image's
    own mask): with all of them the side column was 729 px tall, more than a 700 px screen."""
    from PySide6.QtCore import QSize
    from test_screenshots import cut_widgets

    ed = window.dataset_view.editor
    window.resize(QSize(1024, 660))
    window.dataset_view.select_row(0)
    qtbot.waitUntil(lambda: ed.session is not None)
    ed.set_tool("place")
    qtbot.wait(50)
    assert ed.place.box.isVisible() and not any(box.isVisible() for box in ed.mask_boxes)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 660, hint
    assert not cut_widgets(window)
    ed.set_tool("brush")
    assert not ed.place.box.isVisible() and all(box.isVisible() for box in ed.mask_boxes)
