"""The job kinds, each declared once: where its code lives, how a form names it and what in
the workspace it changes. Names only, so that listing the kinds (the CLI's ``jobs add KIND``
choices) loads no stage and no workspace; what a kind takes, its flags and its form rows, comes
from its parameters dataclass (:func:`backend.config.fields.param` declarations)."""

from __future__ import annotations

from dataclasses import dataclass, fields

CHANGES = ("images", "samples", "masks", "clusters", "models")  # what a finished job may change (views refresh)

# The lanes the app runs jobs in, each one job at a time, in queue order. "device": every kind
# that may use the GPU (training, generation, segmentation, metrics), one at a time because one
# GPU holds one such job's memory. "cpu": the short CPU-only work a button starts and the user
# waits for (import, export, a survey and its report). Why a lane of its own: a training job holds
# the device lane for hours, and an export queued behind it would start only when it ends; put
# first in that lane it would still wait for the running job. Beside it, it starts at once and
# shares nothing with the GPU job but the workspace database, which is made for several writers.
LANES = ("device", "cpu")


@dataclass(frozen=True)
class JobSpec:
    """A job kind: the stage function and its parameters class as "module:name" (in a module
    light enough to import when a job is queued), its ``label`` in forms, what in the workspace
    it ``changes`` (a subset of :data:`CHANGES`: views showing that refresh when such a job
    ends), whether the Generate tab's form offers it (a survey is made in the Survey tab) and
    the ``lane`` (one of :data:`LANES`) the app runs it in."""

    run: str
    params: str
    label: str = ""
    changes: tuple[str, ...] = ()
    in_form: bool = True
    lane: str = "device"

    @property
    def fields(self) -> tuple[str, ...]:
        """The form rows of this kind, in field order (imports the parameters class)."""
        from backend.config.fields import FORM, declared

        rows: list[str] = []
        for f in fields(declared(self.params)):
            row = f.metadata.get(FORM)
            name = f.name if row is True else row
            if name and name not in rows:
                rows.append(name)
        return tuple(rows)


# fmt: off
REGISTRY: dict[str, JobSpec] = {  # one line per kind, in the order forms list them
    "inpaint": JobSpec("backend.inpaint.job:run_inpaint", "backend.inpaint.params:InpaintParams", "Inpaint (RePaint)", ("samples",)),  # noqa: E501
    "style": JobSpec("backend.style.job:run_style", "backend.style.params:StyleParams", "Style transfer", ("samples",)),
    "synthesize": JobSpec("backend.synthesis.generator:run_synthesize", "backend.synthesis.params:SynthesizeParams", "Mask-guided synthesis", ("samples",)),  # noqa: E501
    "train": JobSpec("backend.diffusion.training:run_train", "backend.diffusion.train_params:TrainParams", "Train diffusion model", ("models",)),  # noqa: E501
    "masks": JobSpec("backend.jobs.queue:run_masks", "backend.jobs.mask_params:MaskParams", "Mask operation", ("masks",)),
    "cluster": JobSpec("backend.clustering.job:run_cluster", "backend.clustering.params:ClusterParams", "Cluster images", ("clusters",)),  # noqa: E501
    "segment": JobSpec("backend.segmentation.experiments:run_segment", "backend.segmentation.params:SegmentParams", "Segmentation experiment"),  # noqa: E501
    "survey": JobSpec("backend.survey.create:run_survey_create", "backend.survey.model:SurveyParams", "Create a survey", in_form=False, lane="cpu"),  # noqa: E501
    "survey-results": JobSpec("backend.survey.report_jobs:run_survey_results", "backend.survey.model:SurveyResultsParams", "Survey results", in_form=False, lane="cpu"),  # noqa: E501
    "survey-report": JobSpec("backend.survey.report_jobs:run_survey_report", "backend.survey.model:SurveyReportParams", "Survey report", in_form=False, lane="cpu"),  # noqa: E501
    "import": JobSpec("backend.data.importer:run_import", "backend.data.import_params:ImportParams", "Import a dataset", ("images", "masks"), in_form=False, lane="cpu"),  # noqa: E501
    "import-set": JobSpec("backend.data.sets:run_import_set", "backend.data.import_params:ImportSetParams", "Import an external set", ("samples",), in_form=False, lane="cpu"),  # noqa: E501
    "import-samples": JobSpec("backend.jobs.bundles:run_import_samples", "backend.jobs.bundle_params:ImportSamplesParams", "Merge shard bundles", ("samples",), in_form=False, lane="cpu"),  # noqa: E501
    "export": JobSpec("backend.exporters.job:run_export", "backend.exporters.params:ExportParams", "Export kept samples", in_form=False, lane="cpu"),  # noqa: E501
    "evaluate": JobSpec("backend.metrics.evaluate:run_evaluate", "backend.metrics.evaluate_params:EvaluateParams", "Evaluate (FID, MS-SSIM)", in_form=False),  # noqa: E501
    "fid": JobSpec("backend.metrics.evaluate:run_fid", "backend.metrics.evaluate_params:FidParams", "FID of two sets", in_form=False),  # noqa: E501
    "msssim": JobSpec("backend.metrics.evaluate:run_msssim", "backend.metrics.evaluate_params:MsssimParams", "MS-SSIM of a set", in_form=False),  # noqa: E501
    "gates": JobSpec("backend.inpaint.quality:run_gates", "backend.inpaint.quality_params:GatesParams", "Score quality gates", ("samples",), in_form=False, lane="cpu"),  # noqa: E501
    "audit": JobSpec("backend.audit.job:run_audit", "backend.audit.params:AuditParams", "Memorisation audit", ("samples",), in_form=False),  # noqa: E501
    "judge": JobSpec("backend.synthesis.judge:run_judge", "backend.synthesis.judge_params:JudgeParams", "Train the adherence judge", in_form=False),  # noqa: E501
    "sample": JobSpec("backend.diffusion.sampling:run_sample", "backend.diffusion.sample_params:SampleParams", "Unconditional samples", ("samples",), in_form=False),  # noqa: E501
}
# fmt: on


def lane_kinds(lane: str) -> tuple[str, ...]:
    """The kinds the app runs in ``lane``."""
    return tuple(kind for kind, spec in REGISTRY.items() if spec.lane == lane)
