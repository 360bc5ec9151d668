"""Inception-v3 features: real loading path with random weights, cache, clear errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torchvision
from _metrics_helpers import save_random_inception

from backend.errors import BadInputError, MissingWeightsError
from backend.features import InceptionFeatures, load_inception, mask_as_rgb, pair_features


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_random_inception(tmp_path_factory.mktemp("w") / "inception_v3_random.pth")


def test_pool_features_equal_torchvision_model(weights):
    ex = InceptionFeatures.from_settings(str(weights), device="cpu", batch_size=2)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (299, 299, 3), dtype=np.uint8) for _ in range(2)]
    feats = ex.embed(images)
    assert feats.shape == (2, 2048) and feats.dtype == np.float32
    ref = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    ref.load_state_dict(torch.load(weights, weights_only=True))
    ref.eval()
    captured = {}
    ref.avgpool.register_forward_hook(lambda m, i, o: captured.setdefault("pool", o.flatten(1)))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        ref(x)
    np.testing.assert_allclose(feats, captured["pool"].numpy(), rtol=1e-4, atol=1e-5)


def test_weights_from_env_var(weights, monkeypatch):
    monkeypatch.setenv("DIFFGEN_INCEPTION_WEIGHTS", str(weights))
    assert InceptionFeatures.from_settings(device="cpu").extractor_id.startswith("inception_v3-pool@")


def test_missing_and_bad_weights_are_clear(tmp_path):
    with pytest.raises(MissingWeightsError, match="inception_v3"):
        InceptionFeatures.from_settings(None)
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        InceptionFeatures.from_settings(str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(BadInputError, match="bad.pth"):
        load_inception(bad)


def test_pair_features_are_cached_per_image_and_mask_version(demo_ws, weights):
    # 75 px (Inception's minimum) keeps the test fast; the real path above runs at 299
    ex = dataclasses.replace(InceptionFeatures.from_settings(str(weights), device="cpu", batch_size=8), input_size=75)
    seen: list[int] = []
    ex.model.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    ids = demo_ws.image_ids()[:5]
    first = pair_features(demo_ws, ids, ex)
    assert first.shape == (5, 4096) and sum(seen) == 10  # image + mask of each
    seen.clear()
    np.testing.assert_array_equal(pair_features(demo_ws, ids, ex), first)
    assert seen == []  # all from the cache: no forward call
    # mask half = features of the mask drawn as RGB
    mask = demo_ws.read_mask(demo_ws.current_mask(ids[0]))
    np.testing.assert_allclose(first[0, 2048:], ex.embed([mask_as_rgb(mask)])[0], rtol=1e-4, atol=1e-5)
    seen.clear()
    demo_ws.add_mask_version(ids[1], np.pad(mask[2:-2, 2:-2], 2), "edit")
    again = pair_features(demo_ws, ids, ex)
    assert sum(seen) == 2  # only the edited pair went through the network
    np.testing.assert_array_equal(again[[0, 2, 3, 4]], first[[0, 2, 3, 4]])
