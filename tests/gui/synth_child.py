"""A job child whose ``synthesize`` stage is a stand-in: run as ``python synth_child.py _job-child WS JOB``.

The editor's Place polyp tool queues a real ``synthesize`` job through the app's queue and
worker; in this child the stage makes, for each drawn wanted mask of each image, the samples a
generator would store (the source with a reddish blob painted inside the wanted mask, the wanted
mask as the sample's mask) and records ``wanted_mask`` as the generator does, so that Review's
outline is tested on what the app really stores, without a diffusion model.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from backend.cli import main  # noqa: E402
from backend.io.images import read_png_fast  # noqa: E402
from backend.jobs import queue as jobs  # noqa: E402
from backend.jobs.kinds import JobSpec  # noqa: E402
from backend.jobs.params import JobResult  # noqa: E402
from backend.synthesis.params import SynthesizeParams  # noqa: E402
from backend.synthesis.wanted import drawn_paths  # noqa: E402

POLYP = np.array([200, 90, 80], np.float32)


def run_fake_synthesize(ws, params: SynthesizeParams, ctx) -> JobResult:
    """Stand-in samples for the one drawn wanted mask the editor queued (its file, by path)."""
    (queued,) = params.masks
    ids = params.selection.require(ws, "synthesize")
    wanted = [(i, p) for i in ids for p in drawn_paths(ws, i) if p == Path(queued)]
    assert wanted, (queued, ids)
    total, done = len(wanted) * (params.samples or 1), 0
    for image_id, path in wanted:
        rgb, mask = ws.read_image(image_id), read_png_fast(path, grey=True)
        rel = path.relative_to(ws.root).as_posix()
        for k in range(params.samples or 1):
            out = rgb.astype(np.float32)
            inside = mask > 0
            out[inside] = 0.35 * out[inside] + 0.65 * POLYP * (0.8 + 0.1 * k)
            ws.add_sample(
                "synthesized",
                params.set_name or "Mask-Diff",
                np.clip(out, 0, 255).astype(np.uint8),
                mask,
                source_image_id=image_id,
                job_id=ctx.job_id,
                seed=k,
                params={"wanted_mask": rel, "wanted_how": "drawn"},
            )
            done += 1
            ctx.report(done, total, f"sample {done} of {total}")
    return JobResult(summary=f"{done} stand-in samples")


def register(module: str) -> dict[str, JobSpec]:
    return {"synthesize": JobSpec(f"{module}:run_fake_synthesize", "backend.synthesis.params:SynthesizeParams")}


if __name__ == "__main__":
    jobs.REGISTRY.update(register(__name__))
    sys.exit(main(sys.argv[1:]))
