"""``diffgen demo``: the whole paper pipeline, headless, on the procedural demo data.

Stages run in order; each records its outcome in the workspace (``results`` kind
``demo_stage``) so a second run skips what is finished. The first real failure stops the
run with a message naming the stage. Everything uses the ``tiny`` preset unless told
otherwise, so it runs on a laptop CPU in minutes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backend.config.paths import DEMO_COUNT
from backend.errors import Cancelled, DiffGenError
from backend.io.files import atomic_write_text
from backend.workspace import Workspace

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DemoPlan:
    """How much each stage does: enough for every table to have rows, small enough for 2 CPU
    cores in minutes. Tests run the same stages with a smaller plan."""

    train_steps_full: int = 600  # from scratch
    finetune_steps_full: int = 40  # from the shipped base model
    train_steps_cluster: int = 10  # per cluster, fine-tuned from the full-set model
    style_per_set: int = 6  # styled samples per inpainted set (the survey draws 10 of the 12)
    eval_pairs: int = 12  # MS-SSIM pairs per subset
    segment_overrides: tuple[str, ...] = (
        "segment.small_n=[8]",
        "segment.small_n_r=[3]",
        "segment.synthetic_multiples=[1, 3]",
        "segment.min_steps=20",
    )
    survey_counts: tuple[int, int, int] = (10, 10, 10)  # real, inpainted, styled
    judge_steps: int = 1000  # the adherence judge (backend/synthesis/judge.py's default: ~95 CPU-seconds)
    judge_size: int = 64
    synth_polyps: tuple[int, int] = (1, 2)  # bank polyps per Mask-Diff sample
    mix_seeds: tuple[int, ...] = (0, 1, 2)  # repeats of the Real / + Diff / + Mask-Diff / + both comparison


@dataclass
class DemoContext:
    ws: Workspace
    preset: str = "demo"
    seed: int = 0
    count: int = DEMO_COUNT
    size: int = 128
    device: str = "auto"
    from_scratch: bool = False  # train the full-set model from scratch, not from the shipped base
    sampler: str | None = None  # the inpainting stages' sampler (backend.diffusion.samplers); None: the preset's
    plan: DemoPlan = DemoPlan()
    weights: dict[str, str] = field(default_factory=dict)  # name -> file used
    progress: Progress | None = None
    cancel: Callable[[], bool] | None = None
    log: Callable[[str], None] = print

    @property
    def reports(self) -> Path:
        return self.ws.path("reports")


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: Callable[[DemoContext], dict]
    always: bool = False  # run on every call (the report: cheap, and it shows the workspace as it is now)


def stage_state(ws: Workspace, name: str) -> dict | None:
    done = ws.results("demo_stage", name)
    return done[0] if done else None


def run_stages(ctx: DemoContext, stages: list[Stage], force: bool = False) -> dict[str, dict]:
    """Run each unfinished stage; returns every stage's summary (finished earlier or now)."""
    summaries: dict[str, dict] = {}
    for i, stage in enumerate(stages, 1):
        done = stage_state(ctx.ws, stage.name)
        if done and not force and not stage.always:
            ctx.log(f"[{i}/{len(stages)}] {stage.title}: done earlier, skipped")
            summaries[stage.name] = done
            continue
        ctx.log(f"[{i}/{len(stages)}] {stage.title} ...")
        t0 = time.perf_counter()
        try:
            summary = stage.run(ctx)
        except Cancelled:
            raise
        except DiffGenError as e:
            raise DiffGenError(f"demo stopped at stage '{stage.title}': {e}") from e
        except Exception as e:  # a bug, not bad input: keep the traceback for the report
            log = ctx.reports / "demo" / "last-error.txt"
            atomic_write_text(log, traceback.format_exc())
            raise DiffGenError(
                f"demo stopped at stage '{stage.title}': {type(e).__name__}: {e} "
                f"(traceback in {log}); finished stages are kept, run again to resume"
            ) from e
        summary = {**summary, "seconds": round(time.perf_counter() - t0, 1)}
        ctx.ws.add_result("demo_stage", stage.name, summary)
        summaries[stage.name] = summary
        ctx.log(f"    done in {summary['seconds']} s")
    return summaries
