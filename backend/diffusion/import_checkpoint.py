"""Import a model trained with the paper's reference code (openai/guided-diffusion
``UNetModel``, 4 channels, ``learn_sigma``, ``use_scale_shift_norm``, ``resblock_updown``,
``num_head_channels``, legacy attention order) so its users keep their trained models.
The author's own code (dsaragih/diffuse-gen) trains and samples with attention at 16 px only:
``--config diffuse-gen``; a file that does not fit the chosen config but fits another shipped
preset gets that preset named in the error.

Key mapping (guided-diffusion -> ours, ours all under ``unet.``)::

    time_embed.0 / time_embed.2            time_embedding.linear_1 / linear_2
    input_blocks.0.0                       conv_in
    input_blocks.B.0  (ResBlock)           down_blocks.L.resnets.R
    input_blocks.B.1  (AttentionBlock)     down_blocks.L.attentions.R
    input_blocks.B.0  (down ResBlock)      down_blocks.L.downsamplers.0   (.op -> .conv when
                                                                            resblock_updown is off)
    middle_block.0 / .1 / .2               mid_block.resnets.0 / attentions.0 / resnets.1
    output_blocks.B.0 (ResBlock)           up_blocks.U.resnets.I          (U = levels-1-L)
    output_blocks.B.1 (AttentionBlock)     up_blocks.U.attentions.I
    output_blocks.B.{1|2} (up ResBlock)    up_blocks.U.upsamplers.0       (last block of a level)
    out.0 / out.2                          conv_norm_out / conv_out

    ResBlock:  in_layers.0 norm1, in_layers.2 conv1, emb_layers.1 time_emb_proj,
               out_layers.0 norm2, out_layers.3 conv2, skip_connection conv_shortcut
    Attention: norm group_norm; proj_out (conv1d, k=1) to_out.0 (linear);
               qkv (conv1d [3*H*C, ch, 1]) -> to_q / to_k / to_v (linear [H*C, ch])

Blocks are numbered in guided-diffusion's construction order: per level ``num_res_blocks``
ResBlocks (each followed by attention where the feature map size is in
``attention_resolutions``), then a down-sampling block except at the last level; on the
way up ``num_res_blocks + 1`` blocks per level, the last one carrying the up-sampler.

The legacy attention (``QKVAttentionLegacy``) lays qkv out heads-major: channel
``h*3C + j*C + c`` is part ``j`` (q, k, v) of head ``h``; reshaping to ``[H, 3, C, ch]``
separates q, k and v with the heads in the order diffusers uses. Its ``1/sqrt(sqrt(C))``
factor on both q and k equals diffusers' ``1/sqrt(C)`` on the product, so no weight is
rescaled. ``use_new_attention_order`` checkpoints are not supported.

The file is read through :func:`backend.io.weights.load_weights` (safetensors, or
``torch.load(weights_only=True)``): a pickle that would run code, a TorchScript program or a
file in another format is refused with a message naming the file before anything executes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backend.config.presets import inherits, preset_names
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.model_files import check_checkpoint_size, configs_for
from backend.diffusion.registry import new_model_folder, register_model, write_model_folder
from backend.errors import BadInputError, DiffGenError
from backend.io.files import sha256_file
from backend.io.weights import load_weights
from backend.workspace import Workspace

RESBLOCK = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


@dataclass(frozen=True)
class Block:
    gd: str  # guided-diffusion module prefix
    ours: str  # our module prefix (without "unet.")
    kind: str  # resblock | attention | plain


def block_map(cfg: ModelConfig) -> list[Block]:
    """Every module of the network in both namings, in guided-diffusion's order."""
    mult = cfg.resolved_channel_mult()
    nrb, last = cfg.num_res_blocks, len(mult) - 1
    has_attn = lambda level: (cfg.image_size >> level) in cfg.attention_resolutions  # noqa: E731
    sampler = "resblock" if cfg.resblock_updown else "plain"
    blocks = [
        Block("time_embed.0", "time_embedding.linear_1", "plain"),
        Block("time_embed.2", "time_embedding.linear_2", "plain"),
        Block("input_blocks.0.0", "conv_in", "plain"),
    ]
    b = 1
    for level in range(len(mult)):
        for r in range(nrb):
            blocks.append(Block(f"input_blocks.{b}.0", f"down_blocks.{level}.resnets.{r}", "resblock"))
            if has_attn(level):
                blocks.append(Block(f"input_blocks.{b}.1", f"down_blocks.{level}.attentions.{r}", "attention"))
            b += 1
        if level != last:
            gd = f"input_blocks.{b}.0" + ("" if cfg.resblock_updown else ".op")
            ours = f"down_blocks.{level}.downsamplers.0" + ("" if cfg.resblock_updown else ".conv")
            blocks.append(Block(gd, ours, sampler))
            b += 1
    blocks += [
        Block("middle_block.0", "mid_block.resnets.0", "resblock"),
        Block("middle_block.1", "mid_block.attentions.0", "attention"),
        Block("middle_block.2", "mid_block.resnets.1", "resblock"),
    ]
    b = 0
    for level in reversed(range(len(mult))):
        up = last - level
        for i in range(nrb + 1):
            blocks.append(Block(f"output_blocks.{b}.0", f"up_blocks.{up}.resnets.{i}", "resblock"))
            j = 1
            if has_attn(level):
                blocks.append(Block(f"output_blocks.{b}.1", f"up_blocks.{up}.attentions.{i}", "attention"))
                j = 2
            if level and i == nrb:
                gd = f"output_blocks.{b}.{j}" + ("" if cfg.resblock_updown else ".conv")
                ours = f"up_blocks.{up}.upsamplers.0" + ("" if cfg.resblock_updown else ".conv")
                blocks.append(Block(gd, ours, sampler))
            b += 1
    blocks += [Block("out.0", "conv_norm_out", "plain"), Block("out.2", "conv_out", "plain")]
    return blocks


def _param_pairs(block: Block, ours_keys: set[str]) -> list[tuple[str, str]]:
    """(gd key, our key) for the plain parameters of a block (attention qkv excluded)."""
    if block.kind == "resblock":
        subs = list(RESBLOCK.items())
    elif block.kind == "attention":
        subs = [("norm", "group_norm"), ("proj_out", "to_out.0")]
    else:
        subs = [("", "")]
    pairs = []
    for gd_sub, our_sub in subs:
        for p in ("weight", "bias"):
            gd = ".".join(x for x in (block.gd, gd_sub, p) if x)
            ours = "unet." + ".".join(x for x in (block.ours, our_sub, p) if x)
            if ours in ours_keys:  # e.g. no skip_connection when channels are equal
                pairs.append((gd, ours))
    return pairs


def _heads(cfg: ModelConfig, channels: int) -> int:
    return channels // cfg.num_head_channels


def _reference(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our model's parameter names and shapes, on the meta device (no memory, no init)."""
    with torch.device("meta"):
        return build_model(cfg).state_dict()


def _expected_sizes(cfg: ModelConfig, reference: dict[str, torch.Tensor]) -> dict[str, int]:
    """Every guided-diffusion key of ``cfg`` with its element count (conv1d and linear
    layouts of the same weights differ in shape only)."""
    sizes = {}
    for block in block_map(cfg):
        sizes.update({gd: reference[ours].numel() for gd, ours in _param_pairs(block, set(reference))})
        if block.kind == "attention":
            ch = reference[f"unet.{block.ours}.to_q.weight"].shape[1]
            sizes[f"{block.gd}.qkv.weight"] = 3 * ch * ch
            sizes[f"{block.gd}.qkv.bias"] = 3 * ch
    return sizes


def mismatch(gd_state: dict[str, torch.Tensor], cfg: ModelConfig) -> str:
    """What keeps a guided-diffusion state dict from fitting ``cfg`` ('' when it fits)."""
    expected = _expected_sizes(cfg, _reference(cfg))
    keys = {k.removeprefix("module."): v for k, v in gd_state.items()}
    missing = [k for k in expected if k not in keys]
    extra = sorted(set(keys) - set(expected))
    wrong = [f"{k} {tuple(keys[k].shape)}" for k, n in expected.items() if k in keys and keys[k].numel() != n]
    return (
        (f"; missing {len(missing)} keys, e.g. {', '.join(missing[:4])}" if missing else "")
        + (f"; unexpected {len(extra)} keys, e.g. {', '.join(extra[:4])}" if extra else "")
        + (f"; wrong shape: {', '.join(wrong[:4])}" if wrong else "")
    )


def from_guided_diffusion(gd_state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our state dict from a guided-diffusion one; clear errors for missing, extra or
    mis-shaped tensors (usually a --config that does not match the file)."""
    problem = mismatch(gd_state, cfg)
    if problem:
        raise BadInputError(
            "the checkpoint does not match this model configuration"
            + problem
            + ". Check --config (image_size, num_channels, channel_mult, num_res_blocks, "
            "attention_resolutions, num_head_channels) against the flags the model was trained with."
        )
    gd_state = {k.removeprefix("module."): v for k, v in gd_state.items()}
    reference = _reference(cfg)
    out: dict[str, torch.Tensor] = {}
    for block in block_map(cfg):
        for gd, ours in _param_pairs(block, set(reference)):
            out[ours] = gd_state[gd].reshape(reference[ours].shape).clone()  # conv1d proj_out [C, C, 1] -> [C, C]
        if block.kind == "attention":
            base = f"unet.{block.ours}"
            ch = reference[f"{base}.to_q.weight"].shape[1]
            heads = _heads(cfg, ch)
            w = gd_state[f"{block.gd}.qkv.weight"].reshape(heads, 3, ch // heads, ch)
            b = gd_state[f"{block.gd}.qkv.bias"].reshape(heads, 3, ch // heads)
            for j, name in enumerate(("to_q", "to_k", "to_v")):
                out[f"{base}.{name}.weight"] = w[:, j].reshape(ch, ch).clone()
                out[f"{base}.{name}.bias"] = b[:, j].reshape(ch).clone()
    return out


def fitting_presets(
    gd_state: dict[str, torch.Tensor], overrides: list[str] | None = None, exclude: str | None = None
) -> list[str]:
    """The shipped presets (with the same overrides) whose [model] the state dict fits; of
    presets with one model (paper, paper-fast, fast), the one the others inherit from."""
    fits: dict[ModelConfig, str] = {}
    for name in sorted(preset_names(), key=lambda n: (inherits(n), n)):
        if name == exclude:
            continue
        try:
            cfg = configs_for(name, overrides)[0]
        except (DiffGenError, ValueError):  # an override this preset lacks, no default channel_mult
            continue
        if not mismatch(gd_state, cfg):
            fits.setdefault(cfg, name)
    return list(fits.values())


def to_guided_diffusion(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The inverse mapping: our weights as a guided-diffusion ``UNetModel`` state dict."""
    gd_state = {}
    for block in block_map(cfg):
        for gd, ours in _param_pairs(block, set(state)):
            t = state[ours]
            if gd.endswith("proj_out.weight"):
                t = t[..., None]  # linear -> conv1d with kernel 1
            gd_state[gd] = t.clone()
        if block.kind == "attention":
            base = f"unet.{block.ours}"
            ch = state[f"{base}.to_q.weight"].shape[1]
            heads = _heads(cfg, ch)
            parts = ("to_q", "to_k", "to_v")
            w = torch.stack([state[f"{base}.{n}.weight"].reshape(heads, -1, ch) for n in parts], 1)
            b = torch.stack([state[f"{base}.{n}.bias"].reshape(heads, -1) for n in parts], 1)
            gd_state[f"{block.gd}.qkv.weight"] = w.reshape(-1, ch, 1).clone()
            gd_state[f"{block.gd}.qkv.bias"] = b.reshape(-1).clone()
    return gd_state


def import_checkpoint(
    file: str | Path,
    preset: str = "paper",
    ws: Workspace | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Convert a guided-diffusion ``.pt`` into a model folder (``models/NAME`` of the
    workspace, registered as ``imported``, or ``out``). The file's weights serve as both
    the raw and the EMA weights (guided-diffusion saves EMA weights as separate files).
    An existing model there is refused unless ``overwrite`` (then it is kept as a backup)."""
    file = Path(file)
    name = name or file.stem
    folder, replace = new_model_folder(ws, name, out, overwrite)
    model_cfg, diff_cfg = configs_for(preset, overrides)
    check_checkpoint_size(file, model_cfg, preset)
    state = load_weights(file)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(f"{file.name} is not a state dict of tensors (a guided-diffusion model_*.pt or ema_*.pt)")
    try:
        weights = from_guided_diffusion(state, model_cfg)
    except BadInputError as e:
        fits = fitting_presets(state, overrides, exclude=preset)
        hint = f" It fits --config {' or --config '.join(fits)}: import it with that." if fits else ""
        raise BadInputError(f"{file.name} under --config {preset}: {e}{hint}") from None
    model = build_model(model_cfg)
    model.load_state_dict(weights)
    extra = {
        "preset": preset,
        "target": "imported",
        "source_file": str(file.resolve()),
        "source_sha256": sha256_file(file),
        "steps": None,
        "final_loss": None,
        "name": name,
    }
    backup = write_model_folder(
        ws, folder, replace, lambda staged: save_model(staged, model, diff_cfg, ema=model.state_dict(), extra=extra)
    )
    result: dict[str, Any] = {"folder": str(folder), "tensors": len(state), "backup": str(backup) if backup else None}
    if ws is not None:
        result["model_id"] = register_model(
            ws, name, "imported", preset, {"model": model_cfg.to_dict(), "diffusion": diff_cfg.to_dict()}, folder
        )
    return result
