"""Review view: keep / reject / undecided with keys, notes, filters, counts."""

from __future__ import annotations

import re

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette


def add_samples(ws):
    """Two inpainted samples (flipped copies) of the first image, each with a styled child."""
    i = ws.image_ids()[0]
    img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
    out = []
    for k, (a, m) in enumerate(((img[:, ::-1], mask[:, ::-1]), (img[::-1], mask[::-1]))):
        s = ws.add_sample("inpainted", "Diff", a.copy(), m.copy(), source_image_id=i, seed=k)
        st = ws.add_sample(
            "styled", "Styled-Diff", a[..., ::-1].copy(), m.copy(), source_image_id=i, parent_sample_id=s.id, seed=k
        )
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
    qtbot.keyClick(v.note, Qt.Key.Key_Return)
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


def _two_sources(ws):
    """Samples of the first two images: two inpainted each, no styled children."""
    out = {}
    for i in ws.image_ids()[:2]:
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        out[i] = [
            ws.add_sample(
                "inpainted", "Diff", np.roll(img, k + 1, 0).copy(), mask, source_image_id=i, seed=6_917_529_027_641_081_856 + k
            )
            for k in range(2)
        ]
    return out


def _view(state, qtbot):
    from diffgen_gui.review_view import ReviewView

    v = ReviewView(state)
    qtbot.addWidget(v)
    v.show()
    return v


def test_keys_move_between_sources_and_to_the_next_undecided(state, qtbot, demo_ws):
    made = _two_sources(demo_ws)
    a, b = list(made)
    v = _view(state, qtbot)
    assert v.current_source() == a
    qtbot.keyClick(v, Qt.Key.Key_PageDown)
    assert v.current_source() == b
    qtbot.keyClick(v, Qt.Key.Key_PageUp)
    assert v.current_source() == a
    v.focus(made[a][0].id)
    qtbot.keyClick(v, Qt.Key.Key_K)
    qtbot.keyClick(v, Qt.Key.Key_K)  # both of a decided: on to the next image's first undecided
    assert v.current_source() == b and v.focus_sample == made[b][0].id
    state.set_review(made[b][0].id, "reject", "")  # decided elsewhere in the app: the view follows
    v.focus(made[a][0].id)
    qtbot.keyClick(v, Qt.Key.Key_N)
    assert v.current_source() == b and v.focus_sample == made[b][1].id


def test_counts_per_source_update_live(state, qtbot, demo_ws):
    made = _two_sources(demo_ws)
    a = next(iter(made))
    v = _view(state, qtbot)
    v.focus(made[a][0].id)
    qtbot.keyClick(v, Qt.Key.Key_K)
    qtbot.keyClick(v, Qt.Key.Key_R)
    assert v.sources.item(0).text().endswith("2 samples · 1 kept · 1 rejected")


def test_captions_hide_seeds_and_the_focus_keeps_the_decision_colour(state, qtbot, demo_ws):
    from diffgen_gui.theme import status_colour

    made = _two_sources(demo_ws)
    a = next(iter(made))
    v = _view(state, qtbot)
    s = made[a][0]
    state.set_review(s.id, "keep", "")
    v.focus(s.id)
    tile = next(t for t in v.tiles if t.sample_id == s.id)
    assert str(s.seed) not in tile.label.text() and f"seed {s.seed}" in tile.toolTip()
    assert "kept" in tile.label.text()
    assert f"solid {status_colour('keep').name()}" in tile.styleSheet()  # focused, still the keep colour


def test_the_focused_tile_follows_a_new_theme(state, qtbot, demo_ws, qapp):
    from diffgen_gui.theme import apply_theme, contrast

    made = _two_sources(demo_ws)
    v = _view(state, qtbot)
    v.focus(made[next(iter(made))][0].id)
    tile = next(t for t in v.tiles if t.sample_id == v.focus_sample)
    try:
        for theme in ("light", "dark"):
            apply_theme(qapp, theme)
            qapp.processEvents()
            background = QColor(re.search(r"background: (#[0-9a-f]{6})", tile.styleSheet()).group(1))
            text = tile.label.palette().color(QPalette.ColorRole.WindowText)
            assert contrast(text, background) >= 4.5, (theme, text.name(), background.name())
    finally:
        apply_theme(qapp, "system")


def test_the_kept_filter_packs_tiles_without_gaps(state, qtbot, demo_ws):
    _i, samples = add_samples(demo_ws)
    demo_ws.set_review(samples[1].id, "keep")  # a styled child whose parent is not kept
    v = _view(state, qtbot)
    v.filter.setCurrentIndex(v.filter.findData("keep"))
    pos = {t.sample_id: v.grid.getItemPosition(v.grid.indexOf(t))[:2] for t in v.tiles}
    assert pos == {None: (0, 0), samples[1].id: (0, 1)}
    assert v.grid.columnCount() == 2 and v.grid.rowCount() == 1


def test_an_empty_review_says_what_to_do(state, qtbot):
    v = _view(state, qtbot)
    assert v.pages.currentWidget() is v.welcome
    assert v.welcome.command.text().startswith("diffgen inpaint --workspace")
    with qtbot.waitSignal(state.jobRequested) as blocker:
        v.welcome.button.click()
    assert blocker.args == ["inpaint"]


def test_gate_badges_tooltips_and_gate_filters(state, qtbot, demo_ws):
    from backend.gates import GateScore

    made = _two_sources(demo_ws)
    a, b = list(made)
    failed, passed = made[a]
    unscored, also_passed = made[b]
    ok = [GateScore("no_polyp", 0.9, 0.15, True), GateScore("cut_off", 0.1, 0.25, True)]
    demo_ws.set_gates(failed.id, [GateScore("no_polyp", 0.08, 0.15, False), GateScore("cut_off", 0.4, 0.25, False)])
    demo_ws.set_gates(passed.id, ok)
    demo_ws.set_gates(also_passed.id, ok)
    v = _view(state, qtbot)
    tiles = {t.sample_id: t for t in v.tiles}
    assert [x.text() for x in tiles[failed.id].badges] == ["no polyp", "cut off"]
    assert tiles[passed.id].badges == []
    tip = tiles[failed.id].toolTip()
    assert "✗ no polyp: mask area 0.08 of the source's (needs >= 0.15)" in tip
    assert "✗ cut off: mask covers 0.40 of the region's border (needs <= 0.25)" in tip
    assert "✓" not in tip and "✓ no polyp" in tiles[passed.id].toolTip()
    assert [x.styleSheet() for x in tiles[failed.id].badges] == ["", ""]  # colours from the theme, none fixed here

    gates = v.filters.gates
    gates.setCurrentIndex(gates.findText("Failed a gate"))
    assert v.sources.count() == 1 and v.current_source() == a and v.sample_ids() == [failed.id]
    gates.setCurrentIndex(gates.findText("Passed all gates"))
    assert v.sources.count() == 2 and v.sample_ids() == [passed.id]
    v.step_source(1)
    assert v.sample_ids() == [also_passed.id]  # the unscored sample is not shown as passed
    gates.setCurrentIndex(gates.findText("Any gates"))
    tile = next(t for t in v.tiles if t.sample_id == unscored.id)
    assert "Quality gates: not scored" in tile.toolTip() and tile.badges == []


def test_a_note_belongs_to_its_one_sample(state, qtbot, demo_ws):
    """Issue 35 item 1: PgDn, a filter or a click reloads the field; a decision stores the
    decided sample's own note, never the field's text; leaving the field stores nothing."""
    made = _two_sources(demo_ws)
    a, b = list(made)
    v = _view(state, qtbot)
    v.focus(made[a][0].id)
    qtbot.keyClicks(v.note, "seam")
    qtbot.keyClick(v.note, Qt.Key.Key_Return)
    assert demo_ws.review(made[a][0].id) == ("undecided", "seam")
    qtbot.keyClick(v, Qt.Key.Key_PageDown)
    assert v.current_source() == b and v.note.text() == ""
    qtbot.keyClick(v, Qt.Key.Key_K)
    assert demo_ws.review(made[b][0].id) == ("keep", "")
    qtbot.keyClicks(v.note, "k")  # typed, not stored: the next sample selected drops it
    qtbot.keyClick(v.note, Qt.Key.Key_PageUp)
    assert v.current_source() == a and v.note.text() == "seam"
    qtbot.keyClick(v, Qt.Key.Key_R)
    assert demo_ws.review(made[a][0].id) == ("reject", "seam")
    v.note.setText("unstored")
    v.filter.setCurrentIndex(v.filter.findData("undecided"))
    assert v.note.text() == demo_ws.review(v.focus_sample)[1] == ""
    notes = dict(demo_ws.query("SELECT sample_id, note FROM reviews WHERE note != ''"))
    assert notes == {made[a][0].id: "seam"}


def _many_sources(ws, images: int = 4, per_image: int = 3, sets=("Diff",)):
    """``per_image`` inpainted samples of each of the first ``images`` images, sets in turn."""
    out = {}
    for n, i in enumerate(ws.image_ids()[:images]):
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        out[i] = [
            ws.add_sample("inpainted", sets[(n + k) % len(sets)], np.roll(img, k + 1, 1).copy(), mask, source_image_id=i, seed=k)
            for k in range(per_image)
        ]
    return out


def test_one_key_per_decision_across_images(state, qtbot, demo_ws):
    """Issue 35 item 4: K/R/U decide and select the next undecided sample, in any image:
    12 samples in 4 images take 12 keys (an already decided one is skipped)."""
    made = _many_sources(demo_ws)
    every = [s.id for ss in made.values() for s in ss]
    state.set_review(every[4], "reject", "")
    v = _view(state, qtbot)
    keys = [Qt.Key.Key_K, Qt.Key.Key_R, Qt.Key.Key_U]
    for n in range(len(every) - 1):
        qtbot.keyClick(v, keys[n % 3])
    got = dict(demo_ws.query("SELECT sample_id, decision FROM reviews"))
    todo = [s for s in every if s != every[4]]
    assert [got[s] for s in todo] == [("keep", "reject", "undecided")[n % 3] for n in range(len(todo))]


def test_filters_combine_and_next_undecided_follows_them(state, qtbot, demo_ws):
    """Issue 35 item 9: decision, gate, set, model and cluster filters narrow together; N and
    a decision's move stay inside them; the counts follow each decision."""
    from backend.gates import GateScore

    made = _many_sources(demo_ws, sets=("Diff", "Styled-Diff"))
    every = [s for ss in made.values() for s in ss]
    seam = [GateScore("seam", 0.9, 0.5, False)]
    for s in every[::2]:
        demo_ws.set_gates(s.id, seam)
    v = _view(state, qtbot)
    f = v.filters
    assert [f.set_name.itemText(i) for i in range(f.set_name.count())] == ["All sets", "Diff", "Styled-Diff"]
    f.gates.setCurrentIndex(f.gates.findData("seam"))
    f.set_name.setCurrentIndex(f.set_name.findData("Diff"))
    wanted = [s.id for s in every[::2] if s.set_name == "Diff"]
    assert sorted(v.shown) == sorted(wanted) and 0 < len(wanted) < len(every)
    assert v.counts.text().startswith(f"{len(wanted)} samples (of {len(every)}): 0 kept")
    v.focus(wanted[0])
    qtbot.keyClick(v, Qt.Key.Key_K)
    assert v.focus_sample == wanted[1]  # the next undecided inside the filters, maybe in another image
    assert v.counts.text().startswith(f"{len(wanted)} samples (of {len(every)}): 1 kept")
    qtbot.keyClick(v, Qt.Key.Key_N)
    assert v.focus_sample == wanted[2]
    f.decision.setCurrentIndex(f.decision.findData("keep"))
    assert v.shown == [wanted[0]]
    f.model.setCurrentIndex(f.model.findText("(no model)"))
    assert v.shown == [wanted[0]]
    assert not f.cluster.isEnabled()  # no clustering: nothing to choose


def test_ctrl_z_undoes_the_last_decision_with_its_note(state, qtbot, demo_ws):
    """Issue 35 item 10: Ctrl+Z gives the sample back its decision and note, and selects it."""
    made = _two_sources(demo_ws)
    a, b = list(made)
    first = made[a][0].id
    state.set_review(first, "reject", "blurred rim")
    v = _view(state, qtbot)
    v.focus(first)
    qtbot.keyClick(v, Qt.Key.Key_K)
    assert demo_ws.review(first) == ("keep", "blurred rim")
    qtbot.keyClick(v, Qt.Key.Key_K)
    qtbot.keyClick(v, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert demo_ws.review(made[a][1].id) == ("undecided", "") and v.focus_sample == made[a][1].id
    qtbot.keyClick(v, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert demo_ws.review(first) == ("reject", "blurred rim") and v.focus_sample == first
    assert "1 rejected" in v.counts.text()
    assert not v.undo_decision()  # nothing left to undo


def test_tiles_grow_with_the_window(state, qtbot, demo_ws):
    """Issue 35 item 5: at 2560x1440 the tiles fill the width (a fixed 260 px left 85% empty)."""
    _many_sources(demo_ws, images=1, per_image=2)
    v = _view(state, qtbot)
    v.resize(2560, 1440)
    qtbot.waitUntil(lambda: v.tiles[0].canvas.width() > 600)
    area = v.scroll_area.viewport()
    used = sum(t.width() for t in v.tiles)
    assert used > 0.8 * area.width(), (used, area.width())
    assert v.tiles[0].geometry().bottom() <= area.height()  # a whole row fits the height
    v.resize(900, 600)
    qtbot.waitUntil(lambda: v.tiles[0].canvas.width() < 300)
    assert v.tiles[0].canvas.width() >= 160


def test_decision_keys_never_reach_a_text_field_or_a_filter(window, qtbot, demo_ws):
    """Issue 35 item 3: the Review tab takes the keys when it shows; combos and the list never
    take the focus; / opens the note field and Esc leaves it without storing."""
    from PySide6.QtWidgets import QApplication

    _two_sources(demo_ws)
    window.state.samplesChanged.emit()
    window.tabs.setCurrentWidget(window.review_view)
    v = window.review_view
    qtbot.waitUntil(lambda: QApplication.focusWidget() is v or v.hasFocus())
    for w in (v.filter, v.filters.gates, v.filters.set_name, v.mode, v.sources, v.scroll_area):
        assert w.focusPolicy() == Qt.FocusPolicy.NoFocus, w
    assert v.note.focusPolicy() == Qt.FocusPolicy.ClickFocus
    qtbot.keyClick(v, Qt.Key.Key_Slash)
    assert v.note.hasFocus() or QApplication.focusWidget() is v.note
    qtbot.keyClicks(v.note, "kr")
    qtbot.keyClick(v.note, Qt.Key.Key_Escape)
    assert v.note.text() == "" and demo_ws.review(v.focus_sample) == ("undecided", "")
    assert QApplication.focusWidget() is v or v.hasFocus()


def test_new_samples_keep_a_note_being_typed(state, qtbot, demo_ws):
    """A job that ends while a note is typed (samplesChanged) leaves the text in the field."""
    made = _two_sources(demo_ws)
    v = _view(state, qtbot)
    v.activateWindow()
    qtbot.waitUntil(v.isActiveWindow)
    v.focus(made[next(iter(made))][0].id)
    qtbot.keyClick(v, Qt.Key.Key_Slash)
    qtbot.waitUntil(v.note.hasFocus)
    qtbot.keyClicks(v.note, "polyp cut")
    state.samplesChanged.emit()
    assert v.note.text() == "polyp cut"
    qtbot.keyClick(v.note, Qt.Key.Key_Return)
    assert demo_ws.review(v.focus_sample) == ("undecided", "polyp cut")


def test_a_long_caption_never_covers_its_picture(state, qtbot, demo_ws):
    """A bank mask's caption wraps to four to six lines; with the tile's height left to the
    layout, at 1389 x 750 its first line was drawn over the bottom of the picture (seen in a
    real window). Every caption is as tall as its wrapped text, below its picture, at any width,
    growing and shrinking with the tiles."""
    from backend.synthesis.wanted import store_wanted

    i = demo_ws.image_ids()[0]
    img, mask = demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i))
    wanted = np.zeros_like(mask)
    wanted[:10, :10] = 255
    params = {"wanted_mask": demo_ws.rel(store_wanted(demo_ws, i, wanted, "bank")), "wanted_how": "bank"}
    for _ in range(7):
        demo_ws.add_sample("synthesized", "Mask-Diff", img, np.maximum(mask, wanted), source_image_id=i, params=params)
    v = _view(state, qtbot)

    def fits() -> bool:
        wrapped = all(t.label.height() == t.label.heightForWidth(t.label.width()) for t in v.tiles)
        return wrapped and all(t.label.geometry().top() >= t.canvas.geometry().bottom() for t in v.tiles)

    heights = []
    for size in ((900, 700), (1389, 750), (1600, 1000), (900, 700)):
        v.resize(*size)
        qtbot.waitUntil(lambda: bool(v.tiles) and fits(), timeout=5000)
        captions = [t.label for t in v.tiles if t.sample_id is not None]
        assert all("placed from the mask bank" in c.text() for c in captions)
        heights.append(captions[0].height())
    line = v.tiles[0].label.fontMetrics().height()
    assert heights[0] > 4 * line and heights[2] < heights[0] and heights[3] == heights[0]  # wraps, and follows the width
    v.focus(v.sample_ids()[1])  # the focus adds "▶ " and the decision to the caption
    qtbot.waitUntil(fits, timeout=5000)
