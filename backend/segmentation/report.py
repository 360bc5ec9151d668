"""Paper-style tables (Tables 3-6) and the IoU-vs-N plot from the finished ``seg_runs``.

Values are means over seeds; with several seeds the sample standard deviation and the
number of seeds follow (``0.8085 ± 0.0123 (n=3)``). Only runs of one training config and
one test split are mixed: by default those of the most recent finished run.

Tables 3-5 also show what a reader needs to judge a row: its training-set size (Real trains
on its split, Diff-3 on three times as many synthetic items), the epoch of the best
validation IoU (the last epoch: not converged), the seeds, and the IoU difference to the
table's first row with whether it is within noise: twice its standard error over seeds,
which needs at least ``MIN_REPEATS`` seeds per row; with fewer no claim is made.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.errors import DiffGenError
from backend.io.files import atomic_write_bytes, atomic_write_text
from backend.reports import markdown_table
from backend.reports.csvio import write_csv
from backend.reports.figures import new_figure, png_bytes
from backend.segmentation.plan import ordered_sets
from backend.workspace import Workspace

REPORT_DIR = "reports/segmentation"
MIN_REPEATS = 3  # seeds per row before a difference is called within or beyond noise
CONTROL = (
    "*Control*: the paper's standard augmentation of every training image and mask "
    "(augment = control: shift-scale-rotate, horizontal flip and one of CLAHE / brightness / gamma at "
    "Albumentations' default ranges; augment = ref20: ref [20]'s training augmentation); "
    "'no Control' trains on the images as they are."
)


@dataclass(frozen=True)
class Group:
    mode: str
    label: str
    control: bool
    set_name: str | None
    multiple: int | None
    n_real: int | None
    r: int | None


@dataclass
class Score:
    iou: list[float]
    dice_loss: list[float]
    seeds: list[int]
    train: list[int | None] = field(default_factory=list)  # training items per seed
    best: list[int | None] = field(default_factory=list)  # epoch of the best validation IoU
    epochs: list[int | None] = field(default_factory=list)

    def add(self, seed: int, params: dict, metrics: dict) -> None:
        """One run's values; a rerun with the same seed (another data version) replaces it."""
        values = (
            metrics["iou"],
            metrics["dice_loss"],
            params.get("train_items"),
            metrics.get("best_epoch"),
            metrics.get("epochs"),
        )
        lists: tuple[list, ...] = (self.iou, self.dice_loss, self.train, self.best, self.epochs)
        if seed in self.seeds:
            i = self.seeds.index(seed)
            for lst, v in zip(lists, values):
                lst[i] = v
            return
        self.seeds.append(seed)
        for lst, v in zip(lists, values):
            lst.append(v)

    def train_cell(self) -> str:
        sizes = sorted({t for t in self.train if t is not None})
        return "–" if not sizes else str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"

    def best_cell(self) -> str:
        """The best epoch of each seed "of" the epochs run; flagged when a best is the last."""
        if any(b is None or e is None for b, e in zip(self.best, self.epochs)):
            return "–"
        last = any(b == e for b, e in zip(self.best, self.epochs))
        return f"{', '.join(map(str, self.best))} of {max(e for e in self.epochs if e is not None)}" + (
            " (last: not converged)" if last else ""
        )

    def versus(self, base: "Score") -> str:
        """The IoU difference to ``base`` and whether it exceeds twice its standard error."""
        d = float(np.mean(self.iou) - np.mean(base.iou))
        if min(len(self.iou), len(base.iou)) < MIN_REPEATS:
            return f"{d:+.4f} (under {MIN_REPEATS} seeds: noise unknown)"
        se = float(np.sqrt(np.var(self.iou, ddof=1) / len(self.iou) + np.var(base.iou, ddof=1) / len(base.iou)))
        return f"{d:+.4f} ({'within' if abs(d) <= 2 * se else 'beyond'} noise: 2 SE = {2 * se:.4f})"

    def fmt(self, name: str) -> str:
        values = np.asarray(getattr(self, name))
        if len(values) == 1:
            return f"{values[0]:.4f}"
        return f"{values.mean():.4f} ± {values.std(ddof=1):.4f} (n={len(values)})"

    def stats(self, name: str) -> tuple[float, float]:
        v = np.asarray(getattr(self, name))
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def finished_runs(ws: Workspace, fingerprint: str | None = None) -> list[dict]:
    """Done runs of one config + test split (the latest run's unless ``fingerprint`` is given)."""
    rows = [
        {
            "key": r["run_key"],
            "params": json.loads(r["params_json"]),
            "metrics": json.loads(r["metrics_json"] or "{}"),
            "created_at": r["created_at"],
        }
        for r in ws.query("SELECT * FROM seg_runs WHERE status = 'done' ORDER BY created_at, id")
    ]
    if not rows:
        return []
    fp = fingerprint or rows[-1]["params"].get("fingerprint")
    th = next((r["params"].get("test_hash") for r in reversed(rows) if r["params"].get("fingerprint") == fp), None)
    return [r for r in rows if r["params"].get("fingerprint") == fp and r["params"].get("test_hash") == th]


def group_scores(runs: list[dict]) -> dict[Group, Score]:
    out: dict[Group, Score] = defaultdict(lambda: Score([], [], []))
    for run in runs:
        p = run["params"]
        g = Group(p["mode"], p["label"], bool(p["control"]), p.get("set_name"), p.get("multiple"), p.get("n_real"), p.get("r"))
        out[g].add(p["seed"], p, run["metrics"])
    return dict(out)


def _find(scores: dict[Group, Score], **want) -> Score | None:
    for g, s in scores.items():
        if all(getattr(g, k) == v for k, v in want.items()):
            return s
    return None


def _sets(scores: dict[Group, Score], mode: str) -> list[str]:
    return ordered_sets({g.set_name for g in scores if g.mode == mode and g.set_name})


def simple_tables(scores: dict[Group, Score]) -> dict[str, list[tuple[str, Score]]]:
    """Tables 3-5 and the mix comparison (issue 34) as (row label, score) lists."""
    real = _find(scores, mode="real", control=True)
    real_nc = _find(scores, mode="real", control=False)
    t3 = [("Real", real)] if real else []
    multiples = sorted({g.multiple for g in scores if g.mode == "synthetic" and g.multiple is not None})
    for n in multiples:
        for name in _sets(scores, "synthetic"):
            s = _find(scores, mode="synthetic", set_name=name, multiple=n)
            if s:
                t3.append((f"{name}-{n}", s))
    t4 = [("Real (no Control)", real_nc)] if real_nc else []
    t5 = [("Real", real)] if real else []
    for name in _sets(scores, "augment"):
        for control, table in ((False, t4), (True, t5)):
            s = _find(scores, mode="augment", set_name=name, control=control)
            if s:
                table.append((name, s))
    mix = sorted(((g.label, s) for g, s in scores.items() if g.mode == "mix"), key=lambda row: (row[0].count("+"), row[0]))
    return {"table3": t3, "table4": t4, "table5": t5, "mix": mix}


def small_n_rows(scores: dict[Group, Score]) -> list[tuple[int, str, dict[int, Score]]]:
    """Table 6: (N, data type, {r: score}); Real is r = 0."""
    rows = []
    for n in sorted({g.n_real for g in scores if g.mode == "small-n" and g.n_real is not None}):
        for name in ["Real"] + _sets(scores, "small-n"):
            by_r = {
                g.r: s
                for g, s in scores.items()
                if g.mode == "small-n" and g.n_real == n and (g.set_name or "Real") == name and g.r is not None
            }
            if by_r:
                rows.append((n, name, by_r))
    return rows


TITLES = {
    "table3": "Table 3: real versus full synthetic training (Type-N: N synthetic samples per real training image)",
    "table4": "Table 4: synthetic augmentation (alpha replacement), without Control",
    "table5": "Table 5: Control + synthetic augmentation (alpha replacement)",
    "table6": "Table 6: small real training sets of N images plus r synthetic samples per image (Control on)",
    "mix": "Table 6b: real only, + paper inpainting, + mask-guided synthesis, + both, at equal synthetic counts (Control on)",
}


def mix_sentence(runs: list[dict]) -> str:
    """What Table 6b's rows train on: the real split and how many samples come from where."""
    mix = [r["params"] for r in runs if r["params"].get("mode") == "mix"]
    if not mix:
        return ""
    sets = mix[-1].get("config", {}).get("mix_sets", [])
    return (
        "Every row trains on the same real training images of its seed (the Real row's split; validation: real "
        "images); a '+' row adds the same number of synthetic samples (r per real training image, fewer when a "
        f"set holds fewer), spread over the training images, from one set or in equal parts from {', '.join(sets)}. "
        "Train images counts real + synthetic items per run; every row is tested on the same held-out real images. "
        "A difference within the noise (twice its standard error over the seeds) says nothing either way. "
        "At a fixed number of epochs the Real row takes fewer optimiser steps than the '+' rows (Best epoch "
        "says whether each converged): the '+' rows compare with each other cleanly, while their difference to "
        "Real mixes the added data with the longer training."
    )


def _table_lines(name: str, rows: list[tuple[str, Score]]) -> list[str]:
    out = [f"## {TITLES[name]}", ""]
    if not rows:
        return out + ["(no finished runs)", ""]
    base = rows[0][1]
    return (
        out
        + markdown_table(
            ["Data type", "Train images", "Best epoch", "Seeds", "Dice loss", "IoU", f"IoU − {rows[0][0]}"],
            [
                [
                    label,
                    s.train_cell(),
                    s.best_cell(),
                    ", ".join(map(str, s.seeds)),
                    s.fmt("dice_loss"),
                    s.fmt("iou"),
                    "–" if s is base else s.versus(base),
                ]
                for label, s in rows
            ],
        )
        + [""]
    )


def _markdown(tables: dict, t6: list, rs: list[int], header: str, counting: str = "", mix: str = "") -> str:
    out = [header, ""]
    for name, rows in tables.items():
        if name != "mix":
            out += _table_lines(name, rows)
    out += [f"## {TITLES['table6']}", ""]
    if t6 and counting:
        out += [counting, ""]
    if not t6:
        out += ["(no finished runs)", ""]
    else:
        cols = [0] + rs
        head6 = ["N", "Data type"] + [h for r in cols for h in (f"{'real only' if r == 0 else f'r = {r}'}: Dice loss", "IoU")]
        rows6 = [
            [n, name] + [c for r in cols for c in ((by_r[r].fmt("dice_loss"), by_r[r].fmt("iou")) if r in by_r else ("", ""))]
            for n, name, by_r in t6
        ]
        out += markdown_table(head6, rows6) + [""] + small_n_versus(t6)
    if tables.get("mix"):  # only where the comparison ran: it needs a mask-guided set
        out += _table_lines("mix", tables["mix"]) + ([mix, ""] if mix else [])
    return "\n".join(out)


def small_n_versus(t6: list) -> list[str]:
    """Table 6's synthetic cells against real only at the same N: the IoU difference and
    whether it is within noise (as Tables 3-5's last column)."""
    real = {n: by_r[0] for n, name, by_r in t6 if name == "Real" and 0 in by_r}
    lines = [
        f"- N = {n}, {name}, r = {r}: {s.versus(real[n])}"
        for n, name, by_r in t6
        if name != "Real" and n in real
        for r, s in sorted(by_r.items())
        if r
    ]
    return (
        ["IoU against real only at the same N (within noise: inside twice the standard error over seeds):", "", *lines, ""]
        if lines
        else []
    )


TABLES_CSV_HEADER = ["table", "data_type", "N", "r", "dice_loss_mean", "dice_loss_sd", "iou_mean", "iou_sd", "seeds"]
_RUN_COLS = ["mode", "label", "control", "set_name", "multiple", "alpha", "n_real", "r", "seed", "train_items", "val_items"]
RUNS_CSV_HEADER = ["run_key", *_RUN_COLS, "dice_loss", "iou", "dice", "val_iou", "best_epoch", "epochs", "seconds", "path"]


def _csv(tables: dict, t6: list) -> list[list]:
    rows = [
        [name, label, "", "", *s.stats("dice_loss"), *s.stats("iou"), len(s.seeds)]
        for name, table in tables.items()
        for label, s in table
    ]
    return rows + [
        ["table6", label, n, r, *s.stats("dice_loss"), *s.stats("iou"), len(s.seeds)]
        for n, label, by_r in t6
        for r, s in sorted(by_r.items())
    ]


def _runs_csv(runs: list[dict]) -> list[list]:
    return [
        [
            run["key"],
            *[run["params"].get(c) for c in _RUN_COLS],
            *[run["metrics"].get(k) for k in RUNS_CSV_HEADER[len(_RUN_COLS) + 1 :]],
        ]
        for run in runs
    ]


def plot_iou_vs_n(t6: list, rs: list[int]) -> bytes | None:
    """IoU against N (log scale), one panel per synthetic set, error bars = SD over seeds."""
    if not t6:
        return None
    names = [n for n in dict.fromkeys(name for _, name, _ in t6) if n != "Real"] or ["Real"]
    fig = new_figure((4.2 * len(names), 3.6))
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)
    real = {n: by_r[0] for n, name, by_r in t6 if name == "Real" and 0 in by_r}
    for ax, name in zip(axes[0], names):
        series = [("Real (no synthetic)", real, "k", "o")]
        if name != "Real":
            for i, r in enumerate(rs):
                pts = {n: by_r[r] for n, nm, by_r in t6 if nm == name and r in by_r}
                series.append((f"{name}, r = {r}", pts, f"C{i}", "s"))
        for label, pts, colour, marker in series:
            if not pts:
                continue
            ns = sorted(pts)
            mean = [pts[n].stats("iou")[0] for n in ns]
            sd = [pts[n].stats("iou")[1] for n in ns]
            ax.errorbar(ns, mean, yerr=sd, label=label, color=colour, marker=marker, capsize=3, lw=1.4)
        ns_all = sorted({n for n, _, _ in t6})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns_all, [str(n) for n in ns_all])
        ax.set_xlabel("N real images")
        ax.set_title(f"Real + {name}" if name != "Real" else "Real")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    n_seeds = max(len(s.seeds) for _, _, by_r in t6 for s in by_r.values())
    axes[0][0].set_ylabel(f"test IoU (mean ± SD over {n_seeds} seed{'s' if n_seeds > 1 else ''})")
    fig.tight_layout()
    return png_bytes(fig, dpi=120)


def small_n_sentence(runs: list[dict]) -> str:
    """What Table 6's N counted in these runs, with each N's training and validation images."""
    real = [r["params"] for r in runs if r["params"].get("mode") == "small-n" and r["params"].get("set_name") is None]
    if not real:
        return ""
    counts = sorted({p.get("config", {}).get("small_n_counts", "train+val") for p in real})
    split = {p["n_real"]: (p["train_items"], p["val_items"]) for p in real}
    each = ", ".join(f"N={n}: {t} training + {v} validation images" for n, (t, v) in sorted(split.items()))
    words = {
        "train+val": "N counts training + validation images (split 80/20 as the other experiments)",
        "train": "N counts training images; validation images come on top (diffgen segment --n-counts train)",
    }
    if len(counts) > 1:
        return "Runs of both countings are averaged together here: " + "; ".join(words[c] for c in counts) + f" ({each})."
    other = "train" if counts[0] == "train+val" else "train+val"
    return f"{words[counts[0]]}: {each}. 'diffgen segment --n-counts {other}' counts the other way."


def epochs_phrase(cfg: dict, runs: list[dict]) -> str:
    """The epochs the runs trained: the preset's, or how ``min_steps`` raised them on small sets
    (the demo's header said "6 epochs" above runs that trained 7 and 20)."""
    trained = sorted({int(r["metrics"]["epochs"]) for r in runs if r["metrics"].get("epochs")})
    if not trained or trained == [cfg.get("epochs")]:
        return f"{cfg.get('epochs')} epochs"
    return (
        f"{cfg.get('epochs')} epochs, raised on small training sets to train at least {cfg.get('min_steps')} steps "
        f"(runs trained {'-'.join(map(str, (trained[0], trained[-1])))} epochs; the Best epoch column says each)"
    )


def convergence_sentence(runs: list[dict]) -> str:
    """How many runs had their best validation IoU in the last epoch (still improving)."""
    known = [r["metrics"] for r in runs if r["metrics"].get("best_epoch") is not None and r["metrics"].get("epochs")]
    last = sum(m["best_epoch"] == m["epochs"] for m in known)
    if not last:
        return ""
    return (
        f"{last} of {len(known)} runs reached their best validation IoU in the last epoch: not converged, "
        "more epochs may change these numbers and their order."
    )


def gate_sentence(runs: list[dict]) -> str:
    """Whether the quality gates filtered the synthetic sets of these runs, and what they left out."""
    synthetic = [r["params"] for r in runs if r["params"].get("mode") != "real"]
    notes = sorted({p.get("gate_note") or "" for p in synthetic})
    if not synthetic or notes == [""]:
        return (
            "Synthetic sets: not filtered by the quality gates (every sample but the rejected ones; "
            "'diffgen segment --only-passed' leaves out the samples that failed a gate)."
        )
    filtered = [n for n in notes if n]
    mixed = " Some runs used unfiltered sets." if "" in notes else ""
    return "Synthetic sets filtered by the quality gates (--only-passed): " + "; ".join(filtered) + "." + mixed


def write_report(ws: Workspace, fingerprint: str | None = None) -> dict[str, str]:
    """Write segmentation.md, tables.csv, runs.csv and iou_vs_n.png; return their paths."""
    runs = finished_runs(ws, fingerprint)
    if not runs:
        raise DiffGenError("no finished segmentation runs: run 'diffgen segment' first")
    scores = group_scores(runs)
    tables = simple_tables(scores)
    t6 = small_n_rows(scores)
    rs = sorted({r for _, _, by_r in t6 for r in by_r if r})
    p = runs[-1]["params"]
    cfg = p.get("config", {})
    header = (
        f"# Segmentation experiments (paper section 3.5)\n\n"
        f"Preset `{p.get('preset')}`: UNet++ / {cfg.get('encoder')}"
        + (" (encoder from random initialisation, no ImageNet weights)" if cfg.get("pretrained") is False else "")
        + f" at {cfg.get('image_size')} px, "
        f"{epochs_phrase(cfg, runs)}, alpha = {cfg.get('alpha')}; {len(runs)} finished runs, "
        f"seeds {sorted({r['params']['seed'] for r in runs})}. Test set: "
        f"{runs[-1]['metrics'].get('images')} held-out real images; protocol: "
        f"{p.get('protocol_description') or 'random hold-out (recorded before test roles existed)'}. "
        "Scores are the mean over "
        "test images of the soft Dice loss and the IoU at threshold 0.5, from the checkpoint "
        "with the best validation IoU. " + gate_sentence(runs) + "\n\n" + CONTROL + " " + convergence_sentence(runs)
    )
    out_dir = ws.path(REPORT_DIR)
    files = {"markdown": out_dir / "segmentation.md", "tables_csv": out_dir / "tables.csv", "runs_csv": out_dir / "runs.csv"}
    atomic_write_text(files["markdown"], _markdown(tables, t6, rs, header, small_n_sentence(runs), mix_sentence(runs)))
    write_csv(files["tables_csv"], TABLES_CSV_HEADER, _csv(tables, t6))
    write_csv(files["runs_csv"], RUNS_CSV_HEADER, _runs_csv(runs))
    png = plot_iou_vs_n(t6, rs)
    if png:
        files["plot"] = out_dir / "iou_vs_n.png"
        atomic_write_bytes(files["plot"], png)
    paths = {k: ws.rel(v) for k, v in files.items()}
    ws.add_result("report", "segmentation", {**paths, "runs": len(runs)})
    return {k: str(Path(v)) for k, v in files.items()}
