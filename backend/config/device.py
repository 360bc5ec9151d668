"""Which torch device work runs on: CUDA when present, else the CPU (or what the user asked:
``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), checked so a typo or a missing GPU is a
clear message, not a traceback deep in the engine."""

from __future__ import annotations

import re

import torch

from backend.errors import BadInputError

DEVICE_FORMS = "auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps"
_DEVICE = re.compile(r"(?P<type>cpu|cuda|mps)(?::(?P<index>\d+))?")


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else CPU; anything else as given, once checked."""
    if requested is None or str(requested) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = str(requested).strip().lower()
    m = _DEVICE.fullmatch(text)
    if m is None or (m["type"] == "cpu" and m["index"] is not None):
        raise BadInputError(f"device {str(requested)!r} is not one of {DEVICE_FORMS}")
    if m["type"] == "cuda":
        _check_cuda(text, None if m["index"] is None else int(m["index"]))
    elif m["type"] == "mps" and not torch.backends.mps.is_available():
        raise BadInputError(f"device {text!r}: Apple's MPS is not available here; use --device cpu or auto")
    return torch.device(text)


def _check_cuda(text: str, index: int | None) -> None:
    if not torch.cuda.is_available():
        raise BadInputError(
            f"device {text!r}: CUDA is not available on this machine (no GPU, no driver, or a "
            "CPU-only torch); use --device cpu or auto"
        )
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise BadInputError(
            f"device {text!r}: this machine has {count} CUDA device{'s' * (count != 1)} (cuda:0 to cuda:{count - 1})"
        )


def rank_device(requested: str | None, local_rank: int | None) -> str | None:
    """The device of one process of a ``torchrun`` launch: ``auto`` (or a bare ``cuda``) is
    ``cuda:LOCAL_RANK`` when CUDA is present (one GPU per process), else the CPU; an explicit
    ``cuda:N`` or ``cpu`` is kept. Outside torchrun (``local_rank`` None), ``requested``."""
    if local_rank is None or requested not in (None, "auto", "cuda"):
        return requested
    if torch.cuda.is_available():
        return f"cuda:{local_rank}"
    return "cpu" if requested != "cuda" else requested
