"""What the workspace database holds is checked before it is used: it arrived from disk.

``workspace.sqlite`` may have been edited, truncated or replaced (by a person, a sync tool, a
crash of the disk). Every file path read from it goes through :func:`stored_path`, which
resolves it under the workspace folder (symbolic links included) and refuses anything
outside: a row saying ``/etc/passwd`` or ``../../x`` must never make the web rater serve,
or an export copy, a file the workspace does not own. Stored JSON goes through
:func:`stored_json`. The database itself is checked when it is opened
(:func:`check_database`): an empty file, a file that is not SQLite, schema 0 with tables,
or a missing table. Each refusal is a :class:`DamagedWorkspaceError` naming the table,
row and column, and what to do; nothing is re-initialised or repaired silently.
"""

from __future__ import annotations

import json
import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

from backend.errors import WorkspaceError
from backend.workspace.schema import MIGRATIONS

REPAIR = "restore workspace.sqlite from a backup, or remove the damaged row"


class DamagedWorkspaceError(WorkspaceError):
    """The database holds something DiffGen never writes: edited or corrupted."""


def damaged(root: Path, what: str, todo: str = REPAIR) -> DamagedWorkspaceError:
    return DamagedWorkspaceError(f"the workspace {root} is damaged: {what}; {todo}")


def stored_path(root: Path, value: object, table: str, row_id: object, column: str) -> Path:
    """The absolute path of a workspace-relative path stored in ``table`` row ``row_id``,
    ``column``; refused unless it is relative and lies inside ``root`` once resolved.
    ``root`` must be resolved (``Workspace.root`` is)."""
    where = f"{table} row {row_id}, {column} = {value!r}"
    if not isinstance(value, str) or not value.strip():
        raise damaged(root, f"{where} is not a file path")
    if Path(value).is_absolute():
        raise damaged(root, f"{where} is an absolute path (the workspace stores paths relative to its folder)")
    path = (root / value).resolve()
    if not path.is_relative_to(root) or path == root:
        raise damaged(root, f"{where} points outside the workspace folder; nothing was read from it")
    return path


def stored_json(root: Path, value: object, table: str, row_id: object, column: str) -> Any:
    """The value of a JSON column, or a clear refusal naming the row."""
    try:
        return json.loads(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        shown = value if not isinstance(value, str) or len(value) <= 60 else value[:60] + "..."
        raise damaged(root, f"{table} row {row_id}, {column} = {shown!r} is not valid JSON") from None


@cache
def expected_tables(version: int) -> frozenset[str]:
    """The tables the first ``version`` migrations create (read from their SQL, so a new
    table is included)."""
    return frozenset(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", "\n".join(MIGRATIONS[:version])))


def not_sqlite(root: Path, db: Path, e: sqlite3.DatabaseError) -> DamagedWorkspaceError:
    return damaged(root, f"{db.name} is not a readable SQLite database ({e})", "restore it from a backup")


def check_database(root: Path, db: Path, conn: sqlite3.Connection) -> None:
    """Refuse a database that is not an intact DiffGen workspace; a new (empty, schema 0)
    one is fine. Call before migrating; a file that is not SQLite raises
    ``sqlite3.DatabaseError`` (turn it into :func:`not_sqlite`)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0:
        if tables:
            raise damaged(
                root,
                f"{db.name} has schema version 0 but holds tables ({', '.join(sorted(tables)[:5])})",
                "restore it from a backup (DiffGen records a version in every workspace it writes)",
            )
        return
    missing = sorted(expected_tables(version) - tables)
    if missing:
        raise damaged(
            root, f"{db.name} lacks the table{'s' * (len(missing) > 1)} {', '.join(missing)}", "restore it from a backup"
        )


def check_not_empty(root: Path, db: Path) -> None:
    """A zero-byte database was truncated (a full disk, a failed copy): refused, never
    re-initialised over what the folder still holds."""
    if db.stat().st_size == 0:
        raise damaged(
            root,
            f"{db.name} is empty (0 bytes), so its records are lost",
            "restore it from a backup; to start afresh, move the folder away and create a new workspace",
        )
