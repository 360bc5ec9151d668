"""The preset's ``[style]`` section, with the range of every value (light: no torch, so a bad
value is refused before the style networks load)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from backend.config.fields import setting
from backend.config.presets import from_section
from backend.errors import DiffGenError
from backend.style.terms import LAMBDAS, METHODS, RANGES

MASK_SOURCES = ("styled", "parent")
MAX_LAMBDA = 1e9  # a loss weight beyond this only turns the guidance into NaN


@dataclass(frozen=True)
class StyleConfig:
    """The [style] preset section (paper Table A.3 plus the reference code's constants).

    Defaults are the paper's; where the paper is silent they follow the command in the
    author's README (dsaragih/diffuse-gen, ``main.py ... --diff_iter 100 --use_colormatch``).
    """

    skip_timesteps: int = setting(80, 0, 100_000, unit="steps")  # Table A.1 skip_timesteps: with respacing 200, 120 steps run
    lambda_zecon: float = setting(500.0, 0.0, MAX_LAMBDA)  # Table A.3 (all lambdas)
    lambda_vgg: float = setting(100.0, 0.0, MAX_LAMBDA)
    lambda_mse: float = setting(5000.0, 0.0, MAX_LAMBDA)
    lambda_sty: float = setting(10000.0, 0.0, MAX_LAMBDA)
    lambda_l2: float = setting(10000.0, 0.0, MAX_LAMBDA)
    lambda_sem: float = setting(40000.0, 0.0, MAX_LAMBDA)
    lambda_rng: float = setting(200.0, 0.0, MAX_LAMBDA)
    # Semantic divergence while the respaced step t > this: the author's README --diff_iter 100
    # (as DiffuseIT's image-guided command), tested in image_editor.py as t > diff_iter.
    sem_min_t: int = setting(100, 0, 100_000, unit="steps")
    zecon_patches: int = setting(256, 1, 4096)
    zecon_temperature: float = setting(0.07, 1e-6, 100.0)
    # After sampling: the author's --use_colormatch (color-matcher's 'mkl' to the style target).
    color_match: str = "mkl"  # none | mkl | histogram (see colour.py)
    # How the mkl result returns to 0..255: "clip" (ours) or "stretch", the author's
    # image_editor.py 526-531: Normalizer(img).type_norm() rescales source and target to [0, 1]
    # by their own min/max (the data is float64 inside Normalizer), cm.transfer(..., 'mkl'),
    # then Normalizer(img_res).uint8_norm() maps the result's min..max onto 0..255.
    color_range: str = setting("clip")
    dino_size: int = setting(224, 16, 1024, unit="px")  # DINO input size; smaller trades style fidelity for speed on CPU
    # The styled sample's mask: "styled" = the guided 4th channel, as the author's code keeps
    # the styled x0's last channel (image_editor.py, img[..., -1:]); "parent" = the inpainted one's.
    mask_from: str = "styled"

    def __post_init__(self) -> None:
        for name, choices in (("color_match", METHODS), ("color_range", RANGES), ("mask_from", MASK_SOURCES)):
            if getattr(self, name) not in choices:
                raise DiffGenError(f"style.{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "StyleConfig":
        return from_section(cls, d, "style")

    def to_dict(self) -> dict:
        return asdict(self)

    def weight(self, term: str) -> float:
        return float(getattr(self, f"lambda_{term}"))

    @property
    def needs_vgg(self) -> bool:
        return self.lambda_vgg != 0

    @property
    def needs_dino(self) -> bool:
        return self.lambda_sty != 0 or self.lambda_sem != 0

    @property
    def guided(self) -> bool:
        return any(self.weight(t) != 0 for t in LAMBDAS)
