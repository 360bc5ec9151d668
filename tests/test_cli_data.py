"""The dataset commands end to end: demo-data, import, info, dilate, --help."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.masks.ops import dilate, erode
from backend.workspace import Workspace
from diffgen_gui.launcher import build_parser, main  # the diffgen command as users run it

ROOT = Path(__file__).resolve().parents[1]


def _subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_every_subcommand_has_help(capsys):
    names = _subcommands()
    assert {"demo-data", "import", "info", "dilate", "settings", "gui"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: diffgen {name}"), name


def test_help_and_demo_data_as_a_real_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "backend.cli", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "demo-data" in r.stdout and "import" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "backend.cli", "demo-data", str(tmp_path / "d"), "--count", "3", "--size", "32", "--seed", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Wrote 3 demo image/mask pairs (32x32, seed 5)" in r.stdout
    assert sorted(p.name for p in (tmp_path / "d" / "images").iterdir()) == [f"demo_000{i}.jpg" for i in range(3)]
    assert Image.open(tmp_path / "d" / "masks" / "demo_0002.png").size == (32, 32)


@pytest.fixture
def imported(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["demo-data", str(data), "--count", "6", "--size", "48", "--seed", "2"]) == 0
    (data / "masks" / "demo_0005.png").unlink()  # one orphan image, to see it reported
    ws = tmp_path / "ws"
    capsys.readouterr()
    rc = main(["import", str(data), "--workspace", str(ws)])
    return {"data": data, "ws": ws, "rc": rc, "out": capsys.readouterr().out}


def test_import_prints_the_report_and_creates_the_workspace(imported):
    assert imported["rc"] == 0
    out = imported["out"]
    assert f"ERROR   {imported['data'] / 'images' / 'demo_0005.jpg'}: image without mask" in out
    assert "Imported 5 image/mask pairs" in out and "1 rejected" in out
    assert Workspace.open(imported["ws"]).info()["images"] == 5


def test_import_of_nothing_fails_with_a_message(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["import", str(tmp_path / "empty"), "-w", str(tmp_path / "ws")]) == 1
    assert "no images found" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["missing", "file"])
def test_import_of_a_missing_folder_refuses_before_creating_the_workspace(tmp_path, capsys, what):
    """Issue 33 item 13: a mistyped dataset path left an empty workspace.sqlite behind."""
    dataset = tmp_path / "no-such-folder"
    if what == "file":
        dataset.write_text("not a folder")
    assert main(["import", str(dataset), "-w", str(tmp_path / "ws")]) == 1
    err = capsys.readouterr().err
    said = "does not exist" if what == "missing" else "is a file, not a folder"
    assert err.startswith(f"error: the dataset folder {dataset} {said}: ") and "nothing was written" in err
    assert not (tmp_path / "ws").exists()


def test_info_counts_and_problems(imported, capsys):
    ws = str(imported["ws"])
    assert main(["info", "--workspace", ws, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == Workspace.open(ws).info()
    assert (info["images"], info["masks"], info["mask_versions"]) == (5, 5, 5)
    assert info["problems"]["error"] == 1
    assert main(["info", "--workspace", ws, "--problems"]) == 0
    out = capsys.readouterr().out
    assert "images:        5" in out and "5 versions" in out and "1 error" in out
    assert "5 imported, 0 already present, 1 rejected" in out
    assert "demo_0005.jpg: image without mask" in out


def test_info_on_a_missing_workspace_is_a_clear_error(tmp_path, capsys):
    assert main(["info", "--workspace", str(tmp_path / "nope")]) == 1
    assert "is not a DiffGen workspace" in capsys.readouterr().err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dilate_and_erode_make_new_versions_and_leave_originals(imported, capsys):
    ws_path = imported["ws"]
    ws = Workspace.open(ws_path)
    ids = ws.image_ids()
    originals = {i: ws.current_mask(i) for i in ids}
    orig_files = {i: _digest(ws.path(m.path)) for i, m in originals.items()}
    source_masks = {p.name: _digest(p) for p in (imported["data"] / "masks").iterdir()}

    assert main(["dilate", "--workspace", str(ws_path), "--pixels", "4"]) == 0
    assert "Created 5 new mask versions (dilate 4 px)" in capsys.readouterr().out
    (job,) = ws.query("SELECT id FROM jobs WHERE kind = 'masks'")[0]  # the import before it is a job too
    for i in ids:
        cur = ws.current_mask(i)
        # the run is a job (issue 29): the new version names it as its provenance
        assert (cur.version, cur.operation, cur.params, cur.parent_id) == (
            1,
            "dilate",
            {"pixels": 4, "job_id": job},
            originals[i].id,
        )
        np.testing.assert_array_equal(ws.read_mask(cur), dilate(ws.read_mask(originals[i]), 4))
    assert main(["dilate", "-w", str(ws_path), "--pixels", "-2", "--images", f"{ids[0]},{ids[2]}"]) == 0
    for i in ids:
        cur = ws.current_mask(i)
        if i in (ids[0], ids[2]):
            assert (cur.version, cur.operation) == (2, "erode")
            np.testing.assert_array_equal(ws.read_mask(cur), erode(dilate(ws.read_mask(originals[i]), 4), 2))
        else:
            assert cur.version == 1
    assert {i: _digest(ws.path(m.path)) for i, m in originals.items()} == orig_files
    assert {p.name: _digest(p) for p in (imported["data"] / "masks").iterdir()} == source_masks
    assert ws.info()["mask_versions"] == 5 + 5 + 2


# -- issue 14: bad input to 'diffgen import' ----------------------------------------------------------
def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["equal", "inside"])
def test_import_refuses_a_workspace_inside_the_dataset_before_creating_it(tmp_path, capsys, where):
    data = tmp_path / "data"
    assert main(["demo-data", str(data), "--count", "2", "--size", "32"]) == 0
    before = _tree(data)
    ws = data if where == "equal" else data / "ws"
    capsys.readouterr()
    assert main(["import", str(data), "-w", str(ws)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the workspace {ws} ") and "nothing was written" in err
    assert _tree(data) == before and not (data / "ws").exists()


def test_import_follow_symlinks_flag(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["demo-data", str(data), "--count", "2", "--size", "32"]) == 0
    far = tmp_path / "far.jpg"
    (data / "images" / "demo_0001.jpg").rename(far)
    (data / "images" / "demo_0001.jpg").symlink_to(far)
    assert main(["import", str(data), "-w", str(tmp_path / "ws1")]) == 0
    assert (
        f"ERROR   {data / 'images' / 'demo_0001.jpg'}: symbolic link to {far}, outside the dataset: skipped"
        in capsys.readouterr().out
    )
    assert main(["import", str(data), "-w", str(tmp_path / "ws2"), "--follow-symlinks"]) == 0
    assert "Imported 2 image/mask pairs" in capsys.readouterr().out
    assert Workspace.open(tmp_path / "ws2").info()["images"] == 2


def test_import_max_pixels_flag(imported, capsys):
    assert main(["import", str(imported["data"]), "-w", str(imported["ws"]) + "2", "--max-pixels", "2000"]) == 1
    out = capsys.readouterr().out
    assert "demo_0000.jpg: image is 48x48 = 2,304 pixels" in out and "above the limit of 2,000 pixels" in out
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as e:
            main(["import", str(imported["data"]), "-w", str(imported["ws"]), "--max-pixels", bad])
        assert e.value.code == 2
        assert "--max-pixels" in capsys.readouterr().err


def test_import_of_empty_images_and_masks_says_why(tmp_path, capsys):
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "masks").mkdir()
    assert main(["import", str(tmp_path / "data"), "-w", str(tmp_path / "ws")]) == 1
    out = capsys.readouterr().out
    assert "images/ and masks/ hold no image files" in out and "nothing to import" in out
    assert "Imported 0 image/mask pairs" in out and "0 rejected" in out


def test_import_on_a_full_disk_fails_with_a_clear_message(imported, capsys, monkeypatch):
    import backend.data.importer as importer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(importer, "atomic_write_bytes", full)
    assert main(["import", str(imported["data"]), "-w", str(imported["ws"]) + "2", "--copy"]) == 1
    out = capsys.readouterr().out
    assert "disk full ([Errno 28] No space left on device) while writing into the workspace" in out
    assert "stopped after 0 of 5 pairs" in out and "Stopped early: disk full" in out


@pytest.mark.parametrize("command", [["import", "DATA"], ["info"], ["dilate", "--pixels", "2"]])
def test_a_workspace_that_is_a_file_is_a_clear_error(imported, tmp_path, capsys, command):
    afile = tmp_path / "notes.txt"
    afile.write_text("not a workspace")
    args = [str(imported["data"]) if a == "DATA" else a for a in command]
    assert main(args + ["-w", str(afile)]) == 1
    assert capsys.readouterr().err == (
        f"error: {afile} is a file, not a workspace folder: name a workspace folder (a new one is created by 'diffgen import')\n"
    )
    assert afile.read_text() == "not a workspace"
    assert main(args + ["-w", str(afile / "ws")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(afile / "ws") in err


def test_a_reader_that_goes_away_stops_the_command_quietly(imported):
    """``diffgen info | head -1``: the pipe closes before the command writes; no traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the child writes anything
    proc = subprocess.run(
        [sys.executable, "-m", "backend.cli", "info", "--workspace", str(imported["ws"]), "--json"],
        stdout=write,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=120,
    )
    os.close(write)
    assert proc.returncode == 141 and proc.stderr.decode() == "", proc.stderr.decode()[-2000:]
