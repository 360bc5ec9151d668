"""Export of kept samples: Kvasir layout, provenance, no metadata, never overwrite, cancel."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from backend.cli import main as cli_main
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.data.sets import import_external_set
from backend.errors import Cancelled, DiffGenError
from backend.exporters.job import export_kept
from backend.workspace import Workspace


def _samples(ws):
    """Two inpainted samples (flipped demo images) and a styled child; keep two, reject one."""
    ids = ws.image_ids()[:2]
    made = []
    for i in ids:
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        made.append(
            ws.add_sample(
                "inpainted",
                "Diff",
                img[:, ::-1].copy(),
                mask[:, ::-1].copy(),
                source_image_id=i,
                mask_version_id=ws.current_mask(i).id,
                seed=i,
            )
        )
    styled = ws.add_sample(
        "styled",
        "Styled-Diff",
        255 - ws.read_sample(made[0])[0],
        ws.read_sample(made[0])[1],
        source_image_id=ids[0],
        parent_sample_id=made[0].id,
        seed=7,
    )
    ws.set_review(made[0].id, "keep", "nice folds")
    ws.set_review(made[1].id, "reject")
    ws.set_review(styled.id, "keep")
    return made, styled


def _read(path):
    return np.asarray(Image.open(path))


def test_export_layout_pixels_and_provenance(demo_ws, tmp_path):
    made, styled = _samples(demo_ws)
    report = export_kept(demo_ws, tmp_path / "out")
    assert (report.samples, report.real, report.format) == (2, 0, "kvasir")
    rows = list(csv.DictReader(open(tmp_path / "out" / "provenance.csv")))
    assert sorted(int(r["sample_id"]) for r in rows) == sorted([made[0].id, styled.id])
    for r in rows:
        img, mask = demo_ws.read_sample(int(r["sample_id"]))
        np.testing.assert_array_equal(_read(tmp_path / "out" / r["image"]), img)
        np.testing.assert_array_equal(_read(tmp_path / "out" / r["mask"]), mask)
    by_id = {int(r["sample_id"]): r for r in rows}
    assert by_id[made[0].id]["review_note"] == "nice folds"
    assert by_id[styled.id]["parent_sample_id"] == str(made[0].id)
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == sorted(
        p.name for p in (tmp_path / "out" / "masks").iterdir()
    )


def test_real_images_lose_their_exif(tmp_path):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "ScopeMaker"  # Make
    exif[0x013B] = "Dr. Patient Name"  # Artist: identifying text that must not leak
    Image.fromarray(rgb).save(src / "images" / "p1.jpg", exif=exif.tobytes(), quality=95)
    mask = np.zeros((48, 40), np.uint8)
    mask[10:30, 8:20] = 255
    Image.fromarray(mask).save(src / "masks" / "p1.png")
    assert Image.open(src / "images" / "p1.jpg").getexif().get(0x013B) == "Dr. Patient Name"
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, src)
    report = export_kept(ws, tmp_path / "out", with_real=True)
    assert report.real == 1
    out = Image.open(tmp_path / "out" / "images" / "real_p1.png")
    assert out.format == "PNG" and len(out.getexif()) == 0
    assert not {"exif", "Artist", "Make"} & set(out.info)
    assert b"Patient" not in (tmp_path / "out" / "images" / "real_p1.png").read_bytes()
    np.testing.assert_array_equal(np.asarray(out), ws.read_image(ws.image_ids()[0]))


def test_never_writes_into_an_existing_export(demo_ws, tmp_path):
    _samples(demo_ws)
    out = tmp_path / "out"
    export_kept(demo_ws, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DiffGenError, match="exists and is not empty; export into a new or empty folder"):
        export_kept(demo_ws, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(DiffGenError, match="is a file"):
        export_kept(demo_ws, tmp_path / "file")


def test_cancel_removes_partial_export(demo_ws, tmp_path):
    _samples(demo_ws)
    calls: list[int] = []
    with pytest.raises(Cancelled):
        export_kept(
            demo_ws, tmp_path / "out", with_real=True, cancel=lambda: len(calls) >= 3, progress=lambda d, t, m: calls.append(d)
        )
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]  # the staging folder beside OUT is gone too


def test_cli_export(demo_ws, tmp_path, capsys):
    _samples(demo_ws)
    assert cli_main(["export", "--workspace", str(demo_ws.root), str(tmp_path / "o"), "--with-real"]) == 0
    assert "Exported 2 kept samples and 12 real images" in capsys.readouterr().out
    assert len(list((tmp_path / "o" / "masks").iterdir())) == 14


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("where", [".", "images", "masks", "new/sub"])
def test_export_into_a_source_dataset_is_refused(tmp_path, capsys, where):
    """Synthetic pairs written into the dataset would come back as real ones on a re-import."""
    data = write_demo_dataset(tmp_path / "data", count=3, size=32, seed=1)
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, data)
    _samples(ws)
    before = _tree(data)
    with pytest.raises(DiffGenError, match=r"a folder this workspace imported real images from"):
        export_kept(ws, data / where, with_real=True)
    assert cli_main(["export", "-w", str(ws.root), str(data / where)]) == 1
    assert f"is inside {data}" in capsys.readouterr().err
    assert _tree(data) == before
    assert export_kept(ws, tmp_path / "beside-data").samples == 2  # a sibling folder is fine


def test_export_into_an_external_set_or_through_a_link_is_refused(demo_ws, tmp_path):
    gan = write_demo_dataset(tmp_path / "gan", count=2, size=32, seed=2) / "images"
    import_external_set(demo_ws, gan, "GAN")
    _samples(demo_ws)
    with pytest.raises(DiffGenError, match="imported real images from"):
        export_kept(demo_ws, gan)
    link = tmp_path / "link"
    link.symlink_to(gan)
    with pytest.raises(DiffGenError, match="imported real images from"):
        export_kept(demo_ws, link / "out")
