"""Export the kept samples (optionally with the real images) as a Kvasir-layout dataset.

OUT gets ``images/NAME.png`` + ``masks/NAME.png`` and ``provenance.csv`` (one row per pair:
where it came from, which model, seed, parameters, review note). Every file is decoded and
re-encoded as PNG, so no metadata of the sources (EXIF, text chunks) travels with it.
Existing files in OUT are never overwritten: a clashing name gets a ``-2``, ``-3``...
suffix and the report lists every renamed file. OUT may not lie in the workspace or in
any folder the workspace imported from (a later re-import would take the synthetic
images for real ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backend.errors import Cancelled, DiffGenError
from backend.reports.csvio import write_csv
from backend.workspace import Workspace
from backend.workspace.files import atomic_write_bytes, encode_png

Progress = Callable[[int, int, str], None]

PROVENANCE_COLUMNS = ["name", "image", "mask", "origin", "sample_id", "set_name", "source_image",
                      "source_image_id", "mask_version_id", "parent_sample_id", "model_id", "seed",
                      "params", "review_note", "created_at"]


@dataclass
class ExportReport:
    out: str
    samples: int = 0
    real: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (wanted, written)
    provenance: str = ""

    def summary(self) -> str:
        text = (f"Exported {self.samples} kept samples" + (f" and {self.real} real images" if self.real else "")
                + f" to {self.out} (provenance: {self.provenance}).")
        if self.renamed:
            text += (f" {len(self.renamed)} names already existed in the folder and were written under new "
                     "names (nothing was overwritten): "
                     + ", ".join(f"{a} -> {b}" for a, b in self.renamed[:5])
                     + (" ..." if len(self.renamed) > 5 else ""))
        return text


def kept_samples(ws: Workspace) -> list:
    ids = [r[0] for r in ws.query("SELECT s.id FROM samples s JOIN reviews r ON r.sample_id = s.id"
                                  " WHERE r.decision = 'keep' ORDER BY s.id")]
    return [ws.sample(i) for i in ids]


def _free_stem(out: Path, stem: str, taken: set[str]) -> str:
    """``stem`` if neither images/ nor masks/ has it (nor this export), else stem-2, stem-3..."""
    candidate, n = stem, 1
    while (candidate in taken or (out / "images" / f"{candidate}.png").exists()
           or (out / "masks" / f"{candidate}.png").exists()):
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


def _free_file(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def source_folders(ws: Workspace) -> set[Path]:
    """Every folder the workspace imported from: the dataset folders, the folders of each
    image and mask file, and those of external sets (symbolic links resolved)."""
    folders = [r[0] for r in ws.query("SELECT source_dir FROM imports")]
    files = [r[0] for r in ws.query(
        "SELECT source_path FROM images UNION SELECT source_mask_path FROM mask_versions"
        " UNION SELECT json_extract(params_json, '$.source') FROM samples WHERE kind = 'external'"
        " UNION SELECT json_extract(params_json, '$.mask_source') FROM samples WHERE kind = 'external'")]
    return {Path(f).resolve() for f in folders if f} | {Path(f).resolve().parent for f in files if f}


def check_export_target(ws: Workspace, out: Path) -> None:
    """Refuse an export folder inside the workspace or inside (or equal to) a source folder."""
    if out == ws.root or ws.root in out.parents:
        raise DiffGenError(f"export folder {out} is inside the workspace; choose a folder outside it")
    for src in sorted(source_folders(ws)):
        if out == src or src in out.parents:
            raise DiffGenError(
                f"export folder {out} is inside {src}, a folder this workspace imported real images from: "
                "synthetic images there could later be imported as real ones. Choose a folder outside it")


def export_kept(ws: Workspace, out: str | Path, with_real: bool = False, progress: Progress | None = None,
                cancel: Callable[[], bool] | None = None) -> ExportReport:
    """Write the export; on cancel every file written so far is removed again."""
    out = Path(out).expanduser().resolve()
    check_export_target(ws, out)
    samples = kept_samples(ws)
    real = ws.images() if with_real else []
    if not samples and not real:
        raise DiffGenError("nothing to export: no sample is marked 'keep' (review them first)")
    report = ExportReport(str(out))
    rows: list[dict] = []
    written: list[Path] = []
    taken: set[str] = set()
    total = len(samples) + len(real)
    names = {r.id: r.name for r in ws.images()}

    def put(stem: str, image, mask) -> tuple[str, str]:
        name = _free_stem(out, stem, taken)
        if name != stem:
            report.renamed.append((stem, name))
        for sub, arr in (("images", image), ("masks", mask)):
            written.append(atomic_write_bytes(out / sub / f"{name}.png", encode_png(arr)))
        return name, f"images/{name}.png"

    try:
        for i, rec in enumerate(real):
            _check(cancel)
            name, img = put(f"real_{rec.name}", ws.read_image(rec), ws.read_mask(rec.current_mask_id))
            rows.append({"name": name, "image": img, "mask": f"masks/{name}.png", "origin": "real",
                         "source_image": rec.name, "source_image_id": rec.id,
                         "mask_version_id": rec.current_mask_id, "created_at": ""})
            report.real += 1
            if progress:
                progress(i + 1, total, rec.name)
        for j, s in enumerate(samples):
            _check(cancel)
            image, mask = ws.read_sample(s)
            src = names.get(s.source_image_id, "")
            name, img = put(f"{s.kind}_{src or 'sample'}_{s.id}", image, mask)
            rows.append({"name": name, "image": img, "mask": f"masks/{name}.png", "origin": s.kind,
                         "sample_id": s.id, "set_name": s.set_name, "source_image": src,
                         "source_image_id": s.source_image_id, "mask_version_id": s.mask_version_id,
                         "parent_sample_id": s.parent_sample_id, "model_id": s.model_id, "seed": s.seed,
                         "params": json.dumps(s.params, sort_keys=True), "review_note": ws.review(s.id)[1],
                         "created_at": s.created_at})
            report.samples += 1
            if progress:
                progress(len(real) + j + 1, total, name)
        _check(cancel)
        prov = _free_file(out / "provenance.csv")
        if prov.name != "provenance.csv":
            report.renamed.append(("provenance.csv", prov.name))
        write_csv(prov, PROVENANCE_COLUMNS, rows)
        report.provenance = prov.name
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return report


def _check(cancel: Callable[[], bool] | None) -> None:
    if cancel and cancel():
        raise Cancelled("export cancelled; the files written so far were removed")
