"""Review view: keep / reject / undecided with keys, notes, filters, counts."""

from __future__ import annotations

from PySide6.QtCore import Qt


def add_samples(ws):
    """Two inpainted samples (flipped copies) of the first image, each with a styled child."""
    i = ws.image_ids()[0]
    img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
    out = []
    for k, (a, m) in enumerate(((img[:, ::-1], mask[:, ::-1]), (img[::-1], mask[::-1]))):
        s = ws.add_sample("inpainted", "Diff", a.copy(), m.copy(), source_image_id=i, seed=k)
        st = ws.add_sample("styled", "Styled-Diff", a[..., ::-1].copy(), m.copy(), source_image_id=i,
                           parent_sample_id=s.id, seed=k)
        out += [s, st]
    return i, out


def test_keys_store_decisions_at_once_and_advance(state, qtbot, demo_ws):
    from diffgen_gui.review_view import ReviewView

    _i, samples = add_samples(demo_ws)
    v = ReviewView(state)
    qtbot.addWidget(v)
    v.show()
    # layout: original in column 0, inpainted in column 1, its styled child next to it
    pos = {t.sample_id: v.grid.getItemPosition(v.grid.indexOf(t))[:2] for t in v.tiles}
    assert pos[None] == (0, 0)
    assert pos[samples[0].id] == (0, 1) and pos[samples[1].id] == (0, 2)
    assert pos[samples[2].id] == (1, 1) and pos[samples[3].id] == (1, 2)
    v.focus(samples[0].id)
    qtbot.keyClick(v, Qt.Key.Key_K)
    assert demo_ws.review(samples[0].id)[0] == "keep"
    assert v.focus_sample == samples[1].id
    qtbot.keyClick(v, Qt.Key.Key_R)
    qtbot.keyClick(v, Qt.Key.Key_K)
    qtbot.keyClick(v, Qt.Key.Key_U)
    assert [demo_ws.review(s.id)[0] for s in samples] == ["keep", "reject", "keep", "undecided"]
    assert "2 kept · 1 rejected · 1 undecided" in v.counts.text()
    v.focus(samples[1].id)
    v.note.setText("seam at the border")
    v.note.editingFinished.emit()
    assert demo_ws.review(samples[1].id) == ("reject", "seam at the border")
    v.filter.setCurrentIndex(v.filter.findData("keep"))
    assert sorted(v.sample_ids()) == sorted([samples[0].id, samples[2].id])


def test_tiles_share_one_zoom(state, qtbot, demo_ws):
    from diffgen_gui.review_view import ReviewView

    add_samples(demo_ws)
    v = ReviewView(state)
    qtbot.addWidget(v)
    v.show()
    v.tiles[1].canvas.zoom_by(2.0)
    scales = {round(t.canvas.scale, 6) for t in v.tiles}
    assert len(scales) == 1 and v.tiles[0].canvas.scale > 2 * v.tiles[0].canvas.width() / 64 * 0.9
