"""Quality gates on hand-made images: each one must pass a good sample and fail a bad one."""

from __future__ import annotations

import numpy as np
import pytest

from backend import gates

N = 64


def disk(cx: float, cy: float, r: float, n: int = N) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.uint8) * 255


def tissue(n: int = N) -> np.ndarray:
    """A smooth horizontal gradient: real tissue has gentle edges, never a step."""
    ramp = np.linspace(90, 170, n, dtype=np.float32)
    img = np.stack([np.tile(ramp, (n, 1)), np.full((n, n), 80.0), np.tile(ramp[::-1], (n, 1))], axis=2)
    return img.round().astype(np.uint8)


SOURCE_MASK = disk(32, 32, 8)
NO_TRAINING = np.zeros(gates.COLOURS, bool)  # an empty training palette: the colour gate knows the source only
REGION = disk(32, 32, 16)


def by_gate(scores):
    return {s.gate: s for s in scores}


def test_area_ratio_is_generated_over_source_area():
    assert gates.area_ratio(SOURCE_MASK, SOURCE_MASK) == 1.0
    half = SOURCE_MASK.copy()
    half[:, 32:] = 0
    assert gates.area_ratio(half, SOURCE_MASK) == pytest.approx((half > 0).sum() / (SOURCE_MASK > 0).sum())
    assert gates.area_ratio(np.zeros_like(SOURCE_MASK), SOURCE_MASK) == 0.0


def test_no_polyp_fails_an_empty_or_tiny_mask_and_passes_a_moved_polyp():
    img = tissue()
    empty = by_gate(gates.score(img, SOURCE_MASK, REGION, img, np.zeros_like(SOURCE_MASK), training=NO_TRAINING))["no_polyp"]
    tiny = by_gate(gates.score(img, SOURCE_MASK, REGION, img, disk(32, 32, 2), training=NO_TRAINING))["no_polyp"]
    moved = by_gate(gates.score(img, SOURCE_MASK, REGION, img, disk(30, 35, 7), training=NO_TRAINING))["no_polyp"]
    assert not empty.passed and empty.value == 0.0
    assert not tiny.passed and tiny.value < 0.15
    assert moved.passed and moved.threshold == 0.15


def test_inner_boundary_leaves_out_the_frame_edge():
    region = np.zeros((10, 10), np.uint8)
    region[:, :4] = 1  # touches the top, bottom and left frame edges
    edge = gates.inner_boundary(region)
    # only column 3 meets kept tissue (column 4); the frame edges are not boundary
    assert edge.sum() == 10 and edge[:, 3].all()


def test_cut_off_fails_a_polyp_running_into_kept_tissue():
    img = tissue()
    inside = by_gate(gates.score(img, SOURCE_MASK, REGION, img, disk(32, 32, 10), training=NO_TRAINING))["cut_off"]
    assert inside.passed and inside.value == 0.0
    # a polyp filling the whole region meets the boundary all the way round
    full = by_gate(gates.score(img, SOURCE_MASK, REGION, img, REGION, training=NO_TRAINING))["cut_off"]
    assert not full.passed and full.value == pytest.approx(1.0)
    # half the boundary: the left half of the region filled
    left = REGION.copy()
    left[:, 33:] = 0
    half = by_gate(gates.score(img, SOURCE_MASK, REGION, img, left, training=NO_TRAINING))["cut_off"]
    assert 0.4 < half.value < 0.6 and not half.passed


def test_copy_fails_the_source_returned_and_passes_new_content():
    src = tissue()
    copy = by_gate(gates.score(src, SOURCE_MASK, REGION, src.copy(), SOURCE_MASK, training=NO_TRAINING))["copy"]
    assert copy.value == 0.0 and not copy.passed
    new = src.copy()
    inside = REGION > 0
    new[inside] = np.clip(new[inside].astype(int) + 20, 0, 255).astype(np.uint8)
    changed = by_gate(gates.score(src, SOURCE_MASK, REGION, new, SOURCE_MASK, training=NO_TRAINING))["copy"]
    # every channel moved by 20 levels inside the region (no channel clipped at 255 here)
    assert changed.value == pytest.approx(20 / 255, abs=1e-6) and changed.passed


def test_seam_is_high_for_a_pasted_square_and_low_for_smooth_content():
    src = tissue()
    square = np.zeros((N, N), np.uint8)
    square[16:48, 16:48] = 255
    pasted = src.copy()
    pasted[square > 0] = (200, 40, 60)  # a flat patch of another colour
    yy, xx = np.mgrid[:N, :N]
    bump = 40 * np.sin(np.pi * (xx - 16) / 32).clip(0) * np.sin(np.pi * (yy - 16) / 32).clip(0)
    smooth = src.copy()  # new content that fades into the tissue at the edge: no seam
    smooth[square > 0] = np.clip(src[square > 0] + bump[square > 0, None], 0, 255).astype(np.uint8)
    seam_pasted = by_gate(gates.score(src, SOURCE_MASK, square, pasted, SOURCE_MASK, training=NO_TRAINING))["seam"]
    seam_smooth = by_gate(gates.score(src, SOURCE_MASK, square, smooth, SOURCE_MASK, training=NO_TRAINING))["seam"]
    assert not seam_pasted.passed and seam_pasted.value > 0.2
    assert seam_smooth.passed and seam_smooth.value < 0.03
    assert gates.region_change(smooth, src, square) > 0.05  # it is new content, not a copy


def test_boundary_step_of_a_flat_patch_matches_the_colour_distance():
    """On a flat background, a flat patch's step is the RGB distance of the two colours / sqrt(3)."""
    bg, patch = np.array([100, 100, 100]), np.array([160, 100, 40])
    img = np.empty((N, N, 3), np.uint8)
    img[:] = bg
    square = np.zeros((N, N), np.uint8)
    square[16:48, 16:48] = 1
    img[square > 0] = patch
    expected = np.linalg.norm((patch - bg) / 255.0) / np.sqrt(3)
    assert gates.boundary_step(img, square) == pytest.approx(expected, rel=1e-5)


def test_thresholds_come_from_the_preset_section():
    cfg = gates.GateConfig.from_section({"min_area_ratio": 0.5, "unrelated": 3})
    assert cfg.min_area_ratio == 0.5 and cfg.max_seam == gates.GateConfig().max_seam
    img = tissue()
    s = by_gate(gates.score(img, SOURCE_MASK, REGION, img, disk(32, 32, 5), cfg, training=NO_TRAINING))["no_polyp"]
    assert s.threshold == 0.5 and not s.passed and gates.failed([s]) == ["no_polyp"]


def test_the_gates_command_scores_unscored_samples_and_prints_pass_rates(demo_ws, capsys):
    import json

    from style_support import add_inpainted

    from backend.cli import main
    from backend.gates import GateScore

    made = [add_inpainted(demo_ws, None, i) for i in demo_ws.image_ids()[:3]]
    demo_ws.add_sample("external", "GAN", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    assert main(["gates", "-w", str(demo_ws.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scored_now"] == {"scored": 3, "passed": out["scored_now"]["passed"], "unscorable": 1}
    diff = next(r for r in out["sets"] if r["set_name"] == "Diff")
    assert (diff["samples"], diff["scored"]) == (3, 3)
    demo_ws.set_gates(made[0].id, [GateScore("no_polyp", 0.0, 0.15, False)])  # one verdict changed by hand
    assert main(["gates", "-w", str(demo_ws.root)]) == 0  # nothing left to score: only prints
    text = capsys.readouterr().out
    assert "Scored" not in text and "1 sample(s) cannot be scored" in text.splitlines()[0]
    assert text.splitlines()[1].split()[:4] == ["set", "samples", "scored", "passed"]
    diff_line = next(line for line in text.splitlines() if line.startswith("Diff"))
    assert int(diff_line.split()[4]) == 1  # the no_polyp column counts the one failure


def _endoscopy_like(seed: int = 0) -> np.ndarray:
    """Reddish tissue with noise and a few white highlights, as the demo's and real frames."""
    rng = np.random.default_rng(seed)
    img = np.stack([np.full((N, N), 180.0), np.full((N, N), 90.0), np.full((N, N), 80.0)], axis=2)
    img += rng.normal(0, 12, img.shape)
    img[5:8, 5:8] = 250  # a specular highlight
    return np.clip(img, 0, 255).round().astype(np.uint8)


# other training frames, one with a pink polyp: the tints a generated polyp may take from them
PINK = (235, 190, 180)
TRAINING = gates.colour_palette([_endoscopy_like(1), np.where(disk(20, 20, 6)[..., None] > 0, PINK, _endoscopy_like(2))])


def test_the_colour_gate_fails_a_cyan_blob_and_speckles_but_not_a_shifted_tint():
    """Issue 33 item 12: a styled sample with speckles and cyan blobs failed only cut_off."""
    src = _endoscopy_like()
    region = REGION > 0
    shifted = src.copy()  # colour matching moves colours a little: still the source's
    shifted[region] = np.clip(shifted[region].astype(int) + [-15, 10, 12], 0, 255)
    ok = by_gate(gates.score(src, SOURCE_MASK, REGION, shifted, SOURCE_MASK, training=TRAINING))["colour"]
    assert ok.value == 0.0 and ok.passed and ok.threshold == gates.GateConfig().max_off_colour

    blob = src.copy()
    blob[disk(32, 32, 7) > 0] = (40, 200, 210)  # cyan, a colour no training frame has
    bad = by_gate(gates.score(src, SOURCE_MASK, REGION, blob, SOURCE_MASK, training=TRAINING))["colour"]
    assert bad.value == pytest.approx((disk(32, 32, 7) > 0).sum() / region.sum()) and not bad.passed

    speckled = src.copy()
    rng = np.random.default_rng(3)
    dots = region & (rng.random(region.shape) < 0.3)
    speckled[dots] = rng.choice([(0, 255, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255)], size=int(dots.sum()))
    sp = by_gate(gates.score(src, SOURCE_MASK, REGION, speckled, SOURCE_MASK, training=TRAINING))["colour"]
    assert sp.value == pytest.approx(dots.sum() / region.sum()) and not sp.passed
    assert gates.explain(sp).startswith("odd colour: 0.") and "(needs <= 0.01)" in gates.explain(sp)
    assert "colour" in gates.SCORED_WHEN_MADE and gates.GateConfig.from_section({"max_off_colour": 0.5}).max_off_colour == 0.5


def test_a_colour_of_another_training_image_passes_though_the_source_lacks_it():
    """The demo's plausible samples 88 and 137 drew a lighter polyp than their source's, in a
    tint other training images have: judged by the source's colours alone they failed."""
    src = _endoscopy_like()
    polyp = disk(32, 32, 7) > 0
    pink = src.copy()
    pink[polyp] = PINK
    with_training = by_gate(gates.score(src, SOURCE_MASK, REGION, pink, SOURCE_MASK, training=TRAINING))["colour"]
    source_only = by_gate(gates.score(src, SOURCE_MASK, REGION, pink, SOURCE_MASK, training=NO_TRAINING))["colour"]
    assert with_training.value == 0.0 and with_training.passed
    assert source_only.value == pytest.approx(polyp.sum() / (REGION > 0).sum()) and not source_only.passed


def test_palette_and_off_colour_by_hand():
    """Bins of 32 grey levels, index (r * 8 + g) * 8 + b; a colour one bin away in each channel
    is allowed, two away is foreign; the source's colours are allowed too."""
    a = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)  # bins (0, 0, 0) = 0 and (7, 7, 7) = 511
    b = np.array([[[40, 100, 200]]], np.uint8)  # bin (1, 3, 6) = (1 * 8 + 3) * 8 + 6 = 94
    palette = gates.colour_palette([a, b])
    assert palette.shape == (512,) and np.flatnonzero(palette).tolist() == [0, 94, 511]
    # bins (2, 4, 7): next to 94; (3, 5, 7): two from 94 in red and green; (1, 1, 1): next to 0; (5, 0, 0): foreign
    sample = np.array([[[64, 128, 224], [96, 160, 255], [32, 32, 32], [160, 0, 0]]], np.uint8)
    everywhere = np.ones((1, 4), np.uint8)
    assert gates.off_colour(sample, a, everywhere, palette) == 0.5
    assert gates.off_colour(sample, sample[:, 3:], everywhere, palette) == 0.25  # the source has (160, 0, 0)
    assert gates.off_colour(sample, a, np.array([[1, 0, 1, 0]], np.uint8), palette) == 0.0  # only the region counts


def test_the_training_palette_is_the_train_role_images_at_model_resolution(tmp_path):
    """Test images never feed it; a role change makes a new one (not the process's cached one)."""
    import cv2

    from backend.data.importer import import_dataset
    from backend.generate.palette import training_colours
    from backend.workspace import TEST, TRAIN, Workspace

    checker = np.indices((16, 16)).sum(axis=0) % 2 * 254  # black and 254 grey: 127 at half size (INTER_AREA)
    frames = {"grey": np.repeat(checker[..., None], 3, axis=2), "red": np.full((16, 16, 3), (200, 40, 40))}
    frames["cyan"] = np.full((16, 16, 3), (40, 200, 210))
    data = tmp_path / "data"
    data.mkdir()
    for name, rgb in frames.items():
        cv2.imwrite(str(data / f"{name}.png"), cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(data / f"{name}_mask.png"), disk(8, 8, 4, 16))
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, data)
    cyan = next(i for i in ws.image_ids() if ws.image(i).name.startswith("cyan"))
    ws.set_role([cyan], TEST)
    grey, red, white = (3 * 8 + 3) * 8 + 3, (6 * 8 + 1) * 8 + 1, 511  # bins (3, 3, 3), (6, 1, 1), (7, 7, 7)
    assert np.flatnonzero(training_colours(ws, 8)).tolist() == [grey, red]
    assert np.flatnonzero(training_colours(ws, 16)).tolist() == [0, red, white]
    ws.set_role([cyan], TRAIN)
    assert np.flatnonzero(training_colours(ws, 8)).tolist() == [(1 * 8 + 6) * 8 + 6, grey, red]
