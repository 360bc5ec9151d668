"""The ``diffuse-gen`` preset: each choice of the author's code (dsaragih/diffuse-gen) pinned
against a hand computation or a small reference written here, next to our ``paper`` choice.

Preset inheritance (``inherits = "paper"``) is tested here too, since the preset relies on it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from backend.clustering.job import ClusterConfig, combine_features, kmeans_labels
from backend.clustering.params import ClusterParams
from backend.config.presets import apply_overrides, load_preset, preset_names
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.samplers.base import Row, sample_batch
from backend.diffusion.samplers.repaint import RePaintSampler
from backend.diffusion.train_data import center_crop_geometry, resize_pair
from backend.diffusion.training import TrainConfig
from backend.errors import DiffGenError
from backend.generate.pixels import postprocess
from backend.inpaint.config import InpaintConfig, resolve_config
from backend.masks import ops as masks

# What diffuse-gen changes relative to paper, and nothing else.
AUTHOR_CHOICES = {
    ("model", "attention_resolutions"): ([16, 8], [16]),
    ("train", "resize"): ("squash", "center_crop"),
    ("train", "lr"): (1e-4, 5e-5),
    ("train", "batch_size"): (1, 128),
    ("train", "microbatch"): (0, 4),
    ("train", "steps"): (110000, 3601),
    ("train", "save_interval"): (10000, 1000),
    ("inpaint", "dilate_shape"): ("disk", "ellipse_kernel"),
    ("inpaint", "clip_denoised"): (True, False),
    ("inpaint", "mask_cleanup"): ("islands", "opening"),
    ("inpaint", "weights"): ("ema", "raw"),
    ("cluster", "features"): ("balanced", "raw"),
    ("cluster", "network"): ("torchvision", "fid-inception"),
}


# -- preset inheritance ----------------------------------------------------------------------
def test_diffuse_gen_is_paper_plus_the_author_choices():
    paper, dg = load_preset("paper"), load_preset("diffuse-gen")
    assert "inherits" not in dg and dg["name"] == "diffuse-gen" and paper["name"] == "paper"
    assert dg.keys() == paper.keys()
    changed = {
        (sec, f): (paper[sec][f], dg[sec][f])
        for sec in paper
        if isinstance(paper[sec], dict)
        for f in paper[sec]
        if paper[sec][f] != dg[sec].get(f)
    }
    assert changed == AUTHOR_CHOICES
    assert all(dg[sec].keys() == paper[sec].keys() for sec in paper if isinstance(paper[sec], dict))
    # every stage reads it through its own config class
    assert ModelConfig.from_dict(dg["model"]).attention_resolutions == (16,)
    assert TrainConfig.from_dict(dg["train"]).resize == "center_crop"
    cfg = resolve_config({}, "diffuse-gen")
    assert (cfg.dilate, cfg.dilate_shape, cfg.clip_denoised, cfg.mask_cleanup, cfg.opening_kernel, cfg.weights) == (
        20,
        "ellipse_kernel",
        False,
        "opening",
        16,
        "raw",
    )
    assert resolve_config({"weights": "ema"}, "diffuse-gen").weights == "ema"  # an explicit param wins
    assert ClusterConfig.from_params(ClusterParams(preset="diffuse-gen")).features == "raw"
    assert apply_overrides(dg, ["inpaint.clip_denoised=true"])["inpaint"]["clip_denoised"] is True


def _write(path, text):
    path.write_text(text)
    return path


def test_inheritance_merges_field_by_field_along_the_chain(tmp_path):
    _write(tmp_path / "base.toml", 'name = "base"\n[a]\nx = 1\ny = 2\n[b]\nz = 3\n')
    _write(tmp_path / "mid.toml", 'inherits = "base.toml"\nname = "mid"\n[a]\ny = 20\n')
    child = _write(tmp_path / "child.toml", 'inherits = "mid.toml"\n[b]\nw = 4\n[c]\nv = 5\n')
    assert load_preset(str(child)) == {"name": "mid", "a": {"x": 1, "y": 20}, "b": {"z": 3, "w": 4}, "c": {"v": 5}}
    assert load_preset(str(tmp_path / "base.toml")) == {"name": "base", "a": {"x": 1, "y": 2}, "b": {"z": 3}}
    shipped = _write(tmp_path / "mine.toml", 'inherits = "paper"\n[inpaint]\ndilate = 7\n')
    mine = load_preset(str(shipped))
    assert mine["inpaint"]["dilate"] == 7 and mine["inpaint"]["samples"] == 3 and mine["model"]["num_channels"] == 256


def test_inheritance_cycles_and_missing_parents_are_clear_errors(tmp_path):
    _write(tmp_path / "a.toml", 'inherits = "b.toml"\n')
    _write(tmp_path / "b.toml", 'inherits = "a.toml"\n')
    with pytest.raises(DiffGenError, match=r"preset inheritance loops: .*a\.toml -> .*b\.toml -> .*a\.toml"):
        load_preset(str(tmp_path / "a.toml"))
    _write(tmp_path / "self.toml", 'inherits = "self.toml"\n')
    with pytest.raises(DiffGenError, match="inheritance loops"):
        load_preset(str(tmp_path / "self.toml"))
    _write(tmp_path / "orphan.toml", 'inherits = "no-such-preset"\n')
    with pytest.raises(
        DiffGenError,
        match=r"unknown preset 'no-such-preset' \(inherited by .*orphan\.toml\); "
        rf"known: {', '.join(preset_names())}",
    ):
        load_preset(str(tmp_path / "orphan.toml"))
    _write(tmp_path / "bad.toml", "inherits = 3\n")
    with pytest.raises(DiffGenError, match="'inherits' must be a preset name or a .toml path, not 3"):
        load_preset(str(tmp_path / "bad.toml"))


def test_unknown_choices_are_named():
    with pytest.raises(DiffGenError, match=r"inpaint\.dilate_shape must be one of disk, ellipse_kernel \(got 'square'\)"):
        InpaintConfig(dilate_shape="square")
    with pytest.raises(DiffGenError, match=r"inpaint\.mask_cleanup must be one of islands, opening"):
        InpaintConfig(mask_cleanup="close")
    with pytest.raises(DiffGenError, match=r"train\.resize must be one of squash, center_crop"):
        TrainConfig(resize="pad")
    with pytest.raises(DiffGenError, match=r"cluster\.features must be one of balanced, raw"):
        ClusterConfig(features="pca")


# -- dilation: 20x20 elliptical kernel vs 20 px disk ---------------------------------------------
def opencv_ellipse(size: int) -> np.ndarray:
    """OpenCV's MORPH_ELLIPSE rule, written out: r = c = size // 2; row i spans the columns
    c - dx .. c + dx (clipped to the kernel) with dx = round(c * sqrt(1 - (i - r)^2 / r^2))."""
    r = c = size // 2
    k = np.zeros((size, size), np.uint8)
    for i in range(size):
        dy = i - r
        dx = int(round(c * np.sqrt((r * r - dy * dy) / (r * r))))
        k[i, max(c - dx, 0) : min(c + dx + 1, size)] = 1
    return k


def test_ellipse_kernel_footprint_and_reach():
    kernel = opencv_ellipse(20)
    np.testing.assert_array_equal(kernel, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (20, 20)))
    assert kernel.sum() == 325 and kernel[0].sum() == 1 and kernel[10].sum() == 20
    point = np.zeros((41, 41), np.uint8)
    point[20, 20] = 255
    region = InpaintConfig(dilate=20, dilate_shape="ellipse_kernel").region(point)
    ys, xs = np.nonzero(region)
    # anchored at pixel 10 of 20: 9 pixels up and left, 10 down and right (9.5 per side on average)
    assert (20 - xs.min(), xs.max() - 20, 20 - ys.min(), ys.max() - 20) == (9, 10, 9, 10)
    assert region.sum() // 255 == 325
    disk = InpaintConfig(dilate=20).region(point)
    ys, xs = np.nonzero(disk)
    assert (20 - xs.min(), xs.max() - 20) == (20, 20) and disk.sum() // 255 == 1257  # #{x²+y² <= 400}


def test_ellipse_region_equals_the_author_dilation_call():
    mask = np.zeros((64, 64), np.uint8)
    cv2.ellipse(mask, (30, 34), (12, 8), 30, 0, 360, 255, -1)
    mask[0:5, 60:64] = 255  # touching the frame
    author = cv2.dilate(
        np.where(mask > 0, 1, 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (20, 20)), iterations=1
    )
    ours = InpaintConfig(dilate=20, dilate_shape="ellipse_kernel").region(mask)
    np.testing.assert_array_equal(ours > 0, author > 0)
    assert (InpaintConfig(dilate=20).region(mask) > 0).sum() > 1.3 * (ours > 0).sum()


# -- clip_denoised: the x0 clip at every step, nothing else ----------------------------------------
def _two_step_repaint(rows, clip: bool) -> torch.Tensor:
    """RePaint over 2 respaced steps (original steps 0 and 999 of the linear schedule) written
    out by hand for a model that predicts eps = 2 and the largest variance (v = 1 -> beta_t).
    Noise is drawn per row in the sampler's order: start, q_sample(t=1), p_sample(t=1),
    q_sample(t=0), p_sample(t=0) (the last one multiplied by 0)."""
    ac_full = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    ac = [ac_full[0], ac_full[999]]
    beta1 = 1 - ac[1] / ac[0]
    coef1 = beta1 * np.sqrt(ac[0]) / (1 - ac[1])
    coef2 = (1 - ac[0]) * np.sqrt(1 - beta1) / (1 - ac[1])
    out = []
    for row in rows:
        g = torch.Generator().manual_seed(row.seed)
        n = [torch.randn(row.known.shape, generator=g, dtype=torch.float32).double() for _ in range(5)]
        gt, keep = row.known.double(), row.keep.double()

        def x0_of(x, a):
            x0 = np.sqrt(1 / a) * x - np.sqrt(1 / a - 1) * 2.0
            return x0.clamp(-1, 1) if clip else x0

        x = keep * (np.sqrt(ac[1]) * gt + np.sqrt(1 - ac[1]) * n[1]) + (1 - keep) * n[0]
        x = coef1 * x0_of(x, ac[1]) + coef2 * x + np.sqrt(beta1) * n[2]
        x = keep * (np.sqrt(ac[0]) * gt + np.sqrt(1 - ac[0]) * n[3]) + (1 - keep) * x
        x = x0_of(x, ac[0])  # at t = 0 the posterior mean is x0 itself
        out.append(keep * gt + (1 - keep) * x.clamp(-1, 1))
    return torch.stack(out).float()


def test_clip_denoised_off_changes_the_x0_clip_only():
    clip, no_clip = RePaintSampler(2, 10, 5), RePaintSampler(2, 10, 5, clip_denoised=False)
    diffusion = clip.set_timesteps(DiffusionConfig())
    no_clip.set_timesteps(DiffusionConfig())
    g = torch.Generator().manual_seed(0)
    keep = torch.ones(1, 6, 6)
    keep[:, 1:5, 1:5] = 0
    rows = [Row(torch.rand(4, 6, 6, generator=g) * 2 - 1, keep, seed) for seed in (11, 12)]

    def model(x, t):
        return torch.cat([torch.full_like(x, 2.0), torch.ones_like(x)], dim=1)

    clipped = sample_batch(model, clip, diffusion, rows)
    raw = sample_batch(model, no_clip, diffusion, rows)
    torch.testing.assert_close(clipped, _two_step_repaint(rows, clip=True), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(raw, _two_step_repaint(rows, clip=False), atol=1e-5, rtol=1e-5)
    region = (keep == 0).expand(4, 6, 6)
    assert torch.equal(raw[:, ~region], clipped[:, ~region])  # the kept pixels are the source's
    assert not torch.allclose(raw[:, region], clipped[:, region], atol=1e-2)


# -- mask clean-up: elliptical opening vs islands + holes -----------------------------------------
def _hand_mask() -> np.ndarray:
    """A disk of radius 20 with a 3x3 hole, a 2 px wide spur, and a separate 7x7 speck."""
    m = np.zeros((80, 80), np.uint8)
    cv2.circle(m, (30, 30), 20, 255, -1)
    m[29:32, 29:32] = 0  # hole
    m[29:31, 50:71] = 255  # spur to the right, 2 px wide, tip at x = 70
    m[66:73, 66:73] = 255  # speck, 49 px
    return m


def opencv_open(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.morphologyEx(MORPH_OPEN) by its definition: erode then dilate with the SAME offsets
    (kernel pixel minus anchor ``size // 2``; outside the image: foreground for the erosion,
    background for the dilation). For an even size the offsets run -8..7, not symmetric, so
    this differs from the textbook opening (which reflects the kernel for the dilation)."""
    a, (h, w) = kernel.shape[0] // 2, mask.shape
    offsets = np.argwhere(kernel) - a

    def shifted(img: np.ndarray, dy: int, dx: int, fill: bool) -> np.ndarray:  # out[p] = img[p + (dy, dx)]
        padded = np.pad(img, a, constant_values=fill)
        return padded[a + dy : a + dy + h, a + dx : a + dx + w]

    eroded = np.logical_and.reduce([shifted(mask > 0, dy, dx, True) for dy, dx in offsets])
    return np.logical_or.reduce([shifted(eroded, dy, dx, False) for dy, dx in offsets])


def test_opening_and_islands_clean_a_hand_made_mask_differently():
    m = _hand_mask()
    islands = InpaintConfig(mask_cleanup="islands", min_island=40, fill_holes=True).clean(m)
    assert islands[30, 30] == 255 and islands[69, 69] == 255 and islands[29, 70] == 255  # hole filled, rest kept
    assert (islands > 0).sum() == (m > 0).sum() + 9
    opened = InpaintConfig(mask_cleanup="opening", opening_kernel=16).clean(m)
    np.testing.assert_array_equal(opened > 0, opencv_open(m, opencv_ellipse(16)))
    author = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (16, 16)))
    np.testing.assert_array_equal(opened, author)  # refine_mask's call, exactly
    assert opened[69, 69] == 0 and opened[29, 70] == 0  # speck and spur tip (narrower than 16 px) go
    assert opened[30, 15] == 255 and opened[15, 30] == 255  # the disk body stays
    # not filled: the 3x3 hole at 29..31 becomes 2x2 at 30..31 (the unreflected even kernel
    # shifts what it rebuilds by up to a pixel)
    np.testing.assert_array_equal(opened[28:33, 28:33] == 0, np.pad(np.ones((2, 2), bool), ((2, 1), (2, 1))))
    assert not (opened > masks.dilate(m, 1)).any()  # never more than a pixel beyond the mask


def test_opening_the_grey_channel_then_thresholding_equals_our_order():
    """The author opens the float mask channel and thresholds later; flat opening commutes
    with thresholding, so postprocess (threshold, then open) gives the same mask."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:48, :48]
    blob = np.maximum((18 - np.hypot(yy - 24, xx - 24)) / 6, (3 - np.hypot(yy - 6, xx - 42)) / 3)
    grey = (blob + 0.3 * cv2.GaussianBlur(rng.uniform(-1, 1, (48, 48)), (0, 0), 2)).astype(np.float32)
    author = cv2.morphologyEx(grey, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (16, 16))) >= 0
    x0 = torch.zeros(4, 48, 48)
    x0[3] = torch.from_numpy(grey)
    src = np.zeros((48, 48, 3), np.uint8)
    region = np.full((48, 48), 255, np.uint8)
    _, mask = postprocess(x0, src, np.zeros((48, 48), np.uint8), region, InpaintConfig(mask_cleanup="opening"))
    thresholded = ((x0[3].clamp(-1, 1) + 1) * 127.5).round().numpy() >= 128
    assert np.array_equal(thresholded, grey >= 0) and 0.2 < author.mean() < 0.8
    np.testing.assert_array_equal(mask > 0, author)


# -- training resize: centre crop vs squash --------------------------------------------------------
def test_center_crop_geometry_by_hand():
    assert center_crop_geometry(30, 15, 10) == ((20, 10), 5, 0)  # scale 2/3: 30x15 -> 20x10, cut 5 each side
    assert center_crop_geometry(40, 20, 10) == ((20, 10), 5, 0)  # halved once (20 >= 2*10), then scale 1
    assert center_crop_geometry(20, 45, 10) == ((10, 22), 0, 6)  # portrait: halved to 10x22, cut 6 / 6
    # 622x529 to 256: halved to 311x264, then x256/264: round(301.58) = 302 wide, crop x (302-256)//2 = 23
    assert center_crop_geometry(622, 529, 256) == ((302, 256), 23, 0)


def test_center_crop_keeps_the_middle_of_a_wide_image():
    cols = np.arange(40, dtype=np.uint8) * 6  # column x has value 6x
    image = np.repeat(np.repeat(cols[None, :, None], 20, axis=0), 3, axis=2)
    mask = np.zeros((20, 40), np.uint8)
    mask[:, :10] = 255  # the left quarter only
    mask[8:12, 18:22] = 255  # and a mark in the middle
    pair = resize_pair(image, mask, 10, "center_crop")
    # 40x20 -> 20x10 averages column pairs (2j, 2j+1) -> 12j + 3; columns j = 5..14 are kept
    np.testing.assert_array_equal(pair[0], np.tile(12 * np.arange(5, 15) + 3, (10, 1)))
    expected_mask = np.zeros((10, 10), np.uint8)
    expected_mask[4:6, 4:6] = 255  # the mark, at half size, 5 columns left
    np.testing.assert_array_equal(pair[3], expected_mask)
    squashed = resize_pair(image, mask, 10, "squash")
    assert (squashed[3][:, :2] == 255).all() and squashed[0][0, 0] == 9  # the whole frame, 4 columns per pixel


# -- clustering features: raw concatenation vs balanced halves -------------------------------------
def test_raw_features_group_by_the_larger_half_balanced_by_both():
    # image half: two tight groups far apart (scale 100); mask half: two groups at scale 1e-3
    image_half = np.array([[100, 0], [100, 1], [110, 0], [110, 1]] * 2, dtype=np.float64)
    mask_half = np.array([[1e-3, 0]] * 4 + [[0, 1e-3]] * 4)
    feats = np.concatenate([image_half, mask_half], axis=1)
    raw = combine_features(feats, "raw")
    np.testing.assert_array_equal(raw, feats)
    balanced = combine_features(feats, "balanced")
    by_hand = np.concatenate([image_half / np.linalg.norm(image_half, axis=1, keepdims=True), mask_half / 1e-3], axis=1)
    np.testing.assert_allclose(balanced, by_hand)
    by_image = kmeans_labels(raw, 2, seed=0)
    by_mask = kmeans_labels(balanced, 2, seed=0)
    image_group, mask_group = np.array([0, 0, 1, 1] * 2), np.repeat([0, 1], 4)
    assert adjusted_rand_score(image_group, by_image) == 1.0 and adjusted_rand_score(mask_group, by_mask) == 1.0
