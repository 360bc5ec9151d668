"""The report writers on backend/reports: their Markdown and CSV files are the ones the writers
made before they shared it (golden files in tests/data/reports, written by the earlier code),
and a hostile name (a set, a run label) comes out of every CSV escaped.

Regenerate the golden files only for an intended change of content (refused under CI; the
independent checks below then read the new files back against their inputs and the database):
``DIFFGEN_REGEN_GOLDEN=1 pytest tests/test_report_writers.py tests/survey/test_survey_sheets.py``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from _report_helpers import GOLDEN, HYPERLINK, assert_no_formula, csv_cells, golden_csv, markdown_tables, same_as_golden

from backend.metrics.evaluate import REAL_HALVES, REAL_SELF, _write_report, grouped_notes, results_table
from backend.metrics.evaluate_params import EvaluateParams
from backend.metrics.fid import stability_warnings
from backend.segmentation.report import write_report as write_segmentation_report
from backend.workspace import Workspace


def _fid(fid: float, n: int) -> dict:
    return {"fid": fid, "n_a": n, "warnings": []}


def test_evaluate_report_files_are_unchanged_and_names_escaped(demo_ws: Workspace):
    names = ["GAN", HYPERLINK]
    fid_rows = {
        REAL_SELF: [{"subset": k + 1, **_fid(0.01 * k, 12)} for k in range(3)],
        REAL_HALVES: [{"subset": k + 1, **_fid(3.25 + k, 6)} for k in range(3)],
    }
    ms_rows = {
        "Real": [
            {"subset": k + 1, "msssim": 0.31 + 0.01 * k, "images": 12, "pairs": 20, "method": "pytorch-msssim", "problems": []}
            for k in range(3)
        ]
    }
    for j, name in enumerate(names):
        fid_rows[name] = [{"subset": k + 1, **_fid(40.123456 + 10 * j - k, 8)} for k in range(3)]
        fid_rows[name][0]["warnings"] = [f"{name}: a note"]
        ms_rows[name] = [
            {
                "subset": k + 1,
                "msssim": 0.2 + 0.05 * j + 0.001 * k,
                "images": 8,
                "pairs": 20,
                "method": "pytorch-msssim",
                "problems": [],
            }
            for k in range(3)
        ]
    how = {n: "random subsets of 8" for n in [*fid_rows, "Real"]}
    protocol = {"real": "Real: resized to 64x64.", "sets": how}
    cfg = EvaluateParams(pairs=20, seed=3)
    result = _write_report(demo_ws, cfg, ["real", *names], fid_rows, ms_rows, "inception-test", protocol, ["an extra note"])
    paths = {k: demo_ws.path(v) for k, v in result.paths.items()}
    same_as_golden("evaluate-tables.md", paths["markdown"].read_text(encoding="utf-8"))
    same_as_golden("evaluate-tables.csv", paths["csv"].read_text(encoding="utf-8"))
    assert paths["chart"].read_bytes().startswith(b"\x89PNG")
    _golden_evaluate_holds_its_inputs(fid_rows, ms_rows)
    cells = csv_cells(paths["csv"])
    assert {r[1] for r in cells[1:]} >= {"'" + HYPERLINK, "GAN"}
    assert_no_formula(paths["csv"])


def _golden_evaluate_holds_its_inputs(fid_rows: dict, ms_rows: dict) -> None:
    """The golden evaluate files read back (not compared with the writer): every value, set size
    and mean ± sd is the one of the rows they were made from, computed here with statistics."""
    inputs = {("fid", name): [(r["fid"], r["n_a"]) for r in rows] for name, rows in fid_rows.items()}
    inputs |= {("msssim", name): [(r["msssim"], r["images"]) for r in rows] for name, rows in ms_rows.items()}
    read: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for row in golden_csv("evaluate-tables.csv"):
        read.setdefault((row["table"], row["data_type"]), []).append((float(row["value"]), int(row["images"])))
    assert read.keys() == inputs.keys()
    for key, rows in inputs.items():
        assert [(round(v, 4), n) for v, n in rows] == read[key], key
    fid_md, ms_md = markdown_tables((GOLDEN / "evaluate-tables.md").read_text(encoding="utf-8"))
    for table, md in (("fid", fid_md), ("msssim", ms_md)):
        for row in md:
            values = [v for v, _ in inputs[(table, row["Data type"])]]
            assert [float(row[f"Set {k}"]) for k in (1, 2, 3)] == pytest.approx(values, rel=5e-4, abs=1e-9)
            mean, sd = (float(x) for x in row["Mean ± sd"].split(" ± "))
            assert (mean, sd) == pytest.approx((statistics.mean(values), statistics.stdev(values)), rel=5e-3, abs=1e-9)
            assert int(row["Images"]) == inputs[(table, row["Data type"])][0][1]


def test_a_sets_fid_against_itself_reads_0_not_a_rounding_residue():
    """The demo report showed Real vs itself as "-7.707e-06": sqrtm's residue, not a value."""
    rows = {REAL_SELF: [-7.707e-06, -8.737e-06, -9.616e-06], "Diff": [96.886, 105.2358, 96.65]}
    md = results_table("T", rows, {REAL_SELF: 24, "Diff": 24}, 3, {REAL_SELF: "all", "Diff": "sample k"})
    assert f"| {REAL_SELF} | 0 | 0 | 0 | 0 ± 0 | 24 | all |" in md
    assert "| Diff | 96.89 | 105.2 | 96.65 | 99.59 ± 4.9 | 24 | sample k |" in md


def test_the_same_note_of_several_sets_is_written_once_with_their_names():
    """The demo's Notes said "only 24 images; FID needs about 2049 ..." three times over."""
    notes = sorted(w for name, n in (("Diff", 24), ("Real", 24), ("Styled-Diff", 6)) for w in stability_warnings(name, n, 2048))
    grouped = grouped_notes([*notes, "Styled-Diff: set 2 would have 0 images", "a note of its own"])
    assert grouped == [
        "Diff, Real: only 24 images; FID needs about 2049 or more for a stable estimate (2048-d features), so values are "
        "biased upward - compare only sets of equal size",
        "Styled-Diff: only 6 images; FID needs about 2049 or more for a stable estimate (2048-d features), so values are "
        "biased upward - compare only sets of equal size",
        "Styled-Diff: set 2 would have 0 images",
        "a note of its own",
    ]


def _seg_run(ws: Workspace, key: str, mode: str, label: str, seed: int, iou: float, **params) -> None:
    p = {
        "mode": mode,
        "label": label,
        "control": True,
        "set_name": None,
        "multiple": None,
        "alpha": 0.5,
        "n_real": None,
        "r": None,
        "seed": seed,
        "train_items": 10,
        "val_items": 2,
        "fingerprint": "fp",
        "test_hash": "th",
        "preset": "tiny",
        "protocol_description": "the test role",
        "config": {"encoder": "resnet18", "image_size": 32, "epochs": 1, "alpha": 0.5},
        **params,
    }
    m = {
        "iou": iou,
        "dice_loss": 1 - iou - 0.05,
        "dice": iou + 0.05,
        "val_iou": iou - 0.01,
        "best_epoch": 1,
        "epochs": 1,
        "seconds": 1.5,
        "images": 4,
    }
    ws.execute(
        "INSERT INTO seg_runs (experiment, run_key, params_json, status, metrics_json, path, created_at)"
        " VALUES ('paper', ?, ?, 'done', ?, ?, ?)",
        (key, json.dumps(p), json.dumps(m), f"runs/{key}", f"2024-01-01T00:00:{len(key):02d}"),
    )


def test_segmentation_report_files_are_unchanged_and_labels_escaped(demo_ws: Workspace):
    for seed in (0, 1):
        _seg_run(demo_ws, f"real-{seed}", "real", "Real", seed, 0.7 + 0.01 * seed)
        _seg_run(demo_ws, f"real-nc-{seed}", "real", "Real (no Control)", seed, 0.6 + 0.02 * seed, control=False)
        _seg_run(demo_ws, f"syn-{seed}", "synthetic", f"{HYPERLINK}-1", seed, 0.5 + 0.03 * seed, set_name=HYPERLINK, multiple=1)
        _seg_run(demo_ws, f"aug-{seed}", "augment", HYPERLINK, seed, 0.72, set_name=HYPERLINK, control=False)
        _seg_run(demo_ws, f"augc-{seed}", "augment", HYPERLINK, seed, 0.74, set_name=HYPERLINK)
        for n in (4, 8):
            _seg_run(demo_ws, f"small-real-{n}-{seed}", "small-n", "Real", seed, 0.3 + 0.01 * n, n_real=n, r=0)
            _seg_run(
                demo_ws,
                f"small-{n}-{seed}",
                "small-n",
                HYPERLINK,
                seed,
                0.35 + 0.01 * n + 0.001 * seed,
                n_real=n,
                r=2,
                set_name=HYPERLINK,
                gate_note="2 of 8 samples left out",
            )
    files = {k: Path(v) for k, v in write_segmentation_report(demo_ws).items()}
    for name in ("markdown", "tables_csv", "runs_csv"):
        same_as_golden(f"segmentation-{files[name].name}", files[name].read_text(encoding="utf-8"))
        if name != "markdown":
            assert_no_formula(files[name])
    assert files["plot"].read_bytes().startswith(b"\x89PNG")
    assert "'" + HYPERLINK in {c for row in csv_cells(files["tables_csv"]) for c in row}
    assert "'" + HYPERLINK in {c for row in csv_cells(files["runs_csv"]) for c in row}
    _golden_segmentation_holds_the_database(demo_ws)


# Which runs each table row averages: (modes, Control), as the paper's Tables 3-6 define them.
_SEG_TABLES = {
    "table3": ({"real", "synthetic"}, True),
    "table4": ({"real", "augment"}, False),
    "table5": ({"real", "augment"}, True),
    "table6": ({"small-n"}, True),
}


def _golden_segmentation_holds_the_database(ws: Workspace) -> None:
    """The golden segmentation files read back against the seg_runs rows they were made from:
    each run's metrics, and each table row's mean, sd and seed count computed here."""
    db = {
        key: (json.loads(p), json.loads(m))
        for key, p, m in ws.query("SELECT run_key, params_json, metrics_json FROM seg_runs WHERE status = 'done'")
    }
    runs = golden_csv("segmentation-runs.csv")
    assert sorted(r["run_key"] for r in runs) == sorted(db)
    for row in runs:
        params, metrics = db[row["run_key"]]
        assert (row["mode"], row["label"], int(row["seed"])) == (params["mode"], params["label"], params["seed"])
        for field in ("iou", "dice", "dice_loss", "val_iou"):
            assert float(row[field]) == pytest.approx(metrics[field], rel=1e-12), (row["run_key"], field)
    tables = golden_csv("segmentation-tables.csv")
    assert {r["table"] for r in tables} == set(_SEG_TABLES)
    for row in tables:
        modes, control = _SEG_TABLES[row["table"]]
        chosen = [
            m
            for p, m in db.values()
            if p["mode"] in modes
            and p["control"] is control
            and p["label"] == row["data_type"]
            and (not row["N"] or (p["n_real"], p["r"]) == (int(row["N"]), int(row["r"])))
        ]
        assert int(row["seeds"]) == len(chosen) >= 2, row
        for metric in ("iou", "dice_loss"):
            values = [m[metric] for m in chosen]
            expected = (statistics.mean(values), statistics.stdev(values))
            assert (float(row[f"{metric}_mean"]), float(row[f"{metric}_sd"])) == pytest.approx(expected, abs=1e-12), row
    md = markdown_tables((GOLDEN / "segmentation-segmentation.md").read_text(encoding="utf-8"))
    by_label = {(t, r["data_type"]): r for t in ("table3", "table4", "table5") for r in tables if r["table"] == t}
    for table, rows in zip(("table3", "table4", "table5"), md[:3], strict=True):
        for row in rows:
            expected = by_label[(table, row["Data type"])]
            assert row["IoU"] == f"{float(expected['iou_mean']):.4f} ± {float(expected['iou_sd']):.4f} (n={expected['seeds']})"


def test_the_segmentation_header_says_the_epochs_the_runs_trained(demo_ws: Workspace):
    """The demo's header said "6 epochs" above runs that trained 7 and 20 (min_steps raised them)."""
    config = {"encoder": "resnet18", "image_size": 48, "epochs": 6, "min_steps": 20, "alpha": 0.5, "pretrained": False}
    for key, trained in (("a", 7), ("b", 20), ("c", 6)):
        _seg_run(demo_ws, key, "real", "Real", 0, 0.5, config=config)
        demo_ws.execute(
            "UPDATE seg_runs SET metrics_json = json_set(metrics_json, '$.epochs', ?, '$.best_epoch', ?) WHERE run_key = ?",
            (trained, trained, key),
        )
    md = Path(write_segmentation_report(demo_ws)["markdown"]).read_text(encoding="utf-8")
    head = md.split("\n\n")[1]
    assert "resnet18 (encoder from random initialisation, no ImageNet weights) at 48 px" in head
    assert "6 epochs, raised on small training sets to train at least 20 steps (runs trained 6-20 epochs" in head


@pytest.mark.parametrize("text", [HYPERLINK, "+1", "-x", "@SUM(A1)", "\tTAB", "\rCR"])
def test_every_formula_start_is_escaped_by_the_one_csv_writer(tmp_path, text):
    from backend.reports.csvio import write_csv

    path = write_csv(tmp_path / "t.csv", ["name", "value"], [[text, -0.5]])
    assert csv_cells(path)[1] == ["'" + text, "-0.5"]
