"""The memorisation audit end to end: planted copies in a workspace (the issue's measured
check), the stored rows and their training-set key, the region of inpainted samples, the
``memorised`` gate in the filters, and ``diffgen audit``'s output and report."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from _audit_helpers import FRESH_N, planted_workspace

import backend.workspace.store as store_mod
from backend.audit.params import AuditConfig
from backend.audit.run import LEAVE_ONE_OUT, audit_samples
from backend.audit.store import nearest_of
from backend.cli import main
from backend.errors import BadInputError, DiffGenError
from backend.gates import GateScore, explain
from backend.inpaint.config import InpaintConfig
from backend.workspace import TEST, TRAIN, Workspace, now, queries
from backend.workspace.schema import MIGRATIONS, SCHEMA_VERSION


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    ws, made = planted_workspace(root)
    return root, made


@pytest.fixture
def fresh_copy(planted, tmp_path):
    """A copy of the planted workspace a test may change."""
    root, made = planted
    shutil.copytree(root / "ws", tmp_path / "ws")
    return Workspace.open(tmp_path / "ws"), made


def test_planted_copies_are_all_flagged_and_fresh_real_images_almost_never(fresh_copy, capsys):
    ws, made = fresh_copy
    assert main(["audit", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    failed = queries.gate_failures(ws)
    flagged = {sid for sid, gates in failed.items() if "memorised" in gates}
    copies = set(made["Exact"] + made["Perturbed"] + made["Mirrored"])
    assert copies <= flagged  # all 30: exact, noisy + shifted + JPEG, mirrored
    assert len(flagged & set(made["Fresh-real"])) <= 0.05 * FRESH_N
    assert f"{len(flagged)} of {len(ws.samples())} samples memorised" in out
    assert "held-out test-role images" in out and "Report: " in out
    # each copy's nearest training image is the one it was made from, mirrored as it was
    train = ws.images("role = ?", (TRAIN,))
    rows = {r["sample_id"]: r for r in ws.query("SELECT * FROM sample_audit WHERE method = 'pixel32-frame'")}
    for i, sid in enumerate(made["Exact"] + made["Perturbed"] + made["Mirrored"]):
        assert rows[sid]["nearest_image_id"] == train[i].id
    assert {rows[sid]["flip"] for sid in made["Mirrored"]} == {"horizontal", "vertical"}
    assert {rows[sid]["flip"] for sid in made["Exact"]} == {"none"}
    # the gate filter of --only-passed and the Review filter leaves them out
    kept = queries.gate_filter(ws, [s.id for s in ws.samples()]).kept
    assert not copies & kept and len(kept) >= 0.95 * FRESH_N
    report = next((ws.root / "reports").glob("audit-*/audit.md")).read_text()
    assert "30 of" not in report or "samples (" in report
    assert "![" in report and "audit_closest_pairs.png" in report and "Memorisation audit" in report


def test_a_second_audit_reuses_the_stored_rows_until_the_training_set_changes(fresh_copy):
    ws, _ = fresh_copy
    first = audit_samples(ws, "Exact")
    assert first.computed_now == 10 and len(first.flagged) == 10
    again = audit_samples(ws, "Exact")
    assert again.computed_now == 0 and again.fingerprint == first.fingerprint
    assert [v.ratio for v in again.verdicts] == [v.ratio for v in first.verdicts]
    test_ids = [r.id for r in ws.images("role = ?", (TEST,))]
    ws.set_role(test_ids[:1], TRAIN)  # one more training image: a new training set
    changed = audit_samples(ws, "Exact")
    assert changed.fingerprint != first.fingerprint and changed.computed_now == 10
    assert audit_samples(ws, "Exact", AuditConfig(k=3)).computed_now == 10  # other settings, other distances


def test_without_test_images_the_threshold_comes_from_leave_one_out(fresh_copy):
    ws, made = fresh_copy
    ws.set_role([r.id for r in ws.images("role = ?", (TEST,))], TRAIN)
    result = audit_samples(ws, "Mirrored")
    assert result.reference.source == LEAVE_ONE_OUT and len(result.flagged) == 10
    assert len(result.reference.scores["pixel32-frame"]) == len(ws.images())


def _inpainted(ws: Workspace, source_id: int, region_from: np.ndarray, set_name: str) -> int:
    """An 'inpainted' sample of ``source_id``: its image with the (dilated) mask region
    replaced by the same pixels of ``region_from``."""
    img = ws.read_image(source_id)
    mask = ws.read_mask(ws.current_mask(source_id))
    region = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
    out = img.copy()
    out[region] = region_from[region]
    return ws.add_sample(
        "inpainted",
        set_name,
        out,
        mask,
        source_image_id=source_id,
        mask_version_id=ws.current_mask(source_id).id,
        params={"resolution": img.shape[0], "dilation": 2, "preset": "tiny"},
    ).id


def test_an_inpainted_sample_is_judged_on_its_region_and_caught_copying_another_training_image(fresh_copy):
    from backend.data.demo import generate_item

    ws, _ = fresh_copy
    train = [r for r in ws.images("role = ?", (TRAIN,)) if r.current_mask_id is not None and ws.current_mask(r.id).area > 0]
    a, b = train[0], train[1]
    copied = _inpainted(ws, a.id, ws.read_image(b), "Copied-region")
    [_inpainted(ws, r.id, generate_item(99, i, a.width).image, "Fresh-region") for i, r in enumerate(train[2:8])]
    result = audit_samples(ws, "Copied-region")
    (v,) = result.verdicts
    assert v.method == "pixel32-region" and v.nearest_image_id == b.id and v.memorised
    others = audit_samples(ws, "Fresh-region")
    assert {x.method for x in others.verdicts} == {"pixel32-region"}
    assert v.ratio < 0.2 < 0.5 < min(x.ratio for x in others.verdicts) and len(others.flagged) <= 1  # 20 real images calibrate
    frame = {r[0]: r[1] for r in ws.query("SELECT sample_id, nearest_image_id FROM sample_audit WHERE method = 'pixel32-frame'")}
    assert frame[copied] == a.id  # on the whole frame the sample is its source: only the region shows the copy of b
    shown = nearest_of(ws, copied)  # what Review shows beside the sample: the region's match
    assert shown is not None and (shown.method, shown.nearest_image_id) == ("pixel32-region", b.id)
    assert nearest_of(ws, ws.samples(set_name="Exact")[0].id) is None  # not audited yet


def test_the_memorised_gate_reads_in_words_and_cannot_trigger_a_redraw():
    assert explain(GateScore("memorised", 0.12, 0.6, False)) == (
        "memorised: 0.12 of the usual distance to its nearest training image (needs >= 0.6)"
    )
    with pytest.raises(DiffGenError, match="retry_gates"):
        InpaintConfig(retry_gates=("memorised",))


def test_an_unknown_set_and_a_bad_setting_are_refused_with_a_message(fresh_copy, capsys):
    ws, _ = fresh_copy
    with pytest.raises(BadInputError, match="no samples in set 'Nope'; sets in this workspace: Exact, Fresh-real"):
        audit_samples(ws, "Nope")
    assert main(["audit", "-w", str(ws.root), "--percentile", "60"]) != 0
    assert "percentile must be above 0 and below 50" in capsys.readouterr().err


def test_a_schema_5_workspace_upgrades_and_gets_the_audit_table(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:5])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 5)
    old = Workspace.create(tmp_path / "ws")
    with old.transaction() as c:
        c.execute(
            "INSERT INTO images (name, source_path, sha256, width, height, created_at) VALUES ('a', '/a.jpg', 'x', 8, 8, ?)",
            (now(),),
        )
    assert "sample_audit" not in {r[0] for r in old.query("SELECT name FROM sqlite_master")}
    old.close()
    monkeypatch.undo()
    ws = Workspace.open(tmp_path / "ws")
    assert ws.schema_version == SCHEMA_VERSION == len(MIGRATIONS) > 5 and ws.image(1).name == "a"
    assert "sample_audit" in {r[0] for r in ws.query("SELECT name FROM sqlite_master")}


def test_with_fid_inception_weights_the_audit_also_compares_features(tmp_path, capsys):
    """A random-weight stand-in of the FID Inception file, loaded by the real loader."""
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.demo.standins import weights_or_standin

    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, write_demo_dataset(tmp_path / "data", count=6, size=64, seed=4))
    ws.set_role([ws.images()[-1].id], TEST)
    first, second = ws.images()[:2]
    mask = np.zeros((64, 64), np.uint8)
    exact = ws.add_sample("external", "Copies", ws.read_image(first), mask).id
    mirrored = ws.add_sample("external", "Copies", np.ascontiguousarray(ws.read_image(second)[:, ::-1]), mask).id
    weights, _ = weights_or_standin("fid_inception", tmp_path / "weights")
    assert main(["audit", "-w", str(ws.root), "--fid-inception", weights, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Embedding check (fid-inception@" in out and "cosine): 2 samples below its threshold" in out
    rows = ws.query("SELECT sample_id, nearest_image_id, flip, distance FROM sample_audit WHERE method LIKE 'fid-inception@%'")
    assert {(r[0], r[1], r[2]) for r in rows} == {(exact, first.id, "none"), (mirrored, second.id, "horizontal")}
    assert all(r[3] < 1e-6 for r in rows)
    cached = ws.query("SELECT COUNT(*) FROM features WHERE key LIKE '%|audit|%'")[0][0]
    assert cached == 5 * 3 + 1 + 2  # training images as they are and mirrored twice, the test image, the samples


def test_diffgen_gates_still_scores_a_sample_that_only_the_audit_scored(fresh_copy, capsys):
    ws, _ = fresh_copy
    train = ws.images("role = ?", (TRAIN,))
    sid = _inpainted(ws, train[0].id, ws.read_image(train[1]), "Late")
    audit_samples(ws, "Late")
    assert [g.gate for g in ws.gates(sid)] == ["memorised"]
    assert main(["gates", "-w", str(ws.root)]) == 0
    assert sorted(g.gate for g in ws.gates(sid)) == ["colour", "copy", "cut_off", "memorised", "no_polyp", "seam"]
    assert "memorised" in capsys.readouterr().out  # a column of the table


def test_the_demo_runs_the_audit_and_its_report_shows_it(tmp_path):
    from backend.demo import stages as demo_stages
    from backend.demo.plan import DemoContext, run_stages

    ws = Workspace.create(tmp_path / "ws")
    ctx = DemoContext(ws, count=10, size=32, log=lambda s: None)
    demo_stages.stage_data(ctx)
    train = ws.images("role = ?", (TRAIN,))
    ws.add_sample("external", "Copy", ws.read_image(train[0]), np.zeros((32, 32), np.uint8))
    done = run_stages(ctx, [s for s in demo_stages.STAGES if s.name in ("audit", "report")])
    assert done["audit"]["memorised"] == 1 and done["audit"]["reference"].startswith("held-out test-role images")
    report = (ws.root / "reports" / "demo" / "report.md").read_text()
    assert "## Is it a copy? Memorisation audit" in report and "**1 of 1 samples (100.0%)" in report
    # a handful of held-out images cannot carry a 1st percentile: the headline says what they can
    held_out = len(ws.images("role = ?", ("test",)))
    assert 0 < held_out < 100 and "all but 1% of real images" not in report
    assert f"than about the closest of the {held_out} held-out real images (too few for a 1% percentile).**" in report
    pairs = report.split("audit_closest_pairs.png)")[0].rsplit("](", 1)[1] + "audit_closest_pairs.png"
    assert (ws.root / "reports" / "demo" / pairs).resolve().is_file()  # the link works from the report's folder


def test_the_data_card_quotes_the_audit_and_counts_the_exported_pairs_it_flagged(fresh_copy, tmp_path):
    """Issue 31 item 3: a dataset shared as 'not patient data' says how that was checked."""
    from backend.exporters.job import export_kept

    ws, made = fresh_copy
    chosen = made["Exact"][:2] + made["Fresh-real"][:3]
    for sid in chosen:
        ws.set_review(sid, "keep")
    export_kept(ws, tmp_path / "before", include_empty=True)
    card = (tmp_path / "before" / "README.md").read_text()
    assert "## Memorisation audit" in card and "No memorisation audit was run" in card
    assert main(["audit", "-w", str(ws.root)]) == 0
    export_kept(ws, tmp_path / "after", include_empty=True)
    card = (tmp_path / "after" / "README.md").read_text()
    record = ws.results("audit", "latest")[0]
    section = card.split("## Memorisation audit", 1)[1].split("\n## ", 1)[0]
    assert f"Method: {record['method']}." in section
    assert f"{record['train_images']} training images (held-out test-role images against the training images)" in section
    assert f"At the audit: {record['memorised']} of {record['samples']} samples below the threshold" in section
    assert "Of the 5 synthetic pairs here: 5 audited, 2 flagged memorised" in section  # the two exact copies
    assert f"Threshold: percentile {record['percentile']:g} of real images' scores" in section
