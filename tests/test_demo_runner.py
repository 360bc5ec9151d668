"""The demo runner: stages are recorded, skipped on a second run, and a failure names its stage;
random stand-in weights are real files that the real loaders accept."""

import pytest
import torch

from backend.demo.plan import DemoContext, Stage, run_stages, stage_state
from backend.demo.standins import weights_or_standin
from backend.errors import DiffGenError
from backend.workspace import Workspace


def test_finished_stages_are_skipped_and_failures_name_the_stage(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    calls = []

    def ok(ctx):
        calls.append("ok")
        return {"value": 1}

    def bad(ctx):
        calls.append("bad")
        raise DiffGenError("no model")

    ctx = DemoContext(ws, log=lambda s: None)
    with pytest.raises(DiffGenError, match="stage 'Second': no model"):
        run_stages(ctx, [Stage("one", "First", ok), Stage("two", "Second", bad)])
    assert stage_state(ws, "one")["value"] == 1 and stage_state(ws, "two") is None
    with pytest.raises(DiffGenError):
        run_stages(ctx, [Stage("one", "First", ok), Stage("two", "Second", bad)])
    assert calls == ["ok", "bad", "bad"]  # the finished stage ran once
    out = run_stages(ctx, [Stage("one", "First", ok)], force=True)
    assert calls[-1] == "ok" and out["one"]["value"] == 1
    run_stages(ctx, [Stage("one", "First", ok), Stage("report", "Report", ok, always=True)])
    run_stages(ctx, [Stage("one", "First", ok), Stage("report", "Report", ok, always=True)])
    assert calls[-3:] == ["ok", "ok", "ok"] and len(calls) == 6  # the report each time, the first stage not again


def test_configured_weights_win_over_standins(tmp_path, monkeypatch):
    mine = tmp_path / "vgg.pth"
    mine.write_bytes(b"x")
    monkeypatch.setenv("DIFFGEN_VGG_WEIGHTS", str(mine))
    assert weights_or_standin("vgg19", tmp_path / "standin") == (str(mine), False)
    assert not (tmp_path / "standin").exists()


def test_standins_load_through_the_real_loaders(tmp_path):
    from backend.metrics.fid import load_fid_inception
    from backend.style.networks import load_vgg

    vgg_path, random = weights_or_standin("vgg19", tmp_path)
    assert random
    vgg = load_vgg(vgg_path)
    assert vgg(torch.zeros(1, 3, 16, 16)).shape[1] == 128  # conv2_1
    fid_path, _ = weights_or_standin("fid_inception", tmp_path)
    ex = load_fid_inception(fid_path, "cpu")
    with torch.no_grad():
        feats = ex.model(torch.full((2, 3, 299, 299), 128.0))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    again, _ = weights_or_standin("vgg19", tmp_path)
    assert again == vgg_path  # written once, then reused


def test_an_unexpected_error_stops_with_a_message_and_a_saved_traceback(tmp_path):
    ws = Workspace.create(tmp_path / "ws")

    def broken(ctx):
        raise ValueError("imaginary component")

    with pytest.raises(DiffGenError, match=r"stage 'Broken': ValueError: imaginary component.*resume"):
        run_stages(DemoContext(ws, log=lambda s: None), [Stage("b", "Broken", broken)])
    assert "ValueError" in (ws.path("reports") / "demo" / "last-error.txt").read_text()
