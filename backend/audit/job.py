"""The audit as a job (``diffgen audit``, the demo's audit stage, ``diffgen jobs add audit``):
the audit, its report, and what the command prints, stored as the job's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.audit.params import AuditParams
from backend.audit.report import write_audit_report
from backend.audit.run import AuditResult, audit_samples, summary_record
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class AuditJobResult(JobResult):
    """The audit's record (what the results table keeps, :func:`summary_record`), its report
    (workspace-relative), each set's ``[memorised, samples]`` and the closest pair in words."""

    record: dict[str, Any]
    report: str
    html: str
    sets: dict[str, list[int]]
    closest: str


def closest_pair(ws: Workspace, result: AuditResult) -> str:
    """The sample nearest to a training image, which image, and its score ('' without samples)."""
    closest = min(result.verdicts, key=lambda v: v.ratio, default=None)
    if closest is None:
        return ""
    mirrored = "" if closest.flip == "none" else f", {closest.flip}ly mirrored"
    return (
        f"sample {closest.sample_id} ({closest.set_name}) to training image {ws.image(closest.nearest_image_id).name}"
        f"{mirrored}, score {closest.ratio:.3f} (threshold {closest.threshold:.3f})"
    )


def run_audit(ws: Workspace, params: AuditParams, ctx: JobContext) -> AuditJobResult:
    """Audit the samples of ``params.set_name`` (or all) and write the report. Cancelling stops
    before the new distances are stored (those of an earlier run stay)."""
    from backend.config.settings import configured_weights
    from backend.metrics.fid import load_fid_inception

    params.validate()
    use_features = not params.pixels_only and (params.fid_inception or configured_weights("fid_inception"))
    extractor = load_fid_inception(params.fid_inception, params.device) if use_features else None

    def progress(done: int, total: int, message: str) -> None:
        ctx.report(done, total, message)
        ctx.check_cancel("audit cancelled; the distances of this run were not stored")

    result = audit_samples(ws, params.set_name, params.config(), extractor, progress)
    md, html = write_audit_report(ws, result)
    sets: dict[str, list[int]] = {}
    for v in result.verdicts:
        counts = sets.setdefault(v.set_name, [0, 0])
        counts[0] += v.memorised
        counts[1] += 1
    return AuditJobResult(
        summary=result.summary,
        record=summary_record(result),
        report=ws.rel(md),
        html=ws.rel(html),
        sets=dict(sorted(sets.items())),
        closest=closest_pair(ws, result),
    )
