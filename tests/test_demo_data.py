"""The procedural demo dataset: deterministic to the byte, varied, and importable."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from backend.data.demo import generate_item, load_recipe, write_demo_dataset
from backend.io.images import load_mask, load_rgb


def files_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = files_bytes(write_demo_dataset(tmp_path / "a", count=6, size=48, seed=7))
    b = files_bytes(write_demo_dataset(tmp_path / "b", count=6, size=48, seed=7))
    c = files_bytes(write_demo_dataset(tmp_path / "c", count=6, size=48, seed=8))
    assert len(a) == 12 and sorted(a) == sorted(b) == sorted(c)
    assert a == b  # two separate writes, byte for byte
    assert sum(a[k] != c[k] for k in a if k.startswith("images")) == 6  # every image changes with the seed
    assert not any(name.endswith(".tmp") for name in a)  # atomic writes leave no temp files


def test_layout_and_mask_format(tmp_path):
    root = write_demo_dataset(tmp_path / "d", count=4, size=40, seed=1)
    for i in range(4):
        img, img_notes = load_rgb(root / "images" / f"demo_{i:04d}.jpg")
        mask, mask_notes = load_mask(root / "masks" / f"demo_{i:04d}.png")
        assert img.shape == (40, 40, 3) and mask.shape == (40, 40)
        assert img_notes == [] and mask_notes == []  # clean 8-bit RGB and exactly binary 0/255
        assert set(np.unique(mask)) <= {0, 255}


def test_varied_styles_are_distinct_and_polyp_counts_vary():
    recipe = load_recipe()
    items = [generate_item(0, i, 64, recipe) for i in range(40)]
    styles = Counter(it.style for it in items)
    assert len(styles) >= 4
    assert {it.n_polyps for it in items} >= {1, 2}
    for it in items:  # every image has a polyp (as Kvasir-SEG), and the mask marks it
        assert it.n_polyps >= 1 and it.mask.any()
        assert (it.mask > 0).mean() >= 0.02  # readable at 64 px: at least ~80 of its 4,096 pixels

    # Styles must be tellable apart by colour alone (so clustering has something to find):
    # leave-one-out nearest-centroid on each image's mean background colour.
    feats = np.array([it.image[it.mask == 0].reshape(-1, 3).mean(0) for it in items])
    labels = np.array([it.style for it in items])
    correct = 0
    for i in range(len(items)):
        others = np.arange(len(items)) != i
        cents = {s: feats[others & (labels == s)].mean(0) for s in set(labels[others])}
        guess = min(cents, key=lambda s: np.linalg.norm(feats[i] - cents[s]))
        correct += guess == labels[i]
    assert correct / len(items) >= 0.9

    # Within a style, images still differ (different lumen, folds, polyps).
    per_style = defaultdict(list)
    for it in items:
        per_style[it.style].append(it.image.astype(np.int16))
    for imgs in per_style.values():
        if len(imgs) > 1:
            assert np.abs(imgs[0] - imgs[1]).mean() > 5


def test_the_app_the_demo_and_demo_data_make_one_demo_data_set():
    """Issue 33 item 13: the app's demo workspace had 40 images and 'diffgen demo' 30."""
    import inspect

    from backend.cli import build_parser
    from backend.data.demo import DemoDataSpec
    from backend.data.importer import ensure_demo_workspace
    from backend.demo.plan import DemoContext

    parser = build_parser()
    counts = {
        "app": inspect.signature(ensure_demo_workspace).parameters["count"].default,
        "demo": parser.parse_args(["demo"]).count,
        "demo-data": parser.parse_args(["demo-data", "x"]).count,
        "spec": DemoDataSpec().count,
        "context": DemoContext.__dataclass_fields__["count"].default,
        "writer": inspect.signature(write_demo_dataset).parameters["count"].default,
    }
    assert set(counts.values()) == {30}, counts
