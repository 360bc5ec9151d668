"""The job kinds and where each one's code lives: names only, so that listing the kinds (the
CLI's ``jobs add KIND`` choices) loads no stage and no workspace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobSpec:
    """Where a kind's code lives, as "module:name": the stage function and its parameters
    class (in a module light enough to import when a job is queued)."""

    run: str
    params: str


REGISTRY: dict[str, JobSpec] = {
    "train": JobSpec("backend.diffusion.training:run_train", "backend.diffusion.train_params:TrainParams"),
    "inpaint": JobSpec("backend.inpaint.job:run_inpaint", "backend.inpaint.params:InpaintParams"),
    "style": JobSpec("backend.style.job:run_style", "backend.style.params:StyleParams"),
    "cluster": JobSpec("backend.clustering.job:run_cluster", "backend.clustering.params:ClusterParams"),
    "segment": JobSpec("backend.segmentation.experiments:run_segment", "backend.segmentation.params:SegmentParams"),
    "masks": JobSpec("backend.jobs.queue:run_masks", "backend.jobs.queue:MaskParams"),
    "survey": JobSpec("backend.survey.create:run_survey_create", "backend.survey.model:SurveyParams"),
    "evaluate": JobSpec("backend.metrics.evaluate:run_evaluate", "backend.metrics.evaluate_params:EvaluateParams"),
    "fid": JobSpec("backend.metrics.evaluate:run_fid", "backend.metrics.evaluate_params:FidParams"),
    "msssim": JobSpec("backend.metrics.evaluate:run_msssim", "backend.metrics.evaluate_params:MsssimParams"),
    "sample": JobSpec("backend.diffusion.sampling:run_sample", "backend.diffusion.sample_params:SampleParams"),
}
