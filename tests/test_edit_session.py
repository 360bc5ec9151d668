"""The Qt-free mask editing session: steps, labels, callbacks, save, revert, recovery."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from backend.masks.edit_session import EditSession, read_recovery, recovery_paths, summarise


def _session(ws, image_id=None):
    events = {"changed": [], "state": 0}

    def changed(box):
        events["changed"].append(box)

    def state():
        events["state"] += 1

    s = EditSession(ws, image_id or ws.image_ids()[0], on_changed=changed, on_state=state)
    return s, events


def _square(shape, y0, y1, x0, x1):
    m = np.zeros(shape, np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


def test_the_back_end_session_imports_no_qt():
    code = "import sys, backend.masks.edit_session; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_steps_report_boxes_and_labels_count_pixels(demo_ws):
    s, events = _session(demo_ws)
    s.apply(np.zeros_like(s.mask), "clear")
    target = _square(s.mask.shape, 10, 20, 5, 35)  # 10 x 30 = 300 pixels
    assert s.apply(target, "fill", counted=True)
    assert events["changed"][-1] == (slice(10, 20), slice(5, 35))
    assert s.history_labels()[-1] == "fill 300 px changed"
    s.begin_stroke()
    hit = np.ones((2, 3), bool)
    s.stroke_patch((slice(40, 42), slice(40, 43)), hit, paint=True)
    s.end_stroke("brush")
    assert s.history_labels()[-1] == "brush 6 px changed"
    assert not s.apply(s.mask.copy(), "nothing")  # no change: no step
    n_state = events["state"]
    assert s.undo() and s.undo()
    assert events["state"] == n_state + 2
    np.testing.assert_array_equal(s.mask, 0)
    assert s.redo()
    np.testing.assert_array_equal(s.mask, target)


def test_a_saved_version_is_labelled_by_what_was_done(demo_ws):
    s, _ = _session(demo_ws)
    s.apply(np.zeros_like(s.mask), "clear")
    s.apply(_square(s.mask.shape, 0, 10, 0, 10), "fill", counted=True)  # 100 px
    s.apply(_square(s.mask.shape, 0, 10, 0, 20), "brush", counted=True)  # +100 px: merged
    s.apply(_square(s.mask.shape, 0, 12, 0, 22), "dilate", detail="by 1 px")
    mv = demo_ws.mask_version(s.save())
    assert mv.operation == "edit"
    assert mv.params["label"] == "clear, fill 100 px changed, brush 100 px changed, dilate by 1 px"
    s.apply(_square(s.mask.shape, 0, 5, 0, 5), "erode", detail="by 3 px")
    assert demo_ws.mask_version(s.save()).params["label"] == "erode by 3 px"  # only what came after the save


def test_summarise_merges_runs_of_one_kind(demo_ws):
    s, _ = _session(demo_ws)
    s.apply(np.zeros_like(s.mask), "clear")
    for k in range(3):
        s.begin_stroke()
        s.stroke_patch((slice(k, k + 1), slice(0, 4)), np.ones((1, 4), bool), paint=True)
        s.end_stroke("brush")
    assert summarise(s.unsaved_steps()) == "clear, brush 12 px changed"


def test_revert_is_an_undoable_step(demo_ws):
    s, _ = _session(demo_ws)
    v0 = s.base_id
    original = s.mask.copy()
    s.apply(_square(s.mask.shape, 0, 30, 0, 30), "fill", counted=True)
    edited = s.mask.copy()
    v1 = s.save()
    s.revert_to(v0)
    assert demo_ws.image(s.image_id).current_mask_id == v0 and s.base_id == v0
    np.testing.assert_array_equal(s.mask, original)
    assert not s.dirty and s.history_labels()[-1] == "revert to v0"
    assert s.undo()  # the edited pixels come back, as unsaved edits of v0
    np.testing.assert_array_equal(s.mask, edited)
    assert s.dirty
    assert [v.id for v in demo_ws.mask_versions(s.image_id)] == [v0, v1]  # nothing deleted


def test_autosave_writes_recovery_and_keep_recovered_stacks_a_version(demo_ws):
    s, events = _session(demo_ws)
    s.apply(_square(s.mask.shape, 2, 9, 2, 9), "fill", counted=True)
    assert s.autosave() and not s.autosave()  # unchanged since: no rewrite
    png, meta = recovery_paths(demo_ws, s.image_id)
    assert json.loads(meta.read_text())["base_mask_id"] == s.base_id
    recovered = read_recovery(demo_ws, s.image_id)
    np.testing.assert_array_equal(recovered[0], s.mask)
    fresh, fresh_events = _session(demo_ws, s.image_id)  # after a crash
    new_id = fresh.keep_recovered(*recovered)
    mv = demo_ws.mask_version(new_id)
    assert mv.operation == "recovered" and mv.params["recovered_from"] == 0
    assert fresh_events["changed"][-1] is None  # the whole mask was reloaded
    np.testing.assert_array_equal(fresh.mask, recovered[0])
    assert not png.exists() and not meta.exists()
