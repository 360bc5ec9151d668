"""Tables 1-2: external sets, every set over 3 subsets, files + results rows, cancel."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from _metrics_helpers import small_extractor

import backend.metrics.evaluate as evaluate
from backend.cli import main
from backend.data.demo import write_demo_dataset
from backend.data.sets import import_external_set, resolve_set, set_names
from backend.errors import Cancelled
from backend.io.files import write_png
from backend.io.images import load_mask
from backend.jobs.context import JobContext
from backend.metrics.evaluate import REAL_HALVES, REAL_SELF, run_evaluate
from backend.metrics.evaluate_params import EvaluateParams
from backend.metrics.msssim import MsssimConfig, mean_msssim


@pytest.fixture
def eval_ws(demo_ws, tmp_path):
    """Real (12 demo images) + 'GAN' (other demo images) + 'Noise' (random images)."""
    gan = write_demo_dataset(tmp_path / "gan", count=8, size=64, seed=9)
    import_external_set(demo_ws, gan, "GAN")
    rng = np.random.default_rng(0)
    for i in range(8):
        write_png(tmp_path / "noise" / f"n{i}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    import_external_set(demo_ws, tmp_path / "noise", "Noise")
    return demo_ws


def test_import_set_pairs_masks_skips_repeats_and_names_bad_files(demo_ws, tmp_path):
    gan = write_demo_dataset(tmp_path / "gan", count=4, size=64, seed=9)
    (gan / "images" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    res = import_external_set(demo_ws, gan, "GAN")
    assert (res["added"], res["without_mask"]) == (4, 0)
    assert len(res["problems"]) == 1 and "broken.jpg" in res["problems"][0]
    again = import_external_set(demo_ws, gan, "GAN")
    assert (again["added"], again["already_present"]) == (0, 4)
    samples = demo_ws.samples(kind="external")
    assert len(samples) == 4 and {s.set_name for s in samples} == {"GAN"}
    for s in samples:  # each mask is the one that came with its image
        np.testing.assert_array_equal(demo_ws.read_sample(s)[1], load_mask(s.params["mask_source"])[0])
    assert set_names(demo_ws) == ["GAN"] and len(resolve_set("GAN", demo_ws)) == 4


def test_tables_for_every_set(eval_ws, tmp_path):
    ex = small_extractor(8)
    res = run_evaluate(
        eval_ws, EvaluateParams.from_dict({"pairs": 6, "msssim_size": 64, "device": "cpu"}), JobContext(), extractor=ex
    )
    assert res.sets == ("real", "GAN", "Noise")
    fid = {name: [r["fid"] for r in rows] for name, rows in res.fid.items()}
    # sets no larger than the subset size (Real's 12) are used whole: measured once, not three
    # times over (three copies of one set printed "± 0", a spread that is none)
    assert list(fid) == [REAL_SELF, REAL_HALVES, "GAN", "Noise"] and [len(v) for v in fid.values()] == [3, 3, 1, 1]
    assert [len(v) for v in res.msssim.values()] == [1, 1, 1]
    # demo-like GAN images are closer to Real than random noise is; the halves are well above ~0
    assert max(fid["GAN"]) < min(fid["Noise"]) and min(fid[REAL_HALVES]) > 1e3 * max(map(abs, fid[REAL_SELF]))
    # Real vs Real, disjoint halves: 6 vs 6 images
    assert res.fid[REAL_HALVES][0]["n_a"] == 6 and res.fid["GAN"][0]["n_a"] == 8
    # only imported sets here: no generated resolution to match, so Real is read as it is
    assert "full resolution (no generated set to match" in res.protocol["real"]

    # the MS-SSIM of the whole set equals mean_msssim on it (same seed as documented)
    gan = resolve_set("GAN", eval_ws)
    direct = mean_msssim(gan, MsssimConfig(pairs=6, seed=0, size=64, device="cpu"))
    assert res.msssim["GAN"][0]["msssim"] == pytest.approx(direct.mean, rel=1e-6)

    md = eval_ws.path(res.paths["markdown"]).read_text()
    assert "Table 1" in md and "Table 2" in md and "| Noise |" in md and "only 6 images" in md
    gan_row = next(line for line in md.splitlines() if line.startswith("| GAN |"))
    assert gan_row.endswith("| 8 | all 8 images, one set (subsets of 8 from 8 would be the same set) (no sample index) |")
    assert gan_row.split(" | ")[2:5] == ["–", "–", gan_row.split(" | ")[1]] and "±" not in gan_row
    rows = list(csv.DictReader(eval_ws.path(res.paths["csv"]).open()))
    assert len(rows) == 3 + 3 + 1 + 1 + 3
    noise_fid = [float(r["value"]) for r in rows if r["table"] == "fid" and r["data_type"] == "Noise"]
    np.testing.assert_allclose(noise_fid, fid["Noise"], rtol=1e-5)
    assert eval_ws.path(res.paths["chart"]).stat().st_size > 5000
    counts = {r[0]: r[1] for r in eval_ws.query("SELECT kind, COUNT(*) FROM results GROUP BY kind")}
    assert counts["evaluate"] == 1 and counts["fid"] == 8 and counts["msssim"] == 3
    assert counts["fid_stats"] == 1  # the full Real set's statistics are cached

    smaller = run_evaluate(
        eval_ws,
        EvaluateParams.from_dict({"pairs": 3, "msssim_size": 64, "subset_size": 5, "subsets": 2, "sets": ["GAN"]}),
        JobContext(),
        extractor=ex,
    )
    assert [r["n_a"] for r in smaller.fid["GAN"]] == [5, 5] and list(smaller.fid) == [REAL_SELF, REAL_HALVES, "GAN"]
    assert smaller.fid["GAN"][0]["fid"] != smaller.fid["GAN"][1]["fid"]


def test_cancel_writes_no_report(eval_ws):
    calls = iter(range(1000))
    with pytest.raises(Cancelled):
        run_evaluate(
            eval_ws,
            EvaluateParams(pairs=4, msssim_size=64),
            JobContext(cancel=lambda: next(calls) > 3),
            extractor=small_extractor(8),
        )
    assert not eval_ws.path("reports").exists()
    assert eval_ws.query("SELECT COUNT(*) FROM results WHERE kind IN ('evaluate', 'fid', 'msssim')")[0][0] == 0


def test_cli_fid_evaluate_and_import_set(eval_ws, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "load_fid_inception", lambda *a, **k: small_extractor(8))
    assert main(["fid", "-w", str(eval_ws.root), "--set", "real", "--set", "GAN"]) == 0
    out = capsys.readouterr().out
    assert "FID real vs GAN:" in out and "warning: Real: only 12 images" in out
    demo = tmp_path / "gan" / "images"
    assert main(["fid", str(demo), str(demo)]) == 0
    assert "FID" in capsys.readouterr().out
    assert main(["fid", "--set", "real", "--set", "GAN"]) == 1
    assert "need --workspace" in capsys.readouterr().err
    assert main(["fid", "-w", str(eval_ws.root), "--set", "real", "--set", "GAN", "--real-size", "32"]) == 0
    assert "Real: resized to 32x32 before clean-fid" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                "-w",
                str(eval_ws.root),
                "--pairs",
                "4",
                "--set",
                "GAN",
                "--subsets",
                "2",
                "--real-resize",
                "full",
                "--sets-by",
                "random",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"| {REAL_SELF} |" in out and f"| {REAL_HALVES} |" in out and "| Real |" in out and "| GAN |" in out
    assert "| Noise |" not in out and "(sets_by = random: random subsets)" in out
    assert "Real: the image files at full resolution (real_resize = full)" in out
    assert main(["import-set", str(tmp_path / "noise"), "--name", "Noise", "-w", str(eval_ws.root)]) == 0
    assert "8 already present" in capsys.readouterr().out
