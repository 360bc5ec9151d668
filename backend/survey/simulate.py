"""Simulated raters: complete, submitted answers for demos and tests (labelled simulated)."""

from __future__ import annotations

import numpy as np

from backend.survey.model import QUALITY, Rater, Survey, get_rater, items, raters
from backend.workspace.store import Workspace, now


def simulate_raters(
    ws: Workspace,
    survey: Survey,
    n_raters: int = 3,
    seed: int = 0,
    accuracy: float = 0.7,
    consistency: float = 0.8,
    quality_probs: tuple[float, float, float] = (0.6, 0.3, 0.1),
) -> list[Rater]:
    """Fill complete, submitted answers for raters named ``simulated-N`` (flagged simulated).

    For demos and tests only; reports label them. Each item has one latent image and mask
    quality (drawn from ``quality_probs``) shared by all simulated raters, who report it
    with probability ``consistency`` and a neighbouring grade otherwise, so inter-rater
    agreement is meaningful. Real/fake calls are right with probability ``accuracy``.
    """
    rng = np.random.default_rng(seed)
    # in drawing terms, not code order (random), so a seed gives the same answers per item
    its = sorted(items(ws, survey), key=lambda i: (i["truth"], i["image_id"] or 0, i["sample_id"] or 0))
    latent = {
        q: rng.choice(3, len(its), p=np.asarray(quality_probs) / sum(quality_probs)) for q in ("image_quality", "mask_quality")
    }
    taken = {r.name for r in raters(ws, survey)}
    made = []
    number = 1
    for _ in range(n_raters):
        while f"simulated-{number}" in taken:
            number += 1
        name = f"simulated-{number}"
        taken.add(name)
        rows = []
        for n, it in enumerate(its):
            grades = {}
            for q, lat in latent.items():
                g = lat[n] if rng.random() < consistency else int(np.clip(lat[n] + rng.choice([-1, 1]), 0, 2))
                grades[q] = QUALITY[g]
            is_real = it["truth"] == "real"
            says_real = is_real if rng.random() < accuracy else not is_real
            rows.append((it["id"], grades["image_quality"], grades["mask_quality"], "real" if says_real else "fake"))
        with ws.transaction() as c:
            rid = c.execute(
                "INSERT INTO raters (survey_id, name, seed, simulated, submitted_at) VALUES (?,?,?,1,?)",
                (survey.id, name, int(rng.integers(2**31)), now()),
            ).lastrowid
            c.executemany(
                "INSERT INTO survey_answers (rater_id, item_id, image_quality, mask_quality,"
                " real_fake, comment, answered_at) VALUES (?,?,?,?,?,'',?)",
                [(rid, *r, now()) for r in rows],
            )
        made.append(get_rater(ws, survey, name))
    return made
