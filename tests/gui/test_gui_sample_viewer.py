"""Review's large view: Space / double-click opens the selected sample beside its source, one zoom
and pan for both, decisions through the review view's own decide, overlay keys, back to the grid."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from diffgen_gui.overlay import SAMPLE_OUTLINE, SOURCE_OUTLINE, OverlayStyle, fit_to_frame


def _half_size_samples(ws):
    """Two samples of each of the first two images, made at half size (as a model at a lower
    resolution makes them) with the mask moved by a few pixels."""
    out = {}
    for i in ws.image_ids()[:2]:
        img, mask = ws.read_image(i)[::2, ::2], ws.read_mask(ws.current_mask(i))[::2, ::2]
        out[i] = [
            ws.add_sample(
                "inpainted", "Half", np.roll(img, k, 1).copy(), np.roll(mask, 3 + k, 0).copy(), source_image_id=i, seed=k
            )
            for k in range(2)
        ]
    return out


def _pixels(widget) -> np.ndarray:
    """The widget as painted, RGB."""
    from PySide6.QtGui import QImage

    im = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(im.constBits(), np.uint8).reshape(im.height(), im.bytesPerLine())
    return rows[:, : im.width() * 3].reshape(im.height(), im.width(), 3).copy()


def _review(state, qtbot, demo_ws):
    from diffgen_gui.review_view import ReviewView

    made = _half_size_samples(demo_ws)
    v = ReviewView(state)
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.show()
    v.activateWindow()
    qtbot.waitExposed(v)
    qtbot.waitUntil(v.isActiveWindow)
    return v, made


def test_space_opens_the_selected_sample_beside_its_source(state, qtbot, demo_ws):
    v, made = _review(state, qtbot, demo_ws)
    a = next(iter(made))
    s = made[a][1]
    v.focus(s.id)
    assert not v.viewer.isVisible() and QApplication.focusWidget() is v
    qtbot.keyClick(v, Qt.Key.Key_Space)
    viewer = v.viewer
    assert viewer.isVisible() and viewer.sample_id == s.id and QApplication.focusWidget() is viewer
    assert viewer.geometry() == v.rect()  # the whole view, not a tile
    assert viewer.source.width() > 400 and abs(viewer.source.width() - viewer.sample.width()) <= 1
    viewer.bar.flip()
    viewer.bar.flip()
    assert viewer.style_.mode == "image"  # the raw pictures: the source's and the sample's own
    rec = demo_ws.image(a)
    assert np.array_equal(viewer.rendered["source"], demo_ws.read_image(a))
    assert np.array_equal(viewer.rendered["sample"], fit_to_frame(*demo_ws.read_sample(s.id), (rec.width, rec.height))[0])
    assert f"#{s.id}" in viewer.title.text() and rec.name in viewer.title.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible() and QApplication.focusWidget() is v  # back to the grid's keys
    qtbot.keyClick(v, Qt.Key.Key_Space)
    assert viewer.isVisible()
    qtbot.keyClick(viewer, Qt.Key.Key_Space)  # Space closes too
    assert not viewer.isVisible()


def test_double_click_on_a_tile_opens_it(state, qtbot, demo_ws):
    v, made = _review(state, qtbot, demo_ws)
    tile = next(t for t in v.tiles if t.sample_id == made[next(iter(made))][1].id)
    centre = tile.canvas.rect().center()
    qtbot.mouseClick(tile.canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(tile.canvas, Qt.MouseButton.LeftButton, pos=centre)
    assert v.viewer.isVisible() and v.viewer.sample_id == tile.sample_id


def test_zoom_and_pan_move_both_pictures(state, qtbot, demo_ws):
    v, made = _review(state, qtbot, demo_ws)
    v.viewer.open(made[next(iter(made))][0].id)
    src, smp = v.viewer.source, v.viewer.sample
    assert smp._transform() == src._transform()  # fitted alike
    fitted = src.scale
    src.zoom_by(2.0)
    assert smp._transform() == src._transform() and smp.scale == 2 * fitted
    start = smp.rect().center()  # a right-drag pans the sample; the source follows
    qtbot.mousePress(smp, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(smp, start + QPoint(37, -21))
    qtbot.mouseRelease(smp, Qt.MouseButton.RightButton, pos=start + QPoint(37, -21))
    assert smp._transform() == src._transform()
    before = src.offset
    qtbot.keyClick(v.viewer, Qt.Key.Key_Plus)
    assert src.scale == smp.scale and src.offset != before and smp.offset == src.offset


def test_decision_keys_decide_through_the_review_view_and_show_the_next(state, qtbot, demo_ws, monkeypatch):
    v, made = _review(state, qtbot, demo_ws)
    a, b = list(made)
    calls = []
    decide = v.decide
    monkeypatch.setattr(v, "decide", lambda d, **kw: (calls.append(d), decide(d, **kw)))
    v.focus(made[a][0].id)
    qtbot.keyClick(v, Qt.Key.Key_Space)
    qtbot.keyClick(v.viewer, Qt.Key.Key_K)
    assert calls == ["keep"] and demo_ws.review(made[a][0].id)[0] == "keep"
    assert v.viewer.title.text().startswith(f"#{made[a][0].id}: keep · now ")  # what the key did stays in sight
    assert v.viewer.isVisible() and v.viewer.sample_id == v.focus_sample == made[a][1].id
    qtbot.keyClick(v.viewer, Qt.Key.Key_R)
    assert demo_ws.review(made[a][1].id)[0] == "reject" and v.viewer.sample_id == v.focus_sample
    assert f"decision: {demo_ws.review(v.viewer.sample_id)[0]}" in v.viewer.title.text()
    qtbot.keyClick(v.viewer, Qt.Key.Key_N)  # the review view's own next undecided, across images
    assert v.viewer.sample_id == v.focus_sample and v.focus_sample in {s.id for s in made[b]}
    qtbot.keyClick(v.viewer, Qt.Key.Key_U)
    assert calls == ["keep", "reject", "undecided"] and v.viewer.sample_id == v.focus_sample


def test_overlay_keys_flip_the_mode_and_show_the_outlines_with_a_legend(state, qtbot, demo_ws):
    v, made = _review(state, qtbot, demo_ws)
    s = made[next(iter(made))][0]
    v.viewer.open(s.id)
    modes = []
    for _ in range(3):
        modes.append(v.viewer.style_.mode)
        qtbot.keyClick(v.viewer, Qt.Key.Key_O)
    assert modes == ["overlay", "mask", "image"] and v.viewer.style_.mode == "overlay"
    qtbot.keyClick(v.viewer, Qt.Key.Key_O)
    rec = demo_ws.image(s.source_image_id)
    _rgb, mask = fit_to_frame(*demo_ws.read_sample(s.id), (rec.width, rec.height))
    shown = v.viewer.rendered["sample"]
    assert set(np.unique(shown)) <= {0, 255} and np.array_equal(shown[..., 0] > 0, mask > 0)  # mask mode
    v.viewer.bar.opacity.setValue(70)
    assert v.viewer.style_ == OverlayStyle(mode="mask", opacity=0.7)
    assert "rgb(0, 170, 255)" not in v.viewer.bar.legend.text()
    qtbot.keyClick(v.viewer, Qt.Key.Key_L)
    assert v.viewer.bar.outlines.isChecked()
    legend = v.viewer.bar.legend.text()
    assert f"rgb{SOURCE_OUTLINE}" in legend and "source" in legend and f"rgb{SAMPLE_OUTLINE}" in legend
    for pane in ("source", "sample"):
        assert np.all(v.viewer.rendered[pane] == SAMPLE_OUTLINE, axis=2).any()
        assert np.all(v.viewer.rendered[pane] == SOURCE_OUTLINE, axis=2).any()


def test_the_grid_follows_the_overlay_keys_and_opacity(state, qtbot, demo_ws):
    from diffgen_gui.widgets.image_canvas import ImageCanvas

    v, _made = _review(state, qtbot, demo_ws)
    assert {t.canvas.mode for t in v.tiles} == {"contour"}  # the grid's default is unchanged
    seen = []
    for _ in range(3):
        qtbot.keyClick(v, Qt.Key.Key_O)
        seen.append({t.canvas.mode for t in v.tiles})
    assert seen == [{"mask"}, {"image"}, {"fill"}] and v.mode.currentData() == "fill"
    qtbot.keyClick(v, Qt.Key.Key_L)
    assert {t.canvas.mode for t in v.tiles} == {"fill"} and {t.canvas.outlines for t in v.tiles} == {True}
    tile = v.tiles[1]
    with_line = _pixels(tile.canvas)
    qtbot.keyClick(v, Qt.Key.Key_L)
    assert {t.canvas.outlines for t in v.tiles} == {False} and not np.array_equal(_pixels(tile.canvas), with_line)
    v.viewer.bar.opacity.setValue(90)
    assert {t.canvas.opacity for t in v.tiles} == {0.9}
    v.step_source(1)  # new tiles keep it
    assert {t.canvas.mode for t in v.tiles} == {"fill"} and {t.canvas.opacity for t in v.tiles} == {0.9}
    # "image" shows the picture alone: the same pixels as a canvas given no mask
    tile = v.tiles[1]
    tile.canvas.set_mode("image")
    bare = ImageCanvas()
    qtbot.addWidget(bare)
    bare.setFixedSize(tile.canvas.size())
    bare.set_content(tile.canvas._rgb, None)
    bare.show()
    bare.set_view(tile.canvas.scale, tile.canvas.offset)
    assert np.array_equal(_pixels(tile.canvas), _pixels(bare))
    tile.canvas.set_mode("fill")
    assert not np.array_equal(_pixels(tile.canvas), _pixels(bare))


def test_outlines_widen_when_the_pictures_are_shown_small(state, qtbot, demo_ws):
    from scipy import ndimage

    from diffgen_gui.overlay import line_width

    v, made = _review(state, qtbot, demo_ws)
    s = made[next(iter(made))][0]
    v.viewer.open(s.id)
    qtbot.keyClick(v.viewer, Qt.Key.Key_L)
    assert v.viewer.line == 1  # 64 px on a ~480 px pane
    v.viewer.sample.zoom_by(1 / 20)
    assert v.viewer.line == line_width(v.viewer.source.scale) > 1
    rec = demo_ws.image(s.source_image_id)
    mask = fit_to_frame(*demo_ws.read_sample(s.id), (rec.width, rec.height))[1] > 0
    band = mask & ~ndimage.binary_erosion(mask, iterations=v.viewer.line, border_value=0)
    assert np.array_equal(np.all(v.viewer.rendered["source"] == SAMPLE_OUTLINE, axis=2), band)


def test_the_grid_keys_while_closed_show_when_the_view_opens(state, qtbot, demo_ws):
    from diffgen_gui.overlay import composite

    v, _made = _review(state, qtbot, demo_ws)
    v.viewer.open(v.focus_sample)
    qtbot.keyClick(v.viewer, Qt.Key.Key_Escape)
    qtbot.keyClick(v, Qt.Key.Key_O)  # closed: mask
    qtbot.keyClick(v, Qt.Key.Key_O)  # image
    qtbot.keyClick(v, Qt.Key.Key_O)  # overlay
    v.viewer.bar.opacity.setValue(90)
    qtbot.keyClick(v, Qt.Key.Key_Space)
    i = v.current_source()
    expected = composite(demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i)), 0.9)
    assert np.array_equal(v.viewer.rendered["source"], expected)


def test_m_shows_the_nearest_training_image_the_audit_found_mirrored_as_it_matched(state, qtbot, demo_ws):
    """Issue 31 item 4: a suspected copy beside what it may copy. Before any audit M says so and
    keeps the source; with an audit row the left pane is that training image, mirrored as matched."""
    from backend.audit.store import AuditRow, save_rows

    v, made = _review(state, qtbot, demo_ws)
    a, b = list(made)[:2]
    s = made[a][0]
    v.focus(s.id)
    qtbot.keyClick(v, Qt.Key.Key_Space)
    viewer = v.viewer
    source = demo_ws.read_image(a)
    qtbot.keyClick(viewer, Qt.Key.Key_M)
    assert "no audit of this sample yet: run 'diffgen audit'" in viewer.title.text()
    assert np.array_equal(viewer._pictures["source"][0], source)
    save_rows(demo_ws, "fp", [AuditRow(s.id, "pixel-32-region", b, "horizontal", 0.01, 0.05)])
    qtbot.keyClick(viewer, Qt.Key.Key_M)  # back to the source
    assert viewer.source.caption == f"Source · {demo_ws.image(a).name}"
    qtbot.keyClick(viewer, Qt.Key.Key_M)
    other = demo_ws.image(b)
    assert np.array_equal(viewer._pictures["source"][0], demo_ws.read_image(b)[:, ::-1])  # mirrored left-right
    assert np.array_equal(viewer._pictures["source"][1], demo_ws.read_mask(other.current_mask_id)[:, ::-1])
    assert viewer.source.caption == f"Nearest training image · {other.name} h-flip · audit score 0.05"
    assert f"beside its nearest training image {other.name} h-flip" in viewer.title.text()
    assert viewer._pictures["sample"][0].shape == source.shape  # the half-size sample fitted to that frame
