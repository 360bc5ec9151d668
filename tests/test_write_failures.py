"""Writes that fail: a full disk during inpainting, export and import (and a full database) is
a message naming the file, the space it needs and the space left, from the real CLI; never a
traceback, and no half-written output. The staging folder of an export killed with -9 is
removed by the next export of the same folder."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys

import pytest
import torch

from backend.cli import main
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.registry import register_model
from backend.io import files


@pytest.fixture
def full_disk(monkeypatch):
    """From the first file write on, the disk has no space (as with 4 kB free: every image is larger)."""
    writes: list[int] = []

    def no_space(fd, data):
        writes.append(len(data))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "_write_and_sync", no_space)
    return writes


def _inpaint(ws, dataset, tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    folder = save_model(ws.root / "models" / "full", build_model(cfg), DiffusionConfig(timestep_respacing="10"))
    register_model(ws, "full", "full", "tiny", {}, folder)
    argv = ["inpaint", "-w", str(ws.root), "--images", "1", "--samples", "1", "--respacing", "10", "--jump-length", "5"]
    return [*argv, "--jump-n-sample", "2", "--dilate", "2", "--model", str(folder)], ws.root / "samples"


def _export(ws, dataset, tmp_path):
    ws.add_sample("inpainted", "Diff", ws.read_image(1), ws.read_mask(ws.current_mask(1)), source_image_id=1)
    ws.set_review(ws.samples()[0].id, "keep")
    return ["export", "-w", str(ws.root), str(tmp_path / "out")], tmp_path / "out"


def _import(ws, dataset, tmp_path):
    return ["import", "-w", str(tmp_path / "new-ws"), "--copy", str(dataset)], tmp_path / "new-ws"


@pytest.mark.parametrize("command", [_inpaint, _export, _import], ids=["inpaint", "export", "import"])
def test_a_full_disk_is_a_message_naming_the_file_and_the_space(demo_ws, demo_dataset, tmp_path, capsys, command, request):
    argv, output = command(demo_ws, demo_dataset, tmp_path)
    full = request.getfixturevalue("full_disk")  # armed once the test's own data are written
    capsys.readouterr()
    assert main(argv) == 1  # an exception here would be the traceback the user saw
    captured = capsys.readouterr()
    err = captured.err + captured.out  # import lists its problems in its report
    assert full, "nothing was written: the test did not reach the disk"
    assert "disk full while writing " in err and "No space left on device" in err
    assert f"it needs {max(1, round(full[0] / 1e3))} kB, " in err  # every first write here is under 100 kB
    assert re.search(r"\d(\.\d)? (kB|MB|GB) free there; free some space and run it again", err)
    leftovers = [p for p in output.rglob("*") if p.is_file()] if output.exists() else []
    assert not [p for p in leftovers if p.suffix == ".tmp" or p.name.startswith(".")]


def test_a_full_disk_under_the_parquet_writer_is_a_message(demo_ws, tmp_path, monkeypatch, capsys):
    """The hf export's parquet files are written by pyarrow, not the atomic writer: its 'no
    space left' (an OSError with errno 28, as pyarrow raises it on a full tmpfs) is a message too."""
    import pyarrow.parquet as pq

    def no_space(self, table, row_group_size=None):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", no_space)
    argv, out = _export(demo_ws, None, tmp_path)
    capsys.readouterr()
    assert main([*argv, "--format", "hf"]) == 1
    err = capsys.readouterr().err
    assert f"error: disk full while writing the hf export into {out} (" in err and f"nothing was written to {out}" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_full_database_is_a_message(demo_ws, monkeypatch, capsys):
    """SQLite's own 'database or disk is full' (here: the file may not grow) from a command that adds rows."""
    from backend.workspace import access

    real = access.connect

    def capped(db, read_only):
        c = real(db, read_only)
        c.execute(f"PRAGMA max_page_count = {c.execute('PRAGMA page_count').fetchone()[0]}")
        return c

    monkeypatch.setattr(access, "connect", capped)
    demo_ws.close()
    argv = ["dilate", "-w", str(demo_ws.root), "--pixels", "1", "--images", ",".join(map(str, demo_ws.image_ids()))]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: disk full while writing the workspace database (database or disk is full)" in err


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_later_export_removes_the_staging_folder_of_a_killed_one(demo_ws, tmp_path):
    from backend.exporters.job import export_kept

    demo_ws.add_sample("inpainted", "Diff", demo_ws.read_image(1), demo_ws.read_mask(demo_ws.current_mask(1)), source_image_id=1)
    demo_ws.set_review(demo_ws.samples()[0].id, "keep")
    killed = tmp_path / f".out.{_dead_pid()}.k1ll3d_x.tmp"  # what kill -9 during an export leaves
    (killed / "images").mkdir(parents=True)
    (killed / "images" / "half.png").write_bytes(b"half")
    running = tmp_path / f".out.{os.getpid()}.l1ve_abc.tmp"  # a live writer's: kept
    running.mkdir()
    other = tmp_path / f".elsewhere.{_dead_pid()}.abc.tmp"  # another target's: not this export's business
    other.mkdir()
    export_kept(demo_ws, tmp_path / "out")
    assert not killed.exists() and running.is_dir() and other.is_dir()
    assert (tmp_path / "out" / "provenance.csv").is_file()
