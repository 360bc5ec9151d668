"""MS-SSIM diversity: equal to pytorch-msssim called directly; small images handled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim

from backend.cli import main
from backend.data.sets import resolve_set
from backend.io.files import write_png
from backend.metrics.msssim import MsssimConfig, mean_msssim, plan_for, random_pairs


def _noise_set(folder, n, size, seed=0):
    """Smooth random images (MS-SSIM of white noise pairs is ~0, too easy to match)."""
    rng = np.random.default_rng(seed)
    ims = []
    for i in range(n):
        small = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.float32)
        im = np.kron(small, np.ones((8, 8, 1))).astype(np.uint8)
        write_png(folder / f"{i:02d}.png", im)
        ims.append(im)
    return ims


@pytest.mark.parametrize("size,win", [(192, 11), (64, 3)])
def test_mean_matches_pytorch_msssim_directly(tmp_path, size, win):
    ims = _noise_set(tmp_path, 7, size)
    cfg = MsssimConfig(pairs=12, seed=4, size=size, device="cpu")
    res = mean_msssim(resolve_set(str(tmp_path)), cfg)
    pairs = random_pairs(7, 12, 4)
    t = [torch.from_numpy(im).permute(2, 0, 1)[None].float() for im in ims]
    ref = [float(ms_ssim(t[i], t[j], data_range=255, win_size=win)) for i, j in pairs]
    assert res.mean == pytest.approx(np.mean(ref), rel=1e-5)
    assert res.pairs == 12 and res.images == 7
    assert f"window {'reduced to ' if win != 11 else ''}{win}" in res.method


def test_identical_images_score_one(tmp_path):
    im = _noise_set(tmp_path / "src", 1, 64)[0]
    for i in range(4):
        write_png(tmp_path / "same" / f"{i}.png", im)
    res = mean_msssim(resolve_set(str(tmp_path / "same")), MsssimConfig(pairs=6, size=200))
    assert res.mean == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("size", [20, 33, 64, 100, 160, 161, 256])
def test_plan_fits_the_five_scale_minimum(size):
    plan = plan_for(size)
    assert plan.side > (plan.win_size - 1) * 16 and plan.win_size % 2 == 1
    if size > 160:
        assert (plan.side, plan.win_size) == (size, 11)
    elif plan.side == size:  # reduced window: the largest odd one that fits
        assert (plan.win_size + 1) * 16 >= size and "reduced" in plan.note
    else:
        assert plan.side == 161 and "upsampled" in plan.note


def test_tiny_images_do_not_crash(tmp_path):
    _noise_set(tmp_path, 4, 16)
    res = mean_msssim(resolve_set(str(tmp_path)), MsssimConfig(pairs=6, size=16))
    assert 0 <= res.mean <= 1 and "upsampled" in res.method


def test_random_pairs_are_distinct_and_seeded():
    p = random_pairs(30, 100, 1)
    assert len({tuple(x) for x in p}) == 100 and (p[:, 0] < p[:, 1]).all()
    np.testing.assert_array_equal(p, random_pairs(30, 100, 1))
    assert len(random_pairs(5, 100, 0)) == 10  # all pairs when fewer exist


def test_cli_msssim_folder_and_workspace_set(tmp_path, demo_ws, capsys):
    _noise_set(tmp_path / "set", 5, 64)
    assert main(["msssim", str(tmp_path / "set"), "--pairs", "5", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "over 5 pairs of 5 images" in out and "window reduced to 3" in out
    assert main(["msssim", "-w", str(demo_ws.root), "--set", "real", "--pairs", "4", "--size", "64"]) == 0
    assert "over 4 pairs of 12 images" in capsys.readouterr().out
    assert demo_ws.query("SELECT COUNT(*) FROM results WHERE kind = 'msssim'")[0][0] == 1
