"""GUI responsiveness benchmarks (offscreen; not a timed test).

    python -m benchmarks.gui [--images 1000] [--smoke]

1. Brush stroke latency on a 1024x1024 image (target < 16 ms per dab, mask update and
   repaint included) against a baseline that recomputes the whole mask and overlay per dab.
2. Time to first paint of a workspace with N images (target < 1 s) against a baseline that
   builds every thumbnail up front (what the first app did).
3. GUI heartbeat lateness (20 ms timer) while the worker runs a mask job on every image,
   against the same timer with no job running.
4. Review of 1000 samples (5 per image): opening the tab, N (next undecided) and a decision
   (K, which stores it and moves on), median and slowest of each (target < 100 ms), against
   the same with 10 samples (two images).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt  # noqa: E402

from backend.data.demo import write_demo_dataset  # noqa: E402
from backend.data.importer import import_dataset  # noqa: E402
from backend.masks import ops as masks  # noqa: E402
from backend.workspace import Workspace  # noqa: E402
from benchmarks._common import Figure, report  # noqa: E402
from diffgen_gui.app import make_app  # noqa: E402

BENCH = "gui"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def pump(seconds: float = 0.0) -> None:
    end = time.perf_counter() + seconds
    while True:
        QCoreApplication.processEvents()
        if time.perf_counter() >= end:
            return
        time.sleep(0.002)


def big_workspace(root: Path) -> Workspace:
    ws = Workspace.create(root / "big")
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8), (0, 0), 3)
    mask = np.zeros((1024, 1024), np.uint8)
    cv2.circle(mask, (500, 520), 220, 255, -1)
    src = root / "big-src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    cv2.imwrite(str(src / "images" / "big.png"), img)
    cv2.imwrite(str(src / "masks" / "big.png"), mask)
    import_dataset(ws, src)
    return ws


def bench_brush(root: Path, dabs: int) -> Figure:
    from diffgen_gui.mask_editor import MaskEditor
    from diffgen_gui.state import WorkspaceState

    ws = big_workspace(root)
    ed = MaskEditor(WorkspaceState(ws))
    ed.resize(1400, 1000)
    ed.show()
    ed.load(ws.image_ids()[0])
    ed.canvas.fit()
    ed.size_spin.setValue(12)
    pump(0.2)
    path = [(100 + 3 * i, 300 + 200 * np.sin(i / 30)) for i in range(dabs)]

    def ours() -> list[float]:
        times = []
        ed._on_press(QPointF(*path[0]), Qt.MouseButton.LeftButton)
        for x, y in path[1:]:
            t = time.perf_counter()
            ed._on_drag(QPointF(x, y))
            QCoreApplication.processEvents()  # delivers the pending (partial) repaint
            times.append(time.perf_counter() - t)
        ed._on_release(QPointF(*path[-1]))
        return times

    def baseline() -> list[float]:
        times = []
        last = path[0]
        for x, y in path[1:]:
            t = time.perf_counter()
            assert ed.session is not None
            new = masks.brush(ed.session.mask, [last, (x, y)], 12)
            ed.session.mask[...] = new
            ed.canvas.mask_updated(None)
            QCoreApplication.processEvents()  # delivers the pending (partial) repaint
            times.append(time.perf_counter() - t)
            last = (x, y)
        return times

    a, b = ours(), baseline()
    med_a, med_b = statistics.median(a) * 1e3, statistics.median(b) * 1e3
    p95 = sorted(a)[int(0.95 * len(a))] * 1e3
    ed.discard_all()
    ed.close()
    return Figure(
        f"brush dab on 1024x1024, median (p95 {p95:.2f} ms, target p95 < 16 ms: {verdict(p95 < 16)})",
        med_a,
        "ms",
        med_b,
        "whole-mask update",
    )


def many_images_workspace(root: Path, n: int) -> Workspace:
    data = write_demo_dataset(root / f"data{n}", count=n, size=96, seed=1)
    ws = Workspace.create(root / f"ws{n}")
    import_dataset(ws, data)
    return ws


def bench_first_paint(ws: Workspace) -> Figure:
    from diffgen_gui.dataset_view import DatasetView
    from diffgen_gui.render import thumbnail
    from diffgen_gui.state import WorkspaceState

    t0 = time.perf_counter()
    view = DatasetView(WorkspaceState(ws))
    view.resize(1400, 900)
    view.show()
    view.grid.repaint()
    t_first = time.perf_counter() - t0
    view.model.wait_idle(60000)
    pump(0.1)
    t_visible = time.perf_counter() - t0
    loaded = len(view.model._cache)

    t0 = time.perf_counter()
    for rec in ws.images():  # baseline: every thumbnail up front
        assert rec.current_mask_id is not None  # every demo image has a mask
        thumbnail(ws.read_image(rec), ws.read_mask(rec.current_mask_id), 112)
    t_eager = time.perf_counter() - t0
    n = len(ws.image_ids())
    view.close()
    return Figure(
        f"first paint of {n} images (target < 1000 ms: {verdict(t_first < 1)}; visible "
        f"thumbnails ({loaded}) after {t_visible * 1e3:.0f} ms)",
        t_first * 1e3,
        "ms",
        t_eager * 1e3,
        "every thumbnail up front",
    )


def bench_heartbeat(ws: Workspace) -> Figure:
    from diffgen_gui.widgets.heartbeat import Heartbeat
    from diffgen_gui.worker import JobQueue

    def measure(seconds: float | None, queue=None, job_id=None) -> list[float]:
        beat = Heartbeat()
        beat.start()
        if seconds is not None:
            pump(seconds)
        else:
            while queue.store.get(job_id).status in ("queued", "running"):
                pump(0.05)
        return beat.stop()

    idle = measure(1.0)
    q = JobQueue(ws)
    pump(0.2)
    job = q.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 5}, "all": True})
    t0 = time.perf_counter()
    busy = measure(None, q, job)
    dt = time.perf_counter() - t0
    q.shutdown()
    return Figure(
        f"heartbeat lateness during a {dt:.1f} s mask job on {len(ws.image_ids())} images, max "
        f"(mean {statistics.mean(busy) * 1e3:.1f} ms; target max < 100 ms: {verdict(max(busy) < 0.1)}; "
        f"job {q.store.get(job).status})",
        max(busy) * 1e3,
        "ms",
        max(idle) * 1e3,
        "idle, max",
    )


def review_workspace(root: Path, images: int, per_image: int) -> Workspace:
    """``images`` demo images with ``per_image`` inpainted samples each (shifted copies)."""
    ws = many_images_workspace(root, images)
    for i in ws.image_ids():
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        for k in range(per_image):
            ws.add_sample("inpainted", "Diff", np.roll(img, k + 1, 1).copy(), mask, source_image_id=i, seed=k)
    return ws


def review_timings(ws: Workspace, steps: int) -> dict[str, tuple[float, float]]:
    """Median and slowest build of the Review view (of 5, after one untimed), N and K (of
    ``steps`` each), in ms, with the events they post delivered."""
    from PySide6.QtTest import QTest

    from diffgen_gui.review_view import ReviewView
    from diffgen_gui.state import WorkspaceState

    state = WorkspaceState(ws)

    def gone(view: ReviewView) -> None:
        """Closed and deleted: a view left behind would follow every decision too."""
        view.close()
        view.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)

    gone(ReviewView(state))  # the first view of a process also polishes its widget classes: the app does that at start
    opened = []
    for _ in range(5):
        t = time.perf_counter()
        view = ReviewView(state)
        view.resize(1600, 1000)
        view.show()
        QCoreApplication.processEvents()
        opened.append(time.perf_counter() - t)
        gone(view)
    view = ReviewView(state)
    view.resize(1600, 1000)
    view.show()
    pump(0.1)

    def pressed(key: Qt.Key, times_pressed: int) -> list[float]:
        times = []
        for _ in range(times_pressed):
            t = time.perf_counter()
            QTest.keyClick(view, key)
            QCoreApplication.processEvents()
            times.append(time.perf_counter() - t)
        return times

    # K on every sample at most: a K once all are decided neither stores anything new nor moves
    out = {"open": opened, "N": pressed(Qt.Key.Key_N, steps), "K": pressed(Qt.Key.Key_K, min(steps, len(view.items)))}
    gone(view)
    return {k: (statistics.median(v) * 1e3, max(v) * 1e3) for k, v in out.items()}


def bench_review(root: Path, samples: int, steps: int) -> list[Figure]:
    per_image = 5  # N and K go on to another image every 5 samples, in both workspaces
    small = review_timings(review_workspace(root / "review-small", 2, per_image), steps)
    large = review_timings(review_workspace(root / "review-large", samples // per_image, per_image), steps)
    what = {"open": "building the Review view", "N": "N (next undecided)", "K": "K (keep, then the next undecided)"}
    return [
        Figure(
            f"{what[k]} with {samples} samples, median (slowest {large[k][1]:.0f} ms; target < 100 ms: "
            f"{verdict(large[k][1] < 100)})",
            large[k][0],
            "ms",
            small[k][0],
            f"10 samples (slowest {small[k][1]:.0f} ms)",
        )
        for k in what
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000, help="samples in the review benchmark")
    ap.add_argument("--smoke", action="store_true", help="20 images, 30 brush dabs, 100 samples to review")
    args = ap.parse_args(argv)
    images, dabs, samples = (20, 30, 100) if args.smoke else (args.images, 200, args.samples)
    make_app()
    with tempfile.TemporaryDirectory(prefix="diffgen-bench-") as tmp:
        root = Path(tmp)
        figures = [bench_brush(root, dabs)]
        ws = many_images_workspace(root, images)
        figures += [bench_first_paint(ws), bench_heartbeat(ws)]
        figures += bench_review(root, samples, 30)
    return report(BENCH, figures)


if __name__ == "__main__":
    main()
