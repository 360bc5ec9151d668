"""The stages of ``diffgen demo``: each calls the same job function as the CLI and the GUI,
with the small settings that make the whole paper pipeline run on a CPU in minutes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backend.demo.plan import DemoContext, Stage, stage_state
from backend.demo.report import build_report
from backend.errors import DiffGenError
from backend.jobs.params import JobParams

WEIGHT_NAMES = ("inception", "fid_inception", "vgg19", "dino")
BASE_MODEL = ("demo_base",)  # resources/demo_base: the shipped model the demo fine-tunes (MODEL_CARD.md)
# Style terms that need a pretrained network (DINO ViT, VGG19); the others (MSE, L2, range) need none.
PRETRAINED_TERMS = {"zecon": "dino", "sty": "dino", "sem": "dino", "vgg": "vgg19"}


def _progress(ctx: DemoContext, label: str):
    if ctx.progress is None:
        return None
    return lambda d, t, m="": ctx.progress(d, t, f"{label}: {m}" if m else label)


def _run(ctx: DemoContext, kind: str, params: JobParams, label: str) -> dict:
    """A stage's job through the one runner, as ``diffgen KIND`` runs it: a job row and a log
    (``diffgen jobs list``), the demo's progress labelled, and its cancel."""
    from backend.jobs.runner import run_now

    return run_now(ctx.ws, kind, params, _progress(ctx, label), cancel=ctx.cancel).to_dict()


def stage_data(ctx: DemoContext) -> dict:
    """Import, then hold out the segmentation test images (the test role) before anything is
    generated: no later stage uses them."""
    from backend.data.demo import write_demo_dataset
    from backend.data.import_params import ImportParams
    from backend.segmentation.config import load_config
    from backend.segmentation.data import hold_out_at_random

    data = ctx.ws.path("demo-data")
    if not (data / "images").is_dir():
        write_demo_dataset(data, count=ctx.count, size=ctx.size, seed=ctx.seed, progress=_progress(ctx, "demo data"))
    report = _run(ctx, "import", ImportParams(str(data)), "import")
    hold_out_at_random(ctx.ws, load_config(ctx.preset))
    return {
        "images": len(ctx.ws.image_ids()),
        "imported": report["imported"],
        "procedural": True,
        "count": ctx.count,
        "size": ctx.size,
        "seed": ctx.seed,
        "roles": ctx.ws.role_counts(),
    }


def stage_weights(ctx: DemoContext) -> dict:
    """The user's pretrained files where configured; else random stand-ins, said aloud."""
    from backend.demo.standins import weights_or_standin

    files, random = {}, []
    for name in WEIGHT_NAMES:
        files[name], is_random = weights_or_standin(name, ctx.ws.path("weights-standin"), ctx.seed)
        if is_random:
            random.append(name)
    return {"files": files, "random": random}


def _state_of(ctx: DemoContext, name: str) -> dict:
    state = stage_state(ctx.ws, name)
    if not state:
        raise DiffGenError(f"the demo's '{name}' stage has not run: run the demo from its start")
    return state


def _weights(ctx: DemoContext) -> dict:
    return _state_of(ctx, "weights")["files"]


def stage_cluster(ctx: DemoContext) -> dict:
    from backend.clustering.params import ClusterParams

    params = ClusterParams(preset=ctx.preset, inception_weights=_weights(ctx)["inception"], device=ctx.device)
    return _run(ctx, "cluster", params, "cluster")


def base_model(preset: str) -> Path | None:
    """The shipped base model when its architecture is the preset's (else None: train from scratch)."""
    from backend.config.paths import resource
    from backend.config.presets import load_preset
    from backend.diffusion.checkpoint import read_config
    from backend.diffusion.config import ModelConfig

    folder = resource(*BASE_MODEL)
    if not (folder / "config.json").is_file():
        return None
    wanted = ModelConfig.from_dict(load_preset(preset)["model"])
    return folder if ModelConfig.from_dict(read_config(folder)["model"]) == wanted else None


def stage_train_full(ctx: DemoContext) -> dict:
    """Fine-tune the shipped base model on the demo images (minutes), or train from scratch."""
    from backend.diffusion.train_params import TrainParams

    base = None if ctx.from_scratch else base_model(ctx.preset)
    overrides: tuple[str, ...]
    if base is None:
        steps, overrides = ctx.plan.train_steps_full, ()
        init = (
            "from scratch (--from-scratch)"
            if ctx.from_scratch
            else f"from scratch (the shipped base model is not a '{ctx.preset}' model)"
        )
    else:
        steps, overrides = ctx.plan.finetune_steps_full, (f"train.init_from={base}",)
        init = f"fine-tuned from the shipped base model ({'/'.join(('resources',) + BASE_MODEL)}, see its MODEL_CARD.md)"
    params = TrainParams(preset=ctx.preset, target="full", steps=steps, name="demo-full", device=ctx.device, overrides=overrides)
    return {**_run(ctx, "train", params, "train full"), "init": init}


def stage_train_clusters(ctx: DemoContext) -> dict:
    from backend.diffusion.train_params import TrainParams

    full = _state_of(ctx, "train_full")["models"][0]["folder"]
    params = TrainParams(
        preset=ctx.preset,
        target="clusters",
        steps=ctx.plan.train_steps_cluster,
        overrides=(
            f"train.init_from={ctx.ws.rel(full)}",
            "train.sample_count=0",
            # A few images must not undo the full model's polyps: a tenth of its
            # rate, and an EMA that starts at the full model (no warm-up) and keeps
            # 95% of it after 10 steps. With warm-up (EMA = the raw weights) 71% of
            # first draws on cluster 0's images had no polyp, 42% without.
            "train.lr=2e-4",
            "train.ema_warmup=false",
        ),
        device=ctx.device,
    )
    return _run(ctx, "train", params, "train clusters")


def _inpaint(ctx: DemoContext, model: str) -> dict:
    from backend.inpaint.params import InpaintParams
    from backend.workspace.selection import ImageSelection

    params = InpaintParams(
        ImageSelection(all=True),
        model=model,
        preset=ctx.preset,  # test images held out
        # Full-Diff draws with the next run seed: the demo's cluster models stay close to the
        # full-set one, and the same seeds would give the two sets near-copies of each sample.
        seed=ctx.seed + (model == "full"),
        device=ctx.device,
        sampler=ctx.sampler,
        sheet=True,
    )
    return _run(ctx, "inpaint", params, f"inpaint ({model} models)")


def stage_inpaint_cluster(ctx: DemoContext) -> dict:
    return _inpaint(ctx, "cluster")


def stage_inpaint_full(ctx: DemoContext) -> dict:
    return _inpaint(ctx, "full")


def stage_synthesize(ctx: DemoContext) -> dict:
    """Mask-Diff: new polyps from the mask bank (training masks transformed and placed) on the
    training images (the demo has no background frames), after training the adherence judge on
    them; a sample the judge does not see where its wanted mask says is redrawn, as one
    without a polyp is."""
    from backend.synthesis.generator import SET_NAME
    from backend.synthesis.judge_params import JudgeParams
    from backend.synthesis.params import SynthesizeParams
    from backend.synthesis.sheet import set_sheet
    from backend.workspace.selection import ImageSelection

    judge_params = JudgeParams(steps=ctx.plan.judge_steps, image_size=ctx.plan.judge_size, seed=ctx.seed, device=ctx.device)
    judge = _run(ctx, "judge", judge_params, "adherence judge")
    params = SynthesizeParams(
        ImageSelection(all=True),  # test images held out
        masks=("bank",),
        polyps=ctx.plan.synth_polyps,
        preset=ctx.preset,
        overrides=('inpaint.retry_gates=["no_polyp", "adherence"]',),
        seed=ctx.seed + 2,  # Diff and Full-Diff draw with the seeds before
        device=ctx.device,
        sampler=ctx.sampler,
    )
    result = _run(ctx, "synthesize", params, "synthesize (Mask-Diff)")
    return {
        **result,
        "sheet": set_sheet(ctx.ws, SET_NAME),
        "judge": {
            "path": judge["path"],
            "images": judge["images"],
            "validation_iou": judge["validation_iou"],
            "steps": judge["settings"]["steps"],
            "image_size": judge["settings"]["image_size"],
        },
    }


def stage_style(ctx: DemoContext) -> dict:
    from backend.style.params import StyleParams
    from backend.style.sheet import style_sheet

    chosen = []
    for set_name in ("Diff", "Full-Diff"):
        ids = [s.id for s in ctx.ws.samples(kind="inpainted", set_name=set_name)]
        step = max(1, len(ids) // ctx.plan.style_per_set)
        chosen += ids[::step][: ctx.plan.style_per_set]
    w = _weights(ctx)
    random = set(_state_of(ctx, "weights").get("random", []))
    off = sorted(t for t, net in PRETRAINED_TERMS.items() if net in random)
    # Random stand-ins would push noise into the image: run only the terms that need no pretrained network.
    note = f"style terms {', '.join(off)} off: their networks are random stand-ins (no weight file configured)" if off else None
    params = StyleParams(
        samples=tuple(chosen),
        preset=ctx.preset,
        seed=ctx.seed,
        device=ctx.device,
        vgg_weights=w["vgg19"],
        dino_weights=w["dino"],
        lambdas=dict.fromkeys(off, 0.0),
        note=note,
    )
    return {
        **_run(ctx, "style", params, "style"),
        "sheet": style_sheet(ctx.ws),
        "terms_off": off,
        "note": note,
    }


def stage_audit(ctx: DemoContext) -> dict:
    """Every sample against every training image (pixels; the stand-in FID Inception would
    say nothing about copies): the ``memorised`` gate and the audit's own report."""
    from backend.audit.params import AuditParams

    result = _run(ctx, "audit", AuditParams(pixels_only=True), "audit")
    return {**result["record"], "markdown": result["report"]}


def stage_evaluate(ctx: DemoContext) -> dict:
    from backend.config.presets import load_preset
    from backend.metrics.evaluate_params import EvaluateParams

    samples = int(load_preset(ctx.preset).get("inpaint", {}).get("samples", 3))  # Set k = sample k of each image
    params = EvaluateParams(
        fid_inception=_weights(ctx)["fid_inception"],
        pairs=ctx.plan.eval_pairs,
        subsets=min(3, samples),
        seed=ctx.seed,
        device=None if ctx.device == "auto" else ctx.device,
    )
    result = _run(ctx, "evaluate", params, "evaluate")
    del result["summary"]  # the demo's record is what the evaluation stored
    return result


def stage_segment(ctx: DemoContext) -> dict:
    from backend.segmentation.params import SegmentParams
    from backend.segmentation.report import write_report

    params = SegmentParams(
        preset=ctx.preset, overrides=ctx.plan.segment_overrides, experiments=("real", "synthetic", "augment", "small-n")
    )
    runs = _run(ctx, "segment", params, "segment")
    # Table 6b (Real / + Diff / + Mask-Diff / + both) over several seeds; the paper's tables keep one
    mix = replace(params, experiments=("mix",), seeds=ctx.plan.mix_seeds)
    return {"runs": runs, "mix": _run(ctx, "segment", mix, "segment (mix)"), "report": write_report(ctx.ws)}


def stage_survey(ctx: DemoContext) -> dict:
    from backend.survey import SurveyConfig, create_survey, get_survey, simulate_raters
    from backend.survey.report import write_report

    name = "demo-simulated"
    try:
        survey = get_survey(ctx.ws, name)
    except DiffGenError:
        counts = dict(zip(("real", "inpainted", "styled"), ctx.plan.survey_counts))
        survey = create_survey(ctx.ws, SurveyConfig(name, counts, seed=ctx.seed))
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
    Stage("synthesize", "Mask-guided synthesis from the mask bank (Mask-Diff)", stage_synthesize),
    Stage("style", "Style transfer (DiffuseIT + ZeCon)", stage_style),
    Stage("audit", "Memorisation audit (each sample's nearest training image)", stage_audit),
    Stage("evaluate", "FID and MS-SSIM (Tables 1-2)", stage_evaluate),
    Stage("segment", "Segmentation experiments (Tables 3-6)", stage_segment),
    Stage("survey", "Blinded survey statistics on simulated raters (Table 7)", stage_survey),
    Stage("report", "Report", stage_report, always=True),
]
