"""Atomic file writes: temp file in the same folder + fsync + rename.

A reader (or a crash) never sees a half-written file; an existing file is replaced whole
or not at all. Temp names are ``.NAME.PID.RANDOM.tmp`` (files and staging folders alike),
so the leftovers of a killed writer can be told from a live writer's and removed
(:func:`remove_stale_temps`). A full disk becomes a clear message (:func:`disk_full_as_error`).
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from backend.errors import DiffGenError

TEMP_SUFFIX = ".tmp"
# .NAME.PID.RANDOM.tmp; before the pid was added: .NAME.RANDOM.tmp (mkstemp: 8 of [a-z0-9_])
_TEMP_NAME = re.compile(r"\.(?P<target>.+?)\.(?:(?P<pid>\d+)\.)?(?P<token>[A-Za-z0-9_]+)\.tmp")
STALE_AFTER_S = 15 * 60  # a temp name without pid untouched this long has no writer
PID_REUSED_AFTER_S = 24 * 3600  # a live pid on a temp name this old belongs to another process
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def temp_prefix(path: Path) -> str:
    """Start of a hidden temp name beside ``path``; it carries this process's pid."""
    return f".{path.name}.{os.getpid()}."


def staging_dir(final: Path) -> Path:
    """A new empty hidden folder beside ``final``, to fill and then rename into place. The
    staging folders of earlier writers of ``final`` that were killed (a dead pid) go first:
    nothing else would ever remove them."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for old in final.parent.glob(f".{glob.escape(final.name)}.*{TEMP_SUFFIX}"):
        if old.is_dir() and not old.is_symlink() and is_stale_temp(old):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(final), suffix=TEMP_SUFFIX, dir=final.parent))


class DiskFullError(DiffGenError, OSError):
    """No space left (or quota exceeded) while writing a file. A DiffGenError, so the CLI and
    the app show its message, not a traceback; still an OSError with its errno, so callers
    that stop cleanly on a full disk (the importer, training) recognise it."""

    def __str__(self) -> str:
        return str(self.strerror)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale / 10:
            return f"{n / scale:.1f} {unit}"
    return f"{max(1, round(n / 1e3))} kB"


def disk_full(e: OSError, path: Path, size: int) -> DiskFullError:
    """The clear error for a write of ``size`` bytes to ``path`` that found the disk full."""
    try:
        free = f", {_size(shutil.disk_usage(path.parent).free)} free there"
    except OSError:
        free = ""
    return DiskFullError(
        e.errno,
        f"disk full while writing {path} ({e.strerror}): it needs {_size(size)}{free}; free some space and run it again",
    )


def _write_and_sync(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _open_temp(path: Path) -> tuple[int, str]:
    """A new hidden temp file beside ``path``: its open descriptor and name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; give the permissions a plain open() would
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


@contextmanager
def _full_disk_named(path: Path, size: int) -> Iterator[None]:
    """A full disk inside the block becomes a :class:`DiskFullError` naming ``path``, the size
    and the space left."""
    try:
        yield
    except OSError as e:
        if e.errno in DISK_FULL and not isinstance(e, DiskFullError):
            raise disk_full(e, path, size) from None
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; a full disk is a :class:`DiskFullError`
    naming the file, the size and the space left."""
    path = Path(path)
    with _full_disk_named(path, len(data)):
        fd, tmp = _open_temp(path)
        try:
            _write_and_sync(fd, data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    _fsync_dir(path.parent)
    return path


def _synced_temp(path: Path, data: bytes) -> str:
    """A temp file beside ``path`` holding ``data``, on disk; its name."""
    with _full_disk_named(path, len(data)):
        fd, tmp = _open_temp(path)
        try:
            _write_and_sync(fd, data)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return tmp


def atomic_write_many(files: Iterable[tuple[Path, bytes]], threads: int = 16) -> None:
    """Write many files, each as :func:`atomic_write_bytes` does (whole or not at all, on
    disk before this returns), without waiting for one file after another: the temps are
    written and synced by ``threads`` at once (the file system commits concurrent syncs
    together: 4000 small files take a fraction of the time), then renamed in order, then
    each folder is synced once. On an error no temp stays; the files already renamed are whole."""
    items = list(files)
    with ThreadPoolExecutor(max(1, min(threads, len(items)))) as pool:
        futures = [pool.submit(_synced_temp, path, data) for path, data in items]
    errors = [f.exception() for f in futures]
    done = [f.result() for f, error in zip(futures, errors) if error is None]
    try:
        failed = next((error for error in errors if error is not None), None)
        if failed is not None:
            raise failed
        for tmp, (path, _) in zip(done, items):
            os.replace(tmp, path)
    except BaseException:
        for tmp in done:
            Path(tmp).unlink(missing_ok=True)
        raise
    for folder in sorted({path.parent for path, _ in items}):
        _fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def disk_full_as_error(what: str, hint: str = "") -> Iterator[None]:
    """Turn "no space left" (or quota exceeded) inside the block into a clear DiffGenError. A
    :class:`DiskFullError` of the atomic writers already names its file and the space: it keeps
    its words and gains ``hint`` (what is still intact)."""
    try:
        yield
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        if isinstance(e, DiskFullError):
            raise DiffGenError(str(e) + (f"; {hint}" if hint else "")) from None
        raise DiffGenError(
            f"disk full while writing {what} ({e.strerror}); free some space" + (f": {hint}" if hint else "")
        ) from None


def pid_alive(pid: int | None) -> bool:
    """Whether a process still runs (one liveness test for jobs and temp files)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pid_dead(pid: int) -> bool:
    return not pid_alive(pid)


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """A temp file or staging folder of the atomic writer whose writer is gone: its pid is
    dead (or so old it must have been reused), or, for names from before the pid was
    recorded, it has not been touched for ``STALE_AFTER_S``."""
    m = _TEMP_NAME.fullmatch(path.name)
    if m is None:
        return False
    if m["pid"] is not None and _pid_dead(int(m["pid"])):
        return True
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > (STALE_AFTER_S if m["pid"] is None else PID_REUSED_AFTER_S)


def remove_stale_temps(root: Path, keep: tuple[Path, ...] = ()) -> list[Path]:
    """Delete the stale temp files and staging folders under ``root`` (left by a killed
    process), except inside the folders ``keep``; a live writer's in-flight temp file is
    kept. Returns what was removed."""
    removed = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder) / d not in keep]
        for name in [d for d in dirs if d.endswith(TEMP_SUFFIX)]:
            path = Path(folder) / name
            if is_stale_temp(path):
                shutil.rmtree(path, ignore_errors=True)
                dirs.remove(name)
                removed.append(path)
        for name in files:
            path = Path(folder) / name
            if name.endswith(TEMP_SUFFIX) and is_stale_temp(path):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an HxW (grey) or HxWx3 (RGB) uint8 array; carries no metadata."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {array.dtype}")
    bgr = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    return atomic_write_bytes(path, encode_png(array))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def refuse_overwrite(existing: list[Path], what: str) -> None:
    """Nothing is overwritten without asking: a refusal naming what is there, before anything is
    written, unless the caller was told ``--overwrite`` (and then does not call this)."""
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise DiffGenError(
            f"{what}: {shown} already exist{'s' * (len(existing) == 1)}; nothing was written. "
            "Choose another place, or add --overwrite to replace"
        )


def check_new_folder(out: Path) -> None:
    """OUT must be absent or an empty folder: an export (of data or a model) takes its place whole."""
    if out.exists() and not out.is_dir():
        raise DiffGenError(f"export folder {out} is a file; name a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise DiffGenError(
            f"export folder {out} exists and is not empty; export into a new or empty "
            "folder (nothing in an existing export is overwritten)"
        )


def move_into_place(staged: Path, out: Path) -> None:
    """Rename a complete staging folder to ``out`` (absent or empty, see :func:`check_new_folder`)."""
    if out.exists():
        try:
            out.rmdir()  # empty when checked; fails if something was put there since
        except OSError as e:
            raise DiffGenError(f"export folder {out} is no longer empty ({e.strerror}); nothing was written") from None
    staged.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the mode a plain mkdir would
    os.replace(staged, out)
