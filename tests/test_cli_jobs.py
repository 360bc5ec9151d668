"""Every CLI stage runs through the one runner (issue 29): a run leaves a job row with the
parameters it ran with, its status and result, and a log written as it ran; a refused run is a
failed row whose log holds the error while the command still prints its clear message; and the
app's child process makes the same files as the CLI from the same parameters."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
from _metrics_helpers import save_random_inception, small_extractor
from test_segmentation_experiments import TINY as SEGMENT

import backend.metrics.evaluate as evaluate
from backend.cli import main
from backend.data.demo import write_demo_dataset
from backend.data.sets import import_external_set
from backend.jobs import queue as jobs
from backend.jobs.joblog import log_path
from backend.jobs.process import JobProcess
from backend.jobs.queue import JobRecord, JobStore
from backend.style.terms import LAMBDAS
from backend.workspace import Workspace
from tests.diffusion_micro import MICRO_OVERRIDES

MICRO = [x for o in [*MICRO_OVERRIDES, "train.sample_count=0"] for x in ("--set", o)]
INPAINT = ["--all", "--samples", "1", "--seed", "3", "--device", "cpu", "--respacing", "4"]
INPAINT += ["--jump-length", "1", "--jump-n-sample", "1", "--no-sheet"]
STYLE = ["--all-unstyled", "--set", "style.skip_timesteps=2", "--seed", "5", "--device", "cpu"]
STYLE += [x for t in LAMBDAS for x in (f"--lambda-{t}", "0")]  # no loss network: plain guided steps


def _newest(ws: Workspace) -> JobRecord:
    return JobStore(ws).get(ws.query("SELECT MAX(id) FROM jobs")[0][0])


def _recorded(ws: Workspace, kind: str, **params) -> JobRecord:
    """The run's job: done, with the given parameters, a result, and a log that says so."""
    job = _newest(ws)
    assert (job.kind, job.status) == (kind, "done"), (job.kind, job.status, job.message)
    assert {k: job.params.get(k) for k in params} == params
    assert job.result and job.pid is not None and job.started_at and job.finished_at
    log = log_path(ws, job.id).read_text(encoding="utf-8")
    assert f"started: {job.describe()}" in log and f"done: {job.message}" in log, log
    return job


def _run(argv: list[str], capsys) -> str:
    assert main(argv) == 0, capsys.readouterr()
    captured = capsys.readouterr()
    return captured.out


@pytest.fixture
def trained(demo_ws, capsys) -> Workspace:
    """The demo workspace with a micro full-set model trained by ``diffgen train``."""
    ws = str(demo_ws.root)
    out = _run(["train", "-w", ws, "--device", "cpu", "--steps", "2", "--name", "micro", *MICRO], capsys)
    assert "Trained micro (full set" in out
    return demo_ws


def test_train_inpaint_style_and_masks_from_the_cli_are_jobs_with_a_log(trained, capsys):
    ws, root = trained, str(trained.root)
    train = _recorded(ws, "train", name="micro", steps=2, device="cpu")
    assert train.result["models"][0]["name"] == "micro" and train.describe() == "train · full · tiny · model micro"

    out = _run(["inpaint", "-w", root, *INPAINT], capsys)
    assert out.startswith("note: images are not clustered") and "Wrote 12 inpainted samples from 12 images (seed 3" in out
    inpaint = _recorded(ws, "inpaint", seed=3, samples=1, all=True, model="cluster")
    assert inpaint.result["samples"] == 12
    made_by = ws.query("SELECT DISTINCT job_id FROM samples WHERE kind = 'inpainted'")
    assert [r[0] for r in made_by] == [inpaint.id]  # the job is their provenance

    out = _run(["style", "-w", root, *STYLE], capsys)
    assert out.startswith("Styled 12 of 12 samples")
    style = _recorded(ws, "style", seed=5, overrides=["style.skip_timesteps=2"])
    assert len(style.result["styled"]) == 12

    out = _run(["dilate", "-w", root, "--pixels", "-1", "--images", "1,2"], capsys)
    assert out == "Created 2 new mask versions (erode 1 px); originals untouched.\n"
    masks = _recorded(ws, "masks", operation="erode", op_params={"pixels": 1}, images=[1, 2])
    assert [ws.current_mask(i).params["job_id"] for i in (1, 2)] == [masks.id, masks.id]

    assert [j.id for j in JobStore(ws).list()] == [masks.id, style.id, inpaint.id, train.id]
    assert _run(["jobs", "list", "-w", root], capsys).splitlines()[0].split()[:2] == [str(masks.id), "done"]


def test_segment_evaluate_and_cluster_from_the_cli_are_jobs_with_a_log(demo_ws, tmp_path, monkeypatch, capsys):
    root = str(demo_ws.root)
    over = [x for o in SEGMENT for x in ("--set", o)]
    out = _run(["segment", "-w", root, "--experiment", "real", "--seeds", "0", "--device", "cpu", *over], capsys)
    assert "trained Real" in out
    segment = _recorded(demo_ws, "segment", experiments=["real"], seeds=[0], preset="tiny")
    assert segment.result["trained"]

    write_demo_dataset(tmp_path / "gan", count=8, size=48, seed=5)
    import_external_set(demo_ws, tmp_path / "gan", "GAN")
    monkeypatch.setattr(evaluate, "load_fid_inception", lambda *a, **k: small_extractor(8))
    out = _run(["evaluate", "-w", root, "--pairs", "4", "--set", "GAN", "--subsets", "2"], capsys)
    assert out.startswith("# Intrinsic evaluation")
    job = _recorded(demo_ws, "evaluate", sets=["GAN"], pairs=4, subsets=2)
    assert job.describe() == "evaluate"  # no image selection: no "all images"
    assert demo_ws.path(job.result["paths"]["markdown"]).read_text() in out

    weights = save_random_inception(tmp_path / "inception.pth")
    argv = ["cluster", "-w", root, "--k", "2", "--min-cluster-size", "1", "--inception-weights", str(weights)]
    assert "in 2 clusters" in _run(argv, capsys)
    assert _recorded(demo_ws, "cluster", k=2, inception_weights=str(weights)).result["k"] == 2


def test_gates_audit_and_judge_from_the_cli_are_jobs_with_a_log(demo_ws, tmp_path, capsys):
    root = str(demo_ws.root)
    write_demo_dataset(tmp_path / "gan", count=4, size=48, seed=5)
    out = _run(["import-set", "-w", root, str(tmp_path / "gan"), "--name", "GAN"], capsys)
    assert out == "Set 'GAN': 4 images added, 0 already present, 0 without a mask, 0 rejected.\n"
    assert _recorded(demo_ws, "import-set", name="GAN").result["added"] == 4

    out = _run(["gates", "-w", root], capsys)
    gates = _recorded(demo_ws, "gates", rescore=False, preset=None)
    assert (gates.result["scored"], gates.result["unscorable"]) == (0, 4)
    assert out.startswith("4 sample(s) cannot be scored: not inpainted from a workspace image")

    out = _run(["audit", "-w", root, "--set", "GAN", "--k", "2", "--pixels-only"], capsys)
    audit = _recorded(demo_ws, "audit", set_name="GAN", k=2, pixels_only=True)
    memorised, samples = audit.result["sets"]["GAN"]
    assert samples == 4 and audit.result["record"]["samples"] == 4
    assert out.startswith(audit.message + ".\n") and f"  GAN: {memorised} of 4 memorised\n" in out
    assert f"Closest: {audit.result['closest']}\n" in out and demo_ws.path(audit.result["report"]).is_file()
    assert len(demo_ws.gates(demo_ws.samples(set_name="GAN")[0].id)) == 1  # the memorised gate

    out = _run(["judge", "train", "-w", root, "--steps", "10", "--size", "32", "--seed", "1"], capsys)
    judge = _recorded(demo_ws, "judge", steps=10, image_size=32, seed=1, device="cpu")
    assert out == judge.message + "\n" and out.startswith("Trained judge/judge-")
    assert judge.result["trained"] and demo_ws.path(judge.result["path"]).is_file()
    out = _run(["judge", "train", "-w", root, "--steps", "10", "--size", "32", "--seed", "1"], capsys)
    again = _recorded(demo_ws, "judge", steps=10)
    assert not again.result["trained"] and again.result["path"] == judge.result["path"]
    assert out.startswith("Up to date (training images and masks unchanged): judge/judge-")

    assert main(["audit", "-w", root, "--side", "4"]) == 1  # checked by the audit's settings
    failed = _newest(demo_ws)
    assert (failed.kind, failed.status) == ("audit", "failed")
    assert capsys.readouterr().err.endswith("error: audit side must be between 8 and 256, not 4\n")
    assert main(["jobs", "add", "audit", "-w", root, "--k", "0"]) == 1  # refused before it enters the queue
    assert "audit k must be between 1 and 100, not 0" in capsys.readouterr().err
    assert _newest(demo_ws).id == failed.id


def test_a_refused_cli_run_is_a_failed_job_whose_log_holds_the_error(demo_ws, capsys):
    assert main(["inpaint", "-w", str(demo_ws.root), "--model", "full", *INPAINT]) == 1
    err = capsys.readouterr().err
    job = _newest(demo_ws)
    assert (job.kind, job.status, job.params["model"]) == ("inpaint", "failed", "full")
    assert err.endswith(f"error: {job.message}\n") and "Traceback" not in err
    assert f"job {job.id}; its log: {log_path(demo_ws, job.id)}" in err
    assert f"failed: {job.message}" in log_path(demo_ws, job.id).read_text(encoding="utf-8")


def _digests(ws: Workspace) -> dict[str, str]:
    """Every mask and sample file of the workspace by what it is, not by its (dated) name."""
    files = {f"mask {i}": ws.path(ws.current_mask(i).path) for i in ws.image_ids()}
    for s in ws.samples(kind="inpainted"):
        files[f"sample of image {s.source_image_id}, seed {s.seed}"] = ws.path(s.image_path)
        files[f"sample of image {s.source_image_id}, seed {s.seed}, mask"] = ws.path(s.mask_path)
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in files.items()}


def test_the_app_child_and_the_cli_make_the_same_files_from_the_same_parameters(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread in both processes: the same float sums
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        app = Workspace.open(shutil.copytree(trained.root, tmp_path / "app-ws"))
        cli, runs = trained, []
        for argv in (["dilate", "--pixels", "2"], ["inpaint", *INPAINT]):
            _run([argv[0], "-w", str(cli.root), *argv[1:]], capsys)
            runs.append(_newest(cli))
    finally:
        torch.set_num_threads(threads)
    store = JobStore(app)
    for run in runs:  # the app queues the parameters the CLI ran with and runs them in its child
        job_id = store.enqueue(run.kind, run.params)
        assert store.claim_next().id == job_id
        process = JobProcess(app, job_id)
        for _ in process.events():
            pass
        rec = process.finish(store)
        assert rec.status == "done", rec.message
        assert log_path(app, job_id).read_text(encoding="utf-8").count("done: ") == 1
    assert len(app.samples(kind="inpainted")) == 12
    assert _digests(app) == _digests(cli)


def test_ctrl_c_in_a_cli_run_leaves_a_cancelled_row_not_a_running_one(demo_ws, monkeypatch, capsys):
    """A Ctrl-C went past the runner: the row stayed 'running' until a later start found its
    process gone and called it interrupted."""

    def interrupted(ws, params, ctx):
        ctx.report(1, 5, "first image")
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "run_masks", interrupted)
    assert main(["dilate", "-w", str(demo_ws.root), "--pixels", "1"]) == 130
    assert capsys.readouterr().err.endswith("interrupted\n")
    job = _newest(demo_ws)
    assert (job.kind, job.status, job.message) == ("masks", "cancelled", "cancelled by the user (interrupted)")
    assert log_path(demo_ws, job.id).read_text(encoding="utf-8").splitlines()[-1].endswith("cancelled: " + job.message)
