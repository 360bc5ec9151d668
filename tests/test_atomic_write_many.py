"""atomic_write_many: many files written as atomic_write_bytes writes one (whole, with the
permissions of a plain open, every one synced), and on a failure no temp file and no file
of the batch is left."""

from __future__ import annotations

import os
import stat

import pytest

from backend.io import files


def test_every_file_is_written_whole_synced_and_with_plain_permissions(tmp_path, monkeypatch):
    synced = []
    real = files._write_and_sync

    def counting(fd, data):
        synced.append(len(data))
        real(fd, data)

    monkeypatch.setattr(files, "_write_and_sync", counting)
    batch = [(tmp_path / f"d{i % 3}" / f"{i}.bin", os.urandom(100 + i)) for i in range(40)]
    (tmp_path / "d0").mkdir()
    (tmp_path / "d0" / "0.bin").write_bytes(b"old")  # replaced whole
    files.atomic_write_many(batch)
    assert sorted(synced) == sorted(len(d) for _, d in batch)
    for path, data in batch:
        assert path.read_bytes() == data
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(batch[5][0].stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


def test_a_failure_leaves_no_temp_and_no_file_of_the_batch(tmp_path):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    batch = [(tmp_path / "ok" / "a.bin", b"a"), (tmp_path / "blocked" / "b.bin", b"b"), (tmp_path / "ok" / "c.bin", b"c")]
    with pytest.raises(OSError):
        files.atomic_write_many(batch)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["blocked", "ok"]  # the folder made, nothing in it
