"""The stage commands' flags come from the kinds' declarations (backend/cli/flags.py): the same
names, destinations and defaults as the hand-written flags they replace, the declared ranges and
choices checked, and ``jobs add KIND`` offering the same flags as the command."""

from __future__ import annotations

import pytest

from backend.cli.common import subparsers_of
from backend.jobs.queue import JobStore
from diffgen_gui.launcher import build_parser, main

FLAGS_BEFORE = {  # flag -> dest of every flag these commands had when they were written by hand
    "inpaint": "--batch:batch --dilate:dilate --jump-length:jump_length --jump-n-sample:jump_n_sample "
    "--min-island:min_island --model:model --no-fill-holes:fill_holes --no-sheet:sheet --preset:preset "
    "--respacing:respacing --retries:retries --samples:samples --seed:seed --weights:weights --device:device",
    "style": "--color-match:color_match --dino-weights:dino_weights --preset:preset --seed:seed --set:overrides "
    "--target:target --vgg-weights:vgg_weights --samples:samples --device:device",
    "train": "--name:name --overwrite:overwrite --preset:preset --resume:resume --set:overrides --steps:steps "
    "--target:target --tensorboard:tensorboard --device:device",
    "cluster": "--device:device --features:features --inception-weights:inception_weights --k:k "
    "--min-cluster-size:min_cluster_size --preset:preset --seed:seed",
    "segment": "--device:device --encoder-weights:encoder_weights --experiment:experiment --only-passed:only_passed "
    "--preset:preset --seeds:seeds --set:overrides",
}


def _command(name: str):
    return subparsers_of(build_parser()).choices[name]


@pytest.mark.parametrize("command", list(FLAGS_BEFORE))
def test_every_flag_keeps_its_name_and_destination(command):
    dests = {s: a.dest for a in _command(command)._actions for s in a.option_strings}
    before = dict(pair.split(":") for pair in FLAGS_BEFORE[command].split())
    assert {flag: dests.get(flag) for flag in before} == before


def test_defaults_and_actions_are_the_commands_own():
    parse = build_parser().parse_args
    a = parse(["inpaint", "-w", "W", "--all"])
    assert (a.sheet, a.fill_holes, a.model, a.sampler, a.samples) == (True, None, "cluster", None, None)
    a = parse(["inpaint", "-w", "W", "--all", "--no-sheet", "--no-fill-holes", "--sampler", "repaint", "--dilate", "0"])
    assert (a.sheet, a.fill_holes, a.sampler, a.dilate) == (False, False, "repaint", 0)
    a = parse(["train", "-w", "W", "--set", "train.steps=2", "--set", "train.batch_size=1"])
    assert (a.overrides, a.preset, a.target, a.device) == (["train.steps=2", "train.batch_size=1"], "tiny", "full", "auto")
    assert parse(["train", "-w", "W"]).overrides == []
    a = parse(["segment", "-w", "W", "-e", "real", "-e", "synthetic", "--seeds", "1", "2"])
    assert (a.experiment, a.seeds, a.device, a.overrides) == (["real", "synthetic"], [1, 2], "auto", None)
    a = parse(["style", "-w", "W", "--color-match"])
    assert (a.color_match, a.seed, a.target) == ("mkl", 0, "original")
    assert parse(["cluster", "-w", "W"]).preset == "paper"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["inpaint", "--all", "--sampler", "ddpm"],
            "argument --sampler: invalid choice: 'ddpm' (choose from 'repaint', 'ddim-repaint', 'ddnm', 'diffpir')",
        ),
        (["inpaint", "--all", "--samples", "0"], "inpaint.samples = 0 is out of bounds: it must be an integer in 1..1000\n"),
        (["inpaint", "--all", "--jump-length", "x"], "inpaint.jump_length: 'x' is not an integer in 1..100000 steps"),
        (["train", "--steps", "0"], "train.steps = 0 is out of bounds"),
        (["cluster", "--k", "0"], "cluster.k = 0 is out of bounds: it must be an integer >= 1"),
        (["segment", "--seeds", "1", "x"], "segment.seeds: 'x' is not"),
    ],
)
def test_declared_ranges_and_choices_are_checked_when_parsed(argv, says, capsys):
    with pytest.raises(SystemExit) as out:
        build_parser().parse_args([argv[0], "-w", "W", *argv[1:]])
    assert out.value.code == 2 and says in capsys.readouterr().err


def test_the_help_shows_ranges_units_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["inpaint", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--samples SAMPLES samples per image (paper: 3); 1..1000" in shown
    assert "--dilate PX mask dilation radius at the model resolution (paper: 20); 0..1024 px" in shown
    assert "--sampler {repaint,ddim-repaint,ddnm,diffpir} the reverse chain: repaint (the paper's)" in shown


def test_jobs_add_takes_the_kinds_flags(demo_ws, capsys):
    w = str(demo_ws.root)
    with pytest.raises(SystemExit):
        main(["jobs", "add", "-w", w, "inpaint", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert (
        "--samples SAMPLES samples per image (paper: 3); 1..1000" in shown
        and "--sampler {repaint,ddim-repaint,ddnm,diffpir}" in shown
    )
    with pytest.raises(SystemExit) as out:
        main(["jobs", "add", "-w", w, "inpaint", "--samples", "0", "-p", "all=true"])
    assert out.value.code == 2 and "inpaint.samples = 0 is out of bounds" in capsys.readouterr().err
    assert main(["jobs", "add", "masks", "--operation", "erode", "-p", "images=[1,2]", "-w", w]) == 0  # -w after KIND too
    (job,) = JobStore(demo_ws).list()
    assert job.params["operation"] == "erode" and job.params["images"] == [1, 2]
    with pytest.raises(SystemExit) as out:
        main(["jobs", "add", "masks", "--operation", "erode"])
    assert "the --workspace WS to queue the job in is required" in str(out.value.code)
