"""Background images (role ``background``, issue 34): frames without polyps, imported without
masks, inputs of mask-guided synthesis only. The schema migration, the import (a frame offered
with a mask is refused, naming it), and their absence from every other stage."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image

import backend.workspace.store as store_mod
from backend.cli import main
from backend.data.demo import generate_item, load_recipe
from backend.data.importer import import_dataset
from backend.data.sets import resolve_set
from backend.errors import BadInputError, DiffGenError, WorkspaceError
from backend.segmentation.data import usable_images
from backend.workspace import Workspace, now
from backend.workspace.schema import MIGRATIONS, SCHEMA_VERSION
from backend.workspace.selection import ImageSelection, background_images


def _frames(folder, count: int, size: int = 64) -> list[str]:
    """Procedural frames without polyps (the demo recipe with none per image)."""
    recipe = load_recipe()
    recipe["polyps_per_image"] = [0]
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        item = generate_item(7, i, size, recipe)
        assert not item.mask.any()
        Image.fromarray(item.image).save(folder / f"normal_{i}.png")
        names.append(f"normal_{i}.png")
    return names


@pytest.fixture
def with_backgrounds(demo_ws, tmp_path) -> Workspace:
    """The demo workspace (12 training images) and 3 background frames (ids 13-15)."""
    _frames(tmp_path / "normal", 3)
    report = import_dataset(demo_ws, tmp_path / "normal", role="background")
    assert (report.imported, report.rejected) == (3, 0)
    return demo_ws


def test_a_schema_7_workspace_upgrades_and_takes_background_images(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:7])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 7)
    old = Workspace.create(tmp_path / "ws")
    with old.transaction() as c:
        c.execute(
            "INSERT INTO images (name, source_path, sha256, width, height, created_at)"
            " VALUES ('old', '/d/old.jpg', 'a', 8, 8, ?)",
            (now(),),
        )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint"):
            c.execute("UPDATE images SET role = 'background'")
    old.close()
    monkeypatch.undo()

    ws = Workspace.open(tmp_path / "ws")
    other = sqlite3.connect(tmp_path / "ws" / "workspace.sqlite", isolation_level=None)
    other.execute("SELECT COUNT(*) FROM images").fetchone()  # a connection that read the old schema
    assert ws.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 8
    assert ws.image(1).role == "train"
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO images (name, source_path, sha256, width, height, role, created_at)"
            " VALUES ('bg', '/d/bg.jpg', 'b', 8, 8, 'background', ?)",
            (now(),),
        )
    other.execute("UPDATE images SET role = 'background' WHERE id = 1")  # the new constraint there too
    for conn in (ws.conn, other):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint"):
            conn.execute("UPDATE images SET role = 'validation'")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ws.role_counts() == {"train": 0, "test": 0, "background": 2}


def test_import_role_background_takes_images_only_and_refuses_one_with_a_mask(tmp_path, capsys):
    data = tmp_path / "normal"
    names = _frames(data, 4)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(data / "normal_3_mask.png")  # a frame offered with a mask
    ws_arg = ["--workspace", str(tmp_path / "ws")]
    assert main(["import", str(data), *ws_arg, "--role", "background"]) == 0
    out = capsys.readouterr().out
    assert f"ERROR   {data / names[3]}: offered with the mask normal_3_mask.png, but a background image" in out
    assert "Imported 3 background images from" in out and "1 rejected" in out
    ws = Workspace.open(tmp_path / "ws")
    assert [(r.role, r.current_mask_id) for r in ws.images()] == [("background", None)] * 3
    assert main(["info", *ws_arg]) == 0
    assert "roles:         train 0, test 0, background 3" in capsys.readouterr().out


def test_images_and_masks_layout_as_background_refuses_the_pairs(tmp_path, demo_dataset):
    ws = Workspace.create(tmp_path / "ws")
    report = import_dataset(ws, demo_dataset, role="background")
    assert report.imported == 0 and report.rejected == 12
    assert all("takes no mask" in p.message and p.file.endswith(".jpg") for p in report.problems)


def test_background_images_feed_synthesis_only(with_backgrounds):
    ws = with_backgrounds
    assert [r.id for r in background_images(ws)] == [13, 14, 15]
    ws.set_flag(14, True, "blurred")
    assert [r.id for r in background_images(ws)] == [13, 15]
    assert ImageSelection(all=True).resolve(ws) == list(range(1, 13))
    assert ImageSelection(all=True).resolve(ws, allow_test=True) == list(range(1, 13))  # mask operations: none
    with pytest.raises(DiffGenError, match=r"image 13 \(normal_0\) is a background image .* no polyp to inpaint"):
        ImageSelection(images=(2, 13)).resolve(ws)
    assert ImageSelection(images=(2, 13)).resolve(ws, allow_background=True) == [2, 13]
    assert [r.id for r in usable_images(ws)[0]] == list(range(1, 13)) and usable_images(ws)[1] == []
    assert len(resolve_set("real", ws).items) == 12  # the Real set of FID: training images only


def test_set_role_neither_makes_nor_unmakes_background_images(with_backgrounds, capsys):
    ws = with_backgrounds
    with pytest.raises(WorkspaceError, match="image 13 is a background image .* nothing changed"):
        ws.set_role([1, 13], "test")
    assert ws.image(1).role == "train"
    with pytest.raises(WorkspaceError, match="unknown image role 'background'.*diffgen import DIR --role background"):
        ws.set_role([1], "background")
    with pytest.raises(SystemExit):
        main(["set-role", "-w", str(ws.root), "--images", "1", "--role", "background"])
    assert "invalid choice: 'background'" in capsys.readouterr().err


def test_a_bundle_row_from_a_background_image_is_a_synthesis_samples_only(with_backgrounds, monkeypatch):
    from backend.io.files import encode_png
    from backend.jobs import bundle_checks, sample_row
    from backend.jobs.sample_row import SampleRow

    ws = with_backgrounds
    image, mask = encode_png(np.zeros((64, 64, 3), np.uint8)), encode_png(np.zeros((64, 64), np.uint8))

    def row(kind: str) -> SampleRow:
        return SampleRow(kind, "S", image, mask, {}, 1, source_image_id=13, checks={"source_sha256": ws.image(13).sha256})

    with pytest.raises(BadInputError, match=r"'source_image_id': image 13 is a background image \(no polyp\)"):
        bundle_checks.RowChecker(ws).check(row("inpainted"), "rows.jsonl line 1")
    monkeypatch.setitem(sample_row.SAMPLE_KINDS, "synthesize", "synthesized")  # the generator's kind (issue 34)
    bundle_checks.RowChecker(ws).check(row("synthesized"), "rows.jsonl line 1")
