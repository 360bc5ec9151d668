"""A trained model as a diffusers folder, and back.

``export_model`` writes what ``diffusers`` loads without this package::

    OUT/unet/config.json + diffusion_pytorch_model.safetensors   UNet2DModel (EMA weights)
    OUT/scheduler/scheduler_config.json                          DDPMScheduler, learned_range
    OUT/model_index.json                                         DDPMPipeline (4 channels: RGB + mask)
    OUT/diffgen.json                                             our model/diffusion configs
    OUT/README.md                                                model card

Our network already is a diffusers ``UNet2DModel`` (``DiffusionUNet.unet``), so its weights
need no conversion. The scheduler holds the training noise schedule: guided-diffusion's
learned-range variance (``log var = (v+1)/2 log beta_t + (1-(v+1)/2) log beta~_t``) is
diffusers' ``variance_type="learned_range"``, and our respaced sampling equals the scheduler
with ``set_timesteps(timesteps=...)`` given the kept steps (written to diffgen.json and the card).

``import_model`` reads such a folder back into a model folder; weights are read through
:func:`backend.io.weights.load_weights` (safetensors only), and the UNet's config must be the
one our configs build, so a folder edited by hand cannot load into the wrong network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from backend import __version__
from backend.diffusion import model_files
from backend.diffusion.checkpoint import load_model, save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import space_timesteps
from backend.diffusion.model import build_model
from backend.diffusion.registry import (
    new_model_folder,
    register_model,
    stored_model_folder,
    write_model_folder,
)
from backend.errors import BadInputError, DiffGenError
from backend.io.files import atomic_write_text, check_new_folder, move_into_place, sha256_file, staging_dir
from backend.io.weights import load_into, load_weights
from backend.workspace import Workspace

FORMAT = model_files.EXPORT_FORMAT
WEIGHTS = model_files.UNET_WEIGHTS
SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
_META = ("_class_name", "_diffusers_version", "_name_or_path", "_use_default_values")


def scheduler_kwargs(diff: DiffusionConfig) -> dict[str, Any]:
    """DDPMScheduler arguments that reproduce the training schedule of ``diff``."""
    if diff.rescale_timesteps and diff.diffusion_steps != 1000:
        raise DiffGenError(
            f"this model saw timesteps rescaled to 0..1000 over {diff.diffusion_steps} steps; "
            "a DDPMScheduler cannot express that (export needs diffusion_steps = 1000)"
        )
    kwargs: dict[str, Any] = {
        "num_train_timesteps": diff.diffusion_steps,
        "beta_schedule": SCHEDULES[diff.noise_schedule],
        "variance_type": "learned_range" if diff.learn_sigma else "fixed_large",
        "prediction_type": "epsilon",
        "clip_sample": True,
        "clip_sample_range": 1.0,
    }
    if diff.noise_schedule == "linear":  # guided-diffusion scales the range with the step count
        scale = 1000 / diff.diffusion_steps
        kwargs.update(beta_start=scale * 0.0001, beta_end=scale * 0.02)
    return kwargs


def sampling_timesteps(diff: DiffusionConfig) -> list[int]:
    """The original steps our respaced sampler visits, last first (``set_timesteps(timesteps=...)``)."""
    return sorted(space_timesteps(diff.diffusion_steps, diff.timestep_respacing), reverse=True)


def registered_folder(ws: Workspace, name: str) -> tuple[Path, dict[str, Any]]:
    rows = ws.query("SELECT * FROM models WHERE name = ? ORDER BY id DESC LIMIT 1", (name,))
    if not rows:
        names = [r[0] for r in ws.query("SELECT DISTINCT name FROM models ORDER BY name")]
        raise DiffGenError(f"no model named {name!r} in this workspace (models: {', '.join(names) or 'none'})")
    return stored_model_folder(ws, rows[0]), dict(rows[0])


def export_model(ws: Workspace, name: str, out: str | Path) -> Path:
    """Write model ``name`` as a diffusers folder at ``out`` (new or empty), built beside it
    and renamed into place."""
    from diffusers import DDPMScheduler

    folder, row = registered_folder(ws, name)
    model, diff, saved = load_model(folder, "ema")
    kwargs = scheduler_kwargs(diff)
    out = Path(out).expanduser().resolve()
    check_new_folder(out)
    staged = staging_dir(out)
    try:
        model.unet.save_pretrained(staged / "unet", safe_serialization=True)
        # mypy sees diffusers' top-level names as their torch-less dummy classes
        DDPMScheduler(**kwargs).save_pretrained(staged / "scheduler")  # type: ignore[attr-defined]
        atomic_write_text(
            staged / "model_index.json",
            json.dumps(
                {
                    "_class_name": "DDPMPipeline",
                    "_diffusers_version": _diffusers_version(),
                    "scheduler": ["diffusers", "DDPMScheduler"],
                    "unet": ["diffusers", "UNet2DModel"],
                },
                indent=2,
            ),
        )
        meta = {
            "format": FORMAT,
            "model": model.cfg.to_dict(),
            "diffusion": diff.to_dict(),
            "sampling_timesteps": sampling_timesteps(diff),
            "diffgen_version": __version__,
            "trained": {k: saved.get(k) for k in ("name", "preset", "target", "cluster", "steps", "final_loss")}
            | {"images": len(saved.get("image_ids") or [])},
        }
        atomic_write_text(staged / "diffgen.json", json.dumps(meta, indent=2, default=str))
        atomic_write_text(staged / "README.md", model_card(ws, row, meta))
        move_into_place(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return out


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def model_card(ws: Workspace, row: dict[str, Any], meta: dict[str, Any]) -> str:
    t, m, d = meta["trained"], meta["model"], meta["diffusion"]
    sources = ", ".join(f"`{Path(r[0]).name}`" for r in ws.query("SELECT source_dir FROM imports ORDER BY id"))
    loss = f"{t['final_loss']:.4f}" if isinstance(t.get("final_loss"), (int, float)) else "n/a"
    what = (
        f"cluster {row['cluster']} of clustering {row['clustering_id']}"
        if row["target"] == "cluster"
        else "the full training set"
        if row["target"] == "full"
        else row["target"]
    )
    steps = meta["sampling_timesteps"]
    return "\n".join(
        [
            "---",
            "library_name: diffusers",
            "license: other",
            "tags:",
            "- diffusers",
            "- unconditional-image-generation",
            "- medical-imaging",
            "- synthetic-data",
            "---",
            "",
            f"# {t.get('name') or row['name']}: 4-channel (RGB + mask) polyp diffusion model",
            "",
            (
                f"Trained with DiffGen Studio {meta['diffgen_version']} on {t['images']} images of dataset(s) "
                f"{sources or '(unknown)'} ({what}), preset `{t.get('preset') or row['preset']}`, {t.get('steps')} steps, "
                f"final training loss {loss}. Weights: the EMA weights, as used for sampling."
            ),
            "",
            "## Network and schedule",
            "",
            f"`UNet2DModel`, {m['image_size']} px, {m['in_channels']} input channels (RGB and the mask, all in "
            f"[-1, 1]), {2 * m['in_channels'] if m['learn_sigma'] else m['in_channels']} output channels (noise"
            + (" and the learned-range variance interpolation" if m["learn_sigma"] else "")
            + "). "
            f"{d['diffusion_steps']} training steps, `{d['noise_schedule']}` noise schedule, hybrid loss "
            "(Nichol & Dhariwal), guided-diffusion conventions. `scheduler/` is the matching `DDPMScheduler`.",
            "",
            "## Use",
            "",
            "```python",
            "from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel",
            'unet = UNet2DModel.from_pretrained("OUT", subfolder="unet")',
            'scheduler = DDPMScheduler.from_pretrained("OUT", subfolder="scheduler")',
            f"scheduler.set_timesteps(timesteps=TIMESTEPS)  # {len(steps)} steps as DiffGen samples; see diffgen.json",
            '# or: DDPMPipeline.from_pretrained("OUT") - its images are RGBA: the alpha channel is the mask',
            "```",
            "",
            (
                f"`TIMESTEPS` is `sampling_timesteps` in diffgen.json (respacing `{d['timestep_respacing']}`); the "
                "4th channel thresholded at 0 is the mask. `diffgen import-model OUT --workspace WS` reads this folder "
                "back into DiffGen Studio."
            ),
            "",
            "## Intended use and limitations",
            "",
            (
                "Generating synthetic labelled training data (image + mask) for research on polyp segmentation, "
                "and RePaint inpainting of polyp regions. Not for clinical use or diagnosis. The model reproduces "
                "its training data's devices, centres and patient population, and at small image counts it can "
                "memorise training images: check samples against the training set before sharing them. The "
                "licence of the training dataset applies to what this model generates."
            ),
            "",
        ]
    )


def _check_unet_config(path: Path, cfg: ModelConfig) -> None:
    given = model_files.read_json(path, "UNet config")
    import torch

    with torch.device("meta"):  # the config only: no memory for weights
        built = dict(build_model(cfg).unet.config)
    wrong = sorted(k for k in given if k not in _META and k in built and _plain(given[k]) != _plain(built[k]))
    if wrong:
        raise BadInputError(
            f"{path} does not match the network diffgen.json describes (differs in "
            f"{', '.join(wrong[:6])}); the folder was changed after export"
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def read_export(folder: Path) -> tuple[ModelConfig, DiffusionConfig, dict[str, Any], Path]:
    """Configs and weight file of an exported folder, every value and the weights' header
    checked (:func:`backend.diffusion.model_files.read_export`), then the UNet's own config."""
    model_cfg, diff_cfg, meta, weights = model_files.read_export(folder)
    _check_unet_config(folder / "unet" / "config.json", model_cfg)
    return model_cfg, diff_cfg, meta, weights


def import_model(
    folder: str | Path,
    ws: Workspace | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Read an exported diffusers folder into ``models/NAME`` (registered as ``imported``) or
    ``out``; an existing model there is refused unless ``overwrite`` (then kept as a backup)."""
    folder = Path(folder).expanduser().resolve()
    model_cfg, diff_cfg, meta, weights = read_export(folder)
    name = name or meta["trained"].get("name") or folder.name
    target, replace = new_model_folder(ws, name, out, overwrite)
    model = build_model(model_cfg)
    load_into(model.unet, load_weights(weights, expected="the UNet's safetensors file"), weights, "UNet2DModel")
    trained = meta.get("trained", {})
    preset = trained.get("preset") or "imported"
    extra = {
        "preset": preset,
        "target": "imported",
        "source_folder": str(folder),
        "source_sha256": sha256_file(weights),
        "steps": trained.get("steps"),
        "final_loss": trained.get("final_loss"),
        "name": name,
    }
    backup = write_model_folder(
        ws, target, replace, lambda staged: save_model(staged, model, diff_cfg, ema=model.state_dict(), extra=extra)
    )
    result: dict[str, Any] = {"folder": str(target), "backup": str(backup) if backup else None}
    if ws is not None:
        result["model_id"] = register_model(
            ws, name, "imported", preset, {"model": model_cfg.to_dict(), "diffusion": diff_cfg.to_dict()}, target
        )
    return result
