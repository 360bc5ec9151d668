"""The workspace: a folder with ``workspace.sqlite`` and the files it owns.

The database is SQLite in WAL mode with foreign keys on, so the GUI and a CLI process may
use one workspace at once. Each thread gets its own connection. Files are written
atomically *before* the row that makes them visible, so a crash leaves at worst an
unreferenced file, never a row pointing at half a file; the temp files of a killed writer
are removed on the next open. A workspace that cannot be written opens read-only
(``read_only``): reading works, every write stops with a clear message.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import WorkspaceError
from backend.gates import GateScore
from backend.io.files import atomic_write_bytes, encode_png, remove_stale_temps, sha256_bytes
from backend.io.images import read_png_fast
from backend.workspace import access, integrity
from backend.workspace.records import (
    ImageRecord,
    MaskVersion,
    SampleRecord,
    image_record,
    mask_record,
    sample_paths,
    sample_pngs,
    sample_record,
)
from backend.workspace.roles import ASSIGNABLE_ROLES, BACKGROUND, ROLES
from backend.workspace.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "workspace.sqlite"
BUNDLES_DIR = "bundles"  # shards' sample bundles (backend.jobs.bundles), merged by import-samples


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made (sqlite3 types ``lastrowid`` as optional)."""
    if cur.lastrowid is None:
        raise WorkspaceError("the database did not return the id of the row just inserted")
    return cur.lastrowid


class Workspace:
    """Handle on one workspace folder. Cheap to create; safe to share between threads."""

    def __init__(self, root: str | Path, create: bool = False):
        self.root = Path(root).expanduser().resolve()
        db = self.root / DB_NAME
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(
                f"{self.root} is a file, not a workspace folder: "
                f"name a workspace folder (a new one is created by 'diffgen import')"
            )
        if not db.exists():
            if not create:
                raise WorkspaceError(
                    f"{self.root} is not a DiffGen workspace (no {DB_NAME}); "
                    f"create one with 'diffgen import DATASET --workspace {root}'"
                )
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:  # e.g. a parent is a file
                raise WorkspaceError(f"cannot create the workspace folder {self.root}: {e.strerror}") from None
        else:
            integrity.check_not_empty(self.root, db)
        self._local = threading.local()
        self._check_access(db)
        try:
            integrity.check_database(self.root, db, self.conn)
        except sqlite3.DatabaseError as e:
            self.close()
            raise integrity.not_sqlite(self.root, db, e) from None
        self._migrate()

    @classmethod
    def open(cls, root: str | Path) -> "Workspace":
        return cls(root, create=False)

    @classmethod
    def create(cls, root: str | Path) -> "Workspace":
        return cls(root, create=True)

    # -- access: read-only workspaces, leftovers of killed writers -----------------------
    def _check_access(self, db: Path) -> None:
        """Open read-only when the folder cannot be written; else tidy up after killed writers."""
        self.read_only = not access.writable(self.root, db)
        if not self.read_only:
            # Not in bundles/: shards on other machines write there, and their pids mean nothing here.
            remove_stale_temps(self.root, keep=(self.root / BUNDLES_DIR,))
        elif not db.exists():
            raise access.read_only_error(self.root, "a new workspace cannot be created there")

    def require_writable(self, doing: str = "this command writes to it") -> None:
        if self.read_only:
            raise access.read_only_error(self.root, doing)

    # -- connection and transactions -------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = access.connect(self.root / DB_NAME, self.read_only)
            self._local.conn = c
        return c

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no upgrade deadlocks)."""
        self.require_writable()
        c = self.conn
        if c.in_transaction:  # nested: join the outer one
            yield c
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            if c.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def _migrate(self) -> None:
        """Bring the schema up to date; opening an up-to-date workspace takes no write lock."""
        if self.schema_version == SCHEMA_VERSION:
            return
        with self.transaction() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise WorkspaceError(
                    f"{self.root} was written by a newer DiffGen Studio (schema {version}, "
                    f"this version knows {SCHEMA_VERSION}); update the program"
                )
            for i in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version = {i + 1}")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # -- paths -----------------------------------------------------------------------
    def path(self, rel: str | Path) -> Path:
        """Absolute path of a workspace-relative path (absolute paths pass through)."""
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def stored(self, value: object, table: str, row_id: object, column: str) -> Path:
        """The file a path stored in the database names, refused unless it lies in the workspace."""
        return integrity.stored_path(self.root, value, table, row_id, column)

    def rel(self, p: str | Path) -> str:
        p = Path(p)
        try:
            return str(p.resolve().relative_to(self.root))
        except ValueError:
            return str(p)

    def write_png(self, rel: str, array: np.ndarray) -> str:
        """Atomically write a PNG owned by the workspace; returns its relative path."""
        self.require_writable()
        atomic_write_bytes(self.path(rel), encode_png(array))
        return rel

    # -- images ----------------------------------------------------------------------
    def images(self, where: str = "", params: tuple = ()) -> list[ImageRecord]:
        sql = "SELECT * FROM images" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        return [image_record(r) for r in self.query(sql, params)]

    def image(self, image_id: int) -> ImageRecord:
        rows = self.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise WorkspaceError(f"no image with id {image_id}")
        return image_record(rows[0])

    def image_ids(self) -> list[int]:
        return [r[0] for r in self.query("SELECT id FROM images ORDER BY id")]

    def read_image(self, image_id: int | ImageRecord) -> np.ndarray:
        """The image as 8-bit RGB (the converted copy when the source needed conversion)."""
        rec = image_id if isinstance(image_id, ImageRecord) else self.image(image_id)
        if rec.stored_path:
            return read_png_fast(self.stored(rec.stored_path, "images", rec.id, "stored_path"))
        from backend.io.images import load_rgb

        return load_rgb(rec.source_path)[0]

    def set_flag(self, image_id: int, flagged: bool, note: str = "") -> None:
        with self.transaction() as c:
            c.execute("UPDATE images SET flagged = ?, flag_note = ? WHERE id = ?", (int(flagged), note, image_id))

    def set_role(self, image_ids: Iterable[int], role: str, note: str = "") -> int:
        """Give images the role ``train`` or ``test`` (one transaction); returns how many changed.
        Background images (no mask) keep theirs: they have no polyp to train or test on."""
        if role not in ASSIGNABLE_ROLES:
            raise WorkspaceError(
                f"unknown image role {role!r}: use {' or '.join(ASSIGNABLE_ROLES)}"
                + (" (background images are imported as such: diffgen import DIR --role background)" if role in ROLES else "")
            )
        ids = sorted(set(image_ids))
        missing = sorted(set(ids) - set(self.image_ids()))
        if missing:
            raise WorkspaceError(f"no image with id {', '.join(map(str, missing))} in {self.root}; nothing changed")
        backgrounds = [r[0] for r in self.query("SELECT id FROM images WHERE role = ? ORDER BY id", (BACKGROUND,)) if r[0] in ids]
        if backgrounds:
            raise WorkspaceError(
                f"image{'s' * (len(backgrounds) > 1)} {', '.join(map(str, backgrounds))} "
                f"{'are background images' if len(backgrounds) > 1 else 'is a background image'} (a frame without "
                "polyps, no mask): it cannot become a training or test image; nothing changed"
            )
        with self.transaction() as c:
            changed = sum(
                c.execute(
                    "UPDATE images SET role = ?, role_note = ? WHERE id = ? AND (role != ? OR role_note != ?)",
                    (role, note, i, role, note),
                ).rowcount
                for i in ids
            )
        return changed

    def role_counts(self) -> dict[str, int]:
        """Images per role: train and test always (0 when none), background when there are any."""
        counts = dict.fromkeys(ASSIGNABLE_ROLES, 0)
        counts.update({r[0]: r[1] for r in self.query("SELECT role, COUNT(*) FROM images GROUP BY role")})
        return counts

    # -- masks -----------------------------------------------------------------------
    def mask_versions(self, image_id: int) -> list[MaskVersion]:
        return [
            mask_record(r, self.root)
            for r in self.query("SELECT * FROM mask_versions WHERE image_id = ? ORDER BY version", (image_id,))
        ]

    def mask_version(self, mask_id: int) -> MaskVersion:
        rows = self.query("SELECT * FROM mask_versions WHERE id = ?", (mask_id,))
        if not rows:
            raise WorkspaceError(f"no mask version with id {mask_id}")
        return mask_record(rows[0], self.root)

    def current_mask(self, image_id: int) -> MaskVersion:
        rec = self.image(image_id)
        if rec.current_mask_id is None:
            raise WorkspaceError(f"image {rec.name} has no mask")
        return self.mask_version(rec.current_mask_id)

    def read_mask(self, mask: int | MaskVersion) -> np.ndarray:
        mv = mask if isinstance(mask, MaskVersion) else self.mask_version(mask)
        return read_png_fast(self.stored(mv.path, "mask_versions", mv.id, "path"), grey=True)

    def add_mask_version(
        self,
        image_id: int,
        mask: np.ndarray,
        operation: str,
        params: dict | None = None,
        parent_id: int | None = None,
        make_current: bool = True,
        source_mask_path: str | None = None,
    ) -> MaskVersion:
        """Store a new mask version (a new file; no existing file is touched) and select it."""
        mask = np.where(mask > 0, np.uint8(255), np.uint8(0))  # 1 byte a pixel, not 8
        data = encode_png(mask)
        digest = sha256_bytes(data)
        with self.transaction() as c:
            version = c.execute(
                "SELECT COALESCE(MAX(version) + 1, 0) FROM mask_versions WHERE image_id = ?", (image_id,)
            ).fetchone()[0]
            if parent_id is None and version > 0:
                parent_id = c.execute("SELECT current_mask_id FROM images WHERE id = ?", (image_id,)).fetchone()[0]
            rel = f"masks/{image_id}/v{version:04d}-{digest[:8]}.png"
            atomic_write_bytes(self.path(rel), data)
            cur = c.execute(
                "INSERT INTO mask_versions (image_id, version, parent_id, operation, params_json, path,"
                " sha256, area, source_mask_path, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    image_id,
                    version,
                    parent_id,
                    operation,
                    json.dumps(params or {}),
                    rel,
                    digest,
                    int((mask > 0).sum()),
                    source_mask_path,
                    now(),
                ),
            )
            mask_id = inserted_id(cur)
            if make_current:
                c.execute("UPDATE images SET current_mask_id = ? WHERE id = ?", (mask_id, image_id))
        return self.mask_version(mask_id)

    def set_current_mask(self, image_id: int, mask_id: int) -> None:
        """Select an existing version (revert). History is kept; nothing is deleted."""
        with self.transaction() as c:
            owner = c.execute("SELECT image_id FROM mask_versions WHERE id = ?", (mask_id,)).fetchone()
            if owner is None or owner[0] != image_id:
                raise WorkspaceError(f"mask version {mask_id} does not belong to image {image_id}")
            c.execute("UPDATE images SET current_mask_id = ? WHERE id = ?", (mask_id, image_id))

    # -- samples and reviews -----------------------------------------------------------
    def add_sample(
        self,
        kind: str,
        set_name: str,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        source_image_id: int | None = None,
        mask_version_id: int | None = None,
        parent_sample_id: int | None = None,
        model_id: int | None = None,
        checkpoint_id: int | None = None,
        job_id: int | None = None,
        seed: int | None = None,
        params: dict | None = None,
    ) -> SampleRecord:
        """Write a generated image + mask and record it with its provenance."""
        return self.add_sample_png(
            kind,
            set_name,
            *sample_pngs(image, mask),
            source_image_id=source_image_id,
            mask_version_id=mask_version_id,
            parent_sample_id=parent_sample_id,
            model_id=model_id,
            checkpoint_id=checkpoint_id,
            job_id=job_id,
            seed=seed,
            params=params,
        )

    def add_sample_png(
        self,
        kind: str,
        set_name: str,
        img_bytes: bytes,
        mask_bytes: bytes,
        *,
        source_image_id: int | None = None,
        mask_version_id: int | None = None,
        parent_sample_id: int | None = None,
        model_id: int | None = None,
        checkpoint_id: int | None = None,
        job_id: int | None = None,
        seed: int | None = None,
        params: dict | None = None,
        files_written: bool = False,
    ) -> SampleRecord:
        """:meth:`add_sample` from the PNG files' bytes (as :func:`sample_pngs` makes them),
        written unchanged: a sample made elsewhere (a shard's bundle) is stored byte for byte.
        ``files_written``: the caller already wrote them to their :func:`sample_paths` (a
        bundle import writes all its files in one batch before their rows)."""
        self.require_writable()
        img_rel, mask_rel = sample_paths(kind, img_bytes, mask_bytes)
        if not files_written:
            atomic_write_bytes(self.path(img_rel), img_bytes)
            atomic_write_bytes(self.path(mask_rel), mask_bytes)
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO samples (kind, set_name, source_image_id, mask_version_id, parent_sample_id,"
                " model_id, checkpoint_id, job_id, seed, params_json, image_path, mask_path, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    kind,
                    set_name,
                    source_image_id,
                    mask_version_id,
                    parent_sample_id,
                    model_id,
                    checkpoint_id,
                    job_id,
                    seed,
                    json.dumps(params or {}, default=str),
                    img_rel,
                    mask_rel,
                    now(),
                ),
            )
        return self.sample(inserted_id(cur))

    def sample(self, sample_id: int) -> SampleRecord:
        rows = self.query("SELECT * FROM samples WHERE id = ?", (sample_id,))
        if not rows:
            raise WorkspaceError(f"no sample with id {sample_id}")
        return sample_record(rows[0], self.root)

    def samples(
        self, kind: str | None = None, source_image_id: int | None = None, set_name: str | None = None
    ) -> list[SampleRecord]:
        clauses, params = [], []
        for col, val in (("kind", kind), ("source_image_id", source_image_id), ("set_name", set_name)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return [sample_record(r, self.root) for r in self.query(f"SELECT * FROM samples{where} ORDER BY id", tuple(params))]

    def read_sample(self, sample: int | SampleRecord) -> tuple[np.ndarray, np.ndarray]:
        s = sample if isinstance(sample, SampleRecord) else self.sample(sample)
        return (
            read_png_fast(self.stored(s.image_path, "samples", s.id, "image_path")),
            read_png_fast(self.stored(s.mask_path, "samples", s.id, "mask_path"), grey=True),
        )

    def set_review(self, sample_id: int, decision: str, note: str = "") -> None:
        """Store a keep/reject/undecided decision at once (committed before returning)."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO reviews (sample_id, decision, note, decided_at) VALUES (?,?,?,?)"
                " ON CONFLICT(sample_id) DO UPDATE SET decision = excluded.decision,"
                " note = excluded.note, decided_at = excluded.decided_at",
                (sample_id, decision, note, now()),
            )

    def set_gates(self, sample_id: int, scores: Iterable[GateScore]) -> None:
        """Store a sample's quality-gate scores (replacing earlier ones), in one transaction."""
        stamp = now()
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO sample_gates (sample_id, gate, value, threshold, passed, scored_at) VALUES (?,?,?,?,?,?)",
                [(sample_id, g.gate, float(g.value), float(g.threshold), int(g.passed), stamp) for g in scores],
            )

    def gates(self, sample_id: int) -> list[GateScore]:
        return [
            GateScore(r["gate"], r["value"], r["threshold"], bool(r["passed"]))
            for r in self.query("SELECT * FROM sample_gates WHERE sample_id = ? ORDER BY gate", (sample_id,))
        ]

    def review(self, sample_id: int) -> tuple[str, str]:
        rows = self.query("SELECT decision, note FROM reviews WHERE sample_id = ?", (sample_id,))
        return (rows[0]["decision"], rows[0]["note"]) if rows else ("undecided", "")

    # -- clusters ----------------------------------------------------------------------
    def current_clustering_id(self) -> int | None:
        rows = self.query("SELECT id FROM clusterings WHERE is_current = 1 ORDER BY id DESC LIMIT 1")
        return rows[0][0] if rows else None

    def cluster_of(self, image_id: int) -> int | None:
        cid = self.current_clustering_id()
        if cid is None:
            return None
        rows = self.query("SELECT cluster FROM cluster_assignments WHERE clustering_id = ? AND image_id = ?", (cid, image_id))
        return rows[0][0] if rows else None

    # -- generic results ---------------------------------------------------------------
    def add_result(self, kind: str, key: str, value: Any) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO results (kind, key, value_json, created_at) VALUES (?,?,?,?)",
                (kind, key, json.dumps(value, default=str), now()),
            )

    def results(self, kind: str, key: str, limit: int = 1) -> list[Any]:
        """The newest ``limit`` values stored under ``kind`` and ``key``, newest first."""
        sql = "SELECT id, value_json FROM results WHERE kind = ? AND key = ? ORDER BY id DESC LIMIT ?"
        return [
            integrity.stored_json(self.root, r[1], "results", r[0], "value_json") for r in self.query(sql, (kind, key, limit))
        ]

    # -- summary -----------------------------------------------------------------------
    def info(self) -> dict:
        q = lambda sql: self.query(sql)[0][0]  # noqa: E731
        return {
            "path": str(self.root),
            "schema_version": self.schema_version,
            "images": q("SELECT COUNT(*) FROM images"),
            "masks": q("SELECT COUNT(*) FROM images WHERE current_mask_id IS NOT NULL"),
            "mask_versions": q("SELECT COUNT(*) FROM mask_versions"),
            "edited_images": q("SELECT COUNT(DISTINCT image_id) FROM mask_versions WHERE version > 0"),
            "flagged": q("SELECT COUNT(*) FROM images WHERE flagged = 1"),
            "roles": self.role_counts(),
            "samples": {r[0]: r[1] for r in self.query("SELECT kind, COUNT(*) FROM samples GROUP BY kind")},
            "models": q("SELECT COUNT(*) FROM models"),
            "model_names": [r[0] for r in self.query("SELECT name FROM models ORDER BY id")],
            "problems": {r[0]: r[1] for r in self.query("SELECT severity, COUNT(*) FROM import_problems GROUP BY severity")},
        }

    def problems(self, import_id: int | None = None) -> list[sqlite3.Row]:
        if import_id is None:
            return self.query("SELECT * FROM import_problems ORDER BY id")
        return self.query("SELECT * FROM import_problems WHERE import_id = ? ORDER BY id", (import_id,))
