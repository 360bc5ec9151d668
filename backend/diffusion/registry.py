"""Which trained model serves an image: the workspace's ``models`` table.

Training registers each model folder; inpainting asks for the model of an image's cluster
(current clustering) and falls back to the full-set model, as the paper's per-cluster
scheme does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.errors import DiffGenError
from backend.workspace import Workspace, now


@dataclass(frozen=True)
class ModelRef:
    id: int | None          # None for a folder given by path
    folder: Path
    target: str             # full | cluster | imported | path
    cluster: int | None = None
    note: str = ""          # e.g. why a fallback was used


def register_model(ws: Workspace, name: str, target: str, preset: str, config: dict, folder: str | Path,
                   clustering_id: int | None = None, cluster: int | None = None) -> int:
    """Record a model folder (idempotent per folder: returns the existing id)."""
    rel = ws.rel(folder)
    with ws.transaction() as c:
        row = c.execute("SELECT id FROM models WHERE path = ?", (rel,)).fetchone()
        if row:
            return row[0]
        return c.execute(
            "INSERT INTO models (name, target, clustering_id, cluster, preset, config_json, path, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (name, target, clustering_id, cluster, preset, json.dumps(config, default=str), rel, now())).lastrowid


def record_checkpoint(ws: Workspace, model_id: int, step: int, loss: float | None, path: str | Path) -> int:
    with ws.transaction() as c:
        return c.execute("INSERT INTO checkpoints (model_id, step, loss, path, created_at) VALUES (?,?,?,?,?)",
                         (model_id, step, loss, ws.rel(path), now())).lastrowid


def latest_checkpoint_id(ws: Workspace, model_id: int) -> int | None:
    rows = ws.query("SELECT id FROM checkpoints WHERE model_id = ? ORDER BY step DESC, id DESC LIMIT 1",
                    (model_id,))
    return rows[0][0] if rows else None


def _ref(ws: Workspace, row, note: str = "") -> ModelRef:
    return ModelRef(row["id"], ws.path(row["path"]), row["target"], row["cluster"], note)


def resolve_model(ws: Workspace, image_id: int | None = None, choice: str = "cluster") -> ModelRef:
    """The model for ``image_id``: ``cluster`` (its cluster's model, else the full-set one),
    ``full`` (the latest full-set model), or a model folder path."""
    if choice not in ("cluster", "full"):
        folder = Path(choice).expanduser()
        if not (folder / "config.json").exists():
            raise DiffGenError(f"--model {choice}: not 'cluster', 'full' or a model folder with config.json")
        return ModelRef(None, folder.resolve(), "path")
    note = ""
    if choice == "cluster" and image_id is not None:
        clustering = ws.current_clustering_id()
        cluster = ws.cluster_of(image_id)
        if clustering is not None and cluster is not None:
            rows = ws.query("SELECT * FROM models WHERE target = 'cluster' AND clustering_id = ? AND cluster = ?"
                            " ORDER BY id DESC LIMIT 1", (clustering, cluster))
            if rows:
                return _ref(ws, rows[0])
            note = f"no model for cluster {cluster}: used the full-set model"
        else:
            note = "images are not clustered: used the full-set model"
    rows = ws.query("SELECT * FROM models WHERE target IN ('full', 'imported') ORDER BY id DESC LIMIT 1")
    if not rows:
        raise DiffGenError("no trained diffusion model in this workspace: run "
                           f"'diffgen train --workspace {ws.root} --preset tiny --target full' first")
    return _ref(ws, rows[0], note)
