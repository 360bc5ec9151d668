"""Import a dataset folder into a workspace.

Layouts: HyperKvasir / Kvasir-SEG (``images/`` + ``masks/``, pairs by file stem) or a flat
folder of ``NAME.jpg`` + ``NAME_mask.png``. Background images (``role=background``: frames
without polyps, inputs of mask-guided synthesis) come without masks: ``images/`` or a flat
folder of images; one offered with a mask is refused, naming the file. Bad files are rejected one by one with a
message naming the file; the import goes on (only a full disk stops it). Source files are
only ever read, and a workspace inside the dataset is refused.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.config.paths import DEMO_COUNT
from backend.data.import_params import ImportParams
from backend.errors import BadInputError, WorkspaceError
from backend.io.files import atomic_write_bytes, encode_png, sha256_file
from backend.io.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, load_mask, load_rgb
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.workspace import BACKGROUND, ROLES, TRAIN, Workspace, inserted_id, now

Progress = Callable[[int, int, str], None]


@dataclass
class Problem:
    file: str
    severity: str  # error | warning | note
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7s} {self.file}: {self.message}"


@dataclass
class ImportReport:
    import_id: int
    source: str
    imported: int = 0
    already_present: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    stopped: str = ""  # why the import stopped before the end (disk full); empty when it did not
    what: str = "image/mask pairs"  # what was imported: pairs, or background images (no masks)

    def summary(self) -> str:
        text = (
            f"Imported {self.imported} {self.what} from {self.source} "
            f"({self.already_present} already in the workspace, {self.rejected} rejected)."
        )
        return f"{text} Stopped early: {self.stopped}" if self.stopped else text


def check_workspace_outside(workspace: str | Path, dataset: str | Path) -> None:
    """Refuse a workspace that is the dataset folder or inside it: its files would land in the dataset."""
    ws = Path(workspace).expanduser().resolve()
    data = Path(dataset).expanduser().resolve()
    if ws == data or ws.is_relative_to(data):
        where = "is the dataset folder itself" if ws == data else f"is inside the dataset {data}"
        raise BadInputError(
            f"the workspace {ws} {where}: importing would write into the dataset. "
            f"Choose a workspace folder outside it; nothing was written"
        )


def check_dataset_folder(dataset: str | Path) -> None:
    """Refuse a dataset that is no folder before anything is created (a mistyped path used to
    leave an empty workspace.sqlite behind)."""
    data = Path(dataset).expanduser()
    if not data.is_dir():
        what = "is a file, not a folder" if data.exists() else "does not exist"
        raise BadInputError(
            f"the dataset folder {data} {what}: give a folder with images/ + masks/ or NAME.jpg + NAME_mask.png pairs; "
            "nothing was written"
        )


def _entry_problem(p: Path, root: Path, follow_symlinks: bool) -> Problem | None:
    """Why a file with an image suffix cannot be used (an error), or a note on how it is used."""
    try:
        st = p.stat()  # follows symbolic links
    except OSError as e:
        if e.errno == errno.ELOOP:
            return Problem(str(p), "error", "symbolic link loop (the link leads back to itself): skipped")
        if p.is_symlink():
            return Problem(str(p), "error", f"broken symbolic link (its target {os.readlink(p)} does not exist): skipped")
        return Problem(str(p), "error", f"cannot be read ({e.strerror}): skipped")
    if stat.S_ISDIR(st.st_mode):
        return Problem(str(p), "error", "is a folder, not an image file: skipped")
    if not stat.S_ISREG(st.st_mode):
        return Problem(str(p), "error", "not a regular file (a pipe, socket or device): skipped")
    target = p.resolve()
    if target.is_relative_to(root):
        return None
    if follow_symlinks:
        return Problem(str(p), "note", f"symbolic link to {target}, outside the dataset: followed")
    return Problem(
        str(p),
        "error",
        f"symbolic link to {target}, outside the dataset: skipped (allow it with follow_symlinks / --follow-symlinks)",
    )


def _image_files(folder: Path, root: Path, follow_symlinks: bool, problems: list[Problem]) -> list[Path]:
    """Usable files with an image suffix in ``folder``; the unusable ones are reported."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        problem = _entry_problem(p, root, follow_symlinks)
        if problem:
            problems.append(problem)
        if problem is None or problem.severity != "error":
            out.append(p)
    return out


def _nothing_found(folder: Path) -> Problem:
    """One line saying why an images/ + masks/ dataset gave nothing to import."""
    others = [p.name for sub in ("images", "masks") for p in sorted((folder / sub).iterdir()) if not p.name.startswith(".")]
    ignored = ""
    if others:
        ignored = f" ({len(others)} other file{'s' * (len(others) != 1)} ignored, e.g. {others[0]})"
    return Problem(
        str(folder), "error", f"images/ and masks/ hold no image files ({', '.join(IMAGE_SUFFIXES)}){ignored}: nothing to import"
    )


def _by_stem(files: list[Path], problems: list[Problem], strip: str = "") -> dict[str, Path]:
    """Files keyed by stem (minus ``strip``); a second file with the same stem is rejected."""
    out: dict[str, Path] = {}
    for p in files:
        stem = p.stem[: len(p.stem) - len(strip)] if strip else p.stem
        if stem in out:
            problems.append(Problem(str(p), "error", f"same name as {out[stem].name}: skipped"))
        else:
            out[stem] = p
    return out


def discover_pairs(folder: Path, follow_symlinks: bool = False) -> tuple[list[tuple[str, Path, Path]], list[Problem]]:
    """(stem, image, mask) triples found in ``folder`` and problems with unusable or unpaired files.

    A file reached through a symbolic link that leads out of ``folder`` is refused unless
    ``follow_symlinks``.
    """
    problems: list[Problem] = []
    root = folder.resolve()
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        images = _by_stem(_image_files(folder / "images", root, follow_symlinks, problems), problems)
        masks = _by_stem(_image_files(folder / "masks", root, follow_symlinks, problems), problems)
        if not images and not masks and not problems:
            problems.append(_nothing_found(folder))
    else:
        files = _image_files(folder, root, follow_symlinks, problems)
        masks = _by_stem([p for p in files if p.stem.endswith("_mask")], problems, strip="_mask")
        images = _by_stem([p for p in files if not p.stem.endswith("_mask")], problems)
        if not images and not masks and not problems:
            problems.append(
                Problem(
                    str(folder), "error", "no images found: expected images/ + masks/ folders, or NAME.jpg + NAME_mask.png pairs"
                )
            )
    for stem in sorted(set(images) - set(masks)):
        problems.append(Problem(str(images[stem]), "error", "image without mask: skipped"))
    for stem in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[stem]), "error", "mask without image: skipped"))
    pairs = [(s, images[s], masks[s]) for s in sorted(set(images) & set(masks))]
    return pairs, problems


def discover_backgrounds(folder: Path, follow_symlinks: bool = False) -> tuple[list[tuple[str, Path]], list[Problem]]:
    """(stem, image) pairs of a folder of frames without polyps (``images/``, or the folder
    itself) and the problems: an image offered with a mask (``masks/NAME`` or ``NAME_mask``) is
    refused, since a background image has no polyp to mark."""
    problems: list[Problem] = []
    root = folder.resolve()
    masks: dict[str, Path] = {}
    if (folder / "images").is_dir():
        images = _by_stem(_image_files(folder / "images", root, follow_symlinks, problems), problems)
        if (folder / "masks").is_dir():
            masks = _by_stem(_image_files(folder / "masks", root, follow_symlinks, problems), problems)
    else:
        files = _image_files(folder, root, follow_symlinks, problems)
        masks = _by_stem([p for p in files if p.stem.endswith("_mask")], problems, strip="_mask")
        images = _by_stem([p for p in files if not p.stem.endswith("_mask")], problems)
    if not images and not masks and not problems:
        problems.append(Problem(str(folder), "error", "no images found: expected image files, or an images/ folder"))
    for stem in sorted(set(images) & set(masks)):
        problems.append(
            Problem(
                str(images[stem]),
                "error",
                f"offered with the mask {masks[stem].name}, but a background image is a frame without polyps and "
                "takes no mask: skipped (import images with masks as training images: --role train)",
            )
        )
    for stem in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[stem]), "error", "a mask without image (background images take no masks): skipped"))
    return [(s, images[s]) for s in sorted(set(images) - set(masks))], problems


class PairRejected(BadInputError):
    """One pair cannot be imported; ``file`` is the file to blame (image or mask)."""

    def __init__(self, file: Path, message: str):
        super().__init__(message)
        self.file = file


def _load(loader: Callable, path: Path, max_pixels: int):
    """Run an imageio loader, blaming ``path`` (not a same-named partner) when it fails."""
    try:
        return loader(path, max_pixels)
    except BadInputError as e:
        msg = str(e)
        if msg.startswith(path.name + ": "):
            msg = msg[len(path.name) + 2 :]
        raise PairRejected(path, f"{msg}: pair skipped") from None


def _already_imported(c: sqlite3.Connection, digest: str, img_path: Path) -> bool:
    """True when this very file is in the workspace already; the same content from elsewhere is rejected."""
    row = c.execute("SELECT name, source_path FROM images WHERE sha256 = ?", (digest,)).fetchone()
    if row is None:
        return False
    if Path(row["source_path"]) == img_path.resolve():
        return True
    raise PairRejected(img_path, f"duplicate of image '{row['name']}' (same content, {row['source_path']}): skipped")


@dataclass(frozen=True)
class _Decoded:
    width: int
    height: int
    converted: bytes | None  # PNG of the clean 8-bit RGB copy, when the source needed converting
    notes: list[str]
    mask: np.ndarray | None  # None: a background image
    mask_notes: list[str]


def _decode(img_path: Path, mask_path: Path | None, max_pixels: int) -> _Decoded:
    """Read and check one pair. The image array is dropped before the mask is read (peak memory)."""
    image, img_notes = _load(load_rgb, img_path, max_pixels)
    height, width = image.shape[:2]
    converted = encode_png(image) if img_notes else None
    del image
    if mask_path is None:
        return _Decoded(width, height, converted, img_notes, None, [])
    mask, mask_notes = _load(load_mask, mask_path, max_pixels)
    if (height, width) != mask.shape:
        rotated = " (after applying the image's EXIF rotation)" if any("EXIF" in n for n in img_notes) else ""
        raise PairRejected(
            img_path,
            f"image is {width}x{height} but its mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}{rotated}: skipped",
        )
    return _Decoded(width, height, converted, img_notes, mask, mask_notes)


def _pair_problems(d: _Decoded, img_path: Path, mask_path: Path | None) -> tuple[list[Problem], str]:
    """Notes on the conversions, and the flag note (empty or all-white mask) with its warning."""
    problems = [Problem(str(img_path), "note", n) for n in d.notes]
    if d.mask is None or mask_path is None:
        return problems, ""
    problems += [Problem(str(mask_path), "note", n) for n in d.mask_notes]
    area = int(np.count_nonzero(d.mask))
    flag_note = ""
    if area == 0:
        flag_note = "empty mask (no polyp marked)"
    elif area == d.mask.size:
        flag_note = "all-white mask (whole image marked)"
    if flag_note:
        problems.append(Problem(str(mask_path), "warning", f"{flag_note}: imported and flagged"))
    return problems, flag_note


def _import_pair(
    ws: Workspace, import_id: int, stem: str, img_path: Path, mask_path: Path | None, copy: bool, max_pixels: int, role: str
) -> list[Problem] | None:
    """Import one pair; None when it is in the workspace already, else the notes on it."""
    digest = sha256_file(img_path)
    if _already_imported(ws.conn, digest, img_path):
        return None
    d = _decode(img_path, mask_path, max_pixels)
    problems, flag_note = _pair_problems(d, img_path, mask_path)
    written: list[Path] = []
    # One transaction per pair: a failure leaves either the whole pair or nothing (the files
    # written for a rolled-back row are removed), never a row without its file.
    try:
        with ws.transaction() as c:
            # Asked again under the write lock: another import of the same dataset (another
            # process) may have committed this file since the check above.
            if _already_imported(c, digest, img_path):
                return None
            cur = c.execute(
                "INSERT INTO images (name, source_path, sha256, width, height, notes, flagged, flag_note,"
                " import_id, role, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    stem,
                    str(img_path.resolve()),
                    digest,
                    d.width,
                    d.height,
                    "; ".join(d.notes),
                    int(bool(flag_note)),
                    flag_note,
                    import_id,
                    role,
                    now(),
                ),
            )
            image_id = inserted_id(cur)
            copied: tuple[str, bytes] | None = None
            if d.converted is not None:  # keep a clean 8-bit RGB copy; the source stays untouched
                copied = f"images/{image_id:06d}_{stem}.png", d.converted
            elif copy:
                copied = f"images/{image_id:06d}_{stem}{img_path.suffix.lower()}", img_path.read_bytes()
            if copied:
                stored, data = copied
                written.append(atomic_write_bytes(ws.path(stored), data))
                c.execute("UPDATE images SET stored_path = ? WHERE id = ?", (stored, image_id))
            if d.mask is not None and mask_path is not None:
                ws.add_mask_version(
                    image_id,
                    d.mask,
                    "original",
                    {"source": str(mask_path.resolve()), "notes": d.mask_notes},
                    source_mask_path=str(mask_path.resolve()),
                )
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return problems


def _kept_role(ws: Workspace, img_path: Path, role: str) -> Problem | None:
    """A warning when a pair already in the workspace has another role than this import gives."""
    rows = ws.query("SELECT id, role FROM images WHERE source_path = ? AND role != ?", (str(img_path.resolve()), role))
    if not rows:
        return None
    return Problem(
        str(img_path),
        "warning",
        f"already in the workspace as a {rows[0]['role']} image (id "
        f"{rows[0]['id']}): its role is unchanged; change it with 'diffgen "
        f"set-role --images {rows[0]['id']} --role {role}'",
    )


def _disk_full(e: BaseException) -> bool:
    """A write failed for want of space: the file system's ENOSPC/EDQUOT or SQLite's SQLITE_FULL."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, sqlite3.OperationalError) and getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _stop_for_full_disk(report: ImportReport, ws: Workspace, e: BaseException, done: int, total: int) -> None:
    report.stopped = (
        f"disk full ({e}) while writing into the workspace {ws.root}: stopped after {done} of "
        f"{total} pairs. The {report.imported} pairs imported are complete; free some space "
        f"and run the import again to add the rest"
    )
    report.problems.append(Problem(str(ws.root), "error", report.stopped))


def _store_report(ws: Workspace, report: ImportReport) -> None:
    with ws.transaction() as c:
        c.executemany(
            "INSERT INTO import_problems (import_id, file, severity, message) VALUES (?,?,?,?)",
            [(report.import_id, p.file, p.severity, p.message) for p in report.problems],
        )
        c.execute(
            "UPDATE imports SET finished_at = ?, summary_json = ? WHERE id = ?",
            (
                now(),
                json.dumps({"imported": report.imported, "already_present": report.already_present, "rejected": report.rejected}),
                report.import_id,
            ),
        )


def import_dataset(
    ws: Workspace,
    folder: str | Path,
    copy: bool = False,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    follow_symlinks: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    role: str = TRAIN,
) -> ImportReport:
    """Import every usable pair; return (and store) a per-file report of what happened.

    New images get ``role`` (``test``: held out of every generation stage, segmentation is
    tested on them; ``background``: images without masks, see :func:`discover_backgrounds`);
    pairs already in the workspace keep theirs (``diffgen set-role`` changes it).

    Cancelling stops between pairs: the pairs already imported stay (each is complete). A full
    disk stops the import the same way, with ``report.stopped`` saying so. Images above
    ``max_pixels`` are refused from their header; ``follow_symlinks`` accepts files reached
    through links that lead out of the dataset. A workspace inside the dataset is refused
    (:class:`BadInputError`) before anything is written.
    """
    folder = Path(folder).expanduser().resolve()
    check_workspace_outside(ws.root, folder)
    if role not in ROLES:
        raise BadInputError(f"unknown image role {role!r}: use {' or '.join(ROLES)}; nothing was imported")
    with ws.transaction() as c:
        import_id = inserted_id(
            c.execute("INSERT INTO imports (source_dir, copy_files, started_at) VALUES (?,?,?)", (str(folder), int(copy), now()))
        )
    report = ImportReport(import_id, str(folder), what="background images" if role == BACKGROUND else "image/mask pairs")
    pairs: list[tuple[str, Path, Path | None]] = []
    if not folder.is_dir():
        report.problems.append(Problem(str(folder), "error", "not a folder"))
    elif role == BACKGROUND:
        frames, unpaired = discover_backgrounds(folder, follow_symlinks)
        pairs = [(stem, image, None) for stem, image in frames]
        report.problems.extend(unpaired)
    else:
        with_masks, unpaired = discover_pairs(folder, follow_symlinks)
        pairs = list(with_masks)
        report.problems.extend(unpaired)
    report.rejected = sum(1 for p in report.problems if p.severity == "error" and p.file != str(folder))
    for i, (stem, img_path, mask_path) in enumerate(pairs):
        if cancel and cancel():
            report.problems.append(Problem(str(folder), "warning", f"import cancelled after {i} of {len(pairs)} pairs"))
            break
        try:
            found = _import_pair(ws, import_id, stem, img_path, mask_path, copy, max_pixels, role)
        except PairRejected as e:
            report.rejected += 1
            report.problems.append(Problem(str(e.file), "error", str(e)))
        except Exception as e:  # noqa: BLE001 - one odd file must not stop the import
            if _disk_full(e):
                _stop_for_full_disk(report, ws, e, i, len(pairs))
                break
            if isinstance(e, (sqlite3.Error, WorkspaceError)):
                raise  # the workspace itself is in trouble: stop, do not blame the file
            report.rejected += 1
            report.problems.append(
                Problem(str(img_path), "error", f"could not be imported ({type(e).__name__}: {e}): pair skipped")
            )
        else:
            if found is None:
                report.already_present += 1
                kept = _kept_role(ws, img_path, role)
                if kept:
                    report.problems.append(kept)
            else:
                report.imported += 1
                report.problems.extend(found)
        if progress:
            progress(i + 1, len(pairs), stem)
    try:
        _store_report(ws, report)
    except sqlite3.OperationalError as e:
        if not _disk_full(e):
            raise
        # The caller still gets (and shows) the report; the database keeps the import as interrupted.
        report.problems.append(
            Problem(str(ws.root), "error", f"disk full ({e}): this report could not be saved in the workspace")
        )
        report.stopped = report.stopped or f"disk full while saving the import report in {ws.root}"
    return report


def ensure_demo_workspace(
    root: str | Path | None = None, count: int = DEMO_COUNT, size: int = 256, seed: int = 0, progress: Progress | None = None
) -> Workspace:
    """The demo workspace (procedural data), created and imported on first use."""
    from backend.config.paths import demo_workspace_dir
    from backend.data.demo import write_demo_dataset

    root = Path(root) if root else demo_workspace_dir()
    data = root / "demo-data"
    ws = Workspace.create(root)
    if len(ws.image_ids()) < count:
        # A first run that was interrupted is finished here: the data are deterministic (same
        # bytes when rewritten) and a re-import adds only the pairs still missing.
        if len(list((data / "images").glob("*.jpg"))) < count:
            write_demo_dataset(data, count=count, size=size, seed=seed, progress=progress, overwrite=True)
        import_dataset(ws, data, copy=False, progress=progress)
    return ws


__all__ = [
    "import_dataset",
    "discover_pairs",
    "discover_backgrounds",
    "check_workspace_outside",
    "check_dataset_folder",
    "ImportReport",
    "Problem",
    "PairRejected",
    "ensure_demo_workspace",
]


@dataclass(frozen=True, kw_only=True)
class ImportResult(JobResult):
    """What the app's import report shows: the counts and every problem, one line each."""

    imported: int
    already_present: int
    rejected: int
    problems: tuple[str, ...]
    stopped: str = ""  # why the import stopped before the end (ImportReport.stopped)


def run_import(ws: Workspace, params: ImportParams, ctx: JobContext) -> ImportResult:
    """Job form of :func:`import_dataset` (the app's Import and drop queue it, ``diffgen import``
    runs it)."""
    report = import_dataset(
        ws,
        params.folder,
        params.copy,
        progress=ctx.progress,
        cancel=ctx.cancel,
        follow_symlinks=params.follow_symlinks,
        max_pixels=params.max_pixels,
        role=params.role,
    )
    return ImportResult(
        summary=report.summary(),
        imported=report.imported,
        already_present=report.already_present,
        rejected=report.rejected,
        problems=tuple(str(p) for p in report.problems),
        stopped=report.stopped,
    )
