"""A workspace that cannot be written (chmod -R a-w, a read-only mount) opens read-only:
info, survey list and export work, writing commands say "read-only", nothing changes.

Tests run as root here, and chmod does not stop root: the CLI then runs in a child whose
capabilities to ignore file permissions are dropped (prctl PR_CAPBSET_DROP before exec).
The read-only mount uses a private mount namespace (unshare -rm); both are skipped,
saying why, where the system does not allow them.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backend.cli import build_parser
from backend.cli.common import READ_ONLY_COMMANDS, command_id
from backend.errors import WorkspaceError
from backend.workspace import Workspace, access

ROOT = Path(__file__).resolve().parents[1]

# Runs CLI commands in one process (imports once) and prints [rc, stdout, stderr] per command.
DRIVER = textwrap.dedent("""
    import contextlib, io, json, os, sys
    print("started", flush=True)  # the simulation is set up; from here on any failure is the program's
    from backend.cli import main
    try:  # the simulation must really stop writes, or the test would prove nothing
        open(os.path.join(sys.argv[1], "probe"), "w")
        print("CAN-WRITE")
        sys.exit(0)
    except OSError:
        pass
    out = []
    for argv in json.loads(sys.argv[2]):
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            try:
                rc = main(argv)
            except BaseException as exc:  # a crash is a result too (the test then fails on it)
                rc = f"{type(exc).__name__}: {exc}"
        out.append([rc, o.getvalue(), e.getvalue()])
    print(json.dumps(out))
""")

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
PR_CAPBSET_DROP = 24


def _drop_file_capabilities() -> None:
    """In the child before exec: root loses the right to ignore permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(prefix: list[str], ws: Path, commands: list[list[str]], root_caps_dropped: bool) -> list:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        prefix + [sys.executable, "-c", DRIVER, str(ws), json.dumps(commands)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        preexec_fn=_drop_file_capabilities if root_caps_dropped else None,
    )
    lines = proc.stdout.strip().splitlines()
    if lines[:1] != ["started"]:
        pytest.skip(f"cannot simulate a read-only workspace here: {proc.stderr.strip()[-300:]}")
    if lines[-1] == "CAN-WRITE":
        pytest.skip("the simulation did not stop writes on this system")
    assert proc.returncode == 0, proc.stderr
    return json.loads(lines[-1])


@pytest.fixture
def ro_copy(demo_ws, tmp_path):
    """A closed copy of the demo workspace with one kept sample (no -wal or -shm file)."""
    i = demo_ws.image_ids()[0]
    s = demo_ws.add_sample(
        "inpainted", "Diff", demo_ws.read_image(i)[::-1].copy(), demo_ws.read_mask(demo_ws.current_mask(i)), source_image_id=i
    )
    demo_ws.set_review(s.id, "keep")
    demo_ws.close()  # the last connection merges the WAL into the database file
    ws = tmp_path / "ro-ws"
    shutil.copytree(demo_ws.root, ws)
    return ws


def _commands(ws: Path, out: Path) -> list[list[str]]:
    return [
        ["info", "-w", str(ws), "--json"],
        ["survey", "list", "-w", str(ws)],
        ["export", "-w", str(ws), str(out)],
        ["dilate", "-w", str(ws), "--pixels", "1"],
        ["train", "-w", str(ws), "--steps", "1"],
        ["jobs", "add", "-w", str(ws), "masks"],
    ]


def _check(results: list, out: Path, flagged: int) -> None:
    (info, survey, export, dilate, train, jobs) = results
    assert info[0] == 0, info
    assert json.loads(info[1])["images"] == 12 and json.loads(info[1])["flagged"] == flagged
    assert survey[0] == 0 and "No surveys yet" in survey[1], survey
    assert export[0] == 0 and "Exported 1 kept sample " in export[1], export
    assert len(list((out / "images").glob("*.png"))) == 1 and (out / "provenance.csv").is_file()
    for rc, _, err in (dilate, train, jobs):
        assert rc == 1 and "is read-only" in err and "writes to it" in err and "Traceback" not in err, err
    assert "'diffgen dilate' writes to it" in dilate[2] and "'diffgen jobs add' writes to it" in jobs[2]


def test_chmod_read_only_workspace_reads_and_refuses_writes(ro_copy, tmp_path):
    ws, out = ro_copy, tmp_path / "export"
    copy = Workspace.open(ws)
    flagged = len(copy.images("flagged = 1"))
    copy.close()  # no -wal or -shm left: SQLite must open the database without creating one
    before = _tree(ws)
    assert not list(ws.glob("workspace.sqlite-*"))
    subprocess.run(["chmod", "-R", "a-w", str(ws)], check=True)
    try:
        results = _run([], ws, _commands(ws, out), root_caps_dropped=os.geteuid() == 0)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(ws)], check=True)
    _check(results, out, flagged)
    assert _tree(ws) == before  # no -shm, no temp file, nothing


def _crash_with_wal(ws: Path) -> None:
    """A writer killed after committing: its change is only in workspace.sqlite-wal."""
    code = (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
        "c.execute('UPDATE images SET flagged = 1');"
        "c.commit(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(ws / "workspace.sqlite")], check=True)
    assert (ws / "workspace.sqlite-wal").stat().st_size > 0 and (ws / "workspace.sqlite-shm").exists()


def test_read_only_mount_reads_unmerged_wal_and_refuses_writes(ro_copy, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command")
    ws, out = ro_copy, tmp_path / "export"
    _crash_with_wal(ws)
    no_shm = tmp_path / "no-shm-ws"
    shutil.copytree(ws, no_shm)
    (no_shm / "workspace.sqlite-shm").unlink()  # WAL content SQLite cannot read without writing
    before = _tree(ws)
    mounts = " && ".join(f"mount --bind {p} {p} && mount -o remount,bind,ro {p} {p}" for p in (ws, no_shm))
    commands = _commands(ws, out) + [["info", "-w", str(no_shm)]]
    script = f'{mounts} && exec "$@"'
    results = _run(["unshare", "-rm", "sh", "-c", script, "sh"], ws, commands, root_caps_dropped=False)
    _check(results[:-1], out, flagged=12)  # the change that is only in the WAL is seen
    rc, _, err = results[-1]
    assert rc == 1 and "last changes are still in workspace.sqlite-wal" in err, err
    assert _tree(ws) == before


def test_read_only_workspace_refuses_every_write_in_process(demo_ws, monkeypatch):
    """The back end itself (GUI, jobs) refuses writes before touching a file."""
    demo_ws.close()
    monkeypatch.setattr(access, "writable", lambda root, db: False)
    ws = Workspace.open(demo_ws.root)
    assert ws.read_only and ws.info()["images"] == 12
    files = _tree(ws.root)
    i = ws.image_ids()[0]
    with pytest.raises(WorkspaceError, match="is read-only"):
        ws.set_flag(i, True)
    with pytest.raises(WorkspaceError, match="is read-only"):
        ws.add_sample("inpainted", "Diff", ws.read_image(i), ws.read_mask(ws.current_mask(i)))
    with pytest.raises(WorkspaceError, match="is read-only"):
        ws.write_png("reports/x.png", ws.read_image(i))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # even past the guard, SQLite refuses
        ws.conn.execute("UPDATE images SET flagged = 1")
    assert _tree(ws.root) == files
    with pytest.raises(WorkspaceError, match="a new workspace cannot be created"):
        Workspace.create(demo_ws.root.parent / "new-ws")


def test_read_only_command_list_names_real_commands():
    found = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:  # argparse keeps subcommands here; no public accessor
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found.add(command_id(argparse.Namespace(func=child.get_default("func"))))
                    walk(child)

    walk(build_parser())
    assert READ_ONLY_COMMANDS <= found and len(READ_ONLY_COMMANDS) == 5
