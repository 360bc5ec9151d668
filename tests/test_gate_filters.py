"""The --only-passed filters (export, survey, segmentation sets) on a hand-made workspace whose
samples passed every gate, failed one, or were never scored: each filter leaves out exactly
the failed ones, keeps the unscored ones and counts them; the data card records the pass rate."""

from __future__ import annotations

import csv
import json

import pytest

from backend import survey as sv
from backend.cli import main as cli_main
from backend.errors import BadInputError, DiffGenError
from backend.exporters.job import export_kept
from backend.gates import GateConfig, GateScore, explain
from backend.segmentation.data import synthetic_sets
from backend.workspace import queries

CFG = GateConfig()


def scores(**worse: float) -> list[GateScore]:
    """Scores that pass every gate, but for the gates named, which get these failing values."""
    values = {"no_polyp": 0.9, "cut_off": 0.1, "copy": 0.2, "seam": 0.01} | worse
    passes = {
        "no_polyp": values["no_polyp"] >= CFG.min_area_ratio,
        "cut_off": values["cut_off"] <= CFG.max_boundary_touch,
        "copy": values["copy"] >= CFG.min_region_change,
        "seam": values["seam"] <= CFG.max_seam,
    }
    limits = {
        "no_polyp": CFG.min_area_ratio,
        "cut_off": CFG.max_boundary_touch,
        "copy": CFG.min_region_change,
        "seam": CFG.max_seam,
    }
    return [GateScore(g, v, limits[g], passes[g]) for g, v in values.items()]


@pytest.fixture
def gated(demo_ws):
    """Five inpainted samples, all kept: passed, failed no polyp, unscored, failed seam + copy, passed."""
    ws = demo_ws
    made = {}
    for name, i in zip(("passed", "no_polyp", "unscored", "seam", "passed2"), ws.image_ids()):
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        made[name] = ws.add_sample(
            "inpainted",
            "Diff",
            img[:, ::-1].copy(),
            mask[:, ::-1].copy(),
            source_image_id=i,
            mask_version_id=ws.current_mask(i).id,
            seed=i,
        ).id
        ws.set_review(made[name], "keep")
    ws.set_gates(made["passed"], scores())
    ws.set_gates(made["no_polyp"], scores(no_polyp=0.08))
    ws.set_gates(made["seam"], scores(seam=0.3, copy=0.001))
    ws.set_gates(made["passed2"], scores())
    return ws, made


def test_gate_filter_sorts_samples_into_passed_failed_and_unscored(gated):
    ws, m = gated
    f = queries.gate_filter(ws, [m["seam"], m["passed"], m["unscored"], m["no_polyp"], m["passed2"]])
    assert f.passed == (m["passed"], m["passed2"])
    assert f.failed == (m["seam"], m["no_polyp"])  # in the order given
    assert f.unscored == (m["unscored"],)
    assert f.kept == {m["passed"], m["passed2"], m["unscored"]}
    assert f.describe() == (
        "2 samples that failed a quality gate left out; 1 sample not scored yet included: 'diffgen gates' scores it"
    )
    assert queries.gate_failures(ws) == {m["no_polyp"]: ["no_polyp"], m["seam"]: ["copy", "seam"]}
    rate = queries.gate_pass_rate_of(ws, m.values(), "all")
    assert (rate.samples, rate.scored, rate.passed) == (5, 4, 2)
    assert rate.failed == {"no_polyp": 1, "cut_off": 0, "copy": 1, "seam": 1}
    assert rate.thresholds["no_polyp"] == [CFG.min_area_ratio]
    assert rate.mean["no_polyp"] == pytest.approx((0.9 * 3 + 0.08) / 4)


def test_explain_says_the_number_and_the_threshold():
    no_polyp = next(s for s in scores(no_polyp=0.08) if s.gate == "no_polyp")
    assert explain(no_polyp) == "no polyp: mask area 0.08 of the source's (needs >= 0.15)"
    seam = next(s for s in scores(seam=0.25) if s.gate == "seam")
    assert explain(seam) == "seam: colour step 0.250 at the region's border beyond the source's (needs <= 0.08)"


def _exported_ids(out) -> list[int]:
    return sorted(int(r["sample_id"]) for r in csv.DictReader(open(out / "provenance.csv", newline="")))


def test_export_only_passed_leaves_out_exactly_the_failed_and_the_card_has_the_pass_rate(gated, tmp_path):
    ws, m = gated
    everything = export_kept(ws, tmp_path / "all")
    assert _exported_ids(tmp_path / "all") == sorted(m.values()) and everything.gates is None
    card = (tmp_path / "all" / "README.md").read_text()
    assert (
        "Scored by the automatic quality gates (backend/gates.py): 4 of 5 (80%) synthetic pairs; "
        "passed every gate: 2 of 4 (50%) of the scored." in card
    )
    assert "| no polyp | 1 | 0.695 | 0.15 |" in card and "| seam | 1 |" in card and "| cut off | 0 |" in card

    report = export_kept(ws, tmp_path / "passed", only_passed=True)
    assert _exported_ids(tmp_path / "passed") == sorted([m["passed"], m["unscored"], m["passed2"]])
    assert report.samples == 3 and report.gates.failed == (m["no_polyp"], m["seam"])
    assert report.gates.unscored == (m["unscored"],)
    assert "2 samples that failed a quality gate left out; 1 sample not scored yet included" in report.summary()
    card = (tmp_path / "passed" / "README.md").read_text()
    assert "Exported with --only-passed: 2 samples that failed a quality gate left out" in card
    assert "2 of 3 (67%) synthetic pairs; passed every gate: 2 of 2 (100%)" in card
    rows = {int(r["sample_id"]): r for r in csv.DictReader(open(tmp_path / "passed" / "provenance.csv"))}
    assert json.loads(rows[m["passed"]]["gates"])["no_polyp"] == {"value": 0.9, "threshold": 0.15, "passed": True}
    assert rows[m["unscored"]]["gates"] == ""


def test_export_only_passed_with_every_kept_sample_failed_says_so(gated, tmp_path):
    ws, m = gated
    for name in ("passed", "unscored", "passed2"):
        ws.set_review(m[name], "reject")
    with pytest.raises(
        DiffGenError,
        match=r"all 2 samples marked 'keep' failed a quality gate; export without "
        r"--only-passed",
    ):
        export_kept(ws, tmp_path / "out", only_passed=True)
    assert not (tmp_path / "out").exists()


def test_cli_export_only_passed_prints_what_it_left_out(gated, tmp_path, capsys):
    ws, m = gated
    assert cli_main(["export", "--workspace", str(ws.root), str(tmp_path / "out"), "--only-passed"]) == 0
    out = capsys.readouterr().out
    assert "Exported 3 kept samples" in out and "2 samples that failed a quality gate left out" in out
    assert "1 sample not scored yet included" in out
    assert _exported_ids(tmp_path / "out") == sorted([m["passed"], m["unscored"], m["passed2"]])


def test_survey_only_passed_draws_no_failed_sample_and_counts_the_unscored(gated):
    ws, m = gated
    s = sv.create_survey(ws, sv.SurveyConfig("gated", {"real": 2, "inpainted": 3}, only_passed=True, seed=1))
    drawn = {i["sample_id"] for i in sv.items(ws, s) if i["sample_id"]}
    assert drawn == {m["passed"], m["unscored"], m["passed2"]}  # the whole pool that passed
    assert s.params["only_passed"] is True
    assert (s.params["gates"]["left_out"], s.params["gates"]["unscored"]) == (2, 1)
    with pytest.raises(
        BadInputError,
        match=r"needs 4 'inpainted' samples that passed the quality gates but the "
        r"workspace has 3",
    ):
        sv.create_survey(ws, sv.SurveyConfig("more", {"real": 2, "inpainted": 4}, only_passed=True))
    plain = sv.create_survey(ws, sv.SurveyConfig("plain", {"real": 1, "inpainted": 5}))
    assert {i["sample_id"] for i in sv.items(ws, plain) if i["sample_id"]} == set(m.values())
    assert plain.params["gates"] is None


def test_cli_survey_create_only_passed(gated, capsys):
    ws, m = gated
    assert (
        cli_main(
            [
                "survey",
                "create",
                "--workspace",
                str(ws.root),
                "--name",
                "g",
                "--real",
                "1",
                "--set",
                "inpainted:2",
                "--only-passed",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Quality gates: 2 samples that failed a quality gate left out" in out
    drawn = {i["sample_id"] for i in sv.items(ws, sv.get_survey(ws, "g")) if i["sample_id"]}
    assert drawn <= {m["passed"], m["unscored"], m["passed2"]} and len(drawn) == 2


def test_segmentation_sets_only_passed(gated):
    ws, m = gated
    ws.set_review(m["passed2"], "reject")  # rejected samples stay out either way
    sets, gates = synthetic_sets(ws, only_passed=True)
    assert sorted(s.id for s in sets["Diff"]) == sorted([m["passed"], m["unscored"]])
    assert gates.failed == (m["no_polyp"], m["seam"]) and gates.unscored == (m["unscored"],)
    sets, gates = synthetic_sets(ws)
    assert gates is None and sorted(s.id for s in sets["Diff"]) == sorted([m["passed"], m["no_polyp"], m["unscored"], m["seam"]])
