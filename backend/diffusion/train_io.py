"""What a training run writes: checkpoints that resume exactly, the loss log and curve,
and a sheet of unconditional samples.

Run folder ``models/<name>/``::

    config.json, model.safetensors, ema.safetensors   latest weights (loads with load_model)
    checkpoints/step-0001000/                          one folder per save, same format,
        config.json model.safetensors ema.safetensors
        train_state.pt                                 optimizer, scaler, RNG states, losses
    loss.csv  loss.png  samples.png

A checkpoint folder is written under a temporary name and renamed into place, so a crash,
a cancel or a full disk never leaves a half checkpoint (a failed write removes its temp
folder; a killed one's is removed when the workspace is next opened); the latest weights
in the run folder are then swapped in file by file (hard links, no copy). Only the newest checkpoint keeps
``train_state.pt`` (the optimizer state is twice the model's size); older ones keep their
weights so they stay loadable for sampling.
"""

from __future__ import annotations

import io
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.diffusion.checkpoint import load_state_dict, save_model
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.model import DiffusionUNet
from backend.errors import BadInputError
from backend.io.files import TEMP_SUFFIX, atomic_write_bytes, encode_png, staging_dir, temp_prefix
from backend.reports.csvio import write_csv

STATE_FILE = "train_state.pt"
WEIGHT_FILES = ("model.safetensors", "ema.safetensors", "config.json")


# -- RNG states as plain tensors (loadable with weights_only=True) -----------------------
def capture_rng() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=True)
    if not isinstance(np_state, tuple):  # only other bit generators give a dict; the global one is MT19937
        raise TypeError("numpy's global random state is not MT19937's")
    py_state = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "python": torch.tensor(py_state[1], dtype=torch.int64),
        "python_version": int(py_state[0]),
        "python_gauss": py_state[2],
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(
        ("MT19937", s["numpy_keys"].numpy().astype(np.uint32), s["numpy_pos"], s["numpy_has_gauss"], s["numpy_gauss"])
    )
    random.setstate((s["python_version"], tuple(int(v) for v in s["python"].tolist()), s["python_gauss"]))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


# -- checkpoints ---------------------------------------------------------------------------
def checkpoint_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:07d}"


def save_checkpoint(
    run: Path,
    model: DiffusionUNet,
    diffusion: DiffusionConfig,
    ema: dict[str, torch.Tensor],
    state: dict[str, Any],
    extra: dict[str, Any],
) -> Path:
    """Write a complete checkpoint folder atomically, then point the run folder at it."""
    step = int(state["step"])
    final = checkpoint_dir(run, step)
    tmp = staging_dir(final)
    try:
        save_model(tmp, model, diffusion, ema, extra)
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(tmp / STATE_FILE, buf.getvalue())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # the same step saved again (cancel right after a save): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    for name in WEIGHT_FILES:
        _swap_in(final / name, run / name)
    for older in sorted(run.glob("checkpoints/step-*")):
        if older != final and (older / STATE_FILE).exists():
            (older / STATE_FILE).unlink()
    return final


def _swap_in(src: Path, dst: Path) -> None:
    tmp = dst.parent / f"{temp_prefix(dst)}link{TEMP_SUFFIX}"
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(src, tmp)
        except OSError:  # filesystems without hard links
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def latest_resumable(run: Path) -> Path | None:
    found = [p for p in sorted(run.glob("checkpoints/step-*")) if (p / STATE_FILE).exists()]
    return found[-1] if found else None


def load_training_state(folder: Path) -> tuple[dict, dict, dict]:
    """(model weights, EMA weights, train state) of a checkpoint folder, loaded without
    running code (safetensors + ``weights_only``)."""
    state = load_state_dict(folder / STATE_FILE)
    if not isinstance(state, dict) or "step" not in state:
        raise BadInputError(f"{folder / STATE_FILE} is not a DiffGen training state")
    return load_state_dict(folder / "model.safetensors"), load_state_dict(folder / "ema.safetensors"), state


# -- loss log and curve --------------------------------------------------------------------
def write_loss_csv(path: Path, losses: list[tuple[int, float, float, float]]) -> None:
    write_csv(path, ["step", "loss", "mse", "vb"], [[s, *(float(f"{x:.6g}") for x in (a, b, c))] for s, a, b, c in losses])


def plot_loss(path: Path, losses: list[tuple[int, float, float, float]], title: str) -> Path:
    """Raw per-step loss (faint) and a moving average, log scale, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    arr = np.asarray(losses, dtype=np.float64).reshape(-1, 4)
    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.add_subplot()
    window = max(1, len(arr) // 50)
    kernel = np.ones(window) / window
    for col, name, colour in ((1, "hybrid loss", "C0"), (2, "MSE (noise)", "C1"), (3, "VB (bits/dim)", "C2")):
        ax.plot(arr[:, 0], arr[:, col], color=colour, alpha=0.2, lw=0.6)
        if len(arr) >= window:
            smooth = np.convolve(arr[:, col], kernel, mode="valid")
            label = f"{name} (mean of {window} steps)" if window > 1 else name
            ax.plot(arr[window - 1 :, 0], smooth, color=colour, lw=1.6, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss per sample")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def sample_sheet(rgb: np.ndarray, mask: np.ndarray, columns: int = 4, gap: int = 2) -> np.ndarray:
    """Tile samples as (image | mask) pairs, ``columns`` pairs per row, on a grey ground."""
    n, s = rgb.shape[0], rgb.shape[1]
    rows = (n + columns - 1) // columns
    cell_w = 2 * s + gap
    sheet = np.full((rows * (s + gap) + gap, columns * (cell_w + gap) + gap, 3), 128, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = gap + r * (s + gap), gap + c * (cell_w + gap)
        sheet[y : y + s, x : x + s] = rgb[i]
        sheet[y : y + s, x + s : x + 2 * s] = mask[i][..., None]
    return sheet


def write_sheet(path: Path, sheet: np.ndarray, min_height: int = 256) -> Path:
    """Save the sheet, enlarged with nearest-neighbour so small samples stay visible."""
    import cv2

    scale = max(1, int(np.ceil(min_height / sheet.shape[0])))
    big = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return atomic_write_bytes(path, encode_png(big))
