"""Which trained model serves an image: the workspace's ``models`` table.

Training registers each model folder once its first checkpoint exists; inpainting asks
for the model of an image's cluster (current clustering) and falls back to the full-set
model, as the paper's per-cluster scheme does. A model folder is ``models/NAME`` with NAME
checked by :func:`check_name`; an existing model is replaced only when asked, and then
kept as ``models/NAME.replaced-STAMP`` (its rows follow it, so provenance stays true).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.errors import BadInputError, DiffGenError
from backend.io.files import staging_dir
from backend.workspace import Workspace, inserted_id, now
from backend.workspace.names import check_name


@dataclass(frozen=True)
class ModelRef:
    id: int | None  # None for a folder given by path
    folder: Path
    target: str  # full | cluster | imported | path
    cluster: int | None = None
    note: str = ""  # e.g. why a fallback was used


INCOMPLETE = "TRAINING-INCOMPLETE"  # in a model folder while its training has not finished
UNFINISHED = " (training not finished)"


def training_incomplete(folder: Path) -> bool:
    """Whether the training of the model in ``folder`` was cancelled, failed or is still running
    (the marker training writes at its start and removes when it finished): a fallback never
    picks such a model."""
    return (folder / INCOMPLETE).exists()


def model_folder(ws: Workspace, name: str) -> Path:
    """``models/NAME`` of the workspace; refuses a name that is not a safe folder name."""
    return ws.root / "models" / check_name(name, "model name")


def holds_model(folder: Path) -> bool:
    """Whether ``folder`` has a model's files. A run killed before its first checkpoint
    leaves at most temp files, and its folder may be used again."""
    return (folder / "config.json").exists() or any(folder.glob("checkpoints/step-*"))


def is_taken(ws: Workspace | None, folder: Path) -> bool:
    """A model lives in ``folder``: its files, or a row that checkpoints or samples refer to
    (its folder deleted). A row with neither, of a run killed before its first checkpoint,
    does not count: the folder may be trained again."""
    return holds_model(folder) or (
        ws is not None
        and bool(
            ws.query(
                "SELECT 1 FROM models m WHERE m.path = ? AND (EXISTS (SELECT 1 FROM checkpoints WHERE model_id = m.id)"
                " OR EXISTS (SELECT 1 FROM samples WHERE model_id = m.id))",
                (ws.rel(folder),),
            )
        )
    )


def refuse_taken(ws: Workspace | None, folder: Path, overwrite: bool) -> bool:
    """Raise if a model lives in ``folder`` and ``overwrite`` is off; returns whether one does."""
    taken = is_taken(ws, folder)
    if taken and not overwrite:
        raise DiffGenError(
            f"{folder} already holds a model: choose another --name, or pass --overwrite to "
            f"replace it (the old model is then kept as {folder.name}.replaced-DATE)"
        )
    return taken


def back_up(ws: Workspace | None, folder: Path) -> Path:
    """Move the model in ``folder`` aside to ``NAME.replaced-STAMP`` and point its rows
    (model, checkpoints) there; returns the backup folder. Nothing is deleted."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup, n = folder.with_name(f"{folder.name}.replaced-{stamp}"), 1
    while backup.exists():
        n += 1
        backup = folder.with_name(f"{folder.name}.replaced-{stamp}-{n}")
    if ws is None:
        os.rename(folder, backup)
        return backup
    old, new = ws.rel(folder), ws.rel(backup)
    with ws.transaction() as c:  # the rename inside: a failed move leaves the rows as they were
        c.execute("UPDATE models SET path = ?, name = name || ? WHERE path = ?", (new, backup.name[len(folder.name) :], old))
        c.execute(
            "UPDATE checkpoints SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?",
            (new, len(old) + 1, len(old) + 1, old + "/"),
        )
        if folder.exists():
            os.rename(folder, backup)
    return backup


def new_model_folder(ws: Workspace | None, name: str, out: str | Path | None, overwrite: bool) -> tuple[Path, bool]:
    """Where a new model named ``name`` goes (``out``, else ``models/NAME``) and whether an
    old model there is to be replaced; refuses before any work is done."""
    check_name(name, "model name")
    if out is not None:
        folder = Path(out).expanduser().resolve()
    elif ws is not None:
        folder = model_folder(ws, name)
    else:
        raise BadInputError("give a workspace or an output folder for the model")
    replace = refuse_taken(ws, folder, overwrite)
    if not replace and folder.exists() and any(folder.iterdir()):
        raise BadInputError(f"{folder} exists and is not a model folder; give a new or empty folder")
    return folder, replace


def write_model_folder(ws: Workspace | None, folder: Path, replace: bool, write: Callable[[Path], Any]) -> Path | None:
    """``write`` fills a hidden staging folder, which then takes ``folder``'s place; an old
    model there is backed up only once the new one is complete. Returns the backup."""
    staged = staging_dir(folder)
    try:
        write(staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    backup = back_up(ws, folder) if replace else None
    if folder.exists():  # empty (checked by new_model_folder)
        folder.rmdir()
    os.replace(staged, folder)
    return backup


def register_model(
    ws: Workspace,
    name: str,
    target: str,
    preset: str,
    config: dict,
    folder: str | Path,
    clustering_id: int | None = None,
    cluster: int | None = None,
) -> int:
    """Record a model folder (idempotent per folder: returns the existing id)."""
    rel = ws.rel(folder)
    with ws.transaction() as c:
        row = c.execute("SELECT id FROM models WHERE path = ?", (rel,)).fetchone()
        if row:
            return row[0]
        return inserted_id(
            c.execute(
                "INSERT INTO models (name, target, clustering_id, cluster, preset, config_json, path, created_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (name, target, clustering_id, cluster, preset, json.dumps(config, default=str), rel, now()),
            )
        )


def record_checkpoint(ws: Workspace, model_id: int, step: int, loss: float | None, path: str | Path) -> int:
    with ws.transaction() as c:
        return inserted_id(
            c.execute(
                "INSERT INTO checkpoints (model_id, step, loss, path, created_at) VALUES (?,?,?,?,?)",
                (model_id, step, loss, ws.rel(path), now()),
            )
        )


def latest_checkpoint_id(ws: Workspace, model_id: int) -> int | None:
    rows = ws.query("SELECT id FROM checkpoints WHERE model_id = ? ORDER BY step DESC, id DESC LIMIT 1", (model_id,))
    return rows[0][0] if rows else None


def stored_model_folder(ws: Workspace, row) -> Path:
    """A registered model's run folder (``models`` row with id and path), refused when the
    stored path leads outside the workspace."""
    return ws.stored(row["path"], "models", row["id"], "path")


def _ref(ws: Workspace, row, note: str = "") -> ModelRef:
    return ModelRef(row["id"], stored_model_folder(ws, row), row["target"], row["cluster"], note)


def _with_weights(ws: Workspace, rows: list, complete: bool = False) -> tuple[sqlite3.Row | None, list[str]]:
    """The first row whose folder holds a model (whose training finished, with ``complete``),
    and the names of those skipped before it (rows of runs killed before their first
    checkpoint, of deleted folders, of unfinished training)."""
    empty: list[str] = []
    for row in rows:
        folder = stored_model_folder(ws, row)
        if complete and training_incomplete(folder):
            empty.append(f"{row['name']}{UNFINISHED}")
        elif (folder / "config.json").exists():
            return row, empty
        else:
            empty.append(f"{row['name']} ({row['path']})")
    return None, empty


def _no_weights(names: list[str]) -> str:
    unfinished = [n for n in names if n.endswith(UNFINISHED)]
    empty = [n for n in names if not n.endswith(UNFINISHED)]
    notes = [f"model {', '.join(unfinished)} was skipped: its training was cancelled or failed"] if unfinished else []
    if empty:
        notes.append(
            f"model {', '.join(empty)} has no saved weights (its training stopped before the first "
            "checkpoint, or its folder was removed) and was skipped"
        )
    return "; ".join(notes)


def _named_or_folder(ws: Workspace, choice: str) -> ModelRef:
    """A registered model by name or folder (provenance keeps its id), else any model folder:
    a relative path is tried against the current folder, then the workspace."""
    folder = Path(choice).expanduser()
    found = next((f for f in (folder, ws.root / folder) if (f / "config.json").exists()), None)
    rows = ws.query("SELECT * FROM models WHERE name = ? ORDER BY id DESC", (choice,))
    if found is not None:
        rows = ws.query("SELECT * FROM models WHERE path = ?", (ws.rel(found.resolve()),)) or []
    row, _ = _with_weights(ws, rows)
    if row is not None:
        return _ref(ws, row)
    if found is not None:
        return ModelRef(None, found.resolve(), "path")
    names = [r["name"] for r in ws.query("SELECT name FROM models ORDER BY id")]
    raise DiffGenError(
        f"--model {choice}: not 'cluster', 'full', a model of this workspace "
        f"({', '.join(names) or 'none trained yet'}) or a model folder with config.json"
    )


def resolve_model(ws: Workspace, image_id: int | None = None, choice: str = "cluster") -> ModelRef:
    """The model for ``image_id``: ``cluster`` (its cluster's model, else the full-set one),
    ``full`` (the latest full-set model), a model's name, or a model folder path. Registered
    models whose folder has no weights are skipped, and the note says so."""
    if choice not in ("cluster", "full"):
        return _named_or_folder(ws, choice)
    notes = []
    if choice == "cluster" and image_id is not None:
        clustering = ws.current_clustering_id()
        cluster = ws.cluster_of(image_id)
        if clustering is not None and cluster is not None:
            row, empty = _with_weights(
                ws,
                ws.query(
                    "SELECT * FROM models WHERE target = 'cluster' AND clustering_id = ? AND cluster = ? ORDER BY id DESC",
                    (clustering, cluster),
                ),
                complete=True,
            )
            notes += [_no_weights(empty)] if empty else []
            if row is not None:
                return _ref(ws, row, "; ".join(notes))
            notes.append(f"no model for cluster {cluster}: used the full-set model")
        else:
            notes.append("images are not clustered: used the full-set model")
    row, empty = _with_weights(
        ws, ws.query("SELECT * FROM models WHERE target IN ('full', 'imported') ORDER BY id DESC"), complete=True
    )
    notes += [_no_weights(empty)] if empty else []
    if row is None:
        raise DiffGenError(
            "no trained diffusion model in this workspace" + (f" ({_no_weights(empty)})" if empty else "") + ": run "
            f"'diffgen train --workspace {ws.root} --preset tiny --target full' first"
        )
    return _ref(ws, row, "; ".join(notes))
