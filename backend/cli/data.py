"""Dataset commands: demo-data, import, set-role, info, dilate, gui, settings."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_workspace, open_workspace, run_as_job, tqdm_progress
from backend.config.fields import arg_type
from backend.config.paths import DEMO_COUNT
from backend.errors import DiffGenError
from backend.io.limits import DEFAULT_MAX_PIXELS
from backend.words import counted
from backend.workspace import ROLES, TEST, TRAIN
from backend.workspace.roles import ASSIGNABLE_ROLES
from backend.workspace.selection import ImageSelection, ids_argument

DEMO = "backend.data.demo:DemoDataSpec"  # the bounds of demo-data's numbers


def register(sub) -> None:
    p = sub.add_parser("demo-data", help="write the procedural demo dataset (Kvasir layout)")
    p.add_argument("out", help="output folder (gets images/ and masks/)")
    p.add_argument("--count", type=arg_type(DEMO, "count", "demo-data"), default=DEMO_COUNT)
    p.add_argument("--size", type=arg_type(DEMO, "size", "demo-data"), default=256)
    p.add_argument("--seed", type=arg_type(DEMO, "seed", "demo-data"), default=0)
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds images/ or masks/")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("import", help="import a dataset folder into a workspace (created if new)")
    p.add_argument(
        "dataset", help="folder with images/ + masks/, or NAME.jpg + NAME_mask.png pairs (--role background: images only)"
    )
    add_workspace(p)
    p.add_argument("--copy", action="store_true", help="copy the images into the workspace")
    p.add_argument(
        "--follow-symlinks", action="store_true", help="accept files reached through symbolic links that lead out of the dataset"
    )
    p.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images with more pixels (width x height) than this, read from the file "
        f"header before decoding (default 8192*8192 = {DEFAULT_MAX_PIXELS})",
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        default=TRAIN,
        help="role of the new images: test = held out of clustering, training, inpainting, style, "
        "FID and surveys, and used to test segmentation; background = frames without polyps, "
        "imported without masks, that only mask-guided synthesis (diffgen synthesize --backgrounds) "
        "uses (default train)",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "set-role",
        help="mark images as training or held-out test images",
        description="Test images are held out: no generation stage uses them and segmentation "
        "is tested on them. --hold-out draws the segmentation stage's random "
        "hold-out now (when no image is a test image yet), so that generation "
        "leaves it out from the start.",
    )
    add_workspace(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--images", type=ids_argument, metavar="IDS", help="comma-separated image ids")
    which.add_argument(
        "--hold-out",
        action="store_true",
        help="draw min(test_size, test_fraction) of the images at random (segment preset) as test",
    )
    p.add_argument("--role", choices=ASSIGNABLE_ROLES, help="the new role (with --images)")
    p.add_argument("--preset", default="tiny", help="preset whose [segment] sizes --hold-out uses (tiny | paper | .toml)")
    p.set_defaults(func=cmd_set_role)

    p = sub.add_parser("info", help="counts of images, masks, versions, samples and import problems")
    add_workspace(p)
    p.add_argument("--problems", action="store_true", help="list every import problem")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("dilate", help="dilate (or erode) every current mask into a new mask version")
    add_workspace(p)
    p.add_argument(
        "--pixels",
        type=arg_type("backend.masks.ops:Morphology", "pixels", "dilate"),
        required=True,
        help="radius in pixels (negative erodes)",
    )
    p.add_argument("--images", type=lambda s: [int(x) for x in s.split(",")], help="comma-separated ids")
    p.set_defaults(func=cmd_dilate)

    p = sub.add_parser("settings", help="show or set local pretrained-weight files")
    p.add_argument("action", choices=["show", "set", "unset"])
    p.add_argument("name", nargs="?", help="inception | fid_inception | vgg19 | dino | seg_encoder")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_settings)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_demo_data(a: argparse.Namespace) -> int:
    from backend.data.demo import write_demo_dataset

    with tqdm_progress("demo data", "img") as prog:
        out = write_demo_dataset(a.out, count=a.count, size=a.size, seed=a.seed, progress=prog, overwrite=a.overwrite)
    print(f"Wrote {a.count} demo image/mask pairs ({a.size}x{a.size}, seed {a.seed}) to {out}")
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from backend.data.import_params import ImportParams
    from backend.data.importer import check_dataset_folder, check_workspace_outside

    check_dataset_folder(a.dataset)  # before the workspace folder is created
    check_workspace_outside(a.workspace, a.dataset)
    ws = open_workspace(a, create=True)
    params = ImportParams(a.dataset, a.copy, a.follow_symlinks, a.max_pixels, a.role)
    result = run_as_job(ws, "import", params, "import", "pair")
    for p in result.problems:
        print(p)
    print(result.summary)
    return 0 if (result.imported or result.already_present) and not result.stopped else 1


def cmd_set_role(a: argparse.Namespace) -> int:
    from backend.workspace import queries

    ws = open_workspace(a)
    if a.hold_out:
        from backend.segmentation.config import load_config
        from backend.segmentation.data import hold_out_at_random

        drawn = hold_out_at_random(ws, load_config(a.preset))
        print(
            f"Held out {counted(len(drawn), 'image')} as test images: {','.join(map(str, drawn))}"
            if drawn
            else f"The workspace has {counted(ws.role_counts()[TEST], 'test image')} already: nothing drawn"
        )
        return 0
    if a.role is None:
        raise DiffGenError("set-role --images needs --role train or --role test")
    changed = ws.set_role(a.images, a.role)
    made = queries.samples_made_from(ws, a.images)
    print(f"{changed} of {len(a.images)} images set to {a.role} ({len(a.images) - changed} were already)")
    if a.role == TEST and made:
        print(
            f"note: {counted(made, 'sample was', 'samples were')} made from them before; "
            "they stay in the workspace, style and segmentation leave them out"
        )
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    ws = open_workspace(a)
    info = ws.info()
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Workspace {info['path']} (schema {info['schema_version']})")
    print(f"  images:        {info['images']}  (flagged {info['flagged']})")
    print(
        "  roles:         "
        + ", ".join(f"{role} {n}" for role, n in info["roles"].items())
        + "  (test images are held out of generation)"
    )
    print(f"  masks:         {info['masks']}  ({info['mask_versions']} versions, {info['edited_images']} images edited)")
    print("  samples:       " + (", ".join(f"{k} {v}" for k, v in info["samples"].items()) or "none"))
    names = ", ".join(info["model_names"])
    print(f"  models:        {info['models']}" + (f"  ({names}; inpaint --model NAME)" if names else ""))
    probs = info["problems"]
    counts = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in sorted(probs.items()))
    print("  import problems: " + (counts or "none") + ("" if a.problems or not probs else "  (list them with --problems)"))
    for r in ws.query("SELECT * FROM imports ORDER BY id"):
        s = json.loads(r["summary_json"]) if r["summary_json"] else None
        what = (
            f"{s['imported']} imported, {s['already_present']} already present, {s['rejected']} rejected"
            if s
            else "interrupted (pairs imported before the interruption are complete)"
        )
        print(f"  import #{r['id']} {r['started_at'][:19]} from {r['source_dir']}: {what}")
        if a.problems:
            for p in ws.problems(r["id"]):
                print(f"    {p['severity'].upper():7s} {p['file']}: {p['message']}")
    return 0


def cmd_dilate(a: argparse.Namespace) -> int:
    from backend.jobs.queue import MaskParams

    ws = open_workspace(a)
    ids = a.images or ws.image_ids()  # named, so flagged and test images are changed too, as always
    op, radius = ("dilate", a.pixels) if a.pixels >= 0 else ("erode", -a.pixels)
    params = MaskParams(op, {"pixels": radius}, ImageSelection(images=tuple(ids)))
    result = run_as_job(ws, "masks", params, op, "mask")
    for skipped in result.skipped:
        print(f"skipped {skipped}")
    print(f"Created {len(result.mask_versions)} new mask versions ({op} {radius} px); originals untouched.")
    return 0


def cmd_settings(a: argparse.Namespace) -> int:
    from backend.config.settings import WEIGHTS, configured_weights, save_setting, settings_path

    if a.action == "show":
        print(f"settings file: {settings_path()}")
        for name, spec in WEIGHTS.items():
            print(f"  {name:14s} {configured_weights(name) or '(not set)'}   [{spec.env_var}]")
        return 0
    if a.name not in WEIGHTS:
        print(f"unknown weights name {a.name!r}; known: {', '.join(WEIGHTS)}")
        return 2
    save_setting(a.name, None if a.action == "unset" else a.path)
    print(f"{a.action} {a.name}" + (f" = {a.path}" if a.action == "set" else ""))
    return 0
