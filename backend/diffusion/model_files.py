"""A model folder's files read and checked before anything is built (light: no torch).

A model folder (``config.json`` + safetensors weights) and an exported diffusers folder
(``diffgen.json`` + ``unet/``) arrive from elsewhere: a ``config.json`` asking for 100,000
residual blocks would make the network builder allocate gigabytes before any weight is
read. So the configs are read here with every field in its declared range
(:meth:`ModelConfig.from_dict`), and the weight file's header (names and shapes, no tensor
data) must hold exactly the parameters the config's network has: a config and weights
that do not belong together are refused from arithmetic, at the cost of reading two small
files. The commands that import a model run these checks before they load torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.config import DiffusionConfig, ModelConfig, parameter_count
from backend.errors import BadInputError, BadWeightsError
from backend.io.weights import declared_bytes, safetensors_header

FORMAT = "diffgen-diffusion/1"  # config.json of a model folder
EXPORT_FORMAT = "diffgen-diffusers/1"  # diffgen.json of an exported diffusers folder
UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"
MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path`` (bounded in size), or an error that names the file."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise BadInputError(f"{path}: {path.stat().st_size:,} bytes is too large for {what} (at most {MAX_CONFIG_BYTES:,})")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInputError(f"{path}: not a readable {what} ({str(e)[:200]})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: {what} must be a JSON object, not {type(data).__name__}")
    return data


def configs(data: dict[str, Any], where: str) -> tuple[ModelConfig, DiffusionConfig]:
    """The model and diffusion configs of a model file's ``data``, each value checked."""
    if not isinstance(data.get("model"), dict) or not isinstance(data.get("diffusion"), dict):
        raise BadInputError(f"{where}: needs 'model' and 'diffusion' sections")
    model = ModelConfig.from_dict(data["model"], f"{where}: model")
    return model, DiffusionConfig.from_dict(data["diffusion"], learn_sigma=model.learn_sigma, where=f"{where}: diffusion")


def read_config(folder: str | Path) -> dict[str, Any]:
    """A model folder's ``config.json``, its model and diffusion sections checked."""
    p = Path(folder) / "config.json"
    if not p.exists():
        raise BadInputError(f"{folder} is not a model folder (no config.json)")
    cfg = read_json(p, "model config")
    if cfg.get("format") != FORMAT:
        raise BadInputError(f"{p}: unknown model format {cfg.get('format')!r} (expected {FORMAT})")
    configs(cfg, str(p))
    return cfg


def check_folder_choice(choice: str, workspace: Path) -> None:
    """A ``--model`` given as a model folder (a path, or one relative to ``workspace``, as
    :func:`backend.diffusion.registry.resolve_model` reads it) has its configs checked now, so
    that a crafted one is refused before torch loads; names and 'cluster'/'full' pass."""
    if choice in ("cluster", "full"):
        return
    folder = next((f for f in (Path(choice).expanduser(), workspace / choice) if (f / "config.json").is_file()), None)
    if folder is not None:
        read_config(folder)


def check_weights_fit(file: Path, cfg: ModelConfig, where: str) -> None:
    """Refuse ``file`` unless its tensors hold exactly the parameters of ``cfg``'s network,
    read from the safetensors header (no tensor data is loaded)."""
    header = safetensors_header(file)
    held, wanted = sum(math.prod(shape) for _, shape in header.values()), parameter_count(cfg)
    if held != wanted:
        raise BadInputError(
            f"{file} holds {held:,} parameters in {len(header)} tensors, but the network {where} describes has "
            f"{wanted:,}: the config and the weights do not belong together (was one of them edited or replaced?)"
        )


def read_export(folder: Path) -> tuple[ModelConfig, DiffusionConfig, dict[str, Any], Path]:
    """Configs and weight file of an exported folder, checked before anything is loaded."""
    meta_path = folder / "diffgen.json"
    if not meta_path.exists():
        raise BadInputError(
            f"{folder} has no diffgen.json: only folders written by 'diffgen export-model' "
            "can be imported (their network and schedule are known)"
        )
    meta = read_json(meta_path, "model description")
    if meta.get("format") != EXPORT_FORMAT:
        raise BadInputError(f"{meta_path}: unknown format {meta.get('format')!r} (expected {EXPORT_FORMAT})")
    if not isinstance(meta.get("trained", {}), dict):
        raise BadInputError(f"{meta_path}: 'trained' must be an object")
    weights = folder / "unet" / UNET_WEIGHTS
    if not weights.exists():
        raise BadInputError(
            f"{weights} is missing: only safetensors weights are read (a .bin file is a pickle "
            "that could run code; convert it with safetensors first)"
        )
    model_cfg, diff_cfg = configs(meta, str(meta_path))
    check_weights_fit(weights, model_cfg, str(meta_path))
    return model_cfg, diff_cfg, meta, weights


def configs_for(preset: str, overrides: list[str] | None = None) -> tuple[ModelConfig, DiffusionConfig]:
    """The model and diffusion configs of a preset (after ``overrides``), every value checked."""
    p = apply_overrides(load_preset(preset), overrides or [])
    return configs(p, f"preset {preset}")


def check_checkpoint_size(file: Path, cfg: ModelConfig, preset: str) -> None:
    """Refuse a checkpoint whose declared tensor data exceeds what ``cfg``'s network can fill
    in float32 (plus a tenth and 1 MB for the pickled structure), read from the zip's member
    sizes or the safetensors header: a small file that inflates to gigabytes never inflates."""
    limit = 4 * parameter_count(cfg) * 11 // 10 + (1 << 20)
    declared = declared_bytes(file)
    if declared > limit:
        raise BadWeightsError(
            f"{file}: declares {declared / 1e6:,.1f} MB of tensor data, more than the {limit / 1e6:,.1f} MB that the "
            f"{parameter_count(cfg):,} parameters of --config {preset}'s network take in float32: a file for a "
            "larger network (check --config) or a damaged or crafted one"
        )
