"""Each style loss term and network against an independent computation: hand-computed values,
numpy cross-entropy, torchvision's and timm's own forward paths, numpy statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance
from style_support import SMALL_DINO, tiny_model_folder, write_dino, write_vgg

from backend.config.settings import resolve_weights
from backend.diffusion.checkpoint import load_model
from backend.errors import BadInputError, MissingWeightsError
from backend.style import losses
from backend.style.colour import histogram_match, mkl_transfer
from backend.style.networks import UNetEncoder, load_dino, load_vgg, vgg_features


def grad_of(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(fn(x), x)[0]


def test_range_loss_matches_hand_computation():
    x = torch.tensor([[[[-2.0, 0.0], [1.5, 1.0]]]])  # outside by 1 and 0.5
    assert losses.range_loss(x).item() == pytest.approx((1.0 + 0.25) / 4)
    g = grad_of(losses.range_loss, x)
    assert g[0, 0, 0, 0] < 0 and g[0, 0, 1, 0] > 0 and g[0, 0, 0, 1] == 0
    assert losses.range_loss(torch.rand(2, 4, 8, 8) * 2 - 1).item() == 0.0


def reference_patch_nce(q: np.ndarray, k: np.ndarray, tau: float) -> float:
    """PatchNCE written out per patch in float64 numpy."""
    total = 0.0
    for i in range(len(q)):
        logits = [q[i] @ k[i]] + [(-10.0 if j == i else q[i] @ k[j]) for j in range(len(k))]
        logits = np.array(logits) / tau
        total += -(logits[0] - np.log(np.exp(logits - logits.max()).sum()) - logits.max())
    return total / len(q)


def test_patch_nce_equals_reference_and_prefers_matching_patches():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(20, 16), dim=1)
    k = torch.nn.functional.normalize(torch.randn(20, 16), dim=1)
    ours = losses.patch_nce(q, k, 0.07).item()
    assert ours == pytest.approx(reference_patch_nce(q.double().numpy(), k.double().numpy(), 0.07), rel=1e-5)
    assert losses.patch_nce(q, q).item() < 0.05 < ours  # identical features: near zero
    assert torch.isfinite(grad_of(lambda z: losses.patch_nce(torch.nn.functional.normalize(z, dim=1), k), q)).all()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    model, _, _ = load_model(tiny_model_folder(tmp_path_factory.mktemp("m") / "tiny"))
    return model.requires_grad_(False)


def test_unet_encoder_reads_zecon_depths(tiny_model):
    """conv_in and the end of each level, as the diffusers blocks compute them directly."""
    unet = tiny_model.unet
    x, t = torch.randn(1, 4, 32, 32), torch.zeros(1)
    feats = UNetEncoder(tiny_model)(x, t)
    with torch.no_grad():
        emb = unet.time_embedding(unet.time_proj(t))
        h = unet.conv_in(x)
        expected = [h]
        for block in unet.down_blocks:
            h, res = block(hidden_states=h, temb=emb)
            expected.append(res[tiny_model.cfg.num_res_blocks - 1])
    assert [f.shape[-1] for f in feats] == [32, 32, 16, 8]
    for f, e in zip(feats, expected):
        torch.testing.assert_close(f, e)


def test_zecon_loss_is_lowest_for_identical_images(tiny_model):
    enc = UNetEncoder(tiny_model)
    x, t = torch.rand(1, 4, 32, 32) * 2 - 1, torch.zeros(1)
    other = torch.rand(1, 4, 32, 32) * 2 - 1
    same = losses.zecon_loss(enc(x, t), enc(x, t), 64, generator=torch.Generator().manual_seed(0))
    diff = losses.zecon_loss(enc(x, t), enc(other, t), 64, generator=torch.Generator().manual_seed(0))
    assert same.item() < diff.item()
    g = grad_of(lambda z: losses.zecon_loss(enc(z, t), enc(other, t), 64), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_vgg_loader_and_loss(tmp_path):
    import torchvision

    path = write_vgg(tmp_path / "vgg19.pth")
    vgg = load_vgg(path)
    reference = torchvision.models.vgg19(weights=None).features
    reference.load_state_dict(
        {k[len("features.") :]: v for k, v in torch.load(path).items() if k.startswith("features.")}, strict=False
    )
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        feats = vgg_features(vgg, x)
        # ZeCon's get_features: each named conv output, as the following in-place ReLU leaves it
        stored, h = {}, x
        for name, layer in reference._modules.items():
            h = layer(h)
            if name in ("0", "5"):
                stored[name] = h
        torch.testing.assert_close(feats["conv1_1"], stored["0"])
        torch.testing.assert_close(feats["conv2_1"], stored["5"])
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    assert losses.vgg_loss(vgg, y, y).item() == 0.0
    g = grad_of(lambda z: losses.vgg_loss(vgg, z, y), torch.rand(1, 3, 32, 32))
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("layout", ["timm", "dino"])
def test_dino_cls_is_the_last_block_token(tmp_path, layout):
    """Both file layouts load; the [CLS] is timm's final-norm input (norm(ours) == timm's)."""
    path = write_dino(tmp_path / ("dino.safetensors" if layout == "timm" else "dino.pth"), layout=layout)
    dino = load_dino(path, spec=SMALL_DINO)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        cls = dino(images)
        normed = (images + 1) / 2
        normed = (normed - dino.mean) / dino.std
        torch.testing.assert_close(dino.vit.norm(cls), dino.vit.forward_features(normed)[:, 0])
    assert losses.cls_loss(cls, cls).item() == 0.0
    assert losses.sem_loss(cls, cls).item() == 0.0
    other = dino(torch.rand(2, 3, 32, 32) * 2 - 1).detach()
    assert losses.sem_loss(cls, other).item() == pytest.approx(-losses.cls_loss(cls, other).item())
    g = grad_of(lambda z: losses.cls_loss(dino(z), other), images)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_missing_and_wrong_weight_files(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match="vgg19"):
        resolve_weights("vgg19", None)
    monkeypatch.setenv("DIFFGEN_DINO_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        resolve_weights("dino", None)
    vgg_file = write_vgg(tmp_path / "vgg19.pth")
    with pytest.raises(BadInputError, match="vgg19.pth"):
        load_dino(vgg_file, spec=SMALL_DINO)


def test_mkl_transfer_gives_target_mean_and_covariance():
    rng = np.random.default_rng(0)
    src = rng.normal([90, 120, 60], [20, 10, 15], (40, 40, 3)).clip(0, 255).astype(np.uint8)
    mix = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    tgt = (rng.normal(0, 12, (40 * 40, 3)) @ mix.T + [150, 80, 110]).clip(0, 255).astype(np.uint8).reshape(40, 40, 3)
    out = mkl_transfer(src, tgt).reshape(-1, 3).astype(float)
    t = tgt.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(out.mean(0), t.mean(0), atol=0.6)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.cov(t, rowvar=False), atol=2.0)


def test_histogram_match_moves_each_channel_distribution():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 120, (30, 30, 3)).astype(np.uint8)
    tgt = rng.normal(180, 25, (30, 30, 3)).clip(0, 255).astype(np.uint8)
    out = histogram_match(src, tgt)
    for c in range(3):
        before = wasserstein_distance(src[..., c].ravel(), tgt[..., c].ravel())
        after = wasserstein_distance(out[..., c].ravel(), tgt[..., c].ravel())
        assert after < 0.05 * before
    # order-preserving: a brighter source pixel never becomes darker than a dimmer one
    s, o = src[..., 0].ravel(), out[..., 0].ravel()
    order = np.argsort(s, kind="stable")
    assert (np.diff(o[order].astype(int)) >= 0).all()
