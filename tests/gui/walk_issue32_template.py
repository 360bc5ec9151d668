"""The desktop rater asks a template's questions in a real X window (issue 32 item 10).

``diffgen survey rate`` on a survey made with ``--questions docs/survey-questions.toml`` (a
CEMIS-style Likert template), driven from outside as a rater drives it: keys sent by xdotool to
the window under Xvfb, screenshots by ImageMagick's ``import``. Two Likert answers and the
template's own real/synthetic keys (A and D) per item, Esc and Enter to end the session, a
second start resumes at the first unanswered item. Before templates the window had the
paper's three questions only, and these keys did nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from walk_support import ROOT, demo_workspace, walk_folder, xvfb_run

pytestmark = pytest.mark.slow
TIMEOUT_S = 180

DRIVER = r"""
set -u
PY="$1"; WS="$2"; OUT="$3"
start() {
  QT_QPA_PLATFORM=xcb "$PY" -m diffgen_gui survey rate -w "$WS" --survey likert --rater dr-a >>"$OUT/rate.log" 2>&1 &
  PID=$!
  xdotool search --sync --name "Blinded review" >/dev/null
  sleep 2
}
end() {  # Esc asks; Enter says yes; the kiosk process then ends
  xdotool key Escape; sleep 1; xdotool key Return
  wait "$PID"; echo "session ended: $?"
}
start
import -window root "$OUT/p32t-1-first.png"
xdotool key --delay 150 4 0 d; sleep 0.5; xdotool key Return; sleep 1
xdotool key --delay 150 1 6 a; sleep 0.5; xdotool key Return; sleep 1
end
start
import -window root "$OUT/p32t-2-resumed.png"
xdotool key --delay 150 2 7 a; sleep 0.5; xdotool key Return; sleep 1
end
"""


def _tools() -> None:
    missing = [t for t in ("xdotool", "import") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing: .ci/run installs xdotool and imagemagick")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install xdotool imagemagick)")


def test_the_desktop_rater_asks_the_templates_questions(tmp_path):
    from backend import survey as sv

    _tools()
    xvfb = xvfb_run()
    ws = demo_workspace(tmp_path, count=6, size=32, seed=1)
    template = ROOT / "docs" / "survey-questions.toml"
    survey = sv.create_survey(ws, sv.SurveyConfig("likert", {"real": 4}, questions=str(template)))
    rater = sv.add_rater(ws, survey, "dr-a")
    order = sv.rater_order(ws, survey, rater)
    ws.close()
    out = walk_folder("32t", tmp_path)
    (out / "rate.log").unlink(missing_ok=True)
    driver = tmp_path / "driver.sh"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1280x800x24", "bash", str(driver), sys.executable, str(tmp_path / "ws"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=ROOT,
    )
    log = (out / "rate.log").read_text(encoding="utf-8") if (out / "rate.log").exists() else ""
    assert done.stdout.count("session ended: 0") == 2, (done.stdout, done.stderr, log)
    assert "Traceback" not in log, log

    from backend.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    stored = sv.answers_of(ws, sv.get_rater(ws, sv.get_survey(ws, "likert"), "dr-a"))
    assert [stored[i].values for i in order[:3]] == [
        {"realism": "4", "clinical_utility": "5", "real_fake": "fake"},
        {"realism": "1", "clinical_utility": "1", "real_fake": "real"},
        {"realism": "2", "clinical_utility": "2", "real_fake": "real"},  # rated after the restart
    ]
    assert order[3] not in stored
    shots = [np.asarray(Image.open(out / f"p32t-{n}.png")) for n in ("1-first", "2-resumed")]
    assert all(s.std() > 10 for s in shots) and not np.array_equal(*shots)  # a window, another item
