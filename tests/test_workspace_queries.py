"""The workspace's query API (what the views read), against counts made by hand."""

from __future__ import annotations

import numpy as np
import pytest

from backend.diffusion.registry import register_model
from backend.workspace import queries, review_queue


def _cluster(ws, labels: dict[int, int]) -> int:
    with ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at)"
            " VALUES (?, 0, 'test', 1, '2024-01-01T00:00:00')",
            (len(set(labels.values())),),
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, k) for i, k in labels.items()])
    return cid


def test_review_counts_each_source(demo_ws):
    a, b = demo_ws.image_ids()[:2]
    assert queries.sample_kinds(demo_ws) == []
    made = {}
    for image_id, n in ((a, 3), (b, 2)):
        img, mask = demo_ws.read_image(image_id), demo_ws.read_mask(demo_ws.current_mask(image_id))
        made[image_id] = [
            demo_ws.add_sample("inpainted", "Diff", np.roll(img, k + 1, 1), mask, source_image_id=image_id) for k in range(n)
        ]
    demo_ws.set_review(made[a][0].id, "keep")
    demo_ws.set_review(made[a][1].id, "reject")
    demo_ws.set_review(made[b][0].id, "keep")
    items = review_queue.review_items(demo_ws)
    assert review_queue.counts(i for i in items if i.source_image_id == a) == {"keep": 1, "reject": 1, "undecided": 1}
    assert review_queue.counts(i for i in items if i.source_image_id == b) == {"keep": 1, "reject": 0, "undecided": 1}
    assert {i.source_name for i in items if i.source_image_id == a} == {demo_ws.image(a).name}
    img, mask = demo_ws.read_sample(made[a][0])
    demo_ws.add_sample("styled", "Styled-Diff", img, mask, source_image_id=a)
    assert queries.sample_kinds(demo_ws) == ["inpainted", "styled"]


def test_edited_images_and_clusters(demo_ws):
    ids = demo_ws.image_ids()
    assert queries.edited_image_ids(demo_ws) == set() and queries.current_clustering(demo_ws) is None
    demo_ws.add_mask_version(ids[4], np.zeros((64, 64), np.uint8), "erode", {"pixels": 2})
    assert queries.edited_image_ids(demo_ws) == {ids[4]}
    cid = _cluster(demo_ws, {i: i % 3 for i in ids})
    assert queries.current_clustering(demo_ws).id == cid
    assert queries.cluster_sizes(demo_ws) == [(k, sum(1 for i in ids if i % 3 == k)) for k in range(3)]
    assert queries.cluster_assignments(demo_ws)[ids[5]] == ids[5] % 3


def test_the_preset_a_run_would_use_follows_the_model(demo_ws, tmp_path):
    assert queries.model_preset(demo_ws, "cluster") is None
    assert queries.default_preset(demo_ws) == "paper"
    register_model(demo_ws, "full-tiny", "full", "tiny", {}, demo_ws.path("models/full"))
    assert queries.model_preset(demo_ws, "cluster") == "tiny"  # not clustered: the full-set model
    assert queries.default_preset(demo_ws) == "tiny"
    cid = _cluster(demo_ws, {i: 0 for i in demo_ws.image_ids()})
    register_model(demo_ws, "c0", "cluster", "paper", {}, demo_ws.path("models/c0"), clustering_id=cid, cluster=0)
    assert queries.model_preset(demo_ws, "cluster") == "paper"
    assert queries.model_preset(demo_ws, "full") == "tiny"
    assert queries.model_preset(demo_ws, str(demo_ws.path("models/full"))) == "tiny"
    assert queries.model_preset(demo_ws, str(tmp_path / "elsewhere")) is None
    assert queries.model_preset(demo_ws, "c0") == "paper"  # by name, as 'inpaint --model c0'
    assert queries.model_preset(demo_ws, "models/full") == "tiny"


def test_seconds_per_evaluation_from_the_last_run_with_that_preset_on_that_device(demo_ws):
    assert queries.seconds_per_evaluation(demo_ws, "tiny") is None
    for preset, seconds, evaluations, device in (
        ("tiny", 30.0, 600, "cpu"),
        ("paper", 900.0, 2880, "cuda"),
        ("tiny", 12.0, 400, "cpu"),
        ("tiny", 1.0, 500, "cuda"),
    ):
        demo_ws.add_result(queries.INPAINT_SPEED, preset, {"seconds": seconds, "evaluations": evaluations, "device": device})
    assert queries.seconds_per_evaluation(demo_ws, "tiny", "cpu") == pytest.approx(12.0 / 400)
    assert queries.seconds_per_evaluation(demo_ws, "tiny", "cuda") == pytest.approx(1.0 / 500)
    assert queries.seconds_per_evaluation(demo_ws, "tiny") == pytest.approx(1.0 / 500)  # the newest on any device
    assert queries.seconds_per_evaluation(demo_ws, "paper", "cuda") == pytest.approx(900.0 / 2880)
    assert queries.seconds_per_evaluation(demo_ws, "paper", "cpu") is None
    # a synthesis run's steps (the mask contrast: the network on two copies of a batch) time synthesis only
    demo_ws.add_result(queries.INPAINT_SPEED, "tiny", {"seconds": 9.0, "evaluations": 100, "device": "cpu", "kind": "synthesize"})
    assert queries.seconds_per_evaluation(demo_ws, "tiny", "cpu", "synthesize") == pytest.approx(9.0 / 100)
    assert queries.seconds_per_evaluation(demo_ws, "tiny", "cpu") == pytest.approx(12.0 / 400)
    assert queries.seconds_per_evaluation(demo_ws, "paper", "cuda", "synthesize") is None


def test_redraws_per_set_counts_redrawn_samples_and_their_attempts(demo_ws):
    a = demo_ws.image_ids()[0]
    img, mask = demo_ws.read_image(a), demo_ws.read_mask(demo_ws.current_mask(a))
    failed = {"seed": 1, "failed": ["no_polyp"]}
    for set_name, redraws in (("Diff", [failed, failed]), ("Diff", [failed]), ("Diff", []), ("Full-Diff", [])):
        demo_ws.add_sample(
            "inpainted", set_name, img, mask, source_image_id=a, params={"redraws": redraws} if redraws else {"retries": 2}
        )
    assert queries.redraws_per_set(demo_ws) == {"Diff": (2, 3)}
