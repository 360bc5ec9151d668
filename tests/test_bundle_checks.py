"""Crafted bundles are refused whole: import-samples names the row (or file) and the field,
stores no row of the bundle and writes nothing, inside the workspace or outside it. Each case
starts from an honest bundle written by the real BundleWriter, changes one thing and writes the
manifest anew (as an attacker would), so that only the crafted field can be what is refused."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_memory import BOMB_LIMIT_MB, run_code
from PIL import Image

from backend.cli import main as cli_main
from backend.errors import BadInputError
from backend.gates import SCORED_WHEN_MADE
from backend.io.files import encode_png, sha256_file
from backend.jobs.bundles import IMPORT_RESULT, MANIFEST, META, ROWS, BundleWriter, import_bundles, read_bundle
from backend.jobs.joblog import log_path
from backend.jobs.queue import JobStore
from backend.jobs.sample_row import SampleRow
from benchmarks.bundle_import import SIZE, workspace, write_bundle

TEST_IMAGE = 3  # given the role 'test' in the fixture's workspace


# -- PNGs an attacker would write ------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 20000, colour_type: int = 2) -> bytes:
    """An 8-bit PNG of ``side`` x ``side`` black pixels (RGB: 3 bytes each) in about a megabyte:
    its zlib stream repeats one compressed block of 100 rows, each copy ending in a full flush
    (byte-aligned, no back-references across it), so the copies concatenate."""
    row = bytes(1 + (3 if colour_type == 2 else 1) * side)  # filter byte 0, then black pixels
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(row * 100) + deflate.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    adler = ((len(row) * side) % 65521) << 16 | 1  # Adler-32 of that many zero bytes
    stream = b"\x78\xda" + block * (side // 100) + final + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def test_the_bomb_is_a_real_png_of_its_declared_size():
    """The bomb maker, at a size Pillow may decode: every pixel black, the size it declares."""
    for colour_type, mode in ((2, "RGB"), (0, "L")):
        with Image.open(io.BytesIO(bomb_png(300, colour_type))) as im:
            im.load()
            assert im.mode == mode and im.size == (300, 300) and im.getextrema() in (((0, 0),) * 3, (0, 0))
    assert len(bomb_png()) < 2_000_000


def _png(shape: tuple[int, ...], value: int = 0) -> bytes:
    return encode_png(np.full(shape, value, np.uint8))


# -- the workspace, the honest bundle and how to craft one ------------------------------------
@pytest.fixture(scope="module")
def setting(tmp_path_factory) -> dict[str, Any]:
    """A workspace (demo images, a 16 px model; image 3 held out as a test image) and an honest
    inpaint bundle of 4 rows over images 1 and 2, never imported into it."""
    root = tmp_path_factory.mktemp("bundles")
    ws, images, model = workspace(root)
    ws.set_role([TEST_IMAGE], "test")
    good = write_bundle(ws, images[:2], model, 4, root / "good")
    image3 = ws.query("SELECT id, current_mask_id, sha256 FROM images WHERE id = ?", (TEST_IMAGE,))[0]
    return {"root": root, "ws": ws, "good": good, "image3": tuple(image3), "model": model}


def rehash(folder: Path) -> None:
    """The manifest anew, over every file of the folder (as BundleWriter.finish lists them)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    (folder / MANIFEST).write_text("".join(f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}\n" for p in files))


def edit_rows(folder: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    rows = [json.loads(line) for line in (folder / ROWS).read_text().splitlines()]
    change(rows)
    (folder / ROWS).write_text("".join(json.dumps(r) + "\n" for r in rows))


def set_field(name: str, value: Any) -> Callable[[Path, dict], None]:
    def craft(folder: Path, s: dict) -> None:
        edit_rows(folder, lambda rows: rows[0].__setitem__(name, value))

    return craft


def drop_field(name: str) -> Callable[[Path, dict], None]:
    return lambda folder, s: edit_rows(folder, lambda rows: rows[0].pop(name))


def set_meta(name: str, value: Any) -> Callable[[Path, dict], None]:
    def craft(folder: Path, s: dict) -> None:
        meta = json.loads((folder / META).read_text())
        meta[name] = value
        (folder / META).write_text(json.dumps(meta))

    return craft


def replace_file(which: str, data: bytes) -> Callable[[Path, dict], None]:
    def craft(folder: Path, s: dict) -> None:
        row = json.loads((folder / ROWS).read_text().splitlines()[0])
        (folder / row[which]).write_bytes(data)

    return craft


def from_test_image(folder: Path, s: dict) -> None:
    """Line 1 made from the held-out image 3: its id, its mask version and its hash."""
    image_id, mask_id, sha = s["image3"]
    edit_rows(
        folder, lambda rows: rows[0].update(source_image_id=image_id, mask_version_id=mask_id, checks={"source_sha256": sha})
    )


def mask_of_test_image(folder: Path, s: dict) -> None:
    edit_rows(folder, lambda rows: rows[0].update(mask_version_id=s["image3"][1]))


def symlinked_png(folder: Path, s: dict) -> None:
    """The first PNG becomes a link to a copy of itself outside the bundle (the same bytes)."""
    png = folder / json.loads((folder / ROWS).read_text().splitlines()[0])["image"]
    outside = folder.parent / f"{folder.name}-linked.png"
    shutil.copyfile(png, outside)
    png.unlink()
    png.symlink_to(outside)


def symlinked_folder(folder: Path, s: dict) -> None:
    moved = folder.parent / f"{folder.name}-samples"
    shutil.move(folder / "samples", moved)
    (folder / "samples").symlink_to(moved, target_is_directory=True)


def unlisted_file(folder: Path, s: dict) -> None:
    (folder / "samples" / "inpainted" / "extra.png").write_bytes(_png((SIZE, SIZE, 3)))


def not_json(folder: Path, s: dict) -> None:
    text = (folder / ROWS).read_text().splitlines()
    (folder / ROWS).write_text("\n".join(["{not json", *text[1:]]) + "\n")


L1 = r"rows\.jsonl line 1, field"
CASES: list[tuple[str, Callable[[Path, dict], None], str]] = [
    # values that reach a path: refused from a closed list or check_name
    ("kind escapes", set_field("kind", "../../escape"), rf"{L1} 'kind': '\.\./\.\./escape' is not allowed here"),
    ("kind absolute", set_field("kind", "/tmp/escape"), rf"{L1} 'kind': '/tmp/escape' is not allowed"),
    ("kind real", set_field("kind", "real"), rf"{L1} 'kind': 'real' is not allowed here: this bundle holds 'inpainted'"),
    ("kind empty", set_field("kind", ""), rf"{L1} 'kind': '' is not allowed"),
    ("kind of another run", set_field("kind", "styled"), rf"{L1} 'kind': 'styled' is not allowed"),
    ("set name escapes", set_field("set_name", "../../escape"), rf"{L1} 'set_name': set name '\.\./\.\./escape' cannot be used"),
    ("set name empty", set_field("set_name", ""), rf"{L1} 'set_name': set name '' cannot be used"),
    ("image outside", set_field("image", "../outside.png"), rf"{L1} 'image': '\.\./outside\.png' is not a PNG file listed"),
    ("run kind", set_meta("kind", "../x"), r"bundle\.json, field 'kind': '\.\./x' is not a run that writes bundles"),
    ("uid", set_meta("uid", "../x"), r"bundle\.json, field 'uid': '\.\./x' is not 16 hexadecimal digits"),
    ("run name", set_meta("run", "a/b"), r"bundle\.json, field 'run': run name 'a/b' cannot be used"),
    ("shard", set_meta("shard", [3, 2]), r"bundle\.json, field 'shard': shard 3/2"),
    # what the samples were made from
    ("test-role source", from_test_image, rf"{L1} 'source_image_id': image {TEST_IMAGE} is a held-out test image"),
    ("unknown source", set_field("source_image_id", 999), rf"{L1} 'source_image_id': names image 999, which this workspace"),
    ("source as text", set_field("source_image_id", "1"), rf"{L1} 'source_image_id': '1' is not a row id"),
    ("no source", set_field("source_image_id", None), rf"{L1} 'source_image_id': missing"),
    ("mask of another image", mask_of_test_image, rf"{L1} 'mask_version_id': mask version \d+ is not a mask of image"),
    ("unknown model", set_field("model_id", 77), rf"{L1} 'model_id': names model 77, which this workspace"),
    ("unknown checkpoint", set_field("checkpoint_id", 5), rf"{L1} 'checkpoint_id': names checkpoint 5"),
    ("checks removed", drop_field("checks"), rf"{L1} 'checks': missing or not a JSON object"),
    ("checks emptied", set_field("checks", {}), rf"{L1} 'checks': source_sha256 is None"),
    ("checks of another image", set_field("checks", {"source_sha256": "0" * 64}), rf"{L1} 'checks': image \d+ is not the image"),
    # values that reach a query or the database
    ("seed text", set_field("seed", "7"), rf"{L1} 'seed': '7' is not a seed"),
    ("seed float", set_field("seed", 1.5), rf"{L1} 'seed': 1\.5 is not a seed"),
    ("seed bool", set_field("seed", True), rf"{L1} 'seed': True is not a seed"),
    ("seed too large", set_field("seed", 2**64), rf"{L1} 'seed': {2**64} is not a seed"),
    ("seed missing", drop_field("seed"), rf"{L1} 'seed': None is not a seed"),
    ("params text", set_field("params", "x"), rf"{L1} 'params': a JSON object .* not str"),
    ("params list", set_field("params", [1]), rf"{L1} 'params': a JSON object .* not list"),
    ("params NaN", set_field("params", {"x": math.nan}), rf"{L1} 'params': holds NaN"),
    ("params huge", set_field("params", {"x": "a" * 70_000}), rf"{L1} 'params': 70,\d+ characters"),
    ("params index", set_field("params", {"sample_index": -1}), rf"{L1} 'params': sample_index -1"),
    ("gate name", set_field("gates", [["bogus", 0.1, 0.2, True]]), rf"{L1} 'gates': 'bogus' is not a gate"),
    (  # the audit's gate: a bundle claiming it passed would skip the audit
        "audit gate",
        set_field("gates", [["memorised", 0.9, 0.5, True]]),
        rf"{L1} 'gates': 'memorised' is not a gate a generation run scores",
    ),
    (  # the judge's gate: scored with the importing workspace's own judge, never taken on trust
        "adherence gate",
        set_field("gates", [["adherence", 0.9, 0.5, True]]),
        rf"{L1} 'gates': 'adherence' is not a gate a generation run scores",
    ),
    ("gate value", set_field("gates", [["seam", "x", 0.2, True]]), rf"{L1} 'gates': gate seam: 'x' is not a finite number"),
    ("malformed line", not_json, r"rows\.jsonl line 1 is not JSON"),
    # the files
    ("non-PNG image", replace_file("image", b"GIF89a" + bytes(100)), rf"{L1} 'image': not a PNG file"),
    ("truncated PNG", replace_file("image", _png((SIZE, SIZE, 3), 9)[:-20]), rf"{L1} 'image': corrupt PNG"),
    ("image of another size", replace_file("image", _png((32, 32, 3))), rf"{L1} 'image': the PNG is 32x32; .* makes 16x16"),
    ("bomb PNG", replace_file("image", bomb_png()), rf"{L1} 'image': the PNG is 20000x20000; .* \(not decoded\)"),
    (
        "grey image",
        replace_file("image", _png((SIZE, SIZE))),
        rf"{L1} 'image': the PNG's mode is L; a sample's image is 8-bit RGB",
    ),
    (
        "RGB mask",
        replace_file("mask", _png((SIZE, SIZE, 3))),
        rf"{L1} 'mask': the PNG's mode is RGB; a sample's mask is 8-bit greyscale",
    ),
    ("grey values in mask", replace_file("mask", _png((SIZE, SIZE), 128)), rf"{L1} 'mask': a mask holds 0 and 255 only"),
    ("unlisted file", unlisted_file, r"samples/inpainted/extra\.png is not listed in MANIFEST\.sha256"),
    ("symlinked file", symlinked_png, r"samples/inpainted/\w+\.png is a symbolic link"),
    ("symlinked folder", symlinked_folder, r": samples is a symbolic link"),
]


def files_under(root: Path, skip: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip not in p.parents and p != skip}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_crafted_bundle_is_refused_naming_the_field_and_nothing_is_stored(setting, case, capsys):
    name, craft, message = case
    root, ws = setting["root"], setting["ws"]
    crafted = shutil.copytree(setting["good"], root / f"crafted-{name.replace(' ', '-')}")
    if craft is unlisted_file:  # added after the manifest is written, so that it lists it not
        rehash(crafted)
        craft(crafted, setting)
    else:
        craft(crafted, setting)
        rehash(crafted)
    before = files_under(root, crafted)
    tables = [ws.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("samples", "sample_gates", "results")]

    assert cli_main(["import-samples", "-w", str(ws.root), str(crafted)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    error = next(line for line in out.out.splitlines() if line.startswith("error: "))
    assert error.startswith(f"error: bundle {crafted}")
    assert re.search(message, error), error
    assert [ws.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("samples", "sample_gates", "results")] == tables
    job = JobStore(ws).list()[0]  # the import is a job (issue 29): its row and its log are all it wrote
    assert (job.kind, job.status, job.params["bundles"]) == ("import-samples", "done", [str(crafted)])
    written = files_under(root, crafted) - before
    assert written <= {
        str(log_path(ws, job.id)),
        str(log_path(ws, job.id).parent),
    }  # no other file, in the workspace or beside it
    assert re.search(message, log_path(ws, job.id).read_text(encoding="utf-8"))  # the log says why


def test_the_honest_bundles_still_import_and_a_second_import_adds_nothing(setting, tmp_path):
    ws, good = setting["ws"], setting["good"]
    reports, errors = import_bundles(ws, [good])
    assert errors == [] and len(reports[0].added) == 4 and reports[0].present == 0
    stored = {(s.source_image_id, s.seed) for s in ws.samples(kind="inpainted")}
    assert stored >= {(r["source_image_id"], r["seed"]) for r in read_bundle(good).rows}
    assert all(len(ws.gates(i)) == len(SCORED_WHEN_MADE) for i in reports[0].added)
    assert ws.read_sample(reports[0].added[0])[0].shape == (SIZE, SIZE, 3)
    again, errors = import_bundles(ws, [good])
    assert errors == [] and again[0].added == () and again[0].present == 4

    # an honest style bundle of those samples: named parents, their files as the check
    parents = [ws.sample(i) for i in reports[0].added[:2]]
    identity = {"kind": "style", "run": "style-seed0-test", "digest": "0" * 64, "shard": [0, 1]}
    writer = BundleWriter(tmp_path / "style", identity, [f"sample-{p.id}" for p in parents], {"params": {}})
    for p in parents:
        image, mask = ws.read_sample(p)
        row = SampleRow(
            "styled",
            "Styled-Diff",
            encode_png(255 - image),
            encode_png(mask),
            {"stage": "style"},
            seed=p.id,
            source_image_id=p.source_image_id,
            mask_version_id=p.mask_version_id,
            parent_sample_id=p.id,
            model_id=setting["model"],
            checks={"parent_image": p.image_path},
        )
        writer.add(f"sample-{p.id}", [row])
    styled, errors = import_bundles(ws, [writer.finish()])
    assert errors == [] and len(styled[0].added) == 2
    assert [ws.sample(i).parent_sample_id for i in styled[0].added] == [p.id for p in parents]
    assert {r["key"] for r in ws.query("SELECT key FROM results WHERE kind = ?", (IMPORT_RESULT,))} >= {
        read_bundle(good).meta["uid"]
    }


def test_no_sample_kind_places_files_outside_samples(setting):
    """The store's own guard, under every caller: the kind is a checked folder name."""
    ws = setting["ws"]
    before = files_under(setting["root"], ws.root / "never")
    for kind in ("../../escape", "/tmp/escape", "", "a/b"):
        with pytest.raises(BadInputError, match="sample kind .* cannot be used as a folder name"):
            ws.add_sample(kind, "Diff", np.zeros((SIZE, SIZE, 3), np.uint8), np.zeros((SIZE, SIZE), np.uint8))
    assert files_under(setting["root"], ws.root / "never") == before


CHILD = """
import json, sys
from backend.jobs.bundles import import_bundles
from backend.workspace import Workspace
reports, errors = import_bundles(Workspace.open(sys.argv[1]), [sys.argv[2]])
print(json.dumps({"errors": errors, "added": [len(r.added) for r in reports]}))
"""


def test_a_bomb_png_is_refused_from_its_header_with_little_memory(setting):
    """The 20000x20000 RGB PNG (1.2 GB of pixels in about a megabyte) is refused in a child
    process whose peak memory stays under 300 MB: its pixels were never allocated."""
    root, ws = setting["root"], setting["ws"]
    crafted = shutil.copytree(setting["good"], root / "bomb")
    replace_file("image", bomb_png())(crafted, setting)
    rehash(crafted)
    run = run_code(CHILD, ws.root, crafted, tmp=root)
    assert run.rc == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["added"] == [] and len(result["errors"]) == 1, result
    assert "rows.jsonl line 1, field 'image': the PNG is 20000x20000" in result["errors"][0]
    assert run.peak_mb < BOMB_LIMIT_MB, f"peak {run.peak_mb:.0f} MB"
