"""No weight file from elsewhere may do anything but provide tensors (issue 14).

The hostile files are real: a TorchScript program whose loading creates a file (its
``__setstate__`` calls ``torch.from_file(..., shared=True)``, which opens a path for writing)
and a pickle whose unpickling creates a file. The first test shows with torch's own loader
that they do; the others show that every weights loader refuses them by name and that the
file is never created, and that the CLI reports each bad file as one ``error:`` line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from style_support import SMALL_DINO, add_inpainted, register_tiny_model

from backend.cli import main
from backend.config.settings import save_setting
from backend.diffusion.import_checkpoint import import_checkpoint
from backend.errors import BadWeightsError
from backend.features import load_inception
from backend.io.weights import load_weights
from backend.metrics.fid import load_fid_inception
from backend.segmentation.model import load_checkpoint, read_state_dict
from backend.style import networks


class _WritesOnLoad(torch.nn.Module):
    """Scripted module whose ``__setstate__``, run by ``torch.jit.load``, creates ``target``."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.buf = torch.zeros(1)

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        self.buf = torch.from_file(self.target, shared=True, size=16, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _CreatesFile:
    """Pickles as a call to ``open(marker, "w")``: unpickling it creates the file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def crafted_torchscript(path: Path, marker: Path) -> Path:
    torch.jit.script(_WritesOnLoad(str(marker))).save(str(path))
    return path


def code_pickle(path: Path, marker: Path) -> Path:
    torch.save({"conv.weight": torch.zeros(2), "extra": _CreatesFile(str(marker))}, path)
    return path


def test_the_hostile_files_do_create_a_file_when_torch_loads_them_unguarded(tmp_path):
    """The reference: without the guard both files run code (so the tests below can fail)."""
    ts_marker, pickle_marker = tmp_path / "ts-ran", tmp_path / "pickle-ran"
    torch.jit.load(str(crafted_torchscript(tmp_path / "ts.pt", ts_marker)))
    torch.load(code_pickle(tmp_path / "p.pt", pickle_marker), weights_only=False)
    assert ts_marker.exists() and pickle_marker.exists()


def _via_settings(path: Path):
    save_setting("fid_inception", str(path))  # 'diffgen settings set fid_inception FILE'
    return load_fid_inception(None, "cpu")


LOADERS: dict[str, Callable[[Path], object]] = {
    "fid --fid-inception": lambda p: load_fid_inception(str(p), "cpu"),
    "fid via settings": _via_settings,
    "style dino": lambda p: networks.load_dino(p, spec=SMALL_DINO),
    "style vgg": networks.load_vgg,
    "cluster inception": load_inception,
    "import-checkpoint": lambda p: import_checkpoint(p, "tiny", out=p.parent / "imported"),
    "segment encoder": read_state_dict,
    "segment checkpoint": load_checkpoint,
}
SAFETENSORS_ONLY = {"segment checkpoint"}  # DiffGen's own checkpoints: safetensors with metadata


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_a_crafted_torchscript_before_it_runs(loader, tmp_path):
    marker = tmp_path / "written-by-torchscript"
    bad = crafted_torchscript(tmp_path / "inception-2015-12-05.pt", marker)
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    message = (
        rf"inception-2015-12-05\.pt: a TorchScript program \(sha256 {digest}\), "
        r"refused: loading TorchScript runs the code inside it"
    )
    with pytest.raises(BadWeightsError, match=message) as e:
        LOADERS[loader](bad)
    assert not marker.exists()
    if loader.startswith("fid"):  # and it says which file is right, and where it comes from
        assert "Expected pytorch-fid's plain state dict 'pt_inception-2015-12-05-6726825d.pth'" in str(e.value)
        assert "github.com/mseitzer/pytorch-fid" in str(e.value)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_a_pickle_that_runs_code(loader, tmp_path):
    marker = tmp_path / "written-by-pickle"
    bad = code_pickle(tmp_path / "weights.pth", marker)
    message = (
        r"weights\.pth is a PyTorch state dict \(zip\); expected a safetensors file"  # never unpickled
        if loader in SAFETENSORS_ONLY
        else r"weights\.pth: a PyTorch state dict \(zip\) that holds code or objects beyond tensors, "
        r"refused: .*GLOBAL io\.open"
    )
    with pytest.raises(BadWeightsError, match=message):
        LOADERS[loader](bad)
    assert not marker.exists()


def test_plain_state_dicts_load_in_every_accepted_format(tmp_path):
    state = {"a.weight": torch.randn(3, 4), "a.bias": torch.arange(3.0)}
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"model": state, "step": 7}, tmp_path / "nested.pt")  # checkpoints nest plain values
    for name in ("zip.pt", "legacy.pth", "w.safetensors"):
        loaded = load_weights(tmp_path / name)
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state), name
    nested = load_weights(tmp_path / "nested.pt")
    assert nested["step"] == 7 and torch.equal(nested["model"]["a.bias"], state["a.bias"])


# -- every kind of bad file through the real CLI -------------------------------------------
def _bad_file(kind: str, folder: Path, marker: Path) -> tuple[Path, str | None]:
    """(file, the message it must give; None: each command's own) for one kind of bad file."""
    state = {"w": torch.randn(64, 64)}
    if kind == "pickle named .safetensors":
        path = folder / "model.safetensors"
        torch.save(state, path)
        return path, (
            r"model\.safetensors is named \.safetensors but is a PyTorch state dict \(zip\), "
            r"not a safetensors file\. Expected a safetensors file"
        )
    if kind == "pickle with code":
        path = code_pickle(folder / "model.pt", marker)
        return path, r"model\.pt: .* holds code or objects beyond tensors, refused"
    if kind == "torchscript":
        path = crafted_torchscript(folder / "model.pt", marker)
        return path, r"model\.pt: a TorchScript program \(sha256 [0-9a-f]{64}\), refused"
    if kind.startswith("truncated "):
        path = folder / f"model{kind.removeprefix('truncated ')}"
        if path.suffix == ".pt":
            torch.save(state, path)
        else:
            save_file(state, str(path))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, rf"{path.name}: a .* that cannot be read: truncated or corrupt"
    assert kind == "missing"
    return folder / "model.safetensors", None


KINDS = ["pickle named .safetensors", "pickle with code", "torchscript", "truncated .pt", "truncated .safetensors", "missing"]


def _error(capsys) -> str:
    """The one ``error:`` message on stderr (progress bars may come before it), no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error: ") == 1, err
    return err[err.index("error: ") :]


@pytest.mark.parametrize("kind", KINDS)
def test_import_checkpoint_cli_names_each_bad_file(kind, tmp_path, capsys):
    marker = tmp_path / "ran"
    path, message = _bad_file(kind, tmp_path, marker)
    out = tmp_path / "imported"
    assert main(["import-checkpoint", str(path), "--config", "tiny", "--out", str(out)]) == 1
    err = _error(capsys)
    assert re.search(message or r"weights file not found: .*model\.safetensors", err), err
    assert not out.exists() and not marker.exists()


@pytest.fixture
def style_ws(demo_ws, monkeypatch):
    monkeypatch.setattr(networks, "DEFAULT_DINO", SMALL_DINO)
    add_inpainted(demo_ws, register_tiny_model(demo_ws), demo_ws.image_ids()[0])
    return demo_ws


@pytest.mark.parametrize("kind", KINDS)
def test_style_cli_names_each_bad_dino_file(kind, style_ws, tmp_path, capsys):
    marker = tmp_path / "ran"
    path, message = _bad_file(kind, tmp_path, marker)
    argv = [
        "style",
        "-w",
        str(style_ws.root),
        "--all-unstyled",
        "--set",
        "style.skip_timesteps=46",
        "--lambda-vgg",
        "0",
        "--dino-weights",
        str(path),
    ]
    assert main(argv) == 1
    err = _error(capsys)
    missing = r"Pretrained weights for dino .* '.*model\.safetensors' does not exist"
    assert re.search(message or missing, err), err
    assert style_ws.samples(kind="styled") == [] and not marker.exists()


@pytest.mark.parametrize("how", ["--fid-inception", "settings set fid_inception"])
def test_fid_cli_refuses_a_crafted_torchscript(how, demo_dataset, tmp_path, capsys):
    marker = tmp_path / "ran"
    bad = crafted_torchscript(tmp_path / "inception-2015-12-05.pt", marker)
    images = str(demo_dataset / "images")
    argv = ["fid", images, images]
    if how == "--fid-inception":
        argv += ["--fid-inception", str(bad)]
    else:
        assert main(["settings", "set", "fid_inception", str(bad)]) == 0
    assert main(argv) == 1
    err = _error(capsys)
    assert re.search(
        r"inception-2015-12-05\.pt: a TorchScript program \(sha256 [0-9a-f]{64}\), refused.*"
        r"Expected pytorch-fid's plain state dict 'pt_inception-2015-12-05-6726825d\.pth'",
        err,
    ), err
    assert not marker.exists()
