"""Import a dataset folder into a workspace.

Layouts: HyperKvasir / Kvasir-SEG (``images/`` + ``masks/``, pairs by file stem) or a flat
folder of ``NAME.jpg`` + ``NAME_mask.png``. Bad files are rejected one by one with a
message naming the file; the import always goes on. Source files are only ever read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from backend.data.imageio import IMAGE_SUFFIXES, load_mask, load_rgb
from backend.errors import BadInputError, WorkspaceError
from backend.workspace import Workspace, now
from backend.workspace.files import atomic_write_bytes, encode_png, sha256_file

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

    def summary(self) -> str:
        return (f"Imported {self.imported} image/mask pairs from {self.source} "
                f"({self.already_present} already in the workspace, {self.rejected} rejected).")


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


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


def discover_pairs(folder: Path) -> tuple[list[tuple[str, Path, Path]], list[Problem]]:
    """(stem, image, mask) triples found in ``folder`` and problems with unpaired files."""
    problems: list[Problem] = []
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        images = _by_stem([p for p in sorted((folder / "images").iterdir()) if _is_image(p)], problems)
        masks = _by_stem([p for p in sorted((folder / "masks").iterdir()) if _is_image(p)], problems)
    else:
        files = [p for p in sorted(folder.iterdir()) if _is_image(p)]
        masks = _by_stem([p for p in files if p.stem.endswith("_mask")], problems, strip="_mask")
        images = _by_stem([p for p in files if not p.stem.endswith("_mask")], problems)
        if not images and not masks:
            problems.append(Problem(str(folder), "error",
                                    "no images found: expected images/ + masks/ folders, "
                                    "or NAME.jpg + NAME_mask.png pairs"))
    for stem in sorted(set(images) - set(masks)):
        problems.append(Problem(str(images[stem]), "error", "image without mask: skipped"))
    for stem in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[stem]), "error", "mask without image: skipped"))
    pairs = [(s, images[s], masks[s]) for s in sorted(set(images) & set(masks))]
    return pairs, problems


class PairRejected(BadInputError):
    """One pair cannot be imported; ``file`` is the file to blame (image or mask)."""

    def __init__(self, file: Path, message: str):
        super().__init__(message)
        self.file = file


def _load(loader: Callable, path: Path):
    """Run an imageio loader, blaming ``path`` (not a same-named partner) when it fails."""
    try:
        return loader(path)
    except BadInputError as e:
        msg = str(e)
        if msg.startswith(path.name + ": "):
            msg = msg[len(path.name) + 2:]
        raise PairRejected(path, f"{msg}: pair skipped") from None


def _import_pair(ws: Workspace, import_id: int, stem: str, img_path: Path, mask_path: Path,
                 copy: bool, report: ImportReport) -> None:
    digest = sha256_file(img_path)
    existing = ws.query("SELECT id, name, source_path FROM images WHERE sha256 = ?", (digest,))
    if existing:
        if Path(existing[0]["source_path"]) == img_path.resolve():
            report.already_present += 1
            return
        raise PairRejected(img_path, f"duplicate of image '{existing[0]['name']}' (same content, "
                                     f"{existing[0]['source_path']}): skipped")
    image, img_notes = _load(load_rgb, img_path)
    mask, mask_notes = _load(load_mask, mask_path)
    if image.shape[:2] != mask.shape:
        rotated = " (after applying the image's EXIF rotation)" if any("EXIF" in n for n in img_notes) else ""
        raise PairRejected(img_path, f"image is {image.shape[1]}x{image.shape[0]} but its mask {mask_path.name}"
                                     f" is {mask.shape[1]}x{mask.shape[0]}{rotated}: skipped")
    for n in img_notes:
        report.problems.append(Problem(str(img_path), "note", n))
    for n in mask_notes:
        report.problems.append(Problem(str(mask_path), "note", n))
    area = int((mask > 0).sum())
    flag_note = ""
    if area == 0:
        flag_note = "empty mask (no polyp marked)"
    elif area == mask.size:
        flag_note = "all-white mask (whole image marked)"
    if flag_note:
        report.problems.append(Problem(str(mask_path), "warning", f"{flag_note}: imported and flagged"))

    # One transaction per pair: a crash leaves either the whole pair or nothing (at worst an
    # unreferenced file), never a row without its file.
    with ws.transaction() as c:
        cur = c.execute(
            "INSERT INTO images (name, source_path, sha256, width, height, notes, flagged, flag_note,"
            " import_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (stem, str(img_path.resolve()), digest, image.shape[1], image.shape[0], "; ".join(img_notes),
             int(bool(flag_note)), flag_note, import_id, now()))
        image_id = cur.lastrowid
        stored = None
        if img_notes:  # keep a clean 8-bit RGB copy; the source stays untouched
            stored = f"images/{image_id:06d}_{stem}.png"
            atomic_write_bytes(ws.path(stored), encode_png(image))
        elif copy:
            stored = f"images/{image_id:06d}_{stem}{img_path.suffix.lower()}"
            atomic_write_bytes(ws.path(stored), img_path.read_bytes())
        if stored:
            c.execute("UPDATE images SET stored_path = ? WHERE id = ?", (stored, image_id))
        ws.add_mask_version(image_id, mask, "original",
                            {"source": str(mask_path.resolve()), "notes": mask_notes},
                            source_mask_path=str(mask_path.resolve()))
    report.imported += 1


def import_dataset(ws: Workspace, folder: str | Path, copy: bool = False,
                   progress: Progress | None = None, cancel: Callable[[], bool] | None = None
                   ) -> ImportReport:
    """Import every usable pair; return (and store) a per-file report of what happened.

    Cancelling stops between pairs: the pairs already imported stay (each is complete).
    """
    folder = Path(folder).expanduser().resolve()
    with ws.transaction() as c:
        import_id = c.execute("INSERT INTO imports (source_dir, copy_files, started_at) VALUES (?,?,?)",
                              (str(folder), int(copy), now())).lastrowid
    report = ImportReport(import_id, str(folder))
    if not folder.is_dir():
        report.problems.append(Problem(str(folder), "error", "not a folder"))
        pairs = []
    else:
        pairs, unpaired = discover_pairs(folder)
        report.problems.extend(unpaired)
    report.rejected = sum(1 for p in report.problems if p.severity == "error")
    for i, (stem, img_path, mask_path) in enumerate(pairs):
        if cancel and cancel():
            report.problems.append(Problem(str(folder), "warning",
                                           f"import cancelled after {i} of {len(pairs)} pairs"))
            break
        try:
            _import_pair(ws, import_id, stem, img_path, mask_path, copy, report)
        except PairRejected as e:
            report.rejected += 1
            report.problems.append(Problem(str(e.file), "error", str(e)))
        except (sqlite3.Error, WorkspaceError):
            raise  # the workspace itself is in trouble: stop, do not blame the file
        except Exception as e:  # noqa: BLE001 - one odd file must not stop the import
            report.rejected += 1
            report.problems.append(Problem(str(img_path), "error",
                                           f"could not be imported ({type(e).__name__}: {e}): pair skipped"))
        if progress:
            progress(i + 1, len(pairs), stem)
    with ws.transaction() as c:
        c.executemany("INSERT INTO import_problems (import_id, file, severity, message) VALUES (?,?,?,?)",
                      [(import_id, p.file, p.severity, p.message) for p in report.problems])
        c.execute("UPDATE imports SET finished_at = ?, summary_json = ? WHERE id = ?",
                  (now(), json.dumps({"imported": report.imported, "already_present": report.already_present,
                                      "rejected": report.rejected}), import_id))
    return report


def ensure_demo_workspace(root: str | Path | None = None, count: int = 40, size: int = 256,
                          seed: int = 0, progress: Progress | None = None) -> Workspace:
    """The demo workspace (procedural data), created and imported on first use."""
    from backend.data.demo import write_demo_dataset
    from backend.paths import demo_workspace_dir

    root = Path(root) if root else demo_workspace_dir()
    data = root / "demo-data"
    ws = Workspace.create(root)
    if len(ws.image_ids()) < count:
        # A first run that was interrupted is finished here: the data are deterministic (same
        # bytes when rewritten) and a re-import adds only the pairs still missing.
        if len(list((data / "images").glob("*.jpg"))) < count:
            write_demo_dataset(data, count=count, size=size, seed=seed, progress=progress)
        import_dataset(ws, data, copy=False, progress=progress)
    return ws


__all__ = ["import_dataset", "discover_pairs", "ImportReport", "Problem", "PairRejected",
           "ensure_demo_workspace"]
