"""The settings of an inpainting run: the preset's ``[inpaint]`` section with a job's explicit
parameters on top, and the dilated region they define."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from backend import gates
from backend.config.fields import setting
from backend.config.presets import apply_overrides, check_choice, from_section, load_preset
from backend.diffusion.samplers import SAMPLERS, SETTINGS, make_sampler
from backend.generate.config import WEIGHT_FILES
from backend.masks import ops as masks

if TYPE_CHECKING:  # torch: this module is read to check a preset or a CLI value, before any work
    from backend.diffusion.samplers.base import Sampler
    from backend.diffusion.samplers.schedule import RepaintSchedule

DILATE_SHAPES = ("disk", "ellipse_kernel")
MASK_CLEANUPS = ("islands", "opening")


@dataclass(frozen=True)
class InpaintConfig:
    """Per-run settings: preset ``[inpaint]`` section, then explicit params on top."""

    samples: int = setting(3, 1, 1000)  # samples per real image (paper: 3)
    dilate: int = setting(20, 0, 1024, unit="px")  # pixels at the model's resolution (paper 2.2: "dilated ... by 20 pixels"):
    # the disk's radius, or the elliptical kernel's side
    dilate_shape: str = "disk"  # disk: Euclidean disk of radius `dilate` (our reading of the paper);
    # ellipse_kernel: cv2 MORPH_ELLIPSE (dilate, dilate), ~dilate/2 per side
    # (diffuse-gen optimization/image_editor.py)
    sampler: str = "repaint"  # the reverse chain (backend/diffusion/samplers): repaint (paper) | ddim-repaint | ddnm |
    # diffpir; every sampler runs the schedule below (respacing, then jumps / DDNM's time travel)
    respacing: int = setting(200, 1, 100_000, unit="steps")  # steps of the respaced reverse process (paper: 200)
    jump_length: int = setting(10, 1, 100_000, unit="steps")  # Table A.2
    jump_n_sample: int = setting(5, 1, 1000)  # Table A.2
    clip_denoised: bool = True  # clip each step's x0 prediction to [-1, 1] (RePaint confs, guided-diffusion
    # image_sample.py); the author's p_sample_loop passes clip_denoised=False
    ddim_eta: float = setting(0.0, 0.0, 1.0)  # ddim-repaint: DDIM's eta (0: deterministic steps, 1: ancestral variance)
    ddnm_eta: float = setting(0.85, 0.0, 1.0)  # ddnm: share of fresh noise in each step (DDNM's configs: 0.85)
    diffpir_eta: float = setting(0.0, 0.0, 1.0)  # diffpir: DDIM's eta inside the step (DiffPIR's inpainting: 0)
    diffpir_zeta: float = setting(1.0, 0.0, 1.0)  # diffpir: share of fresh noise in each step (DiffPIR's inpainting: 1)
    diffpir_lambda: float = setting(1.0, 1e-6, 1e6)  # diffpir: the data term's weight lambda (DiffPIR's inpainting: 1)
    contrast: float = setting(0.0, 0.0, 100.0)  # every sampler: the mask contrast (backend/diffusion/samplers/chain.py);
    # 0: none (the paper); it acts in mask-guided synthesis only, inpainting has nothing it acts on
    synthesis_contrast: float = setting(0.5, 0.0, 100.0)  # diffgen synthesize's contrast (it replaces `contrast` there):
    # first-draw adherence on the demo, 96 samples, 1000-step judge: 71% at 0 -> 97% at 0.5 (README); 2x the network work a step
    guidance: float = setting(0.0, 0.0, 100.0)  # every sampler: reconstruction guidance's weight (chain.py);
    # 0: none (the paper); one backward pass a step
    channels_last: bool = True  # run the UNet in NHWC layout: 1.23x evaluations/s on a 2-core CPU (demo UNet);
    # samples equal up to float rounding
    mask_cleanup: str = "islands"  # islands: threshold, drop blobs < min_island, fill holes (ours);
    # opening: threshold, elliptical opening (image_editor.py refine_mask)
    min_island: int = setting(64, 0, 1 << 20, unit="px")  # islands: generated mask components smaller than this are dropped
    fill_holes: bool = True  # islands: holes inside generated mask components are filled
    opening_kernel: int = setting(16, 1, 1024, unit="px")  # opening: kernel side (refine_mask: MORPH_ELLIPSE (16, 16))
    weights: str = "ema"  # ema | raw; the author's README samples model*.pt, the raw weights
    batch_size: int = setting(3, 1, 4096)  # rows (samples) per model call
    retries: int = setting(0, 0, 100)  # redraws (new seed) of a sample that fails one of `retry_gates`; 0: none (paper)
    retry_gates: tuple[str, ...] = ("no_polyp",)  # the quality gates (backend/gates.py) that trigger a redraw

    def __post_init__(self) -> None:
        check_choice("inpaint.dilate_shape", self.dilate_shape, DILATE_SHAPES)
        check_choice("inpaint.mask_cleanup", self.mask_cleanup, MASK_CLEANUPS)
        check_choice("inpaint.weights", self.weights, tuple(WEIGHT_FILES))
        check_choice("inpaint.sampler", self.sampler, tuple(SAMPLERS))
        object.__setattr__(self, "retry_gates", tuple(self.retry_gates))  # TOML gives a list
        for gate in self.retry_gates:
            check_choice("inpaint.retry_gates", gate, gates.SCORED_FOR_SYNTHESIS)  # adherence: mask-guided only

    def schedule(self) -> RepaintSchedule:
        """The times the chain visits and its evaluations per sample (no torch: the form's count).
        Every sampler runs this schedule (``backend.diffusion.samplers.chain``), so it counts
        the evaluations of whichever ``sampler`` is chosen."""
        from backend.diffusion.samplers.schedule import RepaintSchedule

        return RepaintSchedule(self.respacing, self.jump_length, self.jump_n_sample)

    def make_sampler(self) -> Sampler:
        """The sampler with the settings it takes (``SETTINGS``: ddnm_eta is DDNM's eta)."""
        return make_sampler(self.sampler, **{kw: getattr(self, f) for f, kw in SETTINGS[self.sampler].items()})

    def region(self, mask: np.ndarray) -> np.ndarray:
        """The dilated mask: the region that is regenerated."""
        return dilate_region(mask, self.dilate, self.dilate_shape)

    def clean(self, mask: np.ndarray) -> np.ndarray:
        """A thresholded generated mask (0/255) cleaned as ``mask_cleanup`` says. The author
        opens the grey mask channel before any threshold; flat opening commutes with
        thresholding, so opening the thresholded mask gives the same binary mask."""
        if self.mask_cleanup == "opening":
            return masks.open_ellipse_kernel(mask, self.opening_kernel)
        if self.min_island > 0:
            mask = masks.remove_small_islands(mask, self.min_island)
        return masks.fill_holes(mask) if self.fill_holes else mask


def dilate_region(mask: np.ndarray, dilate: int, shape: str = "disk") -> np.ndarray:
    check_choice("inpaint.dilate_shape", shape, DILATE_SHAPES)
    return masks.dilate_ellipse_kernel(mask, dilate) if shape == "ellipse_kernel" else masks.dilate(mask, dilate)


def resolve_config(params: dict[str, Any], preset: str, overrides: tuple[str, ...] = ()) -> InpaintConfig:
    """The preset's ``[inpaint]`` values (after ``overrides``) overridden by the params that are
    set (not None)."""
    section = dict(apply_overrides(load_preset(preset), list(overrides)).get("inpaint", {}))
    aliases = {"batch": "batch_size"}
    for key, value in params.items():
        key = aliases.get(key, key)
        if key in InpaintConfig.__dataclass_fields__ and value is not None:
            section[key] = value
    return from_section(InpaintConfig, section, "inpaint")
