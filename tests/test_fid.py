"""FID: clean-fid's distance and statistics, checked against scipy and clean-fid itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.linalg
import torch
from _metrics_helpers import small_extractor
from safetensors.torch import load_file

from backend.data.demo import write_demo_dataset
from backend.data.sets import folder_images, resolve_set
from backend.demo.standins import weights_or_standin
from backend.errors import BadWeightsError, MissingWeightsError
from backend.io.files import write_png
from backend.io.images import load_rgb
from backend.metrics.fid import (
    FID_WEIGHTS_FILE,
    FidExtractor,
    compute_fid,
    frechet_distance,
    load_fid_inception,
    set_features,
    set_statistics,
    statistics,
)


def scipy_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Textbook FID, written independently: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_scipy_and_cleanfid():
    from cleanfid.fid import fid_from_feats
    from cleanfid.fid import frechet_distance as cf_frechet

    rng = np.random.default_rng(0)
    f1 = rng.standard_normal((200, 12))
    f2 = rng.standard_normal((150, 12)) * 1.3 + 0.4
    mine = frechet_distance(*statistics(f1), *statistics(f2))
    assert mine == pytest.approx(scipy_fid(f1, f2), rel=1e-8)
    assert mine == pytest.approx(float(cf_frechet(*statistics(f1), *statistics(f2))), rel=1e-9)
    assert mine == pytest.approx(float(fid_from_feats(f1, f2)), rel=1e-9)
    assert frechet_distance(*statistics(f1), *statistics(f1)) == pytest.approx(0, abs=1e-8)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """24 demo images and copies degraded by increasing noise and blur."""
    root = tmp_path_factory.mktemp("fidsets")
    base = write_demo_dataset(root / "base", count=24, size=64, seed=3) / "images"
    images = [load_rgb(p)[0] for p in folder_images(base)]
    rng = np.random.default_rng(0)
    out = {"base": root / "base"}
    for sigma in (8, 24, 64):
        d = root / f"noise{sigma}"
        for i, im in enumerate(images):
            noisy = np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).astype(np.uint8)
            write_png(d / f"{i:03d}.png", noisy)
        out[f"noise{sigma}"] = d
    for sigma in (1, 2, 4):
        d = root / f"blur{sigma}"
        for i, im in enumerate(images):
            write_png(d / f"{i:03d}.png", cv2.GaussianBlur(im, (0, 0), sigma))
        out[f"blur{sigma}"] = d
    return out


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise_and_blur(variants):
    ex = small_extractor(8)
    base = resolve_set(str(variants["base"]))
    self_fid = compute_fid(base, base, ex).fid
    for kind, levels in (("noise", (8, 24, 64)), ("blur", (1, 2, 4))):
        fids = [compute_fid(base, resolve_set(str(variants[f"{kind}{lv}"])), ex).fid for lv in levels]
        assert abs(self_fid) < 1e-6 * fids[0] and fids[0] > 0.1 and all(a < b for a, b in zip(fids, fids[1:])), (kind, fids)


def test_set_features_use_cleanfid_resizing_and_report_few_images(variants):
    """Our chunked extraction equals clean-fid's own folder pipeline on the same files."""
    from cleanfid.fid import get_folder_features

    ex = small_extractor(8)
    s = resolve_set(str(variants["noise8"]))
    feats, problems = set_features(s, ex)
    ref = get_folder_features(
        str(variants["noise8"]), ex.model, num_workers=0, batch_size=7, device=torch.device("cpu"), mode="clean", verbose=False
    )
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-6)
    assert problems == []
    res = compute_fid(s, s, ex)
    assert any("only 24 images" in w for w in res.warnings)


def test_unreadable_file_is_named_and_left_out(tmp_path, variants):
    d = tmp_path / "mixed"
    d.mkdir()
    for p in sorted(variants["blur1"].iterdir())[:5]:
        (d / p.name).write_bytes(p.read_bytes())
    (d / "broken.png").write_bytes(b"not a png at all")
    feats, problems = set_features(resolve_set(str(d)), small_extractor(8))
    assert feats.shape == (5, 8)
    assert len(problems) == 1 and "broken.png" in problems[0]


class _Counting:
    """Wraps an extractor model and counts the images it sees."""

    def __init__(self, model):
        self.model, self.images = model, 0

    def __call__(self, x):
        self.images += x.shape[0]
        return self.model(x)


def test_workspace_caches_features_and_real_statistics(demo_ws):
    base = small_extractor(8)
    counting = _Counting(base.model)
    ex = FidExtractor(counting, base.extractor_id, base.device)
    real = resolve_set("real", demo_ws)
    first = set_statistics(real, ex, demo_ws, cache=True)
    assert counting.images == len(real) == 12
    again = set_statistics(real, ex, demo_ws, cache=True)  # from the npz
    np.testing.assert_array_equal(first.sigma, again.sigma)
    sub = real.subset(range(6))
    set_statistics(sub, ex, demo_ws)  # per-image features are cached too
    assert counting.images == 12
    assert demo_ws.query("SELECT COUNT(*) FROM results WHERE kind = 'fid_stats'")[0][0] == 1
    assert demo_ws.query("SELECT COUNT(*) FROM features WHERE extractor = ?", (ex.extractor_id,))[0][0] == 12


def test_fid_inception_state_dict_loads_into_cleanfids_fid_network(tmp_path, variants, monkeypatch):
    """pytorch-fid's layout, loaded by folder, by renamed file and as safetensors, gives
    clean-fid's own FID Inception (``inception_pytorch.InceptionV3``, assembled by clean-fid's
    code from the same state dict) on clean-fid's resized input scaled as its clean mode does."""
    from cleanfid import inception_pytorch
    from cleanfid.fid import get_folder_features

    standin, is_random = weights_or_standin("fid_inception", tmp_path / "standin")  # the demo's file
    assert is_random
    state = load_file(standin)
    pth = tmp_path / "fid" / FID_WEIGHTS_FILE
    pth.parent.mkdir()
    torch.save(state, pth)
    renamed = tmp_path / "my-inception.pth"
    renamed.write_bytes(pth.read_bytes())
    by_folder = load_fid_inception(str(pth.parent), device="cpu")
    by_file = load_fid_inception(str(renamed), device="cpu")
    as_safetensors = load_fid_inception(str(standin), device="cpu")
    assert by_folder.extractor_id == by_file.extractor_id != as_safetensors.extractor_id  # cache key = bytes

    few = tmp_path / "few"
    few.mkdir()
    for p in sorted(variants["blur2"].iterdir())[:3]:
        (few / p.name).write_bytes(p.read_bytes())
    feats, _ = set_features(resolve_set(str(few)), by_file)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    np.testing.assert_allclose(set_features(resolve_set(str(few)), as_safetensors)[0], feats, rtol=1e-5, atol=1e-5)

    monkeypatch.setattr(
        inception_pytorch,
        "load_state_dict_from_url",
        lambda *a, **k: {**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)},
    )
    reference = inception_pytorch.InceptionV3(output_blocks=[3], resize_input=False, normalize_input=False).eval()
    resized = get_folder_features(
        str(few),
        lambda x: x.reshape(len(x), -1),
        num_workers=0,
        batch_size=3,
        device=torch.device("cpu"),
        mode="clean",
        verbose=False,
    )
    with torch.no_grad():
        ref = reference(torch.from_numpy(resized).reshape(-1, 3, 299, 299).float().sub(128).div(128))[0]
    np.testing.assert_allclose(feats, ref.reshape(3, 2048).numpy(), rtol=1e-4, atol=1e-4)


def test_fid_inception_file_of_another_network_is_named(tmp_path):
    other = tmp_path / "inception_v3_google.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, other)
    with pytest.raises(
        BadWeightsError,
        match=r"inception_v3_google\.pth is not a FID Inception "
        r"\(pt_inception-2015-12-05-6726825d\.pth\) weight file: missing",
    ):
        load_fid_inception(str(other), device="cpu")


def test_missing_fid_weights_give_the_clear_error(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match=r"pt_inception-2015-12-05-6726825d\.pth.*TorchScript"):
        load_fid_inception(None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingWeightsError, match=FID_WEIGHTS_FILE):
        load_fid_inception(str(empty))
    monkeypatch.setenv("DIFFGEN_FID_INCEPTION", str(tmp_path / "nowhere.pt"))
    with pytest.raises(MissingWeightsError, match="nowhere.pt"):
        load_fid_inception(None)


def test_symmetric_form_equals_scipy_and_survives_singular_covariances():
    from scipy import linalg

    from backend.metrics.fid import frechet_distance, frechet_distance_symmetric

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(300, 12)), rng.normal(1.0, 2.0, size=(300, 12))
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
    assert frechet_distance_symmetric(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)
    # 8 samples in 64 dimensions: rank-deficient covariances; the distance is still finite and >= 0
    c, d = rng.normal(size=(8, 64)) * 50, rng.normal(size=(8, 64)) * 50
    val = frechet_distance(c.mean(0), np.cov(c, rowvar=False), d.mean(0), np.cov(d, rowvar=False))
    assert np.isfinite(val) and val >= 0


def test_frechet_distance_equals_cleanfid_at_inception_dimensions():
    """At 2048-d with more images than dimensions, as Real sets are: clean-fid's sqrtm form and ours agree."""
    from cleanfid.fid import frechet_distance as cf_frechet

    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2300, 2048)), rng.standard_normal((2300, 2048)) * 1.1 + 0.05
    stats = [*statistics(a), *statistics(b)]
    assert frechet_distance(*stats) == pytest.approx(float(cf_frechet(*stats)), rel=1e-6)


def test_low_rank_form_equals_the_symmetric_form_for_small_sets():
    """A set of n < 2048 images: the n x n eigenproblem gives the symmetric form's distance."""
    from backend.metrics.fid import frechet_distance_symmetric, low_rank_factor

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((40, 2048)), rng.standard_normal((30, 2048)) * 1.2 + 0.1
    (mu1, s1), (mu2, s2) = statistics(a), statistics(b)
    fa, fb = low_rank_factor(a), low_rank_factor(b)
    np.testing.assert_allclose(fb.T @ fb, s2, atol=1e-12)
    ref = frechet_distance_symmetric(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2, factor2=fb) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2, factor1=fa) == pytest.approx(ref, rel=1e-6)
    assert low_rank_factor(rng.standard_normal((3000, 2048))) is None  # more images than dimensions
