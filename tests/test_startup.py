"""Commands that compute nothing start fast: they must not import torch (4-8 s on a laptop)."""

from __future__ import annotations

import subprocess
import sys

import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
PROBE = (
    "import sys\n"
    "from diffgen_gui.launcher import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    rc = e.code\n"
    "heavy = [m for m in ('torch', 'diffusers', 'PySide6') if m in sys.modules]\n"
    "print('HEAVY', heavy, 'RC', rc, file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["info"],
        ["survey", "list"],
        ["settings", "show"],
        ["cli-reference"],
        ["jobs", "list"],
        ["export", "OUT", "--with-real"],
    ],
)
def test_commands_that_compute_nothing_leave_torch_unloaded(args, demo_ws, tmp_path):
    argv = [a.replace("OUT", str(tmp_path / "export")) for a in args]
    if args[0] not in ("--help", "settings", "cli-reference"):
        argv += ["--workspace", str(demo_ws.root)]
    demo_ws.close()
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("HEAVY [] RC "), r.stderr[-2000:]
    assert last.endswith(("RC 0", "RC None")), r.stderr[-2000:]


def test_the_parser_is_built_without_numpy_opencv_pillow_or_tqdm():
    """``diffgen --help`` builds every command's parser: 0.57 s when that loaded numpy, OpenCV
    and the workspace store, 0.22 s without (issue 17 goal: < 0.5 s). Command modules import
    what they compute with inside their ``cmd_`` functions; choices come from light modules."""
    probe = (
        "import sys\n"
        "from diffgen_gui.launcher import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('numpy', 'cv2', 'PIL', 'tqdm', 'scipy', 'torch') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]", r.stdout
