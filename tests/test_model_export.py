"""export-model / import-model: diffusers loads the folder and computes what our network and
sampler compute; the folder comes back into a workspace under the one model-name rule."""

from __future__ import annotations

import json

import diffusers  # noqa: E402 - a hard dependency: a broken install fails, never skips
import numpy as np
import pytest
import torch

from backend.cli import main as cli_main
from backend.diffusion.checkpoint import load_model, save_model
from backend.diffusion.diffusers_io import export_model, import_model
from backend.diffusion.gaussian import create_diffusion, named_betas
from backend.diffusion.import_checkpoint import configs_for
from backend.diffusion.model import build_model
from backend.diffusion.registry import model_folder, register_model
from backend.errors import BadInputError, DiffGenError


def _trained(ws, name="full-tiny", overrides=()):
    """A registered tiny model whose EMA weights differ from its raw weights."""
    model_cfg, diff_cfg = configs_for("tiny", list(overrides))
    torch.manual_seed(0)
    model = build_model(model_cfg)
    ema = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    folder = model_folder(ws, name)
    save_model(
        folder,
        model,
        diff_cfg,
        ema=ema,
        extra={"preset": "tiny", "target": "full", "steps": 3, "final_loss": 0.25, "name": name, "image_ids": [1, 2, 3]},
    )
    register_model(ws, name, "full", "tiny", {"model": model_cfg.to_dict()}, folder)
    return folder


def _inputs(cfg, n=2):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g), torch.tensor([999, 17])


def test_diffusers_loads_the_unet_and_computes_our_output(demo_ws, tmp_path):
    ours, _, _ = load_model(_trained(demo_ws), "ema")
    out = export_model(demo_ws, "full-tiny", tmp_path / "hub")
    unet = diffusers.UNet2DModel.from_pretrained(out, subfolder="unet").eval()
    x, t = _inputs(ours.cfg)
    with torch.no_grad():
        torch.testing.assert_close(unet(x, t).sample, ours(x, t), rtol=0, atol=1e-6)
    assert sorted(p.name for p in (out / "unet").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    card = (out / "README.md").read_text()
    for text in (
        "library_name: diffusers",
        "on 3 images",
        "preset `tiny`",
        "3 steps",
        "final training loss 0.2500",
        "Not for clinical use",
    ):
        assert text in card, text


def test_the_scheduler_steps_as_our_sampler(demo_ws, tmp_path):
    """One reverse step: DDPMScheduler (learned_range) against our p_sample with the same noise,
    on the full process and on our respaced one (custom timesteps from diffgen.json)."""
    ours, diff_cfg, _ = load_model(_trained(demo_ws), "ema")
    out = export_model(demo_ws, "full-tiny", tmp_path / "hub")
    meta = json.loads((out / "diffgen.json").read_text())
    for respacing, timesteps in (("", None), (diff_cfg.timestep_respacing, meta["sampling_timesteps"])):
        sched = diffusers.DDPMScheduler.from_pretrained(out, subfolder="scheduler")
        assert sched.config.variance_type == "learned_range"
        np.testing.assert_allclose(sched.betas.numpy(), named_betas("cosine", 1000), rtol=1e-5, atol=1e-7)
        diffusion = create_diffusion(diff_cfg, respacing)
        if timesteps is not None:
            sched.set_timesteps(timesteps=timesteps)
            assert timesteps == sorted(diffusion.timestep_map.tolist(), reverse=True) and len(timesteps) == 50
        x, _ = _inputs(ours.cfg, 1)
        for index in (diffusion.num_timesteps - 1, diffusion.num_timesteps // 2, 1):
            t_orig = int(diffusion.timestep_map[index])
            with torch.no_grad():
                output = ours(x, torch.tensor([t_orig]))
                noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(index))
                mine, _ = diffusion.p_sample(ours, x, torch.tensor([index]), noise)
                theirs = sched.step(output, t_orig, x, generator=torch.Generator().manual_seed(index)).prev_sample
            # diffusers keeps the schedule in float32, we in float64: equal up to float32 rounding,
            # which 1/sqrt(alpha_bar) amplifies near t = 999
            torch.testing.assert_close(theirs, mine, rtol=1e-3, atol=1e-3)
            assert (theirs - mine).abs().mean() < 1e-4  # a wrong schedule or variance rule: > 1e-2


def test_ddpm_pipeline_runs_from_the_folder(demo_ws, tmp_path):
    _trained(demo_ws)
    out = export_model(demo_ws, "full-tiny", tmp_path / "hub")
    pipe = diffusers.DDPMPipeline.from_pretrained(out)
    images = pipe(batch_size=1, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np").images
    assert images.shape == (1, 32, 32, 4)


def test_import_model_round_trip_and_names(demo_ws, tmp_path, capsys):
    ours, diff_cfg, _ = load_model(_trained(demo_ws), "ema")
    out = export_model(demo_ws, "full-tiny", tmp_path / "hub")
    result = import_model(out, demo_ws, name="shared")
    back, back_diff, cfg = load_model(result["folder"])
    x, t = _inputs(ours.cfg)
    with torch.no_grad():
        assert torch.equal(back(x, t), ours(x, t))
    assert back_diff == diff_cfg and cfg["target"] == "imported" and cfg["steps"] == 3
    assert demo_ws.query("SELECT target FROM models WHERE id = ?", (result["model_id"],))[0][0] == "imported"
    with pytest.raises(DiffGenError, match="already holds a model: choose another --name, or pass --overwrite"):
        import_model(out, demo_ws, name="shared")
    with pytest.raises(BadInputError, match="cannot be used as a folder name"):
        import_model(out, demo_ws, name="../escape")
    again = import_model(out, demo_ws, name="shared", overwrite=True)
    assert "shared.replaced-" in again["backup"]
    assert cli_main(["import-model", str(out), "-w", str(demo_ws.root)]) == 1  # default name full-tiny exists
    assert "already holds a model" in capsys.readouterr().err


def test_import_refuses_pickles_and_edited_configs(demo_ws, tmp_path):
    _trained(demo_ws)
    out = export_model(demo_ws, "full-tiny", tmp_path / "hub")
    cfg_path = out / "unet" / "config.json"
    edited = json.loads(cfg_path.read_text()) | {"layers_per_block": 3}
    original = cfg_path.read_text()
    cfg_path.write_text(json.dumps(edited))
    with pytest.raises(BadInputError, match="differs in layers_per_block"):
        import_model(out, demo_ws, name="edited")
    cfg_path.write_text(original)
    weights = out / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(out / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(BadInputError, match="only safetensors weights are read"):
        import_model(out, demo_ws, name="pickled")
    (out / "diffgen.json").unlink()
    with pytest.raises(BadInputError, match="no diffgen.json"):
        import_model(out, demo_ws, name="foreign")
    assert not model_folder(demo_ws, "edited").exists() and not model_folder(demo_ws, "pickled").exists()


def test_export_model_cli_and_refusals(demo_ws, tmp_path, capsys):
    _trained(demo_ws)
    assert cli_main(["export-model", "-w", str(demo_ws.root), "full-tiny", str(tmp_path / "hub")]) == 0
    assert "Exported model full-tiny" in capsys.readouterr().out
    assert cli_main(["export-model", "-w", str(demo_ws.root), "full-tiny", str(tmp_path / "hub")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert cli_main(["export-model", "-w", str(demo_ws.root), "nope", str(tmp_path / "h2")]) == 1
    assert "no model named 'nope' in this workspace (models: full-tiny)" in capsys.readouterr().err
    _trained(demo_ws, "odd-steps", ["diffusion.diffusion_steps=500"])
    with pytest.raises(DiffGenError, match="needs diffusion_steps = 1000"):
        export_model(demo_ws, "odd-steps", tmp_path / "h3")
    assert not (tmp_path / "h3").exists()
