"""GUI responsiveness benchmarks (offscreen; not a timed test).

    python benchmarks/gui.py [--images 1000]

1. Brush stroke latency on a 1024x1024 image (target < 16 ms per dab, mask update and
   repaint included) against a baseline that recomputes the whole mask and overlay per dab.
2. Time to first paint of a workspace with N images (target < 1 s) against a baseline that
   builds every thumbnail up front (what the first app did).
3. GUI heartbeat lateness (20 ms timer) while the worker runs a mask job on every image,
   against the same timer with no job running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QPointF, Qt  # noqa: E402

from backend import masks  # noqa: E402
from backend.data.demo import write_demo_dataset  # noqa: E402
from backend.data.importer import import_dataset  # noqa: E402
from backend.workspace import Workspace  # noqa: E402
from diffgen_gui.app import make_app  # noqa: E402


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


def bench_brush(root: Path) -> None:
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
    path = [(100 + 3 * i, 300 + 200 * np.sin(i / 30)) for i in range(200)]

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
    print(f"brush dab on 1024x1024 (update + partial repaint): median {med_a:.2f} ms, p95 {p95:.2f} ms "
          f"(target < 16 ms: {'OK' if p95 < 16 else 'MISSED'}); whole-mask baseline median {med_b:.2f} ms; "
          f"ratio baseline/ours = {med_b / med_a:.1f}x")
    ed.discard_all()
    ed.close()


def many_images_workspace(root: Path, n: int) -> Workspace:
    data = write_demo_dataset(root / f"data{n}", count=n, size=96, seed=1)
    ws = Workspace.create(root / f"ws{n}")
    import_dataset(ws, data)
    return ws


def bench_first_paint(ws: Workspace) -> None:
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
        thumbnail(ws.read_image(rec), ws.read_mask(rec.current_mask_id), 112)
    t_eager = time.perf_counter() - t0
    n = len(ws.image_ids())
    print(f"first paint of {n} images: {t_first * 1e3:.0f} ms (target < 1000 ms: "
          f"{'OK' if t_first < 1 else 'MISSED'}); visible thumbnails ({loaded}) done after "
          f"{t_visible * 1e3:.0f} ms; eager baseline {t_eager * 1e3:.0f} ms; ratio {t_eager / t_first:.1f}x")
    view.close()


def bench_heartbeat(ws: Workspace) -> None:
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
    job = q.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 5}})
    t0 = time.perf_counter()
    busy = measure(None, q, job)
    dt = time.perf_counter() - t0
    q.shutdown()
    print(f"heartbeat lateness during a {dt:.1f} s mask job on {len(ws.image_ids())} images: "
          f"max {max(busy) * 1e3:.1f} ms, mean {statistics.mean(busy) * 1e3:.1f} ms "
          f"(target max < 100 ms: {'OK' if max(busy) < 0.1 else 'MISSED'}); idle baseline max "
          f"{max(idle) * 1e3:.1f} ms; ratio of max {max(busy) / max(max(idle), 1e-4):.1f}x "
          f"(status {q.store.get(job).status})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    args = ap.parse_args()
    make_app()
    root = Path(tempfile.mkdtemp(prefix="diffgen-bench-"))
    bench_brush(root)
    ws = many_images_workspace(root, args.images)
    bench_first_paint(ws)
    bench_heartbeat(ws)


if __name__ == "__main__":
    main()
