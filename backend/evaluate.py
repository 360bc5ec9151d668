"""Intrinsic evaluation jobs: FID, MS-SSIM and the paper's Tables 1-2 (section 3.4).

``run_evaluate`` compares every image set of the workspace (Real, each generated set, each
imported external set such as GAN) over 3 random subsets, as the paper does:

* Table 1 (FID against Real): a set's subset of ``m`` images against the full Real set
  (its statistics are cached); the Real row compares two disjoint shuffled halves of Real,
  which gives the noise floor a reader needs to judge the other rows.
* Table 2 (MS-SSIM, diversity): mean MS-SSIM over random pairs within each subset.

Output: Markdown + CSV + a bar chart in ``reports/evaluate-<time>/``, and rows in
``results`` (one per value, one for the run).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from backend.errors import BadInputError, Cancelled
from backend.metrics.fid import FidExtractor, compute_fid, fid_from_stats, load_fid_inception, set_statistics
from backend.metrics.msssim import MsssimConfig, mean_msssim
from backend.reports.csvio import write_csv
from backend.sets import REAL, ImageSet, resolve_set, set_names
from backend.workspace import Workspace
from backend.workspace.files import atomic_write_bytes, atomic_write_text

Progress = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class EvaluateConfig:
    sets: tuple[str, ...] = ()          # empty: Real + every sample set of the workspace
    subsets: int = 3
    subset_size: int | None = None      # None: as many images as Real (capped by each set)
    seed: int = 0
    pairs: int = 1000                   # MS-SSIM pairs per subset
    msssim_size: int = 256
    fid_inception: str | None = None
    device: str | None = None
    batch_size: int = 32

    @classmethod
    def from_params(cls, params: dict) -> "EvaluateConfig":
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadInputError(f"unknown evaluation parameters: {', '.join(sorted(unknown))}")
        cfg = cls(**params)
        return replace(cfg, sets=tuple(cfg.sets))


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


def _fid_extractor(cfg_value: str | None, device: str | None, batch_size: int,
                   given: FidExtractor | None) -> FidExtractor:
    return given or load_fid_inception(cfg_value, device, batch_size)


def run_fid(ws: Workspace | None, params: dict, progress: Progress | None = None,
            cancel: CancelFn | None = None, extractor: FidExtractor | None = None) -> dict:
    """FID between two set specs (``params['sets']``); Real's statistics are cached."""
    specs = list(params.get("sets", []))
    if len(specs) != 2:
        raise BadInputError(f"FID compares exactly two image sets (got {len(specs)})")
    a, b = (resolve_set(s, ws) for s in specs)
    ex = _fid_extractor(params.get("fid_inception"), params.get("device"), params.get("batch_size", 32), extractor)
    res = compute_fid(a, b, ex, ws, cache_a=specs[0].lower() == REAL, cache_b=specs[1].lower() == REAL,
                      progress=progress, cancel=cancel)
    out = {"sets": specs, **res.as_dict()}
    if ws is not None:
        ws.add_result("fid", f"{specs[0]} vs {specs[1]}", out)
    return out


def run_msssim(ws: Workspace | None, params: dict, progress: Progress | None = None,
               cancel: CancelFn | None = None) -> dict:
    """Mean MS-SSIM over random pairs of one set (``params['set']``)."""
    s = resolve_set(params["set"], ws)
    cfg = MsssimConfig(**{k: params[k] for k in ("pairs", "seed", "size", "win_size") if k in params})
    res = mean_msssim(s, cfg, progress, cancel)
    out = {"set": params["set"], **res.as_dict()}
    if ws is not None:
        ws.add_result("msssim", params["set"], out)
    return out


def _subset(s: ImageSet, m: int, rng: np.random.Generator, label: str) -> ImageSet:
    return s.subset(np.sort(rng.choice(len(s), size=min(m, len(s)), replace=False)), label)


def run_evaluate(ws: Workspace, params: dict, progress: Progress | None = None,
                 cancel: CancelFn | None = None, extractor: FidExtractor | None = None) -> dict:
    """Tables 1-2 for every set of the workspace; files under ``reports/``, rows in ``results``."""
    cfg = EvaluateConfig.from_params(params)
    specs = list(cfg.sets) or [REAL] + set_names(ws)
    if REAL not in [s.lower() for s in specs]:
        specs = [REAL] + specs
    sets = [resolve_set(s, ws) for s in specs]
    real = next(s for s, spec in zip(sets, specs) if spec.lower() == REAL)
    if len(real) < 4:
        raise BadInputError(f"Real has {len(real)} images; the evaluation needs at least 4 (2 per half)")
    m = cfg.subset_size or len(real)
    ex = _fid_extractor(cfg.fid_inception, cfg.device, cfg.batch_size, extractor)
    steps = _Steps(1 + 2 * cfg.subsets * len(sets), progress)

    real_stats = set_statistics(real, ex, ws, cache=True, progress=steps.sub("FID features Real"), cancel=cancel)
    steps.step("Real statistics")
    fid_rows: dict[str, list[dict]] = {}
    ms_rows: dict[str, list[dict]] = {}
    for s in sets:
        fid_rows[s.name], ms_rows[s.name] = [], []
        for k in range(cfg.subsets):
            _check(cancel)
            rng = np.random.default_rng([cfg.seed, k, 1])
            if s is real:  # shuffled halves of Real against each other: the floor of the table
                perm = rng.permutation(len(real))
                half = len(real) // 2
                a, b = real.subset(perm[:half], "Real A"), real.subset(perm[half:2 * half], "Real B")
                res = compute_fid(a, b, ex, ws, progress=steps.sub(f"FID Real halves {k + 1}"), cancel=cancel)
            else:
                sub = _subset(s, m, rng, s.name)
                stats = set_statistics(sub, ex, ws, progress=steps.sub(f"FID {s.name} {k + 1}"), cancel=cancel)
                res = fid_from_stats(stats, real_stats, s.name, "Real", ex.extractor_id)
            fid_rows[s.name].append({"subset": k + 1, **res.as_dict()})
            steps.step(f"FID {s.name} {k + 1}")
            _check(cancel)
            sub = _subset(s, m, np.random.default_rng([cfg.seed, k, 2]), s.name)
            ms = mean_msssim(sub, MsssimConfig(cfg.pairs, cfg.seed * 1000 + k, cfg.msssim_size, device=cfg.device),
                             steps.sub(f"MS-SSIM {s.name} {k + 1}"), cancel)
            ms_rows[s.name].append({"subset": k + 1, "msssim": ms.mean, "images": ms.images, "pairs": ms.pairs,
                                    "method": ms.method, "problems": ms.problems})
            steps.step(f"MS-SSIM {s.name} {k + 1}")
    return _write_report(ws, cfg, specs, fid_rows, ms_rows, ex.extractor_id, real.name)


# -- report files -----------------------------------------------------------------------------

def _mean_sd(values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.4g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v.mean():.4g}"


def markdown_table(title: str, rows: dict[str, list[float]], sizes: dict[str, int], subsets: int) -> str:
    head = "| Data type | " + " | ".join(f"Set {k + 1}" for k in range(subsets)) + " | Mean ± sd | Images |"
    lines = [f"### {title}", "", head, "|" + "---|" * (subsets + 3)]
    for name, vals in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.4g}" for v in vals) + f" | {_mean_sd(vals)} | {sizes[name]} |")
    return "\n".join(lines) + "\n"


def bar_chart(fid: dict[str, list[float]], ms: dict[str, list[float]]) -> bytes:
    """Two panels (FID, MS-SSIM): a bar per set at the mean, a dot per subset, sd whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, data, title in ((axes[0], fid, "FID to Real (lower = closer)"),
                            (axes[1], ms, "MS-SSIM within set (lower = more diverse)")):
        names = list(data)
        means = [float(np.mean(v)) for v in data.values()]
        sds = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in data.values()]
        x = np.arange(len(names))
        ax.bar(x, means, yerr=sds, capsize=4, color=["#7a7a7a"] + ["#3b75af"] * (len(names) - 1), alpha=0.85)
        for i, v in enumerate(data.values()):
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, s=12, color="black", zorder=3)
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _write_report(ws: Workspace, cfg: EvaluateConfig, specs: list[str], fid_rows: dict, ms_rows: dict,
                  extractor: str, real_name: str) -> dict:
    fid = {n: [r["fid"] for r in rs] for n, rs in fid_rows.items()}
    ms = {n: [r["msssim"] for r in rs] for n, rs in ms_rows.items()}
    fid_sizes = {n: rs[0]["n_a"] for n, rs in fid_rows.items()}
    ms_sizes = {n: rs[0]["images"] for n, rs in ms_rows.items()}
    notes = sorted({w for rs in fid_rows.values() for r in rs for w in r["warnings"]} |
                   {p for rs in ms_rows.values() for r in rs for p in r["problems"]})
    method = next(iter(ms_rows.values()))[0]["method"]
    md = ["# Intrinsic evaluation", "",
          f"{cfg.subsets} random subsets per set (seed {cfg.seed}). FID: clean-fid `clean` mode, "
          f"extractor `{extractor}`; each subset against the full Real set, the Real row compares two "
          f"disjoint shuffled halves of Real. MS-SSIM: mean over {cfg.pairs} random pairs per subset, {method}.",
          "", markdown_table("Table 1: FID between real and synthetic images", fid, fid_sizes, cfg.subsets),
          markdown_table("Table 2: MS-SSIM within each set", ms, ms_sizes, cfg.subsets)]
    if notes:
        md += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]
    csv_rows = [[table, name, k + 1, float(f"{v:.6g}"), sizes[name]]
                for table, data, sizes in (("fid", fid, fid_sizes), ("msssim", ms, ms_sizes))
                for name, vals in data.items() for k, v in enumerate(vals)]

    folder = f"reports/evaluate-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    paths = {"markdown": f"{folder}/tables.md", "csv": f"{folder}/tables.csv", "chart": f"{folder}/chart.png"}
    atomic_write_text(ws.path(paths["markdown"]), "\n".join(md))
    write_csv(ws.path(paths["csv"]), ["table", "data_type", "subset", "value", "images"], csv_rows)
    halves = {("Real (halves)" if n == real_name else n): v for n, v in fid.items()}
    atomic_write_bytes(ws.path(paths["chart"]), bar_chart(halves, ms))
    result = {"sets": specs, "fid": fid_rows, "msssim": ms_rows, "paths": paths, "notes": notes,
              "config": {k: v for k, v in cfg.__dict__.items() if k != "device"}}
    with ws.transaction():
        for name, rows in fid_rows.items():
            for r in rows:
                ws.add_result("fid", f"{folder}|{name}|{r['subset']}", r)
        for name, rows in ms_rows.items():
            for r in rows:
                ws.add_result("msssim", f"{folder}|{name}|{r['subset']}", r)
        ws.add_result("evaluate", folder, json.loads(json.dumps(result, default=str)))
    return result
