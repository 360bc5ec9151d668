"""Packaging: the PyInstaller spec evaluates and names what the bundle needs; the wheel
and sdist carry ``resources/``."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Recorder:
    """Stands in for PyInstaller's build targets: records the arguments the spec passes."""

    calls: dict[str, tuple] = {}

    def __init__(self, *args, **kwargs):
        type(self).calls[type(self).__name__] = (args, kwargs)
        self.pure = self.scripts = self.binaries = self.datas = []


def test_spec_evaluates_and_lists_resources_and_all_modules():
    import PyInstaller  # noqa: F401  (the spec is PyInstaller's; a test extra, so missing fails)

    names = {n: type(n, (_Recorder,), {}) for n in ("Analysis", "PYZ", "EXE", "COLLECT")}
    spec = ROOT / "packaging" / "diffgen.spec"
    glb = {"SPECPATH": str(spec.parent), "__file__": str(spec), **names}
    exec(compile(spec.read_text(), str(spec), "exec"), glb)
    args, kwargs = _Recorder.calls["Analysis"]
    assert Path(args[0][0]).name == "launcher.py" and Path(args[0][0]).exists()
    assert (str(ROOT / "resources"), "resources") in kwargs["datas"]
    hidden = kwargs["hiddenimports"]
    for module in ("backend.cli.data", "backend.workspace.store", "diffgen_gui.main_window", "backend.masks.ops"):
        assert module in hidden
    assert _Recorder.calls["COLLECT"][1]["name"] == "DiffGenStudio"


def test_desktop_file_is_valid():
    entries = dict(
        line.split("=", 1) for line in (ROOT / "packaging" / "diffgen-studio.desktop").read_text().splitlines() if "=" in line
    )
    assert entries["Type"] == "Application" and entries["Exec"].startswith("diffgen")
    assert (ROOT / "resources" / "icons" / "diffgen.svg").exists()


@pytest.mark.slow
def test_wheel_and_sdist_contain_resources(tmp_path):
    import build  # noqa: F401  (run below as 'python -m build'; a test extra, so missing fails)

    r = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in (
        "resources/presets/tiny.toml",
        "resources/presets/paper.toml",
        "resources/presets/diffuse-gen.toml",
        "resources/demo_recipe.json",
        "resources/icons/diffgen.svg",
        "resources/style.qss",
        "backend/cli/__init__.py",
    ):
        assert f in names, f
    sdist = next(tmp_path.glob("*.tar.gz"))
    with tarfile.open(sdist) as t:
        snames = t.getnames()
    assert any(n.endswith("resources/presets/paper.toml") for n in snames)
