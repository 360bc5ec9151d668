"""Import contract: the back end never imports Qt (as napari checks its layering)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = re.compile(r"^\s*(from|import)\s+(PySide6|PySide2|PyQt5|PyQt6|qtpy|shiboken6)\b", re.M)


def test_no_qt_import_statement_in_backend():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "backend").rglob("*.py") if QT.search(p.read_text())]
    assert offenders == []


def test_importing_every_backend_module_loads_no_qt():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "backend").rglob("*.py") if p.name != "__main__.py"
    )
    modules = [m[: -len(".__init__")] if m.endswith(".__init__") else m for m in modules]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from backend.cli import build_parser; build_parser()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PySide2', 'PyQt5', 'PyQt6', 'shiboken6', 'diffgen_gui')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(modules) > 10  # the check really walked the package
