"""Inpainting samplers: the reverse chains that turn a known image (and which of its values are
known) into a sample with an unconditional diffusion model.

A sampler is an object in the diffusers style (:class:`backend.diffusion.samplers.base.Sampler`):
``set_timesteps`` builds its (respaced) process from the model's diffusion config, ``step`` makes
one reverse step from time ``t`` with one network evaluation, and ``evaluations()`` counts them
for one sample. :func:`backend.diffusion.samplers.base.sample_batch` runs any sampler over a batch
of rows. This module is light (names only, no torch), so that a preset or a CLI value can be
checked, and a form can list the choices, before anything heavy is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.diffusion.samplers.base import Sampler

SAMPLERS: dict[str, str] = {  # name -> "module:factory"; the factory takes the settings as keywords
    "repaint": "backend.diffusion.samplers.repaint:RePaintSampler",
    "ddim-repaint": "backend.diffusion.samplers.ddim:DDIMRePaintSampler",
    "ddnm": "backend.diffusion.samplers.ddnm:DDNMSampler",
    "diffpir": "backend.diffusion.samplers.diffpir:DiffPIRSampler",
}
# every sampler's settings: the schedule, clipping, and the mask contrast and guidance of chain.py
_SCHEDULE = {k: k for k in ("respacing", "jump_length", "jump_n_sample", "clip_denoised", "guidance", "contrast")}
SETTINGS: dict[str, dict[str, str]] = {  # name -> {inpaint setting (InpaintConfig field): the sampler's keyword}
    "repaint": _SCHEDULE,
    "ddim-repaint": {**_SCHEDULE, "ddim_eta": "eta"},
    "ddnm": {**_SCHEDULE, "ddnm_eta": "eta"},
    "diffpir": {**_SCHEDULE, "diffpir_eta": "eta", "diffpir_zeta": "zeta", "diffpir_lambda": "hqs_lambda"},
}


def make_sampler(name: str, **settings: Any) -> Sampler:
    """The sampler ``name`` with ``settings`` (its dataclass fields)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    module, _, factory = SAMPLERS[name].partition(":")
    sampler: Sampler = getattr(importlib.import_module(module), factory)(**settings)
    return sampler
