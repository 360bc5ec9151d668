"""Opening the workspace database for writing, or read-only when the folder cannot be written
(``chmod -R a-w``, a read-only mount, a DVD).

Writability is tested by doing it (creating and removing a probe file, opening the database
for writing), not with ``os.access``, which says yes to root on a chmod'ed folder. A WAL
database opened read-only needs its ``-shm`` file: SQLite creates it when the folder is
writable and uses an existing one otherwise; when it can do neither, the database is opened
``immutable``, which is exact only when no ``-wal`` file holds unmerged changes (else a
clear error instead of silently missing data).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from backend.errors import WorkspaceError
from backend.io.files import TEMP_SUFFIX, temp_prefix

TIMEOUT_S = 30.0


def writable(root: Path, db: Path) -> bool:
    """Whether files can be created in ``root`` and ``db`` (if it exists) opened for writing."""
    try:  # a temp name of the atomic writer's pattern: removed on a later open if we are killed here
        fd, probe = tempfile.mkstemp(prefix=temp_prefix(root / "write-probe"), suffix=TEMP_SUFFIX, dir=root)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    if not db.exists():
        return True
    try:
        os.close(os.open(db, os.O_RDWR))
    except OSError:
        return False
    return True


def read_only_error(root: Path, doing: str = "this command writes to it") -> WorkspaceError:
    return WorkspaceError(
        f"the workspace {root} is read-only (its folder or database cannot be written): {doing}. "
        "Reading works (diffgen info, survey list, export); to change it, copy the workspace to a "
        "writable place or restore write permission"
    )


def connect(db: Path, read_only: bool) -> sqlite3.Connection:
    """A connection in autocommit mode with rows by name: WAL, foreign keys, busy timeout;
    ``read_only`` opens without creating or changing any file."""
    c = _connect_read_only(db) if read_only else sqlite3.connect(db, timeout=TIMEOUT_S, isolation_level=None)
    c.row_factory = sqlite3.Row
    if not read_only:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA foreign_keys=ON")
    c.execute(f"PRAGMA busy_timeout={int(TIMEOUT_S * 1000)}")
    return c


def _connect_read_only(db: Path) -> sqlite3.Connection:
    c = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=TIMEOUT_S, isolation_level=None)
    try:
        c.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the WAL -shm is needed from here
        return c
    except sqlite3.OperationalError:
        c.close()
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise WorkspaceError(
                f"the workspace {db.parent} is read-only and its last changes are still in {wal.name}, which "
                "SQLite can only merge with write access: open it once where it is writable (e.g. "
                "'diffgen info') and try again"
            ) from None
    return sqlite3.connect(f"{db.as_uri()}?immutable=1", uri=True, timeout=TIMEOUT_S, isolation_level=None)
