"""The real-window journey: ``diffgen gui`` as a separate process in a real X server (Xvfb),
driven from inside by ``journey_hook.py`` through the real MainWindow, worker thread and jobs.

Phase 1 edits a mask, runs mask, train, inpaint and style jobs (tiny preset, stand-in style
weights), cancels a running job, reviews, exports, starts a survey and quits midway; phase 2
reopens the app, finishes the survey and computes its results. Each phase must exit 0 with no
Qt thread warning on stderr or in the workspace log. Screenshots land in ``journey-out/``
under the test's temporary folder (and in ``$DIFFGEN_JOURNEY_KEEP`` if set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from walk_support import launch

from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.workspace import Workspace

HOOK = Path(__file__).with_name("journey_hook.py")
PHASE_TIMEOUT_S = 420

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def standin_style_weights(tmp_path_factory) -> dict[str, str]:
    from backend.demo.standins import weights_or_standin

    folder = tmp_path_factory.mktemp("weights")
    return {
        "DIFFGEN_VGG_WEIGHTS": weights_or_standin("vgg19", folder)[0],
        "DIFFGEN_DINO_WEIGHTS": weights_or_standin("dino", folder)[0],
    }


def run_phase(phase: int, ws: Path, out: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    """``diffgen gui`` on ``ws`` under Xvfb with the journey's hook driving it."""
    return launch(HOOK, str(phase), ws, out, PHASE_TIMEOUT_S, env_extra)


def check_phase(proc: subprocess.CompletedProcess, out: Path, ws: Path, phase: int) -> None:
    from diffgen_gui.qt_messages import is_thread_warning

    error = out / "journey-error.txt"
    detail = (
        f"phase {phase} rc={proc.returncode}\n--- journey error:\n"
        f"{error.read_text() if error.exists() else '(none)'}\n--- stderr tail:\n{proc.stderr[-4000:]}"
    )
    assert proc.returncode == 0, detail
    assert not error.exists(), detail
    assert "journey phase done" in (out / f"journey-phase{phase}.log").read_text(), detail
    gui_log = ws / "logs" / "gui.log"
    logged = gui_log.read_text() if gui_log.exists() else ""
    bad = [line for line in (proc.stderr + logged).splitlines() if is_thread_warning(line)]
    assert not bad, "Qt thread warnings:\n" + "\n".join(bad)


def test_real_window_journey(tmp_path, standin_style_weights):
    data = write_demo_dataset(tmp_path / "data", count=6, size=64, seed=0)
    ws_path = tmp_path / "ws"
    import_dataset(Workspace.create(ws_path), data)
    out = tmp_path / "journey-out"
    out.mkdir()
    try:
        check_phase(run_phase(1, ws_path, out, standin_style_weights), out, ws_path, 1)
        ws = Workspace.open(ws_path)
        statuses = {(j["kind"], j["status"]) for j in ws.query("SELECT kind, status FROM jobs")}
        assert {
            ("masks", "done"),
            ("train", "done"),
            ("inpaint", "cancelled"),
            ("inpaint", "done"),
            ("style", "done"),
        } <= statuses, statuses
        assert len(list((out / "export" / "images").iterdir())) >= 2
        answered = ws.query("SELECT COUNT(*) FROM survey_answers")[0][0]
        assert answered == 2, answered  # quit midway: two answers stored
        ws.close()

        check_phase(run_phase(2, ws_path, out, standin_style_weights), out, ws_path, 2)
        ws = Workspace.open(ws_path)
        assert ws.query("SELECT COUNT(*) FROM survey_answers")[0][0] == 5
        assert any((ws_path / "reports").rglob("*.md"))
        shots = sorted(p.name for p in out.glob("p*.png"))
        assert len(shots) >= 20, shots
    finally:
        keep = os.environ.get("DIFFGEN_JOURNEY_KEEP")
        if keep:
            shutil.copytree(out, keep, dirs_exist_ok=True)
