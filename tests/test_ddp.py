"""DistributedDataParallel on CPU (gloo, 2 processes) trains to the same weights as one
process on the combined batch: each rank takes its slice of the global batch, noise and
timesteps drawn for the whole batch, and DDP averages the gradients."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.config import ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.train_params import TrainParams
from backend.diffusion.training import init_like_guided_diffusion, run_train
from backend.jobs.context import JobContext
from backend.workspace import Workspace
from tests.diffusion_micro import MICRO_OVERRIDES

STEPS = 3


def _params(batch: int, name: str) -> TrainParams:
    return TrainParams(preset="tiny", target="full", steps=STEPS, device="cpu", name=name,
                       overrides=(*MICRO_OVERRIDES, f"train.batch_size={batch}", "train.sample_count=0"))


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = run_train(Workspace.open(root), _params(1, "ddp"), JobContext())
        assert result.world_size == world
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process_on_the_combined_batch(demo_ws):
    mp.spawn(_worker, args=(2, _free_port(), str(demo_ws.root)), nprocs=2, join=True)
    run_train(demo_ws, _params(2, "single"), JobContext())
    ddp = load_file(demo_ws.path("models/ddp/model.safetensors"))
    single = load_file(demo_ws.path("models/single/model.safetensors"))
    assert ddp.keys() == single.keys()
    # Adam divides by sqrt(v): where a gradient is near zero, its rounding noise (the
    # summation order differs across ranks) moves that weight by up to lr. So compare the
    # whole update: the runs must differ by far less than either moved from the initial
    # weights (a rank training on its own data, or without averaged gradients, differs by
    # about as much as it moved), and no weight by more than Adam's step bound.
    preset = apply_overrides(load_preset("tiny"), MICRO_OVERRIDES)
    torch.manual_seed(0)
    init = init_like_guided_diffusion(build_model(ModelConfig.from_dict(preset["model"]))).state_dict()
    moved = math.sqrt(sum(((single[k] - init[k].float()) ** 2).sum().item() for k in single))
    apart = math.sqrt(sum(((ddp[k] - single[k]) ** 2).sum().item() for k in single))
    assert apart < 1e-2 * moved, (apart, moved)
    lr = float(preset["train"]["lr"])
    assert max((ddp[k] - single[k]).abs().max().item() for k in single) <= 2 * lr * STEPS
    losses = [np.loadtxt(demo_ws.path(f"models/{n}/loss.csv"), delimiter=",", skiprows=1) for n in ("ddp", "single")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    earlier = load_file(demo_ws.path("models/ddp/checkpoints/step-0000002/model.safetensors"))
    assert any(not torch.equal(ddp[k], earlier[k]) for k in ddp)  # the last step did train
    # only rank 0 wrote: one model row, one row per checkpoint
    rows = demo_ws.query("SELECT m.name, COUNT(c.id) FROM models m JOIN checkpoints c ON c.model_id = m.id"
                         " GROUP BY m.id ORDER BY m.id")
    assert [tuple(r) for r in rows] == [("ddp", 2), ("single", 2)]
