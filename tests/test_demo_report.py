"""The demo report read as a researcher reads it: what its FID rows measure and whether its
numbers mean anything is said beside them, not only at the top (issue 33 items 9-12)."""

from __future__ import annotations

from backend.demo.plan import DemoContext
from backend.demo.report import RANDOM_FID, build_report
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
