"""The CLI's progress bars: a long message beside a bar keeps its end (the figures that change)."""

import pytest

from backend.cli.common import POSTFIX_CHARS, postfix, tqdm_progress

SEGMENT = "[21/21] Full-Styled-Diff N=8 r=3 +Control s0 epoch 10/20 loss 0.214"


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("0/6 images done; 12 samples at step 3/95", "0/6 images done; 12 samples at step 3/95"),
        (SEGMENT, "[21/21] Full-Styled-Diff N=8 r=3 … epoch 10/20 loss 0.214"),
        ("x" * 100, "x" * 33 + " … " + "x" * 24),
    ],
)
def test_a_long_message_loses_whole_words_from_its_middle(message, shown):
    assert postfix(message) == shown and len(shown) <= POSTFIX_CHARS


def test_the_bar_shows_the_loss_of_a_long_segmentation_message(capsys):
    with tqdm_progress("segment") as update:
        update(3, 10, SEGMENT)
    err = capsys.readouterr().err
    assert "epoch 10/20 loss 0.214" in err and "3/10" in err


def test_a_command_refused_before_any_work_prints_no_empty_bar(capsys):
    """`diffgen train --target clusters` without a clustering printed "train: 0step [00:00, ?step/s]"
    above its error."""
    with tqdm_progress("train", unit="step"):
        pass
    assert capsys.readouterr().err == ""
