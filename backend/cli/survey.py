"""Survey commands: diffgen survey create | add-rater | link | list | rate | serve | simulate |
report | import-answers | export-answers | export-rater-pack."""

from __future__ import annotations

import argparse
import sys

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.config.fields import arg_type
from backend.config.network import DEFAULT_BASE_URL, DEFAULT_HOST, DEFAULT_PORT

BASE_URL_HELP = (
    f"address raters reach 'diffgen survey serve' at, put in front of the link (default "
    f"{DEFAULT_BASE_URL}; e.g. https://rating.hospital.example:8765)"
)


def register(sub) -> None:
    top = sub.add_parser("survey", help="blinded expert survey: create, raters, answers, Table 7 report")
    ss = top.add_subparsers(dest="survey_command", metavar="ACTION", required=True)

    p = ss.add_parser("create", help="draw real and synthetic items into a new blinded survey")
    add_workspace(p)
    p.add_argument("--name", required=True, help="letters, digits, '.', '_', '-' (becomes a folder name)")
    p.add_argument("--real", type=int, help="number of real images (default 10, or all of --real-images)")
    p.add_argument(
        "--real-images",
        metavar="ID,ID,...",
        help="draw real items only from these image ids, e.g. images the raters have not seen "
        "(real items are recognisable by anyone holding the source dataset)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND:COUNT",
        dest="sets",
        help="sample kind and count, e.g. inpainted:10 (repeatable)",
    )
    p.add_argument("--only-kept", action="store_true", help="only samples marked keep in review")
    p.add_argument(
        "--only-passed",
        action="store_true",
        help="leave out samples that failed a quality gate (samples not scored yet stay in the draw "
        "and are counted; 'diffgen gates' scores them)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="seed of the draw (which images and samples; default random, recorded); item codes and order are always random",
    )
    p.add_argument(
        "--size",
        type=arg_type("backend.survey.model:SurveyConfig", "size", "survey"),
        help="side of the blinded copies (default: smallest item side)",
    )
    p.add_argument(
        "--repeat-share",
        type=arg_type("backend.survey.model:SurveyConfig", "repeat_share", "survey"),
        default=0.0,
        help="share of the items shown a second time, apart, for each rater's agreement with themselves (0 to 0.5, default 0)",
    )
    p.add_argument(
        "--calibration",
        type=arg_type("backend.survey.model:SurveyConfig", "calibration", "survey"),
        default=0,
        help="extra items shown first, each kind in turn, with their truth told after the rater's call; "
        "left out of every statistic (default 0)",
    )
    p.add_argument(
        "--questions",
        metavar="FILE",
        help="questions template (TOML: [[question]] tables with name, title, scale, answers or likert; "
        "see docs/survey-questions.toml); default: the paper's image and segmentation quality "
        "(good/moderate/poor) and real or synthetic",
    )
    p.set_defaults(func=cmd_create)

    p = ss.add_parser("add-rater", help="register a rater (their item order is seeded per rater)")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--rater", required=True)
    p.add_argument("--seed", type=int, help="order seed (default: derived from the rater name)")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, help=BASE_URL_HELP)
    p.set_defaults(func=cmd_add_rater)

    p = ss.add_parser("link", help="issue a new personal web link for a rater (the old link stops working)")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--rater", required=True)
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, help=BASE_URL_HELP)
    p.set_defaults(func=cmd_link)

    p = ss.add_parser("list", help="surveys with their items and each rater's progress")
    add_workspace(p)
    p.set_defaults(func=cmd_list)

    p = ss.add_parser("serve", help="serve the blinded rater page to raters' browsers (personal links)")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every network "
        "interface, e.g. for tablets on the ward network)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--certfile", help="TLS certificate (PEM); with --keyfile the page is served over https")
    p.add_argument("--keyfile", help="private key of --certfile (PEM)")
    p.set_defaults(func=cmd_serve)

    p = ss.add_parser("simulate", help="fill answers of simulated raters (demo only; labelled simulated)")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--raters", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--accuracy", type=float, default=0.7, help="chance a real/fake call is right")
    p.set_defaults(func=cmd_simulate)

    p = ss.add_parser("report", help="Table 7, real-vs-synthetic and agreement: Markdown + CSV + PNG")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--out", help="output folder (default WS/reports/survey-NAME)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the CIs")
    p.add_argument("--overwrite", action="store_true", help="replace report files already in --out")
    p.set_defaults(func=cmd_report)

    p = ss.add_parser("import-answers", help="import answers collected elsewhere (CSV; all or nothing)")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument(
        "csv",
        help="columns: rater,item, one per question (default image_quality,mask_quality,real_fake), [comment] "
        "(a rater pack's answers.csv, filled in)",
    )
    p.add_argument("--rater", help="rater name for rows whose rater cell is empty")
    p.set_defaults(func=cmd_import)

    p = ss.add_parser("export-answers", help="write every answer as CSV")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("csv")
    p.add_argument("--with-truth", action="store_true", help="add each item's true kind (unblinds!)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing CSV")
    p.set_defaults(func=cmd_export)

    p = ss.add_parser(
        "export-rater-pack",
        help="folder with only the blinded copies, an answer sheet and instructions, for a rater on another machine",
    )
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--rater", help="prefill the sheet's rater column with this name")
    p.add_argument("out", help="new or empty folder outside the workspace")
    p.set_defaults(func=cmd_export_pack)


def cmd_create(a: argparse.Namespace) -> int:
    from backend.survey import SurveyConfig, get_survey, parse_ids, parse_set

    ws = open_workspace(a)
    real_images = parse_ids(a.real_images) if a.real_images is not None else None
    counts = {"real": a.real if a.real is not None else len(real_images or ()) or 10}
    for spec in a.sets:
        kind, n = parse_set(spec)
        counts[kind] = counts.get(kind, 0) + n
    config = SurveyConfig(
        a.name,
        counts,
        a.only_kept,
        a.seed,
        a.size,
        real_images,
        only_passed=a.only_passed,
        repeat_share=a.repeat_share,
        calibration=a.calibration,
        questions=a.questions,
    )
    s = get_survey(ws, run_as_job(ws, "survey", config, "survey items", "item").name)
    parts = ", ".join(f"{n} {s.labels.get(k, k)}" for k, n in s.params["counts"].items())
    print(
        f"Created survey {s.name!r}: {parts}; blinded copies of {s.params['size']} px under "
        f"{s.params['folder']} (draw seed {s.seed})"
    )
    if s.params.get("gates"):
        print(f"Quality gates: {s.params['gates']['note']}")
    if s.params.get("repeats"):
        print(
            f"Shown twice (intra-rater agreement): {s.params['repeats']} items, "
            "in the first half of each rater's order and again in the second"
        )
    print(f"Questions: {', '.join(s.params['questions'])} (in {s.params['folder']}/questions.toml)")
    print(f"Next: diffgen survey add-rater -w {a.workspace} --survey {s.name} --rater NAME")
    return 0


def _print_link(rater: str, token: str, base_url: str) -> None:
    from backend.survey.links import link_url

    print(
        f"Web link for {rater!r} (shown only now; give it to this rater only, it lets anyone holding it rate "
        f"as {rater!r}):\n    {link_url(token, base_url)}"
    )


def cmd_add_rater(a: argparse.Namespace) -> int:
    from backend.survey import add_rater, get_survey
    from backend.survey.links import issue_link

    ws = open_workspace(a)
    r = add_rater(ws, get_survey(ws, a.survey), a.rater, a.seed)
    print(
        f"Added rater {r.name!r} (order seed {r.seed}). "
        f"Rate here with: diffgen survey rate -w {a.workspace} --survey {a.survey} --rater {r.name}"
    )
    _print_link(r.name, issue_link(ws, r), a.base_url)
    print(f"Serve the web page with: diffgen survey serve -w {a.workspace} --survey {a.survey}")
    return 0


def cmd_link(a: argparse.Namespace) -> int:
    from backend.survey import get_rater, get_survey
    from backend.survey.links import issue_link

    ws = open_workspace(a)
    r = get_rater(ws, get_survey(ws, a.survey), a.rater)
    _print_link(r.name, issue_link(ws, r), a.base_url)
    print("Any earlier link of this rater no longer works; their answers are kept.")
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from backend.survey import summary, surveys

    ws = open_workspace(a)
    all_surveys = surveys(ws)
    if not all_surveys:
        print("No surveys yet; create one with 'diffgen survey create'.")
    for s in all_surveys:
        info = summary(ws, s)
        kinds = ", ".join(f"{n} {s.labels.get(k, k)}" for k, n in info["per_kind"].items())
        print(f"{s.name}: {info['items']} items ({kinds}), created {s.created_at}")
        for r in info["raters"]:
            state = f"submitted {r['submitted']}" if r["submitted"] else "in progress"
            last = f", last answer {r['last_answer']}" if r["last_answer"] and not r["submitted"] else ""
            # only the token's first characters are stored in the clear: 'survey link' issues a new one
            link = f"; web link /r/{r['link']}... ('diffgen survey link' for a new one)" if r["link"] else ""
            print(f"    {r['rater']}: {r['complete']} / {r['items']} answered, {state}{last}{link}")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from backend.survey import get_survey, summary
    from backend.web import ServeConfig, base_urls, bind, is_loopback, make_server

    ws = open_workspace(a)
    survey = get_survey(ws, a.survey)
    config = ServeConfig(a.host, a.port, a.certfile, a.keyfile)
    server = make_server(ws, survey, config)
    sock = bind(config)
    urls = base_urls(config, sock.getsockname()[1])
    linked = sum(1 for r in summary(ws, survey)["raters"] if r["link"])
    print(f"Serving survey {survey.name!r} to {linked} rater(s) with a web link at {urls[0]}")
    print(
        f"Each rater opens their personal link: {urls[0]}/r/<token> (from 'diffgen survey add-rater' or "
        f"'diffgen survey link'). Progress: 'diffgen survey list' or the Survey tab. Ctrl+C stops."
    )
    if not is_loopback(a.host):
        print(
            f"warning: listening on {a.host}: every device that can reach this machine can try links; "
            f"raters on the network use {urls[0]}/r/<token>"
            + ("" if a.certfile else ". Without --certfile/--keyfile answers and links travel unencrypted."),
            file=sys.stderr,
        )
    server.run(sockets=[sock])
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from backend.survey import get_survey, simulate_raters

    ws = open_workspace(a)
    made = simulate_raters(ws, get_survey(ws, a.survey), a.raters, a.seed, a.accuracy)
    print(f"Added {len(made)} SIMULATED raters: {', '.join(r.name for r in made)} (labelled simulated in reports)")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from backend.survey.model import SurveyReportParams

    params = SurveyReportParams(a.survey, n_boot=a.bootstrap, out=a.out, overwrite=a.overwrite)
    done = run_as_job(open_workspace(a), "survey-report", params, "survey report", "step")
    print(f"Wrote {len(done.files)} files to {done.folder}: {', '.join(done.files)}")
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from backend.survey import get_survey, import_answers_csv

    ws = open_workspace(a)
    r = import_answers_csv(ws, get_survey(ws, a.survey), a.csv, a.rater)
    if r["note"]:
        print(f"note: {r['note']}")
    new = f" (new raters: {', '.join(r['new_raters'])})" if r["new_raters"] else ""
    skipped = f"; {r['skipped']} empty row(s) skipped" if r["skipped"] else ""
    print(f"Imported {r['answers']} answers from {len(r['raters'])} rater(s){new}{skipped}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from backend.survey import export_answers_csv, get_survey

    ws = open_workspace(a)
    path = export_answers_csv(ws, get_survey(ws, a.survey), a.csv, a.with_truth, overwrite=a.overwrite)
    print(f"Wrote {path}" + (" (with the truth column: do not hand it to raters)" if a.with_truth else ""))
    return 0


def cmd_export_pack(a: argparse.Namespace) -> int:
    from backend.survey import export_rater_pack, get_survey

    ws = open_workspace(a)
    r = export_rater_pack(ws, get_survey(ws, a.survey), a.out, a.rater)
    print(f"Wrote a rater pack of {r['items']} items to {r['folder']}: images/, {r['sheet'].name}, README.txt")
    print(
        f"Send the folder to the rater; import the filled-in sheet with: diffgen survey import-answers "
        f"-w {a.workspace} --survey {a.survey}" + (f" --rater {a.rater}" if a.rater else "") + f" {r['sheet'].name}"
    )
    return 0
