"""The one door through which weight files from elsewhere come in: tensors, never code.

Accepted: safetensors, and PyTorch state dicts (``torch.save`` zip or legacy format) read
with ``torch.load(weights_only=True)``. Refused before anything is unpickled or run:
TorchScript programs (loading one runs its ``__setstate__`` code), plain Python pickles, and
anything else. Every problem is a :class:`BadWeightsError` naming the file, what it is, and
what is expected.

What a file declares is read without loading it (and without torch): a safetensors file's
header (names, dtypes, shapes), a torch zip's member sizes. A caller that knows how large the
right file is (a model config's parameter count) refuses a wrong or inflating file from
these declarations, before a byte of tensor data is allocated.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.errors import BadWeightsError
from backend.io.files import sha256_file

if TYPE_CHECKING:  # torch loads with the first file read, not to check one
    import torch
    from torch import nn

EXPECTED = "a safetensors file or a PyTorch state dict (.pt/.pth) of plain tensors"
SAFETENSORS = "safetensors file"
TORCH_ZIP = "PyTorch state dict (zip)"
TORCH_LEGACY = "PyTorch state dict (legacy format)"
TORCHSCRIPT = "TorchScript program"
PICKLE = "plain Python pickle"

# torch.save's legacy format starts with this number pickled as a protocol-2 LONG1
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_MAX_SAFETENSORS_HEADER = 100 << 20
_MAX_HEADER_READ = 16 << 20  # a UNet's header is ~100 kB; 16 MB holds ~100,000 tensor entries
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "damaged zip archive"
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return TORCHSCRIPT
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return TORCH_ZIP
    return "zip archive that is not a PyTorch file"


def file_kind(path: Path) -> str:
    """What the file is, from its first bytes (never from its name)."""
    with open(path, "rb") as f:
        head = f.read(16)
    size = path.stat().st_size
    if not head:
        return "zero-byte file"
    if len(head) >= 9 and head[8:9] == b"{":
        n = struct.unpack("<Q", head[:8])[0]
        if n <= _MAX_SAFETENSORS_HEADER:
            return SAFETENSORS if 8 + n <= size else "truncated safetensors file"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(_LEGACY_MAGIC[: len(head)]):
        return TORCH_LEGACY
    if head[:1] == b"\x80":
        return PICKLE
    return "file of unknown format"


def _damaged(path: Path, what: str, detail: str) -> BadWeightsError:
    return BadWeightsError(f"{path}: {what} that cannot be read: truncated or corrupt{detail}. Copy the file again.")


def _refuse(path: Path, what: str, why: str, expected: str) -> BadWeightsError:
    return BadWeightsError(f"{path}: {what}, refused: {why}. Expected {expected}.")


_DAMAGED = ("zero-byte file", "truncated safetensors file", "damaged zip archive")


def _check_kind(path: Path, expected: str) -> str:
    if not path.is_file():
        raise BadWeightsError(f"weights file not found: {path}")
    kind = file_kind(path)
    if kind == TORCHSCRIPT:
        raise _refuse(
            path, f"a TorchScript program (sha256 {sha256_file(path)})", "loading TorchScript runs the code inside it", expected
        )
    if kind == PICKLE:
        raise _refuse(path, "a plain Python pickle", "unpickling can run any code", expected)
    if kind in _DAMAGED:
        raise _damaged(path, f"a {kind}", "")
    if path.suffix == ".safetensors" and kind != SAFETENSORS:
        raise BadWeightsError(
            f"{path} is named .safetensors but is a {kind}, not a safetensors file. "
            f"Expected a safetensors file (a plain PyTorch state dict may be named .pt)."
        )
    if kind not in (SAFETENSORS, TORCH_ZIP, TORCH_LEGACY):
        raise BadWeightsError(f"{path}: a {kind}, not a weights file. Expected {expected}.")
    return kind


def _unpickler_detail(e: Exception) -> str:
    m = re.search(r"WeightsUnpickler error: (.*?)(?: was not an allowed global|\n|$)", str(e), re.S)
    return (m.group(1) if m else str(e)).strip()[:200]


def load_weights(path: str | Path, map_location: str | torch.device = "cpu", expected: str = EXPECTED) -> dict[str, Any]:
    """The tensors of a weight file (a dict, possibly nested as checkpoints nest them);
    ``expected`` says in messages which file would be right."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    kind = _check_kind(path, expected)
    try:
        if kind == SAFETENSORS:
            state = load_file(str(path), device=str(map_location))
        else:
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        why = f"weights-only loading does not allow them ({_unpickler_detail(e)})"
        raise _refuse(path, f"a {kind} that holds code or objects beyond tensors", why, expected) from None
    except (
        SafetensorError,
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        struct.error,
        zipfile.BadZipFile,
    ) as e:
        raise _damaged(path, f"a {kind}", f" ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(state, dict):
        raise BadWeightsError(f"{path}: holds a {type(state).__name__}, not a state dict. Expected {expected}.")
    return state


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file, after the same checks as :func:`load_weights`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if _check_kind(path, "a safetensors file") != SAFETENSORS:
        raise BadWeightsError(f"{path} is a {file_kind(path)}; expected a safetensors file.")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise _damaged(path, "a safetensors file", f" ({str(e)[:200]})") from None


def load_into(net: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load ``state`` into ``net``: every parameter must be there with its shape (extra
    tensors in the file, such as a classifier, are ignored), so a wrong file is an error,
    never a silently random network."""
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise BadWeightsError(f"{path} does not fit {what}: {str(e)[:400]}") from None
    if result.missing_keys:
        raise BadWeightsError(
            f"{path} is not a {what} weight file: missing "
            f"{', '.join(result.missing_keys[:5])}"
            f"{' ...' if len(result.missing_keys) > 5 else ''}"
        )


def safetensors_header(path: str | Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` of a safetensors file, read from its 8-byte length and JSON
    header alone (bounded: at most 16 MB are read), after the checks of :func:`load_weights`;
    an entry that is not a tensor of a known dtype, or whose data lies outside the file, is an error."""
    path = Path(path)
    if _check_kind(path, "a safetensors file") != SAFETENSORS:
        raise BadWeightsError(f"{path} is a {file_kind(path)}; expected a safetensors file.")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > _MAX_HEADER_READ:
            raise BadWeightsError(f"{path}: a safetensors header of {n:,} bytes, more than the {_MAX_HEADER_READ:,} read")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise _damaged(path, "a safetensors file", f" (header: {str(e)[:100]})") from None
    data_size = path.stat().st_size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, entry in header.items() if isinstance(header, dict) else [("", header)]:
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            ok = dtype in DTYPE_BYTES and all(isinstance(d, int) and d >= 0 for d in shape)
            ok = ok and isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_size
            ok = ok and end - start == math.prod(shape) * DTYPE_BYTES[dtype]
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise _damaged(path, "a safetensors file", f" (header entry {str(name)[:80]!r}: {str(entry)[:120]})")
        out[name] = (dtype, shape)
    return out


def declared_bytes(path: str | Path) -> int:
    """How many bytes of tensor data ``path`` would unpack to, from what it declares (a
    safetensors header, a torch zip's member sizes; a legacy file's own size): a deflated
    zip member of 1 MB may declare 1.5 GB, and is refused from that figure, not by inflating it."""
    path = Path(path)
    kind = _check_kind(path, EXPECTED)
    if kind == SAFETENSORS:
        header = safetensors_header(path)
        return sum(math.prod(shape) * DTYPE_BYTES[dtype] for dtype, shape in header.values())
    if kind == TORCH_ZIP:
        with zipfile.ZipFile(path) as z:
            return sum(i.file_size for i in z.infolist())
    return path.stat().st_size
