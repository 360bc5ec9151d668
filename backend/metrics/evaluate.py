"""Intrinsic evaluation jobs: FID, MS-SSIM and the paper's Tables 1-2 (section 3.4).

``run_evaluate`` compares every image set of the workspace (Real, each generated set, each
imported external set such as GAN) over the paper's Sets 1-3:

* Sets: set k = sample k of every source image (``sets_by = "sample-index"``, the paper's 3
  samples per image), or random subsets of ``m`` images (``"random"``, and always for sets
  without a source image per sample: imported sets, folders).
* Real is resized to the generated samples' resolution with the inpainting stage's own
  resize before clean-fid (``real_resize = "model"``), so that Real and synthetic images
  reach clean-fid's 299 px resize from the same size and the same function.
* Table 1 (FID against Real): each set against the full Real set (its statistics are
  cached). Two Real rows: Real against itself in shuffled order (the paper's ~0, a check of
  the pipeline) and two disjoint random halves of Real against each other (how far FID moves
  between two samples of different real images at half the size; not a floor: an inpainted
  sample keeps every pixel outside its region from a real image, and the other rows compare
  more images per side, so they can read below it).
* A row whose random subsets would each hold the whole set (subsets of n from n images) is
  measured once: three copies of one set would print a spread of 0 that is no spread.
* Table 2 (MS-SSIM, diversity): mean MS-SSIM over random pairs within each set.

Output: Markdown + CSV + a bar chart in ``reports/evaluate-<time>/``, and rows in
``results`` (one per value, one for the run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from PIL import Image

from backend.data.sets import REAL, ImageSet, SetItem, disjoint_halves, resolve_set, sample_index_sets, sample_rows, set_names
from backend.errors import BadInputError, Cancelled
from backend.generate.pixels import RESIZE_NOTE, to_model_resolution
from backend.io.files import atomic_write_bytes, atomic_write_text, encode_png, sha256_bytes, sha256_file
from backend.io.images import load_rgb
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.metrics.evaluate_params import EvaluateParams, FidParams, MsssimParams
from backend.metrics.fid import (
    FidExtractor,
    SetStats,
    compute_fid,
    fid_from_stats,
    load_fid_inception,
    set_statistics,
)
from backend.metrics.msssim import MsssimConfig, mean_msssim
from backend.reports import markdown_table
from backend.reports.csvio import write_csv
from backend.reports.figures import new_figure, png_bytes
from backend.words import counted
from backend.workspace import Workspace

Progress = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


REAL_SELF = "Real vs itself (sanity check)"
REAL_HALVES = "Real vs Real, disjoint halves"


@dataclass(frozen=True, kw_only=True)
class EvaluateResult(JobResult):
    """What ``run_evaluate`` stored in ``results`` (the report's figures and where its files are)."""

    sets: tuple[str, ...]
    fid: dict[str, Any]
    msssim: dict[str, Any]
    paths: dict[str, str]
    notes: tuple[str, ...]
    protocol: dict[str, Any]
    config: dict[str, Any]


class _Steps:
    """Maps the progress of each step into one overall bar (100 ticks per step)."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress

    def sub(self, message: str) -> Progress:
        def report(d: int, t: int, msg: str = "") -> None:
            if self.progress:
                frac = d / t if t else 1.0
                self.progress(self.done * 100 + int(99 * frac), self.total * 100, msg or message)

        return report

    def step(self, message: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done * 100, self.total * 100, message)


def _check(cancel: CancelFn | None) -> None:
    if cancel and cancel():
        raise Cancelled("evaluation cancelled")


def _fid_extractor(cfg_value: str | None, device: str | None, batch_size: int, given: FidExtractor | None) -> FidExtractor:
    return given or load_fid_inception(cfg_value, device, batch_size)


# -- Real at the generated samples' resolution ------------------------------------------------


def generated_side(ws: Workspace, specs: list[str]) -> int | None:
    """The side of the generated samples among the sets (None when there are none).

    Only generated samples say what Real must match: imported sets (GAN) keep the size they
    came with. A file that cannot be opened is left to the FID code, which names it."""
    sizes: dict[tuple[int, int], str] = {}
    for spec in specs:
        for r in sample_rows(spec, ws):
            if r.kind == "external":
                continue
            try:
                with Image.open(ws.stored(r.image_path, "samples", r.id, "image_path")) as im:
                    sizes.setdefault(im.size, spec)
            except OSError:
                continue
    if not sizes:
        return None
    w, h = next(iter(sizes))
    if len(sizes) > 1 or w != h:
        raise BadInputError(
            "the generated sets are not all square at one resolution ("
            + ", ".join(f"{spec} {sw}x{sh}" for (sw, sh), spec in sizes.items())
            + "): give the side Real is resized to (--real-size) or keep Real at full "
            "resolution (--real-resize full)"
        )
    return w


def real_at_side(
    ws: Workspace, real: ImageSet, side: int, progress: Progress | None = None, cancel: CancelFn | None = None
) -> tuple[ImageSet, list[str]]:
    """Real resized to ``side`` x ``side`` by the function that makes the synthetic samples'
    pixels (the inpainting stage's whole-frame resize, as training), and a message per
    unreadable file (left out).

    The copies are lossless PNGs like the samples, in ``cache/real_resized``, so that
    clean-fid reads them as files with its own code and the feature cache keys them."""
    tag = sha256_bytes(RESIZE_NOTE.encode())[:8]  # a changed resize function makes new copies
    items, problems = [], []
    for i, it in enumerate(real.items):
        _check(cancel)
        path = ws.path(f"cache/real_resized/{side}-{tag}/{it.sha256[:32]}.png")
        if path.is_file():
            items.append(SetItem(path, sha256_file(path)))
        else:
            try:
                image = load_rgb(it.path)[0]
            except BadInputError as e:
                problems.append(f"{e}: left out of Real")
                continue
            # the mask only sets the 4th channel; the image pixels are the synthetic path's own
            rgb, _ = to_model_resolution(image, np.zeros(image.shape[:2], np.uint8), side)
            data = encode_png(rgb)
            atomic_write_bytes(path, data)
            items.append(SetItem(path, sha256_bytes(data)))
        if progress:
            progress(i + 1, len(real), "resizing Real")
    return ImageSet(real.name, real.spec, tuple(items)), problems


def prepare_real(
    ws: Workspace,
    real: ImageSet,
    others: list[str],
    resize: str,
    size: int | None,
    progress: Progress | None = None,
    cancel: CancelFn | None = None,
) -> tuple[ImageSet, str, list[str]]:
    """The Real set clean-fid reads, a sentence saying how it was made, and problems."""
    if resize == "full":
        return real, "Real: the image files at full resolution (real_resize = full); only clean-fid resizes them.", []
    side = size or generated_side(ws, others)
    if side is None:
        return real, ("Real: the image files at full resolution (no generated set to match; give real_size to resize)."), []
    resized, problems = real_at_side(ws, real, side, progress, cancel)
    return (
        resized,
        (
            f"Real: resized to {side}x{side} before clean-fid with the synthetic samples' own resize "
            f"({RESIZE_NOTE}; real_resize = model)."
        ),
        problems,
    )


@dataclass(frozen=True, kw_only=True)
class FidJobResult(JobResult):
    """A FID job's figures (what it stored in ``results``)."""

    sets: tuple[str, ...]
    fid: float
    n_a: int
    n_b: int
    dim: int
    extractor: str
    warnings: tuple[str, ...]
    real: str | None  # how Real was prepared, when it is one of the sets


def run_fid(ws: Workspace | None, params: FidParams, ctx: JobContext, extractor: FidExtractor | None = None) -> FidJobResult:
    """FID between two set specs (``params.sets``); Real's statistics are cached and Real is
    resized as in :func:`run_evaluate` (``real_resize``, ``real_size``). ``ws`` None: folders only."""
    params.validate()
    specs = list(params.sets)
    pair, notes, problems = [], [], []
    for spec, other in zip(specs, specs[::-1]):
        s = resolve_set(spec, ws)
        if ws is not None and spec.lower() == REAL:
            s, note, bad = prepare_real(ws, s, [other], params.real_resize, params.real_size, cancel=ctx.cancel)
            notes.append(note)
            problems += bad
        pair.append(s)
    ex = _fid_extractor(params.fid_inception, params.device, params.batch_size, extractor)
    res = compute_fid(
        pair[0],
        pair[1],
        ex,
        ws,
        cache_a=specs[0].lower() == REAL,
        cache_b=specs[1].lower() == REAL,
        progress=ctx.report,
        cancel=ctx.cancel,
    )
    out = {"sets": specs, **res.as_dict(), "real": notes[0] if notes else None}
    out["warnings"] = problems + out["warnings"]
    if ws is not None:
        ws.add_result("fid", f"{specs[0]} vs {specs[1]}", out)
    summary = f"FID {specs[0]} vs {specs[1]}: {res.fid:.4f}"
    return FidJobResult(summary=summary, **{**out, "sets": tuple(specs), "warnings": tuple(out["warnings"])})


@dataclass(frozen=True, kw_only=True)
class MsssimJobResult(JobResult):
    """An MS-SSIM job's figures (what it stored in ``results``)."""

    set: str
    mean: float
    std: float
    pairs: int
    images: int
    method: str
    problems: tuple[str, ...]


def run_msssim(ws: Workspace | None, params: MsssimParams, ctx: JobContext) -> MsssimJobResult:
    """Mean MS-SSIM over random pairs of one set (``params.set``). ``ws`` None: a folder only."""
    s = resolve_set(params.set, ws)
    res = mean_msssim(s, MsssimConfig(params.pairs, params.seed, params.size), ctx.report, ctx.cancel)
    out = {"set": params.set, **res.as_dict()}
    if ws is not None:
        ws.add_result("msssim", params.set, out)
    summary = f"MS-SSIM {params.set}: {res.mean:.4f} over {res.pairs} pairs"
    return MsssimJobResult(summary=summary, **{**out, "problems": tuple(out["problems"])})


# -- Tables 1-2 -------------------------------------------------------------------------------


def _subset(s: ImageSet, m: int, rng: np.random.Generator, label: str) -> ImageSet:
    return s.subset(np.sort(rng.choice(len(s), size=min(m, len(s)), replace=False)), label)


def random_sets_note(m: int, n: int) -> str:
    """How a row's random subsets were made; subsets of ``n`` from ``n`` images are one set."""
    return (
        f"all {counted(n, 'image')}, one set (subsets of {n} from {n} would be the same set)"
        if m >= n
        else f"random subsets of {m} of {n}"
    )


def fallback_used(m: int, n: int) -> str:
    """What a row measured instead of sets by sample index: the demo's note said "random
    subsets used" for a styled set of 6 measured once on all 6 images."""
    return f"measured once on all {counted(n, 'image')}" if m >= n else f"random subsets of {m} of {n} used"


def draws(m: int, n: int, subsets: int) -> int:
    """How many random subsets of ``m`` from ``n`` images are worth measuring: one when each
    would be the whole set (their spread would be 0 by construction, not a measurement)."""
    return 1 if m >= n else subsets


def _row_sets(ws: Workspace, spec: str, s: ImageSet, cfg: EvaluateParams, m: int) -> tuple[list[ImageSet] | None, str, list[str]]:
    """A row's Sets 1..n by sample index (None: random subsets, drawn per table), how they
    were made, and notes."""
    random_note = random_sets_note(m, len(s))
    if cfg.sets_by == "random":
        return None, random_note, []
    try:
        sets, notes = sample_index_sets(spec, ws, cfg.subsets)
    except BadInputError:  # an imported set or a folder: no sample index to go by
        return None, random_note + " (no sample index)", []
    small = next((k for k, x in enumerate(sets) if len(x) < 2), None)
    if small is not None:  # e.g. a styled set made from a few samples: too few to go by index
        why = f"set {small + 1} (sample {small + 1} of every image) would have {counted(len(sets[small]), 'image')}"
        return None, f"{random_note} ({why})", [f"{s.name}: {why}; {fallback_used(m, len(s))}"]
    return sets, "sample k of every image", notes


def _msssim_row(sub: ImageSet, cfg: EvaluateParams, k: int, progress: Progress, cancel: CancelFn | None) -> dict:
    ms = mean_msssim(sub, MsssimConfig(cfg.pairs, cfg.seed * 1000 + k, cfg.msssim_size, device=cfg.device), progress, cancel)
    return {
        "subset": k + 1,
        "msssim": ms.mean,
        "images": ms.images,
        "pairs": ms.pairs,
        "method": ms.method,
        "problems": ms.problems,
    }


def _real_rows(
    ws: Workspace,
    cfg: EvaluateParams,
    real: ImageSet,
    real_stats: SetStats,
    ex: FidExtractor,
    m: int,
    steps: _Steps,
    cancel: CancelFn | None,
) -> tuple[dict, dict, dict]:
    """Table 1's two Real rows and Table 2's Real row, with how each was made.

    Real vs itself: the paper's row ("Images are shuffled, and the Real row is compared with
    itself", Table 1): ~0, a check of the pipeline only. Real vs Real, disjoint halves: the FID
    two samples of different real images give at half the size (not a floor, see the module)."""
    fid: dict[str, list[dict]] = {REAL_SELF: [], REAL_HALVES: []}
    ms: dict[str, list[dict]] = {real.name: []}
    ms_draws = draws(m, len(real), cfg.subsets)
    for k in range(cfg.subsets):
        _check(cancel)
        shuffled = real.subset(np.random.default_rng([cfg.seed, k, 3]).permutation(len(real)))
        stats = set_statistics(shuffled, ex, ws, progress=steps.sub(f"FID Real vs itself {k + 1}"), cancel=cancel)
        fid[REAL_SELF].append({"subset": k + 1, **fid_from_stats(stats, real_stats, "Real", "Real", ex.extractor_id).as_dict()})
        steps.step(f"FID Real vs itself {k + 1}")
        a, b = disjoint_halves(real, cfg.seed, k)
        res = compute_fid(a, b, ex, ws, progress=steps.sub(f"FID Real halves {k + 1}"), cancel=cancel)
        fid[REAL_HALVES].append({"subset": k + 1, **res.as_dict()})
        steps.step(f"FID Real halves {k + 1}")
        if k >= ms_draws:
            continue
        sub = _subset(real, m, np.random.default_rng([cfg.seed, k, 2]), real.name)
        ms[real.name].append(_msssim_row(sub, cfg, k, steps.sub(f"MS-SSIM Real {k + 1}"), cancel))
        steps.step(f"MS-SSIM Real {k + 1}")
    half = len(real) // 2
    how = {
        REAL_SELF: "all of Real, shuffled, vs Real",
        REAL_HALVES: f"disjoint random halves of {len(real)} images, {half} vs {half}",
        real.name: random_sets_note(m, len(real)),
    }
    return fid, ms, how


def run_evaluate(ws: Workspace, params: EvaluateParams, ctx: JobContext, extractor: FidExtractor | None = None) -> EvaluateResult:
    """Tables 1-2 for every set of the workspace; files under ``reports/``, rows in ``results``.
    ``extractor``: a FID feature network given by the caller (tests), else the configured one."""
    params.validate()
    cfg, progress, cancel = params, ctx.report, ctx.cancel
    specs = list(cfg.sets) or [REAL] + set_names(ws)
    if REAL not in [s.lower() for s in specs]:
        specs = [REAL] + specs
    others = [s for s in specs if s.lower() != REAL]
    sets = [resolve_set(s, ws) for s in others]
    steps = _Steps(1, progress)  # Real first; the rest is counted once Real's size is known
    real, real_note, notes = prepare_real(
        ws, resolve_set(REAL, ws), others, cfg.real_resize, cfg.real_size, steps.sub("resizing Real"), cancel
    )
    steps.step("Real ready")
    if len(real) < 4:
        raise BadInputError(f"Real has {counted(len(real), 'image')}; the evaluation needs at least 4 (2 per half)")
    m = cfg.subset_size or len(real)
    planned = [_row_sets(ws, spec, s, cfg, m) for spec, s in zip(others, sets)]
    counts = [cfg.subsets if row_sets else draws(m, len(s), cfg.subsets) for s, (row_sets, _, _) in zip(sets, planned)]
    steps.total += 1 + cfg.subsets * 2 + draws(m, len(real), cfg.subsets) + 2 * sum(counts)
    ex = _fid_extractor(cfg.fid_inception, cfg.device, cfg.batch_size, extractor)

    real_stats = set_statistics(real, ex, ws, cache=True, progress=steps.sub("FID features Real"), cancel=cancel)
    steps.step("Real statistics")
    fid_rows, ms_rows, how = _real_rows(ws, cfg, real, real_stats, ex, m, steps, cancel)
    for s, (row_sets, how[s.name], row_notes), count in zip(sets, planned, counts):
        notes += row_notes
        fid_rows[s.name], ms_rows[s.name] = [], []
        for k in range(count):
            _check(cancel)
            sub = row_sets[k] if row_sets else _subset(s, m, np.random.default_rng([cfg.seed, k, 1]), s.name)
            stats = set_statistics(sub, ex, ws, progress=steps.sub(f"FID {s.name} {k + 1}"), cancel=cancel)
            res = fid_from_stats(stats, real_stats, s.name, "Real", ex.extractor_id)
            fid_rows[s.name].append({"subset": k + 1, **res.as_dict()})
            steps.step(f"FID {s.name} {k + 1}")
            _check(cancel)
            sub = row_sets[k] if row_sets else _subset(s, m, np.random.default_rng([cfg.seed, k, 2]), s.name)
            ms_rows[s.name].append(_msssim_row(sub, cfg, k, steps.sub(f"MS-SSIM {s.name} {k + 1}"), cancel))
            steps.step(f"MS-SSIM {s.name} {k + 1}")
    protocol = {"real": real_note, "sets": how}
    return _write_report(ws, cfg, specs, fid_rows, ms_rows, ex.extractor_id, protocol, notes)


# -- report files -----------------------------------------------------------------------------


def _num(value: float, digits: int = 4) -> str:
    """A table cell to ``digits`` significant digits; below 1e-4 it is 0. A set's FID against
    itself is 0, but the matrix square root leaves about -1e-5 ("-7.7e-06" read as a fault);
    the stored value stays clean-fid's."""
    return "0" if abs(value) < 1e-4 else f"{value:.{digits}g}"


def _mean_sd(values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{_num(v.mean())} ± {_num(v.std(ddof=1), 2)}" if len(v) > 1 else _num(v.mean())


def grouped_notes(notes: list[str]) -> list[str]:
    """Notes that say the same of several sets, once with all their names ("Diff, Real: only 24
    images; ..."), in the order of each text's first note."""
    names: dict[str, list[str]] = {}
    for note in notes:
        name, sep, text = note.partition(": ")
        names.setdefault(text if sep else note, []).append(name if sep else "")
    return [f"{', '.join(filter(None, who))}: {text}" if any(who) else text for text, who in names.items()]


def results_table(title: str, rows: dict[str, list[float]], sizes: dict[str, int], subsets: int, how: dict[str, str]) -> str:
    """One table: a row per set, a column per subset, and how the row's sets were made."""
    header = ["Data type", *(f"Set {k + 1}" for k in range(subsets)), "Mean ± sd", "Images", "Sets"]
    cells = [
        [name, *(_num(v) for v in vals), *["–"] * (subsets - len(vals)), _mean_sd(vals), sizes[name], how[name]]
        for name, vals in rows.items()
    ]
    return "\n".join([f"### {title}", "", *markdown_table(header, cells)]) + "\n"


def bar_chart(fid: dict[str, list[float]], ms: dict[str, list[float]], reference: frozenset[str]) -> bytes:
    """Two panels (FID, MS-SSIM): a bar per set at the mean, a dot per subset, sd whiskers;
    the ``reference`` rows (Real) in grey."""
    fig = new_figure((11, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, data, title in (
        (axes[0], fid, "FID to Real (lower = closer)"),
        (axes[1], ms, "MS-SSIM within set (lower = more diverse)"),
    ):
        names = list(data)
        means = [float(np.mean(v)) for v in data.values()]
        sds = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in data.values()]
        x = np.arange(len(names))
        ax.bar(x, means, yerr=sds, capsize=4, color=["#7a7a7a" if n in reference else "#3b75af" for n in names], alpha=0.85)
        for i, v in enumerate(data.values()):
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, s=12, color="black", zorder=3)
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def _write_report(
    ws: Workspace,
    cfg: EvaluateParams,
    specs: list[str],
    fid_rows: dict,
    ms_rows: dict,
    extractor: str,
    protocol: dict,
    extra_notes: list[str],
) -> EvaluateResult:
    fid = {n: [r["fid"] for r in rs] for n, rs in fid_rows.items()}
    ms = {n: [r["msssim"] for r in rs] for n, rs in ms_rows.items()}
    fid_sizes = {n: rs[0]["n_a"] for n, rs in fid_rows.items()}
    ms_sizes = {n: rs[0]["images"] for n, rs in ms_rows.items()}
    notes = sorted(
        {w for rs in fid_rows.values() for r in rs for w in r["warnings"]}
        | {p for rs in ms_rows.values() for r in rs for p in r["problems"]}
        | set(extra_notes)
    )
    method = next(iter(ms_rows.values()))[0]["method"]
    how = protocol["sets"]
    md = [
        "# Intrinsic evaluation",
        "",
        f"Up to {cfg.subsets} sets per data type (seed {cfg.seed}); the Sets column says how each row's were made "
        f"(sets_by = {cfg.sets_by}: "
        + (
            "set k = sample k of every image where the samples have a sample index"
            if cfg.sets_by == "sample-index"
            else "random subsets"
        )
        + "). "
        f"FID: clean-fid `clean` mode, extractor `{extractor}`; each set against the full Real set. "
        f"MS-SSIM: mean over {cfg.pairs} random pairs per set, {method}.",
        "",
        protocol["real"],
        "",
        f"*{REAL_SELF}*: Real in shuffled order against Real, the paper's Table 1 row (~0): a check of "
        f"the pipeline, not a reference value. *{REAL_HALVES}*: two disjoint random halves of Real against "
        "each other: how far FID moves between two samples of different real images, each half the size. "
        "It is not a floor for the other rows: they compare more images per side (FID is biased upward at "
        "small sizes), and an inpainted sample keeps every pixel outside its region from a real image, so "
        "a synthetic set can read below it. A row measured once (– in Sets 2-3) holds its whole set: "
        "subsets of n from n images would all be the same set.",
        "",
        results_table("Table 1: FID between real and synthetic images", fid, fid_sizes, cfg.subsets, how),
        results_table("Table 2: MS-SSIM within each set", ms, ms_sizes, cfg.subsets, how),
    ]
    if notes:
        md += ["### Notes", ""] + [f"- {n}" for n in grouped_notes(notes)] + [""]
    csv_rows = [
        [table, name, k + 1, float(f"{v:.6g}"), sizes[name]]
        for table, data, sizes in (("fid", fid, fid_sizes), ("msssim", ms, ms_sizes))
        for name, vals in data.items()
        for k, v in enumerate(vals)
    ]

    folder = f"reports/evaluate-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    paths = {"markdown": f"{folder}/tables.md", "csv": f"{folder}/tables.csv", "chart": f"{folder}/chart.png"}
    atomic_write_text(ws.path(paths["markdown"]), "\n".join(md))
    write_csv(ws.path(paths["csv"]), ["table", "data_type", "subset", "value", "images"], csv_rows)
    reference = frozenset({REAL_SELF, REAL_HALVES, *(n for n in ms if n not in fid)})
    atomic_write_bytes(ws.path(paths["chart"]), bar_chart(fid, ms, reference))
    config = {k: v for k, v in cfg.__dict__.items() if k != "device"}
    result = {
        "sets": specs,
        "fid": fid_rows,
        "msssim": ms_rows,
        "paths": paths,
        "notes": notes,
        "protocol": protocol,
        "config": config,
    }
    with ws.transaction():
        for name, rows in fid_rows.items():
            for r in rows:
                ws.add_result("fid", f"{folder}|{name}|{r['subset']}", r)
        for name, rows in ms_rows.items():
            for r in rows:
                ws.add_result("msssim", f"{folder}|{name}|{r['subset']}", r)
        ws.add_result("evaluate", folder, json.loads(json.dumps(result, default=str)))
    summary = f"Tables 1-2 for {counted(len(specs), 'set')}: {paths['markdown']}"
    return EvaluateResult(
        summary=summary,
        sets=tuple(specs),
        fid=fid_rows,
        msssim=ms_rows,
        paths=paths,
        notes=tuple(notes),
        protocol=protocol,
        config=config,
    )
