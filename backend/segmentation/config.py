"""The segmentation stage's configuration: the ``[segment]`` section of a preset.

One dataclass holds both the network/training hyperparameters and the experiment design
(split sizes, alpha, N and r grids) so a run's full resolved config can be saved with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from backend.config.fields import setting
from backend.config.presets import apply_overrides, from_section, load_preset
from backend.errors import DiffGenError

EXPERIMENTS = ("real", "synthetic", "augment", "small-n", "mix")
AUGMENTS = ("control", "ref20")  # augment.py (Albumentations' defaults) | augment_ref20.py (ref [20]'s code)
INPUT_SCALES = ("imagenet", "raw")  # model.to_input
DICE_REDUCTIONS = ("image", "batch")  # metrics.soft_dice_loss | metrics.batch_dice_loss
N_COUNTS = ("train+val", "train")  # what Table 6's N counts (plan.Planner.small_n)


@dataclass(frozen=True)
class SegConfig:
    # Network (UNet++ from segmentation-models-pytorch).
    encoder: str = "resnet18"
    encoder_depth: int = setting(5, 1, 5)
    decoder_channels: tuple[int, ...] = setting((256, 128, 64, 32, 16), 1, 2048, max_len=5)
    pretrained: bool = False  # ImageNet encoder weights from a local file
    image_size: int = setting(256, 32, 2048, unit="px")
    # Training (paper: 150 epochs, 1e-4 for the first third then 1e-5; Adam; Dice loss).
    epochs: int = setting(150, 1, 100_000)
    min_steps: int = setting(0, 0, 100_000_000)  # tiny data: train at least this many steps (0 = off)
    lr_drop_fraction: float = setting(1 / 3, 0.0, 1.0)
    lr: float = setting(1e-4, 1e-8, 1.0)
    lr_after: float = setting(1e-5, 1e-8, 1.0)
    batch_size: int = setting(8, 1, 4096)
    workers: int = setting(0, 0, 256)
    # The "Control" augmentation: "control" = the paper's three named steps at Albumentations'
    # default ranges; "ref20" = ref [20]'s get_training_augmentation (augment_ref20.py).
    augment: str = setting("control")
    # Network input: "imagenet" = /255 then ImageNet mean/std; "raw" = 0..255 floats, as ref [20]
    # trains (unet_plusplus.py run_train: prepare_data(opt, preprocessing_fn=None)).
    input_scale: str = setting("imagenet")
    # Dice training loss: "image" = per-image soft Dice averaged; "batch" = one soft Dice over
    # the whole batch, as ref [20]'s smp.utils.losses.DiceLoss (f_score sums over every element).
    dice_reduction: str = setting("image")
    # Splits: a fixed held-out real test set, then 80/20 train/validation.
    test_size: int = setting(200, 1, 1_000_000)  # at most this many test images ...
    test_fraction: float = setting(0.2, 0.0, 1.0)  # ... and at most this fraction of the images
    val_fraction: float = setting(0.2, 0.0, 1.0)
    split_seed: int = setting(0, 0, 2**32 - 1)
    seeds: tuple[int, ...] = setting((0,), 0, 2**32 - 1, max_len=100)
    # Experiment grids (Tables 3-6).
    synthetic_multiples: tuple[int, ...] = setting((1, 2, 3), 0, 100, max_len=100)
    alpha: float = setting(0.5, 0.0, 1.0)
    small_n: tuple[int, ...] = setting((16, 32, 64, 128), 1, 1_000_000, max_len=100)
    small_n_r: tuple[int, ...] = setting((1, 2, 3), 1, 1000, max_len=100)
    small_n_sets: tuple[str, ...] = ()  # empty: every synthetic set in the workspace
    # What N counts: "train+val" = N images split 80/20 as every other experiment (N=16 trains
    # on 13; Section 3.5 says only "real training sets of size N"); "train" = N training images
    # plus val_fraction's share of validation images (N=16: 16 + 4). diffgen segment --n-counts.
    small_n_counts: str = setting("train+val")
    # Issue 34 item 6 (experiment "mix"): the real training images alone, plus mix_r samples per
    # training image of each set of mix_sets, and plus as many drawn equally from all of them.
    mix_sets: tuple[str, ...] = ("Diff", "Mask-Diff")
    mix_r: int = setting(2, 1, 1000)
    preset: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        # TOML gives lists; freeze them so the config hashes and compares by value.
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if not 0 < self.alpha < 1:
            raise DiffGenError(f"segment.alpha must lie in (0, 1), got {self.alpha}")
        if not 0 < self.val_fraction < 1 or not 0 < self.test_fraction < 1:
            raise DiffGenError("segment.val_fraction and segment.test_fraction must lie in (0, 1)")
        if len(self.decoder_channels) != self.encoder_depth:
            raise DiffGenError(
                f"segment.decoder_channels needs {self.encoder_depth} entries "
                f"(one per encoder stage), got {list(self.decoder_channels)}"
            )
        for name, choices in (
            ("augment", AUGMENTS),
            ("input_scale", INPUT_SCALES),
            ("dice_reduction", DICE_REDUCTIONS),
            ("small_n_counts", N_COUNTS),
        ):
            if getattr(self, name) not in choices:
                raise DiffGenError(f"segment.{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.image_size < 32:
            raise DiffGenError("segment.epochs and batch_size must be >= 1, image_size >= 32")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def training_fingerprint(self) -> str:
        """Hash of every field that changes what one run computes (not the grids or seeds)."""
        keys = (
            "encoder",
            "encoder_depth",
            "decoder_channels",
            "pretrained",
            "image_size",
            "epochs",
            "min_steps",
            "lr_drop_fraction",
            "lr",
            "lr_after",
            "batch_size",
            "augment",
            "input_scale",
            "dice_reduction",
        )
        d = self.to_dict()
        return hashlib.sha256(json.dumps({k: d[k] for k in keys}, sort_keys=True).encode()).hexdigest()


def load_config(preset: str = "tiny", overrides: list[str] | None = None, seeds: list[int] | None = None) -> SegConfig:
    """The ``[segment]`` section of ``preset`` with ``segment.field=value`` overrides applied."""
    data = apply_overrides(load_preset(preset), overrides)
    section = dict(data.get("segment", {}))
    if seeds:
        section["seeds"] = list(seeds)
    cfg = from_section(SegConfig, section, "segment")
    return dataclasses.replace(cfg, preset=str(data.get("name", preset)))
