"""The review queue: each sample's model, cluster, gates and decision; filters that combine;
the next undecided sample in review order."""

from __future__ import annotations

import numpy as np
import pytest

from backend.gates import GateScore
from backend.workspace import now
from backend.workspace.review_queue import ReviewFilter, counts, decided, in_review_order, next_undecided, review_items


@pytest.fixture
def queue_ws(demo_ws):
    """Image 1: a sample of model 'm1' with a styled child; image 2: two samples, no model.
    Clustering: image 1 in cluster 0, image 2 in cluster 1."""
    a, b = demo_ws.image_ids()[:2]
    with demo_ws.transaction() as c:
        model = c.execute(
            "INSERT INTO models (name, target, preset, config_json, path, created_at)"
            " VALUES ('m1', 'full', 'tiny', '{}', 'models/m1', ?)",
            (now(),),
        ).lastrowid
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, params_json, is_current, created_at) VALUES (2, 0, 'test', '{}', 1, ?)",
            (now(),),
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, a, 0), (cid, b, 1)])
    img = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    s1 = demo_ws.add_sample("inpainted", "Diff", img + 1, mask, source_image_id=a, model_id=model)
    s2 = demo_ws.add_sample("inpainted", "Diff", img + 2, mask, source_image_id=b)
    s3 = demo_ws.add_sample("styled", "Styled-Diff", img + 3, mask, source_image_id=a, parent_sample_id=s1.id)
    s4 = demo_ws.add_sample("inpainted", "Diff", img + 4, mask, source_image_id=b)
    demo_ws.set_gates(s1.id, [GateScore("seam", 0.9, 0.5, False), GateScore("no_polyp", 0.05, 0.15, False)])
    demo_ws.set_gates(s2.id, [GateScore("seam", 0.1, 0.5, True)])
    demo_ws.set_review(s4.id, "keep", "fine")
    return demo_ws, (s1.id, s2.id, s3.id, s4.id)


def test_items_carry_what_the_filters_ask(queue_ws):
    ws, (s1, s2, s3, s4) = queue_ws
    items = review_items(ws)
    assert [i.sample_id for i in items] == [s1, s3, s2, s4]  # by source; a child after its parent
    by = {i.sample_id: i for i in items}
    assert (by[s1].model, by[s1].cluster, by[s1].failed_gates, by[s1].scored) == ("m1", 0, ("no_polyp", "seam"), True)
    assert (by[s2].model, by[s2].cluster, by[s2].failed_gates, by[s2].scored) == ("", 1, (), True)
    assert (by[s3].scored, by[s3].set_name, by[s4].decision) == (False, "Styled-Diff", "keep")
    assert counts(items) == {"keep": 1, "reject": 0, "undecided": 3}


@pytest.mark.parametrize(
    ("flt", "wanted"),
    [
        (ReviewFilter(), [0, 2, 1, 3]),
        (ReviewFilter(gates="passed"), [1]),  # scored, passed all; unscored samples are not "passed"
        (ReviewFilter(gates="failed"), [0]),
        (ReviewFilter(gates="seam", model="m1"), [0]),
        (ReviewFilter(gates="copy"), []),
        (ReviewFilter(set_name="Diff", cluster=1), [1, 3]),
        (ReviewFilter(set_name="Diff", cluster=1, decision="undecided"), [1]),
        (ReviewFilter(model="", decision="keep"), [3]),
    ],
)
def test_filters_combine(queue_ws, flt, wanted):
    ws, ids = queue_ws
    assert [i.sample_id for i in review_items(ws) if flt.matches(i)] == [ids[k] for k in wanted]


def test_next_undecided_goes_on_in_order_and_wraps(queue_ws):
    ws, (s1, s2, s3, s4) = queue_ws
    items = review_items(ws)
    assert next_undecided(items, s1) == s3
    assert next_undecided(items, s2) == s1  # s4 is kept: wraps to the start
    assert next_undecided(items, None) == s1
    items = [decided(i, "reject") if i.sample_id != s2 else i for i in items]
    assert next_undecided(items, s2) is None  # the only undecided one is the current one
    with pytest.raises(ValueError, match="decision 'maybe'"):
        decided(items[0], "maybe")
    assert [i.sample_id for i in in_review_order(reversed(items))] == [s1, s3, s2, s4]
