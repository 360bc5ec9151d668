"""Dataset import: layouts, odd-but-usable inputs, per-file rejections, idempotence, sources read-only.

Every fixture is generated here with PIL/numpy in a temp folder; expected pixels come from
independent arithmetic on the arrays the fixtures were made from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from import_support import H, W, _mask, _rgb, _save_png, _tree_state
from PIL import Image

from backend.data.demo import write_demo_dataset
from backend.data.importer import discover_pairs, ensure_demo_workspace, import_dataset
from backend.workspace import Workspace


@pytest.fixture
def messy(tmp_path) -> dict:
    """A Kvasir-layout folder with good, odd-but-usable and bad files; returns expectations."""
    root = tmp_path / "messy"
    img, msk = root / "images", root / "masks"
    exp: dict = {"root": root, "ok": {}, "flagged": set(), "rejected": {}}

    def pair(name: str, image: np.ndarray, mask: np.ndarray | None = None, ext=".png", mask_ext=".png"):
        _save_png(img / f"{name}{ext}", image)
        m = _mask(len(exp["ok"])) if mask is None else mask
        _save_png(msk / f"{name}{mask_ext}", m)
        return m

    for i in range(3):  # plain good pairs, as JPEG like Kvasir
        m = pair(f"good{i}", _rgb(i), ext=".jpg")
        exp["ok"][f"good{i}"] = {"mask": m}
    # Odd but usable: each converted to 8-bit RGB with a note.
    rgb = _rgb(10)
    grey = rgb[..., 1].copy()
    m = pair("grey", grey)
    exp["ok"]["grey"] = {"mask": m, "pixels": np.dstack([grey] * 3), "note": "L converted"}
    alpha = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    m = pair("rgba", np.dstack([rgb, alpha]))
    exp["ok"]["rgba"] = {
        "mask": m,
        "pixels": (rgb * (alpha[..., None] / 255.0) + 0.5).astype(np.uint8),
        "tol": 1,
        "note": "alpha composited",
    }
    pal_idx = (np.arange(H * W).reshape(H, W) % 7).astype(np.uint8)
    palette = np.random.default_rng(3).integers(0, 256, (256, 3)).astype(np.uint8)
    pim = Image.fromarray(pal_idx, "P")
    pim.putpalette(palette.ravel().tolist())
    img.mkdir(parents=True, exist_ok=True)
    pim.save(img / "palette.png")
    m = _mask(20)
    _save_png(msk / "palette.png", m)
    exp["ok"]["palette"] = {"mask": m, "pixels": palette[pal_idx], "note": "P converted"}
    g16 = (np.random.default_rng(4).integers(0, 65536, (H, W))).astype(np.uint16)
    for name, ext in (("grey16png", ".png"), ("grey16tif", ".tif")):
        Image.fromarray(g16).save(img / f"{name}{ext}")
        m = _mask(30 + len(name))
        _save_png(msk / f"{name}.png", m)
        exp["ok"][name] = {
            "mask": m,
            "pixels": np.dstack([np.round(g16 / 65535 * 255).astype(np.uint8)] * 3),
            "tol": 1,
            "note": "high bit depth",
        }
    rgb16 = rgb.astype(np.uint16) * 257 + 100  # 16-bit RGB PNG written by hand via OpenCV (BGR order)
    cv2.imwrite(str(img / "rgb16.png"), rgb16[..., ::-1])
    m = _mask(40)
    _save_png(msk / "rgb16.png", m)
    exp["ok"]["rgb16"] = {"mask": m, "pixels": (rgb16 >> 8).astype(np.uint8), "tol": 1, "note": "16 bits"}
    Image.fromarray(rgb).convert("CMYK").save(img / "cmyk.jpg", quality=95)
    m = _mask(50)
    _save_png(msk / "cmyk.png", m)
    exp["ok"]["cmyk"] = {"mask": m, "pixels": rgb, "mean_tol": 12, "note": "CMYK converted"}
    # EXIF orientation 6: stored W x H, shown rotated 90 degrees clockwise (H x W after rotation).
    raw = _rgb(11)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(raw).save(img / "exif.jpg", exif=exif.tobytes(), quality=95)
    rot_mask = _mask(60, shape=(W, H))
    _save_png(msk / "exif.png", rot_mask)
    decoded_raw = np.asarray(Image.open(img / "exif.jpg").convert("RGB"))  # pixels as stored, unrotated
    exp["ok"]["exif"] = {"mask": rot_mask, "pixels": np.rot90(decoded_raw, k=-1), "note": "EXIF orientation 6"}
    # Non-binary JPEG mask: binarised at 128.
    soft = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    pair("softmask", _rgb(12), soft, ext=".jpg", mask_ext=".png")
    exp["ok"]["softmask"] = {"mask": np.where(soft >= 128, 255, 0).astype(np.uint8)}
    # Empty and all-white masks: imported and flagged.
    for name, value in (("emptymask", 0), ("whitemask", 255)):
        pair(name, _rgb(13 + value % 7), np.full((H, W), value, np.uint8), ext=".jpg")
        exp["ok"][name] = {"mask": np.full((H, W), value, np.uint8)}
        exp["flagged"].add(name)

    # Bad input: each rejected with a message naming the file.
    good_jpg = (img / "good0.jpg").read_bytes()
    (img / "truncated.jpg").write_bytes((img / "good1.jpg").read_bytes()[: len(good_jpg) // 2])
    _save_png(msk / "truncated.png", _mask(1))
    exp["rejected"][img / "truncated.jpg"] = "truncated"
    (img / "zero.jpg").write_bytes(b"")
    _save_png(msk / "zero.png", _mask(1))
    exp["rejected"][img / "zero.jpg"] = "0 bytes"
    (img / "text.jpg").write_text("this is not a JPEG\n")
    _save_png(msk / "text.png", _mask(1))
    exp["rejected"][img / "text.jpg"] = "not an image"
    pair("mismatch", _rgb(14), _mask(2, shape=(H, W + 3)))
    exp["rejected"][img / "mismatch.png"] = f"{W + 3}x{H}"
    Image.fromarray(_rgb(15)).save(img / "exifwrong.jpg", exif=exif.tobytes())  # mask drawn unrotated
    _save_png(msk / "exifwrong.png", _mask(3))
    exp["rejected"][img / "exifwrong.jpg"] = "EXIF rotation"
    (img / "zzdup.jpg").write_bytes(good_jpg)  # same bytes as good0, sorted after it
    _save_png(msk / "zzdup.png", _mask(4))
    exp["rejected"][img / "zzdup.jpg"] = "duplicate of image 'good0'"
    _save_png(img / "orphanimage.png", _rgb(16))
    exp["rejected"][img / "orphanimage.png"] = "image without mask"
    _save_png(msk / "orphanmask.png", _mask(5))
    exp["rejected"][msk / "orphanmask.png"] = "mask without image"
    # Kvasir names image and mask identically: a corrupt *mask* must be blamed, not the image.
    Image.fromarray(_rgb(17)).save(img / "badmask.jpg")
    (msk / "badmask.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    exp["rejected"][msk / "badmask.jpg"] = "corrupt"
    # ... and a corrupt image next to a same-named good mask is blamed on the image.
    (img / "samename.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    _save_png(msk / "samename.jpg", _mask(6))
    exp["rejected"][img / "samename.jpg"] = "corrupt"
    # Two images with one stem: the second is rejected, the first imported.
    _save_png(img / "twin.bmp", _rgb(18))
    _save_png(img / "twin.png", _rgb(19))
    m = _mask(7)
    _save_png(msk / "twin.png", m)
    exp["ok"]["twin"] = {"mask": m, "pixels": _rgb(18)}
    exp["rejected"][img / "twin.png"] = "same name as twin.bmp"
    return exp


def _check_import(ws: Workspace, exp: dict, report) -> None:
    by_name = {r.name: r for r in ws.images()}
    assert set(by_name) == set(exp["ok"])
    assert report.imported == len(exp["ok"])
    assert report.rejected == len(exp["rejected"])
    errors = {Path(p.file): p.message for p in report.problems if p.severity == "error"}
    assert set(errors) == set(exp["rejected"])
    for f, words in exp["rejected"].items():
        assert words in errors[f], (f, errors[f])
    for name, e in exp["ok"].items():
        rec = by_name[name]
        pixels = ws.read_image(rec)
        assert pixels.shape == (rec.height, rec.width, 3) and pixels.dtype == np.uint8
        if "pixels" in e:
            diff = np.abs(pixels.astype(int) - e["pixels"].astype(int))
            if "mean_tol" in e:
                assert diff.mean() < e["mean_tol"], name
            else:
                assert diff.max() <= e.get("tol", 0), name
        if "note" in e:
            assert e["note"] in rec.notes, (name, rec.notes)
            assert rec.stored_path and rec.stored_path.endswith(".png")  # a converted copy; source untouched
            notes = [p.message for p in report.problems if p.severity == "note" and Path(p.file).stem == name]
            assert any(e["note"] in n for n in notes)
        mv = ws.current_mask(rec.id)
        assert mv.version == 0 and mv.operation == "original"
        stored = Image.open(ws.path(mv.path))
        assert stored.mode == "L"  # single-channel PNG
        arr = np.asarray(stored)
        assert set(np.unique(arr)) <= {0, 255}
        np.testing.assert_array_equal(arr, e["mask"])
        assert mv.area == int((e["mask"] > 0).sum())
        assert rec.flagged == (name in exp["flagged"])


def test_messy_kvasir_folder(tmp_path, messy):
    before = _tree_state(messy["root"])
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, messy["root"])
    _check_import(ws, messy, report)
    assert _tree_state(messy["root"]) == before  # sources never written to (bytes and mtimes)

    # The report is stored in the database too.
    stored = [(r["file"], r["severity"], r["message"]) for r in ws.problems(report.import_id)]
    assert stored == [(p.file, p.severity, p.message) for p in report.problems]
    info = ws.info()
    assert info["images"] == len(messy["ok"]) and info["flagged"] == len(messy["flagged"])
    assert info["problems"]["error"] == len(messy["rejected"])

    # Re-importing adds nothing twice.
    versions = info["mask_versions"]
    again = import_dataset(ws, messy["root"])
    assert again.imported == 0 and again.already_present == len(messy["ok"])
    assert ws.info()["images"] == len(messy["ok"]) and ws.info()["mask_versions"] == versions
    assert _tree_state(messy["root"]) == before


def test_copy_makes_the_workspace_independent_of_the_sources(tmp_path, demo_dataset):
    src = tmp_path / "src"
    shutil.copytree(demo_dataset, src)
    before = _tree_state(src)
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, src, copy=True)
    assert report.imported == 12
    assert _tree_state(src) == before
    originals = {r.name: ws.read_image(r) for r in ws.images()}
    for r in ws.images():
        assert r.stored_path
        assert ws.path(r.stored_path).read_bytes() == (src / "images" / f"{r.name}.jpg").read_bytes()
    shutil.rmtree(src)  # the copies must be enough
    for r in ws.images():
        np.testing.assert_array_equal(ws.read_image(r), originals[r.name])


def test_flat_layout_with_several_formats(tmp_path):
    root = tmp_path / "flat"
    exts = {"a": ".jpg", "b": ".jpeg", "c": ".png", "d": ".bmp", "e": ".tif", "f": ".JPG"}
    for i, (name, ext) in enumerate(exts.items()):
        _save_png(root / f"{name}{ext}", _rgb(i))
        _save_png(root / f"{name}_mask.png", _mask(i))
    _save_png(root / "lonely.png", _rgb(9))
    _save_png(root / "ghost_mask.png", _mask(9))
    (root / "notes.txt").write_text("ignored: not an image suffix")
    pairs, problems = discover_pairs(root)
    assert [p[0] for p in pairs] == sorted(exts)
    assert {(Path(p.file).name, p.message) for p in problems} == {
        ("lonely.png", "image without mask: skipped"),
        ("ghost_mask.png", "mask without image: skipped"),
    }
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, root)
    assert report.imported == len(exts) and report.rejected == 2
    for r in ws.images():
        i = sorted(exts).index(r.name)
        np.testing.assert_array_equal(ws.read_mask(ws.current_mask(r.id)), _mask(i))
        if exts[r.name] in (".png", ".bmp", ".tif"):  # lossless formats round-trip exactly
            np.testing.assert_array_equal(ws.read_image(r), _rgb(i))


def test_not_a_dataset_is_reported_not_raised(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    (tmp_path / "empty").mkdir()
    r1 = import_dataset(ws, tmp_path / "empty")
    r2 = import_dataset(ws, tmp_path / "missing")
    assert r1.imported == r2.imported == 0
    assert "no images found" in r1.problems[0].message and "not a folder" in r2.problems[0].message


def test_cancel_keeps_complete_pairs(tmp_path, demo_dataset):
    ws = Workspace.create(tmp_path / "ws")
    seen = []
    report = import_dataset(ws, demo_dataset, progress=lambda d, t, m: seen.append(d), cancel=lambda: len(seen) >= 5)
    assert report.imported == 5 and ws.info()["images"] == 5 and ws.info()["mask_versions"] == 5
    assert any("cancelled after 5 of 12" in p.message for p in report.problems)
    assert import_dataset(ws, demo_dataset).imported == 7  # a later import finishes the job


def test_demo_workspace_is_made_once_and_finished_after_an_interruption(tmp_path):
    root = tmp_path / "demo"
    calls = []
    ws = Workspace.create(root)
    write_demo_dataset(root / "demo-data", count=3, size=32, seed=0)  # an interrupted first run
    import_dataset(ws, root / "demo-data", cancel=lambda: len(calls) >= 1, progress=lambda *a: calls.append(a))
    assert ws.info()["images"] == 1
    ws = ensure_demo_workspace(root, count=5, size=32, seed=0)
    assert ws.info()["images"] == 5
    n_imports = ws.query("SELECT COUNT(*) FROM imports")[0][0]
    ensure_demo_workspace(root, count=5, size=32, seed=0)
    assert ws.query("SELECT COUNT(*) FROM imports")[0][0] == n_imports  # nothing to do the second time
    check = tmp_path / "fresh"
    write_demo_dataset(check, count=5, size=32, seed=0)
    for name in ("images/demo_0004.jpg", "masks/demo_0000.png"):
        assert (root / "demo-data" / name).read_bytes() == (check / name).read_bytes()
