"""Export the kept samples (optionally with the real images) in a format segmentation tools read.

Formats (``backend.exporters``): ``kvasir`` (images/ + masks/), ``nnunet`` (nnU-Net v2 raw),
``coco`` (RLE instance masks), ``hf`` (Hugging Face parquet), ``monai`` (Decathlon datalist).
Every export carries ``provenance.csv`` (one row per pair: where it came from, which model,
seed, gates, parameters, review note) and a ``README.md`` data card. Every image is decoded
and re-encoded as PNG, so no metadata of the sources (EXIF, text chunks) travels with it.

The export is built in a hidden folder beside OUT and renamed into place when complete, so OUT
is either absent or whole; OUT must be new or empty (nothing is ever overwritten). OUT may not
lie in the workspace or in any folder the workspace imported from (a later re-import would
take the synthetic images for real ones).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend import __version__
from backend.errors import Cancelled, DiffGenError
from backend.exporters import DatasetInfo, Item, Writer, make_writer
from backend.exporters.card import data_card
from backend.exporters.params import ExportParams
from backend.io.files import atomic_write_text, check_new_folder, disk_full_as_error, move_into_place, staging_dir
from backend.io.images import read_png_fast
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.reports.csvio import write_csv
from backend.words import counted
from backend.workspace import Workspace, queries, review_queue
from backend.workspace.records import ImageRecord, SampleRecord

Progress = Callable[[int, int, str], None]

PROVENANCE_COLUMNS = [
    "name",
    "split",
    "image",
    "mask",
    "origin",
    "sample_id",
    "set_name",
    "source_image",
    "source_image_id",
    "mask_version_id",
    "parent_sample_id",
    "model_id",
    "model_name",
    "preset",
    "seed",
    "gates",
    "params",
    "review_note",
    "created_at",
]


@dataclass
class ExportReport:
    out: str
    format: str
    samples: int = 0
    real: int = 0
    files: list[str] = field(default_factory=list)  # index files of the format
    provenance: str = "provenance.csv"
    card: str = "README.md"
    gates: queries.GateFilter | None = None  # with only_passed: what the gates left out, what is unscored
    undecided: int = 0  # samples nobody has kept or rejected yet (Review tab): not exported
    failed: int = 0  # exported kept samples that failed a quality gate (an export without only_passed)
    empty: int = 0  # kept samples whose mask has no polyp pixel: left out unless include_empty
    include_empty: bool = False

    def summary(self) -> str:
        """One line: what went where, then what stayed out (short: the app's result box shows
        the part before the parenthesis), then how to bring back what stayed out."""
        empty = f"; {self.empty} with an empty mask {'included' if self.include_empty else 'left out'}"
        hints = [
            "--include-empty exports kept samples with an empty mask" if self.empty and not self.include_empty else "",
            "--only-passed leaves out those that failed a gate" if self.failed else "",
        ]
        return (
            f"Exported {counted(self.samples, 'kept sample')}"
            + (f" and {counted(self.real, 'real image')}" if self.real else "")
            + f" to {self.out} as {self.format}"
            + (f"; {self.gates.describe()}" if self.gates else "")
            + (f"; {self.failed} failed a gate" if self.failed else "")
            + (empty if self.empty else "")
            + (f"; {self.undecided} unreviewed left out" if self.undecided else "")  # the app's result box stays short
            + f" (provenance: {self.provenance}; data card: {self.card}"
            + (f"; {', '.join(self.files)}" if self.files else "")
            + ")."
            + "".join(f" {h[0].upper()}{h[1:]}." for h in hints if h)
        )


def has_polyp(ws: Workspace, s: SampleRecord) -> bool:
    """Whether the sample's stored mask has a polyp pixel (a segmentation pair without one
    teaches "no polyp here" of an image made to show one)."""
    return bool(np.any(read_png_fast(ws.path(s.mask_path), grey=True)))


def kept_samples(ws: Workspace) -> list[SampleRecord]:
    ids = [
        r[0]
        for r in ws.query(
            "SELECT s.id FROM samples s JOIN reviews r ON r.sample_id = s.id WHERE r.decision = 'keep' ORDER BY s.id"
        )
    ]
    return [ws.sample(i) for i in ids]


def gate_record(ws: Workspace, sample_id: int) -> str:
    """A sample's stored gate scores as JSON for provenance.csv ('' when it was never scored)."""
    scores = ws.gates(sample_id)
    return (
        json.dumps(
            {g.gate: {"value": round(g.value, 6), "threshold": g.threshold, "passed": g.passed} for g in scores}, sort_keys=True
        )
        if scores
        else ""
    )


def source_folders(ws: Workspace) -> set[Path]:
    """Every folder the workspace imported from: the dataset folders, the folders of each
    image and mask file, and those of external sets (symbolic links resolved)."""
    folders = [r[0] for r in ws.query("SELECT source_dir FROM imports")]
    files = [
        r[0]
        for r in ws.query(
            "SELECT source_path FROM images UNION SELECT source_mask_path FROM mask_versions"
            " UNION SELECT json_extract(params_json, '$.source') FROM samples WHERE kind = 'external'"
            " UNION SELECT json_extract(params_json, '$.mask_source') FROM samples WHERE kind = 'external'"
        )
    ]
    return {Path(f).resolve() for f in folders if f} | {Path(f).resolve().parent for f in files if f}


def check_export_target(ws: Workspace, out: Path) -> None:
    """Refuse an export folder inside the workspace or inside (or equal to) a source folder."""
    if out == ws.root or ws.root in out.parents:
        raise DiffGenError(f"export folder {out} is inside the workspace; choose a folder outside it")
    for src in sorted(source_folders(ws)):
        if out == src or src in out.parents:
            raise DiffGenError(
                f"export folder {out} is inside {src}, a folder this workspace imported real images from: "
                "synthetic images there could later be imported as real ones. Choose a folder outside it"
            )


def split_of(rec: ImageRecord) -> str:
    """``test`` for test-role images (they go to imagesTs/, the test split...), else ``train``."""
    return "test" if getattr(rec, "role", "train") == "test" else "train"


def _unique(stem: str, taken: set[str]) -> str:
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name


def _lookup(names: dict[int, str], key: int | None) -> str:
    return names.get(key, "") if key is not None else ""


def _sample_row(ws: Workspace, s: SampleRecord, names: dict[int, str], models: dict[int, str]) -> dict:
    return {
        "origin": s.kind,
        "sample_id": s.id,
        "set_name": s.set_name,
        "source_image": _lookup(names, s.source_image_id),
        "source_image_id": s.source_image_id,
        "mask_version_id": s.mask_version_id,
        "parent_sample_id": s.parent_sample_id,
        "model_id": s.model_id,
        "model_name": _lookup(models, s.model_id),
        "preset": str(s.params.get("preset") or ""),
        "seed": s.seed,
        "gates": gate_record(ws, s.id),
        "params": json.dumps(s.params, sort_keys=True),
        "review_note": ws.review(s.id)[1],
        "created_at": s.created_at,
    }


def _real_row(rec: ImageRecord) -> dict:
    return {
        "origin": "real",
        "source_image": rec.name,
        "source_image_id": rec.id,
        "mask_version_id": rec.current_mask_id,
        "params": "",
    }


def _write(
    ws: Workspace,
    folder: Path,
    fmt: str,
    real: list[ImageRecord],
    samples: list[SampleRecord],
    licence: str,
    progress: Progress | None,
    cancel: Callable[[], bool] | None,
    report: ExportReport,
) -> None:
    """Fill ``folder`` with the pairs, the format's index files, provenance and the data card;
    counts what it wrote in ``report``."""
    writer: Writer = make_writer(fmt, folder)
    names = {r.id: r.name for r in ws.images()}
    models = {r[0]: r[1] for r in ws.query("SELECT id, name FROM models")}
    jobs = [
        (
            f"real_{rec.name}",
            split_of(rec),
            _real_row(rec),
            lambda rec=rec: (ws.read_image(rec), ws.read_mask(rec.current_mask_id)),
        )
        for rec in real
    ] + [
        (
            f"{s.kind}_{_lookup(names, s.source_image_id) or 'sample'}_{s.id}",
            "train",
            _sample_row(ws, s, names, models),
            lambda s=s: ws.read_sample(s),
        )
        for s in samples
    ]
    items: list[Item] = []
    taken: set[str] = set()
    for done, (stem, split, row, read) in enumerate(jobs, 1):
        _check(cancel)
        name = _unique(stem, taken)
        item = Item(name, split, {**dict.fromkeys(PROVENANCE_COLUMNS, ""), **row, "name": name, "split": split})
        image, mask = read()
        item.row["image"], item.row["mask"] = writer.add(item, image, mask)
        items.append(item)
        report.real += row["origin"] == "real"
        if progress:
            progress(done, len(jobs), name)
    _check(cancel)
    synthetic = len(items) - report.real
    info = DatasetInfo(
        folder.name,
        f"{synthetic} synthetic polyp image + mask pairs made with DiffGen Studio"
        + (f", and {report.real} real pairs" if report.real else "")
        + " (see README.md)",
        licence.strip() or "see README.md",
        __version__,
    )
    report.files = writer.finish(items, info)
    report.samples = synthetic
    write_csv(folder / report.provenance, PROVENANCE_COLUMNS, [i.row for i in items])
    atomic_write_text(
        folder / report.card,
        data_card(
            ws,
            fmt,
            writer,
            items,
            licence,
            __version__,
            hf_header=fmt == "hf",
            gates=report.gates,
            empty=report.empty,
            include_empty=report.include_empty,
        ),
    )


def export_kept(
    ws: Workspace,
    out: str | Path,
    with_real: bool = False,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    fmt: str = "kvasir",
    licence: str = "",
    only_passed: bool = False,
    include_empty: bool = False,
) -> ExportReport:
    """Write the export into a hidden folder beside ``out`` and rename it into place; on
    cancel or error nothing is left behind. ``licence``: the source dataset's terms, for the
    data card. ``only_passed``: leave out kept samples that failed a quality gate (unscored
    ones are exported, and counted in the report). Kept samples whose mask is empty are left
    out and counted unless ``include_empty``. An export whose filters leave no synthetic
    sample is refused, even with real images: it would not be the synthetic dataset asked for."""
    out = Path(out).expanduser().resolve()
    check_export_target(ws, out)
    check_new_folder(out)
    kept = kept_samples(ws)
    empty = [s.id for s in kept if not has_polyp(ws, s)]
    samples = kept if include_empty else [s for s in kept if s.id not in set(empty)]
    gates = queries.gate_filter(ws, [s.id for s in samples]) if only_passed else None
    if gates:
        samples = [s for s in samples if s.id in gates.kept]
    real = ws.images("current_mask_id IS NOT NULL") if with_real else []
    if not samples and (not real or kept or only_passed):
        raise DiffGenError(_nothing_left(len(kept), len(gates.failed) if gates else 0, len(empty), bool(real)))
    failures = queries.gate_failures(ws)
    report = ExportReport(
        str(out),
        fmt,
        gates=gates,
        undecided=review_queue.counts(review_queue.review_items(ws))["undecided"],
        failed=sum(s.id in failures for s in samples),
        empty=len(empty),
        include_empty=include_empty,
    )
    staged = staging_dir(out)
    try:
        with disk_full_as_error(f"the {fmt} export into {out}", f"nothing was written to {out}"):
            _write(ws, staged, fmt, real, samples, licence, progress, cancel, report)
        move_into_place(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return report


def _nothing_left(kept: int, failed: int, empty: int, real: bool) -> str:
    """Why no synthetic sample is left to export (``failed``: left out by the gates, ``empty``:
    for an empty mask), and what to do."""
    more = "or keep more samples in review"
    if not kept:
        text = (
            "no sample is marked 'keep' (keep samples in the Review tab, or with "
            "'diffgen review -w WS --keep IDS' or '--keep-passed')"
        )
    elif failed == kept:
        text = f"{_all(kept)} marked 'keep' failed a quality gate; export without --only-passed, {more}"
    elif empty == kept:
        text = f"{_all(kept)} marked 'keep' {'has' if kept == 1 else 'have'} an empty mask; export with --include-empty, {more}"
    else:
        text = (
            f"of {counted(kept, 'sample')} marked 'keep', {failed} failed a quality gate and {empty} "
            f"{'has' if empty == 1 else 'have'} an empty mask; "
            f"export without --only-passed or with --include-empty, {more}"
        )
    if real:
        return f"no synthetic sample to export: {text} (the real images alone are not a synthetic dataset)"
    return f"nothing to export: {text}"


def _all(n: int) -> str:
    """'the 1 sample' / 'all 3 samples'."""
    return f"{'the' if n == 1 else 'all'} {counted(n, 'sample')}"


def _check(cancel: Callable[[], bool] | None) -> None:
    if cancel and cancel():
        raise Cancelled("export cancelled; nothing was written")


@dataclass(frozen=True, kw_only=True)
class ExportResult(JobResult):
    """What an export job stores of its :class:`ExportReport` (the summary is the job's message)."""

    out: str
    format: str
    samples: int
    real: int
    failed: int
    empty: int
    undecided: int


def run_export(ws: Workspace, params: ExportParams, ctx: JobContext) -> ExportResult:
    """Job form of :func:`export_kept`: the app's Export and ``diffgen export`` run it."""
    report = export_kept(
        ws,
        params.out,
        params.with_real,
        ctx.progress,
        ctx.cancel,
        params.fmt,
        params.licence,
        only_passed=params.only_passed,
        include_empty=params.include_empty,
    )
    return ExportResult(
        summary=report.summary(),
        out=report.out,
        format=report.format,
        samples=report.samples,
        real=report.real,
        failed=report.failed,
        empty=report.empty,
        undecided=report.undecided,
    )
