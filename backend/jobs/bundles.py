"""Sample bundles: how a shard of a generation run hands its samples over without touching
the workspace database (SQLite on a shared or network file system is not safe for
concurrent writers).

A bundle is a folder::

    bundle.json        kind, run, shard, the run's parameters and resolved config, planned items
    rows.jsonl         one provenance row per sample (what the samples table would hold)
    samples/*.png      each sample's image and mask, the bytes the workspace would store
    MANIFEST.sha256    SHA-256 of every file above (``sha256sum -c`` reads it)

It is built in ``NAME.partial`` beside its final place: each finished item (an image, or a
parent sample for style) is written there as ``items/KEY.json`` after its PNGs, atomically,
so a killed shard loses only its unfinished items and a re-run of the same shard continues
from the items it finds. The last step writes rows, manifest, and renames the folder into
place. :func:`import_bundles` checks bundles against their manifests and merges them into a
workspace in one transaction, idempotently; :func:`bundle_states` lists them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.errors import BadInputError, DiffGenError
from backend.gates import GateScore
from backend.io.files import TEMP_SUFFIX, atomic_write_bytes, atomic_write_text, sha256_bytes, sha256_file
from backend.jobs.params import JobParams
from backend.jobs.shards import Shard
from backend.workspace import Workspace, now
from backend.workspace.names import check_name
from backend.workspace.store import BUNDLES_DIR, sample_paths

FORMAT, VERSION = "diffgen-bundle", 1
META, ROWS, MANIFEST, ITEMS, PARTIAL = "bundle.json", "rows.jsonl", "MANIFEST.sha256", "items", ".partial"
IMPORT_RESULT = "bundle_import"  # results.kind of an import; key: the bundle's uid
# Parameters that say where or how a run's share is computed, not what it makes.
NOT_IDENTITY = frozenset({"shard", "bundle", "device", "sheet"})


@dataclass(frozen=True)
class SampleRow:
    """One sample as the workspace stores it: PNG bytes, provenance and gate scores."""

    kind: str
    set_name: str
    image_png: bytes
    mask_png: bytes
    params: dict[str, Any]
    seed: int | None = None
    source_image_id: int | None = None
    mask_version_id: int | None = None
    parent_sample_id: int | None = None
    model_id: int | None = None
    checkpoint_id: int | None = None
    gates: tuple[GateScore, ...] | None = None  # None: not scorable (no gate row is stored)
    checks: dict[str, str] = field(default_factory=dict)  # what import verifies: source/parent file hashes

    def store(self, ws: Workspace, job_id: int | None = None) -> int:
        """Record the sample and its gate scores in one transaction; its id."""
        with ws.transaction():
            rec = ws.add_sample_png(
                self.kind,
                self.set_name,
                self.image_png,
                self.mask_png,
                source_image_id=self.source_image_id,
                mask_version_id=self.mask_version_id,
                parent_sample_id=self.parent_sample_id,
                model_id=self.model_id,
                checkpoint_id=self.checkpoint_id,
                job_id=job_id,
                seed=self.seed,
                params=self.params,
            )
            if self.gates is not None:
                ws.set_gates(rec.id, self.gates)
        return rec.id

    def paths(self) -> tuple[str, str]:
        return sample_paths(self.kind, self.image_png, self.mask_png)

    def to_json(self) -> dict[str, Any]:
        image, mask = self.paths()
        return {
            "kind": self.kind,
            "set_name": self.set_name,
            "image": image,
            "mask": mask,
            "params": json.loads(json.dumps(self.params, default=str)),
            "seed": self.seed,
            "source_image_id": self.source_image_id,
            "mask_version_id": self.mask_version_id,
            "parent_sample_id": self.parent_sample_id,
            "model_id": self.model_id,
            "checkpoint_id": self.checkpoint_id,
            "checks": self.checks,
            "gates": None if self.gates is None else [[g.gate, g.value, g.threshold, g.passed] for g in self.gates],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> SampleRow:
        gates = data.get("gates")
        return cls(
            data["kind"],
            data["set_name"],
            (folder / data["image"]).read_bytes(),
            (folder / data["mask"]).read_bytes(),
            data["params"],
            data.get("seed"),
            data.get("source_image_id"),
            data.get("mask_version_id"),
            data.get("parent_sample_id"),
            data.get("model_id"),
            data.get("checkpoint_id"),
            None if gates is None else tuple(GateScore(g, v, t, bool(p)) for g, v, t, p in gates),
            dict(data.get("checks") or {}),
        )


# -- where a shard's bundle goes ------------------------------------------------------------
def run_identity(kind: str, params: JobParams, seed: int | None) -> tuple[str, str]:
    """(run name, digest of what the run makes): equal for every shard of one run and
    different for runs with other settings, so a shard never resumes another run's bundle."""
    what = {k: v for k, v in params.to_dict().items() if k not in NOT_IDENTITY}
    digest = sha256_bytes(json.dumps({"kind": kind, **what}, sort_keys=True, default=str).encode())
    return f"{kind}-seed{seed}-{digest[:8]}", digest


def bundle_folder(ws: Workspace, run: str, shard: Shard, given: str | None) -> Path:
    """``given`` (its name checked), else ``WS/bundles/RUN-K-of-N``."""
    if given:
        folder = Path(given).expanduser().resolve()
        check_name(folder.name, "bundle folder name")
        return folder
    return ws.root / BUNDLES_DIR / check_name(f"{run}-{shard.label}", "bundle name")


# -- writing --------------------------------------------------------------------------------
def _read_json(path: Path, bundle: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"bundle {bundle}: {path.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"bundle {bundle}: {path.relative_to(bundle)} cannot be read ({e})") from None


class BundleWriter:
    """A shard's bundle being built (see the module's docstring); ``done`` are the items
    already in it (from an earlier, interrupted run of the same shard)."""

    def __init__(self, final: Path, identity: dict[str, Any], planned: Sequence[str], config: dict[str, Any]):
        self.final, self.partial = final, final.with_name(final.name + PARTIAL)
        self.planned, self.complete = list(planned), False
        self.done: set[str] = set()
        if final.exists():
            self._check_identity(final, identity)
            self.complete, self.done = True, set(self.planned)
        elif self.partial.exists():
            self.meta = self._check_identity(self.partial, identity)
            for leftover in self.partial.rglob(f"*{TEMP_SUFFIX}"):  # this shard's own, from a killed run
                leftover.unlink(missing_ok=True)
            self.done = {p.stem for p in (self.partial / ITEMS).glob("*.json")}
        else:
            self.meta = {
                "format": FORMAT,
                "version": VERSION,
                "uid": secrets.token_hex(8),
                **identity,
                "host": socket.gethostname(),
                "started_at": now(),
                "planned": self.planned,
                "config": config,
            }
            (self.partial / ITEMS).mkdir(parents=True)
            atomic_write_text(self.partial / META, json.dumps(self.meta, indent=1, default=str))

    @staticmethod
    def _check_identity(folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
        meta = _read_json(folder / META, folder)
        theirs = {k: meta.get(k) for k in identity}
        if theirs != json.loads(json.dumps(identity)):
            raise DiffGenError(
                f"{folder} holds another run's bundle ({meta.get('run')}, shard "
                f"{meta.get('shard')}); nothing was overwritten: choose another --bundle folder"
            )
        return meta

    def add(self, key: str, rows: Sequence[SampleRow]) -> None:
        """Store one finished item: its PNGs, then its rows (the file that makes it done)."""
        for row in rows:
            for rel, data in zip(row.paths(), (row.image_png, row.mask_png)):
                atomic_write_bytes(self.partial / rel, data)
        atomic_write_text(self.partial / ITEMS / f"{key}.json", json.dumps([r.to_json() for r in rows]))
        self.done.add(key)

    def finish(self, notes: Sequence[str] = ()) -> Path:
        """Rows, manifest, then the rename that makes the bundle complete; its final path."""
        if self.complete:
            return self.final
        order = {k: i for i, k in enumerate(self.planned)}
        items = sorted((self.partial / ITEMS).glob("*.json"), key=lambda p: (order.get(p.stem, len(order)), p.stem))
        lines = [json.dumps({"item": p.stem, **row}) for p in items for row in _read_json(p, self.partial)]
        atomic_write_text(self.partial / ROWS, "".join(line + "\n" for line in lines))
        self.meta.update(finished_at=now(), samples=len(lines), items_done=len(items), notes=list(notes))
        atomic_write_text(self.partial / META, json.dumps(self.meta, indent=1, default=str))
        listed = [self.partial / META, self.partial / ROWS, *sorted((self.partial / "samples").rglob("*.png"))]
        atomic_write_text(self.partial / MANIFEST, "".join(f"{sha256_file(p)}  {p.relative_to(self.partial)}\n" for p in listed))
        self.partial.rename(self.final)
        shutil.rmtree(self.final / ITEMS, ignore_errors=True)  # their rows are in rows.jsonl now
        self.complete = True
        return self.final


# -- reading and importing --------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    path: Path
    meta: dict[str, Any]
    rows: tuple[dict[str, Any], ...]


def _manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if folder.name.endswith(PARTIAL) or not path.exists():
        raise BadInputError(
            f"bundle {folder} is incomplete: {MANIFEST} is missing (its shard has not finished; "
            "run that shard again with the same settings to complete it)"
        )
    listed = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        digest, _, rel = line.partition("  ")
        if len(digest) != 64 or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BadInputError(f"bundle {folder}: {MANIFEST} line {n} is not 'SHA256  FILE'")
        listed[rel] = digest
    return listed


def read_bundle(folder: str | Path) -> Bundle:
    """A complete bundle, every file checked against its manifest (a missing, changed or
    unlisted file is refused with its name)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise BadInputError(f"bundle {folder} is not a folder")
    listed = _manifest(folder)
    for rel, digest in listed.items():
        path = folder / rel
        if not path.is_file():
            raise BadInputError(f"bundle {folder}: {rel} (listed in {MANIFEST}) is missing")
        if sha256_file(path) != digest:
            raise BadInputError(f"bundle {folder}: {rel} is corrupt (its SHA-256 differs from {MANIFEST})")
    for name in (META, ROWS):
        if name not in listed:
            raise BadInputError(f"bundle {folder}: {MANIFEST} does not list {name}")
    meta = _read_json(folder / META, folder)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BadInputError(f"bundle {folder}: {META} is not a {FORMAT} version {VERSION} file")
    rows = []
    for n, line in enumerate((folder / ROWS).read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        for key in ("image", "mask"):
            if row.get(key) not in listed:
                raise BadInputError(f"bundle {folder}: {ROWS} line {n} names {row.get(key)!r}, not in {MANIFEST}")
        rows.append(row)
    return Bundle(folder, meta, tuple(rows))


def _check_row(ws: Workspace, bundle: Bundle, n: int, row: SampleRow) -> None:
    """The row's image, mask version, parent, model and checkpoint are this workspace's."""
    where = f"bundle {bundle.path}: {ROWS} line {n}"

    def one(what: str, sql: str, value: int | None) -> Any:
        rows = ws.query(sql, (value,)) if value is not None else [None]
        if not rows:
            raise BadInputError(
                f"{where} names {what} {value}, which this workspace does not have (a bundle of another workspace?)"
            )
        return rows[0]

    image = one("image", "SELECT sha256 FROM images WHERE id = ?", row.source_image_id)
    if image is not None and row.checks.get("source_sha256") not in (None, image[0]):
        raise BadInputError(
            f"{where}: image {row.source_image_id} is not the image the sample was made from (a bundle of another workspace?)"
        )
    mask = one("mask version", "SELECT image_id FROM mask_versions WHERE id = ?", row.mask_version_id)
    if mask is not None and mask[0] != row.source_image_id:
        raise BadInputError(f"{where}: mask version {row.mask_version_id} is not a mask of image {row.source_image_id}")
    parent = one("sample", "SELECT image_path FROM samples WHERE id = ?", row.parent_sample_id)
    if parent is not None and row.checks.get("parent_image") not in (None, parent[0]):
        raise BadInputError(f"{where}: sample {row.parent_sample_id} is not the sample it was styled from")
    one("model", "SELECT id FROM models WHERE id = ?", row.model_id)
    one("checkpoint", "SELECT id FROM checkpoints WHERE id = ?", row.checkpoint_id)


def _present(ws: Workspace, row: SampleRow) -> int | None:
    image, mask = row.paths()
    found = ws.query(
        "SELECT id FROM samples WHERE kind = ? AND image_path = ? AND mask_path = ? AND seed IS ?"
        " AND source_image_id IS ? AND parent_sample_id IS ?",
        (row.kind, image, mask, row.seed, row.source_image_id, row.parent_sample_id),
    )
    return found[0][0] if found else None


@dataclass(frozen=True)
class ImportReport:
    bundle: str
    run: str
    shard: str
    added: tuple[int, ...]  # new sample ids
    present: int  # samples already in the workspace (an earlier import): not added again


def import_bundles(ws: Workspace, folders: Iterable[str | Path]) -> tuple[list[ImportReport], list[str]]:
    """Merge complete bundles into ``ws`` in one transaction; returns a report per merged
    bundle and the errors of those refused (incomplete, corrupt, another workspace's), which
    add nothing. A sample already stored (same files, seed, source and parent) is not added
    again, so importing a bundle twice adds nothing the second time."""
    ws.require_writable("import-samples writes samples to it")
    ready, errors = [], []
    for folder in folders:
        try:
            bundle = read_bundle(folder)
            rows = [SampleRow.from_json(r, bundle.path) for r in bundle.rows]
            for n, row in enumerate(rows, 1):
                _check_row(ws, bundle, n, row)
            ready.append((bundle, rows))
        except DiffGenError as e:
            errors.append(str(e))
    reports = []
    with ws.transaction():
        for bundle, rows in ready:
            added, present = [], 0
            for row in rows:
                if _present(ws, row) is None:
                    added.append(row.store(ws))
                else:
                    present += 1
            meta = bundle.meta
            ws.add_result(
                IMPORT_RESULT,
                meta["uid"],
                {
                    "path": str(bundle.path),
                    "run": meta.get("run"),
                    "shard": meta.get("shard"),
                    "added": added,
                    "present": present,
                },
            )
            reports.append(ImportReport(str(bundle.path), str(meta.get("run")), _shard_text(meta), tuple(added), present))
    return reports, errors


def _shard_text(meta: dict[str, Any]) -> str:
    shard = meta.get("shard")
    return "/".join(map(str, shard)) if isinstance(shard, list) else "?"


# -- listing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleState:
    path: str
    run: str
    shard: str
    state: str  # "running or interrupted" | "complete" | "merged" | "unreadable"
    items: str  # done/planned
    samples: int | None


def bundle_states(ws: Workspace, extra: Iterable[str | Path] = ()) -> list[BundleState]:
    """The bundles under ``WS/bundles`` (and ``extra`` folders): each one's run, shard and
    state, from its bundle.json and items (checksums are checked by import, not here)."""
    merged = {r[0] for r in ws.query("SELECT key FROM results WHERE kind = ?", (IMPORT_RESULT,))}
    root = ws.root / BUNDLES_DIR
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    out = []
    for folder in [*folders, *(Path(f).expanduser().resolve() for f in extra)]:
        try:
            meta = _read_json(folder / META, folder)
        except DiffGenError:
            out.append(BundleState(str(folder), "?", "?", "unreadable", "?", None))
            continue
        planned = len(meta.get("planned", []))
        if (folder / MANIFEST).exists():
            state = "merged" if meta.get("uid") in merged else "complete"
            items, samples = f"{meta.get('items_done', planned)}/{planned}", meta.get("samples")
        else:
            state = "running or interrupted"
            items, samples = f"{len(list((folder / ITEMS).glob('*.json')))}/{planned}", None
        out.append(BundleState(str(folder), str(meta.get("run")), _shard_text(meta), state, items, samples))
    return out
