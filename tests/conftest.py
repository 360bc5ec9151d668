"""Shared fixtures. Tests never download, never touch the user's folders, run Qt offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
from qt_trap import pytest_configure, pytest_runtest_makereport  # noqa: E402,F401 - hooks

from backend.data.demo import write_demo_dataset  # noqa: E402
from backend.data.importer import import_dataset  # noqa: E402
from backend.workspace import Workspace  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Settings and the demo workspace go to a temp folder, never the user's home."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("DIFFGEN_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("DIFFGEN_CONFIG_DIR", str(home / "config"))
    for var in (
        "DIFFGEN_INCEPTION_WEIGHTS",
        "DIFFGEN_FID_INCEPTION",
        "DIFFGEN_VGG_WEIGHTS",
        "DIFFGEN_DINO_WEIGHTS",
        "DIFFGEN_SEG_ENCODER_WEIGHTS",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _threads_as_torch_sets_them(monkeypatch):
    """A test that runs the CLI in-process turns adaptive threads on (``configure_process``); it
    must not change the thread count, hence the float sums, of the tests after it."""
    from backend.config import threads

    monkeypatch.setattr(threads, "_policy", None)
    yield
    threads.reset()


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory):
    """A small procedural dataset in the Kvasir layout (12 pairs, 64 px). Read-only by convention."""
    return write_demo_dataset(tmp_path_factory.mktemp("demo") / "data", count=12, size=64, seed=0)


@pytest.fixture
def demo_ws(tmp_path, demo_dataset) -> Workspace:
    """A fresh workspace with the small demo dataset imported."""
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, demo_dataset)
    return ws


@pytest.fixture(scope="module")
def tiny_unet():
    """One level, no attention: the smallest guided-diffusion-shaped UNet (fast on a busy CPU),
    random weights (seed 0), one per test module (a sampler may convert its memory layout)."""
    import torch

    from backend.diffusion.config import ModelConfig
    from backend.diffusion.model import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    return build_model(cfg).eval()
