"""User folders: the platform's convention (platformdirs), DIFFGEN_* overrides on top."""

from __future__ import annotations

from pathlib import Path

import platformdirs.macos
import pytest

from backend.config import paths


@pytest.fixture
def no_overrides(monkeypatch):
    monkeypatch.delenv("DIFFGEN_DATA_DIR", raising=False)
    monkeypatch.delenv("DIFFGEN_CONFIG_DIR", raising=False)


def test_linux_keeps_the_xdg_folders(no_overrides, monkeypatch, tmp_path):
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.unix.Unix)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert paths.user_data_dir() == tmp_path / "data" / "diffgen-studio"
    assert paths.user_config_dir() == tmp_path / "config" / "diffgen-studio"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_config_dir() == tmp_path / "home" / ".config" / "diffgen-studio"


def test_macos_uses_application_support(no_overrides, monkeypatch, tmp_path):
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.macos.MacOS)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.user_data_dir() == tmp_path / "Library" / "Application Support" / "diffgen-studio"
    assert paths.demo_workspace_dir() == paths.user_data_dir() / "demo-workspace"
    assert not str(paths.user_config_dir()).startswith(str(tmp_path / ".config"))


def test_environment_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.macos.MacOS)
    monkeypatch.setenv("DIFFGEN_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("DIFFGEN_CONFIG_DIR", str(tmp_path / "c"))
    assert (paths.user_data_dir(), paths.user_config_dir()) == (tmp_path / "d", tmp_path / "c")
    assert Path(paths.demo_workspace_dir()) == tmp_path / "d" / "demo-workspace"
