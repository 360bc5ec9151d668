"""Image sets for evaluation: names the user types, resolved to lists of image files.

A set spec is one of
  ``real``            the workspace's training images,
  ``samples:KIND``    every sample of a kind (inpainted, styled, external...),
  ``NAME``            every sample whose set name is NAME (``Diff``, ``GAN``...),
  a folder path       the image files in it (its ``images/`` subfolder when it has one;
                      ``*_mask`` files and ``masks/`` are left out).
External sets (e.g. SinGAN-Seg's GAN images) are imported as samples of kind ``external``
so that reports find them by name like any generated set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.data.import_params import ImportSetParams
from backend.errors import BadInputError, Cancelled
from backend.io.files import sha256_file
from backend.io.images import IMAGE_SUFFIXES, load_mask, load_rgb
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.workspace import SampleRecord, Workspace
from backend.workspace.names import check_name
from backend.workspace.selection import generation_images

REAL = "real"


@dataclass(frozen=True)
class SetItem:
    path: Path
    sha256: str


@dataclass(frozen=True)
class ImageSet:
    name: str
    spec: str
    items: tuple[SetItem, ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[Path]:
        return [i.path for i in self.items]

    def content_hash(self) -> str:
        """Hash of the sorted file hashes: the same images give the same key in any order."""
        return hashlib.sha256("\n".join(sorted(i.sha256 for i in self.items)).encode()).hexdigest()

    def subset(self, indices, name: str | None = None) -> "ImageSet":
        return ImageSet(name or self.name, self.spec, tuple(self.items[int(i)] for i in indices))


def folder_images(folder: Path) -> list[Path]:
    base = folder / "images" if (folder / "images").is_dir() else folder
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not p.stem.endswith("_mask")
        and "masks" not in p.relative_to(base).parts
        and not p.name.startswith(".")
    )


def _items(paths: list[Path]) -> tuple[SetItem, ...]:
    return tuple(SetItem(p, sha256_file(p)) for p in paths)


def _sample_items(ws: Workspace, rows: list[SampleRecord]) -> tuple[SetItem, ...]:
    """The samples' image files, each checked to lie in the workspace (the rows come from disk)."""
    return _items([ws.stored(s.image_path, "samples", s.id, "image_path") for s in rows])


def set_names(ws: Workspace) -> list[str]:
    """Sample set names present in the workspace, in order of first appearance."""
    return [r[0] for r in ws.query("SELECT set_name FROM samples GROUP BY set_name ORDER BY MIN(id)")]


def resolve_set(spec: str, ws: Workspace | None = None) -> ImageSet:
    """The image set a spec names; a clear error when it names nothing."""
    if ws is not None:
        if spec.lower() == REAL:
            items = []
            for rec in generation_images(ws):  # never the held-out test images
                path = ws.stored(rec.stored_path, "images", rec.id, "stored_path") if rec.stored_path else Path(rec.source_path)
                # a converted copy has other bytes than the source: hash what is read
                items.append(SetItem(path, sha256_file(path) if rec.stored_path else rec.sha256))
            return _nonempty(ImageSet("Real", spec, tuple(items)), "the workspace has no images")
        if spec.startswith("samples:"):
            kind = spec.split(":", 1)[1]
            rows = ws.samples(kind=kind)
            return _nonempty(ImageSet(kind, spec, _sample_items(ws, rows)), f"no samples of kind {kind!r}")
        rows = ws.samples(set_name=spec)
        if rows:
            return ImageSet(spec, spec, _sample_items(ws, rows))
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return _nonempty(ImageSet(folder.name, spec, _items(folder_images(folder))), f"no image files in {folder}")
    known = ["real", "samples:KIND"] + (set_names(ws) if ws is not None else [])
    raise BadInputError(
        f"unknown image set {spec!r}: not a folder"
        + (f" and not one of {', '.join(known)}" if ws is not None else " (set names need --workspace)")
    )


def _nonempty(s: ImageSet, why: str) -> ImageSet:
    if not s.items:
        raise BadInputError(f"image set {s.spec!r} is empty: {why}")
    return s


def import_external_set(
    ws: Workspace,
    folder: str | Path,
    name: str,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict:
    """Store a folder of images (with masks when present) as samples of kind 'external'.

    Masks are paired like the dataset importer does (``masks/`` or ``NAME_mask``); images
    without a mask get an empty one and a note. Files already imported under this name
    are skipped; unreadable files are reported by name and the rest goes on.
    """
    check_name(name, "set name")
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder")
    images = folder_images(folder)
    if not images:
        raise BadInputError(f"no image files in {folder}")
    mask_dir = folder / "masks"
    done = {
        r[0]
        for r in ws.query(
            "SELECT json_extract(params_json, '$.source') FROM samples WHERE kind = 'external' AND set_name = ?", (name,)
        )
    }
    added, skipped, problems, unmasked = 0, 0, [], 0
    for i, path in enumerate(images):
        if cancel and cancel():
            raise Cancelled("import cancelled")
        if str(path) in done:
            skipped += 1
            continue
        try:
            image, _ = load_rgb(path)
            candidates = [path.with_name(f"{path.stem}_mask{s}") for s in (".png", path.suffix)]
            candidates += [mask_dir / f"{path.stem}{s}" for s in IMAGE_SUFFIXES]
            mask_path = next((c for c in candidates if c.is_file()), None)
            mask: np.ndarray
            if mask_path is None:
                mask, unmasked = np.zeros(image.shape[:2], np.uint8), unmasked + 1
            else:
                mask, _ = load_mask(mask_path)
                if mask.shape != image.shape[:2]:
                    raise BadInputError(
                        f"mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}, image is {image.shape[1]}x{image.shape[0]}"
                    )
            ws.add_sample(
                "external", name, image, mask, params={"source": str(path), "mask_source": str(mask_path) if mask_path else None}
            )
            added += 1
        except BadInputError as e:
            problems.append(str(e) if path.name in str(e) else f"{path.name}: {e}")
        if progress:
            progress(i + 1, len(images), path.name)
    return {"set_name": name, "added": added, "already_present": skipped, "without_mask": unmasked, "problems": problems}


@dataclass(frozen=True, kw_only=True)
class ImportSetResult(JobResult):
    """What :func:`import_external_set` added, found already stored, stored without a mask, and refused (by file)."""

    set_name: str
    added: int
    already_present: int
    without_mask: int
    problems: list[str]


def run_import_set(ws: Workspace, params: ImportSetParams, ctx: JobContext) -> ImportSetResult:
    """Job form of :func:`import_external_set` (``diffgen import-set``)."""
    res = import_external_set(ws, params.folder, params.name, ctx.progress, ctx.cancel)
    summary = (
        f"Set {res['set_name']!r}: {res['added']} images added, {res['already_present']} already present, "
        f"{res['without_mask']} without a mask, {len(res['problems'])} rejected."
    )
    return ImportSetResult(summary=summary, **res)


# -- the paper's Sets 1-3 and the Real rows of Table 1 ------------------------------------------


def sample_rows(spec: str, ws: Workspace) -> list[SampleRecord]:
    """The workspace samples a set spec names, as :func:`resolve_set` reads it (none for
    ``real`` or a folder)."""
    if spec.lower() == REAL:
        return []
    if spec.startswith("samples:"):
        return ws.samples(kind=spec.split(":", 1)[1])
    return ws.samples(set_name=spec)


def _recorded_index(s: SampleRecord, by_id: dict[int, SampleRecord]) -> int | None:
    """The inpainting stage's ``sample_index``; a styled sample has its parent's."""
    while s.params.get("sample_index") is None and s.parent_sample_id in by_id:
        s = by_id[s.parent_sample_id]
    value = s.params.get("sample_index")
    return None if value is None else int(value)


def sample_index_sets(spec: str, ws: Workspace, count: int) -> tuple[list[ImageSet], list[str]]:
    """Set k (k = 1..count) = sample k of every source image of the set, and notes on images
    that have fewer or repeated samples.

    The paper makes 3 samples per image (section 3.2) and reports Sets 1-3 (Tables 1-2); the
    author's experiments.ipynb builds set k as sample k of every image (``load_samples(path,
    idx)``, and ``k`` of ``load_GAN_images_from_dict``). A sample's index is the one the
    inpainting stage recorded (a styled sample inherits its parent's); samples without one
    count in the order they were made. A re-run that made a second sample k of an image:
    the earlier one is used.
    """
    rows = sample_rows(spec, ws)
    if not rows or any(r.source_image_id is None for r in rows):
        raise BadInputError(
            f"set {spec!r} has no source image per sample (an imported set or a folder), so it has no per-image sample index"
        )
    by_id = {r.id: r for r in ws.samples()}
    per_image: dict[int, list[SampleRecord]] = {}
    for r in rows:
        per_image.setdefault(int(r.source_image_id), []).append(r)  # type: ignore[arg-type]
    chosen: list[dict[int, SampleRecord]] = [{} for _ in range(count)]
    repeats = 0
    for image_id, samples in per_image.items():
        unindexed = iter(range(len(samples)))
        for s in sorted(samples, key=lambda r: r.id):
            k = _recorded_index(s, by_id)
            k = next(unindexed) if k is None else k
            if k < count and image_id in chosen[k]:
                repeats += 1
            elif k < count:
                chosen[k][image_id] = s
    name = spec.split(":", 1)[1] if spec.startswith("samples:") else spec
    sets = [ImageSet(name, spec, _sample_items(ws, [s for _, s in sorted(c.items())])) for c in chosen]
    notes = [
        f"{name}: set {k + 1} lacks {len(per_image) - len(s)} of the {len(per_image)} images (they have no sample {k + 1})"
        for k, s in enumerate(sets)
        if len(s) < len(per_image)
    ]
    if repeats:
        notes.append(f"{name}: {repeats} repeated sample indices (a re-run); the earliest sample of each is used")
    return sets, notes


def disjoint_halves(s: ImageSet, seed: int, k: int) -> tuple[ImageSet, ImageSet]:
    """Two disjoint random halves of a set (an odd one out is left over), from ``(seed, k)``
    only: the floor of Table 1, the FID two samples of the same images give at this size."""
    perm = np.random.default_rng([seed, k, 1]).permutation(len(s))
    half = len(s) // 2
    return s.subset(perm[:half], f"{s.name} A"), s.subset(perm[half : 2 * half], f"{s.name} B")
