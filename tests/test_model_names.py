"""Model names never escape the workspace, and an existing model is replaced only with
--overwrite, which keeps the old one (folder and rows) as a backup."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from backend.cli import main
from backend.diffusion import checkpoint
from backend.diffusion.import_checkpoint import configs_for, import_checkpoint, to_guided_diffusion
from backend.diffusion.model import build_model
from backend.errors import BadInputError
from backend.workspace.names import MAX_NAME_LENGTH, check_name
from tests.diffusion_micro import MICRO_OVERRIDES

SETS = [x for o in MICRO_OVERRIDES + ["train.sample_count=0"] for x in ("--set", o)]


def _train(ws, name, *extra):
    return main(["train", "-w", str(ws.root), "--device", "cpu", "--steps", "2", "--name", name, *SETS, *extra])


def _import(ws, pt, name, *extra):
    return main(["import-checkpoint", str(pt), "--config", "tiny", "-w", str(ws.root), "--name", name, *SETS, *extra])


@pytest.fixture
def gd_file(tmp_path):
    """A guided-diffusion state dict of the micro architecture."""
    cfg, _ = configs_for("tiny", MICRO_OVERRIDES)
    torch.manual_seed(1)
    pt = tmp_path / "ema_0.9999_000100.pt"
    torch.save(to_guided_diffusion(build_model(cfg).state_dict(), cfg), pt)
    return pt


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["full-tiny", "c1-tiny-k0", "ema_0.9999_110000", "_x", "a" * MAX_NAME_LENGTH])
def test_safe_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["../../x", "a/b", "..", ".hidden", "", "a b", "-x", "x\n", "naïve", "a\\b", "a" * (MAX_NAME_LENGTH + 1)]
)
def test_unsafe_names_are_refused_with_what_is_allowed(name):
    with pytest.raises(BadInputError, match=r"model name .* cannot be used as a folder name: use 1-64 letters"):
        check_name(name, "model name")


def test_train_and_import_refuse_names_that_leave_the_workspace(demo_ws, gd_file, capsys):
    outside = demo_ws.root.parent
    assert _train(demo_ws, "../../escaped") == 1
    assert _import(demo_ws, gd_file, "../escaped") == 1
    err = capsys.readouterr().err
    assert err.count("cannot be used as a folder name") == 2 and "Traceback" not in err
    assert not (outside / "escaped").exists() and not (demo_ws.root / "escaped").exists()
    assert demo_ws.query("SELECT COUNT(*) FROM models")[0][0] == 0


def test_import_over_a_trained_model_is_refused_then_replaced_with_a_backup(demo_ws, gd_file, capsys):
    assert _train(demo_ws, "m") == 0
    weights = demo_ws.root / "models/m/model.safetensors"
    trained = _sha(weights)
    old_id = demo_ws.query("SELECT id FROM models WHERE name = 'm'")[0][0]
    assert _import(demo_ws, gd_file, "m") == 1
    assert "already holds a model" in capsys.readouterr().err and _sha(weights) == trained

    assert _import(demo_ws, gd_file, "m", "--overwrite") == 0
    backup = next((demo_ws.root / "models").glob("m.replaced-*"))
    assert f"kept in {backup}" in capsys.readouterr().out
    assert json.loads((demo_ws.root / "models/m/config.json").read_text())["target"] == "imported"
    assert _sha(backup / "model.safetensors") == trained  # the old model is whole, where its rows say
    old = demo_ws.query("SELECT name, path FROM models WHERE id = ?", (old_id,))[0]
    assert old["name"] == backup.name and demo_ws.path(old["path"]) == backup
    for (path,) in demo_ws.query("SELECT path FROM checkpoints WHERE model_id = ?", (old_id,)):
        assert path.startswith(f"models/{backup.name}/") and (demo_ws.path(path) / "ema.safetensors").exists()
    rows = demo_ws.query("SELECT id, target FROM models WHERE path = 'models/m'")
    assert len(rows) == 1 and rows[0]["id"] != old_id and rows[0]["target"] == "imported"


def test_train_over_an_imported_model_is_refused_and_resume_cannot_touch_it(demo_ws, gd_file, capsys):
    assert _import(demo_ws, gd_file, "imp") == 0
    weights = demo_ws.root / "models/imp/model.safetensors"
    imported = _sha(weights)
    assert _train(demo_ws, "imp") == 1
    assert _train(demo_ws, "imp", "--resume") == 1
    err = capsys.readouterr().err
    assert "already holds a model" in err and "cannot be resumed" in err
    assert _sha(weights) == imported
    assert _train(demo_ws, "imp", "--overwrite") == 0
    assert _sha(next((demo_ws.root / "models").glob("imp.replaced-*")) / "model.safetensors") == imported
    assert json.loads((demo_ws.root / "models/imp/config.json").read_text())["target"] == "full"


def test_a_failed_replacement_leaves_the_old_model_in_place(demo_ws, gd_file, monkeypatch):
    assert _import(demo_ws, gd_file, "m") == 0
    before = {p.name: _sha(p) for p in (demo_ws.root / "models/m").iterdir()}

    def broken(folder, *a, **k):
        (folder / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("backend.diffusion.import_checkpoint.save_model", broken)
    with pytest.raises(OSError, match="No space"):
        import_checkpoint(gd_file, "tiny", ws=demo_ws, name="m", overrides=MICRO_OVERRIDES, overwrite=True)
    assert {p.name: _sha(p) for p in (demo_ws.root / "models/m").iterdir()} == before
    assert sorted(p.name for p in (demo_ws.root / "models").iterdir()) == ["m"]  # no backup, no staging left
    assert checkpoint.read_config(demo_ws.root / "models/m")["target"] == "imported"
