"""Clustering: KMeans separates planted groups; runs are stored, current, cached, drawn."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _metrics_helpers import save_random_inception
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from backend.cli import main
from backend.clustering.job import balance_halves, kmeans_labels, run_cluster
from backend.clustering.params import ClusterParams
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.errors import BadInputError, Cancelled
from backend.features import InceptionFeatures, pair_features
from backend.io.files import write_png
from backend.io.images import read_png_fast
from backend.jobs.context import JobContext
from backend.workspace import Workspace


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_random_inception(tmp_path_factory.mktemp("w") / "inception_v3_random.pth")


def fast_extractor(weights) -> InceptionFeatures:
    """The real loader; 75 px input only to keep tests quick."""
    return dataclasses.replace(InceptionFeatures.from_settings(str(weights), device="cpu"), input_size=75)


def test_kmeans_recovers_planted_blobs_like_sklearn():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 15)
    centres = rng.normal(0, 10, (4, 64))
    feats = centres[truth] + rng.normal(0, 1, (60, 64))
    labels = kmeans_labels(feats, 4, seed=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    ref = KMeans(4, random_state=0, n_init=10).fit_predict(feats)
    assert adjusted_rand_score(ref, labels) == 1.0
    sizes = np.bincount(labels)
    assert list(sizes) == sorted(sizes, reverse=True)  # cluster 0 is the largest


def test_image_and_mask_halves_weigh_equally():
    rng = np.random.default_rng(1)
    f = np.concatenate([rng.random((6, 2048)) * 1e-9, rng.random((6, 2048)) * 50], axis=1)
    b = balance_halves(f)
    np.testing.assert_allclose(np.linalg.norm(b[:, :2048], axis=1), 1)
    np.testing.assert_allclose(np.linalg.norm(b[:, 2048:], axis=1), 1)
    np.testing.assert_allclose(b[:, :2048] * np.linalg.norm(f[:, :2048], axis=1, keepdims=True), f[:, :2048])


@pytest.fixture
def colour_ws(tmp_path):
    """Planted groups: red, green and blue tissue-like images with round masks."""
    rng = np.random.default_rng(0)
    colours = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
    truth = {}
    yy, xx = np.mgrid[0:64, 0:64]
    for g, (name, rgb) in enumerate(colours.items()):
        for i in range(5):
            im = np.clip(np.array(rgb) + rng.normal(0, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
            cx, cy, r = rng.integers(20, 44, 2).tolist() + [int(rng.integers(6, 14))]
            mask = (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r).astype(np.uint8) * 255
            write_png(tmp_path / "data" / "images" / f"{name}{i}.png", im)
            write_png(tmp_path / "data" / "masks" / f"{name}{i}.png", mask)
            truth[f"{name}{i}"] = g
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, tmp_path / "data")
    return ws, truth


def test_run_cluster_separates_colour_groups_through_inception(colour_ws, weights):
    ws, truth = colour_ws
    res = run_cluster(ws, ClusterParams(k=3, seed=0, min_cluster_size=2), JobContext(), extractor=fast_extractor(weights))
    names = {r.id: r.name for r in ws.images()}
    labels = [ws.cluster_of(i) for i in names]
    assert adjusted_rand_score([truth[names[i]] for i in names], labels) == 1.0
    assert res.sizes == (5, 5, 5) and res.small_clusters == ()


def test_runs_are_stored_current_cached_and_drawn(demo_ws, weights, tmp_path):
    ex = fast_extractor(weights)
    calls: list[int] = []
    ex.model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    first = run_cluster(demo_ws, ClusterParams(k=3, seed=0, min_cluster_size=5), JobContext(), extractor=ex)
    assert sum(calls) == 24  # 12 images + 12 masks
    calls.clear()
    second = run_cluster(demo_ws, ClusterParams(k=5, seed=1, min_cluster_size=3), JobContext(), extractor=ex)
    assert calls == []  # another k costs no network pass
    rows = demo_ws.query("SELECT id, k, is_current, sheet_path FROM clusterings ORDER BY id")
    assert [(r["k"], r["is_current"]) for r in rows] == [(3, 0), (5, 1)]
    assert demo_ws.current_clustering_id() == second.clustering_id
    got = [demo_ws.cluster_of(i) for i in demo_ws.image_ids()]
    assert sorted(set(got)) == list(range(5)) and tuple(np.bincount(got).tolist()) == second.sizes
    assert second.small_clusters == tuple(c for c, n in enumerate(second.sizes) if n < 3)
    sheet = read_png_fast(demo_ws.path(rows[1]["sheet_path"]))
    assert sheet.shape[0] == 5 * (96 + 8)  # one row of thumbnails per cluster
    assert first.sheet != second.sheet


def test_raw_features_run_clusters_the_plain_concatenation(demo_ws, weights):
    ex = fast_extractor(weights)
    res = run_cluster(demo_ws, ClusterParams(preset="diffuse-gen", k=3, min_cluster_size=1), JobContext(), extractor=ex)
    ids = [r.id for r in demo_ws.images("current_mask_id IS NOT NULL")]
    expected = kmeans_labels(pair_features(demo_ws, ids, ex).astype(np.float64), 3, seed=0)
    assert [demo_ws.cluster_of(i) for i in ids] == expected.tolist()
    stored = json.loads(demo_ws.query("SELECT params_json FROM clusterings WHERE id = ?", (res.clustering_id,))[0][0])
    assert stored["features"] == "raw"


def test_too_many_clusters_and_cancel_leave_nothing(demo_ws, weights):
    with pytest.raises(BadInputError, match="cannot make 13 clusters from 12 images"):
        run_cluster(demo_ws, ClusterParams(k=13), JobContext(), extractor=fast_extractor(weights))
    with pytest.raises(Cancelled):
        run_cluster(demo_ws, ClusterParams(k=2), JobContext(cancel=lambda: True), extractor=fast_extractor(weights))
    assert demo_ws.query("SELECT COUNT(*) FROM clusterings")[0][0] == 0
    with pytest.raises(BadInputError, match="unknown cluster parameter 'kk'; known: preset, overrides, k, seed"):
        ClusterParams.from_dict({"kk": 2})


def test_cli_cluster_at_299_reports_small_clusters_and_missing_weights(tmp_path, weights, capsys):
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, write_demo_dataset(tmp_path / "data", count=5, size=64, seed=2))
    assert main(["cluster", "-w", str(ws.root), "--k", "20"]) == 1
    assert "cannot make 20 clusters from 5 images" in capsys.readouterr().err
    assert main(["cluster", "-w", str(ws.root), "--preset", "tiny"]) == 1
    assert "Pretrained weights for inception" in capsys.readouterr().err
    assert main(["cluster", "-w", str(ws.root), "--k", "3", "--min-cluster-size", "2", "--inception-weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "5 images in 3 clusters" in out and "Cluster sheet:" in out
    sizes = np.bincount([ws.cluster_of(i) for i in ws.image_ids()])
    assert ("fewer than 2 images" in out) == bool((sizes < 2).any())
    assert ws.query("SELECT extractor FROM clusterings")[0][0].endswith("/299px")
