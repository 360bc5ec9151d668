"""No observable property of a survey item tells its kind (issue 32 item 3).

Before the fix, PNG byte size alone told synthetic items from real ones (a compressed PNG is
smaller for smoother pictures). Here 100 real and 100 synthetic items are made so that their
pixels differ in texture (the synthetic ones noisier: the case where compression leaks most),
and everything a rater can observe of each item is collected: file bytes, PNG header fields
and chunk layout, the place of the file in its folder by name and by modification time, the
item's place in the rater's order, the HTTP status, headers, body length and response time of
its image and mask. A logistic regression on all of them, 5-fold stratified cross-validation,
must do no better than chance: a one-sided binomial test of the number of correct
predictions against p = 0.5 must not reject at alpha = 0.001 (before the fix: accuracy 1.0,
p = 6e-61).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from starlette.testclient import TestClient
from survey_support import _png_chunks

from backend import survey as sv
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.survey.links import issue_link, verify_token
from backend.web import create_app
from backend.workspace import Workspace

N = 100  # items of each kind
ALPHA = 0.001


def _workspace(tmp_path) -> Workspace:
    """100 real images and, of each, a noisier 'synthetic' sample with a shifted mask."""
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, write_demo_dataset(tmp_path / "data", count=N, size=32, seed=3))
    rng = np.random.default_rng(0)
    for rec in ws.images():
        img, mask = ws.read_image(rec), ws.read_mask(rec.current_mask_id)
        noisy = np.clip(img.astype(np.int16) + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
        ws.add_sample("inpainted", "Diff", noisy, np.roll(mask, 3, axis=1), source_image_id=rec.id)
    return ws


def _header_fields(data: bytes) -> list[float]:
    """Width, height, bit depth, colour type and the chunk layout (count, order as a number)."""
    chunks = _png_chunks(data)
    layout = int.from_bytes(b"".join(chunks)[:16].ljust(16, b"\0"), "big") % 1_000_003
    return [int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24], data[25], len(chunks), layout]


def _observations(ws: Workspace, survey: sv.Survey) -> tuple[np.ndarray, np.ndarray]:
    """One row of observable properties per item, and its kind (1 synthetic, 0 real)."""
    rater = sv.add_rater(ws, survey, "observer")
    token = issue_link(ws, rater)
    link = verify_token(ws, survey, token)
    assert link is not None
    order = {item_id: pos for pos, item_id in enumerate(sv.rater_order(ws, survey, link.rater))}
    folder = sorted(ws.path(survey.params["folder"]).iterdir())
    by_name = {f.name: n for n, f in enumerate(folder)}
    by_time = {f.name: n for n, f in enumerate(sorted(folder, key=lambda f: (f.stat().st_mtime_ns, f.name)))}
    headers: dict[tuple, int] = {}
    rows, kinds = [], []
    with TestClient(create_app(ws, survey)) as client:
        state_codes = [it["code"] for it in client.get(f"/r/{token}/state").json()["items"]]
        for item in sv.items(ws, survey):
            code = link.code(item["id"])
            row: list[float] = [order[item["id"]], state_codes.index(code)]
            for key, what in (("image_path", "image"), ("mask_path", "mask")):
                path = ws.path(item[key])
                data = path.read_bytes()
                row += [len(data), *_header_fields(data), by_name[path.name], by_time[path.name]]
                start = time.perf_counter()
                response = client.get(f"/r/{token}/{what}/{code}")
                elapsed = time.perf_counter() - start
                assert response.content == data
                shown = tuple(sorted((k, v) for k, v in response.headers.items() if k != "date"))
                row += [response.status_code, len(response.content), headers.setdefault(shown, len(headers)), elapsed]
            rows.append(row)
            kinds.append(int(item["truth"] != "real"))
    return np.array(rows, dtype=float), np.array(kinds)


def test_no_observable_property_predicts_the_kind_of_an_item(tmp_path):
    ws = _workspace(tmp_path)
    survey = sv.create_survey(ws, sv.SurveyConfig("leak", {"real": N, "inpainted": N}, size=32))
    x, y = _observations(ws, survey)
    assert x.shape == (2 * N, 2 + 2 * 13) and y.sum() == N
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, x, y, cv=folds, scoring="accuracy").mean()
    correct = round(accuracy * len(y))
    p = binomtest(correct, len(y), 0.5, alternative="greater").pvalue
    print(f"leak test: cross-validated accuracy {accuracy:.3f} over {len(y)} items, one-sided binomial p = {p:.3g}")
    assert p > ALPHA, f"an item's observable properties predict its kind: accuracy {accuracy:.3f}, p = {p:.3g}"
    for key in ("image_path", "mask_path"):  # one byte count per file role: it depends on the size alone
        assert len({ws.path(it[key]).stat().st_size for it in sv.items(ws, survey)}) == 1
