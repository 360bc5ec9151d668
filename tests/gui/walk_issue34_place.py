"""Issue 34's Place polyp, walked in a real window with real X input (xdotool): a polyp is drawn
by mouse on an image in the mask editor, moved, scaled and turned by keys and a Ctrl+drag, queued
as 3 samples; the job runs through the app's queue and worker in a child process whose
``synthesize`` stage is a stand-in (``synth_child.py``: no diffusion model here); Review then shows
the samples with the wanted mask's dashed outline, in the grid and in the large view (O, L).

Two faces in one file, like ``walk_issue35.py``: the pytest module builds a workspace and starts
``diffgen gui`` under Xvfb with this file as its hook; inside the app :func:`walk` moves the
mouse and presses keys through the X server, checks the state after each step and photographs
the screen. Pictures land in ``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder): look at them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from walk_support import HERE, run_walk, start_walk, system_tool

PHASE = "34"
TIMEOUT_S = 240
SIZE = 128  # px: the demo images, large enough to draw on

pytestmark = pytest.mark.slow


def test_place_a_polyp_by_drawing_and_review_it(tmp_path):
    from walk_support import demo_workspace

    from backend.io.images import read_png_fast
    from backend.synthesis.wanted import drawn_paths
    from backend.workspace import Workspace

    system_tool("xdotool", "xdotool")  # real X input
    ws = demo_workspace(tmp_path, count=4, size=SIZE, seed=0)
    first = ws.image_ids()[0]
    history = [mv.id for mv in ws.mask_versions(first)]
    ws.close()
    out = run_walk(__file__, PHASE, tmp_path / "ws", tmp_path, TIMEOUT_S)
    assert len(list(out.glob(f"p{PHASE}-*.png"))) >= 6
    ws = Workspace.open(tmp_path / "ws")
    (wanted,) = drawn_paths(ws, first)
    mask = read_png_fast(wanted, grey=True)
    samples = ws.samples()
    assert len(samples) == 3 and {s.source_image_id for s in samples} == {first}
    rel = wanted.relative_to(ws.root).as_posix()
    assert all(s.params["wanted_mask"] == rel for s in samples)
    assert all((ws.read_sample(s)[1] == mask).all() for s in samples)  # the stand-in keeps the wanted mask
    assert [mv.id for mv in ws.mask_versions(first)] == history  # the drawn shape is no mask version
    log = (out / f"journey-phase{PHASE}.log").read_text()
    assert "ok: Review's large view outlines the wanted mask" in log, log


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    # the job's child knows a stand-in synthesize stage (the app's own queue and worker run it)
    win.queue.worker.launcher = [sys.executable, str(HERE / "synth_child.py")]
    start_walk(win, walk)


def xdo(*args: object) -> None:
    subprocess.run(["xdotool", *map(str, args)], check=True, timeout=10)


def screen(canvas, x: float, y: float) -> tuple[int, int]:
    """The screen pixel over image point (x, y) of ``canvas``."""
    from PySide6.QtCore import QPointF

    p = canvas.mapToGlobal(canvas.offset + QPointF(x + 0.5, y + 0.5) * canvas.scale)
    return round(p.x()), round(p.y())


def near(a: tuple[float, float], b: tuple[float, float], tol: float) -> bool:
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


def walk(j) -> Iterator:
    from journey_hook import Shot, Wait, choose, job_done, quit_app

    w = j.win
    ds, rv = w.dataset_view, w.review_view
    ed = ds.editor
    w.activateWindow()
    yield Wait("the window active", w.isActiveWindow, 5)
    ds.select_row(0)
    yield Wait("the editor shows the first image", lambda: ed.session is not None, 5)
    ed.canvas.fit()
    px = 1 / ed.canvas.scale  # one screen pixel in image pixels: the tolerance of a mouse position
    xdo("mousemove", *screen(ed.canvas, SIZE / 2, SIZE / 2))
    xdo("key", "g")
    yield Wait("G chose Place polyp", lambda: ed.tool == "place", 5)
    xdo("mousemove", *_centre(ed.place.queue_btn), "click", 1)
    yield Wait("an empty shape refused", lambda: "no polyp shape drawn yet" in ed.place.message.text(), 5)
    yield Shot("place-tool-nothing-drawn")

    choose(ed.place.kind, data="ellipse")
    x0, y0, x1, y1 = 30, 40, 70, 64  # an ellipse 40 x 24 about (50, 52)
    xdo("mousemove", *screen(ed.canvas, x0, y0), "mousedown", 1)
    xdo("mousemove", *screen(ed.canvas, (x0 + x1) / 2, (y0 + y1) / 2))
    xdo("mousemove", *screen(ed.canvas, x1, y1), "mouseup", 1)
    yield Wait("an ellipse drawn by mouse", lambda: ed.place.shape is not None and ed.place.shape.kind == "ellipse", 5)
    assert near(ed.place.shape.centre, (50, 52), px), ed.place.shape.centre
    j.note(f"ellipse drawn about {ed.place.shape.centre}")
    yield Shot("ellipse-drawn")

    before = ed.place.shape.centre
    xdo("key", *["Right"] * 5, "Prior", "Prior", *["period"] * 6)  # 5 px right, 1.1² as large, 30° clockwise
    yield Wait("moved, scaled and turned by keys", lambda: abs(ed.place.shape.angle - 30) < 1e-6, 5)
    s = ed.place.shape
    assert near(s.centre, (before[0] + 5, before[1]), 1e-6) and abs(s.scale - 1.21) < 1e-9, s
    xdo("keydown", "ctrl", "mousemove", *screen(ed.canvas, *s.centre), "mousedown", 1)
    xdo("mousemove", *screen(ed.canvas, s.centre[0] - 5, s.centre[1] + 5))
    xdo("mousemove", *screen(ed.canvas, s.centre[0] - 10, s.centre[1] + 10), "mouseup", 1, "keyup", "ctrl")
    yield Wait("moved by a Ctrl+drag", lambda: not near(ed.place.shape.centre, s.centre, 1), 5)
    assert near(ed.place.shape.centre, (s.centre[0] - 10, s.centre[1] + 10), 2 * px), ed.place.shape.centre
    j.note(f"placed about {ed.place.shape.centre}, scale {ed.place.shape.scale:.2f}, angle {ed.place.shape.angle:.0f}")
    yield Shot("polyp-placed")

    ed.place.samples.setValue(3)
    xdo("mousemove", *_centre(ed.place.queue_btn), "click", 1)
    yield Wait("queued", lambda: "Queued job" in ed.place.message.text(), 10)
    found = re.search(r"Queued job (\d+): 3 samples", ed.place.message.text())
    assert found, ed.place.message.text()
    yield Shot("queued")
    yield Wait("the synthesis job done", job_done(w, int(found.group(1))), 90)

    xdo("key", "ctrl+4")
    yield Wait(
        "Review shows the samples with the wanted outline",
        lambda: w.tabs.currentWidget() is rv and sum(t.canvas.wanted_mask is not None for t in rv.tiles) == 3,
        10,
    )
    yield Shot("review-grid")
    xdo("key", "space")
    yield Wait(
        "Review's large view outlines the wanted mask",
        lambda: rv.viewer.isVisible() and "Wanted mask" in rv.viewer.title.text(),
        5,
    )
    yield Shot("large-view")
    xdo("key", "l")
    yield Wait("outlines on", lambda: rv.viewer.style_.outlines, 5)
    yield Shot("large-view-outlines")
    xdo("key", "o")
    yield Wait("mask mode", lambda: rv.viewer.style_.mode == "mask", 5)
    yield Shot("large-view-mask")
    xdo("key", "Escape")
    yield from quit_app(j)


def _centre(widget) -> tuple[int, int]:
    p = widget.mapToGlobal(widget.rect().center())
    return p.x(), p.y()
