"""The paper's experiment design (Tables 3-6) turned into a list of concrete runs.

Each :class:`RunSpec` names exactly which real images and synthetic samples a run trains
and validates on. Its key hashes that content with the training config, seed and test set,
so a configuration shared by two tables (the Real baseline) is trained once, and an
interrupted experiment set resumes by skipping keys already done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from backend.segmentation.config import SegConfig
from backend.segmentation.data import (
    AlphaSampler,
    EpochPlan,
    FixedPlan,
    ImageSplit,
    ItemRef,
    by_source,
    per_source,
    split_train_val,
    spread_selection,
)
from backend.workspace import SampleRecord

# Table order of the paper's sets; any other set name follows alphabetically.
SET_ORDER = ("GAN", "Diff", "Styled-Diff", "Full-Diff", "Full-Styled-Diff")


def ordered_sets(names) -> list[str]:
    known = [s for s in SET_ORDER if s in names]
    return known + sorted(set(names) - set(known))


def images(ids) -> list[ItemRef]:
    return [ItemRef("image", int(i)) for i in ids]


def samples(ids) -> list[ItemRef]:
    return [ItemRef("sample", int(i)) for i in ids]


@dataclass
class RunSpec:
    mode: str  # real | synthetic | augment | small-n | mix
    label: str  # row label in the paper's tables, e.g. Styled-Diff-2
    seed: int
    control: bool  # the Control augmentations on or off
    plan: EpochPlan  # what one epoch trains on
    val: list[ItemRef]
    set_name: str | None = None
    multiple: int | None = None  # Type-N: N synthetic samples per real training image
    alpha: float | None = None
    n_real: int | None = None  # small-N: N (train + validation, or train only: segment.small_n_counts)
    r: int | None = None  # small-N: synthetic samples added per real training image
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "label": self.label,
            "seed": self.seed,
            "control": self.control,
            "set_name": self.set_name,
            "multiple": self.multiple,
            "alpha": self.alpha,
            "n_real": self.n_real,
            "r": self.r,
            "train_items": len(self.plan),
            "val_items": len(self.val),
        }

    def refs(self) -> set[ItemRef]:
        return self.plan.refs() | set(self.val)

    @property
    def title(self) -> str:
        """The label with what tells same-label runs apart (for messages)."""
        parts = [self.label]
        if self.alpha is not None:
            parts.append(f"alpha={self.alpha}")
        if self.n_real is not None:
            parts.append(f"N={self.n_real} r={self.r}")
        if self.mode != "real":
            parts.append("+Control" if self.control else "no Control")
        return " ".join(parts)

    def key(self, cfg: SegConfig, test: Sequence[int], weights: str | None) -> str:
        content = {
            **self.describe(),
            "train": sorted(map(str, self.plan.refs())),
            "val": sorted(map(str, self.val)),
            "test": sorted(test),
            "config": cfg.training_fingerprint(),
            "encoder_weights": weights,
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.mode}/{self.label}/c{int(self.control)}/s{self.seed}/{digest}"

    def without(self, broken: set[ItemRef]) -> "RunSpec":
        """The same run minus unreadable items (the key stays that of the intended data)."""
        if not broken & self.refs():
            return self
        if isinstance(self.plan, AlphaSampler):
            plan: EpochPlan = AlphaSampler(
                [i for i in self.plan.real if ItemRef("image", i) not in broken],
                {k: [s for s in v if ItemRef("sample", s) not in broken] for k, v in self.plan.synthetic.items()},
                self.plan.alpha,
            )
        elif isinstance(self.plan, FixedPlan):
            plan = FixedPlan([r for r in self.plan.items if r not in broken])
        else:
            raise TypeError(f"cannot leave items out of a {type(self.plan).__name__}")
        val = [r for r in self.val if r not in broken]
        return RunSpec(**{**self.__dict__, "plan": plan, "val": val})


@dataclass
class Planner:
    """Builds the runs of each experiment for one seed from the workspace's split and sets."""

    cfg: SegConfig
    split: ImageSplit
    sets: dict[str, list[SampleRecord]]
    notes: list[str] = field(default_factory=list)

    def _train_val(self, seed: int) -> tuple[list[int], list[int]]:
        return split_train_val(self.split.pool, self.cfg.val_fraction, np.random.default_rng([seed, 2]))

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _sets_or_note(self, wanted: Sequence[str], experiment: str) -> list[str]:
        if not self.sets:
            self._note(f"{experiment}: no synthetic samples in the workspace, skipped (generate or import a synthetic set first)")
            return []
        names = list(wanted) or ordered_sets(self.sets)
        for missing in [n for n in names if n not in self.sets]:
            self._note(
                f"{experiment}: set {missing!r} not in the workspace, skipped "
                f"(sets present: {', '.join(ordered_sets(self.sets))})"
            )
        return [n for n in names if n in self.sets]

    def real(self, seed: int, control: bool = True) -> list[RunSpec]:
        train, val = self._train_val(seed)
        label = "Real" if control else "Real (no Control)"
        return [RunSpec("real", label, seed, control, FixedPlan(images(train)), images(val))]

    def synthetic(self, seed: int) -> list[RunSpec]:
        """Table 3: train and validate on N x (real training images) samples of one set only."""
        val_ids = self._train_val(seed)[1]
        runs = []
        for name in self._sets_or_note((), "synthetic"):
            previous = 0
            for n in self.cfg.synthetic_multiples:
                want = n * len(self.split.pool)
                chosen = spread_selection(self.sets[name], self.split.pool, want, np.random.default_rng([seed, 3]))
                if len(chosen) <= previous:
                    self._note(
                        f"synthetic: {name}-{n} skipped, the set has only {len(chosen)} usable "
                        f"samples (no more than {name}-{n - 1})"
                    )
                    continue
                if len(chosen) < want:
                    self._note(f"synthetic: {name}-{n} uses {len(chosen)} of {want} wanted samples")
                previous = len(chosen)
                train, val = self._split_samples(chosen, set(val_ids), seed)
                runs.append(
                    RunSpec(
                        "synthetic", f"{name}-{n}", seed, True, FixedPlan(samples(train)), samples(val), set_name=name, multiple=n
                    )
                )
        return runs

    def _split_samples(self, chosen: list[SampleRecord], val_sources: set[int], seed: int) -> tuple[list[int], list[int]]:
        """Validation = samples of the validation images (a group split: no near-duplicates
        across train/val); external samples without a source are split at random."""
        sourced = [s for s in chosen if s.source_image_id is not None]
        val = [s.id for s in sourced if s.source_image_id in val_sources]
        train = [s.id for s in sourced if s.source_image_id not in val_sources]
        ext = [s.id for s in chosen if s.source_image_id is None]
        if ext:
            t, v = split_train_val(ext, self.cfg.val_fraction, np.random.default_rng([seed, 4]))
            train, val = train + t, val + v
        if not val or not train:
            train, val = split_train_val(train + val, self.cfg.val_fraction, np.random.default_rng([seed, 4]))
        return sorted(train), sorted(val)

    def augment(self, seed: int) -> list[RunSpec]:
        """Tables 4 and 5: alpha-replacement augmentation without and with Control."""
        train, val = self._train_val(seed)
        runs = self.real(seed, control=False) + self.real(seed, control=True)
        for name in self._sets_or_note((), "augment"):
            synth = by_source(self.sets[name], train)
            if not synth:
                self._note(f"augment: set {name!r} has no samples generated from training images, skipped")
                continue
            for control in (False, True):
                runs.append(
                    RunSpec(
                        "augment",
                        name,
                        seed,
                        control,
                        AlphaSampler(list(train), synth, self.cfg.alpha),
                        images(val),
                        set_name=name,
                        alpha=self.cfg.alpha,
                    )
                )
        return runs

    def _val_for(self, n_train: int) -> int:
        """Validation images beside ``n_train`` training images, at the 80/20 proportion."""
        f = self.cfg.val_fraction
        return max(1, round(n_train * f / (1 - f)))

    def small_n(self, seed: int) -> list[RunSpec]:
        """Table 6: N real images (nested subsets) plus r samples generated from each of them;
        N counts training + validation images or training images only (``small_n_counts``)."""
        pool = self.split.pool
        order = np.random.default_rng([seed, 5]).permutation(pool)
        names = self._sets_or_note(self.cfg.small_n_sets, "small-n")
        runs, seen = [], set()
        for wanted in self.cfg.small_n:
            n = min(wanted, len(pool))
            if self.cfg.small_n_counts == "train":
                while n > 1 and n + self._val_for(n) > len(pool):
                    n -= 1
            if n in seen or n < 2:
                continue
            if n < wanted:
                self._note(f"small-n: N={wanted} capped at {n} (the {len(pool)} non-test images)")
            seen.add(n)
            if self.cfg.small_n_counts == "train":
                train = [int(i) for i in order[:n]]
                val = [int(i) for i in order[n : n + self._val_for(n)]]
            else:
                subset = [int(i) for i in order[:n]]
                train, val = split_train_val(subset, self.cfg.val_fraction, np.random.default_rng([seed, 6, n]))
            runs.append(RunSpec("small-n", "Real", seed, True, FixedPlan(images(train)), images(val), n_real=n, r=0))
            for name in names:
                previous = 0
                for r in self.cfg.small_n_r:
                    chosen = per_source(self.sets[name], train, r, np.random.default_rng([seed, 8, n]))
                    if len(chosen) <= previous:
                        self._note(
                            f"small-n: {name} N={n} r={r} skipped: not enough samples generated from the N training images"
                        )
                        continue
                    previous = len(chosen)
                    runs.append(
                        RunSpec(
                            "small-n",
                            name,
                            seed,
                            True,
                            FixedPlan(images(train) + samples(chosen)),
                            images(val),
                            set_name=name,
                            n_real=n,
                            r=r,
                        )
                    )
        return runs

    def mix(self, seed: int) -> list[RunSpec]:
        """Issue 34's comparison: Real (this experiment's own row), Real + samples of each set, and
        Real + samples shared equally by all the sets; every '+' row adds the same count
        (``mix_r`` per training image, or what the smallest set holds) spread over the training
        images. The split is ``real``'s, so every row tests on the same images."""
        names = self._sets_or_note(self.cfg.mix_sets, "mix")
        if len(names) < len(self.cfg.mix_sets):
            return []  # the comparison needs each of its sets: no partial table
        train, val = self._train_val(seed)
        draw = [seed, 9]  # every row's choice from a set starts from the same generator state
        want = self.cfg.mix_r * len(train)
        count = min(len(spread_selection(self.sets[n], train, want, np.random.default_rng(draw))) for n in names)
        count -= count % len(names)  # the row of all of them takes as many from each
        if count < want:
            self._note(
                f"mix: {count} synthetic samples a row, not {want} (r = {self.cfg.mix_r} per training image): a set has no more"
            )
        rows = [[name] for name in names] + ([names] if len(names) > 1 else [])
        runs = [RunSpec("mix", "Real", seed, True, FixedPlan(images(train)), images(val), r=0)]
        for row in rows:
            chosen = [
                s.id for n in row for s in spread_selection(self.sets[n], train, count // len(row), np.random.default_rng(draw))
            ]
            label, plan = "Real + " + " + ".join(row), FixedPlan(images(train) + samples(sorted(chosen)))
            runs.append(RunSpec("mix", label, seed, True, plan, images(val), set_name="+".join(row), r=self.cfg.mix_r))
        return runs

    def runs(self, experiments: Sequence[str]) -> list[RunSpec]:
        out: list[RunSpec] = []
        for seed in self.cfg.seeds:
            for exp in experiments:
                out += {
                    "real": self.real,
                    "synthetic": self.synthetic,
                    "augment": self.augment,
                    "small-n": self.small_n,
                    "mix": self.mix,
                }[exp](seed)
        return out
