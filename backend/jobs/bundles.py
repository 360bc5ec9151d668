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
place. :func:`import_bundles` checks bundles against their manifests, and every row and image
in them (:mod:`backend.jobs.sample_row`, :mod:`backend.jobs.bundle_checks`: a bundle is input
from elsewhere), and merges them into a workspace in one transaction, idempotently;
:func:`bundle_states` lists them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from backend.errors import BadInputError, DiffGenError
from backend.io.files import (
    TEMP_SUFFIX,
    atomic_write_many,
    atomic_write_text,
    sha256_bytes,
    sha256_file,
)
from backend.jobs.bundle_checks import RowChecker
from backend.jobs.bundle_params import ImportSamplesParams
from backend.jobs.context import JobContext
from backend.jobs.params import JobParams, JobResult
from backend.jobs.sample_row import SAMPLE_KINDS, SampleRow
from backend.jobs.shards import Shard
from backend.words import counted
from backend.workspace import Workspace, now
from backend.workspace.names import check_name
from backend.workspace.store import BUNDLES_DIR

FORMAT, VERSION = "diffgen-bundle", 1
META, ROWS, MANIFEST, ITEMS, PARTIAL = "bundle.json", "rows.jsonl", "MANIFEST.sha256", "items", ".partial"
IMPORT_RESULT = "bundle_import"  # results.kind of an import; key: the bundle's uid
# Parameters that say where or how a run's share is computed, not what it makes.
NOT_IDENTITY = frozenset({"shard", "bundle", "device", "sheet"})


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
            shutil.rmtree(final / ITEMS, ignore_errors=True)  # left when finish() was killed after its rename
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
        atomic_write_many((self.partial / rel, data) for row in rows for rel, data in zip(row.paths(), row.pngs()))
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
MAX_BYTES = {MANIFEST: 64 << 20, META: 16 << 20, ROWS: 256 << 20}  # and each PNG: MAX_PNG_BYTES
MAX_PNG_BYTES = 64 << 20
_UID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Bundle:
    path: Path
    meta: dict[str, Any]
    rows: tuple[dict[str, Any], ...]
    files: dict[str, bytes]  # the sample PNGs by manifest name, checked against their checksums


def _read_file(folder: Path, rel: str, digest: str | None = None) -> bytes:
    """A plain file of the bundle (never through a symbolic link), at most its kind's size,
    and (given ``digest``) what the manifest says it holds."""
    path, limit = folder / rel, MAX_BYTES.get(rel, MAX_PNG_BYTES)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise BadInputError(f"bundle {folder}: {rel} (listed in {MANIFEST}) is missing") from None
    except OSError as e:
        raise BadInputError(f"bundle {folder}: {rel} cannot be read ({e.strerror}; a symbolic link?)") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError(f"bundle {folder}: {rel} is not a plain file")
        if st.st_size > limit:
            raise BadInputError(f"bundle {folder}: {rel} is {st.st_size:,} bytes, more than the {limit:,} it may be")
        data = f.read(limit + 1)
    if digest is not None and sha256_bytes(data) != digest:
        raise BadInputError(f"bundle {folder}: {rel} is corrupt (its SHA-256 differs from {MANIFEST})")
    return data


def _manifest(folder: Path) -> dict[str, str]:
    if folder.name.endswith(PARTIAL) or not os.path.lexists(folder / MANIFEST):
        raise BadInputError(
            f"bundle {folder} is incomplete: {MANIFEST} is missing (its shard has not finished; "
            "run that shard again with the same settings to complete it)"
        )
    try:
        text = _read_file(folder, MANIFEST).decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"bundle {folder}: {MANIFEST} is not UTF-8 text") from None
    listed = {}
    for n, line in enumerate(text.splitlines(), 1):
        digest, _, rel = line.partition("  ")
        parts = PurePosixPath(rel).parts
        if len(digest) != 64 or not rel or rel.startswith("/") or ".." in parts or "\\" in rel or rel == MANIFEST:
            raise BadInputError(f"bundle {folder}: {MANIFEST} line {n} is not 'SHA256  FILE'")
        listed[rel] = digest
    return listed


def _check_tree(folder: Path, listed: dict[str, str]) -> None:
    """Every entry of the bundle is a plain folder or a file its manifest lists: no
    symbolic link (it could point anywhere) and nothing unlisted (nothing unchecked)."""
    for parent, dirs, names in os.walk(folder):
        for name in sorted(dirs + names):
            path = Path(parent, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise BadInputError(f"bundle {folder}: {rel} is a symbolic link; a bundle holds plain files only")
            if name in names and rel != MANIFEST and rel not in listed:
                raise BadInputError(
                    f"bundle {folder}: {rel} is not listed in {MANIFEST}; a bundle holds only the files it lists "
                    "(remove the file if it does not belong there)"
                )


def _check_meta(folder: Path, meta: Any) -> dict[str, Any]:
    """The bundle.json fields import uses: a known run kind, uid, run name and shard."""

    def bad(name: str, problem: str) -> BadInputError:
        return BadInputError(f"bundle {folder}: {META}, field {name!r}: {problem}")

    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BadInputError(f"bundle {folder}: {META} is not a {FORMAT} version {VERSION} file")
    if meta.get("kind") not in SAMPLE_KINDS:
        raise bad("kind", f"{meta.get('kind')!r} is not a run that writes bundles ({', '.join(SAMPLE_KINDS)})")
    if not isinstance(meta.get("uid"), str) or not _UID.fullmatch(meta["uid"]):
        raise bad("uid", f"{meta.get('uid')!r} is not 16 hexadecimal digits")
    try:
        check_name(meta.get("run"), "run name")  # type: ignore[arg-type]
    except BadInputError as e:
        raise bad("run", str(e)) from None
    shard = meta.get("shard")
    if not (isinstance(shard, list) and len(shard) == 2 and all(type(k) is int for k in shard)):
        raise bad("shard", f"{shard!r} is not [K, N]")
    try:
        Shard(*shard)
    except BadInputError as e:
        raise bad("shard", str(e)) from None
    return meta


def read_bundle(folder: str | Path) -> Bundle:
    """A complete bundle, every file checked against its manifest (a missing, changed,
    unlisted or linked file is refused with its name); its rows as JSON objects (checked
    field by field when imported: :meth:`SampleRow.from_json`)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise BadInputError(f"bundle {folder} is not a folder")
    listed = _manifest(folder)
    for name in (META, ROWS):
        if name not in listed:
            raise BadInputError(f"bundle {folder}: {MANIFEST} does not list {name}")
    _check_tree(folder, listed)
    data = {rel: _read_file(folder, rel, digest) for rel, digest in listed.items()}
    try:
        meta = _check_meta(folder, json.loads(data.pop(META)))
        lines = data.pop(ROWS).decode("utf-8").splitlines()
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"bundle {folder}: {META} or {ROWS} is not UTF-8 JSON ({e})") from None
    rows = []
    for n, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise BadInputError(f"bundle {folder}: {ROWS} line {n} is not JSON ({e})") from None
    return Bundle(folder, meta, tuple(rows), data)


def _checked_rows(bundle: Bundle, checker: RowChecker) -> list[SampleRow]:
    """The bundle's rows, each checked field by field and against the workspace."""
    kind, rows = SAMPLE_KINDS[bundle.meta["kind"]], []
    for n, data in enumerate(bundle.rows, 1):
        where = f"bundle {bundle.path}: {ROWS} line {n}"
        row = SampleRow.from_json(data, bundle.files, kind, where)
        checker.check(row, where)
        rows.append(row)
    return rows


def _stored(ws: Workspace) -> set[tuple[Any, ...]]:
    """The identities (:meth:`SampleRow.identity`) of the samples of the kinds bundles hold."""
    kinds = tuple(SAMPLE_KINDS.values())
    return {
        tuple(r)
        for r in ws.query(
            "SELECT kind, image_path, mask_path, seed, source_image_id, parent_sample_id FROM samples"
            f" WHERE kind IN ({', '.join('?' * len(kinds))})",
            kinds,
        )
    }


@dataclass(frozen=True)
class ImportReport:
    bundle: str
    run: str
    shard: str
    added: tuple[int, ...]  # new sample ids
    present: int  # samples already in the workspace (an earlier import): not added again


def import_bundles(ws: Workspace, folders: Iterable[str | Path]) -> tuple[list[ImportReport], list[str]]:
    """Merge complete bundles into ``ws`` in one transaction; returns a report per merged
    bundle and the errors of those refused (incomplete, corrupt, another workspace's, or any
    row or file not what a shard writes), which add nothing: every row of every bundle is
    checked before anything is written. A sample already stored (same files, seed, source
    and parent) is not added again, so importing a bundle twice adds nothing the second
    time. The new samples' files are written in one batch before their rows."""
    ws.require_writable("import-samples writes samples to it")
    ready, errors, checker = [], [], RowChecker(ws)
    for folder in folders:
        try:
            bundle = read_bundle(folder)
            ready.append((bundle, _checked_rows(bundle, checker)))
        except DiffGenError as e:
            errors.append(str(e))
    reports = []
    with ws.transaction():
        stored, plans = _stored(ws), []
        for bundle, rows in ready:
            new = []
            for row in rows:
                if row.identity() not in stored:
                    stored.add(row.identity())
                    new.append(row)
            plans.append((bundle, new, len(rows) - len(new)))
        files = {ws.path(rel): data for _, new, _ in plans for row in new for rel, data in zip(row.paths(), row.pngs())}
        atomic_write_many(files.items())
        for bundle, new, present in plans:
            added = [row.store(ws, files_written=True) for row in new]
            meta = bundle.meta
            ws.add_result(
                IMPORT_RESULT,
                meta["uid"],
                {"path": str(bundle.path), "run": meta["run"], "shard": meta["shard"], "added": added, "present": present},
            )
            reports.append(ImportReport(str(bundle.path), meta["run"], _shard_text(meta), tuple(added), present))
    return reports, errors


@dataclass(frozen=True, kw_only=True)
class ImportSamplesResult(JobResult):
    """Each merged bundle's report and each refused bundle's error (refused ones add nothing)."""

    imported: list[ImportReport]
    errors: list[str]


def run_import_samples(ws: Workspace, params: ImportSamplesParams, ctx: JobContext) -> ImportSamplesResult:
    """Job form of :func:`import_bundles` (``diffgen import-samples``)."""
    reports, errors = import_bundles(ws, params.bundles)
    for error in errors:
        ctx.log(f"refused: {error}")
    added = sum(len(r.added) for r in reports)
    summary = f"Merged {counted(len(reports), 'bundle')} ({counted(added, 'sample')} added)" + (
        f"; {counted(len(errors), 'bundle')} refused" if errors else ""
    )
    return ImportSamplesResult(summary=summary + ".", imported=reports, errors=errors)


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
