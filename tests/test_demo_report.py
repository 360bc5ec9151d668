"""The demo report read as a researcher reads it: what its FID rows measure and whether its
numbers mean anything is said beside them, not only at the top (issue 33 items 9-12)."""

from __future__ import annotations

import pytest

from backend.demo.plan import DemoContext
from backend.demo.report import RANDOM_CLUSTERS, RANDOM_FID, build_report
from backend.io.files import atomic_write_bytes, atomic_write_text
from backend.workspace import Workspace


def _with_evaluate(ws: Workspace, random: list[str]) -> DemoContext:
    atomic_write_text(
        ws.path("reports/evaluate-x/tables.md"), "# Intrinsic evaluation\n\n### Table 1: FID\n\n| a |\n|---|\n| 1 |\n"
    )
    atomic_write_bytes(ws.path("reports/evaluate-x/chart.png"), b"\x89PNG\r\n\x1a\n")
    ws.add_result("demo_stage", "weights", {"random": random})
    paths = {"markdown": "reports/evaluate-x/tables.md", "chart": "reports/evaluate-x/chart.png"}
    ws.add_result("demo_stage", "evaluate", {"paths": paths})
    return DemoContext(ws, log=lambda s: None)


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}")[1].split("\n## ")[0]


def test_a_random_weight_fid_inception_is_named_beside_the_fid_table_and_chart(tmp_path):
    md_path, html_path = build_report(_with_evaluate(Workspace.create(tmp_path / "ws"), ["fid_inception", "vgg19"]), [])
    fid = _section(md_path.read_text(), "Tables 1-2: FID and MS-SSIM")
    assert fid.index(RANDOM_FID) < fid.index("Table 1: FID")  # above the table, in its own section
    assert "*FID and MS-SSIM per set; FID from a random-weight Inception: not meaningful (preset" in fid
    assert "Random-weight Inception: the FID values are not meaningful." in html_path.read_text()


def test_a_configured_fid_inception_carries_no_warning(tmp_path):
    md_path, _ = build_report(_with_evaluate(Workspace.create(tmp_path / "ws"), ["vgg19"]), [])
    fid = _section(md_path.read_text(), "Tables 1-2: FID and MS-SSIM")
    assert "random-weight" not in fid.lower() and "*FID and MS-SSIM per set (preset" in fid


@pytest.mark.parametrize("random", [["inception", "fid_inception"], ["fid_inception"]])
def test_random_weight_cluster_features_are_named_beside_the_clusters(tmp_path, random):
    """The demo said so only in "About this run"; the Clusters section showed k and sizes bare."""
    ws = Workspace.create(tmp_path / "ws")
    atomic_write_bytes(ws.path("clusters/sheet.png"), b"\x89PNG\r\n\x1a\n")
    ws.add_result("demo_stage", "cluster", {"k": 4, "sizes": [9, 7, 6, 2], "sheet": "clusters/sheet.png"})
    md_path, _ = build_report(_with_evaluate(ws, random), [])
    clusters = _section(md_path.read_text(), "Clusters (paper Figure 2)")
    if "inception" in random:
        assert clusters.index(RANDOM_CLUSTERS) < clusters.index("k = 4, sizes [9, 7, 6, 2]")
        assert "mask outlines; random-weight features: not meaningful (preset" in clusters
    else:
        assert "random-weight" not in clusters.lower() and "k = 4, sizes [9, 7, 6, 2]" in clusters


def test_the_seam_before_and_after_style_is_reported_per_styled_set(demo_ws: Workspace):
    """The demo pooled every styled sample: style made one set's seam worse unseen."""
    from backend.gates import GateScore
    from backend.workspace import queries

    seams = {"Styled-Diff": [(0.010, 0.004), (0.006, 0.002)], "Styled-Full-Diff": [(0.008, 0.012)]}
    for k, (name, pairs) in enumerate(seams.items()):
        for j, (before, after) in enumerate(pairs):
            i = demo_ws.image_ids()[2 * k + j]
            img, mask = demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i))
            parent = demo_ws.add_sample("inpainted", name.removeprefix("Styled-"), img, mask, source_image_id=i, seed=j)
            child = demo_ws.add_sample("styled", name, img, mask, source_image_id=i, parent_sample_id=parent.id, seed=j)
            demo_ws.set_gates(parent.id, [GateScore("seam", before, 0.08, True)])
            demo_ws.set_gates(child.id, [GateScore("seam", after, 0.08, True)])
    got = queries.seam_before_after(demo_ws)
    assert [(s.set_name, s.samples) for s in got] == [("Styled-Diff", 2), ("Styled-Full-Diff", 1)]
    assert (got[0].before, got[0].after) == (pytest.approx(0.008), pytest.approx(0.003))
    assert (got[1].before, got[1].after) == (pytest.approx(0.008), pytest.approx(0.012))
    md = build_report(DemoContext(demo_ws, log=lambda s: None), [])[0].read_text()
    first = _section(md, "Samples and quality gates")
    assert "Styled-Diff: 0.008 -> 0.003 over 2 samples (style lowered it)" in first
    assert "Styled-Full-Diff: 0.008 -> 0.012 over 1 sample (style made it worse)" in first


def test_the_mask_diff_section_states_the_adherence_goals_with_their_n(demo_ws: Workspace):
    """First draw passed: kept without a redraw and passing, or its first redraw not for
    adherence; a first draw redrawn only for another gate, with adherence no retry gate, is
    unknown and said so; failing after the redraws: the kept sample's gate."""
    from backend.gates import GateScore
    from backend.synthesis.wanted import store_wanted

    cases = [  # (redraws, retry gates, kept sample passes)
        ([], ["no_polyp", "adherence"], True),
        ([{"seed": 1, "failed": ["adherence"]}], ["no_polyp", "adherence"], True),
        ([{"seed": 2, "failed": ["no_polyp"]}], ["no_polyp", "adherence"], True),
        ([{"seed": 3, "failed": ["no_polyp"]}], ["no_polyp"], False),
    ]
    for k, (redraws, retry, ok) in enumerate(cases):
        i = demo_ws.image_ids()[k]
        img, mask = demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i))
        wanted = demo_ws.rel(store_wanted(demo_ws, i, mask, "bank"))
        params = {"retry_gates": retry, "wanted_mask": wanted, **({"redraws": redraws} if redraws else {})}
        s = demo_ws.add_sample("synthesized", "Mask-Diff", img, mask, source_image_id=i, seed=k, params=params)
        demo_ws.set_gates(s.id, [GateScore("adherence", 0.7 if ok else 0.2, 0.5, ok)])
    judge = {"images": 12, "steps": 10, "image_size": 32, "validation_iou": 0.61}
    demo_ws.add_result("demo_stage", "synthesize", {"judge": judge})
    md = build_report(DemoContext(demo_ws, log=lambda s: None), [])[0].read_text()
    section = _section(md, "Mask-guided synthesis (Mask-Diff)")
    assert "4 samples from 4 training images" in section
    assert "trained on the 12 procedural training images and their masks (10 steps at 32 px, validation IoU 0.610)" in section
    assert "first draws passed 2 of 3 (67%) (goal >= 90%: NOT met); unknown for 1 sample redrawn for other gates" in section
    assert "after up to 4 redraws 1 of 4 (25%) still fail (goal <= 5%: NOT met); 3 samples redrawn" in section
    rows = [r.split("|")[1].strip() for r in _section(md, "Mask diversity").splitlines() if r.startswith("| ") and "%" in r]
    assert rows == ["Real", "Mask-Diff", "Mask-Diff (new polyps)"]  # Diff is not in this workspace
