"""The order in which ``docs/cli.md`` lists the commands (the order a study uses them) and one
example of each, and the CLI's exit codes.

Data for :mod:`backend.cli.reference`, kept apart from the command modules so that a change of
flags never touches it: a command missing here is listed after these, and
``tests/test_cli_reference.py`` parses every example with the real parser (a renamed flag fails
there) and checks each exit code against ``backend.cli.main``. The leading underscore keeps this
module out of the command discovery of :data:`backend.cli.COMMAND_MODULES`.
"""

from __future__ import annotations

# (command path after "diffgen", example command line). Stages in the order of a study: data,
# masks, clusters, models, generation, styling, quality and review, evaluation and segmentation,
# export, the expert survey; then the queue and the tools.
WORKFLOW: tuple[tuple[str, str], ...] = (
    ("demo", "diffgen demo -w demo-ws"),
    ("demo-data", "diffgen demo-data demo-data"),
    ("import", "diffgen import -w study ~/data/Kvasir-SEG"),
    ("info", "diffgen info -w study --problems"),
    ("set-role", "diffgen set-role -w study --hold-out"),
    ("dilate", "diffgen dilate -w study --pixels 10"),
    ("settings", "diffgen settings set inception ~/weights/inception_v3_google-0cc3c7bd.pth"),
    ("cluster", "diffgen cluster -w study --k 4"),
    ("train", "diffgen train -w study --preset demo"),
    ("import-checkpoint", "diffgen import-checkpoint -w study --name author model200000.pt"),
    ("import-model", "diffgen import-model -w study exported-model"),
    ("sample", "diffgen sample -w study --count 4"),
    ("export-model", "diffgen export-model -w study full exported-model"),
    ("inpaint", "diffgen inpaint -w study --all --samples 3"),
    ("judge", "diffgen judge train -w study"),
    ("synthesize", "diffgen synthesize -w study --all --masks bank --polyps 1-2 --samples 2"),
    ("diversity", "diffgen diversity -w study --set Real --set Mask-Diff"),
    ("regenerate", "diffgen regenerate -w study 17"),
    ("bundles", "diffgen bundles -w study"),
    ("import-samples", "diffgen import-samples -w study study/bundles/*"),
    ("style", "diffgen style -w study --all-unstyled"),
    ("style-sheet", "diffgen style-sheet -w study --limit 12"),
    ("gates", "diffgen gates -w study"),
    ("audit", "diffgen audit -w study"),
    ("review", "diffgen review -w study --keep-passed"),
    ("evaluate", "diffgen evaluate -w study"),
    ("import-set", "diffgen import-set -w study --name GAN gan-images"),
    ("fid", "diffgen fid -w study --set real --set samples:inpainted"),
    ("msssim", "diffgen msssim -w study --set samples:inpainted"),
    ("segment", "diffgen segment -w study --experiment all"),
    ("export", "diffgen export -w study --format nnunet --with-real nnunet-out"),
    ("survey", "diffgen survey list -w study"),
    ("survey create", "diffgen survey create -w study --name pilot"),
    ("survey add-rater", "diffgen survey add-rater -w study --survey pilot --rater dr-a"),
    ("survey link", "diffgen survey link -w study --survey pilot --rater dr-a"),
    ("survey export-rater-pack", "diffgen survey export-rater-pack -w study --survey pilot --rater dr-a pack-dr-a"),
    ("survey serve", "diffgen survey serve -w study --survey pilot --port 8765"),
    ("survey rate", "diffgen survey rate -w study --survey pilot --rater dr-a"),
    ("survey simulate", "diffgen survey simulate -w study --survey pilot --raters 3"),
    ("survey import-answers", "diffgen survey import-answers -w study --survey pilot answers.csv"),
    ("survey export-answers", "diffgen survey export-answers -w study --survey pilot answers-all.csv"),
    ("survey list", "diffgen survey list -w study"),
    ("survey report", "diffgen survey report -w study --survey pilot"),
    ("jobs", "diffgen jobs list -w study"),
    ("jobs add", "diffgen jobs add -w study train --param preset=demo"),
    ("jobs list", "diffgen jobs list -w study --json"),
    ("jobs run", "diffgen jobs run -w study"),
    ("jobs requeue", "diffgen jobs requeue -w study 3"),
    ("jobs remove", "diffgen jobs remove -w study 3"),
    ("gui", "diffgen gui -w study"),
    ("cli-reference", "diffgen cli-reference > docs/cli.md"),
)

# (code, when): what ``backend.cli.main`` returns.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "done (a re-run that finds its work already finished is done too)"),
    (
        1,
        "a problem you can act on, printed as `error: ...` naming the file or field (bad input, no such "
        "workspace, missing weights, disk full), or part of the work failed (no sample made, a bundle "
        "not imported, a segmentation run failed) or `regenerate` found a difference; an unexpected "
        "error also exits 1, with a traceback: please report it",
    ),
    (2, "the command line is wrong (unknown command or flag, missing argument): the usage is printed"),
    (130, "cancelled (Ctrl-C, or the job was cancelled); what was finished is kept"),
)
