"""The preset's ``[cluster]`` section with a clustering job's explicit values on top, and the
range of every value (light: no torch, so a bad value is refused before Inception loads)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.clustering.params import ClusterParams
from backend.config.fields import setting
from backend.config.presets import apply_overrides, check_choice, from_section, load_preset
from backend.errors import BadInputError

FEATURES = ("balanced", "raw")
NETWORKS = ("torchvision", "fid-inception")  # backend.features: InceptionFeatures | FidClusterFeatures


@dataclass(frozen=True)
class ClusterConfig:
    k: int = setting(20, 1, 10_000)
    seed: int = setting(0, 0, 2**32 - 1)  # scikit-learn's random_state
    min_cluster_size: int = setting(5, 1, 1_000_000)
    features: str = "balanced"  # balanced: image and mask halves each L2-normalised (ours);
    # raw: plain concatenation (diffuse-gen clustering/clustering.ipynb)
    # The feature network: "torchvision" = torchvision's ImageNet Inception-v3 at 299 px (ours);
    # "fid-inception" = the author's clustering/clustering.ipynb: utils_flexit/inception.py
    # InceptionV3() (pytorch-fid's, use_fid_inception=True: the FID Inception), images resized
    # to 256 (LANCZOS) then bilinearly to 299 (resize_input), scaled to [-1, 1] (normalize_input).
    # Its weights are FID's file (diffgen settings set fid_inception PATH), never downloaded.
    network: str = setting("torchvision")
    inception_weights: str | None = None  # torchvision network: None = env var / settings file
    batch_size: int = setting(16, 1, 4096)
    device: str | None = None
    thumbs_per_row: int = setting(10, 1, 100)
    thumb_size: int = setting(96, 8, 1024, unit="px")

    def __post_init__(self) -> None:
        check_choice("cluster.features", self.features, FEATURES)
        check_choice("cluster.network", self.network, NETWORKS)

    @classmethod
    def from_params(cls, params: ClusterParams) -> "ClusterConfig":
        """The params that are set (not None) over the ``[cluster]`` section of ``preset``
        (with ``overrides``), so a queued job and the CLI resolve alike."""
        base = apply_overrides(load_preset(params.preset), list(params.overrides)).get("cluster", {}) if params.preset else {}
        unknown = set(base) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadInputError(f"unknown clustering settings in the preset: {', '.join(sorted(unknown))}")
        given = {k: v for k, v in params.to_dict().items() if k in cls.__dataclass_fields__ and v is not None}
        return from_section(cls, {**base, **given}, "cluster")
