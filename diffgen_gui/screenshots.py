"""Save a screenshot of every view to docs/screenshots/ (offscreen), on a demo workspace.

    python -m diffgen_gui.screenshots [OUT_DIR]

Builds a throwaway demo workspace with a few samples (flipped / recoloured copies of demo
images stand in for generated ones), reviews, jobs and a report, then grabs each tab.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from backend.data.importer import ensure_demo_workspace  # noqa: E402
from backend.jobs.queue import JobStore  # noqa: E402
from backend.jobs.runner import run_job  # noqa: E402
from backend.workspace import Workspace  # noqa: E402


def populate(ws: Workspace) -> None:
    """Stand-in samples, decisions, a finished and a failed job, a report."""
    ids = ws.image_ids()
    for i in ids[:3]:
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        for k, (a, m) in enumerate([(img[:, ::-1], mask[:, ::-1]), (img[::-1], mask[::-1])]):
            s = ws.add_sample(
                "inpainted",
                "Diff",
                np.ascontiguousarray(a),
                np.ascontiguousarray(m),
                source_image_id=i,
                mask_version_id=ws.current_mask(i).id,
                seed=k,
            )
            styled = np.ascontiguousarray(a[..., [1, 0, 2]])
            ws.add_sample(
                "styled", "Styled-Diff", styled, np.ascontiguousarray(m), source_image_id=i, parent_sample_id=s.id, seed=k
            )
    samples = ws.samples(source_image_id=ids[0])
    ws.set_review(samples[0].id, "keep", "realistic texture")
    ws.set_review(samples[1].id, "reject", "seam visible at the mask border")
    add_standin_gates(ws, samples)
    store = JobStore(ws)
    run_job(ws, store.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 4}, "images": ids[3:6]}))
    run_job(ws, store.enqueue("train", {"preset": "tiny", "target": "clusters"}))  # fails: no clustering yet
    store.enqueue("style", {"preset": "tiny", "overrides": ["style.skip_timesteps=10"]})
    ws.set_flag(ids[1], True, "mask misses the stalk")
    reports = ws.path("reports")
    reports.mkdir(exist_ok=True)
    (reports / "summary.md").write_text(
        "# Evaluation summary\n\n| set | FID | MS-SSIM |\n|---|---|---|\n| Diff | (placeholder) | |\n\n"
        "Reports written by `diffgen evaluate` appear in this folder.\n"
    )
    (reports / "table1.csv").write_text("set,FID,MS-SSIM\nDiff,(placeholder),\nStyled-Diff,(placeholder),\n")


def add_standin_gates(ws: Workspace, samples: list) -> None:
    """Stand-in gate scores (the stand-in samples carry no provenance to score them from):
    the first passes every gate, the second fails two, the third fails one, the rest unscored."""
    from backend.gates import GateConfig, GateScore

    cfg = GateConfig()
    good = {"no_polyp": 0.92, "cut_off": 0.05, "copy": 0.11, "seam": 0.02}
    bad = [{}, {"no_polyp": 0.08, "seam": 0.21}, {"cut_off": 0.6}]
    limits = {
        "no_polyp": (cfg.min_area_ratio, True),
        "cut_off": (cfg.max_boundary_touch, False),
        "copy": (cfg.min_region_change, True),
        "seam": (cfg.max_seam, False),
    }
    for s, worse in zip(samples, bad):
        values = good | worse
        ws.set_gates(
            s.id,
            [GateScore(g, v, limits[g][0], v >= limits[g][0] if limits[g][1] else v <= limits[g][0]) for g, v in values.items()],
        )


def add_standin_clustering(ws: Workspace, k: int = 4) -> None:
    """A stand-in clustering (k-means on mean colour) so the Clusters view has something to show;
    the real one comes from 'diffgen cluster'. Labelled as such in the database."""
    from sklearn.cluster import KMeans

    ids = ws.image_ids()
    feats = np.array([ws.read_image(i).reshape(-1, 3).mean(0) for i in ids])
    labels = KMeans(k, n_init=4, random_state=0).fit_predict(feats)
    with ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, params_json, is_current, created_at)"
            " VALUES (?, 0, 'mean colour (screenshot stand-in)', '{}', 1, ?)",
            (k, time.strftime("%Y-%m-%dT%H:%M:%S")),
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, int(lab)) for i, lab in zip(ids, labels)])


def main(out: str = "docs/screenshots") -> list[Path]:
    from PySide6.QtCore import QCoreApplication

    from diffgen_gui.app import make_app
    from diffgen_gui.main_window import MainWindow

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _app = make_app()  # held for the whole run
    root = Path(tempfile.mkdtemp(prefix="diffgen-shots-"))
    ws = ensure_demo_workspace(root / "ws", count=30, size=256)
    populate(ws)
    win = MainWindow(ws)
    win.resize(1400, 860)
    win.show()

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.01)

    saved = []

    def shot(name: str) -> None:
        settle()
        path = out_dir / f"{name}.png"
        win.grab().save(str(path))
        saved.append(path)

    dv = win.dataset_view
    dv.model.wait_idle()
    dv.select_row(1)
    ed = dv.editor
    ed.canvas.fit()
    ed.paint_stroke([(60, 60), (90, 80), (110, 120)])
    ed.preview_check.setChecked(True)
    ed.op_value.setValue(6)
    dv.model.wait_idle()
    shot("dataset")
    ed.preview_check.setChecked(False)
    ed.display_combo.setCurrentIndex(3)
    shot("mask_editor_side_by_side")
    ed.display_combo.setCurrentIndex(1)
    ed.canvas.zoom_by(2.5)
    shot("mask_editor_contour_zoom")
    ed.display_combo.setCurrentIndex(0)
    win.tabs.setCurrentIndex(1)
    shot("clusters_empty")
    add_standin_clustering(ws)
    win.state.clustersChanged.emit()
    for i, name in ((1, "clusters"), (2, "generate"), (3, "review"), (4, "survey"), (5, "reports")):
        win.tabs.setCurrentIndex(i)
        if name == "generate":
            win.generate_view.table.selectRow(1)
        if name == "review":
            win.review_view.focus(win.review_view.sample_ids()[2])
        shot(name)
    win.state.workspace.set_flag(1, False, "")
    win.dataset_view.editor.discard_all()
    win.close()
    return saved


if __name__ == "__main__":
    for p in main(*sys.argv[1:]):
        print(p)
