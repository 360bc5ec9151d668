"""Survey test data shared by the survey and web rater tests."""

from __future__ import annotations

import backend.survey as sv
from backend.workspace import Workspace


def add_flipped_samples(ws: Workspace, kept_inpainted: int = 6) -> None:
    """12 'inpainted' (first ``kept_inpainted`` marked keep) and 12 'styled' samples."""
    for n, rec in enumerate(ws.images()):
        img, mask = ws.read_image(rec), ws.read_mask(rec.current_mask_id)
        s = ws.add_sample("inpainted", "Diff", img[:, ::-1].copy(), mask[:, ::-1].copy(), source_image_id=rec.id)
        ws.set_review(s.id, "keep" if n < kept_inpainted else "reject")
        ws.add_sample("styled", "Styled-Diff", img[::-1].copy(), mask[::-1].copy(), source_image_id=rec.id)


def paper_answer(image: str | None = None, mask: str | None = None, call: str | None = None, comment: str = "") -> sv.Answer:
    """An answer to the paper's (the default template's) three questions, the unanswered left out."""
    given = {"image_quality": image, "mask_quality": mask, "real_fake": call}
    return sv.Answer({q: v for q, v in given.items() if v is not None}, comment)


def make_survey(ws: Workspace, name: str = "pilot", seed: int = 1) -> sv.Survey:
    return sv.create_survey(ws, sv.SurveyConfig(name, {"real": 10, "inpainted": 10, "styled": 10}, seed=seed))


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks
