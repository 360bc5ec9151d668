"""Segmentation building blocks against independent references: metrics (scikit-learn, hand
computation), Control augmentations, the alpha sampler, splits, schedule and weight files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score

from backend.config.settings import resolve_weights
from backend.errors import BadInputError, MissingWeightsError
from backend.segmentation.augment import ControlParams, control_augment
from backend.segmentation.config import SegConfig, load_config
from backend.segmentation.data import AlphaSampler, ItemRef, batches_per_epoch, split_train_val
from backend.segmentation.metrics import MetricAccumulator, hard_scores, soft_dice_loss
from backend.segmentation.model import build_model, load_checkpoint, save_checkpoint
from backend.segmentation.train import lr_at

SMALL = SegConfig(encoder="resnet18", encoder_depth=3, decoder_channels=(16, 8, 4), image_size=32)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float32))[None, None]


def test_iou_and_dice_match_scikit_learn_including_empty_masks():
    rng = np.random.default_rng(0)
    cases = [(rng.random((16, 16)), rng.random((16, 16)) > 0.6) for _ in range(6)]
    cases += [
        (np.zeros((16, 16)), np.zeros((16, 16), bool)),  # empty / empty -> 1
        (np.full((16, 16), 0.7), np.zeros((16, 16), bool)),  # empty target, all predicted -> 0
        (np.zeros((16, 16)), np.eye(16, dtype=bool)),
    ]  # nothing predicted -> 0
    prob = torch.stack([_t(p)[0] for p, _ in cases])
    target = torch.stack([_t(t)[0] for _, t in cases])
    iou, dice = hard_scores(prob, target)
    for k, (p, t) in enumerate(cases):
        pred = (p >= 0.5).ravel()
        assert iou[k].item() == pytest.approx(jaccard_score(t.ravel(), pred, zero_division=1.0))
        assert dice[k].item() == pytest.approx(f1_score(t.ravel(), pred, zero_division=1.0))
    assert iou[6].item() == 1.0 and dice[6].item() == 1.0
    assert iou[7].item() == 0.0 and iou[8].item() == 0.0


def test_hand_computed_scores():
    # pred = [1, 1, 0, 0] (0.5 counts as foreground), target = [1, 0, 1, 0]: TP 1, FP 1, FN 1.
    p = _t([[0.5, 0.9], [0.2, 0.0]])
    t = _t([[1, 0], [1, 0]])
    iou, dice = hard_scores(p, t)
    assert iou.item() == pytest.approx(1 / 3) and dice.item() == pytest.approx(2 / 4)
    # soft Dice loss: sum(p*t) = 0.5 + 0.2, sum(p) = 1.6, sum(t) = 2 -> 1 - (1.4 + 1) / (3.6 + 1)
    assert soft_dice_loss(p, t).item() == pytest.approx(1 - 2.4 / 4.6)
    # empty target and an all-zero prediction: perfect, loss 0; some probability mass: penalised
    assert soft_dice_loss(_t(np.zeros((2, 2))), _t(np.zeros((2, 2)))).item() == 0.0
    assert soft_dice_loss(_t([[1, 0], [0, 0]]), _t(np.zeros((2, 2)))).item() == pytest.approx(0.5)


def test_accumulator_averages_per_image():
    acc = MetricAccumulator.empty()
    acc.add(_t([[1, 1], [0, 0]]), _t([[1, 0], [0, 0]]))  # IoU 1/2
    acc.add(_t(np.zeros((2, 2))), _t(np.zeros((2, 2))))  # empty/empty: IoU 1
    s = acc.summary()
    assert s["images"] == 2 and s["iou"] == pytest.approx(0.75) and s["dice"] == pytest.approx((2 / 3 + 1) / 2)


def _blob_pair(size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (((xx - 30) ** 2 + (yy - 20) ** 2) < 100).astype(np.uint8) * 255
    return np.repeat(mask[..., None], 3, axis=2), mask


def test_geometric_augmentations_move_image_and_mask_together():
    image, mask = _blob_pair()
    geo_only = ControlParams(p_shift_scale_rotate=1.0, p_hflip=0.5, p_photometric=0.0)
    for seed in range(10):
        img2, mask2 = control_augment(image, mask, np.random.default_rng(seed), geo_only)
        assert set(np.unique(mask2)) <= {0, 255}
        agree = ((img2[..., 0] > 127) == (mask2 > 127)).mean()
        assert agree > 0.98  # only edge pixels differ (linear vs nearest interpolation)


def test_flip_is_exact_and_photometric_steps_leave_the_mask_alone():
    image, mask = _blob_pair()
    img2, mask2 = control_augment(
        image, mask, np.random.default_rng(0), ControlParams(p_shift_scale_rotate=0.0, p_hflip=1.0, p_photometric=0.0)
    )
    assert np.array_equal(mask2, mask[:, ::-1]) and np.array_equal(img2, image[:, ::-1])
    rgb = np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    photo = ControlParams(p_shift_scale_rotate=0.0, p_hflip=0.0, p_photometric=1.0)
    changed = 0
    for seed in range(9):
        img3, mask3 = control_augment(rgb, mask, np.random.default_rng(seed), photo)
        assert np.array_equal(mask3, mask)
        changed += not np.array_equal(img3, rgb)
    assert changed >= 8


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_alpha_sampler_synthetic_fraction_converges_to_alpha(alpha):
    real = list(range(40))
    synth = {i: [1000 + 3 * i + k for k in range(3)] for i in real}
    sampler = AlphaSampler(real, synth, alpha)
    rng = np.random.default_rng(0)
    n_synth = n_total = 0
    for _ in range(300):
        epoch = sampler.epoch(rng)
        assert len(epoch) == len(real)
        for ref in epoch:
            n_total += 1
            n_synth += ref.kind == "sample"
        # each position is its real image or one of that image's own samples
        sources = sorted(r.id if r.kind == "image" else (r.id - 1000) // 3 for r in epoch)
        assert sources == real
    assert abs(n_synth / n_total - alpha) < 0.01  # 12000 draws: 4+ standard errors


def test_alpha_sampler_keeps_images_without_samples_real():
    sampler = AlphaSampler([1, 2], {1: [10]}, 0.9)
    rng = np.random.default_rng(0)
    refs = [r for _ in range(50) for r in sampler.epoch(rng)]
    assert ItemRef("image", 2) in refs and all(r != ItemRef("sample", 20) for r in refs)
    assert sum(r == ItemRef("sample", 10) for r in refs) > 35


def test_train_val_split_is_disjoint_and_80_20():
    train, val = split_train_val(list(range(50)), 0.2, np.random.default_rng(3))
    assert len(val) == 10 and len(train) == 40 and not set(train) & set(val)
    assert sorted(train + val) == list(range(50))
    assert split_train_val([7, 8], 0.2, np.random.default_rng(0))[1] in ([7], [8])


def test_paper_schedule_and_batches():
    cfg = load_config("paper")
    assert [lr_at(cfg, e, 150) for e in (0, 49, 50, 149)] == [1e-4, 1e-4, 1e-5, 1e-5]
    assert batches_per_epoch(17, 8) == 2 and batches_per_epoch(18, 8) == 3  # a lone last item is dropped


def test_encoder_weights_load_from_a_local_file_without_the_hub(tmp_path, monkeypatch):
    import huggingface_hub

    def no_hub(*a, **k):
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    monkeypatch.setattr("segmentation_models_pytorch.encoders.hf_hub_download", no_hub)
    source = build_model(SMALL)
    sd = dict(source.encoder.state_dict())
    sd["fc.weight"] = torch.zeros(10, 512)  # a torchvision ImageNet file carries its classifier
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(sd, path)
    with pytest.raises(MissingWeightsError):
        resolve_weights("seg_encoder", None)
    monkeypatch.setenv("DIFFGEN_SEG_ENCODER_WEIGHTS", str(path))
    model = build_model(SMALL, resolve_weights("seg_encoder", None))
    for k, v in source.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v)
    del sd["conv1.weight"]
    torch.save(sd, path)
    with pytest.raises(BadInputError, match="conv1.weight"):
        build_model(SMALL, path)


def test_checkpoint_round_trip(tmp_path):
    model = build_model(SMALL).eval()
    path = tmp_path / "best.safetensors"
    save_checkpoint(path, model, SMALL, {"run_key": "k"})
    loaded, cfg, info = load_checkpoint(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded.eval()(x))
    assert cfg == SMALL and info["run_key"] == "k"
