"""Drawing a survey and writing its blinded copies.

Blinding rules (issue 14):
- What is drawn (which images and samples) follows the survey's seed, so a draw can be
  repeated; the seed is random unless given, and recorded.
- Item codes come from :mod:`secrets` and never from that seed. Files are named by code and
  written, and rows stored, in code order, so neither names, creation order, modification
  times nor item ids follow the kind.
- Every item, real or synthetic, goes through the same processing: squared to the common
  working resolution (the smallest item side: no item keeps detail the others never had),
  then to the display size, then one PNG encoder (one IDAT chunk, no metadata chunks).
- Every item of a survey has the same size, and the encoder stores its pixels uncompressed
  (deflate "stored" blocks), so a file's byte count depends only on that size: a compressed
  PNG is smaller for smoother pictures, and that alone told synthetic items from real ones
  (issue 32 item 3). tests/survey/test_survey_leak.py checks that no observable property of
  an item predicts its kind.
"""

from __future__ import annotations

import json
import secrets
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from backend.errors import BadInputError, Cancelled
from backend.io.files import atomic_write_bytes, atomic_write_text
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.survey.model import KIND_LABELS, Survey, SurveyConfig, SurveyParams, check_name, get_survey
from backend.survey.template import DEFAULT, TEMPLATE_FILE, read_template, template_toml
from backend.workspace import queries
from backend.workspace.selection import GENERATION_ROLE, refuse_held_out
from backend.workspace.store import Workspace, now

MAX_SIZE = 512
_CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, ...)
_CODE_LENGTH = 6


def parse_set(spec: str) -> tuple[str, int]:
    """'inpainted:10' -> ('inpainted', 10), with a message that says what was expected."""
    kind, sep, count = spec.partition(":")
    if not sep or not kind.strip() or not count.strip().isdigit():
        raise BadInputError(f"--set expects KIND:COUNT such as inpainted:10, got {spec!r}")
    return kind.strip(), int(count)


def parse_ids(spec: str) -> tuple[int, ...]:
    """'1,2, 3' -> (1, 2, 3) for --real-images."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise BadInputError(f"--real-images expects image ids separated by commas such as 1,2,3, got {spec!r}")
    return tuple(dict.fromkeys(int(p) for p in parts))


def _real_candidates(ws: Workspace, only: tuple[int, ...] | None) -> list[dict]:
    rows = ws.query(
        "SELECT i.id, m.path AS mask FROM images i JOIN mask_versions m ON m.id = i.current_mask_id"
        f" WHERE i.flagged = 0 AND i.{GENERATION_ROLE} ORDER BY i.id"
    )
    if only is not None:
        refuse_held_out(ws, only)
        usable = {r["id"] for r in rows}
        bad = [i for i in only if i not in usable]
        if bad:
            raise BadInputError(
                f"--real-images: image id(s) {', '.join(map(str, bad))} are not usable (unknown, flagged, or without a mask)"
            )
        rows = [r for r in rows if r["id"] in set(only)]
    return [{"image_id": r["id"], "sample_id": None, "set": "Real"} for r in rows]


def _candidates(ws: Workspace, kind: str, config: SurveyConfig) -> tuple[list[dict], tuple[int, ...]]:
    """Everything of one kind that could be shown: {'image_id', 'sample_id', 'set'}, and the
    samples ``only_passed`` left out because they failed a quality gate."""
    if kind == "real":
        return _real_candidates(ws, config.real_images), ()
    keep = " AND r.decision = 'keep'" if config.only_kept else ""
    rows = ws.query(
        f"SELECT s.id, s.set_name FROM samples s LEFT JOIN reviews r ON r.sample_id = s.id WHERE s.kind = ?{keep} ORDER BY s.id",
        (kind,),
    )
    pool = [{"image_id": None, "sample_id": r["id"], "set": r["set_name"]} for r in rows]
    if not config.only_passed:
        return pool, ()
    gates = queries.gate_filter(ws, [c["sample_id"] for c in pool])
    return [c for c in pool if c["sample_id"] in gates.kept], gates.failed


def _read_pair(ws: Workspace, c: dict) -> tuple[np.ndarray, np.ndarray]:
    if c["sample_id"] is not None:
        return ws.read_sample(c["sample_id"])
    return ws.read_image(c["image_id"]), ws.read_mask(ws.current_mask(c["image_id"]))


def _square(image: np.ndarray, mask: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    interp = cv2.INTER_AREA if side <= min(image.shape[:2]) else cv2.INTER_CUBIC
    img = cv2.resize(image, (side, side), interpolation=interp) if image.shape[:2] != (side, side) else image
    m = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST) if mask.shape[:2] != (side, side) else mask
    return img, m


def normalise_pair(image: np.ndarray, mask: np.ndarray, base: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The one processing every item gets: square ``base`` px (the common working resolution),
    then square ``size`` px, as 8-bit RGB and a 0/255 mask.

    Whole-frame resizes (not crops, so the lesion stays in view), the way the training data
    is squared; area averaging down, cubic up; masks nearest-neighbour so they stay binary.
    """
    img = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    m = ((mask > 0) * 255).astype(np.uint8)
    img, m = _square(*_square(img, m, base), size)
    return np.ascontiguousarray(img), np.ascontiguousarray(m)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_blinded_png(array: np.ndarray) -> bytes:
    """PNG of an HxW grey or HxWx3 RGB uint8 array with fixed settings for every item:
    8-bit, the 'Up' filter on every row, zlib level 0 (stored blocks: the length depends on
    the shape alone, never on the content), exactly IHDR, one IDAT, IEND."""
    h, w = array.shape[:2]
    colour = 2 if array.ndim == 3 else 0
    rows = array.reshape(h, -1).astype(np.int16)
    up = np.diff(rows, axis=0, prepend=np.zeros((1, rows.shape[1]), np.int16)) % 256
    raw = np.concatenate([np.full((h, 1), 2, np.uint8), up.astype(np.uint8)], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b"")


def new_codes(n: int) -> list[str]:
    """``n`` distinct random item codes from :mod:`secrets` (never from a seed)."""
    out: list[str] = []
    while len(out) < n:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
        if code not in out:
            out.append(code)
    return out


def _kind_label(kind: str, drawn: list[dict]) -> str:
    """The set name when the drawn items share one (Diff, Styled-Diff, GAN), else a default."""
    sets = {c["set"] for c in drawn}
    return sets.pop() if len(sets) == 1 else KIND_LABELS.get(kind, kind)


def _draw(
    ws: Workspace, config: SurveyConfig, counts: dict[str, int], seed: int
) -> tuple[list[tuple[str, dict]], dict[str, str], tuple[int, ...]]:
    """(kind, candidate) for every drawn item, the display label of each kind, and the
    samples left out for failing a quality gate (``only_passed``)."""
    rng = np.random.default_rng(seed)
    drawn: list[tuple[str, dict]] = []
    labels: dict[str, str] = {}
    failed: tuple[int, ...] = ()
    for kind, n in counts.items():
        pool, left_out = _candidates(ws, kind, config)
        failed += left_out
        if len(pool) < n:
            what = (
                "real images with a mask (unflagged)" + (" among --real-images" if config.real_images else "")
                if kind == "real"
                else f"'{kind}' samples"
                + (" marked keep in review" if config.only_kept else "")
                + (" that passed the quality gates" if config.only_passed else "")
            )
            kinds = ", ".join(f"{r[0]} ({r[1]})" for r in ws.query("SELECT kind, COUNT(*) FROM samples GROUP BY kind")) or "none"
            raise BadInputError(f"the survey needs {n} {what} but the workspace has {len(pool)}. Sample kinds present: {kinds}.")
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), n, replace=False))]
        labels[kind] = _kind_label(kind, chosen)
        drawn += [(kind, c) for c in chosen]
    return drawn, labels, failed


def _gate_record(ws: Workspace, drawn: list[tuple[str, dict]], failed: tuple[int, ...]) -> dict:
    """What ``only_passed`` did: samples left out of the pools, drawn samples not scored yet."""
    shown = queries.gate_filter(ws, [c["sample_id"] for _, c in drawn if c["sample_id"] is not None])
    return {"left_out": len(failed), "unscored": len(shown.unscored), "note": replace(shown, failed=failed).describe()}


def create_survey(
    ws: Workspace,
    config: SurveyConfig,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Survey:
    """Draw the items, write their blinded copies and store the survey (all or nothing)."""
    name = check_name(config.name)
    if ws.query("SELECT 1 FROM surveys WHERE name = ?", (name,)):
        raise BadInputError(f"a survey named {name!r} already exists in this workspace")
    counts = {k: int(v) for k, v in config.counts.items() if int(v) > 0}
    if not counts:
        raise BadInputError("a survey needs at least one item (e.g. --real 10 --set inpainted:10)")
    template = read_template(Path(config.questions).expanduser()) if config.questions else DEFAULT
    seed = secrets.randbits(31) if config.seed is None else int(config.seed)
    extra = _calibration_counts(list(counts), int(config.calibration))
    drawn, labels, failed = _draw(ws, config, {k: n + extra.get(k, 0) for k, n in counts.items()}, seed)
    calibration = _calibration_items(drawn, extra)
    pairs = [_read_pair(ws, c) for _, c in drawn]
    base = min(min(img.shape[:2]) for img, _ in pairs)
    size = config.size or min(MAX_SIZE, base)
    # Code order is random and tells nothing of the kind; everything below follows it.
    repeats = _repeats([n for n in range(len(drawn)) if n not in calibration], config.repeat_share)
    codes = new_codes(len(drawn) + len(repeats))  # all distinct, repeats' included
    by_code = sorted(zip(codes[: len(drawn)], range(len(drawn))))
    folder = f"surveys/{name}-{secrets.token_hex(3)}"
    params = {
        "counts": counts,
        "only_kept": config.only_kept,
        "size": size,
        "base": base,
        "labels": labels,
        "folder": folder,
        "real_images": list(config.real_images) if config.real_images else None,
        "only_passed": config.only_passed,
        "gates": _gate_record(ws, drawn, failed) if config.only_passed else None,
    }
    params["repeat_share"] = config.repeat_share
    params["repeats"] = len(repeats)
    params["calibration"] = len(calibration)
    params["questions"] = [q.name for q in template.questions]
    rows = []
    try:  # files first, then the rows that make them visible, in one transaction
        atomic_write_text(ws.path(f"{folder}/{TEMPLATE_FILE}"), template_toml(template))
        for done, (code, idx) in enumerate(by_code):
            if cancel and cancel():
                raise Cancelled("survey creation cancelled; nothing was stored")
            kind, cand = drawn[idx]
            img, mask = normalise_pair(*pairs[idx], base, size)
            image_rel, mask_rel = f"{folder}/{code}.png", f"{folder}/{code}_mask.png"
            atomic_write_bytes(ws.path(image_rel), encode_blinded_png(img))
            atomic_write_bytes(ws.path(mask_rel), encode_blinded_png(mask))
            rows.append((kind, cand["image_id"], cand["sample_id"], image_rel, mask_rel, code, int(idx in calibration)))
            if progress:
                progress(done + 1, len(drawn), "writing blinded copies")
        firsts = [rows[n] for n, (_, idx) in enumerate(by_code) if idx in repeats]
        second = _repeat_copies(ws, folder, firsts, codes[len(drawn) :])
        with ws.transaction() as c:
            sid = c.execute(
                "INSERT INTO surveys (name, seed, params_json, created_at) VALUES (?,?,?,?)",
                (name, seed, json.dumps(params), now()),
            ).lastrowid
            insert = (
                "INSERT INTO survey_items (survey_id, truth, image_id, sample_id, image_path, mask_path, code,"
                " calibration, repeat_of) VALUES (?,?,?,?,?,?,?,?,(SELECT id FROM survey_items WHERE survey_id = ? AND code = ?))"
            )
            c.executemany(insert, [(sid, *r, sid, None) for r in rows])
            c.executemany(insert, [(sid, *r, sid, first) for first, r in second])
    except BaseException:
        shutil.rmtree(ws.path(folder), ignore_errors=True)
        raise
    return get_survey(ws, name)


def _repeats(counted: list[int], share: float) -> set[int]:
    """Which of the ``counted`` drawn items are shown twice (from :mod:`secrets`, like the codes)."""
    return set(secrets.SystemRandom().sample(counted, round(len(counted) * float(share))))


def _calibration_counts(kinds: list[str], n: int) -> dict[str, int]:
    """``n`` calibration items spread over the kinds in turn: real, then each sample kind."""
    return {kind: n // len(kinds) + (i < n % len(kinds)) for i, kind in enumerate(kinds)} if kinds else {}


def _calibration_items(drawn: list[tuple[str, dict]], extra: dict[str, int]) -> set[int]:
    """Indices in ``drawn`` of the calibration items: ``extra[kind]`` of each kind, from :mod:`secrets`."""
    chosen: set[int] = set()
    for kind, n in extra.items():
        chosen |= set(secrets.SystemRandom().sample([i for i, (k, _) in enumerate(drawn) if k == kind], n))
    return chosen


def _repeat_copies(ws: Workspace, folder: str, originals: list[tuple], codes: list[str]) -> list[tuple[str, tuple]]:
    """(first showing's code, row) of each repeat: the same bytes under a code of its own,
    so the second showing cannot be told from a new item by its name or address."""
    out = []
    for (kind, image_id, sample_id, image_rel, mask_rel, code, _), new in zip(originals, codes):
        rel = f"{folder}/{new}.png", f"{folder}/{new}_mask.png"
        for src, dst in zip((image_rel, mask_rel), rel):
            atomic_write_bytes(ws.path(dst), ws.path(src).read_bytes())
        out.append((code, (kind, image_id, sample_id, *rel, new, 0)))
    return out


@dataclass(frozen=True)
class SurveyResult(JobResult):
    survey_id: int
    name: str
    items: int


def run_survey_create(ws: Workspace, params: SurveyParams, ctx: JobContext) -> SurveyResult:
    """Job form of :func:`create_survey` (the job id stays with the job: it is no survey setting)."""
    s = create_survey(ws, params, ctx.progress, ctx.cancel)
    items = sum(s.params["counts"].values())
    gates = s.params.get("gates")
    return SurveyResult(
        summary=f"survey {s.name!r}: {items} blinded items" + (f"; {gates['note']}" if gates else ""),
        survey_id=s.id,
        name=s.name,
        items=items,
    )
