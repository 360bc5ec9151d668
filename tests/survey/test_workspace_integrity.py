"""A damaged or edited ``workspace.sqlite`` is refused with a message naming what is wrong:
stored paths outside the workspace are never read (served, exported, packed), and the
database itself is checked when it is opened (the real CLI, no traceback)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from survey_support import make_survey

from backend import survey as sv
from backend.exporters.job import export_kept
from backend.io.files import encode_png
from backend.survey import sheets
from backend.workspace import Workspace
from backend.workspace.integrity import DamagedWorkspaceError

ROOT = Path(__file__).resolve().parents[1]


def tamper(ws: Workspace, sql: str, params: tuple = ()) -> None:
    """Edit the database behind the program's back, as a person or a tool could."""
    with sqlite3.connect(ws.root / "workspace.sqlite") as c:
        c.execute("PRAGMA foreign_keys=OFF")
        c.execute(sql, params)
    ws.close()


@pytest.fixture
def outside(tmp_path) -> Path:
    """A valid PNG outside the workspace: before the check, readers took it as their own."""
    path = tmp_path / "secret" / "outside.png"
    path.parent.mkdir()
    path.write_bytes(encode_png(np.full((64, 64, 3), 7, np.uint8)))
    return path


def _value(ws: Workspace, outside: Path, how: str) -> str:
    if how == "absolute":
        return str(outside)
    if how == "dotdot":
        return os.path.relpath(outside, ws.root)
    link = ws.root / "samples" / "link.png"  # inside by name, outside once resolved
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(outside)
    return "samples/link.png"


def _export(ws: Workspace, tmp_path: Path) -> None:
    export_kept(ws, tmp_path / "export", with_real=True)


def _survey(ws: Workspace) -> sv.Survey:
    return sv.get_survey(ws, "pilot")


def _rater_pack(ws: Workspace, tmp_path: Path) -> None:
    sheets.export_rater_pack(ws, _survey(ws), tmp_path / "pack")


# (table, column, which row, reader): every reader of a stored path goes through the one check
READERS = [
    ("samples", "image_path", "SELECT MIN(id) FROM samples", _export),
    ("samples", "mask_path", "SELECT MIN(id) FROM samples", _export),
    ("mask_versions", "path", "SELECT MIN(id) FROM mask_versions", _export),
    ("images", "stored_path", "SELECT MIN(id) FROM images", _export),
    ("survey_items", "image_path", "SELECT MIN(id) FROM survey_items", _rater_pack),
    ("survey_items", "mask_path", "SELECT MIN(id) FROM survey_items", _rater_pack),
]


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
@pytest.mark.parametrize(("table", "column", "row_sql", "reader"), READERS, ids=[f"{t}.{c}" for t, c, *_ in READERS])
def test_a_stored_path_outside_the_workspace_is_refused_naming_its_row(
    ws, tmp_path, outside, how, table, column, row_sql, reader
):
    make_survey(ws)
    row = ws.query(row_sql)[0][0]
    tamper(ws, f"UPDATE {table} SET {column} = ? WHERE id = ?", (_value(ws, outside, how), row))
    with pytest.raises(DamagedWorkspaceError, match=rf"is damaged: {table} row {row}, {column} = "):
        reader(ws, tmp_path)
    assert not (tmp_path / "export").exists() and not (tmp_path / "pack").exists()


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_the_web_rater_never_serves_a_file_outside_the_workspace(ws, tmp_path, outside, how, caplog):
    from starlette.testclient import TestClient

    from backend.survey.links import issue_link
    from backend.web import create_app

    survey = make_survey(ws)
    token = issue_link(ws, sv.add_rater(ws, survey, "dr-web"))
    first = ws.query("SELECT MIN(id) FROM survey_items")[0][0]
    tamper(ws, "UPDATE survey_items SET image_path = ? WHERE id = ?", (_value(ws, outside, how), first))
    client = TestClient(create_app(ws, survey), raise_server_exceptions=False)
    state = client.get(f"/r/{token}/state")
    # before the check the rater's state listed the item and /image/CODE returned the outside file
    assert state.status_code == 500 and state.content == b""
    assert f"is damaged: survey_items row {first}, image_path = " in caplog.text  # the operator reads why


SQL = {
    "schema-0": "PRAGMA user_version = 0",
    "missing-table": "DROP TABLE reviews",
    "bad-params-json": "UPDATE samples SET params_json = '{not json' WHERE id = (SELECT MIN(id) FROM samples)",
    "outside-path": "UPDATE samples SET image_path = '/etc/passwd' WHERE id = (SELECT MIN(id) FROM samples)",
    "bad-survey-params": "UPDATE surveys SET params_json = 'oops'",
    "bad-job-params": "INSERT INTO jobs (kind, status, params_json, position, created_at)"
    " VALUES ('inpaint', 'queued', '[1,', 0, '')",
}


def _damage(db: Path, case: str) -> None:
    if case == "zero-byte":
        db.write_bytes(b"")
    elif case == "not-sqlite":
        db.write_bytes(b"GIF89a this is not a database" * 40)
    else:
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA foreign_keys=OFF")
            c.execute(SQL[case])
        c.close()
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)


EXPORT = ["export", "OUT"]
DAMAGE = [
    ("zero-byte", EXPORT, "workspace.sqlite is empty (0 bytes)"),
    ("not-sqlite", EXPORT, "workspace.sqlite is not a readable SQLite database"),
    ("schema-0", EXPORT, "workspace.sqlite has schema version 0 but holds tables"),
    ("missing-table", EXPORT, "workspace.sqlite lacks the table reviews"),
    ("bad-params-json", EXPORT, "params_json = '{not json' is not valid JSON"),
    ("outside-path", EXPORT, "image_path = '/etc/passwd' is an absolute path"),
    ("bad-survey-params", ["survey", "list"], "surveys row 1, params_json = 'oops' is not valid JSON"),
    ("bad-job-params", ["jobs", "list"], "jobs row 1, params_json = '[1,' is not valid JSON"),
]


@pytest.mark.parametrize(("case", "command", "message"), DAMAGE, ids=[c for c, *_ in DAMAGE])
def test_a_damaged_database_is_a_message_from_the_real_cli(ws, tmp_path, case, command, message):
    make_survey(ws)
    ws.close()
    db = ws.root / "workspace.sqlite"
    # a checkpoint merges the WAL, so the damage is to the whole database
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    _damage(db, case)
    before = db.read_bytes()
    tables = _tables(db) if db.stat().st_size and case != "not-sqlite" else None
    argv = [str(tmp_path / "export") if a == "OUT" else a for a in command]
    out = subprocess.run(
        [sys.executable, "-m", "diffgen_gui", *argv, "--workspace", str(ws.root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert f"error: the workspace {ws.root} is damaged: " in out.stderr and message in out.stderr
    if db.read_bytes() != before:  # the command got as far as its job row (issue 29: every run has one)
        after = _tables(db)
        assert tables is not None and _without_jobs(after) == _without_jobs(tables)  # nothing repaired
        with sqlite3.connect(db) as c:
            new = c.execute("SELECT kind, status FROM jobs WHERE id > ?", (len(tables["jobs"]),)).fetchall()
        c.close()
        assert new == [("export", "failed")]
    assert not (tmp_path / "export").exists()


def _tables(db: Path) -> dict[str, list[tuple]]:
    """Every table's rows, read without the app's checks (what the user's data is)."""
    with sqlite3.connect(db) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {n: c.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
    c.close()
    return rows


def _without_jobs(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {name: rows for name, rows in tables.items() if name not in ("jobs", "sqlite_sequence")}


def test_an_intact_workspace_still_opens_and_exports(ws, tmp_path):
    make_survey(ws)
    assert export_kept(ws, tmp_path / "export", with_real=True).samples == 6
    sheets.export_rater_pack(ws, _survey(ws), tmp_path / "pack")
    assert len(list((tmp_path / "pack" / "images").iterdir())) == 60


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_model_folder_outside_the_workspace_is_refused(ws, outside, how):
    from backend.diffusion.registry import resolve_model

    (outside.parent / "config.json").write_text("{}")  # looks like a model folder
    value = _value(ws, outside, how)
    folder = str(Path(value).parent) if how != "symlink" else "models/link"
    if how == "symlink":
        (ws.root / "models").mkdir()
        (ws.root / folder).symlink_to(outside.parent)
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO models (name, target, preset, config_json, path, created_at) VALUES ('m', 'full', 'tiny', '{}', ?, '')",
            (folder,),
        )
    with pytest.raises(DamagedWorkspaceError, match=r"is damaged: models row 1, path = "):
        resolve_model(ws, None, "full")
