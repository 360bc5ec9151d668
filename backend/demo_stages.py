"""The stages of ``diffgen demo``: each calls the same job function as the CLI and the GUI,
with the small settings that make the whole paper pipeline run on a CPU in minutes."""

from __future__ import annotations

from backend.demo import DemoContext, Stage, stage_state
from backend.demo_report import build_report
from backend.errors import DiffGenError
from backend.job_context import JobContext

# Demo sizes: enough for every table to have rows, small enough for 2 CPU cores.
TRAIN_STEPS_FULL = 600
TRAIN_STEPS_CLUSTER = 120          # per cluster, fine-tuned from the full-set model
STYLE_PER_SET = 10                 # styled samples per inpainted set (the survey shows 10)
EVAL_PAIRS = 40                    # MS-SSIM pairs per subset
SEGMENT_OVERRIDES = ("segment.small_n=[8, 16]", "segment.small_n_r=[1, 3]", "segment.synthetic_multiples=[1, 3]",
                     "segment.min_steps=60")
WEIGHT_NAMES = ("inception", "fid_inception", "vgg19", "dino")


def _progress(ctx: DemoContext, label: str):
    if ctx.progress is None:
        return None
    return lambda d, t, m="": ctx.progress(d, t, f"{label}: {m}" if m else label)


def _job(ctx: DemoContext, label: str) -> JobContext:
    """The context a stage's job function gets: the demo's progress, labelled, and its cancel."""
    return JobContext(progress=_progress(ctx, label), cancel=ctx.cancel)


def stage_data(ctx: DemoContext) -> dict:
    """Import, then hold out the segmentation test images (the test role) before anything is
    generated: no later stage uses them."""
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.segmentation.config import load_config
    from backend.segmentation.data import hold_out_at_random

    data = ctx.ws.path("demo-data")
    if not (data / "images").is_dir():
        write_demo_dataset(data, count=ctx.count, size=ctx.size, seed=ctx.seed, progress=_progress(ctx, "demo data"))
    report = import_dataset(ctx.ws, data, progress=_progress(ctx, "import"))
    hold_out_at_random(ctx.ws, load_config(ctx.preset))
    return {"images": len(ctx.ws.image_ids()), "imported": report.imported, "procedural": True,
            "count": ctx.count, "size": ctx.size, "seed": ctx.seed, "roles": ctx.ws.role_counts()}


def stage_weights(ctx: DemoContext) -> dict:
    """The user's pretrained files where configured; else random stand-ins, said aloud."""
    from backend.standin_weights import weights_or_standin

    files, random = {}, []
    for name in WEIGHT_NAMES:
        files[name], is_random = weights_or_standin(name, ctx.ws.path("weights-standin"), ctx.seed)
        if is_random:
            random.append(name)
    return {"files": files, "random": random}


def _weights(ctx: DemoContext) -> dict:
    state = stage_state(ctx.ws, "weights")
    if not state:
        raise DiffGenError("the weights stage has not run")
    return state["files"]


def stage_cluster(ctx: DemoContext) -> dict:
    from backend.cluster_params import ClusterParams
    from backend.clustering import run_cluster

    params = ClusterParams(preset=ctx.preset, inception_weights=_weights(ctx)["inception"], device=ctx.device)
    return run_cluster(ctx.ws, params, _job(ctx, "cluster")).to_dict()


def stage_train_full(ctx: DemoContext) -> dict:
    from backend.diffusion.train_params import TrainParams
    from backend.diffusion.training import run_train

    params = TrainParams(preset=ctx.preset, target="full", steps=TRAIN_STEPS_FULL, name="demo-full", device=ctx.device)
    return run_train(ctx.ws, params, _job(ctx, "train full")).to_dict()


def stage_train_clusters(ctx: DemoContext) -> dict:
    from backend.diffusion.train_params import TrainParams
    from backend.diffusion.training import run_train

    trained = stage_state(ctx.ws, "train_full")
    if trained is None:
        raise DiffGenError("the demo's 'train_full' stage has not run: run the demo from its start")
    full = trained["models"][0]["folder"]
    params = TrainParams(preset=ctx.preset, target="clusters", steps=TRAIN_STEPS_CLUSTER,
                         overrides=(f"train.init_from={ctx.ws.rel(full)}", "train.sample_count=8"), device=ctx.device)
    return run_train(ctx.ws, params, _job(ctx, "train clusters")).to_dict()


def _inpaint(ctx: DemoContext, model: str) -> dict:
    from backend.inpaint_params import InpaintParams
    from backend.inpainting import run_inpaint
    from backend.selection import ImageSelection

    params = InpaintParams(ImageSelection(all=True), model=model, preset=ctx.preset,  # test images held out
                           seed=ctx.seed, device=ctx.device, sheet=True)
    return run_inpaint(ctx.ws, params, _job(ctx, f"inpaint ({model} models)")).to_dict()


def stage_inpaint_cluster(ctx: DemoContext) -> dict:
    return _inpaint(ctx, "cluster")


def stage_inpaint_full(ctx: DemoContext) -> dict:
    return _inpaint(ctx, "full")


def stage_style(ctx: DemoContext) -> dict:
    from backend.style import run_style
    from backend.style.params import StyleParams
    from backend.style.sheet import style_sheet

    chosen = []
    for set_name in ("Diff", "Full-Diff"):
        ids = [s.id for s in ctx.ws.samples(kind="inpainted", set_name=set_name)]
        step = max(1, len(ids) // STYLE_PER_SET)
        chosen += ids[::step][:STYLE_PER_SET]
    w = _weights(ctx)
    params = StyleParams(samples=tuple(chosen), preset=ctx.preset, seed=ctx.seed, device=ctx.device,
                         vgg_weights=w["vgg19"], dino_weights=w["dino"])
    return {**run_style(ctx.ws, params, _job(ctx, "style")).to_dict(), "sheet": style_sheet(ctx.ws)}


def stage_evaluate(ctx: DemoContext) -> dict:
    from backend.evaluate import run_evaluate

    return run_evaluate(ctx.ws, {"fid_inception": _weights(ctx)["fid_inception"], "pairs": EVAL_PAIRS,
                                 "seed": ctx.seed, "device": None if ctx.device == "auto" else ctx.device},
                        _progress(ctx, "evaluate"), ctx.cancel)


def stage_segment(ctx: DemoContext) -> dict:
    from backend.segmentation import run_segment
    from backend.segmentation.params import SegmentParams
    from backend.segmentation.report import write_report

    params = SegmentParams(preset=ctx.preset, overrides=SEGMENT_OVERRIDES,
                           experiments=("real", "synthetic", "augment", "small-n"))
    return {"runs": run_segment(ctx.ws, params, _job(ctx, "segment")).to_dict(), "report": write_report(ctx.ws)}


def stage_survey(ctx: DemoContext) -> dict:
    from backend.survey import SurveyConfig, create_survey, get_survey, simulate_raters
    from backend.survey_report import write_report

    name = "demo-simulated"
    try:
        survey = get_survey(ctx.ws, name)
    except DiffGenError:
        survey = create_survey(ctx.ws, SurveyConfig(name, {"real": 10, "inpainted": 10, "styled": 10},
                                                    seed=ctx.seed))
    simulate_raters(ctx.ws, survey, n_raters=3, seed=ctx.seed)
    return {"survey": name, "files": write_report(ctx.ws, survey), "simulated": True}


def stage_report(ctx: DemoContext) -> dict:
    md, page = build_report(ctx, STAGES)
    return {"markdown": str(md), "html": str(page)}


STAGES = [
    Stage("data", "Procedural demo data and import", stage_data),
    Stage("weights", "Pretrained weights (or random stand-ins)", stage_weights),
    Stage("cluster", "Clustering (Inception features + KMeans)", stage_cluster),
    Stage("train_full", "Diffusion model on the full set", stage_train_full),
    Stage("train_clusters", "Diffusion model per cluster", stage_train_clusters),
    Stage("inpaint_cluster", "RePaint inpainting with cluster models (Diff)", stage_inpaint_cluster),
    Stage("inpaint_full", "RePaint inpainting with the full-set model (Full-Diff)", stage_inpaint_full),
    Stage("style", "Style transfer (DiffuseIT + ZeCon)", stage_style),
    Stage("evaluate", "FID and MS-SSIM (Tables 1-2)", stage_evaluate),
    Stage("segment", "Segmentation experiments (Tables 3-6)", stage_segment),
    Stage("survey", "Blinded survey statistics on simulated raters (Table 7)", stage_survey),
    Stage("report", "Report", stage_report),
]
