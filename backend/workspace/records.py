"""What the workspace's rows are as Python values: frozen records of images, mask versions and
samples, the row-to-record conversions (JSON columns checked: a damaged one is a message naming
its row), and where a sample's files go. Split from ``store`` so the handle stays one concern."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.io.files import encode_png, sha256_bytes
from backend.workspace import integrity
from backend.workspace.names import check_name
from backend.workspace.roles import TRAIN


@dataclass(frozen=True)
class ImageRecord:
    id: int
    name: str
    source_path: str
    stored_path: str | None
    sha256: str
    width: int
    height: int
    notes: str
    flagged: bool
    flag_note: str
    current_mask_id: int | None
    role: str = TRAIN
    role_note: str = ""


@dataclass(frozen=True)
class MaskVersion:
    id: int
    image_id: int
    version: int
    parent_id: int | None
    operation: str
    params: dict
    path: str
    sha256: str
    area: int
    created_at: str


@dataclass(frozen=True)
class SampleRecord:
    id: int
    kind: str
    set_name: str
    source_image_id: int | None
    mask_version_id: int | None
    parent_sample_id: int | None
    model_id: int | None
    seed: int | None
    params: dict
    image_path: str
    mask_path: str
    created_at: str


def sample_pngs(image: np.ndarray, mask: np.ndarray) -> tuple[bytes, bytes]:
    """The PNG bytes a sample is stored as: the RGB image and its binary (0/255) mask."""
    return encode_png(image), encode_png(np.where(mask > 0, 255, 0).astype(np.uint8))


def sample_paths(kind: str, img_bytes: bytes, mask_bytes: bytes) -> tuple[str, str]:
    """Where a sample's files go: named by their content, so the same sample has the same paths
    (the kind is a folder name: checked, so no kind can place them outside ``samples/``)."""
    tag = sha256_bytes(img_bytes + mask_bytes)[:12]
    folder = check_name(kind, "sample kind")
    return f"samples/{folder}/{tag}.png", f"samples/{folder}/{tag}_mask.png"


def image_record(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(
        row["id"],
        row["name"],
        row["source_path"],
        row["stored_path"],
        row["sha256"],
        row["width"],
        row["height"],
        row["notes"],
        bool(row["flagged"]),
        row["flag_note"],
        row["current_mask_id"],
        row["role"],
        row["role_note"],
    )


def params_json(row: sqlite3.Row, table: str, root: Path) -> Any:
    return integrity.stored_json(root, row["params_json"], table, row["id"], "params_json")


def mask_record(row: sqlite3.Row, root: Path) -> MaskVersion:
    return MaskVersion(
        row["id"],
        row["image_id"],
        row["version"],
        row["parent_id"],
        row["operation"],
        params_json(row, "mask_versions", root),
        row["path"],
        row["sha256"],
        row["area"],
        row["created_at"],
    )


def sample_record(row: sqlite3.Row, root: Path) -> SampleRecord:
    return SampleRecord(
        row["id"],
        row["kind"],
        row["set_name"],
        row["source_image_id"],
        row["mask_version_id"],
        row["parent_sample_id"],
        row["model_id"],
        row["seed"],
        params_json(row, "samples", root),
        row["image_path"],
        row["mask_path"],
        row["created_at"],
    )
