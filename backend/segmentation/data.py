"""What a segmentation run trains and tests on: splits, synthetic-set selection, samplers.

The held-out test set is the workspace's test-role images; without any, a random share
(``split_seed``) drawn once and stored as the test role. No test image ever reaches
training or validation, and a synthetic sample whose source image is a test image is never
used: every selection below only accepts sources from the training pool. Rejected samples
(review) are left out too, and with ``only_passed`` the samples that failed a quality gate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import torch

from backend.errors import DiffGenError
from backend.segmentation.augment import control_augment
from backend.segmentation.config import SegConfig
from backend.segmentation.model import to_input
from backend.workspace import BACKGROUND, TEST, ImageRecord, SampleRecord, Workspace, now, queries


@dataclass(frozen=True, order=True)
class ItemRef:
    """One training/evaluation pair: a real image (``image``) or a synthetic ``sample``."""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


TEST_ROLE, RANDOM_HOLD_OUT = "test role", "random hold-out"  # the two evaluation protocols
HOLD_OUT_NOTE = "random hold-out drawn by the segmentation stage"  # role_note of the images it drew


@dataclass(frozen=True)
class ImageSplit:
    test: tuple[int, ...]  # held-out real images: never trained on, never a generation source
    pool: tuple[int, ...]  # real images available for training, validation and generation
    excluded: tuple[str, ...] = ()  # why some images take no part (no mask, flagged)
    protocol: str = TEST_ROLE  # TEST_ROLE or RANDOM_HOLD_OUT
    description: str = ""  # the protocol in words, for the report


def usable_images(ws: Workspace) -> tuple[list[ImageRecord], list[str]]:
    recs, notes = [], []
    for rec in ws.images("role != ?", (BACKGROUND,)):  # frames without polyps: nothing to segment
        if rec.current_mask_id is None:
            notes.append(f"{rec.name}: no mask, not used")
        elif rec.flagged:
            notes.append(f"{rec.name}: flagged ({rec.flag_note or 'no note'}), not used")
        else:
            recs.append(rec)
    return recs, notes


def test_count(n: int, cfg: SegConfig) -> int:
    """``test_size`` images, but never more than ``test_fraction`` of them (at least one)."""
    return max(1, min(cfg.test_size, int(round(cfg.test_fraction * n))))


def hold_out_at_random(ws: Workspace, cfg: SegConfig) -> list[int]:
    """Without test-role images, draw :func:`test_count` of the usable images (``split_seed``)
    and store them as the test role with a note saying so: the hold-out is drawn once, and
    from then on no generation stage uses it either. Returns the ids drawn (none when the
    workspace has a test role already)."""
    if ws.role_counts()[TEST]:
        return []
    recs, _ = usable_images(ws)
    if len(recs) < 4:
        raise DiffGenError(f"segmentation needs at least 4 images with masks; the workspace has {len(recs)}")
    ids = [r.id for r in recs]
    drawn = sorted(int(i) for i in np.random.default_rng(cfg.split_seed).permutation(ids)[: test_count(len(ids), cfg)])
    models = len(queries.models(ws))
    note = (
        f"{HOLD_OUT_NOTE} on {now()[:10]}: {len(drawn)} of {len(ids)} images = min(test_size {cfg.test_size}, "
        f"test_fraction {cfg.test_fraction}), split_seed {cfg.split_seed}"
    )
    if models:
        note += (
            f"; {models} diffusion model{'s were' if models > 1 else ' was'} trained before, possibly on "
            "these images (mark test images before generating: diffgen import --role test / set-role)"
        )
    ws.set_role(drawn, TEST, note)
    return drawn


def image_split(ws: Workspace, cfg: SegConfig) -> ImageSplit:
    """Test on the test-role images; without any, on a random hold-out drawn once and stored
    as the test role (:func:`hold_out_at_random`). The pool is the usable training images."""
    hold_out_at_random(ws, cfg)
    recs, notes = usable_images(ws)
    test = [r for r in recs if r.role == TEST]
    pool = tuple(r.id for r in recs if r.role != TEST)
    if not test:
        raise DiffGenError(
            f"none of the {ws.role_counts()[TEST]} test-role images has a usable mask (unflagged): "
            "segmentation has nothing to test on"
        )
    if len(pool) < 2:
        raise DiffGenError(
            f"segmentation needs at least 2 usable training-role images to train and validate on; "
            f"the workspace has {len(pool)} (and {len(test)} test images)"
        )
    if all(r.role_note.startswith(HOLD_OUT_NOTE) for r in test):
        protocol, description = RANDOM_HOLD_OUT, f"{RANDOM_HOLD_OUT}: {test[0].role_note}"
    else:
        protocol, description = (
            TEST_ROLE,
            (
                f"{TEST_ROLE}: the {len(test)} usable images marked as held-out test "
                "images (diffgen import --role test, or set-role)"
            ),
        )
    return ImageSplit(tuple(r.id for r in test), pool, tuple(notes), protocol, description)


def split_train_val(ids: Sequence, val_fraction: float, rng: np.random.Generator) -> tuple[list, list]:
    """Random 80/20-style split; at least one item each side when there are two or more."""
    items = list(ids)
    order = rng.permutation(len(items))
    n_val = min(max(1, int(round(val_fraction * len(items)))), len(items) - 1) if len(items) > 1 else 0
    val = sorted(items[i] for i in order[:n_val])
    train = sorted(items[i] for i in order[n_val:])
    return train, val


def synthetic_sets(ws: Workspace, only_passed: bool = False) -> tuple[dict[str, list[SampleRecord]], queries.GateFilter | None]:
    """Samples grouped by ``set_name``, minus the ones a reviewer rejected and, with
    ``only_passed``, minus the ones that failed a quality gate; the gate filter's record
    (None without ``only_passed``)."""
    rejected = {r[0] for r in ws.query("SELECT sample_id FROM reviews WHERE decision = 'reject'")}
    usable = [s for s in ws.samples() if s.id not in rejected]
    gates = queries.gate_filter(ws, [s.id for s in usable]) if only_passed else None
    sets: dict[str, list[SampleRecord]] = defaultdict(list)
    for s in usable:
        if gates is None or s.id in gates.kept:
            sets[s.set_name].append(s)
    return dict(sets), gates


def test_sourced_note(sets: Mapping[str, Sequence[SampleRecord]], split: ImageSplit) -> list[str]:
    """A note when samples were made from test images (before they were held out)."""
    test = set(split.test)
    n = sum(1 for samples in sets.values() for s in samples if s.source_image_id in test)
    return (
        [
            f"{n} synthetic sample{'s were' if n > 1 else ' was'} made from test images (before they were "
            "held out): never used here"
        ]
        if n
        else []
    )


def by_source(samples: Iterable[SampleRecord], sources: Iterable[int]) -> dict[int, list[int]]:
    """Sample ids per allowed source image (samples of other sources are dropped)."""
    allowed = set(sources)
    out: dict[int, list[int]] = defaultdict(list)
    for s in samples:
        if s.source_image_id in allowed:
            out[s.source_image_id].append(s.id)
    return dict(out)


def per_source(samples: Iterable[SampleRecord], sources: Iterable[int], k: int, rng: np.random.Generator) -> list[int]:
    """Up to ``k`` random samples generated from each allowed source image."""
    chosen: list[int] = []
    for _src, ids in sorted(by_source(samples, sources).items()):
        pick = rng.permutation(ids)[:k]
        chosen += [int(i) for i in pick]
    return sorted(chosen)


def spread_selection(
    samples: Sequence[SampleRecord], sources: Iterable[int], count: int, rng: np.random.Generator
) -> list[SampleRecord]:
    """``count`` samples spread evenly over source images (Type-N: N per real image).

    Each sample's rank within its source image decides the order (first every image's
    first sample, then every second one...), random within a rank. Samples without a
    source (an external set) count as their own source.
    """
    allowed = set(sources)
    usable = [s for s in samples if s.source_image_id is None or s.source_image_id in allowed]
    shuffled = [usable[i] for i in rng.permutation(len(usable))]
    seen: dict[object, int] = defaultdict(int)
    ranked = []
    for j, s in enumerate(shuffled):
        group = s.source_image_id if s.source_image_id is not None else ("external", s.id)
        ranked.append((seen[group], j, s))
        seen[group] += 1
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [s for _, _, s in ranked[:count]]


class EpochPlan(Protocol):
    def epoch(self, rng: np.random.Generator) -> list[ItemRef]: ...
    def refs(self) -> set[ItemRef]: ...
    def __len__(self) -> int: ...


@dataclass
class FixedPlan:
    """Every item once per epoch, in a new random order."""

    items: list[ItemRef]

    def epoch(self, rng: np.random.Generator) -> list[ItemRef]:
        return [self.items[i] for i in rng.permutation(len(self.items))]

    def refs(self) -> set[ItemRef]:
        return set(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class AlphaSampler:
    """Trabucco et al.'s augmentation: each real draw is swapped, with probability alpha,
    for a synthetic sample generated from that image, chosen uniformly among its M samples."""

    real: list[int]
    synthetic: Mapping[int, Sequence[int]]
    alpha: float

    def epoch(self, rng: np.random.Generator) -> list[ItemRef]:
        out = []
        for i in rng.permutation(len(self.real)):
            image_id = self.real[i]
            cands = self.synthetic.get(image_id, ())
            if cands and rng.random() < self.alpha:
                out.append(ItemRef("sample", int(cands[int(rng.integers(len(cands)))])))
            else:
                out.append(ItemRef("image", image_id))
        return out

    def refs(self) -> set[ItemRef]:
        return {ItemRef("image", i) for i in self.real} | {
            ItemRef("sample", int(s)) for ids in self.synthetic.values() for s in ids
        }

    def __len__(self) -> int:
        return len(self.real)


@dataclass
class ItemStore:
    """Images and masks of a run, read once and resized to the network's input size.

    Unreadable files are dropped with a note naming the file, so one bad sample does not
    stop an experiment set.
    """

    ws: Workspace
    size: int
    arrays: dict[ItemRef, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    broken: set[ItemRef] = field(default_factory=set)

    def _read(self, ref: ItemRef) -> tuple[np.ndarray, np.ndarray]:
        if ref.kind == "image":
            return self.ws.read_image(ref.id), self.ws.read_mask(self.ws.current_mask(ref.id))
        return self.ws.read_sample(ref.id)

    def _describe(self, ref: ItemRef) -> str:
        if ref.kind == "image":
            return self.ws.image(ref.id).source_path
        s = self.ws.sample(ref.id)
        return f"{self.ws.path(s.image_path)} (sample {s.id}, set {s.set_name})"

    def load(self, refs: Iterable[ItemRef], keep: Iterable[ItemRef] = ()) -> list[ItemRef]:
        """Read ``refs`` (cached), drop cached arrays outside ``refs``/``keep``; return the readable ones."""
        refs = sorted(set(refs))
        wanted = set(refs) | set(keep)
        for r in [r for r in self.arrays if r not in wanted]:
            del self.arrays[r]
        ok = []
        for ref in refs:
            if ref in self.broken:
                continue
            if ref not in self.arrays:
                try:
                    img, mask = self._read(ref)
                    if img.shape[:2] != mask.shape[:2]:
                        raise DiffGenError(f"image {img.shape[:2]} and mask {mask.shape[:2]} differ in size")
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    self.broken.add(ref)
                    self.notes.append(f"skipped {self._describe(ref)}: {e}")
                    continue
                self.arrays[ref] = self._resize(img, mask)
            ok.append(ref)
        return ok

    def _resize(self, img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.size
        interp = cv2.INTER_AREA if min(img.shape[:2]) >= s else cv2.INTER_LINEAR
        img = cv2.resize(img, (s, s), interpolation=interp)
        mask = cv2.resize(mask, (s, s), interpolation=cv2.INTER_NEAREST)
        return img, np.where(mask > 127, 255, 0).astype(np.uint8)

    def stack(self, refs: Sequence[ItemRef]) -> tuple[np.ndarray, np.ndarray]:
        imgs = np.stack([self.arrays[r][0] for r in refs])
        masks = np.stack([self.arrays[r][1] for r in refs])
        return imgs, masks


def as_batch(images: np.ndarray, masks: np.ndarray, input_scale: str = "imagenet") -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 arrays -> (network input at ``input_scale``, 0/1 target of shape N,1,H,W)."""
    return to_input(images, input_scale), torch.from_numpy((masks > 127).astype(np.float32))[:, None]


class EpochDataset(torch.utils.data.Dataset):
    """One epoch's items; Control augmentation seeded per (run seed, epoch, position)."""

    def __init__(
        self,
        items: list[ItemRef],
        arrays: Mapping[ItemRef, tuple[np.ndarray, np.ndarray]],
        control: bool,
        seed: int,
        epoch: int,
        augment: Callable = control_augment,
    ):
        self.items, self.arrays, self.control = items, arrays, control
        self.seed, self.epoch, self.augment = seed, epoch, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        img, mask = self.arrays[self.items[k]]
        if self.control:
            img, mask = self.augment(img, mask, np.random.default_rng([self.seed, self.epoch, k]))
        return img, mask


def items_used(n: int, batch_size: int) -> int:
    """How many of an epoch's ``n`` items are trained on (all but a lone last one)."""
    return n - 1 if n > 1 and n % batch_size == 1 else n


def batches_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(items_used(n, batch_size) / batch_size))


def effective_epochs(cfg: SegConfig, n_items: int) -> int:
    """The preset's epochs, raised when ``min_steps`` asks for more steps on tiny data."""
    steps = batches_per_epoch(n_items, cfg.batch_size)
    return max(cfg.epochs, math.ceil(cfg.min_steps / steps)) if cfg.min_steps else cfg.epochs
