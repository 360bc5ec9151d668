"""Nothing is overwritten without asking: the survey report in a named folder, the answers CSV
and the demo data refuse an existing target (nothing written, the file unchanged) and
replace it only with --overwrite. Through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend import survey as sv
from backend.cli import main as cli_main


def _report(ws, survey, target: Path) -> tuple[list[str], Path]:
    target.mkdir()
    return [
        "survey",
        "report",
        "-w",
        str(ws.root),
        "--survey",
        survey.name,
        "--bootstrap",
        "10",
        "--out",
        str(target),
    ], target / "answers.csv"


def _answers(ws, survey, target: Path) -> tuple[list[str], Path]:
    return ["survey", "export-answers", "-w", str(ws.root), "--survey", survey.name, str(target)], target


def _demo_data(ws, survey, target: Path) -> tuple[list[str], Path]:
    (target / "images").mkdir(parents=True)  # a dataset's folder: real images must not be mixed with procedural ones
    return ["demo-data", "--count", "2", "--size", "32", str(target)], target / "images" / "demo_0000.jpg"


CASES = [
    (_report, "the survey report into"),
    (_answers, "the answers CSV"),
    (_demo_data, "demo data into"),
]


@pytest.mark.parametrize(("command", "what"), CASES, ids=["survey-report", "export-answers", "demo-data"])
def test_an_existing_target_is_refused_and_replaced_only_with_overwrite(ws, survey, tmp_path, capsys, command, what):
    sv.simulate_raters(ws, survey, 2)
    argv, existing = command(ws, survey, tmp_path / "target")
    existing.write_bytes(b"the user's own file")
    capsys.readouterr()
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    named = existing.parent if command is _demo_data else existing  # demo data: the dataset folder that holds files
    assert f"error: {what}" in err and f"{named} already exists" in err and "add --overwrite to replace" in err
    assert existing.read_bytes() == b"the user's own file"
    assert cli_main([*argv, "--overwrite"]) == 0
    assert existing.read_bytes() != b"the user's own file" and existing.stat().st_size > 0


def test_the_survey_folder_in_the_workspace_is_rewritten_without_asking(ws, survey, capsys):
    """The workspace's own report folder is derived output: a report run again replaces it."""
    sv.simulate_raters(ws, survey, 2)
    argv = ["survey", "report", "-w", str(ws.root), "--survey", survey.name, "--bootstrap", "10"]
    assert cli_main(argv) == 0 and cli_main(argv) == 0
