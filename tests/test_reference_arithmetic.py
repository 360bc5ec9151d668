"""Issue 33's deviations from the reference code, each checked against the reference's own
arithmetic written here independently (from its equations or from the library it called).

References: the author's dsaragih/diffuse-gen (commit f7134e1) and the segmentation code of
the paper's ref [20] (vlbthambawita/divergent-nets, ``data/prepare_data.py``,
``unet_plusplus.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import torch

from backend.clustering.config import ClusterConfig
from backend.clustering.job import run_cluster
from backend.clustering.params import ClusterParams
from backend.config.presets import apply_overrides, load_preset
from backend.data.importer import import_dataset
from backend.demo.standins import weights_or_standin
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.model import build_model
from backend.diffusion.train_config import TrainConfig
from backend.diffusion.training import init_like_guided_diffusion, train_step
from backend.features import FidClusterFeatures
from backend.io.files import write_png
from backend.jobs.context import JobContext
from backend.segmentation.augment import control_augment
from backend.segmentation.augment_ref20 import REF20, ref20_augment, shift_scale
from backend.segmentation.config import load_config
from backend.segmentation.data import as_batch
from backend.segmentation.train import AUGMENTERS, training_loss
from backend.style.colour import match_colours
from backend.style.config import StyleConfig
from backend.workspace import Workspace
from tests.diffusion_micro import MICRO_OVERRIDES


# -- 4. colour matching: color-matcher's Normalizer around the mkl map ------------------------
def _normalizer_unit(a: np.ndarray) -> np.ndarray:
    """color-matcher ``Normalizer(a).type_norm()``: the data is held as float64, so the
    result is (a - min) / (max - min) in [0, 1]."""
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min())


def _colour_matcher_mkl(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``MVGDMatcher.mkl_solver`` and ``multivar_transfer``: pixels as columns, np.cov,
    T = Cr^-1/2 (Cr^1/2 Cz Cr^1/2)^1/2 Cr^-1/2 (r: source, z: reference), res = T (r - mu_r) + mu_z."""
    r, z = src.reshape(-1, 3).T, ref.reshape(-1, 3).T
    cov_r, cov_z = np.cov(r), np.cov(z)
    half = np.real(scipy.linalg.sqrtm(cov_r))
    half_inv = np.linalg.inv(half)
    t = half_inv @ np.real(scipy.linalg.sqrtm(half @ cov_z @ half)) @ half_inv
    res = t @ (r - r.mean(1, keepdims=True)) + z.mean(1, keepdims=True)
    return res.T.reshape(src.shape)


def _uint8_norm(a: np.ndarray) -> np.ndarray:
    """``Normalizer(a).uint8_norm()``: round((a - min) / (max - min) * 255)."""
    return np.round(_normalizer_unit(a) * 255).astype(np.uint8)


def _author_colour_match(styled: np.ndarray, target: np.ndarray) -> np.ndarray:
    """image_editor.py 526-531, line by line."""
    src_image = _normalizer_unit(styled)
    trg_image = _normalizer_unit(target)
    return _uint8_norm(_colour_matcher_mkl(src_image, trg_image))


def _overshooting_pair() -> tuple[np.ndarray, np.ndarray]:
    """A styled image and a high-contrast target whose mkl map leaves 0..255 (clip and stretch differ)."""
    rng = np.random.default_rng(3)
    mix = np.array([[1.0, 0.3, 0.1], [0.2, 1.0, 0.3], [0.1, 0.4, 1.0]])
    styled = (rng.normal(0, 20, (32 * 32, 3)) @ mix.T + [120, 80, 90]).clip(0, 255).astype(np.uint8)
    target = (rng.normal(0, 70, (32 * 32, 3)) + [170, 90, 100]).clip(0, 255).astype(np.uint8)
    return styled.reshape(32, 32, 3), target.reshape(32, 32, 3)


def test_stretch_colour_matching_is_the_author_normalizer_arithmetic():
    styled, target = _overshooting_pair()
    expected = _author_colour_match(styled, target)
    ours = match_colours(styled, target, "mkl", StyleConfig.from_dict(load_preset("paper")["style"]).color_range)
    assert np.abs(ours.astype(int) - expected).max() <= 1  # a rounding tie at most
    assert (ours == expected).mean() > 0.99
    assert ours.min() == 0 and ours.max() == 255  # stretched, as uint8_norm does
    clipped = match_colours(styled, target, "mkl", "clip")
    assert np.abs(clipped.astype(int) - expected).mean() > 2  # the two readings do differ here


def test_colour_range_per_preset():
    ranges = {
        name: StyleConfig.from_dict(load_preset(name)["style"]).color_range for name in ("paper", "diffuse-gen", "tiny", "demo")
    }
    assert ranges == {"paper": "stretch", "diffuse-gen": "stretch", "tiny": "clip", "demo": "clip"}


# -- 1-3. segmentation as ref [20] trains it ---------------------------------------------------
# data/prepare_data.py get_training_augmentation, transcribed: the arguments ref [20] passes
# (and the Albumentations 0.x / imgaug defaults of those it does not).
REF20_ARGUMENTS = {
    "shift_limit": 0.1,
    "scale_limit": 0.5,
    "p_noise": 0.2,
    "noise_scale": (0.01 * 255, 0.05 * 255),
    "p_perspective": 0.5,
    "perspective_scale": (0.05, 0.1),
    "p_photometric": 0.9,
    "p_sharpen_blur": 0.9,
    "sharpen_alpha": (0.2, 0.5),
    "sharpen_lightness": (0.5, 1.0),
    "blur_size": 3,
    "p_contrast_hsv": 0.9,
    "contrast_limit": 0.2,
    "hsv_shift": (20, 30, 20),
}


def test_paper_trains_with_the_ref20_augmentation_and_its_arguments():
    assert dataclasses.asdict(REF20) == REF20_ARGUMENTS
    assert AUGMENTERS[load_config("paper").augment] is ref20_augment
    assert AUGMENTERS[load_config("tiny").augment] is control_augment


@pytest.mark.parametrize("seed", range(6))
def test_ref20_shift_scale_never_rotates_and_borders_are_black(seed):
    """ShiftScaleRotate(shift 0.1, scale 0.5, rotate 0, border_mode=0): a centred square moves
    to c + s (p - c) + (dx w, dy h), still axis-aligned; what comes from outside is black."""
    n, half = 64, 10
    image = np.full((n, n, 3), 200, np.uint8)
    mask = np.zeros((n, n), np.uint8)
    mask[n // 2 - half : n // 2 + half, n // 2 - half : n // 2 + half] = 255
    draws = np.random.default_rng(seed)
    s = draws.uniform(0.5, 1.5)
    dx, dy = draws.uniform(-0.1, 0.1, 2)
    img2, mask2 = shift_scale(image, mask, np.random.default_rng(seed))
    c = n / 2 - 0.5
    lo, hi = c + s * (n // 2 - half - c), c + s * (n // 2 + half - 1 - c)
    ys, xs = np.nonzero(mask2)
    assert abs(xs.min() - (lo + dx * n)) <= 1 and abs(xs.max() - (hi + dx * n)) <= 1
    assert abs(ys.min() - (lo + dy * n)) <= 1 and abs(ys.max() - (hi + dy * n)) <= 1
    box = mask2[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert (box == 255).mean() > 0.97  # still a filled, unrotated rectangle
    if s < 0.9:  # shrunk: the corners came from outside the frame
        assert (img2[0, 0] == 0).all() and (img2[-1, -1] == 0).all()


def test_paper_feeds_raw_pixels_as_ref20():
    """prepare_data(opt, preprocessing_fn=None): the image reaches the network as
    ``to_tensor``'s x.transpose(2, 0, 1).astype('float32'), 0..255."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    masks = np.zeros((2, 8, 8), np.uint8)
    x, _ = as_batch(images, masks, load_config("paper").input_scale)
    np.testing.assert_array_equal(x.numpy(), images.transpose(0, 3, 1, 2).astype("float32"))
    x_tiny, _ = as_batch(images, masks, load_config("tiny").input_scale)
    assert float(x_tiny.abs().max()) < 3  # tiny keeps ImageNet normalisation


def test_paper_dice_loss_reduces_over_the_batch_as_smp():
    """smp's DiceLoss (binary mode) sums over batch and pixels. smp.utils' f_score (ref [20]'s
    loss, eps 1) is (2 tp + 1) / (2 tp + fp + fn + 1); smp.losses computes it as a Tversky
    score (tp + smooth) / (tp + fp/2 + fn/2 + smooth), so smooth 0.5 is the same number."""
    from segmentation_models_pytorch.losses import DiceLoss

    gen = torch.Generator().manual_seed(0)
    prob = torch.rand(4, 1, 16, 16, generator=gen)
    target = torch.zeros(4, 1, 16, 16)
    target[0, :, 2:14, 2:14] = 1  # one large polyp ...
    target[1, :, 5:7, 5:7] = 1  # ... and small ones: per-image and per-batch means differ
    target[2, :, 0:3, 0:16] = 1
    target[3, :, 8:9, 8:9] = 1
    reference = DiceLoss(mode="binary", from_logits=False, smooth=0.5)(prob, target)
    ours = training_loss(prob, target, load_config("paper").dice_reduction)
    assert float(ours) == pytest.approx(float(reference), abs=1e-6)
    per_image = training_loss(prob, target, load_config("tiny").dice_reduction)
    assert abs(float(per_image) - float(reference)) > 0.02


def test_ref20_pipeline_keeps_the_mask_binary_and_moves_it_with_the_image():
    """Every step on a polyp drawn in the image itself: the mask stays 0/255 and on the polyp."""
    n = 64
    image = np.full((n, n, 3), 40, np.uint8)
    mask = np.zeros((n, n), np.uint8)
    mask[20:44, 24:40] = 255
    image[mask > 0] = 230
    for seed in range(20):
        img2, mask2 = ref20_augment(image, mask, np.random.default_rng(seed))
        assert img2.shape == image.shape and set(np.unique(mask2)) <= {0, 255}
        if mask2.any():
            inside, outside = img2[mask2 > 0].mean(), img2[mask2 == 0].mean()
            assert inside > outside + 60


# -- 6. diffuse-gen trains as BOI_train.py ---------------------------------------------------
# guided_diffusion/BOI_train.py create_argparser since commit a8c262a, transcribed.
BOI_TRAIN = {"lr": 5e-5, "batch_size": 128, "microbatch": 4, "save_interval": 1000, "max_steps": 3600}


def _run_loop_updates(max_steps: int) -> int:
    """guided-diffusion's TrainLoop.run_loop(max_steps) as the author changed it: the test
    ``step - resume_step > max_steps`` comes before each update."""
    step, updates = 0, 0
    while True:
        if max_steps and step > max_steps:
            break
        updates += 1
        step += 1
    return updates


def test_diffuse_gen_trains_with_boi_train_settings():
    tc = TrainConfig.from_dict(load_preset("diffuse-gen")["train"])
    got = {"lr": tc.lr, "batch_size": tc.batch_size, "microbatch": tc.microbatch, "save_interval": tc.save_interval}
    assert got == {k: v for k, v in BOI_TRAIN.items() if k != "max_steps"}
    assert tc.steps == _run_loop_updates(BOI_TRAIN["max_steps"]) == 3601
    paper = TrainConfig.from_dict(load_preset("paper")["train"])
    assert (paper.lr, paper.batch_size, paper.microbatch, paper.steps) == (1e-4, 1, 0, 110000)  # Table A.1, §2.3


def test_microbatches_add_the_gradients_of_each_slice_mean_as_guided_diffusion():
    """forward_backward: for each slice of ``microbatch``, backward((losses * weights).mean());
    one optimizer step after all slices. With SGD at lr 1 the step is minus that sum."""
    preset = apply_overrides(load_preset("tiny"), MICRO_OVERRIDES)
    torch.manual_seed(0)
    model = init_like_guided_diffusion(build_model(ModelConfig.from_dict(preset["model"])))
    diffusion = create_diffusion(DiffusionConfig.from_dict(preset["diffusion"]), "")
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 4, 16, 16, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (4,), generator=g)
    noise = torch.randn(4, 4, 16, 16, generator=g)
    params = [p for p in model.parameters() if p.requires_grad]
    expected = [torch.zeros_like(p) for p in params]
    for i in (0, 2):
        loss = diffusion.training_losses(model, x0[i : i + 2], t[i : i + 2], noise[i : i + 2])["loss"].mean()
        for e, grad in zip(expected, torch.autograd.grad(loss, params)):
            e -= grad
    before = [p.detach().clone() for p in params]
    train_step(model, diffusion, torch.optim.SGD(params, lr=1.0), x0, t, noise, microbatch=2)
    for b, p, e in zip(before, params, expected):
        torch.testing.assert_close(p.detach() - b, e, rtol=1e-4, atol=1e-6)


# -- 5. the author's clustering network: the FID Inception at 299 by bilinear resize ---------
@pytest.fixture
def fid_standin(tmp_path, monkeypatch):
    """A random-weight FID Inception file (the demo's stand-in), found as a user's would be."""
    path, is_random = weights_or_standin("fid_inception", tmp_path / "standin")
    assert is_random
    monkeypatch.setenv("DIFFGEN_FID_INCEPTION", path)
    return path


def test_fid_cluster_features_are_the_author_inception_on_bilinear_299(fid_standin, monkeypatch):
    """clustering.ipynb: PIL LANCZOS to 256, TF.to_tensor, then utils_flexit InceptionV3()
    (pytorch-fid's; clean-fid ships the same class): F.interpolate bilinear to 299, 2x - 1,
    the FID Inception blocks to the final average pool."""
    import torchvision.transforms.functional as TF
    from cleanfid import inception_pytorch
    from PIL import Image
    from safetensors.torch import load_file

    state = load_file(fid_standin)
    monkeypatch.setattr(
        inception_pytorch,
        "load_state_dict_from_url",
        lambda *a, **k: {**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)},
    )
    reference = inception_pytorch.InceptionV3(output_blocks=[3], resize_input=False, normalize_input=True).eval()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)]
    x = torch.stack([TF.to_tensor(Image.fromarray(im).resize((256, 256), Image.Resampling.LANCZOS)) for im in images])
    x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        expected = reference(x)[0].reshape(2, 2048).numpy()
    ours = FidClusterFeatures.from_settings(None, "cpu").embed(images)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_diffuse_gen_clusters_with_the_fid_inception(fid_standin, tmp_path):
    for name, network in (("paper", "torchvision"), ("tiny", "torchvision"), ("diffuse-gen", "fid-inception")):
        assert ClusterConfig.from_params(ClusterParams(preset=name)).network == network
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:48]
    for i in range(4):
        write_png(tmp_path / "data" / "images" / f"im{i}.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
        write_png(
            tmp_path / "data" / "masks" / f"im{i}.png",
            (((xx - 24) ** 2 + (yy - 20) ** 2) < (5 + 3 * i) ** 2).astype(np.uint8) * 255,
        )
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, tmp_path / "data")
    res = run_cluster(ws, ClusterParams(preset="diffuse-gen", k=2, min_cluster_size=1), JobContext())
    assert res.extractor.startswith("fid-inception-pool@") and res.extractor.endswith("/lanczos256-bilinear299")
