"""Import of hostile or unusual datasets (issue 14): workspace inside the dataset, symbolic links,
label masks, huge images, multi-frame files, empty folders, two imports at once, a full disk.

Fixtures are made here with PIL/numpy/zlib; expectations come from the arrays they were made from.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import sqlite3
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from import_support import H, W, _mask, _rgb, _save_png, _tree_state
from PIL import Image

from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.errors import BadInputError
from backend.workspace import Workspace


def _pair(root: Path, name: str, seed: int, mask: np.ndarray | None = None) -> np.ndarray:
    _save_png(root / "images" / f"{name}.png", _rgb(seed))
    m = _mask(seed) if mask is None else mask
    _save_png(root / "masks" / f"{name}.png", m)
    return m


def _errors(report) -> dict[str, str]:
    """Error messages by file, relative to the dataset (images/NAME or masks/NAME)."""
    return {str(Path(p.file).relative_to(report.source)): p.message for p in report.problems if p.severity == "error"}


# -- a. a workspace inside the dataset ------------------------------------------------------------
@pytest.mark.parametrize("where", ["equal", "inside"])
def test_a_workspace_inside_the_dataset_is_refused_and_nothing_written(tmp_path, where):
    data = write_demo_dataset(tmp_path / "data", count=3, size=32, seed=0)
    ws = Workspace.create(data if where == "equal" else data / "sub" / "ws")
    before = _tree_state(data)
    words = "is the dataset folder itself" if where == "equal" else f"is inside the dataset {data}"
    with pytest.raises(BadInputError, match=f"{words}: importing would write into the dataset"):
        import_dataset(ws, data, copy=True)
    assert _tree_state(data) == before
    assert ws.query("SELECT COUNT(*) FROM imports")[0][0] == 0


def test_a_dataset_inside_the_workspace_is_still_allowed(tmp_path):
    ws = Workspace.create(tmp_path / "ws")  # the demo workspace keeps its data in ws/demo-data
    data = write_demo_dataset(tmp_path / "ws" / "demo-data", count=2, size=32, seed=0)
    assert import_dataset(ws, data).imported == 2


# -- b. symbolic links, loops, folders named like images ------------------------------------------
@pytest.fixture
def linked(tmp_path) -> dict:
    root, outside = tmp_path / "linked", tmp_path / "outside"
    names = ["plain", "outlink", "inlink", "loop", "folder"]
    masks = {name: _pair(root, name, i) for i, name in enumerate(names)}
    _save_png(outside / "far.png", _rgb(20))
    (root / "images" / "outlink.png").unlink()
    (root / "images" / "outlink.png").symlink_to(outside / "far.png")
    _save_png(root / "extra" / "near.png", _rgb(21))
    (root / "images" / "inlink.png").unlink()
    (root / "images" / "inlink.png").symlink_to(Path("..") / "extra" / "near.png")
    (root / "images" / "loop.png").unlink()
    (root / "images" / "loop.png").symlink_to("loop2.png")
    (root / "images" / "loop2.png").symlink_to("loop.png")
    (root / "images" / "folder.png").unlink()
    (root / "images" / "folder.png").mkdir()
    (root / "images" / "broken.png").symlink_to(tmp_path / "gone.png")
    return {"root": root, "outside": outside, "masks": masks}


def test_b_links_out_of_the_dataset_are_refused_loops_and_folders_named(tmp_path, linked):
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, linked["root"])
    assert sorted(r.name for r in ws.images()) == ["inlink", "plain"]  # a link inside the dataset is fine
    errors = _errors(report)
    far = linked["outside"] / "far.png"
    assert errors["images/outlink.png"] == (
        f"symbolic link to {far}, outside the dataset: skipped (allow it with follow_symlinks / --follow-symlinks)"
    )
    loop = "symbolic link loop (the link leads back to itself): skipped"
    assert errors["images/loop.png"] == errors["images/loop2.png"] == loop
    assert errors["images/folder.png"] == "is a folder, not an image file: skipped"
    gone = tmp_path / "gone.png"
    assert errors["images/broken.png"] == f"broken symbolic link (its target {gone} does not exist): skipped"
    assert not any("cannot" in m for m in errors.values())
    inlink = ws.images("name = 'inlink'")[0]
    np.testing.assert_array_equal(ws.read_image(inlink), _rgb(21))


def test_b_follow_symlinks_accepts_the_outside_file_with_a_note(tmp_path, linked):
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, linked["root"], follow_symlinks=True)
    assert sorted(r.name for r in ws.images()) == ["inlink", "outlink", "plain"]
    rec = ws.images("name = 'outlink'")[0]
    np.testing.assert_array_equal(ws.read_image(rec), _rgb(20))
    np.testing.assert_array_equal(ws.read_mask(ws.current_mask(rec.id)), linked["masks"]["outlink"])
    notes = [p.message for p in report.problems if p.severity == "note" and Path(p.file).name == "outlink.png"]
    assert notes == [f"symbolic link to {linked['outside'] / 'far.png'}, outside the dataset: followed"]
    assert "images/loop.png" in _errors(report)  # following links does not make loops usable


# -- c. label masks ----------------------------------------------------------------------------------
def test_c_label_masks_read_as_label_above_zero_and_8bit_masks_still_thresholded(tmp_path):
    root = tmp_path / "labels"
    polyp = _mask(0) > 0
    _pair(root, "zero_one", 1, polyp.astype(np.uint8))
    classes = polyp.astype(np.uint8) * 2
    classes[:, : W // 2][polyp[:, : W // 2]] = 1  # two polyp classes, labels 1 and 2
    _pair(root, "classes", 2, classes)
    Image.fromarray(polyp.astype(np.uint16)).save(root / "masks" / "wide.png")  # 16-bit 0/1
    _save_png(root / "images" / "wide.png", _rgb(3))
    # A 0/255 mask saved as JPEG: noise around 0 and 255 must not turn into polyp or holes.
    Image.fromarray(polyp.astype(np.uint8) * 255).save(root / "masks" / "noisy.jpg", quality=60)
    _save_png(root / "images" / "noisy.png", _rgb(4))
    faint = polyp.astype(np.uint8) * 60
    _pair(root, "faint", 5, faint)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root)
    assert report.imported == 5 and report.rejected == 0
    masks = {r.name: ws.read_mask(ws.current_mask(r.id)) for r in ws.images()}
    for name in ("zero_one", "classes", "wide"):
        np.testing.assert_array_equal(masks[name], polyp.astype(np.uint8) * 255, err_msg=name)
    notes = {(Path(p.file).name, p.message) for p in report.problems if p.severity == "note"}
    assert ("zero_one.png", "label mask (values 0..1): every pixel above 0 read as polyp") in notes
    assert ("classes.png", "label mask (values 0..2): every pixel above 0 read as polyp") in notes
    decoded = np.asarray(Image.open(root / "masks" / "noisy.jpg"))
    assert 0 < decoded[~polyp].max() < 128 < decoded[polyp].min()  # the fixture really is noisy
    np.testing.assert_array_equal(masks["noisy"], polyp.astype(np.uint8) * 255)
    assert not ws.images("name = 'noisy'")[0].flagged
    # A mask whose values stay below mid-grey is not a label map: it is read as empty, and said so.
    assert not masks["faint"].any() and ws.images("name = 'faint'")[0].flagged
    assert ("faint.png", "mask values are at most 60 of 255, all below the threshold 128: read as empty") in notes


# -- d. pixel limit ----------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG that declares w x h grey pixels but holds no pixel data: decoding it fails."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b""))


def test_d_images_above_the_pixel_limit_are_refused_from_the_header(tmp_path):
    root = tmp_path / "huge"
    _png_header_only(root / "images" / "huge.png", 10000, 10000)
    _save_png(root / "masks" / "huge.png", _mask(0))
    _pair(root, "small", 1)
    _save_png(root / "images" / "bigmask.png", _rgb(2))
    _png_header_only(root / "masks" / "bigmask.png", 9000, 8000)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root)
    assert [r.name for r in ws.images()] == ["small"]
    size = (root / "images" / "huge.png").stat().st_size / 1e3
    # "not decoded": decoding this file would have failed as truncated, so the header decided.
    assert _errors(report)["images/huge.png"] == (
        f"image is 10000x10000 = 100,000,000 pixels (file {size:,.0f} KB), above the limit of "
        f"67,108,864 pixels: not decoded; raise the limit (max_pixels, --max-pixels) if the image is meant"
        f": pair skipped"
    )
    assert "9000x8000 = 72,000,000 pixels" in _errors(report)["masks/bigmask.png"]


def test_d_the_pixel_limit_is_configurable(tmp_path):
    root = tmp_path / "limit"
    _pair(root, "a", 0)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root, max_pixels=W * H - 1)
    assert report.imported == 0 and f"above the limit of {W * H - 1:,} pixels" in _errors(report)["images/a.png"]
    assert import_dataset(ws, root, max_pixels=W * H).imported == 1
    # Above Pillow's own guard (twice Image.MAX_IMAGE_PIXELS): the user's limit still decides.
    _png_header_only(root / "images" / "wide.png", 20000, 10000)
    _save_png(root / "masks" / "wide.png", _mask(1))
    report = import_dataset(ws, root, max_pixels=250_000_000)
    assert "corrupt or truncated" in _errors(report)["images/wide.png"]  # passed the size checks, then decoded


# -- e. multi-frame files, empty folders -------------------------------------------------------------
def test_e_multi_page_tiff_and_apng_use_the_first_frame_and_say_so(tmp_path):
    root = tmp_path / "frames"
    pages = [Image.fromarray(_rgb(i)) for i in range(3)]
    (root / "images").mkdir(parents=True)
    pages[0].save(root / "images" / "tiff.tif", save_all=True, append_images=pages[1:])
    _save_png(root / "masks" / "tiff.png", _mask(0))
    pages[1].save(root / "images" / "apng.png", save_all=True, append_images=[pages[2]], duration=100)
    masks = [Image.fromarray(_mask(i)) for i in (1, 2)]
    masks[0].save(root / "masks" / "apng.png", save_all=True, append_images=masks[1:], duration=100)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root)
    assert report.imported == 2
    by_name = {r.name: r for r in ws.images()}
    np.testing.assert_array_equal(ws.read_image(by_name["tiff"]), _rgb(0))
    np.testing.assert_array_equal(ws.read_image(by_name["apng"]), _rgb(1))
    np.testing.assert_array_equal(ws.read_mask(ws.current_mask(by_name["apng"].id)), _mask(1))
    notes = {(str(Path(p.file).relative_to(root)), p.message) for p in report.problems if p.severity == "note"}
    for rel, n in (("images/tiff.tif", 3), ("images/apng.png", 2), ("masks/apng.png", 2)):
        assert (rel, f"{n} frames (multi-page or animated file): only the first frame is used") in notes


def test_e_empty_images_and_masks_say_why_nothing_was_imported(tmp_path):
    root = tmp_path / "empty"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "images" / "scan.webp").write_bytes(b"RIFF")
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root)
    assert [(p.file, p.severity, p.message) for p in report.problems] == [
        (
            str(root),
            "error",
            "images/ and masks/ hold no image files (.jpg, .jpeg, .png, .bmp, .tif, .tiff)"
            " (1 other file ignored, e.g. scan.webp): nothing to import",
        )
    ]
    assert (report.imported, report.rejected) == (0, 0)


# -- f. two imports of one dataset at once -----------------------------------------------------------
def _import_in_process(ws_root: str, data: str, barrier, results) -> None:
    """Child process: the first decode waits for the other process, so both have checked that the
    first pair is new and race to insert it (the barrier breaks, failing the test, if they do not)."""
    import backend.data.importer as importer

    real, waited = importer.load_rgb, []

    def load_rgb(*args, **kwargs):
        if not waited:
            waited.append(True)
            barrier.wait(60)
        return real(*args, **kwargs)

    importer.load_rgb = load_rgb
    try:
        r = importer.import_dataset(Workspace.open(ws_root), data)
        results.put((r.imported, r.already_present, r.rejected, [p.severity for p in r.problems]))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(repr(e))


def test_f_two_processes_importing_the_same_dataset(tmp_path, demo_dataset):
    Workspace.create(tmp_path / "ws").close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    args = (str(tmp_path / "ws"), str(demo_dataset), barrier, results)
    procs = [ctx.Process(target=_import_in_process, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert sum(o[0] for o in outcomes) == 12  # each pair imported exactly once ...
    for imported, present, rejected, severities in outcomes:
        assert imported + present == 12 and rejected == 0  # ... the rest seen as present
        assert "error" not in severities
    ws = Workspace.open(tmp_path / "ws")
    assert ws.info()["images"] == 12 and ws.info()["mask_versions"] == 12


# -- g. disk full ------------------------------------------------------------------------------------
def _full_disk_after(monkeypatch, writes: int, kind: str) -> list[int]:
    """From write number ``writes`` (1-based) on, the disk is full; returns the write counter."""
    count = [0]

    if kind == "fsync":  # the atomic write's fsync of its temp file fails, as on a real full disk
        real = os.fsync

        def fsync(fd: int) -> None:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                count[0] += 1
                if count[0] >= writes:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    else:  # SQLite's own "database or disk is full" while the mask row is written
        real_add = Workspace.add_mask_version

        def add_mask_version(self, *args, **kwargs):
            count[0] += 2  # one image copy and this mask per pair, as in the fsync case
            if count[0] >= writes:
                e = sqlite3.OperationalError("database or disk is full")
                e.sqlite_errorcode = sqlite3.SQLITE_FULL
                raise e
            return real_add(self, *args, **kwargs)

        monkeypatch.setattr(Workspace, "add_mask_version", add_mask_version)
    return count


def _files(folder: Path) -> set[str]:
    """Workspace-relative paths of the files below ``folder``."""
    return {str(p.relative_to(folder.parent)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["fsync", "sqlite"])
def test_g_disk_full_stops_cleanly_and_keeps_what_was_imported(tmp_path, demo_dataset, monkeypatch, kind):
    ws = Workspace.create(tmp_path / "ws")
    count = _full_disk_after(monkeypatch, writes=6, kind=kind)  # pair 3's mask, after its image copy
    report = import_dataset(ws, demo_dataset, copy=True)
    assert count[0] == 6  # nothing more was tried once the disk was full
    assert report.imported == 2 and report.rejected == 0
    assert report.stopped.startswith("disk full (") and "stopped after 2 of 12 pairs" in report.stopped
    assert [p for p in report.problems if p.severity == "error"][-1].message == report.stopped
    assert "Stopped early: disk full" in report.summary()
    assert not list(ws.root.rglob("*.tmp"))
    # Exactly the files the database refers to: the failed pair's image copy is gone.
    assert _files(ws.root / "images") == {r.stored_path for r in ws.images()}
    assert _files(ws.root / "masks") == {m.path for i in ws.image_ids() for m in ws.mask_versions(i)}
    assert ws.info()["images"] == 2 and ws.info()["mask_versions"] == 2
    monkeypatch.undo()
    again = import_dataset(ws, demo_dataset, copy=True)  # after freeing space, the rest comes in
    assert (again.imported, again.already_present) == (10, 2)
    assert _files(ws.root / "images") == {r.stored_path for r in ws.images()} and len(ws.images()) == 12


def test_g_a_full_disk_when_saving_the_report_still_returns_it(tmp_path, demo_dataset, monkeypatch):
    import backend.data.importer as importer

    def full(ws, report):
        e = sqlite3.OperationalError("database or disk is full")
        e.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise e

    monkeypatch.setattr(importer, "_store_report", full)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, demo_dataset)
    assert report.imported == 12 and report.stopped
    assert report.problems[-1].message == (
        "disk full (database or disk is full): this report could not be saved in the workspace"
    )
    assert ws.query("SELECT finished_at FROM imports")[0][0] is None  # shown as interrupted by 'diffgen info'
