"""Image roles (train | test): the schema migration, import --role, set-role, info counts, and
held-out test images absent from every generation stage (explicitly naming one is an error)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from _metrics_helpers import save_random_inception
from style_support import add_inpainted

import backend.workspace.store as store_mod
from backend.cli import main
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.data.sets import resolve_set
from backend.demo import stages as demo_stages
from backend.demo.plan import DemoContext
from backend.diffusion.training import resolve_targets
from backend.errors import BadInputError, DiffGenError
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.queue import MaskParams, run_masks
from backend.style import run_style
from backend.style.params import StyleParams
from backend.survey import SurveyConfig, create_survey
from backend.workspace import Workspace, now
from backend.workspace.schema import MIGRATIONS, SCHEMA_VERSION
from backend.workspace.selection import ImageSelection, generation_samples

TRAINING = list(range(3, 13))  # the demo workspace's 12 images with 1 and 2 held out ...
USABLE = [4, 5, 6, 7, 9, 10, 11, 12]  # ... minus 3 and 8, flagged by the fixture


@pytest.fixture
def held(demo_ws) -> Workspace:
    """The demo workspace with images 1 and 2 marked as held-out test images."""
    assert demo_ws.set_role([1, 2], "test") == 2
    for image_id in (3, 8):
        demo_ws.set_flag(image_id, True, "bad mask")
    assert [r.id for r in demo_ws.images("flagged = 1")] == [3, 8]
    return demo_ws


def _one_cluster(ws: Workspace) -> None:
    """A current clustering that puts every image in cluster 0."""
    with ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at) VALUES (1, 0, 'test', 1, ?)", (now(),)
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?, ?, 0)", [(cid, i) for i in ws.image_ids()])


def _refused(ws: Workspace, image_id: int) -> str:
    """The message that refuses a named test image (matched as a regular expression)."""
    return (
        rf"image {image_id} \({re.escape(ws.image(image_id).name)}\) is a held-out test image: "
        rf"no generation stage uses test images.*set-role --workspace .* --images {image_id} --role train"
    )


# -- the schema --------------------------------------------------------------------------------
def test_a_schema_3_workspace_upgrades_in_place_and_its_images_are_training_images(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:3])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 3)
    old = Workspace.create(tmp_path / "ws")
    with old.transaction() as c:
        c.execute(
            "INSERT INTO images (name, source_path, sha256, width, height, created_at)"
            " VALUES ('old', '/data/old.jpg', 'abc', 8, 8, ?)",
            (now(),),
        )
    assert old.schema_version == 3 and "role" not in [r[1] for r in old.query("PRAGMA table_info(images)")]
    old.close()
    monkeypatch.undo()

    ws = Workspace.open(tmp_path / "ws")
    assert ws.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 4
    rec = ws.image(1)
    assert (rec.name, rec.role, rec.role_note) == ("old", "train", "")
    assert ws.role_counts() == {"train": 1, "test": 0} and ws.info()["roles"] == {"train": 1, "test": 0}
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint"):
        ws.execute("UPDATE images SET role = 'validation'")


# -- the CLI: import --role, set-role, info ------------------------------------------------------
def test_import_role_set_role_and_info_counts(tmp_path, demo_dataset, capsys):
    ws_arg = ["--workspace", str(tmp_path / "ws")]
    extra = write_demo_dataset(tmp_path / "held-out", count=3, size=64, seed=5)
    assert main(["import", str(demo_dataset), *ws_arg]) == 0
    assert main(["import", str(extra), *ws_arg, "--role", "test"]) == 0
    ws = Workspace.open(tmp_path / "ws")
    by_folder = {r.source_path.split("/")[-3]: set() for r in ws.images()}
    for r in ws.images():
        by_folder[r.source_path.split("/")[-3]].add(r.role)
    assert by_folder == {"data": {"train"}, "held-out": {"test"}}
    capsys.readouterr()
    assert main(["info", *ws_arg]) == 0
    assert "roles:         train 12, test 3" in capsys.readouterr().out

    assert main(["set-role", *ws_arg, "--images", "1,2,13", "--role", "test"]) == 0
    assert "2 of 3 images set to test (1 were already)" in capsys.readouterr().out
    assert ws.role_counts() == {"train": 10, "test": 5}
    assert main(["set-role", *ws_arg, "--images", "13", "--role", "train"]) == 0
    assert [r.id for r in ws.images("role = 'test'")] == [1, 2, 14, 15]
    assert main(["info", *ws_arg, "--json"]) == 0
    assert '"roles": {\n    "train": 11,\n    "test": 4\n  }' in capsys.readouterr().out

    assert main(["set-role", *ws_arg, "--images", "3,99", "--role", "test"]) == 1
    assert "no image with id 99" in capsys.readouterr().err and ws.image(3).role == "train"
    assert main(["set-role", *ws_arg, "--images", "3"]) == 1
    assert "needs --role train or --role test" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["set-role", *ws_arg, "--images", "three", "--role", "test"])
    assert "expected comma-separated image ids" in capsys.readouterr().err


def test_reimporting_with_another_role_keeps_the_role_and_says_how_to_change_it(demo_ws, demo_dataset):
    report = import_dataset(demo_ws, demo_dataset, role="test")
    assert report.already_present == 12 and demo_ws.role_counts() == {"train": 12, "test": 0}
    warnings = [p for p in report.problems if p.severity == "warning"]
    assert len(warnings) == 12
    assert "already in the workspace as a train image (id 1)" in warnings[0].message
    assert "set-role --images 1 --role test" in warnings[0].message
    with pytest.raises(BadInputError, match="unknown image role 'val'"):
        import_dataset(demo_ws, demo_dataset, role="val")


# -- one rule for every generation stage ---------------------------------------------------------
def test_selection_leaves_test_images_out_and_refuses_them_by_name(held):
    assert ImageSelection.from_params({"all": True}).resolve(held) == USABLE
    assert ImageSelection.from_params({"images": [3, 4]}).resolve(held) == [3, 4]  # named: used as named, flagged or not
    with pytest.raises(DiffGenError, match=_refused(held, 2)):
        ImageSelection.from_params({"images": [3, 2]}).resolve(held)
    _one_cluster(held)
    assert ImageSelection.from_params({"cluster": 0}).resolve(held) == USABLE
    # mask operations may work on test images: their masks are what segmentation scores
    assert ImageSelection.from_params({"cluster": 0}).resolve(held, allow_test=True) == [1, 2] + USABLE
    before = held.image(1).current_mask_id
    assert run_masks(held, MaskParams.from_dict({"operation": "dilate", "op_params": {"pixels": 1}, "images": [1]}), JobContext())
    assert held.image(1).current_mask_id != before


def test_clustering_never_sees_test_images(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, write_demo_dataset(tmp_path / "data", count=5, size=64, seed=2))
    ws.set_role([2], "test")
    weights = save_random_inception(tmp_path / "inception.pth")
    assert main(["cluster", "-w", str(ws.root), "--k", "2", "--min-cluster-size", "1", "--inception-weights", str(weights)]) == 0
    assert "4 images in 2 clusters" in capsys.readouterr().out
    assert [ws.cluster_of(i) is None for i in ws.image_ids()] == [False, True, False, False, False]


def test_training_targets_never_hold_test_images(held):
    assert resolve_targets(held, "full", "tiny", None)[0].image_ids == USABLE
    assert resolve_targets(held, "full", "tiny", None, exclude_flagged=False)[0].image_ids == TRAINING
    _one_cluster(held)
    clusters = resolve_targets(held, "clusters", "tiny", None)
    assert [(t.cluster, t.image_ids) for t in clusters] == [(0, USABLE)]


def test_the_real_fid_set_is_the_training_images(held):
    real = resolve_set("real", held)
    assert sorted(str(i.path) for i in real.items) == sorted(held.image(i).source_path for i in TRAINING)


def test_surveys_show_no_test_image(held):
    survey = create_survey(held, SurveyConfig("roles", {"real": 8}, seed=0))
    shown = {r[0] for r in held.query("SELECT image_id FROM survey_items WHERE survey_id = ?", (survey.id,))}
    assert shown == set(USABLE)
    with pytest.raises(BadInputError, match="needs 9 real images .* has 8"):
        create_survey(held, SurveyConfig("more", {"real": 9}, seed=0))
    with pytest.raises(DiffGenError, match=_refused(held, 1)):
        create_survey(held, SurveyConfig("named", {"real": 2}, seed=0, real_images=(1, 3)))


def test_style_refuses_samples_of_test_images_by_name_and_leaves_them_out_otherwise(held):
    # samples made before their source image was held out
    old, ok = add_inpainted(held, None, 1), add_inpainted(held, None, 3)
    with pytest.raises(DiffGenError, match=rf"sample {old.id} was made from held-out test image: image 1 "):
        run_style(held, StyleParams(samples=(old.id, ok.id)), JobContext())
    with pytest.raises(DiffGenError, match=_refused(held, 1)):
        run_style(held, StyleParams(selection=ImageSelection((1,))), JobContext())
    assert generation_samples(held, [old, ok], named=False) == [ok]


def test_the_demo_holds_test_images_out_by_role(tmp_path, monkeypatch):
    ws = Workspace.create(tmp_path / "ws")
    ctx = DemoContext(ws, count=10, size=32, log=lambda s: None)
    summary = demo_stages.stage_data(ctx)
    test = [r.id for r in ws.images("role = 'test'")]
    usable = [r.id for r in ws.images("flagged = 0")]
    assert len(usable) == 10 and set(test) <= set(usable)  # every demo image has a polyp: none flagged
    assert summary["roles"] == {"train": 8, "test": 2} and len(test) == 2  # min(200, round(20% of 10))
    seen = []
    monkeypatch.setattr(
        "backend.inpaint.job.run_inpaint", lambda ws, params, *a: seen.append(params) or JobResult(summary="stand-in")
    )  # the demo's stage runs the job through the runner, which reads the stage back by name
    demo_stages.stage_inpaint_full(ctx)
    assert seen[0].selection == ImageSelection(all=True)  # no ids named: the rule leaves test images out
    assert seen[0].selection.resolve(ws) == [i for i in usable if i not in test]
