"""``diffgen demo --sampler``: the demo's inpainting runs on the sampler asked for, and every sample's
provenance says so (issue 30: a fast sampler end to end in the demo)."""

from __future__ import annotations

from test_demo_end_to_end import MICRO, PLAN

from backend.demo.plan import DemoContext, run_stages
from backend.demo.stages import STAGES
from backend.jobs import joblog
from backend.workspace import Workspace

FULL_SET_PATH = ("data", "weights", "train_full", "inpaint_full")  # the cluster stages take the same sampler


def test_the_demos_inpainting_uses_the_sampler_asked_for(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    ctx = DemoContext(ws, preset=MICRO, count=12, size=32, plan=PLAN, log=lambda s: None, sampler="ddnm")
    summaries = run_stages(ctx, [s for s in STAGES if s.name in FULL_SET_PATH])
    made = ws.samples(kind="inpainted")
    assert summaries["inpaint_full"]["samples"] == len(made) > 0
    assert {s.params["sampler"] for s in made} == {"ddnm"} and {s.set_name for s in made} == {"Full-Diff"}
    # each stage ran as a job through the one runner, as its command would: a row and a log
    jobs = ws.query("SELECT id, kind, status FROM jobs ORDER BY id")
    assert [(kind, status) for _, kind, status in jobs] == [("import", "done"), ("train", "done"), ("inpaint", "done")]
    assert all(joblog.read(ws, job_id)[0].splitlines()[-1].split("  ", 1)[1].startswith("done: ") for job_id, _, _ in jobs)
