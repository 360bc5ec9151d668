"""Sharded generation: N processes (under torchrun, a SLURM array or --shard K/N) each write a
bundle; import-samples merges them. The merged workspace equals a one-process run's sample for
sample, byte for byte; a killed shard loses only its unfinished images; bundles are checked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from backend.cli import main as cli_main
from backend.config.device import pick_device, rank_device
from backend.data.importer import import_dataset
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.registry import record_checkpoint, register_model
from backend.errors import BadInputError, DiffGenError
from backend.inpaint.job import run_inpaint
from backend.inpaint.params import InpaintParams
from backend.jobs.bundles import MANIFEST, bundle_states, import_bundles, read_bundle
from backend.jobs.context import JobContext
from backend.jobs.queue import JobStore
from backend.jobs.shards import Shard, local_rank_from_env, parse_shard, shard_from_env
from backend.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
MICRO = str(REPO / "tests" / "data" / "micro.toml")
BIN = Path(sys.executable).parent
INPAINT = ["--seed", "3", "--preset", MICRO, "--retries", "1"]
STYLE = [
    "--all-unstyled",
    "--preset",
    MICRO,
    "--seed",
    "5",
    "--lambda-sty",
    "0",
    "--lambda-sem",
    "0",
    "--lambda-vgg",
    "0",
]  # no DINO or VGG file needed: ZeCon (the model's encoder), MSE, L2 and range terms


# -- shards, launchers and devices ------------------------------------------------------------
def test_shards_are_disjoint_contiguous_slices_covering_the_list():
    items = list(range(11))
    parts = [Shard(k, 4).take(items) for k in range(4)]
    assert sum(parts, []) == items and [len(p) for p in parts] == [2, 3, 3, 3]
    assert Shard(3, 4).label == "3-of-4" and str(parse_shard("3/4")) == "3/4"
    assert [Shard(k, 20).take(items[:3]) for k in (0, 6, 19)] == [[], [0], [2]]  # more shards than items
    for text, match in (("4/4", r"0 <= K < N"), ("a/2", r"expected K/N"), ("1", r"expected K/N"), ("0/0", "0 <= K < N")):
        with pytest.raises(BadInputError, match=match):
            parse_shard(text)


def test_launchers_give_the_shard_and_torchrun_the_gpu():
    assert shard_from_env({}) is None and local_rank_from_env({}) is None
    torchrun = {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert shard_from_env(torchrun) == Shard(5, 8) and local_rank_from_env(torchrun) == 1  # torchrun first
    # sbatch --array=1-4: ids 1..4 are shards 0..3; --array=0-6:2 (ids 0,2,4,6) likewise
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}) == Shard(3, 4)
    assert shard_from_env(
        {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"}
    ) == Shard(2, 4)
    with pytest.raises(BadInputError, match="RANK='x' is not an integer"):
        shard_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    cuda = torch.cuda.is_available()
    assert rank_device("auto", 3) == ("cuda:3" if cuda else "cpu") and rank_device("cuda:0", 3) == "cuda:0"
    assert rank_device("auto", None) == "auto" and rank_device("cpu", 3) == "cpu"


def test_devices_are_checked_with_a_clear_message():
    assert pick_device("cpu") == torch.device("cpu") and pick_device(" CPU ") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cpu:1", "cuda:-1"):
        with pytest.raises(BadInputError, match=r"not one of auto, cpu, cuda, cuda:N"):
            pick_device(bad)
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        assert pick_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
        with pytest.raises(BadInputError, match=f"this machine has {n} CUDA device"):
            pick_device(f"cuda:{n}")
    else:
        with pytest.raises(BadInputError, match="'cuda:1': CUDA is not available"):
            pick_device("cuda:1")


# -- a workspace with a tiny model, and how to compare two ------------------------------------
@pytest.fixture(scope="module")
def gen_ws(tmp_path_factory, demo_dataset) -> Workspace:
    ws = Workspace.create(tmp_path_factory.mktemp("gen") / "ws")
    import_dataset(ws, demo_dataset)
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    folder = save_model(ws.root / "models" / "full", build_model(cfg), DiffusionConfig(timestep_respacing="10"))
    record_checkpoint(ws, register_model(ws, "full", "full", "tiny", {}, folder), 100, 0.5, folder / "model.safetensors")
    return ws


def clone(ws: Workspace, dest: Path) -> Path:
    ws.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(ws.root, dest)
    return dest


def run_cli(args: list[str], launcher: list[str] | None = None, wait: bool = True):
    """``python -m backend.cli ARGS`` in a fresh process (or under ``launcher``, e.g. torchrun)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [*(launcher or [sys.executable]), "-m", "backend.cli", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    return out


def torchrun(nproc: int) -> list[str]:
    assert (BIN / "torchrun").exists(), f"torchrun is missing beside {sys.executable}: it comes with torch; reinstall torch"
    return [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", str(nproc)]


def stored(root: Path) -> dict[tuple, dict]:
    """Every sample by (kind, source image, sample index, parent's source index): its files'
    bytes, its row and provenance except the timings (created_at, style's seconds), its gates."""
    ws = Workspace.open(root)
    out = {}
    for s in ws.samples():
        parent = ws.sample(s.parent_sample_id).params.get("sample_index") if s.parent_sample_id else None
        params = {k: v for k, v in s.params.items() if k != "seconds"}
        out[(s.kind, s.source_image_id, s.params.get("sample_index"), parent)] = {
            "image": ws.path(s.image_path).read_bytes(),
            "mask": ws.path(s.mask_path).read_bytes(),
            "row": (s.set_name, s.seed, s.model_id, s.mask_version_id, s.image_path, s.mask_path),
            "checkpoint": ws.query("SELECT checkpoint_id FROM samples WHERE id = ?", (s.id,))[0][0],
            "params": params,
            "gates": ws.gates(s.id),
        }
    return out


def unbatched(row: dict) -> dict:
    """A stored sample row without its provenance's batch record."""
    return {**row, "params": {k: v for k, v in row["params"].items() if k != "batch"}}


def bundles_of(root: Path) -> list[Path]:
    return sorted((root / "bundles").iterdir())


# -- exactness -----------------------------------------------------------------------------------
def test_two_torchrun_shards_merged_equal_one_process_byte_for_byte(gen_ws, tmp_path):
    one, two = clone(gen_ws, tmp_path / "one"), clone(gen_ws, tmp_path / "two")
    images = ["--images", "1,2,3,4,5"]
    run_cli(["inpaint", "-w", str(one), *images, *INPAINT, "--device", "cpu", "--no-sheet"])
    tables = ("samples", "sample_gates", "results", "jobs")
    before = [Workspace.open(two).query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables]
    out = run_cli(["inpaint", "-w", str(two), *images, *INPAINT], launcher=torchrun(2))
    assert "shard 0/2" in out and "shard 1/2" in out
    assert [Workspace.open(two).query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables] == before  # no rows
    bundles = bundles_of(two)
    run = bundles[0].name.removesuffix("-0-of-2")
    assert run.startswith("inpaint-seed3-") and [b.name for b in bundles] == [f"{run}-0-of-2", f"{run}-1-of-2"]
    shares = [sorted({r["source_image_id"] for r in read_bundle(b).rows}) for b in bundles]
    assert shares == [[1, 2], [3, 4, 5]]  # disjoint slices of the sorted images
    assert read_bundle(bundles[0]).meta["config"]["models"][0]["respacing"] == 10  # the resolved config

    assert cli_main(["import-samples", "-w", str(two), *map(str, bundles)]) == 0
    expected, merged = stored(one), stored(two)
    assert len(expected) == 10 and merged.keys() == expected.keys()
    for key, want in expected.items():
        # bytes, row, provenance, gate scores; the batch record names each run's own model call
        # (a shard batches only its images, and its process has its own threads): not compared
        assert unbatched(merged[key]) == unbatched(want), key
        assert merged[key]["params"]["batch"]["rows"] != [] and want["params"]["batch"]["rows"] != []
    assert cli_main(["import-samples", "-w", str(two), *map(str, bundles)]) == 0  # again: adds nothing
    assert len(Workspace.open(two).samples()) == 10
    merges = [(j.kind, j.status, j.message) for j in JobStore(Workspace.open(two)).list()]  # newest first
    assert merges == [
        ("import-samples", "done", "Merged 2 bundles (0 samples added)."),
        ("import-samples", "done", "Merged 2 bundles (10 samples added)."),
    ]
    # the one-process run is a job (issue 29), its samples' provenance; a shard writes no job row
    assert [tuple(r) for r in Workspace.open(one).query("SELECT DISTINCT job_id FROM samples")] == [(1,)]
    assert [tuple(r) for r in Workspace.open(two).query("SELECT DISTINCT job_id FROM samples")] == [(None,)]
    states = {s.path: s.state for s in bundle_states(Workspace.open(two))}
    assert set(states.values()) == {"merged"}


def test_style_in_two_torchrun_shards_merged_equals_one_process(gen_ws, tmp_path):
    base = clone(gen_ws, tmp_path / "base")
    run_inpaint(
        Workspace.open(base),
        InpaintParams.from_dict({"images": [1, 2, 3], "seed": 3, "preset": MICRO, "device": "cpu"}),
        JobContext(),
    )
    one, two = clone(Workspace.open(base), tmp_path / "one"), clone(Workspace.open(base), tmp_path / "two")
    run_cli(["style", "-w", str(one), *STYLE, "--device", "cpu"])
    run_cli(["style", "-w", str(two), *STYLE], launcher=torchrun(2))
    bundles = bundles_of(two)
    assert [len(read_bundle(b).rows) for b in bundles] == [3, 3]  # 6 inpainted samples, 3 a shard
    assert cli_main(["import-samples", "-w", str(two), *map(str, bundles)]) == 0
    expected, merged = stored(one), stored(two)
    assert sum(k[0] == "styled" for k in expected) == 6 and merged.keys() == expected.keys()
    for key, want in expected.items():
        assert merged[key] == want, key
    styled = Workspace.open(two).samples(kind="styled")
    assert {g.gate for g in Workspace.open(two).gates(styled[0].id)} == {"no_polyp", "cut_off", "copy", "seam", "colour"}


# -- a killed shard -------------------------------------------------------------------------------
def test_a_killed_shard_loses_only_its_unfinished_images_and_a_rerun_completes_it(gen_ws, tmp_path):
    """A real SIGKILL of the shard's process once its first image is in the bundle."""
    root = clone(gen_ws, tmp_path / "ws")
    args = ["inpaint", "-w", str(root), "--all", *INPAINT, "--batch", "2", "--shard", "0/1", "--device", "cpu"]
    proc = run_cli(args, wait=False)
    items: list[Path] = []
    deadline = time.monotonic() + 180
    while not items and proc.poll() is None and time.monotonic() < deadline:
        items = list((root / "bundles").glob("*.partial/items/*.json"))
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert items and proc.returncode == -signal.SIGKILL, "the shard finished before it could be killed"
    partial = items[0].parents[1]
    kept = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (partial / "items").glob("*.json")}
    assert 1 <= len(kept) < 12 and not (partial / MANIFEST).exists()
    assert cli_main(["import-samples", "-w", str(root), str(partial)]) == 1  # incomplete: refused
    states = {s.state for s in bundle_states(Workspace.open(root))}
    assert states == {"running or interrupted"}

    result = run_inpaint(
        Workspace.open(root),
        InpaintParams.from_dict(
            {"all": True, "seed": 3, "preset": MICRO, "retries": 1, "batch": 2, "shard": "0/1", "device": "cpu"}
        ),
        JobContext(),
    )
    assert len(result.already_done) == len(kept) and result.images == 12 - len(kept)  # only the rest drawn
    bundle = read_bundle(result.bundle)
    keys = [(r["source_image_id"], r["params"]["sample_index"]) for r in bundle.rows]
    assert sorted(keys) == [(i, k) for i in range(1, 13) for k in range(2)]  # each once
    for name, (data, _) in kept.items():  # the kept rows, unchanged
        rows = json.loads(data)
        assert [r["image"] for r in rows] == [r["image"] for r in bundle.rows if r["item"] == name[:-5]]
    assert cli_main(["import-samples", "-w", str(root), result.bundle]) == 0
    assert len(Workspace.open(root).samples(kind="inpainted")) == 24


# -- bundles that must be refused ----------------------------------------------------------------
@pytest.fixture
def bundle(gen_ws, tmp_path) -> tuple[Workspace, Path]:
    ws = Workspace.open(clone(gen_ws, tmp_path / "ws"))
    result = run_inpaint(
        ws,
        InpaintParams.from_dict(
            {"images": [1, 2], "seed": 4, "preset": MICRO, "device": "cpu", "shard": "0/1", "bundle": str(tmp_path / "b0")}
        ),
        JobContext(),
    )
    assert result.samples == 4 and result.bundle == str(tmp_path / "b0") and not ws.samples()
    return ws, Path(result.bundle)


def test_corrupt_partial_and_foreign_bundles_are_refused_naming_the_file(bundle, tmp_path, demo_dataset, capsys):
    ws, good = bundle
    corrupt = shutil.copytree(good, tmp_path / "corrupt")
    png = sorted((corrupt / "samples").rglob("*.png"))[0]
    png.write_bytes(png.read_bytes()[:-1] + b"\0")
    partial = shutil.copytree(good, tmp_path / "partial")
    (partial / MANIFEST).unlink()
    assert cli_main(["import-samples", "-w", str(ws.root), str(corrupt), str(partial), str(good)]) == 1
    err = capsys.readouterr().out
    assert f"{png.relative_to(corrupt)} is corrupt" in err and f"bundle {partial} is incomplete" in err
    assert len(ws.samples()) == 4  # the good bundle is merged, nothing of the others
    assert ws.query("SELECT COUNT(*) FROM sample_gates")[0][0] == 4 * 5  # with their gate scores
    other = Workspace.create(tmp_path / "other")
    import_dataset(other, demo_dataset)  # the same images, but no model 1
    reports, errors = import_bundles(other, [good])
    assert reports == [] and len(errors) == 1 and not other.samples()
    assert "rows.jsonl line 1, field 'model_id': names model 1, which this workspace does not have" in errors[0]


def test_a_shard_needs_a_seed_and_never_resumes_or_overwrites_another_run(bundle, tmp_path):
    ws, good = bundle
    params = {"images": [1, 2], "preset": MICRO, "device": "cpu", "shard": "0/1"}
    with pytest.raises(BadInputError, match="shard 0/1 needs --seed"):
        run_inpaint(ws, InpaintParams.from_dict(params), JobContext())
    with pytest.raises(DiffGenError, match="holds another run's bundle"):
        run_inpaint(ws, InpaintParams.from_dict({**params, "seed": 5, "bundle": str(good)}), JobContext())
    with pytest.raises(BadInputError, match="bundle folder name '.hidden' cannot be used"):
        run_inpaint(ws, InpaintParams.from_dict({**params, "seed": 5, "bundle": str(tmp_path / ".hidden")}), JobContext())
    with pytest.raises(BadInputError, match=r"shard 2/2: use K/N with 0 <= K < N"):
        run_inpaint(ws, InpaintParams.from_dict({**params, "shard": "2/2"}), JobContext())
    again = run_inpaint(ws, InpaintParams.from_dict({**params, "seed": 4, "bundle": str(good)}), JobContext())
    assert again.samples == 0 and sorted(again.already_done) == [1, 2]  # the same run: complete already
