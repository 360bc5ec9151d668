"""The style stage's choices where the paper and the author's code (dsaragih/diffuse-gen) agree,
each pinned against a hand computation or a small reference written here: the semantic window
(--diff_iter 100), MKL colour matching (--use_colormatch), the RGB-only content MSE, post-ReLU
VGG features and the styled sample's mask (the guided 4th channel)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import torch
from style_support import SMALL_DINO, add_inpainted, register_tiny_model, tiny_model_folder, write_dino, write_vgg
from torch import nn

from backend.cli import main as cli_main
from backend.config.presets import load_preset
from backend.diffusion.checkpoint import load_model
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import PMeanVar, create_diffusion
from backend.errors import DiffGenError
from backend.style import job as style_job
from backend.style import losses, networks
from backend.style.colour import mkl_transfer
from backend.style.guidance import LAMBDAS, Networks, StyleConfig, StyleGuide, style_tensor
from backend.style.networks import DinoCLS, vgg_features


def paper_style(**weights: float) -> StyleConfig:
    """The paper preset's [style] with every lambda 0 except those given."""
    cfg = StyleConfig.from_dict(load_preset("paper")["style"])
    zero = {f"lambda_{t}": 0.0 for t in LAMBDAS}
    return dataclasses.replace(cfg, **{**zero, **{f"lambda_{k}": v for k, v in weights.items()}})


# -- the semantic divergence window ---------------------------------------------------------
def test_paper_semantic_term_is_on_for_19_of_the_120_style_steps(tmp_path, monkeypatch):
    """Respacing 200, skip 80: the loop runs t = 119 ... 0 (120 steps). The author's
    ``--diff_iter 100`` keeps lambda_sem on while t > 100, i.e. t = 119 ... 101: 19 steps
    (with our former 50 it was t = 119 ... 51, 69 steps). Only lambda_sem is on, so the last
    101 steps have no active term at all and must still run (a zero guidance gradient)."""
    paper = load_preset("paper")
    diffusion = create_diffusion(DiffusionConfig.from_dict(paper["diffusion"]))
    model, _, _ = load_model(tiny_model_folder(tmp_path / "tiny"))
    dino = DinoCLS(SMALL_DINO.build(), SMALL_DINO.input_size).requires_grad_(False)
    sem_steps: list[int] = []
    real_sem = losses.sem_loss
    monkeypatch.setattr(losses, "sem_loss", lambda cls, prev: sem_steps.append(1) or real_sem(cls, prev))
    steps: list[tuple[int, int]] = []
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 4, 32, 32, generator=g) * 2 - 1
    style_tensor(
        model.requires_grad_(False),
        diffusion,
        content,
        content[:, :3],
        paper_style(sem=1e-3),
        Networks(dino=dino),
        g,
        step_done=lambda done, total: steps.append((done, total)),
    )
    assert diffusion.num_timesteps == 200 and steps[-1] == (120, 120)
    assert len(sem_steps) == 19, f"semantic term on for {len(sem_steps)} steps"


# -- MKL colour matching ----------------------------------------------------------------------
def test_paper_preset_colour_matches_with_mkl():
    assert StyleConfig.from_dict(load_preset("paper")["style"]).color_match == "mkl"
    assert StyleConfig().color_match == "mkl"


def test_mkl_on_uncorrelated_channels_scales_each_by_its_std_ratio():
    """Hand case: the 8 pixels of a 2x2x2 factorial design have uncorrelated channels, so the
    MKL map is diag(std_target / std_source): R x2 (steps 20 -> 40), G and B x1. Each source
    pixel lands exactly on the target pixel of the same design cell."""
    levels_src = [(100, 120), (50, 70), (80, 110)]
    levels_tgt = [(140, 180), (60, 80), (20, 50)]
    cells = [(i, j, k) for i in range(2) for j in range(2) for k in range(2)]

    def design(levels):
        return np.array([[levels[c][ix] for c, ix in enumerate(cell)] for cell in cells], np.uint8).reshape(2, 4, 3)

    np.testing.assert_array_equal(mkl_transfer(design(levels_src), design(levels_tgt)), design(levels_tgt))


def test_mkl_equals_the_closed_form_on_correlated_colours():
    """Pitie & Kokaram's MKL map T = Cs^-1/2 (Cs^1/2 Cr Cs^1/2)^1/2 Cs^-1/2 (color-matcher's
    'mkl', which the author's --use_colormatch calls), with scipy's sqrtm as the reference."""
    rng = np.random.default_rng(0)
    mix_s = np.array([[1.0, 0.3, 0.0], [0.4, 1.0, 0.2], [0.0, 0.5, 1.0]])
    mix_t = np.array([[1.0, -0.4, 0.3], [0.0, 1.0, 0.6], [0.2, 0.0, 1.0]])
    src = (rng.normal(0, 15, (600, 3)) @ mix_s.T + [110, 90, 70]).clip(0, 255).astype(np.uint8)
    tgt = (rng.normal(0, 10, (600, 3)) @ mix_t.T + [150, 100, 120]).clip(0, 255).astype(np.uint8)
    s, r = src.astype(np.float64), tgt.astype(np.float64)
    cs, cr = np.cov(s, rowvar=False), np.cov(r, rowvar=False)
    cs_h = np.real(scipy.linalg.sqrtm(cs))
    cs_h_inv = np.linalg.inv(cs_h)
    t_map = cs_h_inv @ np.real(scipy.linalg.sqrtm(cs_h @ cr @ cs_h)) @ cs_h_inv
    np.testing.assert_allclose(t_map @ cs @ t_map, cr, rtol=1e-8)  # the defining property
    expected = np.clip(np.rint((s - s.mean(0)) @ t_map.T + r.mean(0)), 0, 255)
    out = mkl_transfer(src.reshape(20, 30, 3), tgt.reshape(20, 30, 3)).reshape(-1, 3).astype(np.float64)
    assert np.abs(out - expected).max() <= 1  # a rounding tie at most
    assert (out == expected).mean() > 0.99


# -- the content MSE: RGB only --------------------------------------------------------------
@pytest.fixture(scope="module")
def small_diffusion():
    return create_diffusion(DiffusionConfig.from_dict(load_preset("tiny")["diffusion"]))


def mse_guide(diffusion, content: torch.Tensor, seed: int) -> StyleGuide:
    return StyleGuide(
        paper_style(mse=1.0), diffusion, None, content, content[:, :3], Networks(), torch.Generator().manual_seed(seed)
    )


def test_content_mse_compares_rgb_only_hand_computed(small_diffusion):
    """x_in = pred_x0 f + x_t (1 - f) and y_in = c f + q_sample(c, t, noise) (1 - f) with
    f = sqrt(1 - abar_t), written out here; the MSE is the mean over the 3 RGB channels only
    (with the mask channel it would be (3 * rgb + mask) / 4)."""
    t_index, seed = 30, 7
    content = torch.zeros(1, 4, 2, 2)
    content[:, 3] = 1.0  # a full mask: the channel the MSE must ignore
    x = torch.full((1, 4, 2, 2), 0.5)
    pred = torch.full((1, 4, 2, 2), -0.25)
    pred[:, 3] = -1.0
    out = PMeanVar(mean=x, variance=x, log_variance=x, pred_xstart=pred, eps=x)
    guide = mse_guide(small_diffusion, content, seed)
    guide.loss(x, torch.tensor([t_index]), out)

    abar = float(small_diffusion.alphas_cumprod[t_index])
    f = (1 - abar) ** 0.5
    noise = torch.randn((1, 4, 2, 2), generator=torch.Generator().manual_seed(seed))
    y_in = content * f + (abar**0.5 * content + f * noise) * (1 - f)
    x_in = -0.25 * f + 0.5 * (1 - f)  # the RGB channels of x_in (constant)
    expected = float(((x_in - y_in[:, :3]) ** 2).mean())
    assert guide.terms["mse"] == pytest.approx(expected, rel=1e-6)


def test_content_mse_neither_counts_nor_anchors_the_mask_channel(small_diffusion):
    """Changing the content's mask changes nothing, and the mask channel of x gets no pull."""
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 4, 8, 8, generator=g) * 2 - 1
    other_mask = content.clone()
    other_mask[:, 3] = -content[:, 3]
    x = (torch.rand(1, 4, 8, 8, generator=g) * 2 - 1).requires_grad_(True)
    t = torch.tensor([20])

    def term_and_grad(c: torch.Tensor) -> tuple[float, torch.Tensor]:
        out = PMeanVar(mean=x, variance=x, log_variance=x, pred_xstart=0.5 * x, eps=x)
        guide = mse_guide(small_diffusion, c, seed=3)
        grad = guide.cond_fn(x, t, out)
        return guide.terms["mse"], grad

    term_a, grad_a = term_and_grad(content)
    term_b, _ = term_and_grad(other_mask)
    assert term_a == pytest.approx(term_b, rel=1e-6)
    assert grad_a[:, 3].abs().max() == 0 and grad_a[:, :3].abs().max() > 0


# -- VGG features: post-ReLU -------------------------------------------------------------------
def tiny_vgg(inplace: bool) -> nn.Sequential:
    """torchvision's vgg19.features layout up to conv2_1 (conv, ReLU, conv, ReLU, max-pool,
    conv, ReLU) with 1x1 convolutions of known weights; torchvision's ReLUs are in place."""

    def conv(cin: int, w: list[list[float]], b: list[float]) -> nn.Conv2d:
        c = nn.Conv2d(cin, len(w), 1)
        c.weight.data = torch.tensor(w).view(len(w), cin, 1, 1)
        c.bias.data = torch.tensor(b)
        return c

    return nn.Sequential(
        conv(3, [[1.0, -2.0, 0.5], [-1.0, 0.0, 1.0]], [-0.25, 0.0]),
        nn.ReLU(inplace),
        conv(2, [[1.0, 1.0], [0.5, -1.0]], [0.0, 0.1]),
        nn.ReLU(inplace),
        nn.MaxPool2d(2, 2),
        conv(2, [[2.0, -1.0], [-1.0, 1.0]], [-0.5, 0.0]),
        nn.ReLU(inplace),
    )


@pytest.mark.parametrize("inplace", [True, False])
def test_vgg_features_are_post_relu_as_the_reference_stores_them(inplace):
    """The reference stores the conv layer's output and the next (in-place) ReLU overwrites
    it, so 'conv1_1' is relu(conv1_1(x)). Pixel (0, 0) = (1, 1, 2): conv1_1 gives
    (1 - 2 + 1 - 0.25, -1 + 2) = (-0.25, 1), stored as (0, 1)."""
    x = torch.tensor([[1.0, 0.0], [2.0, 1.0]]).expand(3, 2, 2).clone()
    x[2] = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    x = x[None]
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    px = x[0].numpy().reshape(3, -1)  # (3, 4 pixels)
    c11 = relu(np.array([[1.0, -2.0, 0.5], [-1.0, 0.0, 1.0]]) @ px + [[-0.25], [0.0]])
    c12 = relu(np.array([[1.0, 1.0], [0.5, -1.0]]) @ c11 + [[0.0], [0.1]])
    pooled = c12.max(axis=1, keepdims=True)  # 2x2 max-pool of a 2x2 map
    c21 = relu(np.array([[2.0, -1.0], [-1.0, 1.0]]) @ pooled + [[-0.5], [0.0]])
    with torch.no_grad():
        feats = vgg_features(tiny_vgg(inplace), x)
    assert c11[:, 0].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(feats["conv1_1"][0].numpy().reshape(2, -1), c11, rtol=1e-6)
    np.testing.assert_allclose(feats["conv2_1"][0].numpy().reshape(2, -1), c21, rtol=1e-6)


# -- the styled sample's mask ----------------------------------------------------------------
def test_mask_from_defaults_to_the_styled_channel_in_every_preset():
    assert StyleConfig().mask_from == "styled"
    for name in ("paper", "tiny"):
        assert StyleConfig.from_dict(load_preset(name)["style"]).mask_from == "styled"
    with pytest.raises(DiffGenError, match="mask_from must be one of styled, parent"):
        StyleConfig(mask_from="child")


@pytest.fixture
def fake_style_ws(demo_ws, tmp_path, monkeypatch):
    """One inpainted sample; style_tensor returns the content with a known square as its
    4th channel (so the test knows what the guided mask is)."""
    monkeypatch.setattr(networks, "DEFAULT_DINO", SMALL_DINO)
    monkeypatch.setenv("DIFFGEN_VGG_WEIGHTS", str(write_vgg(tmp_path / "vgg19.pth")))
    monkeypatch.setenv("DIFFGEN_DINO_WEIGHTS", str(write_dino(tmp_path / "dino.safetensors")))
    parent = add_inpainted(demo_ws, register_tiny_model(demo_ws), demo_ws.image_ids()[0])

    def fake(model, diffusion, content, target, cfg, nets, generator, step_done=None, cancel=None):
        x = content.clone()
        x[:, 3] = -1.0
        x[:, 3, 4:24, 6:26] = 1.0  # a 20 x 20 square: kept by the clean-up
        return x, {}

    monkeypatch.setattr(style_job, "style_tensor", fake)
    return demo_ws, parent


@pytest.mark.parametrize("mask_from", ["styled", "parent", None])
def test_styled_sample_mask_comes_from_the_chosen_source(fake_style_ws, mask_from):
    ws, parent = fake_style_ws
    square = np.zeros((32, 32), np.uint8)
    square[4:24, 6:26] = 255
    args = ["style", "-w", str(ws.root), "--samples", str(parent.id)]
    if mask_from:
        args += ["--set", f"style.mask_from={mask_from}"]
    assert cli_main(args) == 0
    styled = ws.samples(kind="styled")[0]
    _, mask = ws.read_sample(styled)
    expected = ws.read_sample(parent)[1] if mask_from == "parent" else square
    assert not np.array_equal(ws.read_sample(parent)[1], square)
    np.testing.assert_array_equal(mask, expected)
    assert styled.params["style"]["mask_from"] == (mask_from or "styled")
