"""The segmentation experiment set end to end on tiny data: leakage-free splits, resumable
runs recorded in seg_runs, the report's tables agreeing with the database, and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from backend.cli import main
from backend.diffusion.registry import register_model
from backend.errors import Cancelled
from backend.jobs.context import JobContext
from backend.segmentation import run_segment
from backend.segmentation.config import load_config
from backend.segmentation.data import HOLD_OUT_NOTE, RANDOM_HOLD_OUT, TEST_ROLE, image_split, synthetic_sets
from backend.segmentation.params import SegmentParams
from backend.segmentation.plan import Planner
from backend.workspace import Workspace
from backend.workspace.selection import ImageSelection

# 32 px, a 3-stage encoder and one epoch: each run takes well under a second of compute.
TINY = [
    "segment.image_size=32",
    "segment.encoder_depth=3",
    "segment.decoder_channels=[16,8,4]",
    "segment.epochs=1",
    "segment.min_steps=0",
    "segment.batch_size=4",
    "segment.small_n=[4,6,64]",
    "segment.small_n_r=[1,2]",
    "segment.synthetic_multiples=[1,2]",
]


def _segment(ws, params: dict, **ctx):
    """run_segment with params as a job stores them and the context's callbacks."""
    return run_segment(ws, SegmentParams.from_dict(params), JobContext(**ctx))


def add_fake_sets(ws: Workspace) -> None:
    """Stand-ins for generated sets: 3 colour-jittered / flipped copies per image ('Diff',
    the test images included so that leakage would show) and one blurred copy ('GAN')."""
    rng = np.random.default_rng(0)
    for image_id in ws.image_ids():
        img, mv = ws.read_image(image_id), ws.current_mask(image_id)
        mask = ws.read_mask(mv)
        for k in range(3):
            i2, m2 = (img[:, ::-1], mask[:, ::-1]) if k % 2 else (img, mask)
            jit = np.clip(i2 * rng.uniform(0.85, 1.15, 3), 0, 255).astype(np.uint8)
            ws.add_sample("inpainted", "Diff", jit, m2, source_image_id=image_id, mask_version_id=mv.id, seed=k)
        blur = (0.5 * img + 0.5 * img.mean()).astype(np.uint8)
        ws.add_sample("external", "GAN", blur, mask, source_image_id=image_id)


@pytest.fixture
def seg_ws(demo_ws) -> Workspace:
    for image_id in (3, 8):  # two images a reviewer flagged: never used by segmentation
        demo_ws.set_flag(image_id, True, "bad mask")
    add_fake_sets(demo_ws)
    return demo_ws


def _sources(ws, refs) -> set[int]:
    return {ws.sample(r.id).source_image_id for r in refs if r.kind == "sample"}


def _images(refs) -> set[int]:
    return {r.id for r in refs if r.kind == "image"}


def test_no_test_image_reaches_training_or_generation(seg_ws):
    cfg = load_config("tiny", TINY, seeds=[0, 1])
    split = image_split(seg_ws, cfg)
    test = set(split.test)
    assert test and not test & set(split.pool)
    planner = Planner(cfg, split, synthetic_sets(seg_ws)[0])
    specs = planner.runs(["real", "synthetic", "augment", "small-n"])
    assert {s.mode for s in specs} == {"real", "synthetic", "augment", "small-n"}
    for spec in specs:
        train, val = spec.plan.refs(), set(spec.val)
        assert not (_images(train) | _images(val)) & test, spec.label
        assert not (_sources(seg_ws, train) | _sources(seg_ws, val)) & test, spec.label
        assert not _images(train) & _images(val)
    small = [s for s in specs if s.mode == "small-n"]
    assert {s.n_real for s in small} == {4, 6, len(split.pool)}  # 64 is capped at the pool
    for spec in small:
        real_train = _images(spec.plan.refs())
        assert len(real_train) + len(spec.val) == spec.n_real
        # synthetic samples come only from this run's own real training images
        assert _sources(seg_ws, spec.plan.refs()) <= real_train
        if spec.r:
            assert len(spec.plan) == len(real_train) * (1 + spec.r)
    # subsets are nested for one seed (N=4 inside N=6), and differ between seeds
    reals = {(s.seed, s.n_real): _images(s.plan.refs()) | _images(s.val) for s in small if s.r == 0}
    assert reals[(0, 4)] <= reals[(0, 6)] and reals[(0, 6)] != reals[(1, 6)]


def test_missing_sets_are_skipped_with_a_message(demo_ws):
    result = _segment(demo_ws, {"preset": "tiny", "overrides": TINY, "experiments": ["synthetic", "augment"]})
    assert any("no synthetic samples" in n for n in result.notes)
    assert {t["label"] for t in result.trained} == {"Real", "Real (no Control)"}


def test_interrupted_set_resumes_skipping_finished_runs(seg_ws):
    params = {"preset": "tiny", "overrides": TINY, "experiments": ["augment"]}
    finished = lambda: seg_ws.query("SELECT COUNT(*) FROM seg_runs WHERE status = 'done'")[0][0]  # noqa: E731
    with pytest.raises(Cancelled):
        _segment(seg_ws, params, cancel=lambda: finished() >= 2)
    rows = seg_ws.query("SELECT run_key, status, path FROM seg_runs")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"done"}
    for r in rows:  # each finished run left its checkpoint and record
        assert (seg_ws.path(r["path"]) / "best.safetensors").is_file()
    calls = []
    result = _segment(seg_ws, params, progress=lambda d, t, m: calls.append((d, t)))
    assert sorted(result.skipped) == sorted(r["run_key"] for r in rows)
    assert len(result.trained) == 4 and not result.failed  # Real x2 + (Diff, GAN) x Control on/off
    assert calls[-1][0] == calls[-1][1]  # progress reaches its total
    again = _segment(seg_ws, params)
    assert again.trained == () and len(again.skipped) == 6
    assert seg_ws.query("SELECT COUNT(*) FROM seg_runs")[0][0] == 6


def test_unreadable_sample_is_reported_and_the_run_goes_on(seg_ws):
    broken = seg_ws.samples(set_name="GAN")[0]
    seg_ws.path(broken.image_path).write_bytes(b"not a png")
    over = TINY + ["segment.synthetic_multiples=[1]"]
    result = _segment(seg_ws, {"preset": "tiny", "overrides": over, "experiments": ["synthetic"]})
    assert any(str(seg_ws.path(broken.image_path)) in n for n in result.notes)
    assert {t["label"] for t in result.trained} == {"Diff-1", "GAN-1"} and not result.failed


def test_cli_runs_small_n_and_report_tables_match_the_database(seg_ws, capsys):
    ws_arg = ["--workspace", str(seg_ws.root)]
    over = [a for o in TINY + ["segment.small_n=[4,6]", "segment.small_n_r=[1]"] for a in ("--set", o)]
    assert main(["segment", *ws_arg, "--experiment", "small-n", "--experiment", "real", "--seeds", "0", "1", *over]) == 0
    assert main(["segment", "report", *ws_arg]) == 0
    out = seg_ws.root / "reports" / "segmentation"
    md = (out / "segmentation.md").read_text()
    assert "Table 3" in md and "Table 6" in md and "(n=2)" in md
    assert (out / "iou_vs_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = [
        json.loads(r["params_json"]) | json.loads(r["metrics_json"])
        for r in seg_ws.query("SELECT params_json, metrics_json FROM seg_runs WHERE status = 'done'")
    ]
    assert len(runs) == 2 * (1 + 2 * 3)  # 2 seeds x (Real + N in {4, 6} x {Real, Diff r=1, GAN r=1})
    with open(out / "tables.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["table"] == "table6":
            match = [
                r["iou"]
                for r in runs
                if r["mode"] == "small-n"
                and r["n_real"] == int(row["N"])
                and r["r"] == int(row["r"])
                and (r["set_name"] or "Real") == row["data_type"]
            ]
        else:
            match = [r["iou"] for r in runs if r["mode"] == "real" and r["control"]]
        assert len(match) == 2 and float(row["iou_mean"]) == pytest.approx(np.mean(match))
        assert float(row["iou_sd"]) == pytest.approx(np.std(match, ddof=1))


def test_test_role_is_the_test_set_and_type_n_counts_training_images(seg_ws):
    seg_ws.set_role([1, 2], "test")
    cfg = load_config("tiny", TINY)
    split = image_split(seg_ws, cfg)
    assert (split.test, split.protocol) == ((1, 2), TEST_ROLE)
    assert split.pool == (4, 5, 6, 7, 9, 10, 11, 12)  # 3 and 8 are flagged
    assert seg_ws.role_counts() == {"train": 10, "test": 2}  # nothing drawn
    runs = {s.label: s for s in Planner(cfg, split, synthetic_sets(seg_ws)[0]).synthetic(0)}
    # Type-N: N x 8 training images; validation = the samples of round(0.2 x 8) = 2 validation images
    counts = {label: (len(s.plan), len(s.val)) for label, s in runs.items()}
    assert counts == {"Diff-1": (6, 2), "Diff-2": (12, 4), "GAN-1": (6, 2)}  # GAN has 1 sample an image
    for s in runs.values():
        assert not (_sources(seg_ws, s.plan.refs()) | _sources(seg_ws, s.val)) & {1, 2}


def test_without_a_test_role_a_random_hold_out_is_drawn_once_and_stored(seg_ws):
    folder = seg_ws.path("models/earlier")
    register_model(seg_ws, "earlier", "full", "tiny", {}, folder)
    cfg = load_config("tiny", TINY)
    usable = [4, 5, 6, 7, 9, 10, 11, 12, 1, 2]  # every unflagged image (3 and 8 are flagged)
    drawn = sorted(int(i) for i in np.random.default_rng(cfg.split_seed).permutation(sorted(usable))[:2])
    split = image_split(seg_ws, cfg)  # 2 = min(test_size 200, round(0.2 x 10))
    assert split.test == tuple(drawn) and split.protocol == RANDOM_HOLD_OUT
    assert [r.id for r in seg_ws.images("role = 'test'")] == drawn
    note = seg_ws.image(drawn[0]).role_note
    assert note.startswith(HOLD_OUT_NOTE) and "1 diffusion model was trained before" in note
    assert image_split(seg_ws, load_config("tiny", TINY + ["segment.split_seed=7"])).test == split.test  # once
    assert not set(ImageSelection.from_params({"all": True}).resolve(seg_ws)) & set(drawn)  # generation leaves it out too
    result = _segment(seg_ws, {"preset": "tiny", "overrides": TINY, "experiments": ["synthetic"]})
    assert result.protocol.startswith(f"{RANDOM_HOLD_OUT}: {HOLD_OUT_NOTE}")
    # add_fake_sets made 3 Diff + 1 GAN samples from each image, the 2 drawn ones included
    assert "8 synthetic samples were made from test images (before they were held out): never used here" in result.notes


def test_the_report_says_which_protocol_ran(seg_ws):
    seg_ws.set_role([1, 2], "test")
    ws_arg = ["--workspace", str(seg_ws.root)]
    over = [a for o in TINY for a in ("--set", o)]
    assert main(["segment", *ws_arg, "--experiment", "real", *over]) == 0
    assert main(["segment", "report", *ws_arg]) == 0
    md = (seg_ws.root / "reports" / "segmentation" / "segmentation.md").read_text()
    assert "Test set: 2 held-out real images; protocol: test role: the 2 usable images marked" in md


def test_only_passed_leaves_failed_samples_out_of_every_run_and_the_report_says_so(seg_ws, capsys):
    from backend.gates import GateScore

    diff = seg_ws.samples(set_name="Diff")
    failed = {s.id for s in diff[::2]}
    for s in diff:
        seg_ws.set_gates(s.id, [GateScore("no_polyp", 0.05 if s.id in failed else 0.9, 0.15, s.id not in failed)])
    ws_arg = ["--workspace", str(seg_ws.root)]
    over = [a for o in TINY + ["segment.synthetic_multiples=[1]"] for a in ("--set", o)]
    assert main(["segment", *ws_arg, "--experiment", "synthetic", "--only-passed", *over]) == 0
    out = capsys.readouterr().out
    unscored = len(seg_ws.samples(set_name="GAN"))  # the stand-in GAN set has no scores: kept, and counted
    assert (
        f"note: synthetic sets, quality gates (--only-passed): {len(failed)} samples that failed a quality gate "
        f"left out; {unscored} samples not scored yet included"
    ) in out
    rows = seg_ws.query("SELECT params_json, path FROM seg_runs WHERE status = 'done'")
    trained_on = set()
    for r in rows:
        record = json.loads((seg_ws.path(r["path"]) / "run.json").read_text())
        trained_on |= {int(ref.split(":")[1]) for ref in record["train"] + record["val"] if ref.startswith("sample:")}
        assert json.loads(r["params_json"])["gates_left_out"] == len(failed)
    assert trained_on and not trained_on & failed
    assert trained_on & {s.id for s in diff if s.id not in failed}  # the passed ones are used
    assert main(["segment", "report", *ws_arg]) == 0
    md = (seg_ws.root / "reports" / "segmentation" / "segmentation.md").read_text()
    assert f"Synthetic sets filtered by the quality gates (--only-passed): {len(failed)} samples that failed" in md


@pytest.mark.parametrize(("counts", "expected"), [("train+val", {4: (3, 1), 6: (5, 1)}), ("train", {4: (4, 1), 6: (6, 2)})])
def test_small_n_counts_train_and_validation_or_training_images_only(seg_ws, counts, expected):
    """Table 6's N: the 80/20 split of N images (the paper's protocol everywhere else; N=16
    trains on 13), or N training images with val_fraction's share of validation on top."""
    cfg = load_config("tiny", [*TINY, "segment.small_n=[4,6]", "segment.small_n_r=[1]", f"segment.small_n_counts={counts}"])
    split = image_split(seg_ws, cfg)
    real = [s for s in Planner(cfg, split, synthetic_sets(seg_ws)[0]).small_n(0) if s.set_name is None]
    assert {s.n_real: (len(s.plan), len(s.val)) for s in real} == expected
    for s in real:
        assert not _images(s.plan.refs()) & _images(s.val)


def test_cli_n_counts_train_reaches_the_runs_and_the_report_says_what_n_counted(seg_ws):
    ws_arg = ["--workspace", str(seg_ws.root)]
    over = [a for o in TINY + ["segment.small_n=[4]", "segment.small_n_r=[1]"] for a in ("--set", o)]
    assert main(["segment", *ws_arg, "--experiment", "small-n", "--seeds", "0", "--n-counts", "train", *over]) == 0
    assert main(["segment", "report", *ws_arg]) == 0
    md = (seg_ws.root / "reports" / "segmentation" / "segmentation.md").read_text()
    assert "N counts training images; validation images come on top" in md
    assert "N=4: 4 training + 1 validation images" in md


def test_mix_compares_real_with_each_set_and_both_at_equal_synthetic_counts_on_one_split(seg_ws):
    """Issue 34 item 6: Real, Real + Diff, Real + GAN, Real + Diff + GAN; every '+' row adds as
    many samples (GAN holds 1 an image: the count is capped there, and said), all from the
    seed's training images, the 'both' row half from each; the split is the real row's."""
    cfg = load_config("tiny", TINY + ['segment.mix_sets=["Diff", "GAN"]', "segment.mix_r=2"])
    split = image_split(seg_ws, cfg)
    planner = Planner(cfg, split, synthetic_sets(seg_ws)[0])
    runs = {s.label: s for s in planner.mix(0)}
    assert list(runs) == ["Real", "Real + Diff", "Real + GAN", "Real + Diff + GAN"]
    (real,) = planner.real(0)
    train = _images(real.plan.refs())
    for s in runs.values():
        assert _images(s.plan.refs()) == train and s.val == real.val
        assert _sources(seg_ws, s.plan.refs()) <= train
    synthetic = {label: [seg_ws.sample(r.id).set_name for r in s.plan.refs() if r.kind == "sample"] for label, s in runs.items()}
    assert {label: len(v) for label, v in synthetic.items()} == dict.fromkeys(runs, len(train)) | {"Real": 0}
    both = synthetic["Real + Diff + GAN"]
    assert both.count("Diff") == both.count("GAN") == len(train) // 2
    assert any(f"mix: {len(train)} synthetic samples a row, not {2 * len(train)}" in n for n in planner.notes)
    cfg_missing = load_config("tiny", TINY + ['segment.mix_sets=["Diff", "Mask-Diff"]'])
    missing = Planner(cfg_missing, split, synthetic_sets(seg_ws)[0])
    assert missing.mix(0) == [] and any("'Mask-Diff' not in the workspace" in n for n in missing.notes)


def test_the_mix_table_reports_each_row_with_its_seeds_and_noise(seg_ws):
    over = TINY + ['segment.mix_sets=["Diff", "GAN"]', "segment.mix_r=1"]
    _segment(seg_ws, {"preset": "tiny", "overrides": over, "experiments": ["mix"], "seeds": [0, 1, 2]})
    from backend.segmentation.report import write_report

    md = open(write_report(seg_ws)["markdown"]).read()
    table = md.split("## Table 6b")[1]
    rows = [line for line in table.splitlines() if line.startswith("| Real")]
    assert [r.split("|")[1].strip() for r in rows] == ["Real", "Real + Diff", "Real + GAN", "Real + Diff + GAN"]
    assert all("0, 1, 2" in r and "(n=3)" in r for r in rows)
    assert all(" noise: 2 SE = " in r for r in rows[1:])
    assert "same held-out real images" in table and "says nothing either way" in table
    assert "mixes the added data with the longer training" in table
