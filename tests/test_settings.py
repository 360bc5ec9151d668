"""Pretrained-weight resolution: CLI flag > environment variable > settings file; clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backend.cli import main
from backend.config.settings import WEIGHTS, resolve_weights, save_setting, settings_path
from backend.errors import MissingWeightsError


@pytest.fixture
def three_files(tmp_path):
    files = {}
    for where in ("cli", "env", "settings"):
        p = tmp_path / f"{where}.pth"
        p.write_bytes(where.encode())
        files[where] = p
    return files


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_precedence_cli_over_env_over_settings(name, three_files, monkeypatch):
    env_var = WEIGHTS[name].env_var
    save_setting(name, str(three_files["settings"]))
    assert resolve_weights(name) == three_files["settings"]
    monkeypatch.setenv(env_var, str(three_files["env"]))
    assert resolve_weights(name) == three_files["env"]
    assert resolve_weights(name, str(three_files["cli"])) == three_files["cli"]
    monkeypatch.delenv(env_var)
    assert resolve_weights(name, str(three_files["cli"])) == three_files["cli"]
    assert resolve_weights(name) == three_files["settings"]


def test_settings_file_is_json_in_the_isolated_config_dir(three_files):
    save_setting("vgg19", str(three_files["settings"]))
    data = json.loads(settings_path().read_text())
    assert data == {"weights": {"vgg19": str(three_files["settings"])}}
    save_setting("vgg19", None)
    assert json.loads(settings_path().read_text()) == {"weights": {}}
    assert settings_path().parent == Path(os.environ["DIFFGEN_CONFIG_DIR"])  # never the user's own


def test_missing_file_is_not_silently_replaced_by_a_lower_precedence_one(three_files, tmp_path, monkeypatch):
    """A wrong CLI path is an error naming that path, even when the env var points at a real file."""
    monkeypatch.setenv(WEIGHTS["dino"].env_var, str(three_files["env"]))
    wrong = tmp_path / "typo" / "dino.pth"
    with pytest.raises(MissingWeightsError) as e:
        resolve_weights("dino", str(wrong))
    assert str(wrong) in str(e.value)


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_missing_weights_message_names_file_architecture_and_how_to_get_it(name, tmp_path):
    spec = WEIGHTS[name]
    with pytest.raises(MissingWeightsError) as unset:
        resolve_weights(name)
    msg = str(unset.value)
    assert "no file is configured" in msg
    for part in (spec.architecture, spec.how_to_get, spec.cli_flag, spec.env_var, f"diffgen settings set {name}"):
        assert part in msg
    save_setting(name, str(tmp_path / "gone.pth"))
    with pytest.raises(MissingWeightsError) as gone:
        resolve_weights(name)
    assert str(tmp_path / "gone.pth") in str(gone.value) and spec.architecture in str(gone.value)


def test_corrupt_settings_file_counts_as_unset():
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text("{not json")
    with pytest.raises(MissingWeightsError):
        resolve_weights("vgg19")


def test_settings_cli_set_show_unset(three_files, capsys):
    assert main(["settings", "set", "inception", str(three_files["settings"])]) == 0
    assert resolve_weights("inception") == three_files["settings"]
    capsys.readouterr()
    assert main(["settings", "show"]) == 0
    out = capsys.readouterr().out
    assert str(three_files["settings"]) in out and "DIFFGEN_INCEPTION_WEIGHTS" in out
    assert main(["settings", "unset", "inception"]) == 0
    with pytest.raises(MissingWeightsError):
        resolve_weights("inception")
    assert main(["settings", "set", "nonsense", "x"]) == 2
