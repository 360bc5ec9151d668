"""Model configs and weight files are checked before any network is built (issue 28, item 3).

A model folder's ``config.json``, an exported folder's ``diffgen.json`` and a preset's
[model] section are read with every field in its declared range and the network's size
computed by arithmetic; the weight file's header must hold exactly that many parameters;
a ``.pt`` whose zip members declare more data than the network can take is refused from the
declaration. The memory bombs of the issue are refused by the real CLI in one line, with a
small peak: before torch loads.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from child_memory import BOMB_LIMIT_MB, run_cli
from safetensors.torch import save_file

from backend.diffusion.checkpoint import load_model, save_model
from backend.diffusion.config import MAX_PARAMETERS, ModelConfig, parameter_count
from backend.diffusion.import_checkpoint import import_checkpoint
from backend.diffusion.model import build_model
from backend.diffusion.model_files import EXPORT_FORMAT, UNET_WEIGHTS, configs_for, read_export
from backend.errors import BadInputError, BadWeightsError
from backend.io.weights import declared_bytes, safetensors_header

TINY = configs_for("tiny")[0].to_dict()

# (change to the tiny [model], text the message must hold: field, value, allowed range)
BAD_CONFIGS = [
    ({"num_res_blocks": 100000}, ["model.num_res_blocks = 100000", "an integer in 1..8"]),
    ({"num_channels": 896}, ["model.num_channels = 896", "an integer in 32..512"]),
    ({"num_channels": 0}, ["model.num_channels = 0", "an integer in 32..512"]),
    ({"image_size": 1e9}, ["model.image_size = 1e+09", "an integer in 8..1024 px"]),
    ({"image_size": -32}, ["model.image_size = -32", "an integer in 8..1024 px"]),
    ({"in_channels": True}, ["model.in_channels = True", "an integer in 1..16"]),
    ({"channel_mult": [1] * 100}, ["model.channel_mult = [1, 1, 1", "a list of at most 8 values"]),
    ({"channel_mult": [1, 2, 1000]}, ["model.channel_mult = [1, 2, 1000]", "each a finite number in 0.5..8"]),
    ({"attention_resolutions": "16"}, ["model.attention_resolutions = '16'", "a list of at most 8 values"]),
    ({"num_head_channels": 0}, ["model.num_head_channels = 0", "an integer in 1..512"]),
    ({"dropout": float("nan")}, ["model.dropout = nan", "a finite number in 0..0.99"]),
    ({"learn_sigma": "yes"}, ["model.learn_sigma = 'yes'", "true or false"]),
    # in range field by field, but not a network that can be built, or far too large
    ({"num_channels": 48}, ["level widths [48, 96, 96]", "multiples of 32"]),
    ({"image_size": 36, "channel_mult": [1, 2, 2, 2]}, ["image_size 36 cannot be halved 3 times"]),
    (
        {"num_channels": 512, "channel_mult": [8, 8, 8, 8], "num_res_blocks": 8},
        ["the network has 41,342,922,760 parameters", f"more than the {MAX_PARAMETERS:,} allowed"],
    ),
]
IDS = [",".join(f"{k}={v}"[:30] for k, v in change.items()) for change, _ in BAD_CONFIGS]


@pytest.mark.parametrize(("change", "words"), BAD_CONFIGS, ids=IDS)
def test_a_crafted_model_config_is_refused_naming_field_value_and_range(change, words):
    with pytest.raises(BadInputError) as e:
        ModelConfig.from_dict({**TINY, **change})
    for w in words:
        assert w in str(e.value), str(e.value)


@pytest.mark.parametrize(
    "cfg",
    [
        configs_for("tiny")[0],
        configs_for("paper")[0],
        configs_for("diffuse-gen")[0],
        dataclasses.replace(configs_for("tiny")[0], resblock_updown=False, use_scale_shift_norm=False, learn_sigma=False),
        dataclasses.replace(configs_for("tiny")[0], num_res_blocks=2, channel_mult=(1, 2, 3), attention_resolutions=(32, 16, 8)),
    ],
    ids=["tiny", "paper", "diffuse-gen", "plain-updown", "3-levels"],
)
def test_the_parameter_count_by_arithmetic_equals_the_built_networks(cfg):
    with torch.device("meta"):  # the reference: the real network, without memory
        built = sum(p.numel() for p in build_model(cfg).state_dict().values())
    assert parameter_count(cfg) == built


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A folder as export-model writes it, with tiny random weights."""
    cfg = configs_for("tiny")
    folder = tmp_path_factory.mktemp("export") / "hub"
    torch.manual_seed(0)
    unet = build_model(cfg[0]).unet
    (folder / "unet").mkdir(parents=True)
    save_file(unet.state_dict(), str(folder / "unet" / UNET_WEIGHTS))
    (folder / "unet" / "config.json").write_text(json.dumps(dict(unet.config), default=list))
    meta = {"format": EXPORT_FORMAT, "model": cfg[0].to_dict(), "diffusion": cfg[1].to_dict(), "trained": {"name": "m"}}
    (folder / "diffgen.json").write_text(json.dumps(meta))
    return folder


def _crafted(exported: Path, tmp_path: Path, change: dict) -> Path:
    """A copy of the exported folder whose diffgen.json asks for ``change`` (weights as they were)."""
    folder = tmp_path / "crafted"
    (folder / "unet").mkdir(parents=True)
    for f in ("unet/config.json", f"unet/{UNET_WEIGHTS}"):
        (folder / f).write_bytes((exported / f).read_bytes())
    meta = json.loads((exported / "diffgen.json").read_text())
    meta["model"].update(change)
    (folder / "diffgen.json").write_text(json.dumps(meta))
    return folder


def test_the_exported_folder_fixture_is_accepted(exported):
    assert read_export(exported)[0] == configs_for("tiny")[0]


def test_config_and_weights_that_do_not_belong_together_are_refused_from_the_header(exported, tmp_path):
    folder = _crafted(exported, tmp_path, {"num_res_blocks": 2})
    wanted = parameter_count(dataclasses.replace(configs_for("tiny")[0], num_res_blocks=2))
    held = parameter_count(configs_for("tiny")[0])
    with pytest.raises(BadInputError, match=f"holds {held:,} parameters .* the network .* has {wanted:,}"):
        read_export(folder)


@pytest.mark.parametrize(
    ("change", "shown"),
    [({"num_res_blocks": 100000}, "model.num_res_blocks = 100000"), ({"num_channels": 896}, "model.num_channels = 896")],
    ids=["num_res_blocks=100000", "num_channels=896"],
)
def test_import_model_refuses_the_memory_bombs_in_one_line_and_small(exported, tmp_path, change, shown):
    folder = _crafted(exported, tmp_path, change)
    run = run_cli("import-model", folder, "--out", tmp_path / "out", tmp=tmp_path)
    assert run.rc == 1 and "Traceback" not in run.stderr, run.stderr
    assert shown in run.stderr and "is out of bounds: it must be an integer in" in run.stderr, run.stderr
    assert str(folder / "diffgen.json") in run.stderr
    assert run.peak_mb < BOMB_LIMIT_MB, f"peak {run.peak_mb:.0f} MB"
    assert not (tmp_path / "out").exists()


def _model_folder(tmp_path: Path, change: dict) -> Path:
    """A model folder (as training writes it) whose config.json then gets ``change``."""
    model_cfg, diff_cfg = configs_for("tiny")
    folder = tmp_path / "model"
    save_model(folder, build_model(model_cfg), diff_cfg)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"].update(change)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_a_model_folder_with_a_crafted_config_is_refused_before_building(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path, {"num_res_blocks": 100000})
    built = []
    monkeypatch.setattr("backend.diffusion.checkpoint.build_model", lambda cfg: built.append(cfg))
    with pytest.raises(
        BadInputError, match=r"config\.json: model\.num_res_blocks = 100000 is out of bounds: it must be an integer in 1\.\.8"
    ):
        load_model(folder)
    with pytest.raises(BadInputError, match=r"holds .* parameters .* the network .* has"):
        load_model(_model_folder(tmp_path / "b", {"num_channels": 64}))
    assert built == []


def test_inpaint_with_a_crafted_model_folder_says_so_in_one_line_and_small(demo_ws, tmp_path):
    folder = _model_folder(tmp_path, {"num_channels": 896})
    run = run_cli("inpaint", "-w", demo_ws.root, "--all", "--model", folder, tmp=tmp_path, timeout=300)
    assert run.rc == 1 and "Traceback" not in run.stderr, run.stderr
    assert "model.num_channels = 896 is out of bounds: it must be an integer in 32..512" in run.stderr, run.stderr
    assert run.peak_mb < BOMB_LIMIT_MB, f"peak {run.peak_mb:.0f} MB"


@pytest.fixture(scope="module")
def inflating_pt(tmp_path_factory) -> Path:
    """A torch.save zip whose storage member holds 1.5 GB of zeros, deflated to ~1.5 MB."""
    path = tmp_path_factory.mktemp("pt") / "model.pt"
    torch.save({"input_blocks.0.0.weight": torch.zeros(4)}, path)
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    storage = next(n for n in members if "/data/" in n)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name != storage:
                z.writestr(name, data)
        with z.open(storage, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(1500):  # 1.5 GB of zeros
                f.write(chunk)
    return path


def test_the_inflating_pt_is_small_on_disk_and_declares_gigabytes(inflating_pt):
    assert inflating_pt.stat().st_size < 4 << 20
    assert declared_bytes(inflating_pt) > 1.5e9


def test_import_checkpoint_refuses_an_inflating_pt_from_its_declared_sizes(inflating_pt, tmp_path, monkeypatch):
    monkeypatch.setattr("backend.diffusion.import_checkpoint.load_weights", lambda *a, **k: pytest.fail("the file was loaded"))
    with pytest.raises(BadWeightsError, match=r"declares 1,572\.9 MB of tensor data, more than the .* MB"):
        import_checkpoint(inflating_pt, "tiny", out=tmp_path / "out")


def test_the_cli_refuses_an_inflating_pt_in_one_line_and_small(inflating_pt, tmp_path):
    run = run_cli("import-checkpoint", inflating_pt, "--config", "tiny", "--out", tmp_path / "out", tmp=tmp_path)
    assert run.rc == 1 and "Traceback" not in run.stderr, run.stderr
    assert "declares 1,572.9 MB of tensor data" in run.stderr, run.stderr
    assert run.peak_mb < BOMB_LIMIT_MB, f"peak {run.peak_mb:.0f} MB"


def _safetensors(tmp_path: Path, header: dict | bytes, data: bytes = b"") -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = tmp_path / "w.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return p


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ({"a": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}, bytes(16)),  # data beyond the file
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, bytes(16)),  # shape and offsets disagree
        ({"a": {"dtype": "X99", "shape": [4], "data_offsets": [0, 16]}}, bytes(16)),  # unknown dtype
        ({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, bytes(16)),
        ({"a": "not an entry"}, b""),
        (b"{not json", b""),
    ],
    ids=["beyond-file", "shape-vs-offsets", "dtype", "negative-shape", "entry", "json"],
)
def test_a_crafted_safetensors_header_is_refused_by_name(tmp_path, header, data):
    p = _safetensors(tmp_path, header, data)
    with pytest.raises(BadWeightsError, match=re.escape(str(p))):
        safetensors_header(p)


def test_a_huge_safetensors_header_is_not_read(tmp_path):
    p = tmp_path / "w.safetensors"
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", 50 << 20) + b"{")
        f.truncate(8 + (50 << 20))
    with pytest.raises(BadWeightsError, match=r"a safetensors header of 52,428,800 bytes, more than the 16,777,216 read"):
        safetensors_header(p)
