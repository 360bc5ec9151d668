"""Issue 15 part 4: Real resized as the synthetic samples are, the two Real rows of Table 1,
and Sets 1-3 as sample k of every image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from _metrics_helpers import small_extractor

from backend.data.demo import write_demo_dataset
from backend.data.sets import disjoint_halves, import_external_set, resolve_set, sample_index_sets
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.registry import record_checkpoint, register_model
from backend.errors import BadInputError
from backend.inpaint.job import run_inpaint
from backend.inpaint.params import InpaintParams
from backend.io.files import write_png
from backend.jobs.context import JobContext
from backend.masks import ops as masks
from backend.metrics.evaluate import REAL_HALVES, REAL_SELF, generated_side, prepare_real, run_evaluate, run_fid
from backend.metrics.evaluate_params import EvaluateParams, FidParams


def test_real_is_resized_to_the_pixels_of_the_synthetic_path(demo_ws):
    """Outside the dilated region an inpainted sample is the synthetic path's resize of its
    source, exactly: the resized Real copy of that image has those very pixels (and equals a
    hand-made whole-frame INTER_AREA resize)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    folder = save_model(demo_ws.root / "models" / "full", build_model(cfg), DiffusionConfig(timestep_respacing="10"))
    record_checkpoint(
        demo_ws, register_model(demo_ws, "full", "full", "tiny", {}, folder), 100, 0.5, folder / "model.safetensors"
    )
    run_inpaint(
        demo_ws,
        InpaintParams.from_dict(
            {
                "respacing": 10,
                "jump_length": 5,
                "jump_n_sample": 2,
                "dilate": 2,
                "min_island": 2,
                "preset": "tiny",
                "seed": 3,
                "images": [1, 2],
                "samples": 1,
            }
        ),
        JobContext(),
    )
    assert generated_side(demo_ws, ["Full-Diff"]) == 16

    real = resolve_set("real", demo_ws)
    resized, how, problems = prepare_real(demo_ws, real, ["Full-Diff"], "model", None)
    assert problems == [] and len(resized) == len(real) == 12 and "resized to 16x16" in how
    copies = dict(zip((r.id for r in demo_ws.images()), resized.paths))
    for s in demo_ws.samples(kind="inpainted"):
        copy = cv2.cvtColor(cv2.imread(str(copies[s.source_image_id])), cv2.COLOR_BGR2RGB)
        image, _ = demo_ws.read_sample(s)
        mask = cv2.resize(demo_ws.read_mask(s.mask_version_id), (16, 16), interpolation=cv2.INTER_NEAREST)
        outside = masks.dilate(np.where(mask > 127, 255, 0).astype(np.uint8), 2) == 0  # the sample's region
        assert copy.shape == (16, 16, 3) and outside.sum() > 40
        np.testing.assert_array_equal(copy[outside], image[outside])
    for image_id, path in copies.items():
        by_hand = cv2.resize(demo_ws.read_image(image_id), (16, 16), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), by_hand)

    again, _, _ = prepare_real(demo_ws, real, ["Full-Diff"], "model", None)  # the copies are reused
    assert again.items == resized.items
    full, how, _ = prepare_real(demo_ws, real, ["Full-Diff"], "full", None)
    assert full.items == real.items and "full resolution" in how
    assert prepare_real(demo_ws, real, [], "model", 24)[0].paths[0] != resized.paths[0]


def test_generated_sides_that_differ_are_a_clear_error(demo_ws):
    rng = np.random.default_rng(0)
    for side, name in ((16, "Diff"), (32, "Full-Diff")):
        demo_ws.add_sample(
            "inpainted",
            name,
            rng.integers(0, 256, (side, side, 3), dtype=np.uint8),
            np.zeros((side, side), np.uint8),
            source_image_id=1,
            params={"sample_index": 0},
        )
    assert generated_side(demo_ws, ["Diff"]) == 16
    with pytest.raises(
        BadInputError,
        match=r"not all square at one resolution \(Diff 16x16, Full-Diff 32x32\)"
        r".*--real-size",
    ):
        generated_side(demo_ws, ["Diff", "Full-Diff"])


def test_real_vs_itself_and_real_halves_equal_cleanfids_own_fid(demo_ws, tmp_path):
    """Table 1's rows against clean-fid's folder pipeline and ``fid_from_feats`` on the resized
    Real files: Real vs itself ~ 0, the halves are the FID of the two halves, GAN's row is
    GAN against the resized Real (so Table 1 saw the resized Real)."""
    from cleanfid.fid import fid_from_feats, get_folder_features

    gan = write_demo_dataset(tmp_path / "gan", count=8, size=48, seed=9)
    import_external_set(demo_ws, gan, "GAN")
    ex = small_extractor(8)
    res = run_evaluate(
        demo_ws,
        EvaluateParams.from_dict({"pairs": 4, "msssim_size": 64, "device": "cpu", "real_size": 32}),
        JobContext(),
        extractor=ex,
    )
    assert list(res.fid) == [REAL_SELF, REAL_HALVES, "GAN"] and list(res.msssim) == ["Real", "GAN"]

    real = prepare_real(demo_ws, resolve_set("real", demo_ws), [], "model", 32)[0]
    folder = real.paths[0].parent
    assert sorted(folder.iterdir()) == sorted(real.paths)

    def feats(paths):
        return get_folder_features(
            str(paths), ex.model, num_workers=0, batch_size=5, device=torch.device("cpu"), mode="clean", verbose=False
        )

    f_real = feats(folder)
    order = {p.name: i for i, p in enumerate(sorted(folder.iterdir()))}
    f_gan = feats(gan / "images")
    assert res.fid["GAN"][0]["fid"] == pytest.approx(float(fid_from_feats(f_gan, f_real)), rel=1e-6)
    for k, row in enumerate(res.fid[REAL_SELF]):
        reference = float(fid_from_feats(f_real, f_real[::-1]))
        assert abs(row["fid"]) < 1e-6 * res.fid["GAN"][0]["fid"] and abs(row["fid"] - reference) < 1e-6
        a, b = disjoint_halves(real, 0, k)
        ia, ib = ([order[p.name] for p in h.paths] for h in (a, b))
        assert res.fid[REAL_HALVES][k]["fid"] == pytest.approx(float(fid_from_feats(f_real[ia], f_real[ib])), rel=1e-6)
        assert res.fid[REAL_HALVES][k]["n_a"] == 6
    md = demo_ws.path(res.paths["markdown"]).read_text()
    assert "Real: resized to 32x32 before clean-fid" in md
    assert f"| {REAL_SELF} |" in md and f"| {REAL_HALVES} |" in md and "disjoint random halves of 12 images, 6 vs 6 |" in md
    assert "all 8 images, one set (subsets of 8 from 8 would be the same set) (no sample index) |" in md


def test_real_halves_are_disjoint_and_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(13):
        write_png(tmp_path / f"{i:02d}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    s = resolve_set(str(tmp_path))
    halves = [disjoint_halves(s, 0, k) for k in range(3)]
    for a, b in halves:
        assert len(a) == len(b) == 6 and not set(a.paths) & set(b.paths) and set(a.paths) | set(b.paths) <= set(s.paths)
    assert [(a.items, b.items) for a, b in halves] == [
        (a.items, b.items) for a, b in (disjoint_halves(s, 0, k) for k in range(3))
    ]
    assert len({frozenset(a.paths) for a, _ in halves}) == 3  # each subset its own split
    assert set(disjoint_halves(s, 1, 0)[0].paths) != set(halves[0][0].paths)  # the seed matters


@pytest.fixture
def indexed_ws(demo_ws):
    """Hand-made samples: images 1-4 have samples 0, 1, 2 (written out of order), image 5 only
    0 and 1, image 6 a re-run's second sample 0; styled children carry no index of their own."""
    rng = np.random.default_rng(2)
    expected: dict[int, dict[int, int]] = {k: {} for k in range(3)}
    plan = [(i, k) for i in (1, 2, 3, 4) for k in (2, 0, 1)] + [(5, 1), (5, 0), (6, 0), (6, 2), (6, 1), (6, 0)]
    ids = {}
    for image_id, k in plan:
        s = demo_ws.add_sample(
            "inpainted",
            "Diff",
            rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            np.zeros((16, 16), np.uint8),
            source_image_id=image_id,
            params={"sample_index": k},
        )
        expected[k].setdefault(image_id, s.id)
        ids[s.id] = k
    for parent in sorted(ids, reverse=True):  # styled in another order
        p = demo_ws.sample(parent)
        demo_ws.add_sample(
            "styled",
            "Styled-Diff",
            rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            np.zeros((16, 16), np.uint8),
            source_image_id=p.source_image_id,
            parent_sample_id=parent,
            params={"stage": "style"},
        )
    return demo_ws, expected


def test_per_index_sets_hold_sample_k_of_every_image(indexed_ws):
    ws, expected = indexed_ws
    sets, notes = sample_index_sets("Diff", ws, 3)
    for k, s in enumerate(sets):
        assert set(s.paths) == {ws.path(ws.sample(i).image_path) for i in expected[k].values()}
        assert s.name == "Diff" and len(s) == (6 if k < 2 else 5)
    assert notes == [
        "Diff: set 3 lacks 1 of the 6 images (they have no sample 3)",
        "Diff: 1 repeated sample indices (a re-run); the earliest sample of each is used",
    ]
    styled, _ = sample_index_sets("Styled-Diff", ws, 3)
    first_child: dict[tuple[int, int], int] = {}  # (image, parent's index) -> earliest styled sample
    for c in ws.samples(kind="styled"):
        first_child.setdefault((c.source_image_id, ws.sample(c.parent_sample_id).params["sample_index"]), c.id)
    for k, s in enumerate(styled):
        assert set(s.paths) == {ws.path(ws.sample(i).image_path) for (_, pk), i in first_child.items() if pk == k}
        assert len(s) == len(sets[k])


def test_evaluate_uses_per_index_sets_and_says_so(indexed_ws, tmp_path):
    ws, expected = indexed_ws
    rng = np.random.default_rng(0)
    for i in range(8):
        write_png(tmp_path / "noise" / f"n{i}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    import_external_set(ws, tmp_path / "noise", "Noise")
    with pytest.raises(BadInputError, match="no source image per sample"):
        sample_index_sets("Noise", ws, 3)
    ex = small_extractor(8)
    res = run_evaluate(
        ws, EvaluateParams.from_dict({"pairs": 4, "msssim_size": 64, "sets": ["Diff", "Noise"]}), JobContext(), extractor=ex
    )
    assert [r["n_a"] for r in res.fid["Diff"]] == [6, 6, 5] and [r["images"] for r in res.msssim["Diff"]] == [6, 6, 5]
    assert res.protocol["sets"]["Diff"] == "sample k of every image"
    assert res.protocol["sets"]["Noise"] == "all 8 images, one set (subsets of 8 from 8 would be the same set) (no sample index)"
    assert "resized to 16x16" in res.protocol["real"]
    assert "Diff: set 3 lacks 1 of the 6 images (they have no sample 3)" in res.notes
    rand = run_evaluate(
        ws,
        EvaluateParams.from_dict({"pairs": 4, "msssim_size": 64, "sets": ["Diff"], "sets_by": "random", "subset_size": 7}),
        JobContext(),
        extractor=ex,
    )
    assert [r["n_a"] for r in rand.fid["Diff"]] == [7, 7, 7] and rand.protocol["sets"]["Diff"] == "random subsets of 7 of 18"
    four = run_evaluate(
        ws, EvaluateParams.from_dict({"pairs": 4, "msssim_size": 64, "sets": ["Diff"], "subsets": 4}), JobContext(), extractor=ex
    )
    assert four.protocol["sets"]["Diff"].endswith("(set 4 (sample 4 of every image) would have 0 images)")
    m = [r["n_a"] for r in four.fid["Diff"]]
    assert four.protocol["sets"]["Diff"].startswith(f"random subsets of {m[0]} of 18") and len(m) == 4
    assert f"Diff: set 4 (sample 4 of every image) would have 0 images; random subsets of {m[0]} of 18 used" in four.notes
    # a set no larger than the subset size is measured once, and its note says so (the demo's
    # said "random subsets used" beside a styled row of 6 measured once on all 6 images)
    whole = run_evaluate(
        ws,
        EvaluateParams.from_dict({"pairs": 4, "msssim_size": 64, "sets": ["Diff"], "subsets": 4, "subset_size": 18}),
        JobContext(),
        extractor=ex,
    )
    assert [r["n_a"] for r in whole.fid["Diff"]] == [18]
    assert "Diff: set 4 (sample 4 of every image) would have 0 images; measured once on all 18 images" in whole.notes

    with pytest.raises(BadInputError, match="sets_by must be one of sample-index, random"):
        run_evaluate(ws, EvaluateParams.from_dict({"sets_by": "index"}), JobContext(), extractor=ex)
    with pytest.raises(BadInputError, match=r"real_size must be a positive side in pixels \(got 0\)"):
        run_evaluate(ws, EvaluateParams.from_dict({"real_size": 0}), JobContext(), extractor=ex)
    with pytest.raises(BadInputError, match="real_resize must be one of model, full"):
        run_fid(ws, FidParams(sets=("real", "Diff"), real_resize="half"), JobContext(), extractor=ex)
