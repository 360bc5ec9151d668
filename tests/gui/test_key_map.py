"""Keys mean one thing in the whole app (issue 35): Review's R rejected while the rater's R said
"real", and the editor's E erased while the rater's E said "poor". The map is Help > Keyboard
shortcuts (F1), which is read from where the keys are bound."""

from __future__ import annotations

import re

from PySide6.QtGui import QKeySequence

# Moving between items and images, zooming the view, confirming and leaving: these may differ
# from view to view (as they do in every application); nothing else may.
NAVIGATION = {"←", "→", "↑", "↓", "PgUp", "PgDn", ".", ",", "Enter", "Esc", "Backspace", "0", "1"}
MOUSE = re.compile(r"click|drag|wheel", re.I)
# undo and redo undo or redo what the view in front did last: one meaning wherever they are
GENERIC = {"Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+Y"}


def tokens(keys: str) -> list[str]:
    """The keys of one F1 row: 'K / R / U', '← → ↑ ↓', '[  ]', 'Enter (note)', 'Ctrl+A (grid)'."""
    out = []
    for part in re.sub(r"\([^)]*\)", "", keys).split(" / "):
        part = part.strip()
        if not part or MOUSE.search(part):
            continue
        out += [part] if "+" in part else part.split()
    return out


def test_tokens_read_every_way_a_row_writes_its_keys():
    assert tokens("K / R / U") == ["K", "R", "U"]
    assert tokens("← → ↑ ↓") == ["←", "→", "↑", "↓"]
    assert tokens("[  ]") == ["[", "]"]
    assert tokens("Enter (note)") == ["Enter"]
    assert tokens("Ctrl+A (grid)") == ["Ctrl+A"]
    assert tokens("Right-drag / wheel") == []
    assert tokens("Enter / Shift+Enter") == ["Enter", "Shift+Enter"]


def meanings_of(rows) -> dict[str, set[tuple[str, str]]]:
    """key -> {(view, what it does)} over F1 rows (the menus are one view: the window)."""
    meanings: dict[str, set[tuple[str, str]]] = {}
    for where, keys, what in rows:
        view = "window" if where.endswith(" menu") else where
        for key in tokens(keys):
            meanings.setdefault(key, set()).add(("any", what.split()[0].lower()) if key in GENERIC else (view, what))
    return meanings


def key_map(window) -> dict[str, set[tuple[str, str]]]:
    from diffgen_gui.shortcuts import all_shortcuts

    return meanings_of(all_shortcuts(window.menuBar()))


def test_no_key_means_two_things(window):
    meanings = key_map(window)
    assert {"K", "R", "B", "E", "F", "7", "8"} <= set(meanings)  # the map holds every view
    clashes = {k: m for k, m in meanings.items() if k not in NAVIGATION and len(m) > 1}
    assert not clashes, clashes


def test_undo_means_undo_in_every_view():
    rows = [("Edit menu", "Ctrl+Z", "Undo"), ("Review", "Ctrl+Z", "Undo the last decision (with its note)")]
    assert meanings_of(rows) == {"Ctrl+Z": {("any", "undo")}}


def test_the_map_finds_a_clash():
    """The check itself: the rater's old R (real) beside Review's R (reject) is caught."""
    rows = [("Review", "K / R / U", "Keep / reject / undecided"), ("Survey rater", "R / F", "Real or synthetic")]
    assert [k for k, m in meanings_of(rows).items() if len(m) > 1] == ["R"]


def test_review_lists_its_decision_keys(window):
    from diffgen_gui.review_view import DECISIONS

    listed = {k for k, m in key_map(window).items() if any(view == "Review" for view, _ in m)}
    bound = {QKeySequence(k).toString() for k in DECISIONS}
    assert bound <= listed, (bound, listed)


def test_the_editor_keys_f1_lists_do_what_it_says(window, qtbot):
    """F1's rows of the editor, pressed: each key does what its row says (and the tools' letters
    are their actions' shortcuts, which F1 reads)."""
    from PySide6.QtCore import Qt

    from diffgen_gui.mask_tools import KEYS, TOOLS

    listed = {k for keys, _ in KEYS for k in tokens(keys)}
    assert {"[", "]", "0", "1", "Enter", "Shift+Enter", "Esc"} <= listed
    ed = window.dataset_view.editor
    for tool, _label, letter in TOOLS:
        qtbot.keyClick(ed, letter)
        assert ed.tool == tool, letter
    qtbot.keyClick(ed, Qt.Key.Key_B)
    ed.size_spin.setValue(20)
    qtbot.keyClick(ed, Qt.Key.Key_BracketLeft)
    assert ed.brush_size < 20
    qtbot.keyClick(ed, Qt.Key.Key_BracketRight)
    qtbot.keyClick(ed, Qt.Key.Key_BracketRight)
    assert ed.brush_size > 20
    qtbot.keyClick(ed, Qt.Key.Key_1)
    assert ed.canvas.scale == 1.0
    ed.canvas.fit()
    fitted = ed.canvas.scale
    ed.canvas.zoom_by(2.5)
    qtbot.keyClick(ed, Qt.Key.Key_0)
    assert ed.canvas.scale == fitted != 1.0
    ed.preview_check.setChecked(True)
    qtbot.keyClick(ed, Qt.Key.Key_Escape)
    assert not ed.preview_check.isChecked()
