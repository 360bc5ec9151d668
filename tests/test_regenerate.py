"""``diffgen regenerate``: a stored inpainted sample drawn again from its provenance (the
rows of its batch and the thread count at each model evaluation) equals the stored one."""

from __future__ import annotations

import torch

from backend.cli import main
from backend.inpaint.regenerate import regenerate
from tests.test_inpainting import FAST, _run, ws  # noqa: F401 - ws is the fixture used below


def test_every_sample_of_a_batched_run_regenerates_pixel_for_pixel(ws):  # noqa: F811
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the run's threads; the replay starts from another count
    try:
        _run(ws, {**FAST, "images": [1, 2, 3], "samples": 2, "batch": 4})
    finally:
        torch.set_num_threads(before)
    samples = ws.samples(kind="inpainted")
    assert len(samples) == 6
    batches = [s.params["batch"] for s in samples]
    assert sorted(len(b["rows"]) for b in batches) == [2, 2, 4, 4, 4, 4]  # 6 rows in batches of 4 and 2
    assert all(b["threads"] == [[1, 15]] for b in batches)  # 15 model evaluations at 1 thread
    for s, b in zip(samples, batches):
        assert b["rows"][b["position"]] == [s.source_image_id, s.mask_version_id, s.params["sample_index"], s.seed]
    torch.set_num_threads(2)
    try:
        results = [regenerate(ws, s.id) for s in samples]
        assert torch.get_num_threads() == 2  # the replay restores the caller's threads
    finally:
        torch.set_num_threads(before)
    assert all(r.identical for r in results), [r.summary for r in results]
    assert {r.batch_rows for r in results} == {2, 4} and all(r.threads == ((1, 15),) for r in results)


def test_cli_regenerate_prints_the_comparison_and_refuses_other_samples(ws, capsys):  # noqa: F811
    _run(ws, {**FAST, "images": [1], "samples": 1})
    sample = ws.samples(kind="inpainted")[0]
    assert main(["regenerate", str(sample.id), "--workspace", str(ws.root)]) == 0
    assert f"sample {sample.id}: regenerated identically (image and mask, pixel for pixel); batch of 1" in capsys.readouterr().out
    assert main(["regenerate", "999", "--workspace", str(ws.root)]) != 0
    assert "no sample with id 999" in capsys.readouterr().err
