"""Tables 3-5 say what a reader needs to judge a row (issue 33 item 11): its training-set
size, the best epoch (flagged when it is the last: not converged), the seeds, and whether a
difference to the table's first row is within noise over at least 3 seeds."""

from __future__ import annotations

import math

import numpy as np

from backend.segmentation.report import CONTROL, Score, convergence_sentence, small_n_versus


def _score(ious: list[float], train: int, best: list[int], epochs: int = 5) -> Score:
    s = Score([], [], [])
    for seed, (iou, b) in enumerate(zip(ious, best)):
        s.add(seed, {"train_items": train}, {"iou": iou, "dice_loss": 1 - iou, "best_epoch": b, "epochs": epochs})
    return s


def test_a_difference_is_called_within_noise_only_inside_twice_its_standard_error():
    real = _score([0.70, 0.72, 0.74], 19, [3, 5, 4])
    close, far = _score([0.71, 0.75, 0.73], 57, [5, 5, 5]), _score([0.50, 0.52, 0.51], 57, [2, 3, 4])
    # the standard error of a difference of two means, written out: sqrt(s1^2/n1 + s2^2/n2)
    se_close = math.sqrt(np.var([0.71, 0.75, 0.73], ddof=1) / 3 + np.var([0.70, 0.72, 0.74], ddof=1) / 3)
    assert close.versus(real) == f"+0.0100 (within noise: 2 SE = {2 * se_close:.4f})"
    assert far.versus(real).startswith("-0.2100 (beyond noise: 2 SE = ")
    two = _score([0.9, 0.91], 4, [5, 5])
    assert two.versus(real) == "+0.1850 (under 3 seeds: noise unknown)"  # no claim from 2 seeds


def test_training_size_best_epoch_and_seeds_are_shown_and_a_last_epoch_best_is_flagged():
    s = _score([0.7, 0.71, 0.72], 19, [3, 5, 4])
    assert (s.train_cell(), s.best_cell(), s.seeds) == ("19", "3, 5, 4 of 5 (last: not converged)", [0, 1, 2])
    assert _score([0.7, 0.71], 57, [2, 4]).best_cell() == "2, 4 of 5"
    s.add(1, {"train_items": 20}, {"iou": 0.1, "dice_loss": 0.9, "best_epoch": 2, "epochs": 5})  # a rerun of seed 1
    assert (s.iou, s.train_cell(), s.best_cell()) == ([0.7, 0.1, 0.72], "19-20", "3, 2, 4 of 5")
    runs = [{"metrics": {"best_epoch": b, "epochs": 5}} for b in (5, 3, 5)]
    assert convergence_sentence(runs).startswith("2 of 3 runs reached their best validation IoU in the last epoch")
    assert "*Control*" in CONTROL and "'no Control' trains on the images as they are" in CONTROL


def test_table_6_says_whether_each_synthetic_cell_differs_from_real_only_beyond_noise():
    real = _score([0.30, 0.32, 0.34], 13, [5, 4, 5])
    far, close = _score([0.50, 0.52, 0.51], 26, [5, 5, 5]), _score([0.31, 0.35, 0.33], 26, [5, 5, 5])
    lines = small_n_versus([(16, "Real", {0: real}), (16, "Styled-Diff", {1: close, 2: far})])
    assert lines[2].startswith("- N = 16, Styled-Diff, r = 1: +0.0100 (within noise: 2 SE = ")
    assert lines[3].startswith("- N = 16, Styled-Diff, r = 2: +0.1900 (beyond noise: 2 SE = ")
    assert small_n_versus([(16, "Styled-Diff", {1: far})]) == []  # no Real at that N: nothing to compare
