"""Optional TensorBoard logging of a training run (``diffgen train --tensorboard DIR``).

One event folder per trained model (``DIR/NAME``): the loss terms and the learning rate at
every step, and the sheet of EMA samples at the end. Needs the ``tensorboard`` extra; the
training loop only calls ``step``, ``samples`` and ``close``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.config.extras import require


class TensorBoardLog:
    def __init__(self, folder: Path):
        tb = require("torch.utils.tensorboard", "tensorboard", "--tensorboard")
        self.writer = tb.SummaryWriter(str(folder))

    def step(self, step: int, loss: float, mse: float, vb: float, lr: float) -> None:
        for tag, value in (("loss/total", loss), ("loss/mse", mse), ("loss/vb", vb), ("lr", lr)):
            self.writer.add_scalar(tag, value, step)

    def samples(self, step: int, sheet: np.ndarray) -> None:
        """The (image | mask) sheet of samples, HxWx3 uint8."""
        self.writer.add_image("samples", sheet, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def open_log(root: str | None, name: str, is_main: bool) -> TensorBoardLog | None:
    """The log of model ``name`` under ``root`` (rank 0 only), or None without ``root``."""
    return TensorBoardLog(Path(root).expanduser() / name) if root and is_main else None
