"""The workspace store: schema and migrations, atomic files, mask history, samples,
two processes writing at once, and kill -9 in the middle of an import or a mask save.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import backend.workspace.store as store_mod
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.errors import WorkspaceError
from backend.io.files import atomic_write_bytes
from backend.masks.ops import dilate
from backend.workspace import Workspace
from backend.workspace.schema import MIGRATIONS, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    # The worktree's code, not whatever an editable install points at.
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def _tree_state(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check_workspace(root: Path) -> sqlite3.Connection:
    """Open a workspace like a fresh process would and check every row against its file."""
    ws = Workspace.open(root)
    c = ws.conn
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    for r in c.execute("SELECT * FROM images"):
        if r["stored_path"]:
            arr = np.asarray(Image.open(ws.path(r["stored_path"])).convert("RGB"))
            assert arr.shape == (r["height"], r["width"], 3)
        else:
            assert Path(r["source_path"]).is_file()
        assert r["current_mask_id"] is not None  # an image row never exists without its original mask
    for r in c.execute("SELECT m.*, i.width, i.height FROM mask_versions m JOIN images i ON i.id = m.image_id"):
        data = ws.path(r["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        arr = np.asarray(Image.open(ws.path(r["path"])))
        assert arr.shape == (r["height"], r["width"]) and int((arr > 0).sum()) == r["area"]
    for _image_id, versions in c.execute("SELECT image_id, GROUP_CONCAT(version) FROM mask_versions GROUP BY image_id"):
        vs = sorted(int(v) for v in versions.split(","))
        assert vs == list(range(len(vs)))  # unique and gap-free
    owners = c.execute(
        "SELECT COUNT(*) FROM images i JOIN mask_versions m ON m.id = i.current_mask_id WHERE m.image_id != i.id"
    ).fetchone()[0]
    assert owners == 0
    for r in c.execute("SELECT * FROM samples"):
        img = np.asarray(Image.open(ws.path(r["image_path"])))
        mask = np.asarray(Image.open(ws.path(r["mask_path"])))
        assert img.shape[:2] == mask.shape
    return c


# -- schema ------------------------------------------------------------------------------
def test_new_workspace_is_wal_with_foreign_keys_and_current_schema(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    assert ws.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ws.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert ws.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    with pytest.raises(sqlite3.IntegrityError):
        with ws.transaction() as c:
            c.execute(
                "INSERT INTO mask_versions (image_id, version, operation, path, sha256, area, created_at)"
                " VALUES (999, 0, 'original', 'x.png', 'x', 0, 'now')"
            )
    assert ws.query("SELECT COUNT(*) FROM mask_versions")[0][0] == 0  # rolled back


def test_open_missing_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceError, match="diffgen import"):
        Workspace.open(tmp_path / "nothing")


def test_migrations_apply_in_order_and_keep_data(tmp_path, monkeypatch, demo_dataset):
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, demo_dataset)
    ws.close()
    extra = MIGRATIONS + ["ALTER TABLE images ADD COLUMN quality REAL; CREATE TABLE extra (x INTEGER)"]
    monkeypatch.setattr(store_mod, "MIGRATIONS", extra)
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(extra))
    ws2 = Workspace.open(tmp_path / "ws")
    assert ws2.schema_version == len(extra)
    assert ws2.info()["images"] == 12
    assert "quality" in [r[1] for r in ws2.query("PRAGMA table_info(images)")]
    ws2.close()
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS)  # an older program meets a newer workspace
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", SCHEMA_VERSION)
    with pytest.raises(WorkspaceError, match="newer DiffGen"):
        Workspace.open(tmp_path / "ws")


# -- atomic files --------------------------------------------------------------------------
def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old contents")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"x" * 100000)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left behind


# -- mask history and samples --------------------------------------------------------------------
def test_mask_versions_never_touch_the_original(demo_ws):
    image_id = demo_ws.image_ids()[1]
    original = demo_ws.current_mask(image_id)
    original_bytes = demo_ws.path(original.path).read_bytes()
    m0 = demo_ws.read_mask(original)
    v1 = demo_ws.add_mask_version(image_id, dilate(m0, 3), "dilate", {"pixels": 3})
    v2 = demo_ws.add_mask_version(image_id, np.zeros_like(m0), "edit", {"tool": "erase"})
    assert (v1.version, v1.parent_id, v2.version, v2.parent_id) == (1, original.id, 2, v1.id)
    assert demo_ws.current_mask(image_id).id == v2.id
    np.testing.assert_array_equal(demo_ws.read_mask(v1), dilate(m0, 3))
    demo_ws.set_current_mask(image_id, original.id)  # revert keeps the history
    assert demo_ws.current_mask(image_id).id == original.id
    assert [v.version for v in demo_ws.mask_versions(image_id)] == [0, 1, 2]
    assert demo_ws.path(original.path).read_bytes() == original_bytes
    with pytest.raises(WorkspaceError):
        demo_ws.set_current_mask(demo_ws.image_ids()[0], v1.id)  # another image's mask


def test_samples_carry_provenance_and_reviews(demo_ws):
    image_id = demo_ws.image_ids()[0]
    mv = demo_ws.current_mask(image_id)
    img = demo_ws.read_image(image_id)
    s = demo_ws.add_sample(
        "inpainted",
        "Diff",
        img[::-1].copy(),
        demo_ws.read_mask(mv),
        source_image_id=image_id,
        mask_version_id=mv.id,
        seed=5,
        params={"steps": 10},
    )
    assert (s.source_image_id, s.mask_version_id, s.seed, s.params) == (image_id, mv.id, 5, {"steps": 10})
    got_img, got_mask = demo_ws.read_sample(s)
    np.testing.assert_array_equal(got_img, img[::-1])
    assert demo_ws.samples(kind="inpainted", source_image_id=image_id) == [s]
    assert demo_ws.review(s.id) == ("undecided", "")
    demo_ws.set_review(s.id, "reject", "blurry")
    demo_ws.set_review(s.id, "keep")
    assert demo_ws.review(s.id) == ("keep", "")


# -- two processes at once --------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    from backend.workspace import Workspace
    from backend.masks.ops import dilate, erode
    root, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ws = Workspace.open(root)
    ids = ws.image_ids()
    while not Path(root, "go").exists():
        time.sleep(0.005)
    rng = np.random.default_rng(sum(map(ord, tag)))
    for i in range(n):
        image_id = ids[i % len(ids)]
        cur = ws.current_mask(image_id)
        m = ws.read_mask(cur)
        op = dilate(m, 1) if i % 2 else erode(m, 1)
        ws.add_mask_version(image_id, op, "dilate" if i % 2 else "erode", {"worker": tag, "i": i})
        img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        s = ws.add_sample("test", tag, img, img[..., 0] > 127, source_image_id=image_id,
                          mask_version_id=cur.id, seed=i, params={"worker": tag, "i": i})
        ws.set_review(s.id, "keep" if i % 3 else "reject")
    print("done", flush=True)
""")


def test_two_processes_write_the_same_workspace_at_once(demo_ws, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    n = 50
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(demo_ws.root), tag, str(n)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("gui", "cli")
    ]
    time.sleep(0.3)
    (demo_ws.root / "go").touch()  # both start together
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out, err
    c = check_workspace(demo_ws.root)
    assert c.execute("SELECT COUNT(*) FROM mask_versions").fetchone()[0] == 12 + 2 * n
    for tag in ("gui", "cli"):
        rows = c.execute("SELECT seed FROM samples WHERE set_name = ? ORDER BY seed", (tag,)).fetchall()
        assert [r[0] for r in rows] == list(range(n))
        edits = c.execute(
            "SELECT COUNT(*) FROM mask_versions WHERE json_extract(params_json, '$.worker') = ?", (tag,)
        ).fetchone()[0]
        assert edits == n
    assert c.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 2 * n
    # The writes really overlapped in time (rows of the two processes interleave).
    order = [r[0] for r in c.execute("SELECT set_name FROM samples ORDER BY id")]
    assert sum(a != b for a, b in zip(order, order[1:])) > 2
    # Each image's history is one chain: every new version's parent is a version of the same image.
    bad = c.execute(
        "SELECT COUNT(*) FROM mask_versions m JOIN mask_versions p ON p.id = m.parent_id"
        " WHERE p.image_id != m.image_id OR p.version >= m.version"
    ).fetchone()[0]
    assert bad == 0


# -- kill -9 in the middle of writes -------------------------------------------------------------
IMPORTER = textwrap.dedent("""
    import sys
    from backend.workspace import Workspace
    from backend.data.importer import import_dataset
    ws = Workspace.create(sys.argv[1])
    import_dataset(ws, sys.argv[2], copy=True, progress=lambda d, t, m: print(d, flush=True))
    print("finished", flush=True)
""")

MASK_SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from backend.workspace import Workspace
    from backend.masks.ops import dilate, erode
    ws = Workspace.open(sys.argv[1])
    ids = ws.image_ids()
    rng = np.random.default_rng(int(sys.argv[2]))
    i = 0
    while True:
        image_id = ids[int(rng.integers(len(ids)))]
        m = ws.read_mask(ws.current_mask(image_id))
        ws.add_mask_version(image_id, dilate(m, 2) if rng.random() < 0.5 else erode(m, 1), "edit", {"i": i})
        i += 1
        print(i, flush=True)
""")


def _run_and_kill(cmd: list[str], rng: random.Random, max_lines: int) -> int:
    """Start ``cmd``, let it report a random number of finished writes, then SIGKILL it mid-way."""
    p = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    target = rng.randint(1, max_lines)
    lines = 0
    try:
        for line in p.stdout:
            if line.strip() == "finished":
                break
            lines += 1
            if lines >= target:
                time.sleep(rng.uniform(0, 0.004))  # land somewhere inside the next write
                break
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        p.stdout.close()
    return lines


def _odd_files(folder: Path) -> None:
    """A few inputs that need conversion, so killed imports also cut converted-copy writes."""
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(folder / "images" / f"grey_{i}.png")
        Image.fromarray(np.where(rng.random((64, 64)) > 0.5, 255, 0).astype(np.uint8)).save(folder / "masks" / f"grey_{i}.png")


def test_kill_during_import_leaves_workspace_readable_and_sources_untouched(tmp_path):
    data = write_demo_dataset(tmp_path / "data", count=60, size=64, seed=3)
    _odd_files(data)
    total = 66
    sources = _tree_state(data)
    script = tmp_path / "importer.py"
    script.write_text(IMPORTER)
    ws_root = tmp_path / "ws"
    rng = random.Random(1234)
    done_before = 0
    for _ in range(4):
        _run_and_kill([sys.executable, str(script), str(ws_root), str(data)], rng, total - 1)
        c = check_workspace(ws_root)
        done = c.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        assert done_before <= done <= total
        assert c.execute("SELECT COUNT(*) FROM mask_versions").fetchone()[0] == done  # pairs are whole
        assert _tree_state(data) == sources
        done_before = done
    assert done_before < total  # the kills really interrupted the import
    ws = Workspace.open(ws_root)
    report = import_dataset(ws, data, copy=True)  # finishing afterwards adds only what is missing
    assert report.imported == total - done_before and report.already_present == done_before
    c = check_workspace(ws_root)
    assert tuple(c.execute("SELECT COUNT(*), COUNT(DISTINCT sha256) FROM images").fetchone()) == (total, total)
    assert _tree_state(data) == sources


def test_kill_during_mask_saves_keeps_every_version_whole(demo_ws, demo_dataset, tmp_path):
    sources = _tree_state(demo_dataset)
    originals = {
        r["id"]: (r["path"], demo_ws.path(r["path"]).read_bytes())
        for r in demo_ws.query("SELECT * FROM mask_versions WHERE version = 0")
    }
    script = tmp_path / "saver.py"
    script.write_text(MASK_SAVER)
    rng = random.Random(99)
    saved = 0
    for round_ in range(4):
        saved += _run_and_kill([sys.executable, str(script), str(demo_ws.root), str(round_)], rng, 25)
        c = check_workspace(demo_ws.root)
        n = c.execute("SELECT COUNT(*) FROM mask_versions").fetchone()[0]
        assert n - 12 >= saved  # everything reported as saved is there (plus maybe the one cut short)
        for path, data in originals.values():
            assert demo_ws.path(path).read_bytes() == data
        assert _tree_state(demo_dataset) == sources


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    """mkstemp creates 0600 files; written files get what open() would give under the umask."""
    import os
    import stat

    from backend.io.files import atomic_write_bytes

    mask = os.umask(0)
    os.umask(mask)
    p = atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_opening_removes_temp_files_of_killed_writers_only(demo_ws, tmp_path):
    """kill -9 during an atomic write leaves a hidden temp file; the next open removes it
    when its writer is dead (or, for names without pid, when it is old), and keeps a live
    writer's in-flight file and every other file."""
    root, dead, old = demo_ws.root, _dead_pid(), time.time() - 3600
    kept = [
        root / "masks/1" / f".v0001.png.{os.getpid()}.k3j4l5m6.tmp",  # a live writer (us)
        root / "samples" / ".abc.png.q1w2e3r4.tmp",  # no pid, young
        root / "models/m" / ".notes.tmp",  # not the writer's pattern
        root / "models/m" / "run.tmp",
    ]
    gone = [
        root / "masks/1" / f".v0002.png.{dead}.a1b2c3d4.tmp",
        root / "samples" / ".old.png.z9x8c7v6.tmp",  # no pid, an hour old
        root / f".workspace.json.{dead}.link.tmp",
    ]
    for p in kept + gone:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    os.utime(gone[1], (old, old))
    staging = root / "models/m/checkpoints" / f".step-0000004.{dead}.x1y2z3w4.tmp"  # a checkpoint folder
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"partial")
    Workspace.open(root)
    assert all(p.exists() for p in kept)
    assert not any(p.exists() for p in gone) and not staging.exists()
    check_workspace(root)


STUCK_WRITER = textwrap.dedent("""
    import os, sys, time
    from backend.io import files
    def stuck(fd, data):
        os.write(fd, data[:10])
        print("writing", flush=True)
        time.sleep(120)
    files._write_and_sync = stuck
    files.atomic_write_bytes(os.path.join(sys.argv[1], "reports", "big.bin"), b"x" * 1000)
""")


def test_temp_file_of_a_writer_killed_with_sigkill_is_removed_on_open(demo_ws, tmp_path):
    p = subprocess.Popen([sys.executable, "-c", STUCK_WRITER, str(demo_ws.root)], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "writing"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        p.stdout.close()
    left = list((demo_ws.root / "reports").iterdir())
    assert len(left) == 1 and left[0].name.startswith(f".big.bin.{p.pid}.")
    Workspace.open(demo_ws.root)
    assert list((demo_ws.root / "reports").iterdir()) == []
