"""Where the audit keeps its numbers: one ``sample_audit`` row per sample, training set and
method, and the training set's fingerprint that keys them.

A row stays valid while the training set does: the fingerprint hashes every train-role
image (content and current mask) and the method's settings, so moving an image between
roles, editing a mask or importing more images makes the next audit recompute, and an
unchanged training set makes it skip the samples already done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backend.workspace import TRAIN, Workspace, now


@dataclass(frozen=True)
class AuditRow:
    """A sample's nearest training image by one method."""

    sample_id: int
    method: str
    nearest_image_id: int
    flip: str  # backend.audit.distances.FLIPS
    distance: float
    ratio: float


def training_fingerprint(ws: Workspace, settings: str) -> str:
    """sha256 of the train-role images (by content and current mask) and ``settings``."""
    rows = ws.query(
        "SELECT i.sha256, COALESCE(m.sha256, '') FROM images i LEFT JOIN mask_versions m ON m.id = i.current_mask_id"
        " WHERE i.role = ? ORDER BY i.sha256",
        (TRAIN,),
    )
    h = hashlib.sha256(settings.encode())
    for image_sha, mask_sha in rows:
        h.update(f"|{image_sha}:{mask_sha}".encode())
    return h.hexdigest()[:20]


def save_rows(ws: Workspace, fingerprint: str, rows: Iterable[AuditRow]) -> None:
    stamp = now()
    with ws.transaction() as c:
        c.executemany(
            "INSERT OR REPLACE INTO sample_audit (sample_id, fingerprint, method, nearest_image_id, flip, distance, ratio,"
            " computed_at) VALUES (?,?,?,?,?,?,?,?)",
            [(r.sample_id, fingerprint, r.method, r.nearest_image_id, r.flip, r.distance, r.ratio, stamp) for r in rows],
        )


def load_rows(ws: Workspace, fingerprint: str, sample_ids: Sequence[int]) -> dict[tuple[int, str], AuditRow]:
    """(sample id, method) -> row, for the given samples under this training set."""
    out: dict[tuple[int, str], AuditRow] = {}
    for s in range(0, len(sample_ids), 500):  # below SQLite's parameter limit
        chunk = tuple(sample_ids[s : s + 500])
        rows = ws.query(
            f"SELECT * FROM sample_audit WHERE fingerprint = ? AND sample_id IN ({','.join('?' * len(chunk))})",
            (fingerprint, *chunk),
        )
        for r in rows:
            row = AuditRow(r["sample_id"], r["method"], r["nearest_image_id"], r["flip"], r["distance"], r["ratio"])
            out[(row.sample_id, row.method)] = row
    return out


def nearest_of(ws: Workspace, sample_id: int) -> AuditRow | None:
    """The newest audit's nearest training image of a sample, by the pixel method the
    ``memorised`` gate judged it on (its region when it has one), for showing the pair
    side by side; None before any audit."""
    rows = ws.query(
        "SELECT * FROM sample_audit WHERE sample_id = ? AND method LIKE 'pixel%'"
        " ORDER BY computed_at DESC, method LIKE '%-region' DESC LIMIT 1",
        (sample_id,),
    )
    if not rows:
        return None
    r = rows[0]
    return AuditRow(r["sample_id"], r["method"], r["nearest_image_id"], r["flip"], r["distance"], r["ratio"])
