"""``diffgen demo``: the whole pipeline, headless, on the procedural demo data."""

from __future__ import annotations

import argparse
import time

from backend.cli.common import postfix
from backend.config.paths import DEMO_COUNT, demo_workspace_dir
from backend.diffusion.samplers import SAMPLERS


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole paper pipeline headless on procedural demo data",
        description="import -> cluster -> train (full + per cluster) -> inpaint -> adherence judge + "
        "mask-guided synthesis (Mask-Diff) -> style -> audit -> FID/MS-SSIM -> segmentation -> simulated survey -> "
        "report. Resumable: "
        "a second run skips finished stages and writes the report anew.",
    )
    p.add_argument("--workspace", "-w", help="workspace folder (default: the demo workspace in the user data folder)")
    p.add_argument(
        "--preset",
        default="demo",
        help="demo (64 px, CPU, minutes; fine-tunes the shipped base model), tiny (32 px) or paper (GPU)",
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="train the full-set model from scratch instead of fine-tuning the shipped base model",
    )
    p.add_argument(
        "--sampler",
        choices=list(SAMPLERS),
        help="the inpainting stages' sampler on the preset's schedule (demo: 25 steps, jumps 5 x 2, 45 evaluations "
        "a sample): repaint (default), ddim-repaint, ddnm (DDNM+) or diffpir",
    )
    p.add_argument("--count", type=int, default=DEMO_COUNT, help="number of demo images (the app's demo workspace holds as many)")
    p.add_argument("--size", type=int, default=256, help="demo image size in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--force", action="store_true", help="run every stage again")
    p.set_defaults(func=cmd_demo)


class _Bars:
    """One tqdm bar per stage step: a new label closes the old bar."""

    def __init__(self):
        self.bar, self.label = None, None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        label, _, detail = message.partition(": ")
        if label != self.label:
            from tqdm import tqdm  # once per stage step, not per progress report

            self.close()
            self.bar, self.label = tqdm(desc=f"    {label}", total=total, dynamic_ncols=True, leave=False), label
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(postfix(detail), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_demo(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from backend.demo.plan import DemoContext, run_stages
    from backend.demo.stages import STAGES
    from backend.workspace import Workspace

    ws = Workspace.create(a.workspace or demo_workspace_dir())
    bars = _Bars()

    def log(text: str) -> None:
        bars.close()
        tqdm.write(text)

    ctx = DemoContext(
        ws,
        preset=a.preset,
        seed=a.seed,
        count=a.count,
        size=a.size,
        device=a.device,
        from_scratch=a.from_scratch,
        sampler=a.sampler,
        progress=bars,
        log=log,
    )
    how = f", inpainting sampler {a.sampler}" if a.sampler else ""
    print(f"DiffGen demo in {ws.root} (preset {a.preset}{how}, {a.count} procedural images)")
    t0 = time.perf_counter()
    summaries = run_stages(ctx, STAGES, force=a.force)
    bars.close()
    print(f"Finished in {(time.perf_counter() - t0) / 60:.1f} min.")
    rep = summaries["report"]
    print(f"Report: {rep['html']}\n        {rep['markdown']}\nOpen the workspace in the app: diffgen gui --workspace {ws.root}")
    return 0
