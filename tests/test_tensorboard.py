"""``train --tensorboard DIR``: loss terms, learning rate and the sample sheet as TensorBoard events."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from backend.diffusion.train_params import TrainParams
from backend.diffusion.training import run_train
from backend.errors import DiffGenError
from backend.jobs.context import JobContext
from tests.diffusion_micro import MICRO_OVERRIDES


def _params(**kw) -> TrainParams:
    return TrainParams.from_dict(
        {
            "preset": "tiny",
            "target": "full",
            "device": "cpu",
            "steps": 3,
            "overrides": MICRO_OVERRIDES + ["train.sample_count=2"],
            **kw,
        }
    )


def test_training_writes_tensorboard_events(demo_ws, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator as accumulator

    result = run_train(demo_ws, _params(name="tb", tensorboard=str(tmp_path / "tb")), JobContext())
    events = accumulator.EventAccumulator(str(tmp_path / "tb" / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert {"loss/total", "loss/mse", "loss/vb", "lr"} <= set(events.Tags()["scalars"])
    logged = np.loadtxt(demo_ws.path("models/tb/loss.csv"), delimiter=",", skiprows=1)
    for column, tag in ((1, "loss/total"), (2, "loss/mse"), (3, "loss/vb")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2, 3]
        np.testing.assert_allclose([s.value for s in scalars], logged[:, column], rtol=1e-5)  # loss.csv: 6 digits
    lr = float(next(o for o in MICRO_OVERRIDES if o.startswith("train.lr=")).split("=")[1])
    np.testing.assert_allclose([s.value for s in events.Scalars("lr")], [lr] * 3, rtol=1e-6)
    assert [i.step for i in events.Images("samples")] == [3]
    assert result.models[0]["steps"] == 3


def test_without_tensorboard_the_message_names_the_extra(demo_ws, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(DiffGenError, match=r"pip install 'diffgen-studio\[tensorboard\]'"):
        run_train(demo_ws, _params(name="tb", tensorboard=str(tmp_path / "tb")), JobContext())
    assert not demo_ws.path("models/tb").exists()
