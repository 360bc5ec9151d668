"""DistributedDataParallel on CPU (gloo, 2 processes) trains to the same weights as one
process on the combined batch: each rank takes its slice of the global batch, noise and
timesteps drawn for the whole batch, and DDP averages the gradients."""

from __future__ import annotations

import math
import os
import socket
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.config import ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.train_params import TrainParams
from backend.diffusion.training import init_like_guided_diffusion, run_train
from backend.errors import DiffGenError
from backend.jobs.context import JobContext
from backend.workspace import Workspace
from tests.diffusion_micro import MICRO_OVERRIDES

STEPS = 3


def _params(batch: int, name: str, steps: int = STEPS, resume: bool = False) -> TrainParams:
    return TrainParams(
        preset="tiny",
        target="full",
        steps=steps,
        device="cpu",
        name=name,
        resume=resume,
        overrides=(*MICRO_OVERRIDES, f"train.batch_size={batch}", "train.sample_count=0"),
    )


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = run_train(Workspace.open(root), _params(1, "ddp"), JobContext())
        assert result.world_size == world
    finally:
        dist.destroy_process_group()


def _watch_writes(root: str) -> list[str]:
    """What this process writes under ``root`` from now on: files opened for writing, renames,
    new or removed files and folders (audit events), and database transactions."""
    from backend.workspace import Workspace

    writes: list[str] = []
    under = lambda p: isinstance(p, str | bytes | os.PathLike) and os.fsdecode(p).startswith(root)  # noqa: E731
    creating = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(event: str, args: tuple) -> None:
        if (
            event == "open"
            and under(args[0])
            and ((isinstance(args[1], str) and any(c in args[1] for c in "wax+")) or (args[2] or 0) & creating)
        ):
            writes.append(f"open {args[0]}")
        elif event in ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree") and under(args[0]):
            writes.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    real = Workspace.transaction
    Workspace.transaction = lambda self: writes.append("database transaction") or real(self)  # type: ignore[method-assign]
    return writes


def _split_worker(rank: int, world: int, port: int, root: str) -> None:
    """2 of the 3 steps on 2 processes x batch 1; rank 1 must write nothing into the workspace."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    ws = Workspace.open(root)  # opening checks that the folder is writable: watched from here on
    writes = _watch_writes(str(ws.root)) if rank else []
    try:
        run_train(ws, _params(1, "split", steps=2), JobContext())
    finally:
        dist.destroy_process_group()
    assert writes == [], writes


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
    rows = demo_ws.query(
        "SELECT m.name, COUNT(c.id) FROM models m JOIN checkpoints c ON c.model_id = m.id GROUP BY m.id ORDER BY m.id"
    )
    assert [tuple(r) for r in rows] == [("ddp", 2), ("single", 2)]


def test_a_checkpoint_of_2_processes_x_batch_b_resumes_as_1_process_x_batch_2b(demo_ws):
    """Resume across world sizes: the global batch (and with it the data order and the effective
    batch the learning rate was set for) is what must stay; only rank 0 writes files or rows."""
    mp.spawn(_split_worker, args=(2, _free_port(), str(demo_ws.root)), nprocs=2, join=True)
    with pytest.raises(
        DiffGenError,
        match=r"global batch of 2 .* this run's is 1 \(1 x 1 process\).*"
        r"--set train.batch_size=2",
    ):
        run_train(demo_ws, _params(1, "split", resume=True), JobContext())
    run_train(demo_ws, _params(2, "split", resume=True), JobContext())  # step 3 on one process
    run_train(demo_ws, _params(2, "single"), JobContext())  # steps 1-3 on one process
    split = load_file(demo_ws.path("models/split/model.safetensors"))
    single = load_file(demo_ws.path("models/single/model.safetensors"))
    apart = max((split[k] - single[k]).abs().max().item() for k in single)
    lr = float(apply_overrides(load_preset("tiny"), MICRO_OVERRIDES)["train"]["lr"])
    assert apart <= 2 * lr * STEPS  # the bound of the test above; a changed data order is far off
    losses = [np.loadtxt(demo_ws.path(f"models/{n}/loss.csv"), delimiter=",", skiprows=1) for n in ("split", "single")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)  # the same batches at every step
    rows = demo_ws.query(
        "SELECT c.step FROM checkpoints c JOIN models m ON m.id = c.model_id WHERE m.name = 'split' ORDER BY c.step"
    )
    assert [r[0] for r in rows] == [2, 3]
