"""Kept samples whose mask is empty stay out of every export format unless asked for, and are
counted; an export whose filters leave no synthetic sample is refused, even with real images."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from backend.cli import main as cli_main
from backend.errors import DiffGenError
from backend.exporters import FORMATS
from backend.exporters.job import export_kept
from backend.gates import GateScore


def _add(ws, image_id, mask, decision="keep"):
    """A flipped copy of a demo image with ``mask``, reviewed ``decision``."""
    s = ws.add_sample(
        "inpainted",
        "Diff",
        ws.read_image(image_id)[:, ::-1].copy(),
        mask,
        source_image_id=image_id,
        mask_version_id=ws.current_mask(image_id).id,
        seed=image_id,
    )
    ws.set_review(s.id, decision)
    return s.id


@pytest.fixture
def kept(demo_ws):
    """Two kept samples with a polyp and one kept sample whose mask is all zeros."""
    ws = demo_ws
    ids = ws.image_ids()
    full = [_add(ws, i, ws.read_mask(ws.current_mask(i))[:, ::-1].copy()) for i in ids[:2]]
    shape = ws.read_mask(ws.current_mask(ids[2])).shape
    empty = _add(ws, ids[2], np.zeros(shape, np.uint8))
    return ws, full, empty


def _exported(out) -> list[int]:
    return sorted(int(r["sample_id"]) for r in csv.DictReader(open(out / "provenance.csv", newline="")) if r["sample_id"])


def _pairs_in_index(out, fmt) -> int:
    """How many pairs the format's own files list (independent of provenance.csv)."""
    if fmt == "kvasir":
        return len(list((out / "masks").iterdir()))
    if fmt == "coco":
        coco = json.loads((out / "annotations.json").read_text())
        annotated = {a["image_id"] for a in coco["annotations"]}
        assert annotated == {i["id"] for i in coco["images"]}, "an image without any polyp annotation"
        return len(coco["images"])
    if fmt == "hf":
        import pyarrow.parquet as pq

        return pq.read_table(out / "data" / "train-00000-of-00001.parquet").num_rows
    return json.loads((out / "dataset.json").read_text())["numTraining"]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_kept_sample_with_an_empty_mask_is_left_out_and_counted(kept, tmp_path, fmt):
    ws, full, empty = kept
    report = export_kept(ws, tmp_path / "out", fmt=fmt)
    assert _exported(tmp_path / "out") == full and _pairs_in_index(tmp_path / "out", fmt) == 2
    assert report.samples == 2 and report.empty == 1
    assert f"to {tmp_path / 'out'} as {fmt}; 1 with an empty mask left out (provenance" in report.summary()
    assert report.summary().endswith(" --include-empty exports kept samples with an empty mask.")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "1 kept sample with an empty mask (no polyp pixel) left out (--include-empty exports them)." in card


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_include_empty_exports_it_and_says_so(kept, tmp_path, fmt):
    ws, full, empty = kept
    report = export_kept(ws, tmp_path / "out", fmt=fmt, include_empty=True)
    assert _exported(tmp_path / "out") == sorted([*full, empty]) and report.samples == 3
    assert "; 1 with an empty mask included (provenance" in report.summary()
    assert "--include-empty" not in report.summary()
    assert "1 kept sample with an empty mask (no polyp pixel): exported with --include-empty." in (
        (tmp_path / "out" / "README.md").read_text()
    )
    if fmt == "coco":  # the image is there, with no annotation: what the user asked for
        coco = json.loads((tmp_path / "out" / "annotations.json").read_text())
        assert len(coco["images"]) == 3 and len({a["image_id"] for a in coco["annotations"]}) == 2


def test_cli_export_include_empty(kept, tmp_path, capsys):
    ws, full, empty = kept
    assert cli_main(["export", "-w", str(ws.root), str(tmp_path / "a"), "--format", "coco"]) == 0
    assert "Exported 2 kept samples" in capsys.readouterr().out and _exported(tmp_path / "a") == full
    assert cli_main(["export", "-w", str(ws.root), str(tmp_path / "b"), "--include-empty"]) == 0
    assert "Exported 3 kept samples" in capsys.readouterr().out and empty in _exported(tmp_path / "b")


def test_kept_samples_that_failed_a_gate_are_counted(kept, tmp_path):
    ws, full, empty = kept
    ws.set_gates(full[0], [GateScore("seam", 0.3, 0.08, False)])
    report = export_kept(ws, tmp_path / "out")
    assert report.failed == 1 and _exported(tmp_path / "out") == full
    assert "; 1 failed a gate; 1 with an empty mask left out (" in report.summary()
    assert report.summary().endswith(" --only-passed leaves out those that failed a gate.")


def test_only_empty_masks_kept_is_refused(kept, tmp_path):
    ws, full, empty = kept
    for sid in full:
        ws.set_review(sid, "reject")
    with pytest.raises(
        DiffGenError, match=r"nothing to export: the 1 sample marked 'keep' has an empty mask; export with --include-empty"
    ):
        export_kept(ws, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_only_passed_with_no_synthetic_left_is_refused_even_with_real_images(kept, tmp_path, capsys):
    ws, full, empty = kept
    for sid in full:
        ws.set_gates(sid, [GateScore("no_polyp", 0.05, 0.15, False)])
    args = ["export", "-w", str(ws.root), str(tmp_path / "out"), "--with-real", "--only-passed"]
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("job 1; its log: ")  # a refused export is a failed job with its log (issue 29)
    assert err.splitlines()[1].startswith(
        "error: no synthetic sample to export: of 3 samples marked 'keep', 2 failed a quality gate and 1 has an empty mask"
    )
    assert "(the real images alone are not a synthetic dataset)" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    for sid in full + [empty]:
        ws.set_review(sid, "reject")
    assert cli_main(args) == 1
    assert "no sample is marked 'keep'" in capsys.readouterr().err
    assert cli_main(args[:-1]) == 0  # real images alone, asked for without a filter: still an export
    assert "Exported 0 kept samples and 12 real images" in capsys.readouterr().out


def test_only_passed_counts_an_empty_mask_once_not_as_unscored_and_included(kept, tmp_path):
    ws, full, empty = kept  # none of them scored
    report = export_kept(ws, tmp_path / "out", only_passed=True)
    assert report.gates.unscored == tuple(full) and report.empty == 1 and _exported(tmp_path / "out") == full
    assert "; 2 samples not scored yet included: 'diffgen gates' scores them; 1 with an empty mask left out" in report.summary()


def test_unreviewed_count_includes_samples_without_a_source_image(kept, tmp_path):
    """The export counts what it left out undecided as Review and `diffgen review` count it: a
    sample imported without a workspace image (another generator's set) is unreviewed too."""
    ws, full, _ = kept
    image = ws.read_image(ws.image_ids()[0])
    mask = ws.read_mask(ws.current_mask(ws.image_ids()[0]))
    ws.add_sample("imported", "Other-Gen", image[::-1].copy(), mask)  # no source image, undecided
    _add(ws, ws.image_ids()[3], mask, decision="undecided")
    report = export_kept(ws, tmp_path / "out")
    assert report.undecided == 2
