"""Export formats against their real readers: pycocotools, Hugging Face datasets, MONAI, and
nnU-Net v2's documented dataset.json; provenance and the data card in every format."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.cli import main as cli_main
from backend.errors import Cancelled, DiffGenError
from backend.exporters import FORMATS, DatasetInfo, Item
from backend.exporters.coco import rle_counts, rle_string
from backend.exporters.job import PROVENANCE_COLUMNS, export_kept
from backend.exporters.layouts import NnUNetWriter
from backend.gates import GateScore


def _keep_samples(ws):
    """Two inpainted samples (one mask with two separate regions) and a styled child, all kept."""
    ids = ws.image_ids()[:2]
    made = []
    for k, i in enumerate(ids):
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i)).copy()
        if k == 0:
            mask[:4, :4] = 255  # a second, separate region in the corner
        s = ws.add_sample(
            "inpainted",
            "Diff",
            img[:, ::-1].copy(),
            mask,
            source_image_id=i,
            mask_version_id=ws.current_mask(i).id,
            seed=10 + k,
            params={"preset": "tiny", "respacing": 50},
        )
        ws.set_gates(s.id, [GateScore("no_polyp", 0.5, 0.15, True), GateScore("seam", 0.2 * k, 0.08, k == 0)])
        ws.set_review(s.id, "keep", "=cmd|' /C calc'!A0" if k == 0 else "")
        made.append(s)
    styled = ws.add_sample(
        "styled",
        "Styled-Diff",
        255 - ws.read_sample(made[0])[0],
        ws.read_sample(made[0])[1],
        source_image_id=ids[0],
        parent_sample_id=made[0].id,
        seed=7,
        params={"preset": "tiny"},
    )
    ws.set_review(styled.id, "keep")
    return made + [styled]


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader(open(out / "provenance.csv", newline="")))


def _truth(ws, row) -> tuple[np.ndarray, np.ndarray]:
    if row["origin"] == "real":
        rec = ws.image(int(row["source_image_id"]))
        return ws.read_image(rec), ws.read_mask(rec.current_mask_id)
    return ws.read_sample(int(row["sample_id"]))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_has_provenance_and_a_data_card(demo_ws, tmp_path, fmt):
    samples = _keep_samples(demo_ws)
    out = tmp_path / "e" / "out"
    report = export_kept(demo_ws, out, fmt=fmt, licence="Kvasir-SEG: research use only")
    rows = _rows(out)
    assert list(rows[0]) == PROVENANCE_COLUMNS
    assert sorted(int(r["sample_id"]) for r in rows) == sorted(s.id for s in samples)
    first = next(r for r in rows if int(r["sample_id"]) == samples[0].id)
    assert first["review_note"] == "'=cmd|' /C calc'!A0"  # the project's CSV writer: a formula is escaped
    assert (first["preset"], first["seed"]) == ("tiny", "10")
    assert json.loads(first["gates"]) == {
        "no_polyp": {"value": 0.5, "threshold": 0.15, "passed": True},
        "seam": {"value": 0.0, "threshold": 0.08, "passed": True},
    }
    card = (out / "README.md").read_text()
    for text in (
        "3 synthetic image + mask pairs",
        "**inpainted** (2)",
        "**styled** (1)",
        "Presets: tiny",
        "Kvasir-SEG: research use only",
        "Not for clinical use",
        "`data`: 12 images",
        "2 of 3 (67%) synthetic pairs; passed every gate: 1 of 2 (50%)",
        "| seam | 1 | 0.100 | 0.08 |",
    ):
        assert text in card, text
    assert report.samples == 3 and report.real == 0 and fmt in report.summary()
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no staging folder left beside it


def test_kvasir_layout_pixels(demo_ws, tmp_path):
    _keep_samples(demo_ws)
    export_kept(demo_ws, tmp_path / "out", with_real=True)
    rows = _rows(tmp_path / "out")
    assert len(rows) == 3 + 12
    for r in rows:
        image, mask = _truth(demo_ws, r)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / r["image"])), image)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / r["mask"])), mask)


def test_coco_rle_decodes_pixel_for_pixel_with_pycocotools(demo_ws, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    _keep_samples(demo_ws)
    export_kept(demo_ws, tmp_path / "out", fmt="coco", with_real=True)
    coco = COCO(str(tmp_path / "out" / "annotations.json"))
    assert len(coco.getImgIds()) == 15 and coco.loadCats(1)[0]["name"] == "polyp"
    rows = {r["name"]: r for r in _rows(tmp_path / "out")}
    two_regions = 0
    for img in coco.loadImgs(coco.getImgIds()):
        row = rows[img["diffgen"]["name"]]
        image, mask = _truth(demo_ws, row)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / img["file_name"])), image)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        union = np.zeros(mask.shape, np.uint8)
        for ann in anns:
            region = coco.annToMask(ann)
            assert ann["iscrowd"] == 0 and ann["area"] == int(region.sum()) == int(mask_utils.area(ann["segmentation"]))
            assert ann["bbox"] == [float(v) for v in mask_utils.toBbox(ann["segmentation"])]
            assert not (union & region).any()  # regions are disjoint
            union |= region
        np.testing.assert_array_equal(union, (mask > 0).astype(np.uint8))
        two_regions += len(anns) == 2
    assert two_regions >= 1


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 48)])
def test_rle_string_equals_pycocotools_encoding(shape):
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(sum(shape))
    for density in (0.0, 0.02, 0.5, 1.0):
        m = (rng.random(shape) < density).astype(np.uint8)
        ref = mask_utils.encode(np.asfortranarray(m))
        assert rle_string(rle_counts(m)) == ref["counts"].decode()


def test_hf_folder_loads_with_datasets(demo_ws, tmp_path):
    import datasets

    _keep_samples(demo_ws)
    export_kept(demo_ws, tmp_path / "out", fmt="hf", with_real=True)
    ds = datasets.load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["train"] and ds["train"].num_rows == 15
    assert {"image", "mask", "origin", "sample_id", "seed", "params"} <= set(ds["train"].column_names)
    assert isinstance(ds["train"].features["image"], datasets.Image)
    for row in ds["train"]:
        csv_row = {**{k: "" if v is None else str(v) for k, v in row.items() if k not in ("image", "mask")}}
        image, mask = _truth(demo_ws, csv_row)
        np.testing.assert_array_equal(np.asarray(row["image"]), image)
        np.testing.assert_array_equal(np.asarray(row["mask"]), (mask > 0).astype(np.uint8))


def test_monai_reads_the_datalist(demo_ws, tmp_path):
    import monai.data as monai_data

    _keep_samples(demo_ws)
    export_kept(demo_ws, tmp_path / "out", fmt="monai", with_real=True)
    out = tmp_path / "out"
    items = monai_data.load_decathlon_datalist(str(out / "dataset.json"), True, "training")
    assert len(items) == 15
    by_name = {r["name"]: r for r in _rows(out)}
    for item in items:
        assert Path(item["image"]).is_absolute() and Path(item["image"]).parent == out / "imagesTr"
        image, mask = _truth(demo_ws, by_name[item["name"]])
        np.testing.assert_array_equal(np.asarray(Image.open(item["image"])), image)
        np.testing.assert_array_equal(np.asarray(Image.open(item["label"])), (mask > 0).astype(np.uint8))
    meta = json.loads((out / "dataset.json").read_text())
    assert (meta["numTraining"], meta["numTest"], meta["labels"]) == (15, 0, {"0": "background", "1": "polyp"})


def test_nnunet_v2_raw_layout(demo_ws, tmp_path):
    _keep_samples(demo_ws)
    export_kept(demo_ws, tmp_path / "out", fmt="nnunet", with_real=True)
    out = tmp_path / "out"
    meta = json.loads((out / "dataset.json").read_text())
    # nnU-Net v2's dataset.json (documentation/dataset_format.md; its RGB PNG example, Dataset120)
    assert meta["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert meta["labels"] == {"background": 0, "polyp": 1}
    assert (meta["numTraining"], meta["file_ending"]) == (15, ".png")
    cases = sorted(p.name[: -len("_0000.png")] for p in (out / "imagesTr").iterdir())
    assert all(p.name.endswith("_0000.png") for p in (out / "imagesTr").iterdir())
    assert cases == sorted(p.stem for p in (out / "labelsTr").iterdir()) and len(cases) == 15
    by_name = {r["name"]: r for r in _rows(out)}
    for case in cases:
        image, mask = _truth(demo_ws, by_name[case])
        label = np.asarray(Image.open(out / "labelsTr" / f"{case}.png"))
        assert set(np.unique(label)) <= {0, 1}
        np.testing.assert_array_equal(label, (mask > 0).astype(np.uint8))
        np.testing.assert_array_equal(np.asarray(Image.open(out / "imagesTr" / f"{case}_0000.png")), image)
    assert not (out / "imagesTs").exists()


def test_nnunet_puts_test_role_pairs_in_imagesTs(tmp_path):
    writer = NnUNetWriter(tmp_path)
    rgb, mask = np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 255, np.uint8)
    items = [Item("a", "train", {}), Item("b", "test", {})]
    assert [writer.add(i, rgb, mask) for i in items] == [
        ("imagesTr/a_0000.png", "labelsTr/a.png"),
        ("imagesTs/b_0000.png", "labelsTs/b.png"),
    ]
    writer.finish(items, DatasetInfo("x", "d", "l", "0"))
    assert json.loads((tmp_path / "dataset.json").read_text())["numTraining"] == 1


def test_real_images_only_with_with_real(demo_ws, tmp_path):
    _keep_samples(demo_ws)
    without = export_kept(demo_ws, tmp_path / "a", fmt="coco")
    assert without.real == 0 and {r["origin"] for r in _rows(tmp_path / "a")} == {"inpainted", "styled"}
    assert "no real images" in (tmp_path / "a" / "README.md").read_text()


def test_export_is_atomic_and_never_into_a_full_folder(demo_ws, tmp_path):
    _keep_samples(demo_ws)
    tmp_path = tmp_path / "e"
    (tmp_path / "empty").mkdir(parents=True)
    assert export_kept(demo_ws, tmp_path / "empty", fmt="nnunet").samples == 3  # an empty folder is taken
    before = {p: p.read_bytes() for p in (tmp_path / "empty").rglob("*") if p.is_file()}
    with pytest.raises(DiffGenError, match="exists and is not empty"):
        export_kept(demo_ws, tmp_path / "empty")
    assert {p: p.read_bytes() for p in (tmp_path / "empty").rglob("*") if p.is_file()} == before
    seen: list[list[str]] = []

    def cancel() -> bool:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        return len(seen) > 3

    with pytest.raises(Cancelled):
        export_kept(demo_ws, tmp_path / "new", fmt="hf", with_real=True, cancel=cancel)
    assert any(len(names) == 2 and names[0].startswith(".new.") for names in seen[1:])  # built beside OUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # nothing left, OUT never appeared


def test_cli_export_format(demo_ws, tmp_path, capsys):
    _keep_samples(demo_ws)
    assert cli_main(["export", "-w", str(demo_ws.root), str(tmp_path / "o"), "--format", "monai", "--licence", "CC BY 4.0"]) == 0
    assert "as monai" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "dataset.json").read_text())["licence"] == "CC BY 4.0"
    assert cli_main(["export", "-w", str(demo_ws.root), str(tmp_path / "o")]) == 1
    assert "is not empty" in capsys.readouterr().err


def test_hf_without_datasets_names_the_extra(demo_ws, tmp_path, monkeypatch):
    _keep_samples(demo_ws)
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DiffGenError, match=r"needs the optional package 'datasets'.*pip install 'diffgen-studio\[hf\]'"):
        export_kept(demo_ws, tmp_path / "e" / "out", fmt="hf")
    assert list((tmp_path / "e").iterdir()) == []
