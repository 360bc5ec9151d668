"""docs/cli.md is generated from the parser; it must not drift from the real commands, its
examples must parse, and its exit codes must be the ones ``backend.cli.main`` returns."""

import shlex
from pathlib import Path

import pytest

from backend.cli import main
from backend.cli._workflow import EXIT_CODES, WORKFLOW
from backend.cli.reference import cli_reference, commands
from backend.errors import BadInputError, Cancelled
from diffgen_gui.launcher import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    expected = cli_reference(build_parser())
    assert (ROOT / "docs" / "cli.md").read_text() == expected, "docs/cli.md is stale: run 'diffgen cli-reference > docs/cli.md'"
    for command in ("demo", "train", "inpaint", "style", "cluster", "fid", "msssim", "segment", "survey", "export", "gui"):
        assert f"## `diffgen {command}`" in expected


def test_commands_come_in_workflow_order_each_with_an_example_that_parses():
    parser = build_parser()
    text = cli_reference(parser)
    names = [name for name, _ in commands(parser)]
    assert set(names) == {name for name, _ in WORKFLOW}, "give each new command its place and example in _workflow.WORKFLOW"
    heads = [text.index(f"## `diffgen {name}`\n") for name in names]
    assert heads == sorted(heads)
    stages = ["import", "dilate", "cluster", "train", "inpaint", "style", "review", "evaluate", "segment", "export", "survey"]
    assert [names.index(s) for s in stages] == sorted(names.index(s) for s in stages)
    for name, example in WORKFLOW:
        words = shlex.split(example.split(" > ")[0])
        assert words[0] == "diffgen" and words[1] == name.split()[0], example
        assert f"```bash\n{example}\n```" in text
        parser.parse_args(words[1:])  # a renamed or removed flag exits 2 here


def _register_outcomes(sub) -> None:
    """Test commands that end each way ``main`` knows."""

    def raise_(error: BaseException):
        def run(_args):
            raise error

        return run

    outcomes = {
        "t-done": lambda _a: 0,
        "t-bad-input": raise_(BadInputError("x.csv: bad")),
        "t-cancelled": raise_(Cancelled("kept 3 images")),
        "t-interrupted": raise_(KeyboardInterrupt()),
    }
    for name, func in outcomes.items():
        sub.add_parser(name).set_defaults(func=func)


def test_the_documented_exit_codes_are_the_ones_main_returns(capsys):
    names = ("t-done", "t-bad-input", "t-cancelled", "t-interrupted")
    returned = {name: main([name], extra=[_register_outcomes]) for name in names}
    assert returned == {"t-done": 0, "t-bad-input": 1, "t-cancelled": 130, "t-interrupted": 130}
    assert "error: x.csv: bad" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["info", "--no-such-flag"])
    assert main([]) == 2  # no command and no app to open: the help
    assert {code for code, _ in EXIT_CODES} == {*returned.values(), usage.value.code}
