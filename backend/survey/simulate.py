"""Simulated raters: complete, submitted answers for demos and tests (labelled simulated)."""

from __future__ import annotations

import json

import numpy as np

from backend.survey.model import Rater, Survey, get_rater, items, raters, template_of
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

    For demos and tests only; reports label them. Each item has one latent answer to each
    question of the survey's template (drawn from ``quality_probs`` on a three-point scale,
    evenly otherwise) shared by all simulated raters, who report it with probability
    ``consistency`` and a neighbouring answer otherwise, so inter-rater agreement is
    meaningful. Calls of the truth question (real/fake) are right with probability ``accuracy``.
    """
    rng = np.random.default_rng(seed)
    template = template_of(ws, survey)
    graded = [q for q in template.questions if not q.truth]
    truth = template.truth_question
    # in drawing terms, not code order (random), so a seed gives the same answers per item
    its = sorted(items(ws, survey), key=lambda i: (i["truth"], i["image_id"] or 0, i["sample_id"] or 0))
    latent = {}
    for q in graded:
        n = len(q.answers)
        p = np.asarray(quality_probs) / sum(quality_probs) if n == 3 else np.full(n, 1 / n)
        latent[q.name] = rng.choice(n, len(its), p=p)
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
            values = {}
            for q in graded:
                lat = latent[q.name][n]
                g = lat if rng.random() < consistency else int(np.clip(lat + rng.choice([-1, 1]), 0, len(q.answers) - 1))
                values[q.name] = q.values[g]
            if truth:
                is_real = it["truth"] == "real"
                says_real = is_real if rng.random() < accuracy else not is_real
                values[truth.name] = "real" if says_real else "fake"
            rows.append((it["id"], json.dumps(values)))
        with ws.transaction() as c:
            rid = c.execute(
                "INSERT INTO raters (survey_id, name, seed, simulated, submitted_at) VALUES (?,?,?,1,?)",
                (survey.id, name, int(rng.integers(2**31)), now()),
            ).lastrowid
            c.executemany(
                "INSERT INTO survey_answers (rater_id, item_id, answers_json, comment, answered_at) VALUES (?,?,?,'',?)",
                [(rid, *r, now()) for r in rows],
            )
        made.append(get_rater(ws, survey, name))
    return made
