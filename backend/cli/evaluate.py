"""Clustering and evaluation commands: cluster, fid, msssim, evaluate, import-set."""

from __future__ import annotations

import argparse
import os

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags
from backend.clustering.params import ClusterParams
from backend.errors import BadInputError
from backend.words import counted


def _add_real_resize(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--real-resize",
        choices=("model", "full"),
        default="model",
        help="model (default): resize Real with the synthetic samples' own resize (whole frame, "
        "INTER_AREA) to their side before clean-fid, so both reach its 299 px resize alike "
        "(paper 3.4 cites clean-fid because resizing moves FID; the author's experiments.ipynb "
        "loads Real at 256x256 like its samples); full: the Real files as they are",
    )
    p.add_argument(
        "--real-size",
        type=int,
        metavar="PX",
        help="side Real is resized to with --real-resize model (default: the generated samples' side)",
    )


def register(sub) -> None:
    p = sub.add_parser("cluster", help="cluster the images (Inception features of image + mask, KMeans)")
    add_workspace(p)
    add_param_flags(p, ClusterParams)  # --preset, --k, --seed, --features, ... as declared
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("fid", help="FID (clean-fid, clean mode) between two folders or sets")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="two image folders")
    add_workspace(p, required=False)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="sets",
        metavar="SET",
        help="real | samples:KIND | set name | folder (give --set twice)",
    )
    p.add_argument(
        "--fid-inception", metavar="PTH", help="pytorch-fid's state dict pt_inception-2015-12-05-6726825d.pth or its folder"
    )
    p.add_argument("--device")
    p.add_argument("--batch-size", type=int, default=32)
    _add_real_resize(p)
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser("msssim", help="diversity: mean MS-SSIM over random pairs of one set")
    p.add_argument("dir", nargs="?", metavar="DIR", help="an image folder")
    add_workspace(p, required=False)
    p.add_argument("--set", dest="set_spec", metavar="SET", help="real | samples:KIND | set name | folder")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256, help="side images are resized to")
    p.set_defaults(func=cmd_msssim)

    p = sub.add_parser("evaluate", help="the paper's Tables 1-2 (FID, MS-SSIM) for every set in the workspace")
    add_workspace(p)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="sets",
        metavar="SET",
        help="sets to include (default: real + every sample set)",
    )
    p.add_argument("--subsets", type=int, default=3, help="Sets 1..N of Tables 1-2 (paper: 3)")
    p.add_argument(
        "--sets-by",
        choices=("sample-index", "random"),
        default="sample-index",
        help="sample-index (default): set k = sample k of every image (paper 3.2: 3 samples per image; "
        "the author's experiments.ipynb load_samples(path, idx)); random: random subsets. "
        "Sets without a source image per sample (import-set, folders) are always random",
    )
    p.add_argument("--subset-size", type=int, help="images per random subset (default: as many as Real)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", type=int, default=1000, help="MS-SSIM pairs per subset")
    _add_real_resize(p)
    p.add_argument("--fid-inception", metavar="PTH")
    p.add_argument("--device")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("import-set", help="store an external image set (e.g. GAN images) for evaluation")
    p.add_argument("folder")
    p.add_argument("--name", required=True, help="set name shown in the tables, e.g. GAN")
    add_workspace(p)
    p.set_defaults(func=cmd_import_set)


def cmd_cluster(a: argparse.Namespace) -> int:
    params = ClusterParams(
        preset=a.preset,
        k=a.k,
        seed=a.seed,
        min_cluster_size=a.min_cluster_size,
        features=a.features,
        inception_weights=a.inception_weights,
        device=a.device,
    )
    ws = open_workspace(a)
    res = run_as_job(ws, "cluster", params, "cluster", "img")
    print(
        f"Clustering {res.clustering_id} (current): {counted(res.images, 'image')} in {counted(res.k, 'cluster')} "
        f"(seed {res.seed}); sizes " + ", ".join(f"c{c}:{n}" for c, n in enumerate(res.sizes))
    )
    if res.small_clusters:
        print(
            f"warning: {counted(len(res.small_clusters), 'cluster has', 'clusters have')} fewer than "
            f"{counted(res.min_cluster_size, 'image')} "
            f"(too few to train a model on): " + ", ".join(f"c{c}" for c in res.small_clusters)
        )
    print(f"Cluster sheet: {ws.path(res.sheet)}")
    return 0


def _specs(a: argparse.Namespace, specs: list[str]) -> list[str]:
    """Folders work alone; set names need a workspace."""
    if a.workspace is None and any(not os.path.isdir(s) for s in specs):
        raise BadInputError("set names (real, samples:KIND, Diff...) need --workspace; otherwise give folders")
    return specs


def cmd_fid(a: argparse.Namespace) -> int:
    from backend.metrics.evaluate_params import FidParams

    ws = open_workspace(a) if a.workspace else None
    specs = _specs(a, a.dirs + a.sets)
    params = FidParams(
        sets=tuple(specs),
        fid_inception=a.fid_inception,
        device=a.device,
        batch_size=a.batch_size,
        real_resize=a.real_resize,
        real_size=a.real_size,
    )
    res = run_as_job(ws, "fid", params, "FID features", "img")
    if res.real:
        print(res.real)
    for w in res.warnings:
        print(f"warning: {w}")
    print(f"FID {specs[0]} vs {specs[1]}: {res.fid:.4f}  ({res.n_a} vs {counted(res.n_b, 'image')}, clean-fid clean)")
    return 0


def cmd_msssim(a: argparse.Namespace) -> int:
    from backend.metrics.evaluate_params import MsssimParams

    specs = _specs(a, [s for s in (a.dir, a.set_spec) if s])
    if len(specs) != 1:
        raise BadInputError("give one folder or one --set")
    ws = open_workspace(a) if a.workspace else None
    res = run_as_job(ws, "msssim", MsssimParams(specs[0], a.pairs, a.seed, a.size), "MS-SSIM", "pair")
    for p in res.problems:
        print(f"warning: {p}")
    print(f"MS-SSIM {specs[0]}: {res.mean:.4f} (sd {res.std:.4f}) over {res.pairs} pairs of {res.images} images; {res.method}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from backend.metrics.evaluate_params import EvaluateParams

    ws = open_workspace(a)
    params = EvaluateParams(
        sets=tuple(a.sets),
        subsets=a.subsets,
        sets_by=a.sets_by,
        subset_size=a.subset_size,
        seed=a.seed,
        pairs=a.pairs,
        real_resize=a.real_resize,
        real_size=a.real_size,
        fid_inception=a.fid_inception,
        device=a.device,
    )
    res = run_as_job(ws, "evaluate", params, "evaluate", "%")
    print(ws.path(res.paths["markdown"]).read_text())
    print("Wrote " + ", ".join(str(ws.path(p)) for p in res.paths.values()))
    return 0


def cmd_import_set(a: argparse.Namespace) -> int:
    from backend.data.import_params import ImportSetParams

    res = run_as_job(open_workspace(a), "import-set", ImportSetParams(a.folder, a.name), "import-set", "img")
    for p in res.problems:
        print(f"ERROR   {p}")
    print(res.summary)
    return 0 if res.added or res.already_present else 1
